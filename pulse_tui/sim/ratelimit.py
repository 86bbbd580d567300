"""express-rate-limit 7 (MemoryStore, legacy headers) as the Salesboy gateway configures it."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

TOO_MANY = "Too many requests, please try again later."


@dataclass(frozen=True)
class Hit:
    """The limiter's verdict on one request, with the headers it sends."""

    count: int
    limit: int
    reset_at: float  # epoch seconds

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)

    @property
    def over(self) -> bool:
        return self.count > self.limit

    def headers(self, now: float) -> dict[str, str]:
        """X-RateLimit-* on every answer; Retry-After only when over the limit."""
        h = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.reset_at)),
        }
        if self.over:
            h["Retry-After"] = str(max(0, math.ceil(self.reset_at - now)))
        return h


class RateLimiter:
    """A fixed window per client key that starts at its first hit (v7 MemoryStore); every request counts."""

    def __init__(self, limit: int = 100, window_s: float = 900.0, clock: Callable[[], float] = time.time) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._hits: dict[str, tuple[int, float]] = {}

    def hit(self, key: str) -> Hit:
        """Count one request for `key`."""
        now = self._clock()
        with self._lock:
            count, reset_at = self._hits.get(key, (0, 0.0))
            if now >= reset_at:
                count, reset_at = 0, now + self.window_s
            count += 1
            self._hits[key] = (count, reset_at)
        return Hit(count, self.limit, reset_at)

    def reset(self) -> None:
        """Forget every client (like restarting the gateway)."""
        with self._lock:
            self._hits.clear()
