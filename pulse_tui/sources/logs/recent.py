"""The newest log texts, kept for checks that read the logs (e.g. the doctor's ElevenLabs 401 check)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from pulse_tui.sources.logs.line import LogLine


class RecentLines:
    """A bounded window of redacted log texts; call it to get them (the doctor's `log_lines`)."""

    def __init__(self, maxlen: int = 2000) -> None:
        self._lines: deque[str] = deque(maxlen=maxlen)

    def add(self, batch: Iterable[LogLine]) -> None:
        self._lines.extend(line.text for line in batch)

    def __call__(self) -> list[str]:
        return list(self._lines)
