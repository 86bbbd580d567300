"""The circuit breaker of one session: flapping or repeated failed reconnects leave it alone until reset."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class Breaker:
    """Opens on `transitions` state changes within `window_s`, or `max_failures` failed reconnects in a row."""

    transitions: int
    window_s: float
    max_failures: int
    changes: deque[float] = field(default_factory=deque)  # monotonic times of observed state changes
    failures: int = 0
    open_reason: str = ""  # "" = closed

    @property
    def is_open(self) -> bool:
        return bool(self.open_reason)

    def changed(self, now: float) -> str | None:
        """Note one state change; the reason when this opens the circuit."""
        self.changes.append(now)
        while self.changes and now - self.changes[0] > self.window_s:
            self.changes.popleft()
        if not self.is_open and len(self.changes) >= self.transitions:
            self.open_reason = f"flapping: {len(self.changes)} state changes in {self.window_s / 60:g} min"
            return self.open_reason
        return None

    def failed(self) -> str | None:
        """Note one reconnect that did not end connected; the reason when this opens the circuit."""
        self.failures += 1
        if not self.is_open and self.failures >= self.max_failures:
            self.open_reason = f"{self.failures} reconnects in a row did not end connected"
            return self.open_reason
        return None

    def succeeded(self) -> None:
        self.failures = 0

    def reset(self) -> None:
        """The operator's reset: closed, counters cleared."""
        self.changes.clear()
        self.failures, self.open_reason = 0, ""
