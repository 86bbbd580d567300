"""The UI-free `Watchdog`: one `step(snapshot)` decides, acts through the actions layer, and journals why.

The headless `pulse-tui watch` loop and the TUI's `W` toggle drive the same object: `enabled`, `mode`,
`next_action()` and `step()`. It never acts on a session that needs a QR, never fights the gateway's own
boot-time restore, and pauses whenever acting could hurt (gateway unwell, budget low, keys in doubt).
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pulse_tui.actions.perform import ActionContext, perform
from pulse_tui.clock import Clock, SystemClock
from pulse_tui.model import ConnState, HealthState, SessionView, Snapshot
from pulse_tui.watch.backoff import Backoff, HourCap
from pulse_tui.watch.breaker import Breaker
from pulse_tui.watch.expiry import BudgetForecast, ExpiryWarning, qr_giving_up, session_expiry
from pulse_tui.watch.journal import RESET, Entry, Journal
from pulse_tui.watch.lock import WatchLock
from pulse_tui.watch.policy import Policy

KEY_DOUBT_FINDINGS = ("sessions-undecryptable", "sessions-default-key")
LAST_KEPT = 50  # decisions kept in memory for `status()`
WARNINGS_SHOWN = 50  # the soonest; `warnings_total` counts them all


class Mode(StrEnum):
    OFF = "off"
    ACTING = "acting"
    OBSERVER = "observer"  # another watchdog holds this gateway's lock: watch and say, never act
    READ_ONLY = "read-only"  # says what it would do
    DRY_RUN = "dry-run"  # plans and journals what it would do, acts on nothing


@dataclass(frozen=True)
class Planned:
    """The next action the watchdog means to take, and when (wall-clock epoch seconds)."""

    session: str
    action: str
    at: float
    reason: str
    due: bool = False


@dataclass
class _Memo:
    """What the watchdog remembers of one session between steps."""

    backoff: Backoff
    cap: HourCap
    breaker: Breaker
    state: ConnState | None = None
    was_connected: bool = False
    pending: bool = False  # we acted; waiting to see it connect
    history_at: float | None = None  # the newest state change of the monitor's history already counted
    said: dict[str, str] = field(default_factory=dict)  # kind -> last reason journaled (journal changes only)


def needs_qr(s: SessionView) -> bool:
    """No client and nothing a start could restore from: LOGOUT/auth-dead, auth dir gone, or never restorable."""
    return s.state in (ConnState.STOPPED, ConnState.QR) and not s.restorable


def keys_in_doubt(snap: Snapshot) -> str | None:
    """Why Redis keys are in doubt (a Pulse restart could delete sessions it cannot decrypt), or None."""
    if snap.keys.state in ("mismatch", "default"):
        return f"keys in doubt ({snap.keys.state}: {snap.keys.detail})"
    if snap.redis is not None and not snap.redis.available:
        return "Redis unavailable: the keys cannot be checked"
    for f in snap.findings:
        if f.code in KEY_DOUBT_FINDINGS:
            return f"keys in doubt ({f.code})"
    return None


class Watchdog:
    """Reconnects dropped restorable sessions by policy; see the module docstring."""

    def __init__(
        self,
        policy: Policy,
        ctx: ActionContext,
        journal: Journal,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        lock: WatchLock | None = None,
        dry_run: bool = False,
        enabled: bool = True,
        say: Callable[[Entry], None] | None = None,
    ) -> None:
        self.policy = policy
        self.ctx = ctx
        self.journal = journal
        self.clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self.lock = lock
        self.dry_run = dry_run
        self.enabled = enabled
        self.say = say
        self.paused = ""  # why acting is paused ("" = not paused)
        self._pause_cause = ""
        self._warned: set[tuple[str, str]] = set()  # (code, subject) of the warnings journaled and still true
        self.stopping = False  # set by SIGTERM: finish the current action, start no other
        self.counts: Counter[str] = Counter()  # journaled decisions by kind (acted, failed, would-act…)
        self.last: deque[Entry] = deque(maxlen=LAST_KEPT)
        self.warnings: list[ExpiryWarning] = []
        self._memos: dict[str, _Memo] = {}
        self._plans: list[Planned] = []
        self._forecast = BudgetForecast(ctx.capabilities.budget_window_s)
        self._gateway_was_down = False
        self._hold_until: float | None = None  # monotonic: the gateway's own restore queue runs until about then
        self._hold_why = ""
        journal.new_entries()  # resets are read from here on

    # --- the public face ------------------------------------------------------------

    @property
    def mode(self) -> Mode:
        """What the watchdog does now; an observer tries the lock each time, so it takes over when the actor exits."""
        if not self.enabled:
            return Mode.OFF
        if self.lock is not None and not self.lock.acquire():
            return Mode.OBSERVER
        if self.ctx.read_only:
            return Mode.READ_ONLY
        if self.dry_run:
            return Mode.DRY_RUN
        return Mode.ACTING

    def next_action(self) -> Planned | None:
        """The earliest planned action (None when nothing is planned or the watchdog is off)."""
        if not self.enabled or not self._plans:
            return None
        return min(self._plans, key=lambda p: p.at)

    def circuits(self) -> dict[str, str]:
        """Sessions whose circuit is open, with why."""
        return {sid: m.breaker.open_reason for sid, m in self._memos.items() if m.breaker.is_open}

    def reset(self, session_id: str) -> bool:
        """Close one session's circuit (the operator's `--reset`); False when it was not open."""
        memo = self._memos.get(session_id)
        if memo is None or not memo.breaker.is_open:
            return False
        memo.breaker.reset()
        memo.backoff.reset()
        memo.said.pop("circuit-open", None)
        memo.said.pop("skipped", None)
        return True

    async def step(self, snap: Snapshot) -> list[Entry]:
        """Observe one snapshot, decide, act on what is due (through `perform`), and return the decisions."""
        out: list[Entry] = []
        mode = self.mode
        for e in self.journal.new_entries():
            if e.kind == RESET and self.reset(e.session):
                out.append(self._note(Entry(snap.taken_at, "circuit-closed", e.session, reason="reset by the operator"),
                                      mode))
        now_m = self.clock.monotonic()
        for s in snap.sessions:
            out += self._observe(s, snap.taken_at, now_m, mode)
        out += self._expiry(snap, mode)
        self._watch_restore(snap, now_m)
        cause, pause = self._pause_reason(snap, now_m)
        if cause != self._pause_cause:  # journal a new cause, not every change of its figures
            kind, why = ("paused", pause) if pause else ("resumed", f"was paused: {self.paused}")
            out.append(self._note(Entry(snap.taken_at, kind, reason=why), mode))
            self._pause_cause = cause
        self.paused = pause
        if mode == Mode.OFF:
            self._plans = []
            return out
        self._plans = self._plan(snap, now_m, mode, out)
        if pause:
            return out
        allowed = self.policy.max_actions_per_step
        if snap.gateway.budget_left is not None:
            allowed = min(allowed, snap.gateway.budget_left - self.policy.budget_reserve)
        due = sorted((p for p in self._plans if p.due), key=lambda p: p.at)
        for plan in due[: max(0, allowed)]:
            if self.stopping:
                break
            out.append(await self._act(plan, snap.taken_at, mode))
        return out

    def status(self) -> dict[str, Any]:
        """The `watchdog` block of `status --json` (also written to the state file by the headless loop)."""
        nxt = self.next_action()
        return {
            "mode": self.mode.value,
            "acting": self.mode == Mode.ACTING,
            "paused": self.paused or None,
            "next_action": None if nxt is None else {"session": nxt.session, "action": nxt.action,
                                                     "at": round(nxt.at, 1), "reason": nxt.reason},
            "circuits_open": self.circuits(),
            "counts": dict(self.counts),
            "warnings": [{"code": w.code, "subject": w.subject, "at": round(w.at, 1), "message": w.message}
                         for w in self.warnings[:WARNINGS_SHOWN]],
            "warnings_total": len(self.warnings),
            "last": [e.to_json() for e in list(self.last)[-10:]],
            "journal_error": self.journal.error or None,
        }

    # --- deciding -------------------------------------------------------------------

    def _memo(self, sid: str) -> _Memo:
        memo = self._memos.get(sid)
        if memo is None:
            p = self.policy
            memo = _Memo(Backoff(p.backoff_base_s, p.backoff_max_s, p.jitter, self.rng), HourCap(p.max_per_hour),
                         Breaker(p.flap_transitions, p.flap_window_s, p.max_failures))
            self._memos[sid] = memo
        return memo

    def _observe(self, s: SessionView, now: float, now_m: float, mode: Mode) -> list[Entry]:
        memo = self._memo(s.id)
        out: list[Entry] = []
        if s.state == ConnState.UNKNOWN:
            return out  # the source went away: no fact, no transition
        prev, memo.state = memo.state, s.state
        if s.state == ConnState.CONNECTED or any(h.state == ConnState.CONNECTED for h in s.history):
            memo.was_connected = True
        out += self._count_changes(s, memo, mode)
        if s.state == ConnState.CONNECTED:
            if memo.pending:
                memo.breaker.succeeded()
            memo.pending = False
            memo.backoff.reset()
            memo.said.clear()
        elif memo.pending and s.state in (ConnState.RESTORABLE, ConnState.STOPPED, ConnState.QR, ConnState.STUCK) \
                and prev != s.state:
            memo.pending = False
            if (why := memo.breaker.failed()) is not None:
                out.append(self._note(Entry(now, "circuit-open", s.id, reason=why), mode))
        if needs_qr(s):  # never acted on, whether it was linked once or never: said once per state
            why = f"needs a QR scan ({s.detail or s.state.value}); {_age(s.seconds_in_state)} in {s.state.value}"
            out += self._once(memo, Entry(now, "needs-qr", s.id, reason=why), mode, key=s.state.value)
        return out

    def _count_changes(self, s: SessionView, memo: _Memo, mode: Mode) -> list[Entry]:
        """Feed the breaker every state change the monitor saw since the last step (not only those at steps)."""
        seen = memo.history_at
        memo.history_at = max((h.at for h in s.history), default=seen)
        if seen is None:
            return []  # the first sight of a session: its past is not a flap we watched
        out = []
        for h in s.history:
            if h.at > seen and h.state != ConnState.UNKNOWN and (why := memo.breaker.changed(h.at)) is not None:
                out.append(self._note(Entry(h.at, "circuit-open", s.id, reason=why), mode))
        return out

    def _plan(self, snap: Snapshot, now_m: float, mode: Mode, out: list[Entry]) -> list[Planned]:
        plans = []
        for s in snap.sessions:
            memo = self._memo(s.id)
            action = self._action_for(s, memo)
            if action is None:
                continue
            if isinstance(action, tuple):
                out += self._once(memo, Entry(snap.taken_at, "skipped", s.id, action[0], action[1]), mode)
                continue
            if memo.backoff.due_at is None:
                memo.backoff.arm(now_m)
            due_m = max(memo.backoff.due_at or now_m, memo.cap.free_at(now_m))
            n = memo.backoff.attempts + 1
            reason = f"watchdog: {s.id} dropped and is {s.state.value}; reconnect attempt {n}"
            if not memo.cap.allows(now_m):
                out += self._once(memo, Entry(snap.taken_at, "skipped", s.id, action,
                                              f"{self.policy.max_per_hour} reconnects in the last hour"), mode)
            plans.append(Planned(s.id, action, snap.taken_at + (due_m - now_m), reason, due=due_m <= now_m))
        return plans

    def _action_for(self, s: SessionView, memo: _Memo) -> str | tuple[str, str] | None:
        """The action a session calls for: a name, (action, why it is skipped), or None."""
        if not memo.was_connected or s.state == ConnState.RESTORING:
            return None  # never linked here, or the gateway's own restore will reach it: wait, do not fight
        if s.state == ConnState.RESTORABLE and s.restorable:
            action = "start"
        elif s.state == ConnState.STUCK and s.restorable:
            if not self.ctx.capabilities.has_restart:
                return ("restart", "stuck with a client, and this gateway has no restart route")
            action = "restart"
        else:
            return None
        if memo.breaker.is_open:
            return (action, f"circuit open ({memo.breaker.open_reason}): `pulse-tui watch --reset {s.id}`")
        return action

    def _watch_restore(self, snap: Snapshot, now_m: float) -> None:
        """Notice the gateway restoring sessions by itself (after a restart) and hold off until its queue is done.

        Signs: the monitor's RESTORING, a session starting that we did not start, or the gateway coming back
        from down. Salesboy restores one auth dir every 5 s; starting them ourselves meanwhile only doubles them.
        """
        if not self.ctx.capabilities.restores_from_auth_dir:
            return
        interval = self.policy.restore_interval_s
        queued = [s for s in snap.sessions if s.has_auth_dir and s.state != ConnState.CONNECTED]
        up = snap.gateway.state == HealthState.OK
        busy = [s for s in snap.sessions if s.state == ConnState.RESTORING
                or (s.state == ConnState.STARTING and not self._memo(s.id).pending)]
        until = None
        if up and self._gateway_was_down:
            # Its queue may not be visible yet (status calls are paced): allow it the whole queue's time.
            until = now_m + len(queued) * interval + self.policy.restore_slack_s
            self._hold_why = "the gateway is back: it restores its auth dirs first"
        elif busy:
            # Rolling: the queue starts the next one every `interval`; it is done when none started for a while.
            until = now_m + interval + self.policy.restore_slack_s
            self._hold_why = f"the gateway is restoring sessions from disk ({len(busy)} starting by itself)"
        if until is not None:
            self._hold_until = max(self._hold_until or until, until)
        elif up and not queued:
            self._hold_until = None  # everything it could restore is connected: the queue is done
        self._gateway_was_down = snap.gateway.state in (HealthState.DOWN, HealthState.ERROR)

    def _pause_reason(self, snap: Snapshot, now_m: float) -> tuple[str, str]:
        """(cause, why) acting is paused now; ("", "") when it is not."""
        gw = snap.gateway
        if gw.state != HealthState.OK:
            detail = f": {gw.detail}" if gw.detail else ""
            return f"gateway-{gw.state.value}", f"gateway {gw.state.value}{detail}"
        if gw.budget_left is not None and gw.budget_left <= self.policy.budget_reserve:
            return "budget", (f"request budget low: {gw.budget_left} left, {self.policy.budget_reserve} kept in "
                              "reserve")
        if (why := keys_in_doubt(snap)) is not None:
            return "keys", why
        if self._hold_until is not None and now_m < self._hold_until:
            return "restore", f"{self._hold_why}: waiting for its queue"
        return "", ""

    def _expiry(self, snap: Snapshot, mode: Mode) -> list[Entry]:
        warnings = session_expiry(snap, self.policy.expiry_window_s) + qr_giving_up(snap, self.policy.qr_give_up_s)
        if (budget := self._forecast.observe(snap)) is not None:
            warnings.append(budget)
        self.warnings = sorted(warnings, key=lambda w: w.at)
        out: list[Entry] = []
        seen: set[tuple[str, str]] = set()
        for w in warnings:
            if w.code == "session-expiring":
                continue  # Pulse's TTL is a day: thousands at once. `status()` lists them; the journal would only fill
            key = (w.code, w.subject)
            seen.add(key)
            if key not in self._warned:
                out.append(self._note(Entry(snap.taken_at, "warning", w.subject, w.code, w.message), mode))
        self._warned = seen
        return out

    # --- acting and saying ------------------------------------------------------------

    async def _act(self, plan: Planned, now: float, mode: Mode) -> Entry:
        memo = self._memo(plan.session)
        now_m = self.clock.monotonic()
        memo.backoff.attempted(now_m)
        memo.cap.note(now_m)
        if mode != Mode.ACTING:
            why = {Mode.OBSERVER: "observer: another watchdog acts on this gateway"}.get(mode, mode.value)
            return self._note(Entry(now, "would-act", plan.session, plan.action, f"{why}; {plan.reason}"), mode)
        outcome = await perform(plan.action, plan.session, self.ctx, reason=plan.reason)
        if outcome.refused:
            return self._note(Entry(now, "skipped", plan.session, plan.action, f"re-check: {outcome.message}"), mode)
        memo.pending = outcome.ok
        if not outcome.ok and (opened := memo.breaker.failed()) is not None:
            self._note(Entry(now, "circuit-open", plan.session, reason=opened), mode)
        kind = "acted" if outcome.ok else "failed"
        return self._note(Entry(now, kind, plan.session, plan.action, f"{plan.reason}: {outcome.message}",
                                ok=outcome.ok), mode)

    def _once(self, memo: _Memo, entry: Entry, mode: Mode, key: str = "") -> list[Entry]:
        """Journal `entry` only when it says something new for this session (not every step)."""
        said = f"{entry.action}|{key or entry.reason}"
        if memo.said.get(entry.kind) == said:
            return []
        memo.said[entry.kind] = said
        return [self._note(entry, mode)]

    def _note(self, entry: Entry, mode: Mode) -> Entry:
        self.last.append(entry)
        if mode == Mode.OFF:
            return entry  # switched off (the TUI's default): it keeps watching, quietly
        # The acting watchdog keeps the journal; an observer would only write it twice.
        if mode != Mode.OBSERVER:
            self.journal.append(entry)
        self.counts[entry.kind] += 1
        if self.say is not None:
            self.say(entry)
        return entry


def _age(seconds: float) -> str:
    s = int(max(0.0, seconds))
    return f"{s} s" if s < 120 else f"{s // 60} min" if s < 7200 else f"{s / 3600:.1f} h"
