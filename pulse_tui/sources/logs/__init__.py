"""Live log tail: follow log files across rotations, parse, redact, and read session events out of them.

No Textual here: the pane (pulse_tui.tui.log_pane) and the monitor consume these.
"""

from __future__ import annotations

from pulse_tui.sources.logs.events import EventKind, SessionEvent, events_from_lines, parse_event
from pulse_tui.sources.logs.follower import FollowerStats, LogFollower, default_log_globs
from pulse_tui.sources.logs.line import DEBUG, ERROR, INFO, LEVELS, MAX_LINE_CHARS, WARN, LogLine, at_least
from pulse_tui.sources.logs.parse import highlight_reason, parse_line
from pulse_tui.sources.logs.redact import MASK, Redactor

__all__ = [
    "DEBUG", "ERROR", "INFO", "LEVELS", "MASK", "MAX_LINE_CHARS", "WARN",
    "EventKind", "FollowerStats", "LogFollower", "LogLine", "Redactor", "SessionEvent",
    "at_least", "default_log_globs", "events_from_lines", "highlight_reason", "parse_event", "parse_line",
]
