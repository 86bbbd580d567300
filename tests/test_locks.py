"""Chromium profile locks with REAL symlinks, a REAL dead pid and REAL live stand-in browsers."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from pulse_tui.clock import SystemClock
from pulse_tui.model import Severity
from pulse_tui.sim.browsers import (
    LOCK_FILES,
    BrowserSpec,
    StandInGateway,
    make_foreign_lock,
    make_stale_lock,
    this_host,
    write_lock,
)
from pulse_tui.sources.locks import (
    LockState,
    QuietDirs,
    check_lock,
    check_locks,
    clear_lock_left_by,
    clear_stale_lock,
    lock_findings,
    parse_target,
)
from pulse_tui.sources.procs import ProcessMapper

UUID_A = "11111111-2222-3333-4444-555555555555"
UUID_B = "66666666-7777-8888-9999-000000000000"


@pytest.fixture
def auth_root(tmp_path: Path) -> Path:
    root = tmp_path / ".wwebjs_auth"
    root.mkdir()
    return root


@pytest.fixture
def profile(auth_root: Path) -> Path:
    """A profile dir with some Chromium content that must survive every action."""
    p = auth_root / f"session-{UUID_A}"
    (p / "Default").mkdir(parents=True)
    (p / "Default" / "Cookies").write_bytes(b"keep me")
    return p


@pytest.fixture
def browser(auth_root: Path) -> Iterator[StandInGateway]:
    gw = StandInGateway([BrowserSpec(auth_root / f"session-{UUID_B}", children=2)]).start()
    yield gw
    gw.close()


def _lock_files(p: Path) -> set[str]:
    return {n for n in LOCK_FILES if (p / n).is_symlink()}


def test_parse_target_splits_at_the_last_dash() -> None:
    assert parse_target("my-vps-01-4242") == ("my-vps-01", 4242)
    assert parse_target("host-") is None
    assert parse_target("4242") is None
    assert parse_target("host-abc") is None


def test_no_lock(profile: Path) -> None:
    info = check_lock(profile)
    assert info.state == LockState.NONE and info.files == ()


def test_stale_lock_from_a_real_dead_pid(profile: Path) -> None:
    pid = make_stale_lock(profile)
    assert not psutil.pid_exists(pid)
    info = check_lock(profile, session_id=UUID_A)
    assert info.state == LockState.STALE
    assert (info.host, info.pid) == (this_host(), pid)
    assert set(info.files) == set(LOCK_FILES)
    assert os.readlink(profile / "SingletonLock") == f"{this_host()}-{pid}"  # checking changed nothing


def test_a_zombie_owner_counts_as_dead(profile: Path) -> None:
    proc = subprocess.Popen(["true"])
    try:
        deadline = time.monotonic() + 10
        while psutil.Process(proc.pid).status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.01)
        write_lock(profile, this_host(), proc.pid)
        assert check_lock(profile).state == LockState.STALE
    finally:
        proc.wait()


def test_live_lock_of_the_sessions_own_browser(auth_root: Path, browser: StandInGateway) -> None:
    p = auth_root / f"session-{UUID_B}"
    root = browser.root_pid(p)
    report = ProcessMapper([auth_root], SystemClock()).scan()
    with_map = check_lock(p, browser_pids=report.session(UUID_B).pids)  # type: ignore[union-attr]
    assert with_map.state == LockState.LIVE and with_map.pid == root
    assert check_lock(p).state == LockState.LIVE  # without the map: the holder's argv names this profile


def test_conflict_when_the_pid_is_alive_but_not_this_browser(profile: Path, auth_root: Path,
                                                             browser: StandInGateway) -> None:
    write_lock(profile, this_host(), os.getpid())  # alive, but it is pytest
    assert check_lock(profile).state == LockState.CONFLICT
    other = browser.root_pid(auth_root / f"session-{UUID_B}")  # a browser, but of ANOTHER profile
    write_lock(profile, this_host(), other)  # type: ignore[arg-type]
    info = check_lock(profile)
    assert info.state == LockState.CONFLICT and info.holder


def test_foreign_and_malformed_locks(profile: Path) -> None:
    make_foreign_lock(profile, host="another-vps", pid=os.getpid())
    info = check_lock(profile)
    assert info.state == LockState.FOREIGN and info.host == "another-vps"
    for name in LOCK_FILES:
        (profile / name).unlink()
    (profile / "SingletonLock").write_text("not a symlink")
    assert check_lock(profile).state == LockState.UNKNOWN
    (profile / "SingletonLock").unlink()
    os.symlink("garbage", profile / "SingletonLock")
    assert check_lock(profile).state == LockState.UNKNOWN


# --- clear-stale-lock -------------------------------------------------------------------


def test_clear_stale_lock_removes_exactly_the_three_files(profile: Path) -> None:
    make_stale_lock(profile)
    result = clear_stale_lock(profile, read_only=False)
    assert result.ok and not result.refused, result.message
    assert set(result.removed) == set(LOCK_FILES)
    assert _lock_files(profile) == set()
    assert (profile / "Default" / "Cookies").read_bytes() == b"keep me"
    assert check_lock(profile).state == LockState.NONE


def test_clear_refuses_in_read_only_mode(profile: Path) -> None:
    make_stale_lock(profile)
    result = clear_stale_lock(profile, read_only=True)
    assert result.refused and not result.ok
    assert _lock_files(profile) == set(LOCK_FILES)


def test_clear_refuses_when_the_pid_is_alive(profile: Path, auth_root: Path, browser: StandInGateway) -> None:
    write_lock(profile, this_host(), os.getpid())
    result = clear_stale_lock(profile, read_only=False)
    assert result.refused and result.lock is not None and result.lock.state == LockState.CONFLICT
    assert _lock_files(profile) == set(LOCK_FILES)

    live = auth_root / f"session-{UUID_B}"
    result = clear_stale_lock(live, read_only=False)
    assert result.refused and "running browser" in result.message
    assert _lock_files(live) == set(LOCK_FILES)


def test_clear_refuses_when_the_host_differs(profile: Path) -> None:
    pid = make_stale_lock(profile, hostname="another-vps")  # dead pid, but on another machine
    result = clear_stale_lock(profile, read_only=False)
    assert result.refused and "another host" in result.message
    assert os.readlink(profile / "SingletonLock") == f"another-vps-{pid}"


def test_clear_refuses_a_symlinked_profile_dir(profile: Path, tmp_path: Path) -> None:
    make_stale_lock(profile)
    link = tmp_path / "link"
    link.symlink_to(profile)
    assert clear_stale_lock(link, read_only=False).refused
    assert _lock_files(profile) == set(LOCK_FILES)


def test_a_crashed_browser_leaves_a_stale_lock_that_can_be_cleared(auth_root: Path,
                                                                   browser: StandInGateway) -> None:
    p = auth_root / f"session-{UUID_B}"
    assert check_lock(p).state == LockState.LIVE
    dead = browser.crash(p)  # kill -9: Chromium gets no chance to remove its lock
    info = check_lock(p)
    assert info.state == LockState.STALE and info.pid == dead
    assert clear_stale_lock(p, read_only=False).ok
    assert check_lock(p).state == LockState.NONE


def test_after_a_kill_only_the_lock_naming_the_killed_pid_is_removed(profile: Path) -> None:
    dead = make_stale_lock(profile)  # SIGTERM'd or SIGKILL'd Chromium: its lock names it
    other = clear_lock_left_by(profile, dead + 1, read_only=False)
    assert other.ok and other.removed == () and os.path.islink(profile / "SingletonLock")  # not the killed pid
    assert clear_lock_left_by(profile, dead, read_only=True).refused  # read-only: nothing removed
    done = clear_lock_left_by(profile, dead, read_only=False)
    assert done.ok and set(done.removed) == set(LOCK_FILES) and _lock_files(profile) == set()
    assert (profile / "Default" / "Cookies").read_bytes() == b"keep me"
    gone = clear_lock_left_by(profile, dead, read_only=False)
    assert gone.ok and "Chromium removed its lock" in gone.message  # a clean exit already removed it
    write_lock(profile, "another-vps", dead)  # same pid number, another host: never ours to remove
    assert clear_lock_left_by(profile, dead, read_only=False).removed == ()
    assert os.path.islink(profile / "SingletonLock")


# --- many dirs, findings, status facts -----------------------------------------------------


def test_check_locks_findings(auth_root: Path, profile: Path, browser: StandInGateway) -> None:
    foreign = auth_root / "session-33333333-3333-3333-3333-333333333333"
    make_foreign_lock(foreign)
    make_stale_lock(profile)
    live = auth_root / f"session-{UUID_B}"
    report = ProcessMapper([auth_root], SystemClock()).scan()
    dirs = [(UUID_A, profile), (UUID_B, live), ("33333333-3333-3333-3333-333333333333", foreign)]
    locks = check_locks(dirs, report)
    assert [lk.state for lk in locks] == [LockState.STALE, LockState.LIVE, LockState.FOREIGN]

    findings = lock_findings(locks)
    assert [f.code for f in findings] == ["browser-stale-lock", "browser-lock-foreign"]
    assert findings[0].subjects == (UUID_A,) and "Chromium will clear it" in findings[0].message
    # same host + dead pid heals itself (info); another hostname fails the next start with exit 21 (critical)
    assert [f.severity for f in findings] == [Severity.INFO, Severity.CRITICAL]
    assert "exit code 21" in findings[1].message and "container restart" in findings[1].message
    assert "only if no browser on the other host" in findings[1].hint



def _age(path: Path, seconds: float = 3600) -> None:
    """Backdate a dir's mtime past QuietDirs' racy window (as a profile untouched for an hour)."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_quiet_dirs_answer_as_a_full_check_and_see_a_lock_appear(profile: Path) -> None:
    quiet = QuietDirs()
    dirs = [(UUID_A, str(profile))]
    _age(profile)
    first = check_locks(dirs, quiet=quiet)
    assert first == check_locks(dirs) and first[0].state == LockState.NONE
    assert check_locks(dirs, quiet=quiet)[0] is first[0]  # unchanged dir: the answer kept, one stat
    pid = make_stale_lock(profile)  # Chromium's lock is a new entry: the dir's mtime moves
    seen = check_locks(dirs, quiet=quiet)[0]
    assert (seen.state, seen.pid) == (LockState.STALE, pid)
    _age(profile)
    assert check_locks(dirs, quiet=quiet)[0].state == LockState.STALE  # a lock is always checked again
    for name in LOCK_FILES:
        (profile / name).unlink()
    assert check_locks(dirs, quiet=quiet)[0].state == LockState.NONE


def test_quiet_dirs_never_keep_a_dir_changed_within_the_racy_window(profile: Path) -> None:
    quiet = QuietDirs()
    dirs = [(UUID_A, str(profile))]
    first = check_locks(dirs, quiet=quiet)  # the fixture just wrote the dir: too fresh to trust its mtime
    assert check_locks(dirs, quiet=quiet)[0] is not first[0]
    _age(profile)
    kept = check_locks(dirs, quiet=quiet)[0]
    assert check_locks(dirs, quiet=quiet)[0] is kept
    assert check_locks([("other-session", str(profile))], quiet=quiet)[0].session_id == "other-session"
