"""The host source: the Chromium behind each session, its profile lock, orphans, and the gateway's pm2 app.

Per poll: ONE process scan (in a thread, so the event loop never waits on /proc; it reads only new and
browser-related processes, the whole table once a minute), one lock check per known
profile dir (also in a thread), and one `pm2 jlist` when pm2 runs. The monitor merges the result into its
views with `SessionHostFacts`; everything here but the I/O methods of `HostSource` is pure.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Protocol

from pulse_tui.clock import Clock, SystemClock
from pulse_tui.config import Config
from pulse_tui.model import (
    ConnState,
    Finding,
    GatewayFailure,
    HostSummary,
    OrphanView,
    Pm2Summary,
    SessionStatus,
    StateChange,
)
from pulse_tui.monitor.state import NO_HOST_FACTS, HostFacts
from pulse_tui.sources.gateway.capabilities import Capabilities
from pulse_tui.sources.locks import LockInfo, LockState, QuietDirs, check_locks, lock_findings
from pulse_tui.sources.pm2 import Pm2Reader, Pm2Report, Pm2State, pm2_findings
from pulse_tui.sources.procs import (
    MEMORY_EVERY_S,
    BrowserTree,
    HostReport,
    Orphan,
    ProcessMapper,
    SessionProcs,
    find_orphans,
    orphan_findings,
)

# One-shot commands (`status`) scan once: the first scan of a HostSource takes a baseline, waits this long and
# scans again, so cpu_percent is known at once. The monitor pays it once, at its first poll.
CPU_SAMPLE_S = 0.5
# A LIVE lock is the session's own running browser: nothing to report, so the table says "none".
LOCK_WORD = {LockState.LIVE: "none"}
LOCK_FLAGS = {LockState.STALE: "stale-lock", LockState.CONFLICT: "lock-conflict", LockState.FOREIGN: "foreign-lock"}

GatewayPids = Callable[[], Collection[int] | None]


def pm2_app_for(config: Config) -> str:
    """The pm2 app to watch: `config.pm2_app`, else the usual name for the gateway kind."""
    return config.pm2_app_name()


@dataclass(frozen=True)
class GatewayKnowledge:
    """What the gateway has said about sessions, as the monitor tracks it (for orphan detection)."""

    exists: Mapping[str, tuple[bool | None, float | None]] = field(default_factory=dict)  # id → (exists, at)
    listed: frozenset[str] | None = None  # the COMPLETE list (Pulse lists its instances); None: no such list
    listed_at: float | None = None


@dataclass(frozen=True)
class HostObservation:
    """Everything one host probe found. Parts that failed are None/empty and named in `error`."""

    report: HostReport | None = None
    locks: tuple[LockInfo, ...] = ()
    orphans: tuple[Orphan, ...] = ()
    pm2: Pm2Report | None = None
    pm2_app: str = ""
    watch_missing_app: bool = False  # the app name was configured: its absence is a finding
    error: str = ""


class HostSource:
    """Reads the host for the monitor. Keep one per monitor: CPU% and pm2 restarts compare against earlier reads."""

    def __init__(
        self,
        config: Config,
        clock: Clock | None = None,
        *,
        auth_roots: Iterable[Path] | None = None,
        pm2: Pm2Reader | None = None,
        use_pm2: bool = True,
        pm2_app: str | None = None,
        hostname: str | None = None,
        gateway_pids: GatewayPids | None = None,
        cpu_sample_s: float = CPU_SAMPLE_S,
        memory_every_s: float = MEMORY_EVERY_S,
        subreapers: Collection[int] = (),
    ) -> None:
        self.clock = clock or SystemClock()
        self.roots = tuple(Path(p) for p in (config.auth_dirs if auth_roots is None else auth_roots))
        self.mapper = ProcessMapper(self.roots, self.clock, memory_every_s=memory_every_s, subreapers=subreapers)
        self.cpu_sample_s = cpu_sample_s
        self.pm2_app = pm2_app or pm2_app_for(config)
        self.watch_missing_app = bool(pm2_app or config.pm2_app)
        self.pm2 = (pm2 or Pm2Reader(self.clock, (self.pm2_app,))) if use_pm2 else None
        self.hostname = hostname
        self._gateway_pids = gateway_pids
        self._last_pm2: Pm2Report | None = None  # the scan runs beside pm2's read: it tells the gateway pid from the last
        self._first_sample_at: float | None = None  # monotonic time of a one-shot's first CPU sample, until the second
        self._quiet_dirs = QuietDirs()  # profile dirs seen without a lock: one stat each while unchanged

    def _scan_call(self, caps: Capabilities | None, *, full: bool = True,
                   history: Iterable[tuple[str, Iterable[StateChange]]] = ()) -> partial[HostReport]:
        throwaway = caps is not None and caps.throwaway_profiles
        owner = caps.throwaway_owner if caps is not None else None
        starts = session_starts(history) if throwaway and owner is None else None
        return partial(self.mapper.scan, full=full, throwaway=throwaway, throwaway_owner=owner,
                       gateway_pids=self.gateway_pids(self._last_pm2) if throwaway else None, session_starts=starts)

    def start_cpu_sample(self, caps: Capabilities | None = None) -> None:
        """One-shot commands: the first CPU sample now, as their targets are built, so the `cpu_sample_s` until the
        second one runs beside the poll's own work (gateway, Redis) instead of in front of it."""
        if self.cpu_sample_s > 0 and not self.mapper.has_cpu_baseline:
            self._scan_call(caps)(memory=False)
            self._first_sample_at = self.clock.monotonic()

    async def scan(self, caps: Capabilities | None = None, *, full: bool = True,
                   history: Iterable[tuple[str, Iterable[StateChange]]] = ()) -> HostReport:
        """One process-table scan, off the event loop; the first one samples CPU twice, `cpu_sample_s` apart
        (waiting only for what is left of it when `start_cpu_sample` took the first).

        `caps`: the gateway's, for browsers on puppeteer temp profiles (WAHA) and the session they can belong to.
        `full=False` (the monitor's poll) reads only new and browser-related processes (`ProcessMapper.scan`);
        the default reads every process, as the re-check before a kill must. `history`: (session id, its state
        changes) as the monitor tracks them, to tie temp-profile browsers to sessions by start time (WAHA Plus)."""
        scan = self._scan_call(caps, full=full, history=history)
        if self.cpu_sample_s > 0 and not self.mapper.has_cpu_baseline:
            await asyncio.to_thread(scan, memory=False)
            self._first_sample_at = self.clock.monotonic()
        if self._first_sample_at is not None:
            left = self.cpu_sample_s - (self.clock.monotonic() - self._first_sample_at)
            self._first_sample_at = None
            # With no browser in the first sample there is no CPU% to tell: waiting would only delay the answer.
            if left > 0 and self.mapper.tracks_cpu:
                await asyncio.sleep(left)
        return await asyncio.to_thread(scan)

    async def read_pm2(self) -> Pm2Report | None:
        """`pm2 jlist` for the watched app; None when pm2 is switched off."""
        self._last_pm2 = None if self.pm2 is None else await self.pm2.read()
        return self._last_pm2

    async def check_locks(self, dirs: Sequence[tuple[str, str]], report: HostReport | None) -> tuple[LockInfo, ...]:
        """The SingletonLock of every (session id, profile dir) as `lock_dirs` gives them, off the event loop."""
        if not dirs:
            return ()
        return await asyncio.to_thread(check_locks, dirs, report, hostname=self.hostname, quiet=self._quiet_dirs,
                                       normal=True)

    def gateway_pids(self, pm2: Pm2Report | None) -> Collection[int] | None:
        """The gateway's live pids: from the hook when given, else pm2's app; None when nothing can tell."""
        if self._gateway_pids is not None:
            return self._gateway_pids()
        if pm2 is None or pm2.state != Pm2State.OK:
            return None
        app = pm2.app(self.pm2_app)
        if app is None:
            return None
        return (app.pid,) if app.pid and app.status == "online" else ()


class _StatusSource(Protocol):
    capabilities: Capabilities

    async def status(self, session_id: str) -> SessionStatus | GatewayFailure: ...


async def still_orphaned(host: HostSource, gateway: _StatusSource, tree: BrowserTree) -> bool:
    """The re-check `kill_orphan` needs, at the moment of acting: a fresh scan, pm2, and one status call.

    True only when the same tree (root pid and start time) still runs AND the gateway says now that its session
    does not exist, or its gateway process is gone. Anything that cannot be told means False: do not kill.
    """
    report = await host.scan(gateway.capabilities)
    key = _tree_key(tree)
    if report.error or key not in tree_keys(report):
        return False
    pm2 = await host.read_pm2()
    status = await gateway.status(tree.session_id)
    gone = {tree.session_id: False} if isinstance(status, SessionStatus) and not status.exists else {}
    found = find_orphans(report, gateway_sessions=gone, gateway_pids=host.gateway_pids(pm2))
    return any(_tree_key(o.tree) == key for o in found)


# --- pure merging ---------------------------------------------------------------------------


# A browser starts when its session leaves a state without a client; a poll may only catch the state after.
_CLIENT_STATES = (ConnState.STARTING, ConnState.QR, ConnState.CONNECTED)
_NO_CLIENT = (ConnState.STOPPED, ConnState.RESTORABLE)


def session_starts(history: Iterable[tuple[str, Iterable[StateChange]]]) -> dict[str, tuple[float, ...]]:
    """When each session started a client: every STARTING, and every QR/CONNECTED straight after STOPPED or
    RESTORABLE (the start fell between two polls). Only starts this monitor saw: the states before it are unknown."""
    out: dict[str, tuple[float, ...]] = {}
    for sid, changes in history:
        times: list[float] = []
        before: ConnState | None = None
        for c in changes:
            if c.state == ConnState.STARTING or (c.state in _CLIENT_STATES and before in _NO_CLIENT):
                times.append(c.at)
            before = c.state
        if times:
            out[sid] = tuple(times)
    return out



def lock_dirs(auth_dirs: Iterable[tuple[str, str | None]], report: HostReport | None) -> list[tuple[str, str]]:
    """(session id, profile dir) to check: every known auth dir plus every profile a running browser uses, each
    absolute and normal.

    A browser that reaches its session's auth dir through a symlink (either side) is the same dir: checked once.
    """
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    known: dict[str, str] = {}
    for sid, path in auth_dirs:
        if not path:
            continue
        key = os.path.normpath(os.path.abspath(path))
        known.setdefault(sid, key)
        if key not in seen:
            seen.add(key)
            out.append((sid, key))
    for s in report.sessions if report else ():
        key = os.path.normpath(os.path.abspath(s.user_data_dir))
        if key in seen:
            continue
        mine = known.get(s.session_id)
        real = os.path.realpath(key)  # only for running browsers: a handful of syscalls each
        if real in seen or (mine is not None and os.path.realpath(mine) == real):
            continue
        seen.add(key)
        out.append((s.session_id, key))
    return out


def orphans_of(
    report: HostReport,
    knowledge: GatewayKnowledge,
    first_seen: Mapping[tuple[int, float], float],
    gateway_pids: Collection[int] | None,
) -> tuple[Orphan, ...]:
    """Orphaned trees: the gateway said the session is gone AFTER we first saw the browser, or its gateway died.

    Comparing against when this monitor first saw the tree (same clock as the gateway facts) means a browser
    started after the gateway's last "does not exist" is never called an orphan before the gateway is asked again.
    """
    gone: dict[str, bool] = {}
    for s in report.sessions:
        seen = max((first_seen.get(_tree_key(t), float("inf")) for t in s.trees), default=float("inf"))
        exists, at = knowledge.exists.get(s.session_id, (None, None))
        said_gone = exists is False and at is not None and at >= seen
        unlisted = (knowledge.listed is not None and knowledge.listed_at is not None
                    and knowledge.listed_at >= seen and s.session_id not in knowledge.listed)
        if said_gone or unlisted:
            gone[s.session_id] = False
    return find_orphans(report, gateway_sessions=gone, gateway_pids=gateway_pids)


def _tree_key(tree: BrowserTree) -> tuple[int, float]:
    root = next((p for p in tree.procs if p.pid == tree.root_pid), None)
    return tree.root_pid, root.create_time if root else 0.0


def tree_keys(report: HostReport) -> list[tuple[int, float]]:
    """Stable identities (root pid, create time) of the trees in a report."""
    return [_tree_key(t) for t in report.trees]


def host_findings(obs: HostObservation) -> tuple[Finding, ...]:
    """Lock, orphan and pm2 findings, with fix hints."""
    out = list(lock_findings(obs.locks)) + list(orphan_findings(obs.orphans))
    if obs.pm2 is not None:
        out += pm2_findings(obs.pm2, [obs.pm2_app] if obs.watch_missing_app else None)
    return tuple(out)


_LOCK_RANK = {state: i for i, state in enumerate(
    (LockState.FOREIGN, LockState.CONFLICT, LockState.UNKNOWN, LockState.STALE, LockState.LIVE, LockState.NONE))}


def _worst_lock(locks: Sequence[LockInfo]) -> LockInfo | None:
    """One session may have two profile dirs (two roots): show the one that needs attention."""
    if len(locks) < 2:  # the usual case, for every session of every poll
        return locks[0] if locks else None
    return min(locks, key=lambda lk: _LOCK_RANK.get(lk.state, len(_LOCK_RANK)))


class SessionHostFacts:
    """One observation's facts indexed by session once, so that each session's view is built with them."""

    def __init__(self, obs: HostObservation) -> None:
        self._locks: dict[str, list[LockInfo]] = {}
        for lk in obs.locks:
            self._locks.setdefault(lk.session_id, []).append(lk)
        self._orphans: dict[str, list[OrphanView]] = {}
        for o in obs.orphans:
            self._orphans.setdefault(o.session_id, []).append(OrphanView(
                root_pid=o.tree.root_pid, pids=o.tree.pids, rss_bytes=o.tree.rss_bytes,
                user_data_dir=o.tree.user_data_dir, reason=o.reason, pss_bytes=o.tree.pss_bytes))
        report = obs.report
        self._scanned = report is not None and not report.error
        self._procs: dict[str, list[SessionProcs]] = {}  # one pass: a poll of 10,000 sessions stays linear
        if report is not None and self._scanned:
            for sp in report.sessions:
                self._procs.setdefault(sp.session_id, []).append(sp)

    def of(self, session_id: str, no_browser: bool) -> HostFacts:
        """The session's rss/cpu/pids, lock, orphans and host flags. Memory stays null, not a 0 that reads as "its
        browser is down", when `no_browser` (its gateway runs none) or the scan failed."""
        rss: int | None = None
        cpu: float | None = None
        pss: int | None = None
        uss: int | None = None
        pids: tuple[int, ...] = ()
        if self._scanned and not no_browser:
            procs = self._procs.get(session_id)
            if procs is None:  # scanned, and no browser of its own runs: nothing to add up
                rss, cpu, pids, pss, uss = 0, None, (), 0, 0
            else:
                cpus = [s.cpu_percent for s in procs if s.cpu_percent is not None]
                rss, cpu = sum(s.rss_bytes for s in procs), (sum(cpus) if cpus else None)
                pids = tuple(pid for s in procs for pid in s.pids)
                pss = _sum_known([s.pss_bytes for s in procs])
                uss = _sum_known([s.uss_bytes for s in procs])
        flags: set[str] = set()
        lock, lock_info = NO_HOST_FACTS.lock, NO_HOST_FACTS.lock_info
        worst = _worst_lock(self._locks.get(session_id, ()))
        if worst is not None:
            lock, lock_info = LOCK_WORD.get(worst.state, worst.state.value), worst.view
            if worst.state in LOCK_FLAGS:
                flags.add(LOCK_FLAGS[worst.state])
        mine = tuple(self._orphans.get(session_id, ()))
        if mine:
            flags.add("orphaned-browser")
        return HostFacts(rss, cpu, pids, pss, uss, lock, lock_info, mine, frozenset(flags) if flags else _NO_FLAGS)


_NO_FLAGS: frozenset[str] = frozenset()


def _sum_known(values: Sequence[int | None]) -> int | None:
    known = [x for x in values if x is not None]
    return sum(known) if known else None


def pm2_summary(report: Pm2Report | None, app: str) -> tuple[Pm2Summary | None, str, str]:
    """(the app's facts or None, pm2 state word, detail)."""
    if report is None:
        return None, "off", ""
    if report.state != Pm2State.OK:
        return None, report.state.value, report.detail
    a = report.app(app)
    if a is None:
        return None, "app-missing", f"pm2 runs no app named {app}"
    return Pm2Summary(
        app=a.name, status=a.status, restarts=a.restart_time, restarts_since_start=a.restarts_since_start,
        memory_restarts=a.memory_restarts_since_start, uptime_s=a.uptime_s, memory_bytes=a.memory_bytes,
        pid=a.pid, cpu_percent=a.cpu_percent, max_memory_restart=a.max_memory_restart, read_at=report.read_at,
    ), "ok", ""


def summarize(obs: HostObservation) -> HostSummary:
    """The host line of the header."""
    pm2, pm2_state, pm2_detail = pm2_summary(obs.pm2, obs.pm2_app)
    report = obs.report
    error = obs.error or (report.error if report is not None else "")
    base = HostSummary(pm2=pm2, pm2_state=pm2_state, pm2_detail=pm2_detail, error=error,
                       orphans=len(obs.orphans),
                       stale_locks=sum(1 for lk in obs.locks if lk.state == LockState.STALE),
                       foreign_locks=sum(1 for lk in obs.locks if lk.state == LockState.FOREIGN))
    if report is None or report.error:
        return base
    return replace(
        base,
        browser_rss_bytes=report.total_browser_rss,
        browser_pss_bytes=report.total_browser_pss,
        browser_uss_bytes=report.total_browser_uss,
        memory_age_s=report.memory_age_s,
        mem_available_bytes=report.mem_available,
        mem_total_bytes=report.mem_total,
        browsers=len(report.trees),
        browser_processes=sum(len(t.procs) for t in report.trees),
        scan_s=report.took_s,
        unmapped_browsers=report.unmapped_browsers,
        unmapped_why=report.unmapped_why,
        browser_matches=tuple((s.session_id, s.matched_by) for s in report.sessions if s.matched_by),
    )
