"""The monitor with a host source, against the real simulator over HTTP and its real stand-in browser processes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import psutil
import pytest

from pulse_tui.clock import SystemClock
from pulse_tui.config import Config, GatewayKind
from pulse_tui.model import Finding, Severity, Snapshot
from pulse_tui.monitor.host import (
    GatewayKnowledge,
    HostSource,
    orphans_of,
    pm2_app_for,
    still_orphaned,
    tree_keys,
)
from pulse_tui.monitor.service import HOST_FLAGS, Monitor
from pulse_tui.monitor.state import FLAG_EXPLANATIONS
from pulse_tui.sim.gateway import GatewaySim, PulseSim
from pulse_tui.sources.authdirs import discover
from pulse_tui.sources.gateway import SalesboyGateway, Timeouts
from pulse_tui.sources.gateway.pulse import PulseGateway
from pulse_tui.sources.locks import clear_stale_lock
from pulse_tui.sources.pm2 import Pm2Reader
from pulse_tui.sources.procs import HostReport, Outcome, ProcessMapper, kill_orphan
from pulse_tui.status_json import snapshot_to_json

UID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
UID2 = "0b9e8f1c-1111-4222-8333-444455556666"
KEY = "salesboy-host-test-key-55"
FAST = dict(start_delay_s=0.05, qr_interval_s=30.0, ready_delay_s=0.05, restore_interval_s=0.05)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@pytest.fixture
def auth_root(tmp_path: Path) -> Path:
    return tmp_path / ".wwebjs_auth"


@pytest.fixture
def sim(auth_root: Path) -> Iterator[GatewaySim]:
    s = GatewaySim(auth_root, api_key=KEY, browsers=True, **FAST)  # type: ignore[arg-type]
    s.start()
    yield s
    s.stop()


@pytest.fixture
def config(sim: GatewaySim, auth_root: Path) -> Config:
    return Config(gateway_kind=GatewayKind.SALESBOY, gateway_url=sim.url, api_key=KEY, auth_dirs=(auth_root,))


@pytest.fixture
async def gw(sim: GatewaySim, auth_root: Path) -> AsyncIterator[SalesboyGateway]:
    g = SalesboyGateway(sim.url, KEY, auth_roots=[auth_root], timeouts=Timeouts(status_s=2.0, action_s=10.0))
    yield g
    await g.aclose()


def no_pm2(tmp_path: Path) -> Pm2Reader:
    """A reader whose PATH holds no pm2: what a host without pm2 looks like."""
    return Pm2Reader(SystemClock(), ("salesboy-gateway",), env={"PATH": str(tmp_path / "empty-bin"),
                                                               "HOME": str(tmp_path)})


def make_monitor(config: Config, gw: SalesboyGateway, host: HostSource | None, **kw: object) -> Monitor:
    roots = list(config.auth_dirs)
    return Monitor(config, gw, clock=SystemClock(), host=host,
                   auth_discovery=lambda: Monitor.auth_facts(discover(roots)), **kw)  # type: ignore[arg-type]


@pytest.fixture
def host(config: Config, tmp_path: Path) -> HostSource:
    return HostSource(config, SystemClock(), pm2=no_pm2(tmp_path))


# --- mapping -----------------------------------------------------------------------------------


async def test_stand_in_browsers_are_mapped_to_their_sessions(sim: GatewaySim, gw: SalesboyGateway,
                                                              config: Config, host: HostSource) -> None:
    assert (await gw.start(UID)).ok and (await gw.start(UID2)).ok
    pids = sim.browser_pids()
    assert set(pids) == {UID, UID2}
    monitor = make_monitor(config, gw, host)
    snap = await monitor.poll(full=True)
    for sid in (UID, UID2):
        v = snap.session(sid)
        assert v is not None
        assert v.rss_bytes is not None and v.rss_bytes > 0
        assert pids[sid] in v.browser_pids and len(v.browser_pids) == 4  # root + 3 children
        assert v.lock == "none" and v.lock_info is not None and v.lock_info.state == "live"
        assert v.lock_info.pid == pids[sid]
        assert not {"stale-lock", "orphaned-browser"} & v.flags
    assert snap.host is not None and snap.host.error == ""
    assert snap.host.browser_rss_bytes >= sum(v.rss_bytes or 0 for v in snap.sessions) > 0
    assert snap.host.mem_available_bytes and snap.host.mem_available_bytes > 0
    assert snap.host.browsers == 2 and snap.host.orphans == 0

    doc = json.loads(json.dumps(snapshot_to_json(snap)))
    row = next(s for s in doc["sessions"] if s["id"] == UID)
    assert row["rss_bytes"] > 0 and pids[UID] in row["browser_pids"] and row["lock"] == "none"
    assert {"state", "flags", "detail", "restorable"} <= set(row)
    # one poll is enough for CPU%: the host source's first scan samples twice, CPU_SAMPLE_S apart
    assert row["cpu_percent"] is not None and row["cpu_percent"] >= 0
    # PSS (the session's share of host memory) and USS (freed if killed) beside the RSS sum they correct
    assert 0 < row["uss_bytes"] <= row["pss_bytes"] <= row["rss_bytes"]
    assert doc["host"]["browser_pss_bytes"] == sum(s["pss_bytes"] or 0 for s in doc["sessions"])
    assert doc["host"]["browser_uss_bytes"] <= doc["host"]["browser_pss_bytes"]
    assert doc["host"]["memory_age_s"] is not None and doc["host"]["memory_age_s"] < 120
    assert doc["host"]["browser_rss_bytes"] == snap.host.browser_rss_bytes
    assert doc["host"]["mem_available_bytes"] > 0 and doc["host"]["pm2"] is None
    assert KEY not in json.dumps(doc)

    second = await monitor.poll(full=True)  # later polls compare against the previous scan
    v2 = second.session(UID)
    assert v2 is not None and v2.cpu_percent is not None and v2.cpu_percent >= 0
    assert v2.pss_bytes is not None
    between = monitor.current().session(UID)  # a log line or an event between polls: the scan's facts stay
    assert between is not None and (between.rss_bytes, between.pss_bytes, between.uss_bytes, between.browser_pids) \
        == (v2.rss_bytes, v2.pss_bytes, v2.uss_bytes, v2.browser_pids)


async def test_a_stopped_session_has_no_browser_left(sim: GatewaySim, gw: SalesboyGateway, config: Config,
                                                     host: HostSource) -> None:
    assert (await gw.start(UID)).ok
    pid = sim.browser_pids()[UID]
    assert (await gw.stop(UID)).ok
    assert not _alive(pid)
    snap = await make_monitor(config, gw, host).poll(full=True)
    v = snap.session(UID)
    assert v is not None and v.rss_bytes == 0 and v.browser_pids == () and not v.orphans


# --- orphans -----------------------------------------------------------------------------------


async def test_orphan_flagged_when_the_gateway_says_the_session_is_gone(sim: GatewaySim, gw: SalesboyGateway,
                                                                       config: Config, host: HostSource) -> None:
    assert (await gw.start(UID)).ok
    monitor = make_monitor(config, gw, host)
    first = await monitor.poll(full=True)
    v = first.session(UID)
    assert v is not None and "orphaned-browser" not in v.flags and v.browser_pids

    pid = sim.leave_orphan(UID)
    assert pid is not None and _alive(pid)
    assert sim.state()["clients"] == {}  # the gateway forgot it; the browser did not go

    snap = await monitor.poll(full=True)
    v = snap.session(UID)
    assert v is not None and "orphaned-browser" in v.flags
    assert v.orphans and v.orphans[0].root_pid == pid and pid in v.orphans[0].pids
    assert "does not exist" in v.orphans[0].reason
    found = [f for f in snap.findings if f.code == "browser-orphaned"]
    assert found and found[0].subjects == (UID,) and found[0].hint
    assert snap.host is not None and snap.host.orphans == 1
    assert "orphaned-browser" in snapshot_to_json(snap)["sessions"][[s.id for s in snap.sessions].index(UID)]["flags"]
    assert "orphaned-browser" in FLAG_EXPLANATIONS

    # The orphan holds the profile: a new start fails like Chromium's "already running".
    again = await gw.start(UID)
    assert not again.ok and "already running" in again.message

    sim.stop()  # cleans up every stand-in, orphans included
    assert not _alive(pid)


async def test_a_gone_verdict_older_than_the_browser_is_not_an_orphan(sim: GatewaySim, auth_root: Path) -> None:
    sim.engine.start(UID)  # started behind the monitor's back (the dashboard, say)
    report = ProcessMapper([auth_root], SystemClock()).scan()
    first_seen = dict.fromkeys(tree_keys(report), 1000.0)
    older = GatewayKnowledge(exists={UID: (False, 999.0)})  # "no such session", asked before we saw the browser
    assert orphans_of(report, older, first_seen, None) == ()
    newer = GatewayKnowledge(exists={UID: (False, 1000.5)})
    assert [o.session_id for o in orphans_of(report, newer, first_seen, None)] == [UID]
    # Pulse lists every instance: a browser of an unlisted one is an orphan, once the list is newer than it
    listed = GatewayKnowledge(listed=frozenset({"other"}), listed_at=1001.0)
    assert [o.session_id for o in orphans_of(report, listed, first_seen, None)] == [UID]
    # its gateway process gone (pm2 says the app is not online): orphaned whatever the session says
    assert [o.session_id for o in orphans_of(report, GatewayKnowledge(), first_seen, ())] == [UID]


# --- locks ----------------------------------------------------------------------------------------


async def test_stale_lock_flagged_with_its_finding_and_clearing_it_lets_the_session_start(
        sim: GatewaySim, gw: SalesboyGateway, config: Config, host: HostSource, auth_root: Path) -> None:
    assert (await gw.start(UID)).ok
    dead = sim.leave_stale_lock(UID)
    assert not _alive(dead)
    profile = auth_root / f"session-{UID}"
    assert (profile / "SingletonLock").is_symlink()

    monitor = make_monitor(config, gw, host)
    snap = await monitor.poll(full=True)
    v = snap.session(UID)
    assert v is not None and v.lock == "stale" and "stale-lock" in v.flags
    assert v.lock_info is not None and v.lock_info.pid == dead
    assert v.lock_info.profile_dir == str(profile) and "SingletonLock" in v.lock_info.files
    assert v.browser_pids == () and v.rss_bytes == 0
    found = [f for f in snap.findings if f.code == "browser-stale-lock"]
    assert found and found[0].subjects == (UID,) and str(dead) in found[0].message
    assert snap.host is not None and snap.host.stale_locks == 1
    doc = snapshot_to_json(snap)
    assert next(s for s in doc["sessions"] if s["id"] == UID)["lock"] == "stale"
    stale = [f for f in doc["findings"] if f["code"] == "browser-stale-lock"]
    assert stale and stale[0]["severity"] == "info" and "Chromium will clear it" in stale[0]["message"]
    assert found[0].severity == Severity.INFO  # it heals itself: never a reason for an unhealthy status

    # like Chromium, the next start clears a same-host lock whose pid is dead; clearing it first is optional
    assert clear_stale_lock(profile, read_only=False).ok
    assert (await gw.start(UID)).ok
    snap = await monitor.poll(full=True)
    v = snap.session(UID)
    assert v is not None and v.lock == "none" and "stale-lock" not in v.flags and v.browser_pids


async def test_stale_lock_on_demand_without_a_running_browser(sim: GatewaySim, auth_root: Path) -> None:
    dead = sim.leave_stale_lock(UID2)
    assert not _alive(dead)
    assert (auth_root / f"session-{UID2}" / "SingletonLock").is_symlink()


# --- pm2 and failures ----------------------------------------------------------------------------------


async def test_without_pm2_the_host_has_no_pm2_and_nothing_breaks(gw: SalesboyGateway, config: Config,
                                                                  host: HostSource) -> None:
    snap = await make_monitor(config, gw, host).poll(full=True)
    assert snap.host is not None and snap.host.pm2 is None and snap.host.pm2_state == "not-available"
    assert snapshot_to_json(snap)["host"]["pm2"] is None
    assert not [f for f in snap.findings if f.code.startswith("pm2-")]


def test_pm2_app_name_defaults_by_gateway_kind() -> None:
    assert pm2_app_for(Config()) == "salesboy-gateway"
    assert pm2_app_for(Config(gateway_kind=GatewayKind.PULSE)) == "pulse"
    assert pm2_app_for(Config(pm2_app="my-gw")) == "my-gw"


def test_pm2_app_missing_only_fires_for_a_configured_app(tmp_path: Path) -> None:
    """The usual name is watched, but its absence is a finding only when the operator named the app."""
    from pulse_tui.clock import FakeClock
    from pulse_tui.config import load_config
    from pulse_tui.monitor.host import HostObservation, host_findings
    from pulse_tui.sources.pm2 import Pm2App, Pm2Report, Pm2State

    def missing_fires(environ: dict[str, str]) -> bool:
        config = load_config(environ=environ, cwd=tmp_path)
        host = HostSource(config, FakeClock(), use_pm2=False)
        report = Pm2Report(Pm2State.OK, apps=(Pm2App("other-app", 0, "online", 1, 0, 0, 1.0, None, None),))
        obs = HostObservation(report=None, pm2=report, pm2_app=host.pm2_app,
                              watch_missing_app=host.watch_missing_app)
        return "pm2-app-missing" in {f.code for f in host_findings(obs)}

    assert load_config(environ={}, cwd=tmp_path).pm2_app is None
    assert not missing_fires({})
    assert missing_fires({"PULSE_TUI_PM2_APP": "my-gw"})


class BrokenScan(HostSource):
    async def scan(self) -> HostReport:
        raise RuntimeError("proc is gone")


class BrokenEverything(HostSource):
    async def scan(self) -> HostReport:
        raise PermissionError("no /proc")

    async def read_pm2(self) -> None:
        raise OSError("pm2 exploded")


async def test_a_failing_host_source_never_breaks_a_poll(sim: GatewaySim, gw: SalesboyGateway, config: Config,
                                                          tmp_path: Path) -> None:
    assert (await gw.start(UID)).ok
    for cls in (BrokenScan, BrokenEverything):
        monitor = make_monitor(config, gw, cls(config, SystemClock(), pm2=no_pm2(tmp_path)))
        snap = await monitor.poll(full=True)
        assert snap.gateway.state.value == "ok"
        v = snap.session(UID)
        assert v is not None and v.state.value in ("starting", "qr") and v.rss_bytes is None
        assert snap.host is not None and "process scan failed" in snap.host.error
        doc = snapshot_to_json(snap)
        assert doc["host"]["error"] and doc["sessions"]
        again = await monitor.poll(full=True)  # backing off: still a snapshot, still saying why
        assert again.host is not None and again.host.error


async def test_failing_lock_checks_keep_the_process_facts(sim: GatewaySim, gw: SalesboyGateway, config: Config,
                                                          tmp_path: Path) -> None:
    class BrokenLocks(HostSource):
        async def check_locks(self, dirs: Sequence[tuple[str, str]], report: HostReport | None) -> tuple[()]:
            raise OSError("disk went away")

    assert (await gw.start(UID)).ok
    snap = await make_monitor(config, gw, BrokenLocks(config, SystemClock(), pm2=no_pm2(tmp_path))).poll(full=True)
    v = snap.session(UID)
    assert v is not None and v.rss_bytes and v.rss_bytes > 0
    assert snap.host is not None and "host checks failed" in snap.host.error


# --- shape and hooks ----------------------------------------------------------------------------------


async def test_without_a_host_source_the_snapshot_is_as_before(gw: SalesboyGateway, config: Config) -> None:
    snap = await make_monitor(config, gw, None).poll(full=True)
    assert snap.host is None
    doc = snapshot_to_json(snap)
    assert doc["host"] is None
    assert {"schema", "taken_at", "gateway", "sessions", "redis", "keys", "user_sessions", "findings",
            "healthy"} <= set(doc)


async def test_findings_hook_is_merged_with_host_findings(sim: GatewaySim, gw: SalesboyGateway, config: Config,
                                                          host: HostSource) -> None:
    sim.leave_stale_lock(UID)
    extra = Finding(Severity.INFO, "doctor-note", "from the doctor hook")
    seen: list[Snapshot] = []

    def hook(snap: Snapshot) -> list[Finding]:
        seen.append(snap)
        return [*snap.findings, extra]  # repeats the host's own: they must not appear twice

    monitor = make_monitor(config, gw, host, findings=hook)
    monitor.add_session(UID)
    snap = await monitor.poll(full=True)
    codes = [f.code for f in snap.findings]
    assert codes.count("browser-stale-lock") == 1 and "doctor-note" in codes
    assert seen and seen[0].host is not None  # the hook sees the host facts


async def test_browsers_off_by_default_spawn_nothing(auth_root: Path, tmp_path: Path) -> None:
    plain = GatewaySim(auth_root, **FAST)  # type: ignore[arg-type]
    plain.start()
    try:
        plain.engine.start(UID)
        assert plain.browser_pids() == {}
        report = ProcessMapper([auth_root], SystemClock()).scan()
        assert report.sessions == ()
    finally:
        plain.stop()


async def test_stop_cleans_up_every_stand_in(auth_root: Path) -> None:
    s = GatewaySim(auth_root, browsers=True, **FAST)  # type: ignore[arg-type]
    s.start()
    s.engine.start(UID)
    s.engine.start(UID2)
    orphan = s.leave_orphan(UID2)
    pids = [*s.browser_pids().values(), orphan]
    assert len(pids) == 2 and all(p is not None and _alive(p) for p in pids)
    s.stop()
    assert not any(_alive(p) for p in pids if p is not None)
    assert ProcessMapper([auth_root], SystemClock()).scan().sessions == ()


async def test_pulse_layout_is_mapped_and_an_unlisted_instance_is_an_orphan(tmp_path: Path) -> None:
    root = tmp_path / "whatsapp-sessions"
    phones = ("18765550001", "18765550002")
    sim = PulseSim(root, browsers=True, phones=phones, **FAST)  # type: ignore[arg-type]
    sim.start()
    gw = PulseGateway(sim.url)
    config = Config(gateway_kind=GatewayKind.PULSE, gateway_url=sim.url, auth_dirs=(root,))
    try:
        for p in phones:
            sim.engine.add_instance(p)  # started now (not after the boot-time restore delay)
        monitor = Monitor(config, gw, clock=SystemClock(), host=HostSource(config, pm2=no_pm2(tmp_path)),
                          auth_discovery=lambda: Monitor.auth_facts(discover([root])))
        snap = await monitor.poll(full=True)
        for p in phones:
            v = snap.session(p)
            assert v is not None and v.rss_bytes and v.rss_bytes > 0 and v.lock == "none"
        sim.leave_orphan(phones[1])
        snap = await monitor.poll(full=True)
        gone, kept = snap.session(phones[1]), snap.session(phones[0])
        assert gone is not None and "orphaned-browser" in gone.flags
        assert gone.orphans and gone.orphans[0].reason
        assert kept is not None and "orphaned-browser" not in kept.flags
    finally:
        await gw.aclose()
        sim.stop()


async def test_kill_orphan_with_the_monitors_recheck(sim: GatewaySim, gw: SalesboyGateway, config: Config,
                                                     host: HostSource) -> None:
    assert (await gw.start(UID)).ok and (await gw.start(UID2)).ok
    monitor = make_monitor(config, gw, host)
    await monitor.poll(full=True)
    sim.leave_orphan(UID)
    await monitor.poll(full=True)
    obs = monitor.host_observation
    assert obs is not None and obs.report is not None
    orphan = next(o for o in obs.orphans if o.session_id == UID)
    live = next(t for t in obs.report.trees if t.session_id == UID2)
    assert not obs.report.full_scan  # a poll reads only new and browser-related processes…
    assert (await host.scan()).full_scan  # …the default, which the re-check before a kill uses, reads every one
    assert await still_orphaned(host, gw, live) is False  # its session runs: never killed
    assert (await kill_orphan(live, lambda t: still_orphaned(host, gw, t), read_only=False)).outcome \
        == Outcome.REFUSED
    assert all(_alive(p) for p in live.pids)
    assert (await kill_orphan(orphan.tree, lambda t: still_orphaned(host, gw, t), read_only=True)).outcome \
        == Outcome.REFUSED
    result = await kill_orphan(orphan.tree, lambda t: still_orphaned(host, gw, t), read_only=False, grace_s=5.0)
    assert result.ok and result.outcome == Outcome.DONE
    assert not any(_alive(p) for p in orphan.tree.pids)
    snap = await monitor.poll(full=True)
    v = snap.session(UID)
    assert v is not None and "orphaned-browser" not in v.flags and v.browser_pids == ()
    assert (await gw.start(UID)).ok  # SIGTERM let the browser remove its own lock: the session starts again


def test_the_monitor_carries_exactly_the_flags_the_host_probe_sets() -> None:
    """HOST_FLAGS is spelled in the monitor so that carrying flags needs no host module: it must not drift."""
    from pulse_tui.monitor.host import LOCK_FLAGS

    assert frozenset({*LOCK_FLAGS.values(), "orphaned-browser"}) == HOST_FLAGS
    assert set(FLAG_EXPLANATIONS) >= HOST_FLAGS
