"""One log line as the follower hands it out: already parsed, redacted and capped for display."""

from __future__ import annotations

from dataclasses import dataclass

# Levels, most severe first. "" means the line did not say.
ERROR = "error"
WARN = "warn"
INFO = "info"
DEBUG = "debug"
LEVELS = (ERROR, WARN, INFO, DEBUG, "")
_RANK = {ERROR: 0, WARN: 1, INFO: 2, DEBUG: 3, "": 4}

MAX_LINE_CHARS = 4096  # a line is cut here for display (and marked truncated)
TRUNCATION_MARK = " …[truncated]"


# Built for every line the follower reads (tens of thousands a second when a gateway floods its log), so a plain
# slotted dataclass, as model.UserSession is: a frozen one's __init__ goes through object.__setattr__ per field,
# ~1 µs of the ~10 a line costs to parse. Nothing mutates a LogLine once built.
@dataclass(slots=True)
class LogLine:
    """A parsed, redacted log line.

    `text` may hold a newline only when a winston JSON line carried a `stack` (shown under the message).
    `highlight` says why the line is an error worth pointing at, or None.
    """

    at: float | None
    level: str
    source: str
    text: str
    truncated: bool = False
    highlight: str | None = None

    @property
    def is_error(self) -> bool:
        """Error level or highlighted: the pane marks these."""
        return self.level == ERROR or self.highlight is not None


def level_rank(level: str) -> int:
    """0 for error … 4 for unknown: smaller is more severe."""
    return _RANK.get(level, 4)


def at_least(level: str, floor: str) -> bool:
    """True when `level` is at least as severe as `floor` ("" floor lets everything through)."""
    return not floor or level_rank(level) <= level_rank(floor)
