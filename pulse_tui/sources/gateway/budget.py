"""Our own request budget against a rate-limited gateway (Salesboy: 100 requests / 15 min per IP).

We count what we send in a fixed window, and let the server correct us: its `X-RateLimit-Remaining`
(other clients on the same IP spend the same budget) and `X-RateLimit-Reset` re-align our window, a 429
or `Retry-After` blocks every request until then. Polls may not spend the last `reserve` requests, so an
operator's start/stop still goes through when the monitor has used the rest.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from enum import StrEnum

from pulse_tui.clock import Clock, SystemClock
from pulse_tui.model import GatewayFailure, HealthState

DEFAULT_BLOCK_S = 60.0  # a 429 that does not say for how long


class Spend(StrEnum):
    POLL = "poll"  # background monitoring: keeps `reserve` requests free
    ACTION = "action"  # an operator's action: may spend the last ones


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value is not None and value.strip() != "" else None
    except ValueError:
        return None


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - now)


class RequestBudget:
    """Requests we may still send in the current window; `limit=None` means no limit (Pulse)."""

    def __init__(
        self,
        limit: int | None,
        window_s: float = 900.0,
        clock: Clock | None = None,
        reserve: int = 10,
    ) -> None:
        self._limit = limit
        self.window_s = window_s
        self.clock = clock or SystemClock()
        # With a tiny limit a fixed reserve would starve polls entirely: keep at most a quarter back.
        self.reserve = 0 if limit is None else max(0, min(reserve, limit // 4))
        self.spent = 0
        self.window_end: float | None = None  # wall-clock epoch seconds
        self.server_limit: int | None = None
        self._blocked_until = 0.0  # monotonic
        self._rate_limited = False  # the block came from the server (429 / Retry-After), not from us

    # --- reading ---------------------------------------------------------------------

    @property
    def limit(self) -> int | None:
        """Our cap: the configured limit, never above what the server says its limit is."""
        if self._limit is None:
            return self.server_limit
        return self._limit if self.server_limit is None else min(self._limit, self.server_limit)

    @property
    def left(self) -> int | None:
        """Requests left in this window (None: unlimited)."""
        self._roll()
        cap = self.limit
        if cap is None:
            return None
        return 0 if self._blocked() else max(0, cap - self.spent)

    @property
    def rate_limited(self) -> bool:
        """True while the server told us to wait (a 429 or Retry-After)."""
        return self._blocked() and self._rate_limited

    def blocked_for(self, kind: Spend | str = Spend.POLL) -> float:
        """Seconds until a request of `kind` may be sent (0 when it may be sent now)."""
        self._roll()
        wait = max(0.0, self._blocked_until - self.clock.monotonic())
        cap = self.limit
        if cap is not None and self.window_end is not None and cap - self.spent <= self._keep(kind):
            wait = max(wait, self.window_end - self.clock.now())
        return wait

    def snapshot(self) -> tuple[int | None, int | None]:
        """(left, limit) for the header."""
        return self.left, self.limit

    # --- spending ----------------------------------------------------------------------

    def try_spend(self, kind: Spend | str = Spend.POLL) -> bool:
        """Take one request from the budget; False (and nothing taken) when it must not be sent."""
        self._roll()
        if self._blocked():
            return False
        cap = self.limit
        if cap is not None and cap - self.spent <= self._keep(kind):
            return False
        self.spent += 1
        if self.window_end is None and cap is not None:
            self.window_end = self.clock.now() + self.window_s
        return True

    def refund(self) -> None:
        """Give back a request that never reached the server (connection refused)."""
        self.spent = max(0, self.spent - 1)

    def observe(self, headers: Mapping[str, str], status: int) -> None:
        """Believe the server's rate-limit headers and honour Retry-After / 429."""
        now = self.clock.now()
        headers = {k.lower(): v for k, v in headers.items()}
        lim = _int(headers.get("x-ratelimit-limit")) or _int(headers.get("ratelimit-limit"))
        rem = _int(headers.get("x-ratelimit-remaining"))
        if rem is None:
            rem = _int(headers.get("ratelimit-remaining"))
        reset: float | None = _int(headers.get("x-ratelimit-reset"))
        if reset is None and (delta := _int(headers.get("ratelimit-reset"))) is not None:
            reset = now + delta  # the IETF draft header counts seconds, not an epoch
        if lim:
            self.server_limit = lim
        if lim and rem is not None:
            used = max(0, lim - rem)
            if reset is not None and (self.window_end is None or reset > self.window_end + 1):
                self.spent = used  # a new server window: its count replaces ours
            else:
                self.spent = max(self.spent, used)
            if reset is not None:
                self.window_end = float(reset)
        retry = parse_retry_after(headers.get("retry-after"), now)
        if status == 429:
            if retry is None:
                retry = reset - now if reset is not None and reset > now else DEFAULT_BLOCK_S
            self._block(retry)
            if self.limit is not None:
                self.spent = max(self.spent, self.limit)
            # Retry-After is the server's own word on when to come back: the window ends then at the latest.
            self.window_end = now + retry if self.window_end is None else min(self.window_end, now + retry)
        elif retry is not None and status >= 500:
            self._block(retry)  # a 503 asking us to come back later

    def refusal(self, kind: Spend | str = Spend.POLL) -> GatewayFailure:
        """The typed failure an adapter returns instead of sending a request the budget refuses."""
        wait = round(self.blocked_for(kind), 1)
        if self.rate_limited:
            return GatewayFailure(HealthState.RATE_LIMITED, f"rate-limited by the gateway: retry in {wait:.0f}s",
                                  429, retry_after_s=wait)
        left, cap = self.snapshot()
        return GatewayFailure(
            HealthState.BUDGET,
            f"request budget spent ({left} of {cap} left, {self._keep(kind)} kept for actions): "
            f"next request in {wait:.0f}s",
            retry_after_s=wait,
        )

    # --- internals ---------------------------------------------------------------------

    def _keep(self, kind: Spend | str) -> int:
        return self.reserve if Spend(kind) == Spend.POLL else 0

    def _blocked(self) -> bool:
        return self.clock.monotonic() < self._blocked_until

    def _block(self, seconds: float) -> None:
        self._blocked_until = max(self._blocked_until, self.clock.monotonic() + seconds)
        self._rate_limited = True

    def _roll(self) -> None:
        if self.window_end is not None and self.clock.now() >= self.window_end and not self._blocked():
            self.spent = 0
            self.window_end = None
