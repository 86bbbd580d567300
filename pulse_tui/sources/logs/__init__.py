"""Live log tail: follow log files across rotations, parse, redact, and read session events out of them.

No Textual here: the pane (pulse_tui.tui.log_pane) and the monitor consume these.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pulse_tui.sources.logs.events import EventKind, SessionEvent, events_from_lines, parse_event
    from pulse_tui.sources.logs.follower import FollowerStats, LogFollower, default_log_globs
    from pulse_tui.sources.logs.line import (
        DEBUG,
        ERROR,
        INFO,
        LEVELS,
        MAX_LINE_CHARS,
        WARN,
        LogLine,
        at_least,
    )
    from pulse_tui.sources.logs.parse import highlight_reason, parse_line
    from pulse_tui.sources.logs.redact import MASK, Redactor

# Each name loads with its module when first asked for (PEP 562): the TUI's first frame needs `line` alone, and
# importing it through this package used to load the follower, the parser and the redactor too (issue 15).
_MODULE_OF = {
    **dict.fromkeys(("EventKind", "SessionEvent", "events_from_lines", "parse_event"), "events"),
    **dict.fromkeys(("FollowerStats", "LogFollower", "default_log_globs"), "follower"),
    **dict.fromkeys(("DEBUG", "ERROR", "INFO", "LEVELS", "MAX_LINE_CHARS", "WARN", "LogLine", "at_least"), "line"),
    **dict.fromkeys(("highlight_reason", "parse_line"), "parse"),
    **dict.fromkeys(("MASK", "Redactor"), "redact"),
}

__all__ = [
    "DEBUG", "ERROR", "INFO", "LEVELS", "MASK", "MAX_LINE_CHARS", "WARN",
    "EventKind", "FollowerStats", "LogFollower", "LogLine", "Redactor", "SessionEvent",
    "at_least", "default_log_globs", "events_from_lines", "highlight_reason", "parse_event", "parse_line",
]


def __getattr__(name: str) -> object:
    """A name of one of the package's modules, imported on first use."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return vars(importlib.import_module(f"{__name__}.{module}"))[name]
