"""Per-session reconnect pacing: exponential backoff with jitter, and a cap per hour."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

HOUR_S = 3600.0


@dataclass
class Backoff:
    """When the next reconnect of one session may happen (monotonic seconds)."""

    base_s: float
    max_s: float
    jitter: float
    rng: random.Random
    attempts: int = 0  # reconnects since the session was last seen connected
    due_at: float | None = None

    def delay(self) -> float:
        """The wait before attempt `attempts + 1`: base doubling to max, shortened by up to `jitter`."""
        raw = min(self.max_s, self.base_s * 2.0 ** self.attempts)
        return raw * (1.0 - self.jitter * self.rng.random())

    def arm(self, now: float) -> float:
        """Schedule the next attempt from `now` (a drop, or the attempt just made); returns when."""
        self.due_at = now + self.delay()
        return self.due_at

    def attempted(self, now: float) -> None:
        self.attempts += 1
        self.arm(now)

    def reset(self) -> None:
        """The session is connected again: the next drop starts from the base wait."""
        self.attempts, self.due_at = 0, None


@dataclass
class HourCap:
    """At most `limit` events in any sliding hour."""

    limit: int
    times: deque[float] = field(default_factory=deque)

    def _trim(self, now: float) -> None:
        while self.times and now - self.times[0] >= HOUR_S:
            self.times.popleft()

    def allows(self, now: float) -> bool:
        self._trim(now)
        return len(self.times) < self.limit

    def note(self, now: float) -> None:
        self._trim(now)
        self.times.append(now)

    def free_at(self, now: float) -> float:
        """When the cap allows again (now when it already does)."""
        self._trim(now)
        return now if len(self.times) < self.limit else self.times[0] + HOUR_S
