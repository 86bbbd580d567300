"""Process map, orphans and kill-orphan, against REAL stand-in browser process trees (no mocks)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from pulse_tui.clock import FakeClock, SystemClock
from pulse_tui.sim.browsers import BrowserSpec, StandInGateway, make_orphan
from pulse_tui.sources.authdirs import Layout
from pulse_tui.sources.procs import (
    BrowserTree,
    HostReport,
    Outcome,
    ProcessMapper,
    classify_dir,
    find_orphans,
    kill_orphan,
    orphan_findings,
    user_data_dir_of,
)

UUID_A = "11111111-2222-3333-4444-555555555555"
UUID_B = "66666666-7777-8888-9999-000000000000"
PHONE = "18765551234"

GatewayFactory = Callable[..., StandInGateway]


@pytest.fixture
def roots(tmp_path: Path) -> dict[str, Path]:
    return {"salesboy": tmp_path / ".wwebjs_auth", "pulse": tmp_path / "whatsapp-sessions"}


@pytest.fixture
def gateways() -> Iterator[GatewayFactory]:
    """Start stand-in gateways (each a reaper + gateway + browser trees); every one is closed afterwards."""
    started: list[StandInGateway] = []

    def start(specs: list[BrowserSpec], orphan: bool = False) -> StandInGateway:
        gw = make_orphan(specs[0]) if orphan else StandInGateway(specs).start()
        started.append(gw)
        return gw

    yield start
    for gw in started:
        gw.close()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _salesboy(roots: dict[str, Path], sid: str) -> Path:
    return roots["salesboy"] / f"session-{sid}"


def _pulse(roots: dict[str, Path], phone: str) -> Path:
    return roots["pulse"] / phone / f"session-pulse-bot-{phone}"


# --- argv / path parsing ------------------------------------------------------------


def test_user_data_dir_of_handles_every_argv_shape() -> None:
    assert user_data_dir_of(["chrome", "--user-data-dir=/a/session-x", "--headless"]) == "/a/session-x"
    assert user_data_dir_of(["chrome", "--user-data-dir", "/a/session-x"]) == "/a/session-x"
    # Chromium's setproctitle'd renderers: the whole command line in one string
    assert user_data_dir_of(["chrome --type=renderer --user-data-dir=/a/session-x --lang=en"]) == "/a/session-x"
    assert user_data_dir_of(["node", "index.js"]) is None
    assert user_data_dir_of([]) is None
    assert user_data_dir_of(["chrome", "--user-data-dir"]) is None


def test_classify_dir_knows_both_layouts_and_nothing_else(tmp_path: Path) -> None:
    mapper_prefixes = (str(tmp_path / ".wwebjs_auth") + os.sep, str(tmp_path / "whatsapp-sessions") + os.sep)
    assert classify_dir(str(tmp_path / ".wwebjs_auth" / f"session-{UUID_A}"), mapper_prefixes) == (
        UUID_A, Layout.SALESBOY)
    pulse = tmp_path / "whatsapp-sessions" / PHONE / f"session-pulse-bot-{PHONE}"
    assert classify_dir(str(pulse), mapper_prefixes) == (PHONE, Layout.PULSE)
    assert classify_dir(str(tmp_path / "elsewhere" / f"session-{UUID_A}"), mapper_prefixes) is None
    assert classify_dir(str(tmp_path / ".wwebjs_auth" / "session-x" / "Default"), mapper_prefixes) is None
    assert classify_dir(str(tmp_path / ".wwebjs_auth" / "profile"), mapper_prefixes) is None


# --- mapping real trees -----------------------------------------------------------------


def test_real_trees_map_to_their_sessions_with_rss(roots: dict[str, Path], tmp_path: Path,
                                                     gateways: GatewayFactory) -> None:
    a, b, p = _salesboy(roots, UUID_A), _salesboy(roots, UUID_B), _pulse(roots, PHONE)
    outside = tmp_path / "not-an-auth-root" / f"session-{UUID_A}"
    gw = gateways([
        BrowserSpec(a, children=4),  # 3 flagged renderers + 1 plain child that joins through its parent
        BrowserSpec(b, children=2, flagged_children=0),  # no child carries the flag
        BrowserSpec(p, children=3),
        BrowserSpec(outside, children=1),
    ])
    # the gateway's working dir as root works too (its .wwebjs_auth / whatsapp-sessions are searched)
    report = ProcessMapper([tmp_path], SystemClock()).scan()

    assert report.error == ""
    assert {(s.session_id, s.layout) for s in report.sessions} == {
        (UUID_A, Layout.SALESBOY), (UUID_B, Layout.SALESBOY), (PHONE, Layout.PULSE)}
    for path, count in ((a, 5), (b, 3), (p, 4)):
        sp = report.for_dir(path)
        assert sp is not None
        assert set(sp.pids) == set(gw.tree_pids(path))
        assert len(sp.pids) == count
        assert len(sp.trees) == 1
        tree = sp.trees[0]
        assert tree.root_pid == gw.root_pid(path)
        assert tree.parent_pid == gw.gateway_pid
        assert gw.gateway_pid in tree.ancestors
        assert all(pr.rss_bytes > 0 for pr in tree.procs)
        assert sp.rss_bytes == sum(pr.rss_bytes for pr in tree.procs) > 0
        assert sp.cpu_percent is None  # first scan: one sample only
        # PSS splits shared pages between their users, USS is private: both below the RSS sum, never above
        assert sp.pss_bytes is not None and sp.uss_bytes is not None
        assert 0 < sp.uss_bytes <= sp.pss_bytes <= sp.rss_bytes
        assert sp.cpu_seconds is not None and sp.cpu_seconds >= 0
    assert report.session(UUID_B) is not None and not any(pr.flagged for pr in report.session(UUID_B).trees[0].procs[1:])
    assert report.total_browser_rss == sum(s.rss_bytes for s in report.sessions)
    assert report.mem_available and report.mem_total and report.mem_available <= report.mem_total
    assert report.processes_scanned > 12
    facts = report.as_dict()
    assert {s["session_id"] for s in facts["sessions"]} == {UUID_A, UUID_B, PHONE}  # type: ignore[union-attr,index]


def test_cpu_percent_needs_two_samples_and_sees_a_busy_tree(roots: dict[str, Path],
                                                            gateways: GatewayFactory) -> None:
    busy, idle = _salesboy(roots, UUID_A), _salesboy(roots, UUID_B)
    gateways([BrowserSpec(busy, children=1, busy=True), BrowserSpec(idle, children=1)])

    clock = FakeClock()
    fake = ProcessMapper([roots["salesboy"]], clock)
    assert fake.scan().session(UUID_A).cpu_percent is None  # type: ignore[union-attr]
    assert fake.scan().session(UUID_A).cpu_percent is None  # type: ignore[union-attr]  # no time passed
    clock.advance(1.0)
    assert fake.scan().session(UUID_A).cpu_percent is not None  # type: ignore[union-attr]

    mapper = ProcessMapper([roots["salesboy"]], SystemClock())
    mapper.scan()
    deadline = time.monotonic() + 10
    busy_cpu = 0.0
    while time.monotonic() < deadline and busy_cpu <= 0:
        time.sleep(0.3)
        report = mapper.scan()
        busy_cpu = report.session(UUID_A).cpu_percent or 0.0  # type: ignore[union-attr]
    assert busy_cpu > 0
    assert report.session(UUID_B).cpu_percent is not None  # type: ignore[union-attr]


def test_two_trees_for_one_session_are_both_reported(roots: dict[str, Path], gateways: GatewayFactory) -> None:
    a = _salesboy(roots, UUID_A)
    old = gateways([BrowserSpec(a, children=1, lock=False)], orphan=True)  # a restart left the old one
    new = gateways([BrowserSpec(a, children=1, lock=False)])
    sp = ProcessMapper([roots["salesboy"]], SystemClock()).scan().session(UUID_A)
    assert sp is not None and len(sp.trees) == 2
    assert {t.root_pid for t in sp.trees} == {old.root_pid(a), new.root_pid(a)}


# --- orphans ----------------------------------------------------------------------------


def test_orphan_when_the_gateway_says_the_session_is_gone(roots: dict[str, Path],
                                                          gateways: GatewayFactory) -> None:
    gateways([BrowserSpec(_salesboy(roots, UUID_A), children=1), BrowserSpec(_salesboy(roots, UUID_B), children=1)])
    report = ProcessMapper([roots["salesboy"]], SystemClock()).scan()

    listed = find_orphans(report, gateway_sessions={UUID_A})  # a complete list (Pulse lists its instances)
    assert [o.session_id for o in listed] == [UUID_B]
    assert "does not list" in listed[0].reason
    partial = find_orphans(report, gateway_sessions={UUID_B: False})  # Salesboy: status said exists=false
    assert [o.session_id for o in partial] == [UUID_B]
    assert find_orphans(report, gateway_sessions={}) == ()  # nothing known: nothing marked
    assert find_orphans(report) == ()

    findings = orphan_findings(listed)
    assert findings[0].code == "browser-orphaned" and findings[0].subjects == (UUID_B,)
    assert str(listed[0].tree.root_pid) in findings[0].message


def test_orphan_when_its_gateway_process_is_gone(roots: dict[str, Path], gateways: GatewayFactory) -> None:
    live_gw = gateways([BrowserSpec(_salesboy(roots, UUID_A), children=1)])
    dead_gw = gateways([BrowserSpec(_salesboy(roots, UUID_B), children=2)], orphan=True)
    report = ProcessMapper([roots["salesboy"]], SystemClock()).scan()

    orphans = find_orphans(report, gateway_pids={live_gw.gateway_pid})  # type: ignore[arg-type]
    assert [o.session_id for o in orphans] == [UUID_B]
    assert dead_gw.gateway_pid not in orphans[0].tree.ancestors
    assert len(orphans[0].tree.procs) == 3  # the whole tree survived its gateway
    everything = find_orphans(report, gateway_pids=())  # pm2 says the gateway is not running
    assert {o.session_id for o in everything} == {UUID_A, UUID_B}


def test_orphan_without_pm2_when_its_parent_is_gone(roots: dict[str, Path], gateways: GatewayFactory) -> None:
    gw = gateways([BrowserSpec(_salesboy(roots, UUID_A), children=2)])
    mapper = ProcessMapper([roots["salesboy"]], SystemClock())
    before = mapper.scan()
    assert _tree_of(before, UUID_A).adopted == "" and find_orphans(before) == ()
    dead = gw.orphan()  # kill -9 of the gateway: the subreaper adopts its browser
    after = mapper.scan()
    tree = _tree_of(after, UUID_A)
    assert tree.parent_pid == gw.reaper_pid and str(dead) in tree.adopted  # the same mapper saw the reparenting
    (orphan,) = find_orphans(after)  # no pm2, no word from the gateway: the parent alone tells
    assert orphan.session_id == UUID_A and "parent process" in orphan.reason

    # a mapper that never saw the old parent still knows a subreaper it is told of (pid 1 needs no telling)
    fresh = ProcessMapper([roots["salesboy"]], SystemClock(), subreapers={gw.reaper_pid})
    assert "subreaper" in _tree_of(fresh.scan(), UUID_A).adopted
    # pm2 stays extra evidence: both reasons are given
    both = find_orphans(after, gateway_pids=())
    assert "gateway process is not running" in both[0].reason and "parent process" in both[0].reason


def test_memory_details_are_read_at_their_own_cadence(roots: dict[str, Path], gateways: GatewayFactory) -> None:
    gateways([BrowserSpec(_salesboy(roots, UUID_A), children=2)])
    clock = FakeClock()
    mapper = ProcessMapper([roots["salesboy"]], clock, memory_every_s=10.0)
    first = mapper.scan()
    assert first.memory_age_s == 0.0 and first.total_browser_pss is not None and first.memory_reads == 3
    clock.advance(4.0)
    cached = mapper.scan()
    assert cached.memory_age_s == 4.0 and cached.memory_reads == 0  # the figures of 4 s ago, said so
    assert cached.total_browser_pss == first.total_browser_pss
    clock.advance(6.0)
    assert mapper.scan().memory_age_s == 0.0  # due again: re-read (3 processes: one batch)
    assert ProcessMapper([roots["salesboy"]], clock).scan(memory=False).total_browser_pss is None

    # a refresh is spread over scans: at most `memory_batch` re-reads each, the oldest figures first
    spread = ProcessMapper([roots["salesboy"]], clock, memory_every_s=10.0, memory_batch=1)
    assert spread.scan().memory_reads == 3  # new processes are read at once, whatever the batch
    clock.advance(10.0)
    one = spread.scan()
    assert one.memory_reads == 1 and one.memory_age_s == 10.0  # two figures still 10 s old, and it says so


def test_a_poll_scan_reads_only_new_and_browser_processes(roots: dict[str, Path], gateways: GatewayFactory) -> None:
    a, b = _salesboy(roots, UUID_A), _salesboy(roots, UUID_B)
    gw = gateways([BrowserSpec(a, children=2, busy=True)])
    clock = FakeClock()
    mapper = ProcessMapper([roots["salesboy"]], clock, full_every_s=60.0, cmdline_settle_s=0.0)
    first = mapper.scan(full=False)
    assert first.full_scan and first.processes_read == first.processes_scanned  # nothing to carry over yet
    clock.advance(3.0)
    poll = mapper.scan(full=False)
    tree = _tree_of(poll, UUID_A)
    assert not poll.full_scan and poll.processes_read < poll.processes_scanned
    assert poll.processes_read >= len(tree.procs) + 1  # the tree and its gateway are read every poll
    assert set(tree.pids) == set(gw.tree_pids(a)) and tree.cpu_percent is not None and tree.rss_bytes > 0

    new = gateways([BrowserSpec(b, children=1)])  # started between two polls: new pids, read at once
    dead = gw.orphan()  # and A's gateway killed: the parent of a known browser changes
    clock.advance(3.0)
    later = mapper.scan(full=False)
    assert not later.full_scan
    assert set(_tree_of(later, UUID_B).pids) == set(new.tree_pids(b))
    assert str(dead) in _tree_of(later, UUID_A).adopted and find_orphans(later)[0].session_id == UUID_A

    new.crash(b)  # exited between two polls: gone from the listing, gone from the report
    clock.advance(3.0)
    assert mapper.scan(full=False).session(UUID_B) is None
    clock.advance(60.0)
    again = mapper.scan(full=False)
    assert again.full_scan and again.processes_read == again.processes_scanned  # the whole table, once a minute
    assert set(_tree_of(again, UUID_A).pids) == set(gw.tree_pids(a))
    clock.advance(3.0)
    assert mapper.scan().full_scan  # asked for (the re-check before a kill): every process read now


def _tree_of(report: HostReport, sid: str) -> BrowserTree:
    sp = report.session(sid)
    assert sp is not None and len(sp.trees) == 1
    return sp.trees[0]


# --- kill orphan ------------------------------------------------------------------------


def _orphan_tree(roots: dict[str, Path], gateways: GatewayFactory) -> tuple[ProcessMapper, BrowserTree, StandInGateway]:
    gw = gateways([BrowserSpec(_salesboy(roots, UUID_B), children=3)], orphan=True)
    mapper = ProcessMapper([roots["salesboy"]], SystemClock())
    tree = mapper.scan().session(UUID_B).trees[0]  # type: ignore[union-attr]
    return mapper, tree, gw


async def test_kill_orphan_refuses_in_read_only_mode(roots: dict[str, Path], gateways: GatewayFactory) -> None:
    _mapper, tree, _gw = _orphan_tree(roots, gateways)
    result = await kill_orphan(tree, lambda t: True, grace_s=0.5, read_only=True)
    assert not result.ok and result.outcome == Outcome.REFUSED
    assert all(_alive(pid) for pid in tree.pids)


async def test_kill_orphan_rechecks_and_refuses_when_no_longer_orphaned(roots: dict[str, Path],
                                                                        gateways: GatewayFactory) -> None:
    mapper, tree, _gw = _orphan_tree(roots, gateways)

    async def gateway_now_knows_it(t: BrowserTree) -> bool:
        # the gateway picked the session up again between the scan and the confirmation
        return any(o.tree.root_pid == t.root_pid
                   for o in find_orphans(mapper.scan(), gateway_sessions={UUID_B}))

    result = await kill_orphan(tree, gateway_now_knows_it, grace_s=0.5, read_only=False)
    assert result.outcome == Outcome.REFUSED and "no longer orphaned" in result.message
    assert all(_alive(pid) for pid in tree.pids)

    def broken(t: BrowserTree) -> bool:
        raise RuntimeError("gateway unreachable")

    result = await kill_orphan(tree, broken, grace_s=0.5, read_only=False)
    assert result.outcome == Outcome.REFUSED and "could not re-check" in result.message
    assert all(_alive(pid) for pid in tree.pids)


async def test_kill_orphan_kills_the_whole_tree_when_still_orphaned(roots: dict[str, Path],
                                                                    gateways: GatewayFactory) -> None:
    mapper, tree, gw = _orphan_tree(roots, gateways)
    lock = _salesboy(roots, UUID_B) / "SingletonLock"
    assert lock.is_symlink()

    async def still(t: BrowserTree) -> bool:
        return any(o.tree.root_pid == t.root_pid for o in find_orphans(mapper.scan(), gateway_sessions=set()))

    result = await kill_orphan(tree, still, grace_s=5.0, read_only=False)
    assert result.ok and result.outcome == Outcome.DONE, result.message
    assert set(result.terminated) | set(result.killed) >= set(tree.pids)
    assert not any(_alive(pid) for pid in tree.pids)
    assert gw.processes() == []
    assert not lock.is_symlink()  # SIGTERM is a clean shutdown: the browser removed its own lock
    assert mapper.scan().session(UUID_B) is None

    again = await kill_orphan(tree, still, grace_s=0.5, read_only=False)
    assert again.ok and again.outcome == Outcome.GONE


async def test_kill_orphan_never_signals_a_recycled_pid(roots: dict[str, Path], gateways: GatewayFactory) -> None:
    _mapper, tree, _gw = _orphan_tree(roots, gateways)
    recycled = dataclasses.replace(
        tree, procs=tuple(dataclasses.replace(p, create_time=p.create_time - 1000) for p in tree.procs))
    result = await kill_orphan(recycled, lambda t: True, grace_s=0.5, read_only=False)
    assert result.outcome == Outcome.GONE
    assert all(_alive(pid) for pid in tree.pids)


async def test_kill_orphan_uses_sigkill_after_the_grace_period(roots: dict[str, Path]) -> None:
    profile = _salesboy(roots, UUID_A)
    profile.mkdir(parents=True)
    stubborn = subprocess.Popen(
        [sys.executable, "-c",
         "import signal, sys, time\n"
         "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
         "signal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
         "print('ready', flush=True)\n"
         "time.sleep(60)\n",
         f"--user-data-dir={profile}"],
        stdout=subprocess.PIPE)
    try:
        assert stubborn.stdout is not None and stubborn.stdout.readline().strip() == b"ready"
        tree = ProcessMapper([roots["salesboy"]], SystemClock()).scan().session(UUID_A).trees[0]  # type: ignore[union-attr]
        assert tree.root_pid == stubborn.pid
        result = await kill_orphan(tree, lambda t: True, grace_s=0.3, read_only=False)
        assert result.ok, result.message
        assert result.killed == (stubborn.pid,) and result.terminated == ()
        assert result.signals == ("SIGHUP", "SIGTERM", "SIGKILL")
        assert stubborn.wait(timeout=5) == -9
    finally:
        if stubborn.poll() is None:
            stubborn.kill()
        stubborn.wait()
