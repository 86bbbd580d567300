"""The watchdog inside the TUI (issue 18): `W`, its header line, its decisions in the details, against the
real Salesboy simulator over HTTP; a fake clock moves the backoff."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from textual.pilot import Pilot

from pulse_tui.audit import AuditLog
from pulse_tui.clock import FakeClock
from pulse_tui.config import Config
from pulse_tui.model import ConnState
from pulse_tui.monitor.build import Targets, build_targets
from pulse_tui.sim.gateway import Fault, GatewaySim
from pulse_tui.tui.app import PulseApp
from pulse_tui.tui.help import help_text
from pulse_tui.tui.rows import watch_line
from pulse_tui.watch.journal import watch_paths
from pulse_tui.watch.lock import WatchLock
from pulse_tui.watch.policy import Policy
from pulse_tui.watch.watchdog import Mode, Planned
from tests.tui_helpers import API_KEY, UID_A, make_sim, poll

POLICY = Policy(jitter=0.0, backoff_base_s=30.0, restore_slack_s=0.0)


@dataclass
class World:
    sim: GatewaySim
    clock: FakeClock
    config: Config
    targets: Targets
    tmp: Path

    def app(self) -> PulseApp:
        return PulseApp(self.config, self.targets.monitor, self.targets.gateway, host=self.targets.monitor, clock=self.clock,
                        audit=AuditLog(self.tmp / "audit.jsonl", self.clock), autopoll=False, watch_policy=POLICY)

    def starts(self) -> int:
        return sum(1 for method, path, _ in self.sim.seen if method == "POST" and path.startswith("/session/start"))

    def audit(self) -> list[dict[str, object]]:
        path = self.tmp / "audit.jsonl"
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []

    def lock_path(self) -> Path:
        assert self.config.state_dir is not None
        return watch_paths(self.config.state_dir, self.config.gateway_url)[2]


def make_world(tmp_path: Path, *, read_only: bool = False) -> World:
    sim = make_sim(tmp_path, (UID_A,))
    clock = FakeClock()
    config = Config(gateway_url=sim.url, api_key=API_KEY, auth_dirs=(sim.auth_root,), read_only=read_only,
                    poll_seconds=0.5, request_budget=10_000, state_dir=tmp_path / "state",
                    audit_log=tmp_path / "audit.jsonl")
    return World(sim, clock, config, build_targets(config, clock, host=False), tmp_path)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    w = make_world(tmp_path)
    yield w
    await w.targets.aclose()
    w.sim.stop()


def header(app: PulseApp) -> str:
    return str(app.main.query_one("#hdr-watch").content)


async def until_state(app: PulseApp, pilot: Pilot[int], w: World, state: ConnState, advance: float = 3.0) -> None:
    """Poll (the fake clock moving `advance` each time) until UID_A is in `state`; the simulator moves in real time."""
    for _ in range(80):
        w.clock.advance(advance)
        await poll(app, pilot)
        s = app.snapshot.session(UID_A) if app.snapshot else None
        if s is not None and s.state == state:
            return
        await pilot.pause(0.1)
    raise AssertionError(f"{UID_A} never became {state.value}")


async def connected(app: PulseApp, pilot: Pilot[int], w: World) -> None:
    assert (await w.targets.gateway.start(UID_A)).ok
    await until_state(app, pilot, w, ConnState.CONNECTED)


async def settle(app: PulseApp, pilot: Pilot[int]) -> None:
    """Let the watchdog's step worker finish (it runs beside the UI)."""
    for _ in range(50):
        await pilot.pause(0.05)
        if not app._watch_busy:  # noqa: SLF001
            return
    raise AssertionError("the watchdog step never ended")


async def test_w_toggles_the_watchdog_off_by_default_and_the_header_says_so(world: World) -> None:
    app = world.app()
    async with app.run_test(size=(160, 40)) as pilot:
        await poll(app, pilot)
        assert app.main.has_class("-watch")
        assert header(app).startswith("Watch   watchdog off")
        assert app.watchdog is None  # nothing built, no lock taken until W
        await pilot.press("W")
        await settle(app, pilot)
        assert app.watchdog is not None and app.watchdog.mode == Mode.ACTING
        assert "watchdog on · nothing planned" in header(app)
        assert WatchLock(world.lock_path()).acquire() is False  # ours now: a headless one would observe
        await pilot.press("W")
        assert app.watchdog.mode == Mode.OFF
        assert header(app).startswith("Watch   watchdog off")
        other = WatchLock(world.lock_path())
        assert other.acquire() is True  # released when switched off
        other.release()


async def test_a_dropped_restorable_session_is_restarted_by_the_tui_watchdog(world: World) -> None:
    w = world
    app = w.app()
    async with app.run_test(size=(160, 40)) as pilot:
        await connected(app, pilot, w)
        await pilot.press("W")
        await settle(app, pilot)
        starts = w.starts()
        assert w.sim.disconnect(UID_A, "NAVIGATION")
        await until_state(app, pilot, w, ConnState.RESTORABLE, advance=0.5)
        await settle(app, pilot)
        nxt = app.watchdog.next_action() if app.watchdog else None
        assert nxt is not None and nxt.action == "start" and nxt.session == UID_A
        assert f"next: start {UID_A} in " in header(app)
        assert w.starts() == starts  # inside the backoff: nothing yet
        w.clock.advance(31.0)
        await poll(app, pilot)
        await settle(app, pilot)
        assert w.starts() == starts + 1
        (line,) = [x for x in w.audit() if x.get("action") == "start" and x.get("target") == UID_A]
        assert str(line["reason"]).startswith("watchdog") and line["ok"] is True
        await until_state(app, pilot, w, ConnState.CONNECTED)
        await settle(app, pilot)
        # The session's details show the decision from the journal.
        app.main.conn_table.focus()
        details = app.main.details_for_selection().plain
        assert "Watchdog (its journal)" in details and "acted start" in details
        assert "nothing planned" in header(app)


async def test_the_tui_watchdog_observes_when_another_one_holds_the_lock(world: World) -> None:
    w = world
    other = WatchLock(w.lock_path())
    assert other.acquire()
    app = w.app()
    try:
        async with app.run_test(size=(160, 40)) as pilot:
            await connected(app, pilot, w)
            await pilot.press("W")
            await settle(app, pilot)
            assert "observer (another watchdog acts on this gateway)" in header(app)
            starts = w.starts()
            assert w.sim.disconnect(UID_A, "NAVIGATION")
            await until_state(app, pilot, w, ConnState.RESTORABLE, advance=0.5)
            for _ in range(3):
                w.clock.advance(60.0)
                await poll(app, pilot)
                await settle(app, pilot)
            assert w.starts() == starts and w.audit() == []  # the other one acts, not us
            assert app.watchdog is not None and app.watchdog.counts["would-act"] >= 1
            other.release()
            await pilot.pause(1.2)  # the 1 s tick retries the lock: the actor left, we take over
            assert app.watchdog.mode == Mode.ACTING
            assert "observer" not in header(app)
    finally:
        other.release()


async def test_w_is_refused_in_read_only_mode(tmp_path: Path) -> None:
    w = make_world(tmp_path, read_only=True)
    app = w.app()
    try:
        async with app.run_test(size=(160, 40)) as pilot:
            await poll(app, pilot)
            await pilot.press("W")
            await pilot.pause()
            assert app.watchdog is None
            assert any("Read-only mode: the watchdog stays off" in n.message for n in app._notifications)  # noqa: SLF001
            assert header(app).startswith("Watch   watchdog off")
            free = WatchLock(w.lock_path())
            assert free.acquire()  # never took the lock from a real actor
            free.release()
    finally:
        await w.targets.aclose()
        w.sim.stop()


def test_help_lists_the_watchdog_key() -> None:
    assert any(line.strip().startswith("W ") and "watchdog" in line for line in help_text("/a", False).splitlines())


async def test_a_gateway_down_pauses_the_tui_watchdog_and_the_header_says_why(world: World) -> None:
    w = world
    app = w.app()
    async with app.run_test(size=(160, 40)) as pilot:
        await connected(app, pilot, w)
        await pilot.press("W")
        await settle(app, pilot)
        w.sim.set_fault(Fault.DOWN)
        starts = w.starts()
        for _ in range(3):
            w.clock.advance(60.0)
            await poll(app, pilot)
            await settle(app, pilot)
        assert "watchdog paused: gateway" in header(app)
        assert w.starts() == starts
        w.sim.set_fault(Fault.NONE)
        for _ in range(10):  # back up: the monitor's retry, then the gateway's own restore queue is waited for
            w.clock.advance(15.0)
            await poll(app, pilot)
            await settle(app, pilot)
            if "paused" not in header(app):
                break
        assert header(app).endswith("watchdog on · nothing planned")


async def test_a_bad_watch_variable_keeps_the_watchdog_off_and_names_it(world: World,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULSE_TUI_WATCH_MAX_PER_HOUR", "lots")
    app = PulseApp(world.config, world.targets.monitor, world.targets.gateway, host=world.targets.monitor, clock=world.clock,
                   audit=AuditLog(world.tmp / "audit.jsonl", world.clock), autopoll=False)  # policy from the env
    async with app.run_test(size=(160, 40)) as pilot:
        await poll(app, pilot)
        await pilot.press("W")
        await pilot.pause()
        assert app.watchdog is None
        assert any("PULSE_TUI_WATCH_MAX_PER_HOUR" in n.message for n in app._notifications)  # noqa: SLF001
        assert header(app).startswith("Watch   watchdog off")


def test_the_header_line_words() -> None:
    plan = Planned("s-1", "start", at=1020.4, reason="watchdog: …")
    assert watch_line("acting", "", plan, 1000.0).plain == "Watch   ● watchdog on · next: start s-1 in 20 s"
    assert watch_line("acting", "", plan, 1030.0).plain.endswith("next: start s-1 now")
    assert watch_line("acting", "gateway down", None, 0.0).plain == "Watch   watchdog paused: gateway down"
    assert "observer (another watchdog acts" in watch_line("observer", "", None, 0.0).plain
    assert "(watchdog lock /x not usable (Permission denied))" in watch_line(
        "observer", "", None, 0.0, lock_error="watchdog lock /x not usable (Permission denied)").plain
    assert "2 circuit(s) open" in watch_line("acting", "", None, 0.0, circuits=2).plain
    # Untrusted ids are shown, never interpreted.
    assert "\x1b" not in watch_line("acting", "", Planned("\x1b[2Jx", "start", 5.0, ""), 0.0).plain


async def test_c_resets_an_open_circuit_through_the_journal_after_asking(world: World) -> None:
    """A circuit a watchdog opened (here: a headless one, through the shared journal) is closed from the TUI: the
    same reset entry `pulse-tui watch --reset` writes, audited."""
    from pulse_tui.tui.confirm import ConfirmScreen
    from pulse_tui.watch.journal import RESET, Entry, Journal

    w = world
    assert w.config.state_dir is not None
    journal = Journal(watch_paths(w.config.state_dir, w.config.gateway_url)[0])
    app = w.app()
    async with app.run_test(size=(160, 40)) as pilot:
        await connected(app, pilot, w)
        await pilot.press("C")  # no circuit open: refused, nothing written
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen) and journal.last(10) == []
        journal.append(Entry(w.clock.now(), "circuit-open", UID_A, reason="flapping: 6 transitions in 10 min"))
        await poll(app, pilot)  # the app reads the journal when it changed
        await pilot.press("C")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert journal.last(10)[-1].kind == "circuit-open"  # cancelled: still open
        await pilot.press("C")
        await pilot.pause()
        await pilot.press("y")
        for _ in range(40):
            await pilot.pause(0.05)
            if journal.last(10)[-1].kind == RESET:
                break
        last = journal.last(10)[-1]
        assert (last.kind, last.session) == (RESET, UID_A)
        assert any(a["action"] == "reset-circuit" and a["target"] == UID_A and a["ok"] for a in w.audit())


async def test_c_is_refused_in_read_only_mode(tmp_path: Path) -> None:
    from pulse_tui.watch.journal import Entry, Journal

    w = make_world(tmp_path, read_only=True)
    try:
        assert w.config.state_dir is not None
        journal = Journal(watch_paths(w.config.state_dir, w.config.gateway_url)[0])
        journal.append(Entry(w.clock.now(), "circuit-open", UID_A, reason="flapping"))
        app = w.app()
        async with app.run_test(size=(160, 40)) as pilot:
            await poll(app, pilot)
            await app.reset_circuit(UID_A)
            assert journal.last(10)[-1].kind == "circuit-open"
    finally:
        await w.targets.aclose()
        w.sim.stop()
