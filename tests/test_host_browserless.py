"""Host facts per gateway (issue 16 item 6): WAHA's browsers on puppeteer temp profiles (real stand-in process trees),
and gateways that run no browser (Evolution over HTTP on 127.0.0.1): "no browser", null memory, never 0 B."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from pulse_tui.clock import SystemClock
from pulse_tui.config import config_from_values
from pulse_tui.model import ConnState, HostSummary, SessionView, Snapshot
from pulse_tui.monitor.build import build_targets
from pulse_tui.monitor.host import HostObservation, SessionHostFacts, summarize
from pulse_tui.sim.browsers import BrowserSpec, StandInGateway
from pulse_tui.sim.evolution import EvolutionSim
from pulse_tui.sources.authdirs import Layout
from pulse_tui.sources.gateway.waha import CAPABILITIES as WAHA
from pulse_tui.sources.procs import ProcessMapper, is_throwaway
from pulse_tui.status_json import snapshot_to_json
from pulse_tui.tui.details import session_details
from pulse_tui.tui.rows import conn_cells


@pytest.fixture
def waha_browsers(tmp_path: Path) -> Iterator[tuple[StandInGateway, list[Path]]]:
    """A stand-in WAHA: one node process whose two Chromium trees use puppeteer's temp profiles."""
    dirs = [tmp_path / "tmp" / "puppeteer_dev_chrome_profile-AbC123", tmp_path / "tmp" / "puppeteer_dev_chrome_profile-x9Z"]
    gw = StandInGateway([BrowserSpec(d, children=2, lock=False) for d in dirs]).start()
    yield gw, dirs
    gw.close()


def test_is_throwaway_names_only_puppeteers_temp_profile() -> None:
    assert is_throwaway("/tmp/puppeteer_dev_chrome_profile-q1W2e3/")
    assert not is_throwaway("/app/.wwebjs_auth/session-puppeteer_dev_chrome_profile-x")
    assert not is_throwaway("/tmp/waha-sessions/webjs/default-c21f969b5f03d33d43e04f8f136e7682")


def test_core_maps_every_temp_profile_browser_to_default(waha_browsers: tuple[StandInGateway, list[Path]],
                                                         tmp_path: Path) -> None:
    gw, dirs = waha_browsers
    report = ProcessMapper([tmp_path / "no-auth-root"], SystemClock()).scan(throwaway=True, throwaway_owner="default")
    ours = [s for s in report.sessions if s.user_data_dir in {str(d.resolve()) for d in dirs}]
    assert len(ours) == 2 and {s.session_id for s in ours} == {"default"}
    assert all(s.layout == Layout.THROWAWAY for s in ours)
    for d in dirs:
        sp = report.for_dir(d)
        assert sp is not None and set(sp.pids) == set(gw.tree_pids(d)) and sp.rss_bytes > 0
        assert gw.gateway_pid in sp.trees[0].ancestors  # the parent chain: WAHA's node launched it


def test_many_sessions_leave_temp_profiles_unmapped_and_counted(waha_browsers: tuple[StandInGateway, list[Path]],
                                                                tmp_path: Path) -> None:
    gw, dirs = waha_browsers
    mapper = ProcessMapper([tmp_path / "no-auth-root"], SystemClock())
    report = mapper.scan(throwaway=True)
    assert not any(s.user_data_dir in {str(d.resolve()) for d in dirs} for s in report.sessions)
    assert report.unmapped_browsers >= 2  # ours (other stand-ins on a shared machine may add to it)
    assert summarize(HostObservation(report=report)).unmapped_browsers == report.unmapped_browsers
    # a gateway that never uses temp profiles (Pulse, Salesboy) counts none: a scraper's Chromium is not its
    assert mapper.scan(throwaway=False).unmapped_browsers == 0


async def test_evolution_says_no_browser_with_null_memory(tmp_path: Path) -> None:
    sim = EvolutionSim("an-evolution-key-for-host-facts", create_delay_s=0.0)
    url = sim.start()
    sim.add_instance("shop")
    config = config_from_values({"PULSE_TUI_GATEWAY": "evolution", "PULSE_TUI_GATEWAY_URL": url,
                                 "AUTHENTICATION_API_KEY": "an-evolution-key-for-host-facts",
                                 "XDG_STATE_HOME": str(tmp_path)})
    targets = build_targets(config, host=True, one_shot=True)
    try:
        snap = await targets.monitor.poll(full=True)
    finally:
        await targets.aclose()
        sim.stop()
    s = snap.session("shop")
    assert s is not None and s.state != ConnState.UNKNOWN
    assert s.no_browser and "Baileys" in s.no_browser
    assert s.rss_bytes is None and s.pss_bytes is None and s.browser_pids == ()
    row = next(r for r in snapshot_to_json(snap)["sessions"] if r["id"] == "shop")
    assert row["rss_bytes"] is None and row["pss_bytes"] is None and row["uss_bytes"] is None
    assert "no browser" in row["no_browser"] or "Baileys" in row["no_browser"]
    assert str(conn_cells(s, short=False)["mem"]) == "no browser"
    assert "no browser: Evolution runs Baileys" in session_details(s, snap).plain
    assert "0 B" not in session_details(s, snap).plain


def test_waha_webjs_session_details_say_why_its_browser_is_not_mapped(tmp_path: Path) -> None:
    from pulse_tui.model import SessionView

    view = SessionView(id="sales", state=ConnState.CONNECTED, since=0.0, seconds_in_state=1.0)
    obs = HostObservation()
    merged = with_host(view, obs)
    assert merged.no_browser == "" and WAHA.throwaway_profiles
    snap = _snap((merged,), HostSummary(unmapped_browsers=3))
    assert "not mapped: 3 gateway browser(s)" in session_details(merged, snap).plain
    assert "not mapped" not in session_details(merged, _snap((merged,), HostSummary())).plain


def _snap(sessions: tuple, host: HostSummary) -> Snapshot:  # type: ignore[type-arg]
    from pulse_tui.model import GatewayHealth, HealthState, KeysStatus

    return Snapshot(taken_at=10.0, gateway_kind="waha", gateway_url="http://127.0.0.1:1", gateway=GatewayHealth(
        HealthState.OK, None, None, None), sessions=sessions, redis=None, keys=KeysStatus("ok"), host=host)


async def test_waha_core_poll_puts_its_browsers_on_default(waha_browsers: tuple[StandInGateway, list[Path]],
                                                           tmp_path: Path) -> None:
    from pulse_tui.sim.waha import WahaFlavor, WahaSim

    gw, dirs = waha_browsers
    sim = WahaSim(None, flavor=WahaFlavor.CORE_2024, action_delay_s=0.0)
    url = sim.start()
    config = config_from_values({"PULSE_TUI_GATEWAY": "waha", "PULSE_TUI_GATEWAY_URL": url,
                                 "XDG_STATE_HOME": str(tmp_path)})
    targets = build_targets(config, host=True)
    try:
        await targets.monitor.poll(full=True)  # learns it is Core 2024.10.8 (the scan beside it may not know yet)
        snap = await targets.monitor.poll(full=True)
    finally:
        await targets.aclose()
        sim.stop()
    s = snap.session("default")
    assert s is not None and not s.no_browser
    assert set(gw.tree_pids(dirs[0])) | set(gw.tree_pids(dirs[1])) <= set(s.browser_pids)
    assert s.rss_bytes is not None and s.rss_bytes > 0


def test_temp_profile_browsers_outside_the_gateway_are_not_its(waha_browsers: tuple[StandInGateway, list[Path]],
                                                               tmp_path: Path) -> None:
    from pulse_tui.sim.browsers import dead_pid

    gw, dirs = waha_browsers
    mapper = ProcessMapper([tmp_path / "no-auth-root"], SystemClock())
    mine = {str(d.resolve()) for d in dirs}
    under = mapper.scan(throwaway=True, throwaway_owner="default", gateway_pids={gw.gateway_pid})
    assert {s.user_data_dir for s in under.sessions} >= mine
    elsewhere = mapper.scan(throwaway=True, throwaway_owner="default", gateway_pids={dead_pid()})
    assert not {s.user_data_dir for s in elsewhere.sessions} & mine  # another program's puppeteer: not WAHA's


# --- WAHA Plus: several sessions, one temp-profile browser each, tied by start time --------------------------


def test_match_by_start_ties_only_what_one_start_explains() -> None:
    from pulse_tui.sources.procs import match_by_start

    matched, why = match_by_start({"/t/p-1": 100.0, "/t/p-2": 130.0, "/t/p-3": 400.0},
                                  {"sales": (98.5,), "support": (131.0,)})
    assert matched == {"/t/p-1": ("sales", matched["/t/p-1"][1]), "/t/p-2": ("support", matched["/t/p-2"][1])}
    assert "1.5 s after" in matched["/t/p-1"][1] and "1.0 s before" in matched["/t/p-2"][1]  # a poll saw it late
    assert "more than 5 s from every session start" in why["/t/p-3"]
    # two sessions started together: which browser is whose cannot be told
    _, both = match_by_start({"/t/p-1": 100.0}, {"sales": (99.0,), "support": (101.0,)})
    assert "2 sessions' starts (sales, support): ambiguous" in both["/t/p-1"]
    # two browsers near one start: one is a leftover or another program's, neither is tied
    none, rivals = match_by_start({"/t/p-1": 100.0, "/t/p-2": 101.0}, {"sales": (99.0,)})
    assert none == {} and all("2 browsers started within 5 s of session sales" in w for w in rivals.values())
    # one session started twice (a restart left the old browser): each start explains one browser
    twice, _ = match_by_start({"/t/p-1": 100.0, "/t/p-2": 200.0}, {"sales": (99.0, 199.5)})
    assert {sid for sid, _note in twice.values()} == {"sales"} and len(twice) == 2


def test_session_starts_come_from_the_state_history() -> None:
    from pulse_tui.model import StateChange
    from pulse_tui.monitor.host import session_starts

    hist = [StateChange(10.0, ConnState.UNKNOWN), StateChange(13.0, ConnState.CONNECTED),  # ran before us
            StateChange(20.0, ConnState.STOPPED), StateChange(23.0, ConnState.QR),  # a start between two polls
            StateChange(30.0, ConnState.STARTING)]
    assert session_starts([("sales", hist), ("idle", [StateChange(5.0, ConnState.STOPPED)])]) == {"sales": (23.0, 30.0)}


def test_temp_profile_browsers_near_no_single_start_stay_unmapped_and_say_why(
        waha_browsers: tuple[StandInGateway, list[Path]], tmp_path: Path) -> None:
    import psutil

    gw, dirs = waha_browsers
    born = psutil.Process(gw.root_pid(dirs[0])).create_time()
    mapper = ProcessMapper([tmp_path / "no-auth-root"], SystemClock())
    mine = {str(d.resolve()) for d in dirs}
    for starts, words in (({"sales": (born,)}, "2 browsers started within 5 s of session sales"),
                          ({"sales": (born,), "support": (born + 1,)}, "ambiguous"),
                          ({"sales": (born - 100,)}, "more than 5 s from every session start")):
        report = mapper.scan(throwaway=True, gateway_pids={gw.gateway_pid}, session_starts=starts)  # type: ignore[arg-type]
        assert not {s.user_data_dir for s in report.sessions} & mine
        assert report.unmapped_browsers == 2 and sum(words in w for w in report.unmapped_why) == 2
        host = summarize(HostObservation(report=report))
        view = with_host(_view("sales"), HostObservation(report=report))
        assert words in session_details(view, _snap((view,), host)).plain


def with_host(view: SessionView, obs: HostObservation) -> SessionView:
    """The view with the observation's host facts, as the monitor builds each view (HostFacts' fields are
    SessionView's)."""
    facts = SessionHostFacts(obs).of(view.id, bool(view.no_browser))
    return replace(view, **{**facts._asdict(), "flags": view.flags | facts.flags})


def _view(sid: str, state: ConnState = ConnState.CONNECTED) -> SessionView:
    return SessionView(id=sid, state=state, since=0.0, seconds_in_state=1.0)


async def test_waha_plus_poll_ties_a_browser_to_the_session_that_just_started(tmp_path: Path) -> None:
    from pulse_tui.sim.waha import WahaSim
    from pulse_tui.sources.procs import find_orphans

    sim = WahaSim(None, sessions=("sales", "support"), action_delay_s=0.0, start_delay_s=60.0)
    url = sim.start()
    config = config_from_values({"PULSE_TUI_GATEWAY": "waha", "PULSE_TUI_GATEWAY_URL": url,
                                 "XDG_STATE_HOME": str(tmp_path)})
    targets = build_targets(config, host=True)
    profile = tmp_path / "tmp" / "puppeteer_dev_chrome_profile-Plus01"
    gw = StandInGateway([BrowserSpec(profile, children=2, lock=False)])
    try:
        first = await targets.monitor.poll(full=True)  # both STOPPED; the adapter learns WEBJS, several sessions
        assert {s.state for s in first.sessions} == {ConnState.STOPPED}
        assert targets.monitor.gateway.capabilities.throwaway_owner is None
        sim.add_session("sales", start=True)  # STARTING for a minute, as a browser boots
        gw.start()
        tree = gw.tree_pids(profile)
        await targets.monitor.poll(full=True)  # sees STARTING (the scan beside it ran on the history before)
        snap = await targets.monitor.poll(full=True)
    finally:
        gw.close()
        await targets.aclose()
        sim.stop()
    sales, support = snap.session("sales"), snap.session("support")
    assert sales is not None and support is not None and sales.state == ConnState.STARTING
    assert len(tree) == 3 and set(tree) <= set(sales.browser_pids)
    assert not support.browser_pids
    assert "matched by start time" in session_details(sales, snap).plain
    assert "matched by start time" not in session_details(support, snap).plain
    obs = targets.monitor.host_observation
    assert obs is not None and obs.report is not None
    assert find_orphans(obs.report, gateway_pids=()) == ()  # a guess is never grounds for a kill

