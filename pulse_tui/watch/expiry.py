"""Warnings before anything expires: Pulse user sessions near their TTL, QRs near giving up, a budget running out."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from pulse_tui.model import ConnState, Snapshot


@dataclass(frozen=True)
class ExpiryWarning:
    """One thing that will expire: what (`code`), who (a session id, never a phone), when (epoch seconds)."""

    code: str  # "session-expiring" | "qr-giving-up" | "budget-running-out"
    subject: str
    at: float
    message: str


def session_expiry(snap: Snapshot, window_s: float) -> list[ExpiryWarning]:
    """Pulse user sessions in Redis whose TTL ends within `window_s`: the user must re-link after it."""
    if snap.redis is None or not snap.redis.available:
        return []
    out = []
    for s in snap.redis.sessions:
        if s.ttl is not None and 0 <= s.ttl <= window_s:
            at = snap.taken_at + s.ttl
            out.append(ExpiryWarning("session-expiring", s.session_id, at,
                                f"user session {s.session_id} expires in {_span(s.ttl)}: the user must re-link"))
    return out


def qr_giving_up(snap: Snapshot, give_up_s: float) -> list[ExpiryWarning]:
    """Sessions showing a QR: when the gateway will stop offering codes if nobody scans."""
    out = []
    for s in snap.sessions:
        if s.state == ConnState.QR:
            at = s.since + give_up_s
            left = at - snap.taken_at
            words = f"gives up in {_span(left)}" if left > 0 else "has used its attempts"
            out.append(ExpiryWarning("qr-giving-up", s.id, at, f"{s.id} waits for a QR scan ({_span(s.seconds_in_state)}); "
                                                           f"it {words}"))
    return out


class BudgetForecast:
    """Predicts from the last samples of `budget_left` whether the window's budget runs out before it resets."""

    def __init__(self, window_s: float | None, span_s: float = 300.0, min_span_s: float = 120.0) -> None:
        self.window_s = window_s
        self.span_s = span_s  # the pace is measured over the last 5 minutes…
        self.min_span_s = min_span_s  # …and not predicted from less than 2 (a burst is not a pace)
        self.samples: deque[tuple[float, int]] = deque()  # (wall seconds, left)
        self.window_start: float | None = None

    def observe(self, snap: Snapshot) -> ExpiryWarning | None:
        left = snap.gateway.budget_left
        if left is None or self.window_s is None:
            return None
        now = snap.taken_at
        if self.samples and left > self.samples[-1][1]:  # the window reset
            self.samples.clear()
            self.window_start = now
        if self.window_start is None:
            self.window_start = now
        self.samples.append((now, left))
        while now - self.samples[0][0] > self.span_s:
            self.samples.popleft()
        (t0, l0) = self.samples[0]
        if now - t0 < self.min_span_s or l0 <= left:
            return None
        rate = (l0 - left) / (now - t0)  # requests per second
        runs_out = now + left / rate
        resets = self.window_start + self.window_s
        if runs_out >= resets:
            return None
        return ExpiryWarning("budget-running-out", "gateway", runs_out,
                        f"at {rate * 60:.1f} requests/min the gateway budget ({left} left) runs out in "
                        f"{_span(runs_out - now)}, {_span(resets - runs_out)} before its window resets")


def _span(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s / 3600:.1f} h"
