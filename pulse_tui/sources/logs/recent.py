"""The newest log texts, kept for checks that read the logs (e.g. the doctor's ElevenLabs 401 check)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from pulse_tui.sources.logs.events import SessionEvent, events_from_lines
from pulse_tui.sources.logs.line import LogLine


class RecentLines:
    """A bounded window of redacted log texts; call it to get them (the doctor's `log_lines`)."""

    def __init__(self, maxlen: int = 2000) -> None:
        self._lines: deque[str] = deque(maxlen=maxlen)
        self._events: deque[SessionEvent] = deque(maxlen=maxlen)

    def add(self, batch: Iterable[LogLine]) -> None:
        batch = list(batch)
        self._lines.extend(line.text for line in batch)
        # Only dated events: an undated old line would pass for news (a one-shot `status` reads the tail).
        self._events.extend(ev for ev in events_from_lines(batch) if ev.at is not None)

    def events(self) -> list[SessionEvent]:
        """The session events these lines tell, each with its time (free state for a one-shot poll)."""
        return list(self._events)

    def __call__(self) -> list[str]:
        return list(self._lines)
