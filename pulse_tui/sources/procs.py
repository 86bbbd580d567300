"""The Chromium process tree behind each WhatsApp session, from ONE process scan per poll (psutil).

A poll's scan lists /proc and reads only the processes that may matter: new ones, those whose command line may
still change, and the browser trees with their ancestors; the whole table is read once a minute and whenever an
action is about to rely on it (the re-check before a kill).

whatsapp-web.js starts a headless Chromium per session with `--user-data-dir=<LocalAuth root>/session-<id>`
(Salesboy) or `<root>/<phone>/session-pulse-bot-<phone>` (Pulse). A process carrying that flag under a known
root belongs to that session; its descendants (zygotes, renderers) join it even when they do not carry the
flag. RSS and CPU are summed per session; CPU% comes from the delta of cpu_times between two scans.

Memory: RSS counts a page shared by N processes N times (Chromium's zygote-forked children share most of theirs),
so the sum over a tree is 3-4x what the session costs. PSS (shared pages split between their users: the session's
share of host memory) and USS (private pages: what killing it frees) come from smaps_rollup through psutil's
`memory_full_info()`, read for browser processes only and at most every `memory_every_s` (slower than statm).
"""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from pathlib import Path

import psutil

from pulse_tui.clock import Clock
from pulse_tui.findings import finding
from pulse_tui.model import Finding
from pulse_tui.sources.authdirs import PHONE_RE, PULSE_PREFIX, ROOT_CHILDREN, SALESBOY_PREFIX, Layout

FLAG = "--user-data-dir"
# WAHA 2024.10.8 gives its Chromium no profile dir: puppeteer then makes `<tmp>/puppeteer_dev_chrome_profile-XXXXXX`,
# which names no session. Such a browser belongs to a session only when the gateway can run just one.
THROWAWAY_PREFIX = "puppeteer_dev_chrome_profile-"
# All read from /proc/PID/stat (one file per process): a process's command line never changes, so it is read
# once per (pid, start time), and memory only for the browser processes the scan maps.
SCAN_ATTRS = ["pid", "ppid", "cpu_times", "create_time", "status"]
CMDLINE_SETTLE_S = 5.0
_MAX_DEPTH = 64  # ppid walks stop here: a guard against a cycle seen mid-scan (pid reuse)
# smaps_rollup walks every mapping: ~5 ms for a real Chromium process, 2-3 s for 450 of them (bench/procmap.py),
# ten times the whole process scan. PSS/USS are refreshed when this old, at most MEMORY_BATCH per scan (oldest
# first); a new process is read at once. JSON says how old the oldest figure is (memory_age_s).
MEMORY_EVERY_S = 60.0  # 450 real processes: ~5 % of one core on average
MEMORY_BATCH = 30  # ~150-200 ms per scan at most
# Reading every process's stat each poll cost ~1 % of a core on a host of 300 processes (bench/_hostscan.py). A poll
# lists /proc (new pids are what can bring a browser) and reads only new, unsettled and browser-related processes;
# the whole table is read again this often, for what a listing cannot see (a pid reused between two polls).
FULL_SCAN_EVERY_S = 60.0
# Processes that adopt orphans besides pid 1 (PR_SET_CHILD_SUBREAPER); Linux does not expose the flag itself.
SUBREAPER_NAMES = frozenset({"systemd", "tini", "docker-init", "dumb-init", "catatonit", "s6-svscan",
                             "containerd-shim", "containerd-shim-runc-v2", "conmon"})
CRASHPAD = "chrome_crashpad_handler"
# WAHA Plus runs one Chromium per session, all on temp profiles: a browser whose root started this close to exactly
# one session's start (and no other browser did) is that session's. A start seen by a status poll is recorded up to
# a poll late, one seen on the event channel at once: hence either side.
START_MATCH_S = 5.0
# A gateway run as a container's pid 1 (`CMD ["node", "index.js"]`) launches its browsers as pid 1's children:
# a parent pid of 1 then is the launcher, not an adoption.
LAUNCHER_NAMES = frozenset({"node", "nodejs", "bun", "deno"})


# --- data ----------------------------------------------------------------------


@dataclass(frozen=True)
class ProcInfo:
    """One process of a browser tree. `create_time` guards against pid reuse when acting on it later."""

    pid: int
    ppid: int
    create_time: float
    rss_bytes: int
    flagged: bool  # carries --user-data-dir itself (else it joined through its parent)
    name: str = ""
    pss_bytes: int | None = None  # None: smaps not readable (permission) or not read yet
    uss_bytes: int | None = None


@dataclass(frozen=True)
class BrowserTree:
    """One Chromium process tree: a flagged root plus every descendant."""

    session_id: str
    layout: Layout
    user_data_dir: str
    root_pid: int
    parent_pid: int  # the root's parent: the gateway (node) while it lives, init or a subreaper after
    ancestors: tuple[int, ...]  # parent, grandparent… of the root, nearest first
    procs: tuple[ProcInfo, ...]
    rss_bytes: int
    cpu_percent: float | None  # None on the first scan (needs two samples)
    pss_bytes: int | None = None  # summed PSS: the tree's share of host memory
    uss_bytes: int | None = None  # summed USS: what killing the tree frees
    cpu_seconds: float | None = None  # user + system since each process started
    adopted: str = ""  # why its parent is not the launcher: "" or e.g. "reparented to pid 1"
    matched_by: str = ""  # how a temp-profile tree was tied to its session when nothing names it ("" when named)

    @property
    def pids(self) -> tuple[int, ...]:
        return tuple(p.pid for p in self.procs)


@dataclass(frozen=True)
class SessionProcs:
    """Every browser process of one session (usually one tree; two means an old one was left behind)."""

    session_id: str
    layout: Layout
    user_data_dir: str
    trees: tuple[BrowserTree, ...]
    rss_bytes: int
    cpu_percent: float | None
    pss_bytes: int | None = None
    uss_bytes: int | None = None
    cpu_seconds: float | None = None
    matched_by: str = ""  # e.g. "matched by start time: …" (a temp profile names no session)

    @property
    def pids(self) -> tuple[int, ...]:
        return tuple(pid for t in self.trees for pid in t.pids)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready facts for `status --json`."""
        return {
            "session_id": self.session_id,
            "layout": self.layout.value,
            "user_data_dir": self.user_data_dir,
            "rss_bytes": self.rss_bytes,
            "pss_bytes": self.pss_bytes,
            "uss_bytes": self.uss_bytes,
            "cpu_percent": None if self.cpu_percent is None else round(self.cpu_percent, 1),
            "cpu_seconds": None if self.cpu_seconds is None else round(self.cpu_seconds, 2),
            "browser_pids": list(self.pids),
            "trees": len(self.trees),
            "matched_by": self.matched_by,
        }


@dataclass(frozen=True)
class HostReport:
    """One scan of the host: browser trees per session and the memory left."""

    taken_at: float
    sessions: tuple[SessionProcs, ...] = ()
    total_browser_rss: int = 0
    mem_available: int | None = None
    mem_total: int | None = None
    processes_scanned: int = 0
    took_s: float = 0.0
    error: str = ""
    total_browser_pss: int | None = None
    total_browser_uss: int | None = None
    memory_age_s: float | None = None  # age of the oldest PSS/USS figure in this report (None: none read)
    memory_took_s: float = 0.0  # time spent on PSS/USS this scan
    memory_reads: int = 0  # processes whose smaps were read this scan (0: every figure came from the cache)
    unmapped_browsers: int = 0  # browsers on a throw-away profile no session could be tied to (WAHA, many sessions)
    unmapped_why: tuple[str, ...] = ()  # one reason per unmapped browser, when session starts were given to match
    processes_read: int = 0  # processes whose stat was read this scan (the others were carried over)
    full_scan: bool = True  # every process was read (else only new and browser-related ones)

    def session(self, session_id: str) -> SessionProcs | None:
        for s in self.sessions:
            if s.session_id == session_id:
                return s
        return None

    def for_dir(self, user_data_dir: str | os.PathLike[str]) -> SessionProcs | None:
        """The session whose browser uses this profile dir (as spelled, or through symlinks), if one runs."""
        if not self._dir_index:
            return None  # no browser runs: no path to resolve
        return self.for_normal_dir(os.path.normpath(os.path.abspath(user_data_dir)))

    def for_normal_dir(self, pdir: str) -> SessionProcs | None:
        """`for_dir` of a path already absolute and normal (`os.path.normpath(os.path.abspath(...))`)."""
        index = self._dir_index
        if not index:
            return None  # no browser runs: no path to resolve (realpath costs a stat per path component)
        return index.get(pdir) or index.get(os.path.realpath(pdir))

    @cached_property
    def _dir_index(self) -> dict[str, SessionProcs]:
        """Profile dir (as the browser spells it, and resolved) → its session; built once per report."""
        out: dict[str, SessionProcs] = {}
        for s in self.sessions:
            out.setdefault(os.path.realpath(s.user_data_dir), s)
            out[s.user_data_dir] = s
        return out

    @property
    def trees(self) -> tuple[BrowserTree, ...]:
        return tuple(t for s in self.sessions for t in s.trees)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready host facts (no secrets: paths, pids and sizes only)."""
        return {
            "total_browser_rss": self.total_browser_rss,
            "total_browser_pss": self.total_browser_pss,
            "total_browser_uss": self.total_browser_uss,
            "memory_age_s": None if self.memory_age_s is None else round(self.memory_age_s, 1),
            "mem_available": self.mem_available,
            "mem_total": self.mem_total,
            "processes_scanned": self.processes_scanned,
            "error": self.error,
            "sessions": [s.as_dict() for s in self.sessions],
        }


# --- argv parsing ------------------------------------------------------------------


def user_data_dir_of(cmdline: Iterable[str] | None) -> str | None:
    """The `--user-data-dir` value in an argv, or None.

    Handles `--flag=value`, `--flag value`, and Chromium's setproctitle'd children whose whole command line
    is one space-joined string.
    """
    if not cmdline:
        return None
    args = list(cmdline)
    embedded: str | None = None
    for i, arg in enumerate(args):
        if arg.startswith(FLAG + "="):
            return arg[len(FLAG) + 1:] or None
        if arg == FLAG:
            return args[i + 1] if i + 1 < len(args) else None
        if embedded is None and " " + FLAG + "=" in arg:
            tail = arg.split(" " + FLAG + "=", 1)[1]
            embedded = tail.split(" --", 1)[0].strip() or None
    return embedded


def _root_prefixes(roots: Iterable[Path]) -> tuple[str, ...]:
    """Every spelling of every root (as given and resolved; plus the gateway-cwd children), longest first."""
    out: set[str] = set()
    for root in roots:
        for base in (Path(root), *(Path(root) / c for c in ROOT_CHILDREN)):
            out.add(os.path.normpath(os.path.abspath(base)))
            out.add(os.path.realpath(base))
    return tuple(sorted((p.rstrip(os.sep) + os.sep for p in out), key=len, reverse=True))


def is_throwaway(user_data_dir: str) -> bool:
    """True for puppeteer's temporary profile (the browser was given no profile dir of its session)."""
    return os.path.basename(os.path.normpath(user_data_dir)).startswith(THROWAWAY_PREFIX)


def classify_dir(user_data_dir: str, prefixes: tuple[str, ...]) -> tuple[str, Layout] | None:
    """(session id, layout) when the profile dir is a LocalAuth session dir under one of the roots."""
    path = os.path.normpath(user_data_dir)
    for prefix in prefixes:
        if not path.startswith(prefix):
            continue
        parts = path[len(prefix):].split(os.sep)
        if len(parts) == 1 and parts[0].startswith(PULSE_PREFIX) and PHONE_RE.match(parts[0][len(PULSE_PREFIX):]):
            return parts[0][len(PULSE_PREFIX):], Layout.PULSE
        if len(parts) == 1 and parts[0].startswith(SALESBOY_PREFIX) and len(parts[0]) > len(SALESBOY_PREFIX):
            return parts[0][len(SALESBOY_PREFIX):], Layout.SALESBOY
        if len(parts) == 2 and PHONE_RE.match(parts[0]) and parts[1] == PULSE_PREFIX + parts[0]:
            return parts[0], Layout.PULSE
    return None


# --- the mapper --------------------------------------------------------------------


@dataclass
class _Row:
    pid: int
    ppid: int
    create_time: float
    rss: int
    cpu: float | None
    name: str
    udd: str | None  # absolute: a relative flag is resolved against the process's own cwd
    proc: psutil.Process | None = None


@dataclass
class _Group:
    session_id: str
    layout: Layout
    udd: str
    trees: dict[int, list[_Row]] = field(default_factory=dict)
    note: str = ""


_MemKey = tuple[int, float]  # (pid, create_time): a recycled pid never inherits a figure


class ProcessMapper:
    """Maps browser processes to sessions. Keep one per monitor: it remembers cpu_times, PSS/USS and parents
    between scans."""

    def __init__(
        self,
        auth_roots: Iterable[Path],
        clock: Clock,
        *,
        memory_every_s: float = MEMORY_EVERY_S,
        memory_batch: int = MEMORY_BATCH,
        subreapers: Collection[int] = (),
        full_every_s: float = FULL_SCAN_EVERY_S,
        cmdline_settle_s: float = CMDLINE_SETTLE_S,
    ) -> None:
        self._prefixes = _root_prefixes(auth_roots)
        self._clock = clock
        self._prev_cpu: dict[tuple[int, float], float] = {}
        self._prev_mono: float | None = None
        self._memory_every_s = memory_every_s
        self._mem: dict[_MemKey, tuple[int | None, int | None, float]] = {}  # → (pss, uss, monotonic read at)
        self._memory_batch = memory_batch
        self._first_parent: dict[_MemKey, int] = {}  # root → the parent it had when first seen
        self._cmd: dict[_MemKey, tuple[str, str | None]] = {}  # (pid, start) → (name, absolute profile dir)
        self._subreapers = frozenset(subreapers)
        self._full_every_s = full_every_s
        self._settle_s = cmdline_settle_s
        self._full_at: float | None = None  # monotonic time of the last full read of the table
        self._rows: dict[int, _Row] = {}  # the last scan's table, carried over for the processes not read again
        self._hot: frozenset[int] = frozenset()  # pids read every scan: browser trees, flagged processes, ancestors

    @property
    def has_cpu_baseline(self) -> bool:
        """True once a scan has been taken: the next one can tell CPU%."""
        return self._prev_mono is not None

    @property
    def tracks_cpu(self) -> bool:
        """True when the last scan found browser processes whose CPU% a second scan can tell."""
        return bool(self._prev_cpu)

    def scan(self, *, memory: bool = True, throwaway: bool = False, throwaway_owner: str | None = None,
             gateway_pids: Collection[int] | None = None, full: bool = True,
             session_starts: Mapping[str, Sequence[float]] | None = None) -> HostReport:
        """One pass over the process table → browser trees per session, RSS, PSS/USS, CPU%, free memory.

        `full=False` (a monitor's poll) lists /proc and reads only new processes, those whose command line may
        still change, and the browser trees with their ancestors; the rest is carried over from the last scan, and
        the whole table is read every `full_every_s`. `full=True` reads every process now (before acting on one).
        `memory=False` skips smaps (a CPU baseline only). `throwaway`: the gateway's browsers may run on puppeteer
        temp profiles; `throwaway_owner`: the one session such a browser can belong to (WAHA Core 2024: "default"),
        None leaves them unmapped (counted in `unmapped_browsers`). `gateway_pids`, when known: only a temp-profile
        browser whose parent chain reaches one of them is the gateway's (another program's puppeteer is not).
        `session_starts` (id → clock times it started), with no owner: a temp-profile browser is tied to the one
        session that started within START_MATCH_S of it (`matched_by` says so); the others say why they are not."""
        started = time.perf_counter()
        now = self._clock.now()
        mono = self._clock.monotonic()
        full = full or self._full_at is None or mono - self._full_at >= self._full_every_s
        try:
            rows, read = self._read_table(full)
            vm = psutil.virtual_memory()
        except (OSError, psutil.Error) as exc:
            self._rows, self._full_at = {}, None  # start over with a full read
            return HostReport(taken_at=now, error=f"process scan failed: {type(exc).__name__}")
        if full:
            self._full_at = mono
        elapsed = None if self._prev_mono is None else mono - self._prev_mono
        groups, unmapped = self._group(rows, throwaway, throwaway_owner, gateway_pids, session_starts)
        self._fill_rss(groups)
        mem_started = time.perf_counter()
        mem, reads = self._memory(groups, mono) if memory else ({}, 0)
        mem_took = time.perf_counter() - mem_started if memory else 0.0
        sessions = tuple(self._session(g, rows, elapsed, mem) for g in groups.values())
        live = {(pid, rows[pid].create_time) for g in groups.values() for pid in g.trees}
        self._first_parent = {k: v for k, v in self._first_parent.items() if k in live}
        self._prev_cpu = {(r.pid, r.create_time): r.cpu for g in groups.values()
                          for tree in g.trees.values() for r in tree if r.cpu is not None}
        self._prev_mono = mono
        self._rows, self._hot = rows, _hot_pids(groups, rows)
        sessions = tuple(sorted(sessions, key=lambda s: (s.layout.value, s.session_id, s.user_data_dir)))
        ages = [mono - at for _pss, _uss, at in mem.values()]
        pss = [s.pss_bytes for s in sessions if s.pss_bytes is not None]
        uss = [s.uss_bytes for s in sessions if s.uss_bytes is not None]
        return HostReport(
            taken_at=now,
            sessions=sessions,
            total_browser_rss=sum(s.rss_bytes for s in sessions),
            mem_available=int(vm.available),
            mem_total=int(vm.total),
            processes_scanned=len(rows),
            processes_read=read,
            full_scan=full,
            took_s=time.perf_counter() - started,
            total_browser_pss=sum(pss) if pss else None,
            total_browser_uss=sum(uss) if uss else None,
            memory_age_s=max(0.0, max(ages)) if ages else None,
            memory_took_s=mem_took,
            memory_reads=reads,
            unmapped_browsers=len(unmapped),
            unmapped_why=tuple(why for why in unmapped if why),
        )

    def _read_table(self, full: bool) -> tuple[dict[int, _Row], int]:
        """Every process of the host as a row. `full=False` reads only what may have changed (see `scan`)."""
        if full:
            procs: Iterable[tuple[psutil.Process, dict[str, object]]] = (
                (p, p.info) for p in psutil.process_iter(SCAN_ATTRS, ad_value=None))
            rows = self._rows_of(procs, {})
            return rows, len(rows)
        prev, hot = self._rows, self._hot
        kept: dict[int, _Row] = {}
        fresh: list[int] = []
        for pid in psutil.pids():  # one listdir of /proc: a new pid is what can bring a new browser
            old = prev.get(pid)
            # settled (its command line is known for good), not part of a browser tree: nothing in its stat matters
            if old is not None and pid not in hot and (pid, old.create_time) in self._cmd:
                kept[pid] = old
            else:
                fresh.append(pid)
        rows = self._rows_of(_read_pids(fresh), kept)
        return rows, len(rows) - len(kept)

    def _rows_of(self, procs: Iterable[tuple[psutil.Process, dict[str, object]]],
                 kept: dict[int, _Row]) -> dict[int, _Row]:
        """Rows of the processes read now, beside `kept` (rows carried over from the last scan)."""
        rows: dict[int, _Row] = dict(kept)
        known = self._cmd
        seen: dict[_MemKey, tuple[str, str | None]] = {(r.pid, r.create_time): (r.name, r.udd) for r in kept.values()}
        # A process seen between its fork and its exec still shows its parent's command line: only a command line
        # read once the process is a few seconds old is kept.
        settled_before = time.time() - self._settle_s
        for proc, info in procs:
            if info.get("status") == psutil.STATUS_ZOMBIE:
                continue  # dead, only waiting to be reaped: no memory, no CPU, nothing to kill
            cpu = info.get("cpu_times")
            create = info.get("create_time")
            key = (proc.pid, float(create) if isinstance(create, int | float) else 0.0)
            cmd_facts = known.get(key)
            if cmd_facts is None:
                cmd_facts = _command_facts(proc)
                if cmd_facts[0] == "" and key[1] == 0.0:
                    continue  # vanished between the listing and its first read
            if key[1] < settled_before:
                seen[key] = cmd_facts
            ppid = info.get("ppid")
            rows[key[0]] = _Row(
                pid=key[0],
                ppid=ppid if isinstance(ppid, int) else 0,
                create_time=key[1],
                rss=0,
                cpu=(cpu.user + cpu.system) if cpu is not None else None,  # type: ignore[attr-defined]
                name=cmd_facts[0],
                udd=cmd_facts[1],
                proc=proc,
            )
        self._cmd = seen  # forget exited processes: a reused pid has another start time
        return rows

    @staticmethod
    def _fill_rss(groups: dict[str, _Group]) -> None:
        """RSS of each mapped browser process (statm: one more read each, only for these)."""
        for g in groups.values():
            for tree in g.trees.values():
                for row in tree:
                    if row.proc is None:
                        continue
                    try:
                        row.rss = int(row.proc.memory_info().rss)
                    except (psutil.Error, OSError):
                        row.rss = 0

    def _group(self, rows: dict[int, _Row], throwaway: bool = False, throwaway_owner: str | None = None,
               gateway_pids: Collection[int] | None = None,
               session_starts: Mapping[str, Sequence[float]] | None = None) -> tuple[dict[str, _Group], list[str]]:
        """Browser groups by profile dir, and one reason ("" when none is known) per browser left unmapped."""
        own: dict[int, str | None] = {}  # pid → group key of the process itself (flag under a root)
        groups: dict[str, _Group] = {}
        hits: dict[str, tuple[str, Layout] | None] = {}  # per profile dir: its 9 processes share one answer
        unmapped: dict[str, list[_Row]] = {}  # temp profile dir → its processes
        for row in rows.values():
            key = None
            if row.udd:
                if row.udd not in hits:
                    # the browser may reach the profile through a symlink, the root may be configured by either
                    hits[row.udd] = classify_dir(row.udd, self._prefixes) or classify_dir(
                        os.path.realpath(row.udd), self._prefixes)
                    if (throwaway and hits[row.udd] is None and is_throwaway(row.udd)
                            and (gateway_pids is None or set(_ancestors(row.pid, rows)) & set(gateway_pids))):
                        if throwaway_owner is None:
                            unmapped[row.udd] = []
                        else:
                            hits[row.udd] = (throwaway_owner, Layout.THROWAWAY)
                hit = hits[row.udd]
                if hit:
                    key = os.path.normpath(row.udd)
                    groups.setdefault(key, _Group(hit[0], hit[1], key))
                elif row.udd in unmapped:
                    unmapped[row.udd].append(row)
            own[row.pid] = key
        why = {udd: "" for udd in unmapped}
        if unmapped and session_starts is not None:
            started = {udd: min(r.create_time for r in procs) for udd, procs in unmapped.items()}
            matched, why = match_by_start(started, session_starts)
            for udd, (sid, note) in matched.items():
                key = os.path.normpath(udd)
                groups[key] = _Group(sid, Layout.THROWAWAY, key, note=note)
                for r in unmapped[udd]:
                    own[r.pid] = key
        if not groups:
            return groups, list(why.values())
        member: dict[int, str | None] = {}
        for pid in rows:
            _resolve(pid, rows, own, member)
        for pid, key in member.items():
            if key is None:
                continue
            root = _tree_root(pid, key, rows, member)
            groups[key].trees.setdefault(root, []).append(rows[pid])
        return groups, list(why.values())

    def _memory(self, groups: dict[str, _Group],
                mono: float) -> tuple[dict[_MemKey, tuple[int | None, int | None, float]], int]:
        """PSS/USS of every browser process (and how many were read this scan).

        A new process is read at once; a known one when its figure is `memory_every_s` old, oldest first and at
        most `memory_batch` per scan, so a refresh of hundreds of real Chromium processes (~5 ms each) is spread
        over several polls instead of stalling one.
        """
        out: dict[_MemKey, tuple[int | None, int | None, float]] = {}
        due: list[tuple[float, _MemKey, _Row]] = []
        reads = 0
        for g in groups.values():
            for members in g.trees.values():
                for r in members:
                    key = (r.pid, r.create_time)
                    cached = self._mem.get(key)
                    if cached is None:
                        cached = (*_smaps(r.proc), mono)
                        reads += 1
                    elif mono - cached[2] >= self._memory_every_s:
                        due.append((cached[2], key, r))
                    out[key] = cached
        due.sort(key=lambda d: d[0])
        for _at, key, r in due[:self._memory_batch]:
            out[key] = (*_smaps(r.proc), mono)
            reads += 1
        self._mem = out
        return out, reads

    def _session(self, g: _Group, rows: dict[int, _Row], elapsed: float | None,
                 mem: Mapping[_MemKey, tuple[int | None, int | None, float]]) -> SessionProcs:
        trees = []
        for root_pid, members in sorted(g.trees.items()):
            members.sort(key=lambda r: (r.pid != root_pid, r.pid))
            parent = rows[root_pid].ppid
            procs = tuple(ProcInfo(r.pid, r.ppid, r.create_time, r.rss, r.udd is not None, r.name,
                                   *mem.get((r.pid, r.create_time), (None, None, 0.0))[:2])
                          for r in members)
            cpus = [r.cpu for r in members if r.cpu is not None]
            trees.append(BrowserTree(
                session_id=g.session_id,
                layout=g.layout,
                user_data_dir=g.udd,
                root_pid=root_pid,
                parent_pid=parent,
                ancestors=_ancestors(root_pid, rows),
                procs=procs,
                rss_bytes=sum(r.rss for r in members),
                cpu_percent=self._cpu(members, elapsed),
                pss_bytes=_sum(p.pss_bytes for p in procs),
                uss_bytes=_sum(p.uss_bytes for p in procs),
                cpu_seconds=sum(cpus) if cpus else None,
                adopted=self._adopted(rows[root_pid], rows),
                matched_by=g.note,
            ))
        cpus = [t.cpu_percent for t in trees if t.cpu_percent is not None]
        secs = [t.cpu_seconds for t in trees if t.cpu_seconds is not None]
        return SessionProcs(
            session_id=g.session_id,
            layout=g.layout,
            user_data_dir=g.udd,
            trees=tuple(trees),
            rss_bytes=sum(t.rss_bytes for t in trees),
            cpu_percent=sum(cpus) if cpus else None,
            pss_bytes=_sum(t.pss_bytes for t in trees),
            uss_bytes=_sum(t.uss_bytes for t in trees),
            cpu_seconds=sum(secs) if secs else None,
            matched_by=g.note,
        )

    def _adopted(self, root: _Row, rows: dict[int, _Row]) -> str:
        """Why the browser's parent is not the process that launched it, or "" when nothing says so."""
        first = self._first_parent.setdefault((root.pid, root.create_time), root.ppid)
        parent = rows.get(root.ppid)
        if root.ppid == 1 and (parent is None or parent.name not in LAUNCHER_NAMES):
            return "its parent process is gone (reparented to pid 1)"
        if root.ppid in self._subreapers or (parent is not None and parent.name in SUBREAPER_NAMES):
            return f"its parent process is gone (adopted by subreaper pid {root.ppid})"
        if first != root.ppid:
            return f"its parent process {first} is gone (now under pid {root.ppid})"
        return ""

    def _cpu(self, members: list[_Row], elapsed: float | None) -> float | None:
        """CPU% (100 = one core) from the processes seen in both scans; new processes count from next scan."""
        if not elapsed or elapsed <= 0:
            return None
        used, seen = 0.0, False
        for r in members:
            before = self._prev_cpu.get((r.pid, r.create_time))
            if before is None or r.cpu is None:
                continue
            seen = True
            used += max(0.0, r.cpu - before)
        return used / elapsed * 100.0 if seen else None


def match_by_start(started: Mapping[str, float], session_starts: Mapping[str, Sequence[float]],
                   window_s: float = START_MATCH_S) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """Tie temp-profile browsers to sessions by start time: ({profile dir: (session, note)}, {profile dir: why not}).

    A browser (`started`: its root's start time) is a session's when it started within `window_s` of exactly one
    start of exactly one session, and no other browser did; anything less certain stays unmapped, with the reason.
    """
    near: dict[str, dict[str, float]] = {}  # profile dir → session → browser start minus that session's start
    claims: dict[tuple[str, float], list[str]] = {}  # (session, its start) → the browsers near it
    for udd, at in started.items():
        best: dict[str, tuple[float, float]] = {}
        for sid, times in session_starts.items():
            for t in times:
                if abs(at - t) <= window_s and (sid not in best or abs(at - t) < abs(best[sid][0])):
                    best[sid] = (at - t, t)
        near[udd] = {sid: delta for sid, (delta, _t) in best.items()}
        if len(best) == 1:
            ((sid, (_delta, t)),) = best.items()
            claims.setdefault((sid, t), []).append(udd)
    matched: dict[str, tuple[str, str]] = {}
    why: dict[str, str] = {}
    for udd, cands in near.items():
        if not cands:
            why[udd] = (f"it started more than {window_s:g} s from every session start pulse-tui saw "
                        "(it may be older than pulse-tui, or its start went unseen)")
            continue
        if len(cands) > 1:
            names = ", ".join(sorted(cands)[:3])
            why[udd] = f"it started within {window_s:g} s of {len(cands)} sessions' starts ({names}): ambiguous"
            continue
        ((sid, delta),) = cands.items()
        rivals = next(v for (s, _t), v in claims.items() if s == sid and udd in v)
        if len(rivals) > 1:
            why[udd] = (f"{len(rivals)} browsers started within {window_s:g} s of session {sid}'s start: "
                        "which one is its own cannot be told")
            continue
        side = "after" if delta >= 0 else "before"
        matched[udd] = (sid, f"matched by start time: its browser started {abs(delta):.1f} s {side} the session "
                             "did (its temp profile names no session)")
    return matched, why


def _hot_pids(groups: Mapping[str, _Group], rows: Mapping[int, _Row]) -> frozenset[int]:
    """What the next poll reads again: every browser tree's process, every flagged process and their ancestors."""
    flagged = {r.pid for r in rows.values() if r.udd}
    hot = flagged | {r.pid for g in groups.values() for tree in g.trees.values() for r in tree}
    ancestors: set[int] = set()
    for pid in flagged:
        for a in _ancestors(pid, rows):  # nearest first: once one is known, so are the ones above it
            if a in ancestors:
                break
            ancestors.add(a)
    return frozenset(hot | ancestors)


def _read_pids(pids: Iterable[int]) -> Iterator[tuple[psutil.Process, dict[str, object]]]:
    """(process, its SCAN_ATTRS) for each pid still alive, as `process_iter` gives them."""
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            yield proc, proc.as_dict(SCAN_ATTRS, ad_value=None)
        except psutil.Error:
            continue  # gone since the listing (or not ours to read at all)


def _sum(values: Iterable[int | None]) -> int | None:
    """Sum of the known figures; None when none is known."""
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _smaps(proc: psutil.Process | None) -> tuple[int | None, int | None]:
    """(PSS, USS) of one process from smaps_rollup; (None, None) when it is gone or not ours to read."""
    if proc is None:
        return None, None
    try:
        full = proc.memory_full_info()
    except (psutil.Error, OSError):
        return None, None
    return int(getattr(full, "pss", 0)), int(full.uss)


def _command_facts(proc: psutil.Process) -> tuple[str, str | None]:
    """(program name, absolute --user-data-dir or None) of a process; ("", None) when it cannot be read."""
    try:
        cmd = proc.cmdline()
    except (psutil.Error, OSError):
        return "", None
    if not cmd:
        return "", None
    udd = user_data_dir_of(cmd)
    if udd and not os.path.isabs(udd):
        udd = _absolute(proc, udd)
    return os.path.basename(cmd[0].split(" ", 1)[0]), udd


def _absolute(proc: psutil.Process, udd: str) -> str | None:
    """A relative --user-data-dir as Chromium resolves it: against the process's own working directory."""
    try:
        return os.path.normpath(os.path.join(proc.cwd(), udd))
    except (psutil.Error, OSError):
        return None  # cwd unreadable: the profile cannot be placed, so the process is not mapped


def _resolve(pid: int, rows: dict[int, _Row], own: dict[int, str | None], member: dict[int, str | None]) -> None:
    """Fill `member[pid]`: its own group, else its nearest flagged ancestor's (memoised along the walk)."""
    path: list[int] = []
    cur: int | None = pid
    key: str | None = None
    while cur is not None and cur not in member and len(path) < _MAX_DEPTH:
        path.append(cur)
        if own.get(cur):
            key = own[cur]
            break
        row = rows.get(cur)
        nxt = row.ppid if row else 0
        cur = nxt if nxt in rows and nxt != cur else None
    else:
        if cur is not None and cur in member:
            key = member[cur]
    for p in path:
        member[p] = key


def _tree_root(pid: int, key: str, rows: dict[int, _Row], member: dict[int, str | None]) -> int:
    cur = pid
    for _ in range(_MAX_DEPTH):
        parent = rows[cur].ppid
        if parent == cur or member.get(parent) != key:
            return cur
        cur = parent
    return cur


def _ancestors(pid: int, rows: Mapping[int, _Row]) -> tuple[int, ...]:
    out: list[int] = []
    cur = rows[pid].ppid
    while cur and len(out) < _MAX_DEPTH and cur not in out:
        out.append(cur)
        row = rows.get(cur)
        if row is None:
            break
        cur = row.ppid
    return tuple(out)


# --- orphans -----------------------------------------------------------------------


@dataclass(frozen=True)
class Orphan:
    """A browser tree nobody owns any more: the gateway forgot the session or its gateway process is gone."""

    tree: BrowserTree
    reason: str

    @property
    def session_id(self) -> str:
        return self.tree.session_id


def find_orphans(
    report: HostReport,
    *,
    gateway_sessions: Mapping[str, bool] | Collection[str] | None = None,
    gateway_pids: Collection[int] | None = None,
) -> tuple[Orphan, ...]:
    """Which browser trees are orphaned.

    `gateway_sessions`: a collection is the COMPLETE list of sessions the gateway says exist (Pulse lists
    them); a mapping id → exists is partial knowledge (Salesboy, one status call per id): only ids mapped to
    False count, unknown ids are never marked. `gateway_pids`: the gateway's live pids (pm2 tells them); a
    tree none of whose ancestors is one of them is orphaned; an empty collection means the gateway is not
    running. None for either means "cannot tell": nothing is marked on that ground. Whatever they say, a tree
    whose parent is gone (reparented to pid 1 or a subreaper: `BrowserTree.adopted`) is orphaned.
    """
    out: list[Orphan] = []
    for tree in report.trees:
        if tree.matched_by:
            continue  # tied to its session by a guess (start time): never grounds for a kill
        reason = _orphan_reason(tree, gateway_sessions, gateway_pids)
        if reason:
            out.append(Orphan(tree, reason))
    return tuple(out)


def _orphan_reason(
    tree: BrowserTree,
    gateway_sessions: Mapping[str, bool] | Collection[str] | None,
    gateway_pids: Collection[int] | None,
) -> str:
    reasons = [r for r in (_gateway_reason(tree, gateway_sessions, gateway_pids), tree.adopted) if r]
    return "; ".join(dict.fromkeys(reasons))


def _gateway_reason(
    tree: BrowserTree,
    gateway_sessions: Mapping[str, bool] | Collection[str] | None,
    gateway_pids: Collection[int] | None,
) -> str:
    if isinstance(gateway_sessions, Mapping):
        if gateway_sessions.get(tree.session_id) is False:
            return "the gateway says this session does not exist"
    elif gateway_sessions is not None and tree.session_id not in gateway_sessions:
        return "the gateway does not list this session"
    if gateway_pids is not None:
        pids = set(gateway_pids)
        if not pids:
            return "the gateway process is not running"
        if not pids.intersection(tree.ancestors):
            return f"not started by the running gateway (parent pid {tree.parent_pid})"
    return ""


def memory_words(pss: int | None, uss: int | None, rss: int) -> str:
    """"245 MiB PSS (125 MiB private)", or the RSS sum, labelled, when smaps could not be read."""
    mib = 1024 * 1024
    if pss is None:
        return f"{rss // mib} MiB RSS (counts shared pages once per process)"
    private = f" ({uss // mib} MiB private)" if uss is not None else ""
    return f"{pss // mib} MiB PSS{private}"


def orphan_findings(orphans: Iterable[Orphan]) -> tuple[Finding, ...]:
    """One finding per orphaned tree, with the pids and a fix hint."""
    out = []
    for o in orphans:
        out.append(finding(
            "browser-orphaned",
            message=(f"Orphaned browser for session {o.session_id}: {len(o.tree.procs)} processes, "
                     f"{memory_words(o.tree.pss_bytes, o.tree.uss_bytes, o.tree.rss_bytes)} "
                     f"(root pid {o.tree.root_pid}, {o.tree.user_data_dir}); {o.reason}."),
            hint=("Kill the orphaned browser from pulse-tui (SIGHUP so Chromium removes its lock, then SIGTERM, "
                  f"then SIGKILL), or by hand: kill -HUP {o.tree.root_pid}. It holds the profile, so the session "
                  "cannot start until then."),
            subjects=(o.session_id,),
        ))
    return tuple(out)


# --- kill action -----------------------------------------------------------------------


class Outcome(StrEnum):
    DONE = "done"
    GONE = "gone"  # nothing left to act on: the goal is already met
    REFUSED = "refused"
    FAILED = "failed"


@dataclass(frozen=True)
class KillResult:
    ok: bool
    outcome: Outcome
    message: str
    terminated: tuple[int, ...] = ()  # exited after SIGHUP or SIGTERM
    killed: tuple[int, ...] = ()  # needed SIGKILL
    survivors: tuple[int, ...] = ()  # still alive at the end (permission, D state…)
    signals: tuple[str, ...] = ()  # what was sent, in order: "SIGHUP", "SIGTERM", "SIGKILL"
    crashpad: tuple[int, ...] = ()  # the browser's crash handlers found before the kill
    crashpad_left: tuple[int, ...] = ()  # …still running at the end (they should exit with their browser)


OrphanCheck = Callable[[BrowserTree], bool | Awaitable[bool]]


async def kill_orphan(
    tree: BrowserTree,
    is_still_orphan: OrphanCheck,
    *,
    grace_s: float = 5.0,
    read_only: bool,
    poll_s: float = 0.05,
) -> KillResult:
    """Stop the tree the way Chromium cleans up, only if `is_still_orphan(tree)` says so NOW.

    SIGHUP to the browser process (Chromium removes its SingletonLock on SIGHUP/SIGINT, not on SIGTERM), then
    SIGTERM to what is left after `grace_s`, then SIGKILL after another `grace_s`. Processes are matched by pid
    AND create_time, so a recycled pid is never signalled. Never raises for expected failures.
    """
    if read_only:
        return KillResult(False, Outcome.REFUSED, "read-only mode: nothing killed")
    procs = _live_members(tree)
    if not procs:
        return KillResult(True, Outcome.GONE, f"the browser of session {tree.session_id} is already gone")
    try:
        verdict = is_still_orphan(tree)
        if inspect.isawaitable(verdict):
            verdict = await verdict
    except Exception as exc:  # the re-check is the caller's code: any failure means "do not act"
        return KillResult(False, Outcome.REFUSED, f"could not re-check the tree ({type(exc).__name__}): nothing killed")
    if not verdict:
        return KillResult(False, Outcome.REFUSED,
                          f"the browser of session {tree.session_id} is no longer orphaned: nothing killed")
    procs = _live_members(tree)  # the re-check may have taken a while
    handlers = crashpad_handlers(tree.root_pid)  # before the kill: the socket pairs that tie them go with it
    signals: list[str] = []
    left, failed = list(procs), ""
    root = [p for p in procs if p.pid == tree.root_pid]
    if root:
        # SIGHUP, not SIGINT: a browser started as a shell's background job ignores SIGINT
        sent, failed = _signal_all(root, signal.SIGHUP)  # the browser tears down its children and its lock
        if sent:
            signals.append("SIGHUP")
            left = await _wait_gone(left, grace_s, poll_s)
    if left:
        sent, failed = _signal_all(left, signal.SIGTERM)
        if sent:
            signals.append("SIGTERM")
            left = await _wait_gone(left, grace_s, poll_s)
    terminated = tuple(p.pid for p in procs if p not in left)
    killed: tuple[int, ...] = ()
    if left:
        hard, failed = _signal_all(left, signal.SIGKILL)
        if hard:
            signals.append("SIGKILL")
        still = await _wait_gone(left, 2.0, poll_s)
        killed = tuple(p.pid for p in left if p not in still)
        left = still
    if not signals:
        return KillResult(False, Outcome.FAILED, f"could not signal any process: {failed}")
    handlers_left = await _wait_gone(handlers, 3.0, poll_s)  # they exit by themselves once their browser is gone
    sigs, pads, pads_left = tuple(signals), tuple(p.pid for p in handlers), tuple(p.pid for p in handlers_left)
    alive = tuple(p.pid for p in left)
    if alive:
        return KillResult(False, Outcome.FAILED, f"processes still alive after SIGKILL: {list(alive)}",
                          terminated, killed, alive, sigs, pads, pads_left)
    how = f"{len(terminated) + len(killed)} processes exited after {', then '.join(signals)}"
    if killed:
        how += f" ({len(killed)} needed SIGKILL)"
    if handlers:
        how += (f"; {len(handlers) - len(handlers_left)} of {len(handlers)} crash handlers exited"
                + (f", still running: {[p.pid for p in handlers_left]}" if handlers_left else ""))
    return KillResult(True, Outcome.DONE, f"stopped the orphaned browser of session {tree.session_id}: {how}",
                      terminated, killed, (), sigs, pads, pads_left)


def crashpad_handlers(browser_pid: int) -> list[psutil.Process]:
    """The `chrome_crashpad_handler` processes of one browser (usually 2, reparented to pid 1).

    Their command line does not name the profile; what ties them is a socketpair: the handler's
    `--initial-client-fd` is one end, the browser (or, for the second handler, the first handler) holds the
    other, and the kernel numbers a pair's inodes consecutively, the handler's end last. Linux only; [] when
    /proc cannot be read. Used to count and verify, never to signal.
    """
    mine = _socket_inodes(browser_pid)
    if not mine:
        return []
    candidates: dict[int, tuple[psutil.Process, int, set[int]]] = {}
    for proc in psutil.process_iter(["cmdline"], ad_value=None):
        cmd = proc.info.get("cmdline") or []
        if proc.pid == browser_pid or not cmd or os.path.basename(cmd[0].split(" ", 1)[0]) != CRASHPAD:
            continue
        client = _client_inode(proc.pid, cmd)
        if client is not None:
            candidates[proc.pid] = (proc, client, _socket_inodes(proc.pid))
    found: dict[int, psutil.Process] = {}
    grew = True
    while grew:  # handler → browser, then handler → handler
        grew = False
        for pid, (proc, client, inodes) in candidates.items():
            if pid not in found and client - 1 in mine:
                found[pid] = proc
                mine = mine | inodes
                grew = True
    return sorted(found.values(), key=lambda p: p.pid)


def _socket_inodes(pid: int) -> set[int]:
    out: set[int] = set()
    fd_dir = f"/proc/{pid}/fd"
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return out
    for name in names:
        try:
            target = os.readlink(os.path.join(fd_dir, name))
        except OSError:
            continue
        if target.startswith("socket:[") and target.endswith("]"):
            out.add(int(target[8:-1]))
    return out


def _client_inode(pid: int, cmdline: list[str]) -> int | None:
    fd = next((a.split("=", 1)[1] for a in cmdline if a.startswith("--initial-client-fd=")), None)
    if fd is None or not fd.isdigit():
        return None
    try:
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        return None
    return int(target[8:-1]) if target.startswith("socket:[") and target.endswith("]") else None


def _live_members(tree: BrowserTree) -> list[psutil.Process]:
    """The tree's processes still alive (same create_time), plus children the root spawned since the scan."""
    found: dict[int, psutil.Process] = {}
    for info in tree.procs:
        try:
            proc = psutil.Process(info.pid)
            if abs(proc.create_time() - info.create_time) < 0.01 and _alive(proc):
                found[info.pid] = proc
        except psutil.Error:
            continue
    root = found.get(tree.root_pid)
    if root is not None:
        try:
            for child in root.children(recursive=True):
                if child.pid not in found and _alive(child):
                    found[child.pid] = child
        except psutil.Error:
            pass
    # root first: a Chromium browser process tears its own children down on SIGTERM
    return sorted(found.values(), key=lambda p: (p.pid != tree.root_pid, p.pid))


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _signal_all(procs: list[psutil.Process], sig: signal.Signals) -> tuple[list[psutil.Process], str]:
    sent, failed = [], ""
    for proc in procs:
        try:
            proc.send_signal(sig)  # psutil checks the pid was not reused since `proc` was created
            sent.append(proc)
        except psutil.NoSuchProcess:
            continue
        except psutil.Error as exc:
            failed = f"{type(exc).__name__} on pid {proc.pid}"
    return sent, failed


async def _wait_gone(procs: list[psutil.Process], timeout_s: float, poll_s: float) -> list[psutil.Process]:
    """Wait without blocking the event loop; return the processes still alive."""
    deadline = time.monotonic() + timeout_s
    left = [p for p in procs if _alive(p)]
    while left and time.monotonic() < deadline:
        await asyncio.sleep(poll_s)
        left = [p for p in left if _alive(p)]
    return left
