"""The monitor: merges gateway, auth dirs, log events and Redis into immutable snapshots.

One poll at a time (a lock), a per-source backoff, and a request plan that spends the gateway's rate-limit
budget where it tells the most: sessions in motion first, then the one the operator watches, then the
oldest. The TUI, `status --json` and `doctor` all read these snapshots, so they can never disagree.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from pulse_tui.clock import Clock, SystemClock
from pulse_tui.config import Config, GatewayKind
from pulse_tui.events import ChannelState, ChannelStatus, EventKind, SessionEvent
from pulse_tui.findings import finding
from pulse_tui.model import (
    BudgetUse,
    ConnState,
    FailureKind,
    Finding,
    GatewayFailure,
    GatewayHealth,
    HealthState,
    HostSummary,
    KeysStatus,
    RedisReport,
    SessionStatus,
    SessionView,
    Snapshot,
    ValueClass,
)
from pulse_tui.monitor.logbatch import LogBatch
from pulse_tui.monitor.state import (
    NO_HOST_FACTS,
    RESTORE_SLACK_S,
    STUCK_AFTER_S,
    HostFacts,
    Tracked,
    advance,
    no_browser_why,
    view_of,
)
from pulse_tui.sources.authdirs import AuthDir
from pulse_tui.sources.gateway.capabilities import Capabilities
from pulse_tui.sources.logs.events import SessionEvent as LogEvent
from pulse_tui.sources.logs.events import events_from_lines, session_events
from pulse_tui.sources.logs.line import LogLine

if TYPE_CHECKING:
    # The host probe's modules (psutil, the process map, locks, pm2) load with the probe, when `attach` gives
    # one: the TUI's first snapshot needs only the gateway (issue 15), and a monitor without a host never does.
    from pulse_tui.monitor.host import HostObservation, HostSource
    from pulse_tui.sources.pm2 import Pm2Report
    from pulse_tui.sources.procs import HostReport

RESTORE_INTERVAL_S = 5.0  # Salesboy restores one auth dir every 5 s after boot
HEALTH_EVERY_S = 30.0  # when status calls already tell us the gateway answers, ask /health rarely
MAX_STATUS_PER_POLL = 4
PACE_WINDOW_S = 900.0  # Salesboy's rate-limit window, when the adapter does not say
BACKOFF_MAX_S = 60.0
REDIS_BACKOFF_MAX_S = 10.0
REDIS_WAIT_S = 0.1  # how long a poll waits for an unfinished Redis inspection before showing what it has
HOST_BACKOFF_MAX_S = 60.0
CHANNEL_RELIST_S = 30.0  # with the event channel up, the session list is re-read this often (it catches a miss)
RECENT_EVENTS = 2000  # events kept for the checks that count them (20 per instance in 5 min is a loop)
MOVING = (ConnState.STARTING, ConnState.QR, ConnState.STUCK, ConnState.RESTORING, ConnState.UNKNOWN)
UNREACHABLE = (HealthState.DOWN, HealthState.ERROR, HealthState.UNAUTHORIZED)
OUT_OF_BUDGET = (HealthState.RATE_LIMITED, HealthState.BUDGET)
# A state the gateway itself announced: does it mean a client exists, and is it ready?
_CLIENT_OF = {ConnState.CONNECTED: (True, True), ConnState.STOPPED: (False, False),
              ConnState.RESTORABLE: (False, False)}


class BudgetReadout(Protocol):
    """The adapter's request budget as the monitor reads it (`RequestBudget` is one)."""

    def use(self) -> BudgetUse | None: ...
    def poll_rate(self) -> float | None: ...
    def batch(self) -> AbstractContextManager[None]: ...


class GatewaySource(Protocol):
    """What the monitor asks of a gateway adapter (`pulse_tui.sources.gateway.base.Gateway` is one)."""

    kind: GatewayKind
    url: str
    capabilities: Capabilities

    @property
    def budget(self) -> BudgetReadout: ...

    async def health(self) -> GatewayHealth: ...
    async def list_sessions(self) -> list[str] | GatewayFailure: ...
    async def status(self, session_id: str) -> SessionStatus | GatewayFailure: ...
    def budget_snapshot(self) -> tuple[int | None, int | None]: ...

    @property
    def last_latency_ms(self) -> float | None: ...

    def known_states(self) -> dict[str, tuple[SessionStatus, float]]: ...


class RedisSource(Protocol):
    async def inspect(self) -> RedisReport: ...


@dataclass(frozen=True)
class AuthDirFact:
    """One LocalAuth dir as discovered on disk."""

    session_id: str
    path: str
    valid: bool  # False: the gateway never restores it (e.g. `session-current-user`)


AuthDiscovery = Callable[[], Sequence[AuthDirFact]]
FindingsFn = Callable[["Snapshot"], Sequence[Finding]]


@dataclass
class Backoff:
    """Exponential backoff for one source: how long to leave it alone after failures."""

    base_s: float
    max_s: float
    failures: int = 0
    next_at: float = 0.0

    def ready(self, now: float) -> bool:
        return now >= self.next_at

    def success(self) -> None:
        self.failures, self.next_at = 0, 0.0

    def failure(self, now: float, at_least_s: float = 0.0) -> None:
        self.failures += 1
        delay = min(self.max_s, self.base_s * 2 ** (self.failures - 1))
        self.next_at = now + max(delay, at_least_s)


def keys_status(report: RedisReport | None) -> KeysStatus:
    """Header summary: default key in use beats a mismatch, which beats ok."""
    if report is None or not report.available:
        return KeysStatus("unknown", "Redis not checked" if report is None else "Redis unavailable")
    counts: dict[ValueClass, int] = {}
    for s in report.sessions:
        counts[s.value_class] = counts.get(s.value_class, 0) + 1
    if counts.get(ValueClass.DEFAULT_KEY):
        return KeysStatus("default", f"{counts[ValueClass.DEFAULT_KEY]} session(s) encrypted with a default key")
    if counts.get(ValueClass.UNDECRYPTABLE):
        return KeysStatus("mismatch", f"{counts[ValueClass.UNDECRYPTABLE]} session(s) open with no known key")
    if not report.sessions:
        return KeysStatus("unknown", "no sessions in Redis to check the keys against")
    return KeysStatus("ok", f"{counts.get(ValueClass.OK, 0)} session(s) open with the configured keys")


# The flags the host probe sets (monitor.host.LOCK_FLAGS and the orphan's), spelled here so that carrying them
# needs no host module; tests/test_host_monitor.py checks they agree.
HOST_FLAGS = frozenset({"stale-lock", "lock-conflict", "foreign-lock", "orphaned-browser"})


def _carried_facts(prev: SessionView) -> HostFacts:
    """The host facts of the last scan, as `prev` shows them, for a view built between scans."""
    return HostFacts(prev.rss_bytes, prev.cpu_percent, prev.browser_pids, prev.pss_bytes, prev.uss_bytes, prev.lock,
                     prev.lock_info, prev.orphans, prev.flags & HOST_FLAGS)


class Monitor:
    """Polls the sources on request and keeps per-session state between polls."""

    def __init__(
        self,
        config: Config,
        gateway: GatewaySource,
        redis: RedisSource | None = None,
        *,
        clock: Clock | None = None,
        auth_discovery: AuthDiscovery | None = None,
        findings: FindingsFn | None = None,
        stuck_after_s: float = STUCK_AFTER_S,
        host: HostSource | None = None,
        redis_expected: bool = False,
    ) -> None:
        self.config = config
        self.gateway = gateway
        self.redis = redis
        self._redis_expected = redis_expected or redis is not None  # "checking…" until its first report
        self.clock = clock or SystemClock()
        self._discover = auth_discovery or (lambda: ())
        self._findings = findings
        self._stuck_after_s = stuck_after_s
        self._lock = asyncio.Lock()
        self._tracked: dict[str, Tracked] = {}
        self._known_ids: set[str] = set(config.extra_sessions)
        self._watched: set[str] = set()
        self._health = GatewayHealth(HealthState.UNKNOWN, detail="not checked yet")
        self._health_at: float | None = None
        self._credit = float(MAX_STATUS_PER_POLL)  # status requests we may spend now (see _pace)
        self._credit_at: float | None = None
        self._gw_backoff = Backoff(base_s=max(config.poll_seconds, 1.0), max_s=BACKOFF_MAX_S)
        self._redis_backoff = Backoff(base_s=1.0, max_s=REDIS_BACKOFF_MAX_S)
        self._redis_report: RedisReport | None = None
        self._redis_task: asyncio.Task[None] | None = None
        self.host = host
        self._host_backoff = Backoff(base_s=max(config.poll_seconds, 1.0), max_s=HOST_BACKOFF_MAX_S)
        self._host_error = ""
        self._tree_seen: dict[tuple[int, float], float] = {}  # browser tree → when a scan first saw it
        self._listed: frozenset[str] | None = None  # the gateway's last complete session list (Pulse)
        self._listed_at: float | None = None
        self.host_observation: HostObservation | None = None  # the last probe, for actions (kill, clear lock)
        self.latest: Snapshot | None = None
        self.auth_error = ""  # why the last auth-dir scan failed ("" when it worked)
        self._adopted: set[str] = set()  # sessions whose latest facts came from the shared ledger
        self.channel: ChannelStatus | None = None  # the gateway's event channel, as the engine last saw it
        # The checks that count events (Evolution's reconnect loops) read these; bounded, so a flood costs nothing.
        self._recent: deque[SessionEvent] = deque(maxlen=RECENT_EVENTS)

    # --- hints from the UI and the log follower ---------------------------------

    def attach(self, *, redis: RedisSource | None, host: HostSource | None) -> None:
        """The sources built after the first gateway snapshot (`build_targets(defer_slow=True)`): the next poll
        reads them."""
        self.redis, self.host = redis, host
        self._redis_expected = redis is not None

    def watch(self, session_id: str | None) -> None:
        """The session the operator is looking at gets its status asked first."""
        self._watched = {session_id} if session_id else set()

    def add_session(self, session_id: str) -> None:
        self._known_ids.add(session_id)

    def note_action(self, session_id: str, action: str, ok: bool) -> None:
        """An action we performed tells us something without a request."""
        if not ok:
            return
        now = self.clock.now()
        t = self._track(session_id)
        if action == "start":
            if not t.facts.ready:
                t.learn(now, "action", "start requested", exists=True)
        elif action in ("stop", "delete"):
            t.learn(now, "action", f"{action} requested", exists=False, ready=False, qr=None, qr_seen=False)
            if self.gateway.capabilities.stop_deletes_auth and action == "stop":
                t.has_auth_dir = False  # the stop route deletes it; the next disk scan confirms
        self._advance(t, now)

    def apply_events(self, events: Iterable[SessionEvent], source: str = "log") -> int:
        """Feed session events (log lines, the gateway's event channel); returns how many changed a state."""
        changed = 0
        for ev in events:
            sid, at = ev.session_id, ev.at
            if ev.kind == EventKind.RESTORE_QUEUED:
                self._schedule_restore(at)
                continue
            if not sid:
                continue
            self._recent.append(ev)
            t = self._track(sid)
            if t.facts.at is not None and at < t.facts.at:
                continue  # older than what we already know
            if not self._learn_event(t, ev, source):
                continue
            t.last_activity = at
            changed += self._advance(t, self.clock.now())
        return changed

    @staticmethod
    def _learn_event(t: Tracked, ev: SessionEvent, source: str) -> bool:
        """What one event tells about its session; False when it tells nothing about the connection."""
        at, kind = ev.at, ev.kind
        if kind == EventKind.STARTING:
            t.learn(at, source, ev.detail, exists=True, ready=False)
        elif kind == EventKind.QR:
            t.learn(at, source, "QR issued", exists=True, ready=False, qr_seen=True)
        elif kind in (EventKind.READY, EventKind.AUTHENTICATED):
            t.learn(at, source, ev.detail, exists=True, ready=kind == EventKind.READY or t.facts.ready)
            if ev.phone:
                t.facts.phone = ev.phone
            t.auth_dead = False
        elif kind in (EventKind.CLIENT_GONE, EventKind.LOGGED_OUT, EventKind.DELETED):
            t.learn(at, source, ev.detail or ev.word, exists=False, ready=False, qr=None, qr_seen=False)
            if kind == EventKind.LOGGED_OUT:
                t.auth_dead = True
        elif kind == EventKind.AUTH_DELETED:
            t.has_auth_dir = False
        elif ev.state is not None:  # STATE, QR_LIMIT: the gateway's own state machine
            exists, ready = _CLIENT_OF.get(ev.state, (True, False))
            t.learn(at, source, ev.detail, exists=exists, ready=ready, state=ev.state, word=ev.word)
            if ev.phone:
                t.facts.phone = ev.phone
        else:
            return False  # CREATED: a row, nothing known yet
        return True

    def recent_events(self) -> tuple[SessionEvent, ...]:
        """The last session events applied (logs and the event channel), oldest first, at most RECENT_EVENTS."""
        return tuple(self._recent)

    def take_lines(self, lines: list[LogLine]) -> bool:
        """Apply the session events of some log lines; True when one moved a session."""
        return self.take_log_events(events_from_lines(lines))

    def take_log_events(self, events: Iterable[LogEvent]) -> bool:
        """Apply events parsed from log lines (e.g. a one-shot run's recent tail); True when one moved a session."""
        converted = session_events(events, self.clock.now())
        return bool(converted) and self.apply_events(converted, "log") > 0

    async def follow(self, feed: AsyncIterable[list[LogLine]]) -> AsyncIterator[LogBatch]:
        """Each batch of a log feed, once its events are applied: for display, with the snapshot they changed."""
        async for lines in feed:
            changed = self.take_lines(lines)
            yield LogBatch(lines, self.current() if changed else None)

    def set_channel(self, status: ChannelStatus | None) -> None:
        """The event channel's state: while it is connected, the sessions it covers cost no status request."""
        self.channel = status

    def _channel_up(self) -> bool:
        return self.channel is not None and self.channel.state == ChannelState.CONNECTED

    # --- polling -----------------------------------------------------------------

    async def poll(self, *, full: bool = False) -> Snapshot:
        """One merged snapshot. `full` asks every session's status once (for one-shot `status`)."""
        async with self._lock:
            started = self.clock.monotonic()
            redis_task = self._redis_in_flight()
            host_task = asyncio.create_task(self._scan_host()) if self.host is not None else None
            await self._poll_gateway_isolated(full=full)
            if redis_task is not None:
                # A slow Redis (10,000 sessions, or one that hangs until its timeout) must not hold the gateway
                # view back: wait briefly, and let an unfinished inspection land in a later poll.
                await asyncio.wait({redis_task}, timeout=None if full else REDIS_WAIT_S)
            obs = await self._finish_host(*(await host_task)) if host_task is not None else None
            now = self.clock.now()
            for t in self._tracked.values():
                self._advance(t, now)
            if obs is not None:
                from pulse_tui.monitor.host import SessionHostFacts, summarize

                by_session, no_browser = SessionHostFacts(obs), bool(no_browser_why(self.gateway.capabilities))
                snap = self._snapshot(now, lambda sid: by_session.of(sid, no_browser), summarize(obs),
                                      poll_s=self.clock.monotonic() - started)
            else:
                snap = self._snapshot(now, poll_s=self.clock.monotonic() - started)
            snap = self._with_findings(snap)
            self.latest = snap
            return snap

    # --- host ----------------------------------------------------------------------

    async def _scan_host(self) -> tuple[HostReport | None, Pm2Report | None, float]:
        """Process scan and pm2 read, beside the gateway poll. Never raises: a failure becomes `_host_error`."""
        assert self.host is not None
        seen_at = self.clock.now()  # before the scan: a fact learned later is newer than every tree it finds
        mono = self.clock.monotonic()
        if not self._host_backoff.ready(mono):
            return None, None, seen_at
        report: HostReport | None = None
        pm2: Pm2Report | None = None
        errors = []
        try:
            report = await self.host.scan(self.gateway.capabilities, full=False,
                                          history=((t.id, t.history) for t in self._tracked.values()))
        except Exception as exc:  # noqa: BLE001 - the host probe must never break a poll
            errors.append(f"process scan failed: {type(exc).__name__}: {exc}")
        try:
            pm2 = await self.host.read_pm2()
        except Exception as exc:  # noqa: BLE001
            errors.append(f"pm2 read failed: {type(exc).__name__}: {exc}")
        self._host_error = "; ".join(errors)
        if errors:
            self._host_backoff.failure(mono)
        else:
            self._host_backoff.success()
        return report, pm2, seen_at

    async def _finish_host(self, report: HostReport | None, pm2: Pm2Report | None, seen_at: float) -> HostObservation:
        """Locks and orphans, once the gateway has been asked (orphans need its word)."""
        from pulse_tui.monitor.host import GatewayKnowledge, HostObservation, lock_dirs, orphans_of, tree_keys

        assert self.host is not None
        error = self._host_error
        if report is None and not error:
            error = f"host probe backing off after a failure ({self._host_backoff.failures}x)"
        obs = HostObservation(report=report, pm2=pm2, pm2_app=self.host.pm2_app,
                              watch_missing_app=self.host.watch_missing_app, error=error)
        if report is None or report.error:
            self.host_observation = obs
            return obs
        try:
            keys = tree_keys(report)
            self._tree_seen = {k: self._tree_seen.get(k, seen_at) for k in keys}
            for s in report.sessions:
                if self._askable(s.session_id):
                    self._track(s.session_id)  # a browser of a session we did not know of still gets a row
            dirs = lock_dirs(((t.id, t.auth_dir) for t in self._tracked.values()), report)
            locks = await self.host.check_locks(dirs, report)
            knowledge = GatewayKnowledge(
                exists={t.id: (t.facts.exists, t.facts.at) for t in self._tracked.values()},
                listed=self._listed, listed_at=self._listed_at,
            )
            orphans = orphans_of(report, knowledge, self._tree_seen, self.host.gateway_pids(pm2))
            obs = replace(obs, locks=locks, orphans=orphans)
        except Exception as exc:  # noqa: BLE001 - the host probe must never break a poll
            obs = replace(obs, error=f"host checks failed: {type(exc).__name__}: {exc}")
        self.host_observation = obs
        return obs

    def _redis_in_flight(self) -> asyncio.Task[None] | None:
        """The Redis inspection under way, or a new one; never two at once."""
        if self.redis is None:
            return None
        if self._redis_task is None or self._redis_task.done():
            self._redis_task = asyncio.create_task(self._poll_redis())
        return self._redis_task

    async def aclose(self) -> None:
        """Stop an unfinished Redis inspection (the app is closing)."""
        task, self._redis_task = self._redis_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    @property
    def redis_pending(self) -> bool:
        """True until the first Redis inspection has finished (the header says "checking")."""
        return self._redis_expected and self._redis_report is None

    async def _poll_redis(self) -> None:
        if self.redis is None:
            return
        now = self.clock.monotonic()
        if not self._redis_backoff.ready(now):
            return
        try:
            report = await self.redis.inspect()
        except Exception as exc:  # noqa: BLE001 - one source's bug must not blind the others
            report = RedisReport(available=False, error=f"Redis inspection failed ({type(exc).__name__})")
        if report.available:
            self._redis_backoff.success()
        else:
            self._redis_backoff.failure(now)
        self._redis_report = report

    async def _poll_gateway_isolated(self, *, full: bool) -> None:
        """The gateway poll; an unexpected error in it becomes the gateway's typed state, never the poll's."""
        try:
            await self._poll_gateway(full=full)
        except Exception as exc:  # noqa: BLE001 - one source's bug must not blind the others
            self._fail(GatewayFailure(HealthState.ERROR, f"gateway poll failed ({type(exc).__name__})",
                                      kind=FailureKind.INTERNAL))

    async def _poll_gateway(self, *, full: bool) -> None:
        now = self.clock.now()
        self._refresh_auth_dirs()
        mono = self.clock.monotonic()
        if not self._gw_backoff.ready(mono):
            self._health = replace(self._health, retry_after_s=max(0.0, self._gw_backoff.next_at - mono))
            return
        if self._channel_tells_enough(full):
            await self._finish_gateway_poll(0, full)
            return
        listed = await self.gateway.list_sessions()
        if isinstance(listed, GatewayFailure):
            self._fail(listed)
            return
        self._known_ids.update(listed)
        if self.gateway.capabilities.lists_sessions:  # an authoritative list (else: our own guess from disk)
            self._listed, self._listed_at = frozenset(listed), self.clock.now()
        for sid in self._known_ids:
            self._track(sid)
        with self._budget_batch():  # the ledger's last known states and the pace: one transaction, not four
            self._adopt_known()
            asked = 0
            plan = self._plan(now)
            if full:
                # A one-shot run (status, doctor, cron) answers fresh ledger entries as they are and spends at most
                # its share of the window on the rest, oldest first: a check every few minutes must not lock out
                # the dashboard, nor starve a running TUI.
                fresh = self._fresh_within()
                plan = [sid for sid in plan
                        if not (sid in self._adopted and self._fresh(self._tracked[sid], now, fresh))]
                limit = self._oneshot_limit()
            else:
                limit = int(self._pace())
        for sid in plan[:limit]:
            result = await self.gateway.status(sid)
            if isinstance(result, GatewayFailure):
                if result.state != HealthState.BUDGET or asked == 0:
                    self._fail(result)
                break
            asked += 1
            self._tracked[sid].learn_status(result, self.clock.now())
            self._adopted.discard(sid)
            self._ok()
            if (latency := self._latency()) is not None:
                self._health = replace(self._health, latency_ms=latency)
            self._health_at = self.clock.monotonic()  # an answered status proves health: no /health needed
        await self._finish_gateway_poll(asked, full)

    async def _finish_gateway_poll(self, asked: int, full: bool) -> None:
        """Count the requests spent, ask /health when nothing else proved the gateway answers, read the budget."""
        self._credit -= asked
        if asked == 0 and (self._oneshot_limit() > 0 if full else self._health_due()):
            self._credit -= 1
            health = await self.gateway.health()
            self._health_at = self.clock.monotonic()
            if health.state == HealthState.OK:
                self._ok(health)
            else:
                self._fail(GatewayFailure(health.state, health.detail, retry_after_s=health.retry_after_s,
                                          kind=health.failure_kind or FailureKind.HTTP))
        with self._budget_batch():
            left, cap = self._budget()
            use = self._budget_use()
        self._health = replace(self._health, budget_left=left, budget_limit=cap, budget_use=use)

    def _channel_tells_enough(self, full: bool) -> bool:
        """While the event channel follows every known session, the listing is a consistency check every
        CHANNEL_RELIST_S rather than every poll (1,000 WAHA sessions: a 30 ms listing and its parse each 3 s)."""
        if full or not self._channel_up() or self._listed_at is None:
            return False
        if self.channel is not None and self.channel.uncovered:
            return False
        if any(t.facts.exists is None for t in self._tracked.values()):
            return False  # a session nobody has told about yet: the listing tells it
        return self.clock.now() - self._listed_at < CHANNEL_RELIST_S

    def _adopt_known(self) -> None:
        """Take each tracked session's last known state from the shared ledger when it is newer than ours."""
        try:
            states = self.gateway.known_states()
        except Exception:  # noqa: BLE001 - the ledger is a help, never a reason to fail a poll
            return
        for sid, (status, at) in states.items():
            t = self._tracked.get(sid)
            if t is not None and (t.facts.at is None or t.facts.at < at) and at <= self.clock.now():
                t.learn_status(status, at)
                self._adopted.add(sid)

    @staticmethod
    def _fresh(t: Tracked, now: float, within: float) -> bool:
        return t.facts.source == "gateway" and t.facts.at is not None and now - t.facts.at < within

    def _oneshot_limit(self) -> int:
        """Status requests one full poll may spend: its share of the window (every session when unlimited)."""
        _, cap = self._budget()
        if cap is None:
            return len(self._tracked)
        share = self.config.oneshot_share
        return max(1, int(cap * share)) if share > 0 else 0  # 0: answer from the ledger and free sources only

    def _latency(self) -> float | None:
        """The last answered request's latency, when the adapter tells it."""
        return self.gateway.last_latency_ms

    def _budget_batch(self) -> AbstractContextManager[object]:
        """One ledger transaction for the budget readouts that follow (none for a gateway without a budget)."""
        try:
            return self.gateway.budget.batch()
        except Exception:  # noqa: BLE001 - a budget readout must never break a poll
            return contextlib.nullcontext()

    def _budget_use(self) -> BudgetUse | None:
        try:
            return self.gateway.budget.use()
        except Exception:  # noqa: BLE001 - a budget readout must never break a poll
            return None

    def _pace(self) -> float:
        """Status requests this poll may spend: the budget spread evenly over its window (a token bucket).

        Spending 4 per poll would exhaust Salesboy's 100 per 15 min in under 4 minutes and leave the operator
        blind for the rest of the window; log lines and auth dirs tell most changes for free meanwhile.
        """
        mono = self.clock.monotonic()
        _, limit = self._budget()
        if limit is None:
            self._credit = float(MAX_STATUS_PER_POLL)
        elif self._credit_at is not None:
            rate = limit / (self.gateway.capabilities.budget_window_s or PACE_WINDOW_S)
            try:
                # What is left of the shared window over the time left: yields to other spenders as they spend.
                shared = self.gateway.budget.poll_rate()
            except Exception:  # noqa: BLE001 - a budget readout must never break a poll
                shared = None
            if shared is not None:
                rate = min(rate, float(shared))
            self._credit = min(float(MAX_STATUS_PER_POLL), self._credit + rate * (mono - self._credit_at))
        self._credit_at = mono
        return max(0.0, self._credit)

    def _health_due(self) -> bool:
        return (
            self._health_at is None
            or self._health.state != HealthState.OK
            or self.clock.monotonic() - self._health_at >= HEALTH_EVERY_S
        )

    def _plan(self, now: float) -> list[str]:
        """Which sessions to spend status requests on, most informative first."""

        def priority(t: Tracked) -> tuple[int, float]:
            if t.id in self._watched:
                rank = 0
            elif t.state in MOVING or t.facts.exists is None:
                rank = 1
            else:
                rank = 2
            return rank, t.polled_at or 0.0

        # A dir the gateway never restores (not a UUID) cannot be asked about: the route refuses its id.
        askable = (t for t in self._tracked.values() if t.auth_valid)
        if self._channel_up():
            # The channel tells every change as it happens: ask only sessions it has told nothing yet, and those it
            # cannot follow yet.
            uncovered = self.channel.uncovered if self.channel is not None else frozenset()
            askable = (t for t in askable if t.facts.exists is None or t.id in uncovered)
        return [t.id for t in sorted(askable, key=priority)]

    def _budget(self) -> tuple[int | None, int | None]:
        try:
            return self.gateway.budget_snapshot()
        except Exception:  # noqa: BLE001 - a budget readout must never break a poll
            return None, None

    def _ok(self, health: GatewayHealth | None = None) -> None:
        was_down = self._health.state in UNREACHABLE
        self._gw_backoff.success()
        if health is not None:
            self._health = health
        elif self._health.state != HealthState.OK:
            self._health = GatewayHealth(HealthState.OK, latency_ms=self._health.latency_ms)
        if self._health_at is None:
            self._health_at = self.clock.monotonic()
        if was_down:
            # The gateway came back: it now restores every auth dir, one every 5 s.
            self._schedule_restore(self.clock.now())

    def _fail(self, failure: GatewayFailure) -> None:
        mono = self.clock.monotonic()
        if failure.state == HealthState.BUDGET:
            self._health = GatewayHealth(
                HealthState.BUDGET if self._health.state == HealthState.OK else self._health.state,
                latency_ms=self._health.latency_ms,
                retry_after_s=failure.retry_after_s,
                detail=failure.detail,
                failure_kind=failure.kind,
            )
            return
        self._gw_backoff.failure(mono, at_least_s=failure.retry_after_s or 0.0)
        self._health = GatewayHealth(
            failure.state,
            latency_ms=None,
            retry_after_s=failure.retry_after_s,
            detail=failure.detail,
            failure_kind=failure.kind,
            budget_use=self._budget_use(),
        )
        self._health_at = mono

    def _refresh_auth_dirs(self) -> None:
        try:
            found = {d.session_id: d for d in self._discover()}
        except Exception as exc:  # noqa: BLE001 - an unreadable auth root must not stop the gateway or Redis
            self.auth_error = f"auth dirs not read ({type(exc).__name__})"
            return  # keep what the last scan found
        self.auth_error = ""
        for sid in found:
            self._known_ids.add(sid)
        for sid in set(found) | set(self._tracked):
            t = self._track(sid)
            d = found.get(sid)
            t.has_auth_dir = d is not None
            t.auth_dir = d.path if d else None
            t.auth_valid = d.valid if d else True

    def _schedule_restore(self, at: float) -> None:
        queue = sorted(
            (t for t in self._tracked.values() if t.has_auth_dir and t.auth_valid and not t.facts.ready),
            key=lambda t: t.auth_dir or t.id,
        )
        for i, t in enumerate(queue):
            t.restore_due = at + (i + 1) * RESTORE_INTERVAL_S + RESTORE_SLACK_S

    def _askable(self, session_id: str) -> bool:
        """An id the gateway accepts (an invalid one would only earn a 400 for a status call)."""
        return self.gateway.capabilities.id_error(session_id) is None

    # --- snapshot ------------------------------------------------------------------

    def _track(self, session_id: str) -> Tracked:
        t = self._tracked.get(session_id)
        if t is None:
            t = self._tracked[session_id] = Tracked(id=session_id, since=self.clock.now())
        return t

    def _advance(self, t: Tracked, now: float) -> int:
        return int(advance(t, now, stuck_after_s=self._stuck_after_s))

    def _fresh_within(self) -> float:
        return max(3 * self.config.poll_seconds, 30.0)

    def _snapshot(self, now: float, host_facts: Callable[[str], HostFacts] | None = None,
                  host: HostSummary | None = None, poll_s: float = 0.0) -> Snapshot:
        """Every tracked session's view, each built once with its host facts (`host_facts`: by session id)."""
        unreachable = self._health.state.value if self._health.state in UNREACHABLE + OUT_OF_BUDGET else ""
        caps, fresh = self.gateway.capabilities, self._fresh_within()
        views = []
        for sid in sorted(self._tracked):
            facts = host_facts(sid) if host_facts is not None else NO_HOST_FACTS
            views.append(view_of(self._tracked[sid], now, caps, fresh, facts, unreachable))
        return Snapshot(
            taken_at=now,
            gateway_kind=self.gateway.kind,
            gateway_url=self.gateway.url,
            gateway=self._health,
            sessions=tuple(views),
            redis=self._redis_report,
            keys=keys_status(self._redis_report),
            redis_pending=self.redis_pending,
            events=self.channel,
            poll_s=poll_s,
            host=host,
        )

    def current(self) -> Snapshot:
        """A snapshot of what is known now, without spending a request (after log events changed a state).

        Re-reads the auth dirs (a directory listing): a log line often means a dir appeared or went away.
        """
        self._refresh_auth_dirs()
        now = self.clock.now()
        for t in self._tracked.values():
            self._advance(t, now)
        prev = self.latest
        if prev is not None:
            # Host facts come from the last scan: carry them over rather than scan again.
            carried = {v.id: _carried_facts(v) for v in prev.sessions}
            snap = self._snapshot(now, lambda sid: carried.get(sid, NO_HOST_FACTS), prev.host)
        else:
            snap = self._snapshot(now)
        # Findings again: a Redis report that landed since the poll, or a state moved by a log line, changes them.
        snap = self._with_findings(snap)
        self.latest = snap
        return snap

    def _with_findings(self, snap: Snapshot) -> Snapshot:
        """The snapshot with its findings: the last host probe's, and the doctor's over this snapshot."""
        obs = self.host_observation
        found: tuple[Finding, ...] = ()
        if obs is not None:
            from pulse_tui.monitor.host import host_findings

            found = host_findings(obs)
        if self._findings is not None:
            try:
                found = merge_findings(found, self._findings(snap))
            except Exception as exc:  # noqa: BLE001 - a failing check must not lose the snapshot
                found = merge_findings(found, (finding("checks-failed", f"the checks could not run ({type(exc).__name__})"),))
        if self.auth_error:
            found = merge_findings(found, (finding("auth-dirs-unreadable", self.auth_error),))
        return replace(snap, findings=found)

    async def redis_settled(self) -> bool:
        """Wait for the Redis inspection under way; True if there was one (its report is in `current()`)."""
        task = self._redis_task
        if task is None or task.done():
            return False
        await asyncio.wait({task})
        return True

    def tracked_ids(self) -> list[str]:
        return sorted(self._tracked)

    @staticmethod
    def auth_facts(dirs: Iterable[AuthDir]) -> list[AuthDirFact]:
        """Auth-dir discovery results as monitor facts."""
        return [AuthDirFact(d.session_id, str(d.path), d.valid) for d in dirs if d.session_id]


def merge_findings(*groups: Iterable[Finding]) -> tuple[Finding, ...]:
    """Findings from several producers, each once (the doctor hook may repeat the host's own)."""
    seen: set[tuple[str, tuple[str, ...], str]] = set()
    out = []
    for group in groups:
        for f in group:
            key = (f.code, f.subjects, f.message)
            if key not in seen:
                seen.add(key)
                out.append(f)
    return tuple(out)
