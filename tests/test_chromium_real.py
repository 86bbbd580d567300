"""Host facts against a REAL Chromium (Debian's `chromium`, headless, about:blank, no network).

`make test` installs it with apt when it is missing and the user is root; elsewhere these tests skip and say
why. Every browser runs with its own --user-data-dir under tmp_path; the fixture kills every process it
started (browsers, their children, their crash handlers, the python parent) whatever the test did.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from pulse_tui.clock import SystemClock
from pulse_tui.config import Config
from pulse_tui.model import Severity
from pulse_tui.monitor.host import HostSource, lock_dirs
from pulse_tui.sources.locks import (
    LOCK,
    LockState,
    check_lock,
    check_locks,
    clear_lock_left_by,
    lock_findings,
)
from pulse_tui.sources.procs import (
    BrowserTree,
    HostReport,
    Outcome,
    ProcessMapper,
    crashpad_handlers,
    find_orphans,
    kill_orphan,
)

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or not sys.platform.startswith("linux"),
    reason="needs Debian's `chromium` on Linux (`make test` installs it with apt when run as root)",
)

UID_A = "aaaaaaaa-1111-4222-8333-444444444444"
UID_B = "bbbbbbbb-1111-4222-8333-444444444444"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")
READY_S = 40.0  # a cold Chromium start on a loaded 2-core machine; never a timing assertion

# The parent stands for the gateway (node under pm2 in production): it launches the browsers and stays.
_PARENT = r"""
import json, subprocess, sys, time
specs = json.loads(sys.argv[1])
procs = [subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL) for argv, cwd in specs]
print(json.dumps([p.pid for p in procs]), flush=True)
while True:
    time.sleep(3600)
"""


def chromium_argv(user_data_dir: str | Path) -> list[str]:
    assert CHROMIUM is not None
    return [CHROMIUM, *FLAGS, f"--user-data-dir={user_data_dir}", "about:blank"]


@dataclass
class Chromiums:
    """Every process the test started, by (pid, create_time), so teardown never signals a recycled pid."""

    started: dict[int, float] = field(default_factory=dict)
    parents: list[subprocess.Popen[bytes]] = field(default_factory=list)
    direct: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def record(self, pids: list[int]) -> None:
        for pid in pids:
            try:
                self.started.setdefault(pid, psutil.Process(pid).create_time())
            except psutil.Error:
                continue

    def under_parent(self, specs: list[tuple[Path, Path | None]]) -> tuple[subprocess.Popen[bytes], list[int]]:
        """A python parent launching one Chromium per (user-data-dir as passed, cwd); returns it and their pids."""
        argv = [[*chromium_argv(udd)] for udd, _ in specs]
        payload = json.dumps([[a, str(cwd) if cwd else None] for a, (_, cwd) in zip(argv, specs, strict=True)])
        parent = subprocess.Popen([sys.executable, "-c", _PARENT, payload], stdout=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL)
        self.parents.append(parent)
        self.record([parent.pid])
        assert parent.stdout is not None
        pids = json.loads(parent.stdout.readline())
        self.record(pids)
        return parent, pids

    def launch(self, udd: Path, cwd: Path | None = None) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(chromium_argv(udd), cwd=cwd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.direct.append(proc)
        self.record([proc.pid])
        return proc

    def wait_ready(self, profile: Path, pid: int, min_procs: int = 5) -> None:
        """Until the lock names `pid` and the browser has its zygotes, gpu, utility and a renderer."""
        deadline = time.monotonic() + READY_S
        while time.monotonic() < deadline:
            try:
                target = os.readlink(profile / LOCK)
                kids = psutil.Process(pid).children(recursive=True)
            except (OSError, psutil.Error):
                kids, target = [], ""
            if target.endswith(f"-{pid}") and len(kids) + 1 >= min_procs:
                self.record([pid, *(k.pid for k in kids)])
                self.record([p.pid for p in crashpad_handlers(pid)])
                return
            time.sleep(0.2)
        raise AssertionError(f"Chromium {pid} did not get ready for {profile}")

    def close(self) -> None:
        for pid, created in self.started.items():
            try:
                proc = psutil.Process(pid)
                if abs(proc.create_time() - created) < 0.01:
                    proc.kill()
            except psutil.Error:
                continue
        for p in self.parents + self.direct:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)


@pytest.fixture
def chromiums() -> Iterator[Chromiums]:
    world = Chromiums()
    try:
        yield world
    finally:
        world.close()


def _gone(pids: list[int], timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return True
        time.sleep(0.1)
    return False


def _rollup(pid: int) -> tuple[int, int]:
    """(Pss, private) in bytes straight from /proc/PID/smaps_rollup."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            fields[name] = int(parts[0]) * 1024
    return fields["Pss"], fields["Private_Clean"] + fields["Private_Dirty"] + fields.get("Private_Hugetlb", 0)


def _tree(report: HostReport, sid: str) -> BrowserTree:
    s = report.session(sid)
    assert s is not None and len(s.trees) == 1, report
    return s.trees[0]


def _exact_scan(mapper: ProcessMapper, sid: str, root: int) -> BrowserTree:
    """A scan whose tree equals psutil's view of the browser's descendants (a renderer may spawn in between)."""
    for _ in range(5):
        tree = _tree(mapper.scan(), sid)
        expected = {root, *(k.pid for k in psutil.Process(root).children(recursive=True))}
        if set(tree.pids) == expected:
            return tree
        time.sleep(0.5)
    raise AssertionError(f"the map of {sid} never matched the real tree: {tree.pids} vs {sorted(expected)}")


async def test_two_sessions_under_a_parent_then_crash_then_orphans(tmp_path: Path, chromiums: Chromiums) -> None:
    root = tmp_path / ".wwebjs_auth"
    a, b = root / f"session-{UID_A}", root / f"session-{UID_B}"
    parent, (pid_a, pid_b) = chromiums.under_parent([(a, None), (b, None)])
    chromiums.wait_ready(a, pid_a)
    chromiums.wait_ready(b, pid_b)

    # the map: each session is exactly its browser and its descendants; crash handlers are not in it
    mapper = ProcessMapper([root], SystemClock())
    tree_a = _exact_scan(mapper, UID_A, pid_a)
    tree_b = _exact_scan(mapper, UID_B, pid_b)
    assert tree_a.root_pid == pid_a and tree_a.parent_pid == parent.pid and tree_a.adopted == ""
    handlers = crashpad_handlers(pid_a)
    assert len(handlers) == 2 and all("crashpad" in h.name() for h in handlers)  # measured: 2 per browser
    assert not {h.pid for h in handlers} & set(tree_a.pids) and not {h.pid for h in handlers} & set(tree_b.pids)
    assert not {h.pid for h in handlers} & {h.pid for h in crashpad_handlers(pid_b)}

    # PSS and USS, summed per session, within 10% of what the kernel says right now (a fresh mapper reads every
    # figure now; the long-lived one may hold figures up to MEMORY_EVERY_S old, as memory_age_s says)
    # A starting Chromium still grows: the kernel's figures are read just before and just after the scan, and the
    # scan's must lie within 10% of that range.
    def kernel(pids: tuple[int, ...]) -> tuple[int, int]:
        pss, uss = map(sum, zip(*(_rollup(p) for p in pids), strict=True))
        return pss, uss

    # A renderer starting between the reads moves every figure (a page it maps lowers the others' PSS), so a
    # miss is measured again, up to three times, once the browser has had a moment.
    for _attempt in range(3):
        trees_before = {sid: _tree(ProcessMapper([root], SystemClock()).scan(memory=False), sid).pids
                        for sid in (UID_A, UID_B)}
        before = {sid: kernel(pids) for sid, pids in trees_before.items()}
        report = ProcessMapper([root], SystemClock()).scan()
        misses = []
        for sid in (UID_A, UID_B):
            tree = _tree(report, sid)
            after = kernel(tree.pids)
            assert tree.pss_bytes is not None and tree.uss_bytes is not None
            for got, was, now in ((tree.pss_bytes, before[sid][0], after[0]),
                                  (tree.uss_bytes, before[sid][1], after[1])):
                if not 0.9 * min(was, now) <= got <= 1.1 * max(was, now):
                    misses.append((sid, got, was, now))
            assert tree.uss_bytes <= tree.pss_bytes < tree.rss_bytes  # RSS counts shared pages once per process
        if not misses:
            break
        time.sleep(1.0)
    assert not misses, misses
    assert report.total_browser_pss == sum(_tree(report, s).pss_bytes or 0 for s in (UID_A, UID_B))
    assert report.memory_age_s is not None and report.memory_age_s < 120

    # one-shot: the first scan of a host source samples twice, so cpu_percent is known at once
    source = HostSource(Config(), SystemClock(), auth_roots=[root], use_pm2=False)
    once = await source.scan()
    assert all(s.cpu_percent is not None for s in once.sessions) and len(once.sessions) == 2

    locks = check_locks([(UID_A, a), (UID_B, b)], report)
    assert [lk.state for lk in locks] == [LockState.LIVE, LockState.LIVE] and lock_findings(locks) == ()

    # kill -9 of one browser: the lock stays, names a dead pid on this host, and Chromium clears it itself
    os.kill(pid_a, signal.SIGKILL)
    assert _gone(list(tree_a.pids))
    stale = check_lock(a, session_id=UID_A)
    assert stale.state == LockState.STALE and stale.pid == pid_a
    (finding,) = lock_findings([stale])
    assert finding.severity == Severity.INFO and "Chromium will clear it" in finding.message
    again = chromiums.launch(a)
    chromiums.wait_ready(a, again.pid)  # it started: the claim in the finding is what Chromium does
    assert check_lock(a, browser_pids=[again.pid]).state == LockState.LIVE

    # kill -9 of the parent: B is adopted (pid 1 or a subreaper) and orphaned without pm2 or the gateway's word
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(timeout=10)
    report = mapper.scan()
    orphans = find_orphans(report)
    assert [o.session_id for o in orphans] == [UID_B], orphans  # the relaunched A has a live parent (pytest)
    assert "parent process" in orphans[0].reason and orphans[0].tree.parent_pid != parent.pid

    # K: SIGHUP, Chromium exits cleanly and removes its lock; its crash handlers exit by themselves
    tree = orphans[0].tree
    before = crashpad_handlers(tree.root_pid)
    result = await kill_orphan(tree, lambda t: True, read_only=False)
    assert result.outcome == Outcome.DONE and result.signals == ("SIGHUP",), result
    assert set(result.terminated) == set(tree.pids) and result.killed == ()
    assert set(result.crashpad) == {p.pid for p in before} and len(result.crashpad) >= 1
    assert result.crashpad_left == ()
    assert not os.path.lexists(b / LOCK)
    cleared = clear_lock_left_by(b, tree.root_pid, read_only=False)
    assert cleared.ok and cleared.removed == () and "Chromium removed its lock" in cleared.message


async def test_a_lock_from_another_host_is_critical_and_chromium_exits_21(tmp_path: Path,
                                                                         chromiums: Chromiums) -> None:
    profile = tmp_path / ".wwebjs_auth" / f"session-{UID_A}"
    profile.mkdir(parents=True)
    os.symlink("old-container-id-4242", profile / LOCK)  # what a container restart with a new hostname leaves

    lock = check_lock(profile, session_id=UID_A)
    assert lock.state == LockState.FOREIGN and lock.host == "old-container-id" and lock.pid == 4242
    (finding,) = lock_findings([lock])
    assert finding.severity == Severity.CRITICAL and "exit code 21" in finding.message

    proc = chromiums.launch(profile)
    assert proc.wait(timeout=READY_S) == 21  # the claim in the finding is what Chromium does
    assert os.readlink(profile / LOCK) == "old-container-id-4242"  # and nobody touched the lock


async def test_relative_user_data_dir_and_symlinked_root(tmp_path: Path, chromiums: Chromiums) -> None:
    real = tmp_path / "real" / ".wwebjs_auth"
    real.mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "real")
    rel_profile = real / f"session-{UID_A}"
    via_link = link / ".wwebjs_auth" / f"session-{UID_B}"
    # A: started in the auth root with a relative flag; B: reaches its profile through a symlinked path
    _parent, (pid_a, pid_b) = chromiums.under_parent([(Path(f"session-{UID_A}"), real), (via_link, None)])
    chromiums.wait_ready(rel_profile, pid_a)
    chromiums.wait_ready(real / f"session-{UID_B}", pid_b)

    mapper = ProcessMapper([real], SystemClock())  # the root configured by its real path
    tree_a = _exact_scan(mapper, UID_A, pid_a)
    tree_b = _exact_scan(mapper, UID_B, pid_b)
    assert tree_a.user_data_dir == str(rel_profile)  # resolved against the browser's cwd, not ours
    assert tree_b.user_data_dir == str(via_link)
    report = mapper.scan()
    assert report.for_dir(real / f"session-{UID_B}") is not None

    auth_dirs = [(UID_A, str(rel_profile)), (UID_B, str(real / f"session-{UID_B}"))]
    dirs = lock_dirs(auth_dirs, report)
    assert len(dirs) == 2  # the symlinked spelling of B's dir is the same dir: checked once
    locks = check_locks(dirs, report)
    assert [lk.state for lk in locks] == [LockState.LIVE, LockState.LIVE], locks
    assert lock_findings(locks) == ()
