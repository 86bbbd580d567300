"""Our own request budget against a rate-limited gateway (Salesboy: 100 requests / 15 min per IP).

We count what we send in a fixed window, and let the server correct us: its `X-RateLimit-Remaining`
(other clients on the same IP spend the same budget) and `X-RateLimit-Reset` re-align our window, a 429
or `Retry-After` blocks every request until then. Polls may not spend the last `reserve` requests, so an
operator's start/stop still goes through when the monitor has used the rest.

The state lives in a `Store`: this process's memory, or the host-wide `ledger.Ledger` of the gateway URL,
so every pulse-tui process spends from one window and can tell who spent it. Header values are parsed
defensively: NaN, inf, negative or absurd numbers are ignored, and no wait is believed beyond an hour.
"""

from __future__ import annotations

import email.utils
import math
import os
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from pulse_tui.clock import Clock, SystemClock
from pulse_tui.model import BudgetUse, FailureKind, GatewayFailure, HealthState, SessionStatus

DEFAULT_BLOCK_S = 60.0  # a 429 that does not say for how long
MAX_WAIT_S = 3600.0  # a server asking us to wait longer than this is not believed beyond it
MAX_COUNT = 10**9  # no rate limit counts more requests than this in one window
NEW_WINDOW_SLACK_S = 5.0
MAX_RESET_AHEAD_S = 86400.0  # a reset further ahead than a day is not a real window


_COMBINED = re.compile(r"\b(limit|remaining|reset)\s*=\s*([^,;\s]{1,40})", re.IGNORECASE)


class Spend(StrEnum):
    POLL = "poll"  # background monitoring: keeps `reserve` requests free
    ACTION = "action"  # an operator's action: may spend the last ones


def _number(value: str | None) -> float | None:
    """A finite number from a header; None for absent, garbage, NaN or inf (`1e309`)."""
    if value is None or len(value) > 40:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _int(value: str | None) -> int | None:
    """A request count from a header: a non-negative whole number below MAX_COUNT, else None."""
    number = _number(value)
    if number is None or number < 0 or number > MAX_COUNT:
        return None
    return int(number)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Retry-After as seconds from now (at most MAX_WAIT_S): delta-seconds or an HTTP date; None when unreadable."""
    if value is None or not value.strip() or len(value) > 64:
        return None
    value = value.strip()
    try:
        delta = float(value)
    except ValueError:
        pass
    else:
        return None if not math.isfinite(delta) else min(MAX_WAIT_S, max(0.0, delta))
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return min(MAX_WAIT_S, max(0.0, when - now))


@dataclass
class BudgetState:
    """What the budget knows of the current window; one per process, or shared through a `Ledger` file."""

    spent: int = 0  # requests counted in this window (with a ledger: by every client the server counted)
    window_end: float | None = None  # wall-clock epoch seconds
    server_limit: int | None = None
    blocked_until: float = 0.0  # wall-clock epoch seconds (shared: a 429 seen by one process blocks all)
    rate_limited: bool = False  # the block came from the server (429 / Retry-After), not from us
    server_used: int | None = None  # the server's own count in this window (limit - remaining)
    by_process: dict[str, int] = field(default_factory=dict)  # pulse-tui requests in this window, per process
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)  # last known state of each session


class Store(Protocol):
    """Where a budget keeps its state between calls."""

    def transaction(self) -> AbstractContextManager[BudgetState]: ...


class MemoryStore:
    """State private to this process."""

    def __init__(self) -> None:
        self.state = BudgetState()

    @contextmanager
    def transaction(self) -> Iterator[BudgetState]:
        yield self.state


class RequestBudget:
    """Requests we may still send in the current window; `limit=None` means no limit (Pulse).

    With a shared store (a `Ledger`), every pulse-tui process on the host spends from the same window.
    """

    def __init__(
        self,
        limit: int | None,
        window_s: float = 900.0,
        clock: Clock | None = None,
        reserve: int = 10,
        *,
        store: Store | None = None,
        me: str | None = None,
    ) -> None:
        self._limit = limit
        self.window_s = window_s
        self.clock = clock or SystemClock()
        # With a tiny limit a fixed reserve would starve polls entirely: keep at most a quarter back.
        self.reserve = 0 if limit is None else max(0, min(reserve, limit // 4))
        self.store: Store = store or MemoryStore()
        self.me = me or str(os.getpid())
        self._held: tuple[int, BudgetState] | None = None  # (thread, state) of the batch under way, see `batch`

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Run several of this budget's calls as one store transaction: one lock, read and write-back with a
        ledger, instead of one per call (a poll's readouts). Synchronous code only: the ledger is locked
        meanwhile. Calls from another thread still take their own transaction."""
        if self._held is not None and self._held[0] == threading.get_ident():
            yield  # already inside one
            return
        with self.store.transaction() as st:
            self._held = (threading.get_ident(), st)
            try:
                yield
            finally:
                self._held = None

    def _transaction(self) -> AbstractContextManager[BudgetState]:
        held = self._held
        if held is not None and held[0] == threading.get_ident():
            return nullcontext(held[1])
        return self.store.transaction()

    # --- reading ---------------------------------------------------------------------

    @property
    def spent(self) -> int:
        with self._transaction() as st:
            self._roll(st)
            return st.spent

    @property
    def limit(self) -> int | None:
        """Our cap: the configured limit, never above what the server says its limit is."""
        with self._transaction() as st:
            return self._cap(st)

    @property
    def left(self) -> int | None:
        """Requests left in this window (None: unlimited)."""
        with self._transaction() as st:
            return self._left(st)

    @property
    def rate_limited(self) -> bool:
        """True while the server told us to wait (a 429 or Retry-After)."""
        with self._transaction() as st:
            return self._blocked(st) and st.rate_limited

    def blocked_for(self, kind: Spend | str = Spend.POLL) -> float:
        """Seconds until a request of `kind` may be sent (0 when it may be sent now)."""
        with self._transaction() as st:
            return self._blocked_for(st, kind)

    def snapshot(self) -> tuple[int | None, int | None]:
        """(left, limit) for the header."""
        with self._transaction() as st:
            return self._left(st), self._cap(st)

    def poll_rate(self) -> float | None:
        """Polls per second that last until the window ends, given what every spender has left (None: no limit)."""
        with self._transaction() as st:
            self._roll(st)
            cap = self._cap(st)
            if cap is None:
                return None
            if st.window_end is None:
                return cap / self.window_s
            spare = max(0, cap - st.spent - self._keep(Spend.POLL))
            return spare / max(1.0, st.window_end - self.clock.now())

    def use(self) -> BudgetUse | None:
        """Who spent this window: this process, other pulse-tui processes, someone else (None: unlimited)."""
        with self._transaction() as st:
            self._roll(st)
            if self._cap(st) is None:
                return None
            mine = st.by_process.get(self.me, 0)
            ours = sum(st.by_process.values())
            return BudgetUse(mine, ours - mine, max(0, (st.server_used or 0) - ours), st.server_used)

    # --- spending ----------------------------------------------------------------------

    def try_spend(self, kind: Spend | str = Spend.POLL) -> bool:
        """Take one request from the budget; False (and nothing taken) when it must not be sent."""
        with self._transaction() as st:
            self._roll(st)
            if self._blocked(st):
                return False
            cap = self._cap(st)
            if cap is not None and cap - st.spent <= self._keep(kind):
                return False
            st.spent += 1
            st.by_process[self.me] = st.by_process.get(self.me, 0) + 1
            if st.window_end is None and cap is not None:
                st.window_end = self.clock.now() + self.window_s
            return True

    def refund(self) -> None:
        """Give back a request that never reached the server (connection refused)."""
        with self._transaction() as st:
            st.spent = max(0, st.spent - 1)
            if st.by_process.get(self.me, 0) > 0:
                st.by_process[self.me] -= 1

    def observe(self, headers: Mapping[str, str], status: int) -> None:
        """Believe the server's rate-limit headers (when they make sense) and honour Retry-After / 429."""
        now = self.clock.now()
        headers = {k.lower(): v for k, v in headers.items()}
        # draft-7's combined form, `RateLimit: limit=100, remaining=99, reset=900`, as the separate headers.
        for key, value in _COMBINED.findall(headers.get("ratelimit", "")[:200]):
            headers.setdefault(f"ratelimit-{key.lower()}", value)
        lim = _int(headers.get("x-ratelimit-limit")) or _int(headers.get("ratelimit-limit"))
        rem = _int(headers.get("x-ratelimit-remaining"))
        if rem is None:
            rem = _int(headers.get("ratelimit-remaining"))
        reset = _number(headers.get("x-ratelimit-reset"))
        if reset is None and (delta := _number(headers.get("ratelimit-reset"))) is not None and delta >= 0:
            reset = now + delta  # the IETF draft header counts seconds, not an epoch
        if reset is not None and not now - self.window_s <= reset <= now + MAX_RESET_AHEAD_S:
            reset = None
        retry = parse_retry_after(headers.get("retry-after"), now)
        with self._transaction() as st:
            self._roll(st)
            if lim:
                st.server_limit = lim
            if lim and rem is not None:
                used = max(0, lim - rem)
                # A clearly later reset and a lower count: the server started a new window. A reset up to a few
                # seconds later is the same window (the server starts it at its first hit and rounds the reset
                # up), and a lower count alone is only requests still in flight, ours or another process's.
                late = st.window_end is None or reset is not None and reset > st.window_end + NEW_WINDOW_SLACK_S
                if reset is not None and late and used < st.spent:
                    st.spent = used  # its count replaces ours
                    st.by_process = {self.me: 1} if used else {}
                    st.server_used = used
                else:
                    st.spent = max(st.spent, used)
                    st.server_used = max(st.server_used or 0, used)
                if reset is not None:
                    st.window_end = float(reset)
            if status == 429:
                if retry is None:
                    retry = min(MAX_WAIT_S, reset - now) if reset is not None and reset > now else DEFAULT_BLOCK_S
                self._block(st, retry)
                cap = self._cap(st)
                if cap is not None:
                    st.spent = max(st.spent, cap)
                # Retry-After is the server's own word on when to come back: the window ends then at the latest.
                st.window_end = now + retry if st.window_end is None else min(st.window_end, now + retry)
            elif retry is not None and status >= 500:
                self._block(st, retry)  # a 503 asking us to come back later

    def refusal(self, kind: Spend | str = Spend.POLL) -> GatewayFailure:
        """The typed failure an adapter returns instead of sending a request the budget refuses."""
        with self._transaction() as st:
            wait = round(self._blocked_for(st, kind), 1)
            if self._blocked(st) and st.rate_limited:
                return GatewayFailure(HealthState.RATE_LIMITED, f"rate-limited by the gateway: retry in {wait:.0f}s",
                                      429, retry_after_s=wait, kind=FailureKind.RATE_LIMITED)
            left, cap = self._left(st), self._cap(st)
        return GatewayFailure(
            HealthState.BUDGET,
            f"request budget spent ({left} of {cap} left, {self._keep(kind)} kept for actions): "
            f"next request in {wait:.0f}s",
            retry_after_s=wait,
            kind=FailureKind.BUDGET,
        )

    # --- last known session states (shared with the other processes through the ledger) ---------

    def remember(self, status: SessionStatus, limit: int = 5000) -> None:
        """Keep what a status call said (never its QR) with its time."""
        with self._transaction() as st:
            st.sessions.pop(status.session_id, None)
            st.sessions[status.session_id] = {"exists": status.exists, "ready": status.ready,
                                              "phone": status.phone, "at": self.clock.now()}
            while len(st.sessions) > limit:
                st.sessions.pop(next(iter(st.sessions)))

    def recall(self) -> dict[str, tuple[SessionStatus, float]]:
        """Each session's last known status and when it was learned (by any pulse-tui process)."""
        with self._transaction() as st:
            out = {}
            for sid, e in st.sessions.items():
                at, exists, ready, phone = e.get("at"), e.get("exists"), e.get("ready"), e.get("phone")
                if isinstance(at, int | float) and isinstance(exists, bool) and isinstance(ready, bool):
                    out[sid] = (SessionStatus(sid, exists, ready, phone=phone if isinstance(phone, str) else None),
                                float(at))
            return out

    # --- internals ---------------------------------------------------------------------

    def _cap(self, st: BudgetState) -> int | None:
        if self._limit is None:
            return st.server_limit
        return self._limit if st.server_limit is None else min(self._limit, st.server_limit)

    def _left(self, st: BudgetState) -> int | None:
        self._roll(st)
        cap = self._cap(st)
        if cap is None:
            return None
        return 0 if self._blocked(st) else max(0, cap - st.spent)

    def _blocked_for(self, st: BudgetState, kind: Spend | str) -> float:
        self._roll(st)
        wait = max(0.0, st.blocked_until - self.clock.now())
        cap = self._cap(st)
        if cap is not None and st.window_end is not None and cap - st.spent <= self._keep(kind):
            wait = max(wait, st.window_end - self.clock.now())
        return wait

    def _keep(self, kind: Spend | str) -> int:
        return self.reserve if Spend(kind) == Spend.POLL else 0

    def _blocked(self, st: BudgetState) -> bool:
        return self.clock.now() < st.blocked_until

    def _block(self, st: BudgetState, seconds: float) -> None:
        st.blocked_until = max(st.blocked_until, self.clock.now() + seconds)
        st.rate_limited = True

    def _roll(self, st: BudgetState) -> None:
        if st.window_end is not None and self.clock.now() >= st.window_end and not self._blocked(st):
            st.spent = 0
            st.window_end = None
            st.server_used = None
            st.by_process = {}
