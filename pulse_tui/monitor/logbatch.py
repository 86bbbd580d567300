"""A batch of log lines as the engine hands it on for display."""

from __future__ import annotations

from dataclasses import dataclass

from pulse_tui.model import Snapshot
from pulse_tui.sources.logs.line import LogLine


@dataclass(frozen=True)
class LogBatch:
    """One batch of log lines for display, and the snapshot when its events moved a session (else None)."""

    lines: list[LogLine]
    snapshot: Snapshot | None = None
