"""pm2, the process manager both gateways run under: its apps, restarts since pulse-tui started, restarts
caused by `max_memory_restart` (from the tail of pm2's own log), and the "restart gateway" action.

`pm2 jlist` starts a whole Node process (hundreds of ms of CPU): asking it every poll made pm2 the biggest idle
cost. It is asked again only when what pm2 keeps on disk and in /proc says something changed (the daemon's pid,
the size of pm2.log, which pm2 appends to on every start/stop/restart/exit, the daemon's child processes) or when
the last answer is older than `refresh_s`; in between, the apps' memory and CPU are read from /proc.

`pm2 jlist` carries each app's whole environment (API keys, encryption keys): only the few fields below are
kept, and neither its output nor pm2's stderr is ever copied into a message. pm2 is only asked when its daemon
already runs: any pm2 command would otherwise spawn a daemon as a side effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import re
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import psutil

from pulse_tui.clock import Clock
from pulse_tui.findings import finding
from pulse_tui.model import Finding

DEFAULT_APPS = ("salesboy-gateway", "pulse", "pulse-production")
LOG_TAIL_BYTES = 256 * 1024
# pm2 (lib/Worker.js): "[PM2][WORKER] Process <pm_id> restarted because it exceeds --max-memory-restart value …"
_MEM_RE = re.compile(r"Process (\d+) restarted because it exceeds --max-memory-restart")
_TS_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})")
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")


class Pm2State(StrEnum):
    OK = "ok"
    NOT_AVAILABLE = "not-available"  # no pm2 on PATH
    NOT_RUNNING = "not-running"  # pm2 installed, no daemon for this PM2_HOME
    ERROR = "error"  # jlist failed, timed out or printed something we could not parse


@dataclass(frozen=True)
class Pm2App:
    """One pm2 app as the header shows it."""

    name: str
    pm_id: int
    status: str  # online / stopped / errored / launching / stopping…
    pid: int | None
    restart_time: int
    restarts_since_start: int  # since this reader first saw the app
    uptime_s: float | None  # None unless online
    memory_bytes: int | None
    cpu_percent: float | None
    unstable_restarts: int = 0
    max_memory_restart: int | None = None  # bytes, when configured
    memory_restarts_since_start: int = 0  # restarts pm2 logged as max_memory_restart, since the reader started
    last_memory_restart_at: float | None = None  # epoch seconds of the newest one in the log tail (any time)

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name, "pm_id": self.pm_id, "status": self.status, "pid": self.pid,
            "restart_time": self.restart_time, "restarts_since_start": self.restarts_since_start,
            "uptime_s": None if self.uptime_s is None else round(self.uptime_s, 1),
            "memory_bytes": self.memory_bytes, "cpu_percent": self.cpu_percent,
            "unstable_restarts": self.unstable_restarts, "max_memory_restart": self.max_memory_restart,
            "memory_restarts_since_start": self.memory_restarts_since_start,
            "last_memory_restart_at": self.last_memory_restart_at,
        }


@dataclass(frozen=True)
class Pm2Report:
    state: Pm2State
    apps: tuple[Pm2App, ...] = ()
    detail: str = ""
    pm2_home: str = ""
    took_s: float = 0.0
    read_at: float | None = None  # clock time of the `pm2 jlist` these facts come from

    def app(self, name: str) -> Pm2App | None:
        for a in self.apps:
            if a.name == name:
                return a
        return None

    def as_dict(self) -> dict[str, object]:
        return {"state": self.state.value, "detail": self.detail, "pm2_home": self.pm2_home,
                "read_at": self.read_at, "apps": [a.as_dict() for a in self.apps]}


def pm2_home(env: Mapping[str, str] | None = None) -> Path:
    """PM2_HOME as pm2 resolves it: $PM2_HOME, else ~/.pm2."""
    env = os.environ if env is None else env
    if env.get("PM2_HOME"):
        return Path(env["PM2_HOME"])
    home = env.get("HOME") or env.get("USERPROFILE") or str(Path.home())
    return Path(home) / ".pm2"


def daemon_pid(home: Path) -> int | None:
    """The pm2 daemon's pid when it runs for this PM2_HOME, else None. Reads pm2.pid; spawns nothing."""
    try:
        pid = int((home / "pm2.pid").read_text().strip())
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
    except (OSError, ValueError, psutil.Error):
        return None
    return pid


class Pm2Reader:
    """Reads `pm2 jlist` for the watched apps; remembers restart counts from its first successful read."""

    def __init__(
        self,
        clock: Clock,
        apps: Sequence[str] | None = DEFAULT_APPS,
        *,
        pm2_bin: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout_s: float = 10.0,
        refresh_s: float = 300.0,
    ) -> None:
        self._clock = clock
        self._apps = tuple(apps) if apps is not None else None
        self._env = dict(os.environ if env is None else env)
        self._bin = pm2_bin or shutil.which("pm2", path=self._env.get("PATH"))
        self._home = pm2_home(self._env)
        self._timeout = timeout_s
        self._started_at = clock.now()
        self._baseline: dict[tuple[str, int], int] | None = None
        self._refresh_s = refresh_s
        self._last: _LastRead | None = None
        self._procs: dict[int, psutil.Process] = {}  # kept between reads: cpu_percent compares with the last call

    @property
    def available(self) -> bool:
        return self._bin is not None

    @property
    def home(self) -> Path:
        return self._home

    async def read(self) -> Pm2Report:
        """The watched apps: from `pm2 jlist` (only when the daemon already runs) when pm2's state changed or
        the last answer is older than `refresh_s`, else from that answer with fresh memory and CPU."""
        started = time.perf_counter()
        home = str(self._home)
        if self._bin is None:
            return Pm2Report(Pm2State.NOT_AVAILABLE, detail="pm2 is not on PATH", pm2_home=home)
        daemon = daemon_pid(self._home)
        if daemon is None:
            self._last = None
            return Pm2Report(Pm2State.NOT_RUNNING, detail=f"no pm2 daemon running for PM2_HOME={home}",
                             pm2_home=home)
        last = self._last
        if last is not None and self._clock.now() - last.at < self._refresh_s:
            # one trip to a thread for the change check and the apps' memory/CPU: each trip wakes the event loop
            signature, apps = await asyncio.to_thread(self._unchanged, last, daemon)
            if signature == last.signature:
                return self._report(apps, last.mem_restarts, last.at, started)
        code, out, _err = await _run([self._bin, "jlist"], self._env, self._timeout)
        if code is None:
            return Pm2Report(Pm2State.ERROR, detail=f"pm2 jlist timed out after {self._timeout:g} s", pm2_home=home)
        raw = parse_jlist(out)
        if code != 0 or raw is None:
            why = f"exited with code {code}" if code != 0 else "printed no JSON list"
            return Pm2Report(Pm2State.ERROR, detail=f"pm2 jlist {why}", pm2_home=home)
        apps = [a for a in (_app_fields(item) for item in raw) if a is not None]
        if self._apps is not None:
            apps = [a for a in apps if a.name in self._apps]
        mem_restarts = memory_restarts(self._home / "pm2.log")
        at = self._clock.now()
        # read after jlist: a change that lands while jlist runs makes the next read ask again
        self._last = _LastRead(tuple(apps), mem_restarts, at, await asyncio.to_thread(_signature, self._home, daemon))
        return self._report(apps, mem_restarts, at, started)

    def _report(self, apps: Sequence[_Raw], mem_restarts: dict[int, list[float]], at: float,
                started: float) -> Pm2Report:
        first = self._baseline is None
        baseline = self._baseline = self._baseline or {}
        for a in apps:
            # apps first seen after the first read started after us: every restart of theirs is new
            baseline.setdefault((a.name, a.pm_id), a.restart_time if first else 0)
        built = tuple(self._build(a, baseline, mem_restarts) for a in apps)
        return Pm2Report(Pm2State.OK, built, pm2_home=str(self._home), took_s=time.perf_counter() - started,
                         read_at=at)

    def _unchanged(self, last: _LastRead, daemon: int) -> tuple[tuple[object, ...], list[_Raw]]:
        """pm2's signature now, and the last answer's apps with their memory and CPU of now."""
        return _signature(self._home, daemon), [self._refreshed(a) for a in last.apps]

    def _refreshed(self, a: _Raw) -> _Raw:
        """`a` with the memory and CPU of its process now (what pm2's own monit reads for it)."""
        if not a.pid or a.status != "online":
            return a
        proc = self._procs.get(a.pid)
        try:
            if proc is None:
                proc = self._procs[a.pid] = psutil.Process(a.pid)
                proc.cpu_percent()  # the first call only sets the reference point
                return dataclasses.replace(a, memory=proc.memory_info().rss)
            return dataclasses.replace(a, memory=proc.memory_info().rss, cpu=round(proc.cpu_percent(), 1))
        except psutil.Error:
            self._procs.pop(a.pid, None)
            return a

    def _build(self, a: _Raw, baseline: dict[tuple[str, int], int], mem_restarts: dict[int, list[float]]) -> Pm2App:
        key = (a.name, a.pm_id)
        base = baseline[key]
        if a.restart_time < base:  # `pm2 reset` or a resurrected daemon: counting starts over
            base = baseline[key] = 0
        times = mem_restarts.get(a.pm_id, [])
        online = a.status == "online"
        return Pm2App(
            name=a.name, pm_id=a.pm_id, status=a.status, pid=a.pid or None,
            restart_time=a.restart_time, restarts_since_start=a.restart_time - base,
            uptime_s=max(0.0, self._clock.now() - a.pm_uptime / 1000.0) if online and a.pm_uptime else None,
            memory_bytes=a.memory, cpu_percent=a.cpu, unstable_restarts=a.unstable_restarts,
            max_memory_restart=a.max_memory_restart,
            # 1 s slack: pm2 stamps whole seconds
            memory_restarts_since_start=sum(1 for t in times if t >= self._started_at - 1.0),
            last_memory_restart_at=max(times) if times else None,
        )


async def _run(argv: list[str], env: Mapping[str, str], timeout_s: float) -> tuple[int | None, str, str]:
    """Run a command; (None, "", "") on timeout (the process is killed). Output decoded, never logged."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, env=dict(env), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        return 127, "", exc.strerror or type(exc).__name__
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return None, "", ""
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


@dataclass(frozen=True)
class _LastRead:
    apps: tuple[_Raw, ...]
    mem_restarts: dict[int, list[float]]
    at: float
    signature: tuple[object, ...]


def _signature(home: Path, daemon: int) -> tuple[object, ...]:
    """What changes when pm2's apps change: the daemon, the size of pm2.log, the daemon's children."""
    try:
        log_size: int | None = (home / "pm2.log").stat().st_size
    except OSError:
        log_size = None
    return (daemon, log_size, _children(daemon))


def _children(pid: int) -> frozenset[tuple[int, float]] | None:
    """(pid, start time) of a process's children, from /proc/PID/task/*/children: a few small reads, where
    psutil's `children()` reads the stat of every process of the host (~17 ms on 260 processes, every poll)."""
    pids: set[int] = set()
    read = False
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as fh:
                    pids.update(int(x) for x in fh.read().split())
                read = True
            except FileNotFoundError:
                continue  # that thread exited since the listing
    except (OSError, ValueError):
        return None
    if not read:  # a kernel without CONFIG_PROC_CHILDREN: the slow way
        try:
            return frozenset((c.pid, c.create_time()) for c in psutil.Process(pid).children())
        except psutil.Error:
            return None
    out = set()
    for child in pids:
        try:
            out.add((child, psutil.Process(child).create_time()))
        except psutil.Error:
            continue  # exited since: the next read sees the change
    return frozenset(out)


def parse_jlist(out: str) -> list[object] | None:
    """The JSON list in jlist's stdout. pm2 may print a banner or warnings before it (last line wins)."""
    for line in reversed(out.splitlines()):
        line = line.strip()
        if line.startswith("["):
            try:
                data = json.loads(line)
            except ValueError:
                continue
            return data if isinstance(data, list) else None
    return None


@dataclass(frozen=True)
class _Raw:
    name: str
    pm_id: int
    status: str
    pid: int | None
    restart_time: int
    unstable_restarts: int
    pm_uptime: int | None
    memory: int | None
    cpu: float | None
    max_memory_restart: int | None


def _app_fields(item: object) -> _Raw | None:
    """The fields we keep from one jlist entry; the rest (its environment!) is dropped here."""
    if not isinstance(item, dict):
        return None
    env = item.get("pm2_env")
    env = env if isinstance(env, dict) else {}
    monit = item.get("monit")
    monit = monit if isinstance(monit, dict) else {}
    name = item.get("name") or env.get("name")
    if not isinstance(name, str):
        return None
    cpu = monit.get("cpu")
    return _Raw(
        name=name,
        pm_id=_int(item.get("pm_id", env.get("pm_id"))) or 0,
        status=str(env.get("status") or "unknown"),
        pid=_int(item.get("pid")),
        restart_time=_int(env.get("restart_time")) or 0,
        unstable_restarts=_int(env.get("unstable_restarts")) or 0,
        pm_uptime=_int(env.get("pm_uptime")),
        memory=_int(monit.get("memory")),
        cpu=float(cpu) if isinstance(cpu, int | float) and not isinstance(cpu, bool) else None,
        max_memory_restart=_int(env.get("max_memory_restart")),
    )


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def memory_restarts(log: Path, tail_bytes: int = LOG_TAIL_BYTES) -> dict[int, list[float]]:
    """pm_id → epoch seconds of each max_memory_restart restart in the last `tail_bytes` of pm2.log."""
    out: dict[int, list[float]] = {}
    for line in read_tail_lines(log, tail_bytes):
        m = _MEM_RE.search(line)
        if not m:
            continue
        ts = _TS_RE.match(line)
        at = _local_ts(ts.group(1)) if ts else None
        if at is not None:
            out.setdefault(int(m.group(1)), []).append(at)
    return out


def read_tail_lines(path: Path, tail_bytes: int) -> list[str]:
    """The complete lines in the last `tail_bytes` of a file (reads from the end, never the whole file)."""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            start = max(0, size - tail_bytes)
            fh.seek(start)
            data = fh.read(size - start)
    except OSError:
        return []
    lines = data.decode("utf-8", "replace").splitlines()
    return lines[1:] if start > 0 and lines else lines  # the first one is cut


def _local_ts(text: str) -> float | None:
    """pm2 writes its log timestamps in local time without a zone."""
    try:
        return time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%S"))
    except (ValueError, OverflowError):
        return None


# --- action ------------------------------------------------------------------------


@dataclass(frozen=True)
class Pm2ActionResult:
    ok: bool
    refused: bool
    message: str
    available: bool = True


async def restart_app(
    name: str,
    *,
    read_only: bool,
    pm2_bin: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 60.0,
) -> Pm2ActionResult:
    """`pm2 restart <name>`. Refused in read-only mode, for `all`/option-like names, or with no daemon."""
    if read_only:
        return Pm2ActionResult(False, True, "read-only mode: nothing restarted")
    envd = dict(os.environ if env is None else env)
    binary = pm2_bin or shutil.which("pm2", path=envd.get("PATH"))
    if binary is None:
        return Pm2ActionResult(False, True, "pm2 is not on PATH", available=False)
    if not name or name == "all" or name.startswith("-") or any(c.isspace() for c in name):
        return Pm2ActionResult(False, True, f"refused: {name!r} is not a single pm2 app name")
    home = pm2_home(envd)
    if daemon_pid(home) is None:
        return Pm2ActionResult(False, True, f"no pm2 daemon running for PM2_HOME={home}: nothing restarted")
    code, out, err = await _run([binary, "restart", name, "--no-color"], envd, timeout_s)
    if code is None:
        return Pm2ActionResult(False, False, f"pm2 restart {name} timed out after {timeout_s:g} s")
    if code != 0:
        return Pm2ActionResult(False, False, f"pm2 restart {name} failed (exit {code}){_pm2_error(out + err)}")
    return Pm2ActionResult(True, False, f"pm2 restarted {name}")


def _pm2_error(text: str) -> str:
    """pm2's own `[PM2][ERROR] …` line (never app output), short, or nothing."""
    for line in reversed(_ANSI_RE.sub("", text).splitlines()):
        line = line.strip()
        if line.startswith("[PM2][ERROR]"):
            return ": " + line[len("[PM2][ERROR]"):].strip()[:160]
    return ""


# --- findings ---------------------------------------------------------------------------


def pm2_findings(report: Pm2Report, watched: Iterable[str] | None = None) -> tuple[Finding, ...]:
    """Findings: a watched app missing / not online, restarted since pulse-tui started, or by max_memory_restart."""
    if report.state != Pm2State.OK:
        return ()
    out: list[Finding] = []
    for want in watched or ():
        if report.app(want) is None:
            out.append(finding("pm2-app-missing", f"pm2 has no app named {want}.",
                               "Set the pm2 app name pulse-tui watches, or start the gateway under pm2.", (want,)))
    for a in report.apps:
        if a.status != "online":
            out.append(finding("pm2-app-down", f"pm2 app {a.name} is {a.status}.",
                               f"Read `pm2 logs {a.name} --lines 50`, then restart it (pulse-tui: restart gateway).",
                               (a.name,)))
        if a.memory_restarts_since_start:
            limit = f" ({a.max_memory_restart // (1024 * 1024)} MiB)" if a.max_memory_restart else ""
            out.append(finding(
                "pm2-memory-restart", f"pm2 restarted {a.name} {a.memory_restarts_since_start} time(s) for exceeding max_memory_restart"
                f"{limit} since pulse-tui started; each restart drops every session to restoring.",
                "Find what grows (often orphaned browsers: see the host line) or raise max_memory_restart in the "
                "ecosystem file.", (a.name,)))
        elif a.restarts_since_start:
            out.append(finding(
                "pm2-restarted", f"pm2 restarted {a.name} {a.restarts_since_start} time(s) since pulse-tui started.",
                f"Read `pm2 logs {a.name} --err --lines 50` for the cause.", (a.name,)))
    return tuple(out)
