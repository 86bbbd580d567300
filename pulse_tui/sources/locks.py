"""Chromium profile locks in LocalAuth dirs: `SingletonLock` (symlink → `<hostname>-<pid>`), with
`SingletonSocket` and `SingletonCookie` beside it. A crash or `kill -9` leaves them behind. What that costs
depends on whom the lock names (measured with Debian's Chromium):
- this host, pid dead: Chromium removes the lock itself and starts normally (info);
- this host, pid alive but not a browser of this profile (a reused pid): Chromium refuses the profile (warning);
- another hostname: Chromium exits with code 21 ("profile appears to be in use by another Chromium process on
  another computer"); this is what a container restart with a new hostname leaves behind (critical).

Only `os.readlink`/`lstat`: a lock is never followed. The only write is `clear_stale_lock`, which re-checks at
the moment of acting and removes the three files only when the owning pid is provably dead on this host.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cached_property
from pathlib import Path

import psutil

from pulse_tui.findings import finding
from pulse_tui.model import Finding, LockView
from pulse_tui.sources.procs import HostReport, user_data_dir_of
from pulse_tui.stat_memo import StatMemo

LOCK = "SingletonLock"
LOCK_FILES = (LOCK, "SingletonSocket", "SingletonCookie")


class LockState(StrEnum):
    NONE = "none"
    STALE = "stale"  # this host, pid dead: Chromium clears it at the next start
    LIVE = "live"  # this host, pid alive and it is this profile's browser
    CONFLICT = "conflict"  # this host, pid alive but some other process (pid reused, or another profile)
    FOREIGN = "foreign"  # written on another host: the next start exits with code 21; never touched
    UNKNOWN = "unknown"  # unreadable or malformed: never touched


@dataclass(frozen=True)
class LockInfo:
    """The lock state of one profile dir, with what it was decided from."""

    profile_dir: str
    state: LockState
    session_id: str = ""
    host: str | None = None
    pid: int | None = None
    files: tuple[str, ...] = ()  # which Singleton* entries exist
    holder: str = ""  # for a live pid: its process name
    detail: str = ""

    @cached_property
    def view(self) -> LockView:
        """The lock as the details pane shows it; built once per answer (a quiet dir's answer, and so its view, is
        the same object every poll)."""
        return LockView(state=self.state.value, profile_dir=self.profile_dir, host=self.host, pid=self.pid,
                        files=self.files, holder=self.holder, detail=self.detail)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready facts (paths, host, pid: nothing secret)."""
        return {
            "session_id": self.session_id,
            "profile_dir": self.profile_dir,
            "state": self.state.value,
            "host": self.host,
            "pid": self.pid,
            "files": list(self.files),
            "holder": self.holder,
            "detail": self.detail,
        }


def parse_target(target: str) -> tuple[str, int] | None:
    """`<hostname>-<pid>` → (hostname, pid); hostnames may contain dashes, so split at the last one."""
    host, sep, pid = target.rpartition("-")
    if not sep or not host or not pid.isdigit():
        return None
    return host, int(pid)


def check_lock(
    profile_dir: Path | str,
    *,
    session_id: str = "",
    hostname: str | None = None,
    browser_pids: Collection[int] = (),
) -> LockInfo:
    """Classify the lock in one profile dir. `browser_pids`: this session's browser pids from the process map."""
    return _check_lock(os.path.normpath(os.path.abspath(profile_dir)), session_id, hostname, browser_pids)


def _check_lock(pdir: str, session_id: str, hostname: str | None, browser_pids: Collection[int]) -> LockInfo:
    """`check_lock` of a path already absolute and normal."""
    files = _present(pdir)
    found = LockInfo(profile_dir=pdir, state=LockState.NONE, session_id=session_id, files=files)
    if LOCK not in files:
        return found
    try:
        target = os.readlink(os.path.join(pdir, LOCK))
    except OSError as exc:
        reason = "not a symlink" if exc.errno == errno.EINVAL else (exc.strerror or "unreadable")
        return replace(found, state=LockState.UNKNOWN, detail=f"{LOCK}: {reason}")
    parsed = parse_target(target)
    if parsed is None:
        return replace(found, state=LockState.UNKNOWN, detail=f"{LOCK} target is not <host>-<pid>")
    host, pid = parsed
    found = replace(found, host=host, pid=pid)
    if host != (hostname or socket.gethostname()):
        return replace(found, state=LockState.FOREIGN, detail=f"written on host {host}")
    state, holder, detail = _holder_state(pid, pdir, browser_pids)
    return replace(found, state=state, holder=holder, detail=detail)


def _present(pdir: str) -> tuple[str, ...]:
    out = []
    for name in LOCK_FILES:
        try:
            os.lstat(os.path.join(pdir, name))
            out.append(name)
        except OSError:
            continue
    return tuple(out)


def _holder_state(pid: int, pdir: str, browser_pids: Collection[int]) -> tuple[LockState, str, str]:
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            if proc.status() == psutil.STATUS_ZOMBIE:
                return LockState.STALE, "", f"pid {pid} has exited (zombie, not yet reaped)"
            name = proc.name()
            if pid in browser_pids:
                return LockState.LIVE, name, ""
            cmd = proc.cmdline()
    except psutil.NoSuchProcess:
        return LockState.STALE, "", f"pid {pid} is not running"
    except psutil.AccessDenied:
        return LockState.UNKNOWN, "", f"pid {pid} is alive but cannot be inspected"
    udd = user_data_dir_of(cmd)
    if udd and not os.path.isabs(udd):
        try:
            udd = os.path.join(proc.cwd(), udd)  # Chromium resolves it against its own cwd, not ours
        except psutil.Error:
            udd = None
    if udd and _same_dir(udd, pdir):
        return LockState.LIVE, name, ""
    return LockState.CONFLICT, name, f"pid {pid} is alive but is not this profile's browser ({name or '?'})"


def _same_dir(a: str, b: str) -> bool:
    return os.path.normpath(a) == os.path.normpath(b) or os.path.realpath(a) == os.path.realpath(b)


class QuietDirs:
    """Profile dirs last seen with no Singleton* entry: for a poller, one stat per quiet dir while it is unchanged.

    Chromium creates SingletonLock (and its two companions) as entries of the profile dir, which changes the
    dir's mtime; while the dir is unchanged (pulse_tui/stat_memo.py) no lock can have appeared, and a dir without
    a lock has no pid whose liveness could change. Three lstats per dir were ~13 us of a 100-dir check (1.3 ms a
    poll), a stat is ~1.5.
    """

    def __init__(self) -> None:
        self._seen: StatMemo[LockInfo] = StatMemo()  # normalised dir -> its lock-free answer

    def known(self, pdir: str, st: os.stat_result, session_id: str) -> LockInfo | None:
        """The lock-free answer for `pdir` when the dir is unchanged since it was given (and for this session)."""
        hit = self._seen.get(pdir, st)
        return hit if hit is not None and hit.session_id == session_id else None

    def keep(self, pdir: str, st: os.stat_result, info: LockInfo) -> None:
        """Remember a dir found with no Singleton* entry at all; any other answer is checked again each time."""
        if info.state != LockState.NONE or info.files:
            self._seen.drop(pdir)
        else:
            self._seen.put(pdir, st, info)


def check_locks(
    dirs: Iterable[tuple[str, Path | str]],
    report: HostReport | None = None,
    *,
    hostname: str | None = None,
    quiet: QuietDirs | None = None,
    normal: bool = False,
) -> tuple[LockInfo, ...]:
    """Check every (session id, profile dir); the host report supplies each session's browser pids.

    With `quiet` (a poller's), a dir unchanged since it was seen without a lock costs one stat. `normal`: the dirs
    are absolute and normal already (`monitor.host.lock_dirs` gives them so)."""
    out = []
    for session_id, given in dirs:
        # Made absolute and normal once: the quiet memo, the browser map and the check all take it as it is.
        pdir = os.fspath(given) if normal else os.path.normpath(os.path.abspath(given))
        st = None
        if quiet is not None:
            try:
                st = os.stat(pdir)
            except OSError:
                st = None
            hit = quiet.known(pdir, st, session_id) if st is not None else None
            if hit is not None:
                out.append(hit)
                continue
        sp = report.for_normal_dir(pdir) if report is not None else None
        info = _check_lock(pdir, session_id, hostname, sp.pids if sp is not None else ())
        if quiet is not None and st is not None:
            quiet.keep(pdir, st, info)
        out.append(info)
    return tuple(out)


# --- action ------------------------------------------------------------------------


@dataclass(frozen=True)
class ClearLockResult:
    ok: bool
    refused: bool
    message: str
    lock: LockInfo | None = None  # the state found at the moment of acting
    removed: tuple[str, ...] = ()


def clear_stale_lock(
    profile_dir: Path | str,
    *,
    read_only: bool,
    hostname: str | None = None,
    browser_pids: Collection[int] = (),
) -> ClearLockResult:
    """Remove SingletonLock/Socket/Cookie, only if the lock is stale NOW (this host, owning pid dead).

    Refuses, touching nothing, in read-only mode and for any other state. Never raises for expected failures.
    """
    if read_only:
        return ClearLockResult(False, True, "read-only mode: nothing removed")
    pdir = os.path.normpath(os.path.abspath(profile_dir))
    if os.path.islink(pdir) or not os.path.isdir(pdir):
        return ClearLockResult(False, True, f"{pdir} is not a plain directory: nothing removed")
    info = check_lock(pdir, hostname=hostname, browser_pids=browser_pids)
    if info.state != LockState.STALE:
        return ClearLockResult(False, True, _refusal(info), info)
    expected = f"{info.host}-{info.pid}"
    removed: list[str] = []
    for name in LOCK_FILES:
        path = os.path.join(pdir, name)
        try:
            # a browser starting right now would write a NEW lock: leave any lock that is not the one checked
            if name == LOCK and os.readlink(path) != expected:
                return ClearLockResult(False, True, "the lock changed while clearing it: nothing more removed",
                                       info, tuple(removed))
            os.unlink(path)
            removed.append(name)
        except FileNotFoundError:
            continue
        except OSError as exc:
            return ClearLockResult(False, False, f"could not remove {name}: {exc.strerror or type(exc).__name__}",
                                   info, tuple(removed))
    return ClearLockResult(True, False, f"removed the stale lock of pid {info.pid} in {pdir}", info, tuple(removed))


def clear_lock_left_by(
    profile_dir: Path | str,
    pid: int,
    *,
    read_only: bool,
    hostname: str | None = None,
) -> ClearLockResult:
    """After killing browser `pid`: remove the lock only if it still names that pid on this host and it is dead.

    A lock Chromium already removed, or one a new browser wrote since, is left alone (ok, nothing removed).
    """
    pdir = os.path.normpath(os.path.abspath(profile_dir))
    info = check_lock(pdir, hostname=hostname)
    if info.state == LockState.NONE:
        return ClearLockResult(True, False, "Chromium removed its lock", info)
    if info.pid != pid or info.state != LockState.STALE:
        return ClearLockResult(True, False, f"the lock now names pid {info.pid} on {info.host}: left alone", info)
    return clear_stale_lock(pdir, read_only=read_only, hostname=hostname)


def _refusal(info: LockInfo) -> str:
    return {
        LockState.NONE: "no lock to clear",
        LockState.LIVE: f"the lock belongs to a running browser (pid {info.pid}): nothing removed",
        LockState.CONFLICT: f"pid {info.pid} is alive ({info.holder or 'unknown process'}): nothing removed",
        LockState.FOREIGN: f"the lock was written on another host ({info.host}): nothing removed",
        LockState.UNKNOWN: f"cannot tell whether the lock is stale ({info.detail}): nothing removed",
    }.get(info.state, "not a stale lock: nothing removed")


# --- findings / status facts --------------------------------------------------------


def lock_findings(locks: Iterable[LockInfo]) -> tuple[Finding, ...]:
    """Findings for stale, conflicting, foreign and unreadable locks, with fix hints."""
    out = []
    for lk in locks:
        who = lk.session_id or lk.profile_dir
        subjects = (lk.session_id,) if lk.session_id else ()
        if lk.state == LockState.STALE:
            out.append(finding(
                "browser-stale-lock", f"Old Chromium lock for session {who}: {lk.profile_dir}/{LOCK} names pid {lk.pid} on this host, "
                "which is dead; Chromium will clear it at the next start.",
                "Nothing to do: Chromium removes a same-host lock whose pid is dead. Clearing it from pulse-tui "
                "is optional.", subjects))
        elif lk.state == LockState.CONFLICT:
            out.append(finding(
                "browser-lock-conflict", f"Chromium lock for session {who} names pid {lk.pid}, alive but not a Chromium of this profile "
                f"({lk.holder or '?'}): the next start of this session may refuse the profile.",
                "The pid was probably reused after a crash: make sure no browser uses this profile, stop the session, "
                f"then remove {LOCK} by hand.", subjects))
        elif lk.state == LockState.FOREIGN:
            out.append(finding(
                "browser-lock-foreign", f"Chromium lock for session {who} was written on host {lk.host} (pid {lk.pid}): the next start of "
                "this session fails with exit code 21. This happens after a container restart with a new hostname.",
                "Clear it only if no browser on the other host uses this profile: remove "
                f"{LOCK}, SingletonSocket and SingletonCookie in {lk.profile_dir} by hand.", subjects))
        elif lk.state == LockState.UNKNOWN:
            out.append(finding(
                "browser-lock-unreadable", f"Cannot read the Chromium lock for session {who}: {lk.detail}.",
                f"Inspect {lk.profile_dir}/{LOCK} by hand.", subjects))
    return tuple(out)

