"""Stand-in "browsers" for the demo, the tests and the benchmark: small real process trees whose argv carries
`--user-data-dir=<profile dir>` like the Chromium whatsapp-web.js starts, plus stale/foreign profile locks.

Layout of one `StandInGateway`:

    reaper (python, a child subreaper: reaps everything below, so nothing is left as a zombie)
      └─ gateway (bash, stands for `node` running the gateway)
           └─ browser root per session (bash: `chrome --user-data-dir=… --headless`; writes SingletonLock)
                └─ children: `sleep` renamed `chrome --type=renderer --user-data-dir=…` (like Chromium's
                   setproctitle'd renderers) or plain `sleep` (like a zygote's helpers), and an optional busy loop

Killing the gateway with SIGKILL leaves its browsers running under the reaper: orphaned trees. SIGKILL on a
browser leaves its SingletonLock behind, pointing at a dead pid: a stale lock. Like Chromium, a stand-in browser
removes its lock on SIGHUP/SIGINT and NOT on SIGTERM (SIGINT is ignored by bash's background jobs: use SIGHUP).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from pulse_tui.sources.locks import LOCK_FILES, LockState, check_lock
from pulse_tui.sources.procs import user_data_dir_of

__all__ = [
    "LOCK_FILES", "BrowserSpec", "SessionBrowsers", "StandInGateway", "dead_pid", "make_foreign_lock",
    "make_orphan", "make_stale_lock", "this_host", "write_lock",
]

# The scripts never spell the flag out: a command line that contained "<space>--user-data-dir=" would itself
# look like a browser to the process map. The flag comes in through $STANDIN_FLAG / $1 instead.
_REAPER = r"""
import ctypes, json, os, signal, subprocess
try:
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
except Exception:
    pass
signal.signal(signal.SIGTERM, lambda *a: None)  # stay to reap; a handler (not SIG_IGN) resets on exec
subprocess.Popen(json.loads(os.environ["STANDIN_GATEWAY_ARGV"]))
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
    except InterruptedError:
        continue
"""

_GATEWAY = r"""
trap 'kill -HUP $(jobs -p) 2>/dev/null; wait; exit 0' TERM INT
while IFS=$'\t' read -r d n f busy lock; do
  [ -n "$d" ] || continue
  N="$n" F="$f" BUSY="$busy" LOCK="$lock" bash -c "$STANDIN_ROOT" chrome "$STANDIN_FLAG=$d" --headless=new --no-sandbox &
done <<< "$STANDIN_SPECS"
while [ -n "$(jobs -p)" ]; do wait; done
"""

_ROOT = r"""
d="${1#*=}"
files=("$d/SingletonLock" "$d/SingletonSocket" "$d/SingletonCookie")
trap 'kill $(jobs -p) 2>/dev/null; wait; [ "$LOCK" = 1 ] && rm -f "${files[@]}"; exit 0' HUP INT
trap 'kill $(jobs -p) 2>/dev/null; wait; exit 0' TERM
if [ "$LOCK" = 1 ]; then
  ln -sfn "$STANDIN_HOST-$$" "$d/SingletonLock"
  ln -sfn "/tmp/.org.chromium.Chromium.standin/SingletonSocket" "$d/SingletonSocket"
  ln -sfn "$RANDOM$RANDOM" "$d/SingletonCookie"
fi
r="chrome --type=renderer $1"
for ((i = 0; i < N; i++)); do
  if [ "$i" -lt "$F" ]; then (exec -a "$r" sleep 86400) & else sleep 86400 & fi
done
if [ "$BUSY" = 1 ]; then { while :; do :; done; } & fi
while :; do wait; done
"""


def this_host() -> str:
    """The hostname Chromium writes into SingletonLock (gethostname)."""
    return socket.gethostname()


@dataclass(frozen=True)
class BrowserSpec:
    """One stand-in browser: its profile dir and the shape of its tree."""

    user_data_dir: Path
    children: int = 3
    flagged_children: int | None = None  # children carrying the flag; None = all but one (a zygote-like helper)
    busy: bool = False  # one more child spinning the CPU, for cpu_percent
    lock: bool = True  # write SingletonLock/Socket/Cookie like Chromium (removed on SIGHUP/SIGINT, not SIGTERM)

    @property
    def process_count(self) -> int:
        return 1 + self.children + (1 if self.busy else 0)

    def _line(self) -> str:
        flagged = self.children - 1 if self.flagged_children is None else self.flagged_children
        path = str(Path(self.user_data_dir).resolve())
        if "\t" in path or "\n" in path:
            raise ValueError("profile dir must not contain tabs or newlines")
        return "\t".join([path, str(self.children), str(max(0, flagged)), str(int(self.busy)), str(int(self.lock))])


class StandInGateway:
    """A stand-in gateway process whose children are stand-in browsers, all under a reaper we own."""

    def __init__(self, specs: Sequence[BrowserSpec], *, hostname: str | None = None) -> None:
        self.specs = list(specs)
        self.hostname = hostname or this_host()
        self._reaper: subprocess.Popen[bytes] | None = None
        self.gateway_pid: int | None = None

    # --- lifecycle ---

    def start(self, timeout_s: float = 15.0) -> StandInGateway:
        """Spawn everything and wait until every process (and every lock) is in place."""
        for spec in self.specs:
            Path(spec.user_data_dir).mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update({
            "STANDIN_GATEWAY_ARGV": _json_argv(["bash", "-c", _GATEWAY, "node-standin-gateway"]),
            "STANDIN_ROOT": _ROOT,
            "STANDIN_FLAG": "--user-data-dir",
            "STANDIN_HOST": self.hostname,
            "STANDIN_SPECS": "\n".join(s._line() for s in self.specs) + "\n",
        })
        self._reaper = subprocess.Popen(
            [sys.executable, "-c", _REAPER, "pulse-tui-standin-reaper"],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,  # one process group: close() can always reach every stand-in
        )
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self.close()
            raise
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        want = 1 + sum(s.process_count for s in self.specs)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            procs = self.processes()
            gateway = [p for p in procs if p.ppid == self.reaper_pid]
            locks_ok = all((Path(s.user_data_dir) / "SingletonLock").is_symlink() for s in self.specs if s.lock)
            # A child bash forked but not yet exec'd still carries its browser's argv: a scan then would take it
            # for a second browser. Only the busy loops keep that argv for good.
            by_pid = {p.pid: p for p in procs}
            forked = sum(1 for p in procs if p.ppid in by_pid and by_pid[p.ppid].cmdline == p.cmdline)
            settled = forked <= sum(1 for s in self.specs if s.busy)
            if len(procs) >= want and gateway and locks_ok and settled:
                self.gateway_pid = gateway[0].pid
                return
            time.sleep(0.02)
        raise TimeoutError(f"stand-in browsers not up after {timeout_s} s")

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop every stand-in (SIGTERM: their locks stay), then SIGKILL what is left; the reaper reaps all."""
        if self._reaper is None:
            return
        pgid = self._reaper.pid
        _killpg(pgid, signal.SIGTERM)
        try:
            self._reaper.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _killpg(pgid, signal.SIGKILL)
            self._reaper.wait(timeout=timeout_s)
        self._reaper = None

    def __enter__(self) -> StandInGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- queries ---

    @property
    def reaper_pid(self) -> int:
        if self._reaper is None:
            raise RuntimeError("not started")
        return self._reaper.pid

    def processes(self) -> list[SimpleProc]:
        """Every live process below the reaper."""
        if self._reaper is None:
            return []
        try:
            children = psutil.Process(self._reaper.pid).children(recursive=True)
        except psutil.Error:
            return []
        out = []
        for child in children:
            try:
                with child.oneshot():
                    if child.status() == psutil.STATUS_ZOMBIE:
                        continue
                    out.append(SimpleProc(child.pid, child.ppid(), tuple(child.cmdline())))
            except psutil.Error:
                continue
        return out

    def tree_pids(self, user_data_dir: Path | str) -> list[int]:
        """The root pid of that browser first, then its descendants."""
        root = self.root_pid(user_data_dir)
        if root is None:
            return []
        try:
            kids = psutil.Process(root).children(recursive=True)
        except psutil.Error:
            return [root]
        return [root] + sorted(k.pid for k in kids)

    def root_pid(self, user_data_dir: Path | str) -> int | None:
        """The browser process of that profile dir (not its forked busy loop, which shares its argv)."""
        want = str(Path(user_data_dir).resolve())
        procs = self.processes()
        by_pid = {p.pid: p for p in procs}
        for p in procs:
            if user_data_dir_of(p.cmdline) != want or p.cmdline[:1] != ("bash",):
                continue
            parent = by_pid.get(p.ppid)
            if parent is None or parent.cmdline != p.cmdline:
                return p.pid
        return None

    # --- faults ---

    def orphan(self) -> int:
        """SIGKILL the gateway: its browsers keep running, now orphaned. Returns the dead gateway pid."""
        pid = self.gateway_pid
        if pid is None:
            raise RuntimeError("not started")
        os.kill(pid, signal.SIGKILL)
        _wait_dead([pid])
        return pid

    def crash(self, user_data_dir: Path | str) -> int:
        """SIGKILL one browser tree like a crash or `kill -9`: its SingletonLock stays (stale). Returns its pid."""
        pids = self.tree_pids(user_data_dir)
        if not pids:
            raise LookupError(f"no stand-in browser for {user_data_dir}")
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _wait_dead(pids)
        return pids[0]

    def stop(self, user_data_dir: Path | str) -> None:
        """SIGHUP one browser: a clean shutdown that removes its lock."""
        pids = self.tree_pids(user_data_dir)
        if pids:
            os.kill(pids[0], signal.SIGHUP)
            _wait_dead(pids)


@dataclass(frozen=True)
class SimpleProc:
    pid: int
    ppid: int
    cmdline: tuple[str, ...]


def _json_argv(argv: list[str]) -> str:
    return json.dumps(argv)


def _killpg(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _wait_dead(pids: Iterable[int], timeout_s: float = 10.0) -> None:
    """Until every pid is gone or a zombie (the reaper reaps them right after)."""
    deadline = time.monotonic() + timeout_s
    left = list(pids)
    while left and time.monotonic() < deadline:
        left = [p for p in left if _running(p)]
        if left:
            time.sleep(0.02)


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


# --- profile locks ----------------------------------------------------------------


def dead_pid() -> int:
    """A pid that certainly belonged to a process and is dead now (spawned and reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def write_lock(profile_dir: Path, host: str, pid: int) -> None:
    """Write Chromium's three Singleton symlinks into `profile_dir`, replacing any there."""
    profile_dir = Path(profile_dir)
    profile_dir.mkdir(parents=True, exist_ok=True)
    targets = {
        "SingletonLock": f"{host}-{pid}",
        "SingletonSocket": "/tmp/.org.chromium.Chromium.standin/SingletonSocket",
        "SingletonCookie": "1234567890123456789",
    }
    for name, target in targets.items():
        path = profile_dir / name
        if path.is_symlink() or path.exists():
            path.unlink()
        os.symlink(target, path)


def make_stale_lock(profile_dir: Path, *, hostname: str | None = None) -> int:
    """A lock left by a browser that died on this host (a real, reaped pid). Returns that pid."""
    pid = dead_pid()
    write_lock(profile_dir, hostname or this_host(), pid)
    return pid


def make_foreign_lock(profile_dir: Path, *, host: str = "another-vps", pid: int = 4242) -> None:
    """A lock written on another machine (a copied profile, or a container whose hostname changed)."""
    write_lock(profile_dir, host, pid)


def make_orphan(spec: BrowserSpec, *, hostname: str | None = None) -> StandInGateway:
    """A running browser tree whose gateway is gone. Close the returned object to clean it up."""
    gw = StandInGateway([spec], hostname=hostname).start()
    gw.orphan()
    return gw


# --- one stand-in browser per simulated session -------------------------------------------


@dataclass
class _Launched:
    session_id: str
    profile_dir: Path
    proc: subprocess.Popen[bytes]


class SessionBrowsers:
    """Stand-in browsers the gateway simulator starts and stops with its sessions, as children of this process
    (like Chromium under the gateway's node). Each runs in its own process group so one signal reaches its tree.

    `detach` forgets a browser without stopping it (an orphan); `crash` SIGKILLs one (its lock stays: stale).
    `close_all` stops everything, orphans included. Thread-safe enough for the simulator: it calls under its lock.
    """

    def __init__(self, *, children: int = 3, hostname: str | None = None, lock: bool = True,
                 ready_timeout_s: float = 5.0) -> None:
        self.children = children
        self.hostname = hostname or this_host()
        self.lock = lock
        self.ready_timeout_s = ready_timeout_s
        self._running: dict[str, _Launched] = {}
        self._detached: list[_Launched] = []

    def blocking_lock(self, profile_dir: Path) -> str | None:
        """The launch error Chromium gives when a lock holds this profile: None for a same-host lock whose pid is
        dead (Chromium removes it and starts), exit 21 for a lock from another hostname, "already running" else."""
        info = check_lock(profile_dir, hostname=self.hostname)
        if info.state in (LockState.NONE, LockState.UNKNOWN, LockState.STALE):
            return None
        if info.state == LockState.FOREIGN:
            return (f"Failed to launch the browser process! Code: 21. The profile appears to be in use by another "
                    f"Chromium process ({info.pid}) on another computer ({info.host}). Chromium has locked the "
                    "profile so that it doesn't get corrupted.")
        return (f"Failed to launch the browser process! The browser is already running for {info.profile_dir}. "
                "Use a different `userDataDir` or stop the running browser first.")

    def launch(self, session_id: str, profile_dir: Path) -> int:
        """Start the session's browser (stopping a previous one of the same session); returns its pid."""
        self.close(session_id)
        profile_dir = Path(profile_dir)
        profile_dir.mkdir(parents=True, exist_ok=True)
        flagged = max(0, self.children - 1)
        env = dict(os.environ)
        env.update({"N": str(self.children), "F": str(flagged), "BUSY": "0", "LOCK": str(int(self.lock)),
                    "STANDIN_HOST": self.hostname})
        proc = subprocess.Popen(
            ["bash", "-c", _ROOT, "chrome", f"--user-data-dir={profile_dir.resolve()}", "--headless=new",
             "--no-sandbox"],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._running[session_id] = _Launched(session_id, profile_dir, proc)
        self._wait_ready(proc, profile_dir)
        return proc.pid

    def _wait_ready(self, proc: subprocess.Popen[bytes], profile_dir: Path) -> None:
        # Until the lock is written and the children exist: a scan right after the start sees the whole tree.
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                kids = len(psutil.Process(proc.pid).children())
            except psutil.Error:
                return
            locked = not self.lock or (profile_dir / "SingletonLock").is_symlink()
            if locked and kids >= self.children:
                return
            time.sleep(0.01)

    def pid(self, session_id: str) -> int | None:
        """The browser root pid of a session's running (attached) browser."""
        b = self._running.get(session_id)
        return b.proc.pid if b is not None and b.proc.poll() is None else None

    def pids(self) -> dict[str, int]:
        """Session id → browser root pid, for every attached browser still running."""
        return {sid: b.proc.pid for sid, b in self._running.items() if b.proc.poll() is None}

    def close(self, session_id: str, timeout_s: float = 5.0) -> bool:
        """Clean shutdown (SIGHUP: the browser removes its lock); SIGKILL after `timeout_s`. False when none ran."""
        b = self._running.pop(session_id, None)
        if b is None:
            return False
        _stop_group(b.proc, timeout_s)
        return True

    def crash(self, session_id: str) -> int | None:
        """SIGKILL the session's whole browser like a crash or `kill -9`: its SingletonLock stays, now stale."""
        b = self._running.pop(session_id, None)
        if b is None:
            return None
        if b.proc.poll() is None:
            # Children first, while the root still lives to reap them (nothing is left as a zombie under init),
            # then the root: SIGKILL, so its trap never runs and the lock stays.
            try:
                kids = psutil.Process(b.proc.pid).children(recursive=True)
            except psutil.Error:
                kids = []
            for kid in kids:
                with contextlib.suppress(psutil.Error):
                    kid.kill()
            psutil.wait_procs(kids, timeout=5)
            _wait_dead([k.pid for k in kids], timeout_s=5)
            _killpg(b.proc.pid, signal.SIGKILL)  # the root, and anything it forked meanwhile; still unreaped
            b.proc.wait(timeout=10)
        return b.proc.pid

    def detach(self, session_id: str) -> int | None:
        """Forget the session's browser without stopping it: from now on it is an orphan. Returns its pid."""
        b = self._running.pop(session_id, None)
        if b is None:
            return None
        self._detached.append(b)
        return b.proc.pid

    def close_all(self, timeout_s: float = 5.0) -> None:
        """Stop every browser this object started, orphans included."""
        for sid in list(self._running):
            self.close(sid, timeout_s)
        detached, self._detached = self._detached, []
        for b in detached:
            _stop_group(b.proc, timeout_s)


def _stop_group(proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    if proc.poll() is not None:
        return  # already reaped: its pid (and group id) may belong to someone else now, so no signal
    # SIGHUP to the root only: its trap stops its children and removes the lock, like a clean browser exit
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGHUP)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _killpg(proc.pid, signal.SIGKILL)  # the unreaped root still pins the group id: safe to signal
        proc.wait(timeout=timeout_s)
