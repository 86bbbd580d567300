"""The log types front ends use, re-exported from the engine's side: `pulse_tui.tui` never imports `sources`.

The log follower and the line parser live in `sources/logs`; a screen only needs the line it shows, its level
names and the short buffer of recent lines the doctor reads (tests/test_layers.py checks the rule).
"""

from __future__ import annotations

from pulse_tui.sources.logs.line import DEBUG, ERROR, INFO, WARN, LogLine, at_least
from pulse_tui.sources.logs.recent import RecentLines

__all__ = ["DEBUG", "ERROR", "INFO", "WARN", "LogLine", "RecentLines", "at_least"]
