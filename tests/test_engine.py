"""The engine: capabilities instead of kinds, the gateway's own states, its event channel, and one log-derived state
for every front end (status --json, doctor, the exporter and the TUI's log feed)."""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from pulse_tui import cli
from pulse_tui.clock import FakeClock
from pulse_tui.config import Config, GatewayKind
from pulse_tui.doctor.checks import findings_for
from pulse_tui.events import ChannelState, ChannelStatus, EventKind, SessionEvent
from pulse_tui.exporter.metrics import SnapshotCollector
from pulse_tui.exporter.serve import Exporter, Exposition
from pulse_tui.model import ConnState, GatewayFailure, GatewayHealth, HealthState, SessionStatus, Snapshot
from pulse_tui.monitor.build import build_log_follower, build_targets
from pulse_tui.monitor.engine import Engine
from pulse_tui.monitor.service import Monitor
from pulse_tui.sim.simlog import WinstonLog
from pulse_tui.sources.gateway.budget import RequestBudget
from pulse_tui.sources.gateway.capabilities import Capabilities, QrForm
from pulse_tui.sources.logs.line import LogLine

UID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
UID2 = "16fd2706-8baf-433b-82eb-8c7fada847da"

# --- a gateway the monitor has never heard of: only its capabilities tell it apart -------------------------------

PUSHING = Capabilities(lists_sessions=True, stop_deletes_auth=False, has_restart=True, has_delete=True,
                       qr_form=QrForm.RAW, restores_from_auth_dir=False, event_stream=True)


class FakeGateway:
    """Lists two sessions and answers with a state machine of its own; counts the status requests."""

    kind = GatewayKind.PULSE  # any member: nothing in the monitor may branch on it
    url = "http://127.0.0.1:9"
    capabilities = PUSHING
    last_latency_ms = 2.0

    def __init__(self) -> None:
        self.budget = RequestBudget(None)
        self.status_calls = 0
        self.answers = {
            "alpha": SessionStatus("alpha", exists=True, ready=False, state=ConnState.QR, gateway_word="SCAN_QR_CODE",
                                   detail="waiting for a scan"),
            "beta": SessionStatus("beta", exists=True, ready=True, phone="15550001111"),
        }

    async def health(self) -> GatewayHealth:
        return GatewayHealth(HealthState.OK)

    async def list_sessions(self) -> list[str] | GatewayFailure:
        return sorted(self.answers)

    async def status(self, session_id: str) -> SessionStatus | GatewayFailure:
        self.status_calls += 1
        return self.answers[session_id]

    def budget_snapshot(self) -> tuple[int | None, int | None]:
        return None, None

    def known_states(self) -> dict[str, tuple[SessionStatus, float]]:
        return {}


class FakeChannel:
    """A connected channel that pushes the events it is given."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.queue: asyncio.Queue[SessionEvent] = asyncio.Queue()
        self._status = ChannelStatus(ChannelState.CONNECTED)
        self.watched: list[frozenset[str]] = []

    @property
    def status(self) -> ChannelStatus:
        return self._status

    def watch(self, names: Iterable[str]) -> None:
        self.watched.append(frozenset(names))

    def set_status(self, status: ChannelStatus) -> None:
        self._status = status

    def go_down(self) -> None:
        self._status = ChannelStatus(ChannelState.DOWN, "closed by the test")

    async def events(self) -> AsyncIterator[SessionEvent]:
        while True:
            yield await self.queue.get()


async def test_a_new_gateway_runs_through_the_monitor_on_its_capabilities() -> None:
    gw = FakeGateway()
    mon = Monitor(Config(), gw, clock=FakeClock())
    snap = await mon.poll()
    alpha, beta = snap.session("alpha"), snap.session("beta")
    assert alpha is not None and beta is not None
    # Its own state wins over exists/ready, and its own word is kept for the screen.
    assert alpha.state == ConnState.QR and alpha.gateway_word == "SCAN_QR_CODE" and alpha.detail == "waiting for a scan"
    assert beta.state == ConnState.CONNECTED and beta.gateway_word == ""
    # It keeps its sessions in its own store: no auth dir is no reason to fear a restart, and it logs nobody out.
    assert not beta.flags & {"will-not-survive-restart", "logout-on-shutdown"}
    assert snap.events is None


async def test_a_connected_channel_spends_no_status_requests() -> None:
    clock = FakeClock()
    gw = FakeGateway()
    channel = FakeChannel(clock)
    engine = Engine(Monitor(Config(), gw, clock=clock), channel=channel, clock=clock)
    try:
        first = await engine.poll()
        assert first.events is not None and first.events.state == ChannelState.CONNECTED
        asked = gw.status_calls
        assert asked == 2  # nothing known yet: the first poll asks each session once
        assert channel.watched == [frozenset({"alpha", "beta"})]  # the channel follows what the poll found
        clock.advance(5)
        channel.queue.put_nowait(SessionEvent("beta", EventKind.STATE, clock.now(), "phone offline", "STOPPED",
                                              ConnState.STOPPED))
        for _ in range(50):
            await asyncio.sleep(0)
            if (s := engine.current().session("beta")) is not None and s.state == ConnState.STOPPED:
                break
        for _ in range(3):
            clock.advance(30)
            snap = await engine.poll()
        beta = snap.session("beta")
        assert beta is not None and beta.state == ConnState.STOPPED and beta.gateway_word == "STOPPED"
        assert gw.status_calls == asked  # the channel told it: no request spent
        assert len(channel.watched) == 1  # the same sessions: not handed over again
        channel.go_down()
        clock.advance(30)
        down = await engine.poll()
        assert down.events is not None and down.events.state == ChannelState.DOWN
        assert gw.status_calls > asked  # polling is the fallback again
    finally:
        await engine.aclose()


async def test_a_session_the_channel_cannot_follow_is_still_polled() -> None:
    clock = FakeClock()
    gw = FakeGateway()
    channel = FakeChannel(clock)
    channel.set_status(ChannelStatus(ChannelState.CONNECTED, uncovered=frozenset({"beta"})))
    engine = Engine(Monitor(Config(), gw, clock=clock), channel=channel, clock=clock)
    try:
        await engine.poll()
        asked = gw.status_calls
        for _ in range(3):
            clock.advance(30)
            await engine.poll()
        assert gw.status_calls > asked  # beta has no namespace yet: polling covers it
        channel.set_status(ChannelStatus(ChannelState.CONNECTED))
        clock.advance(30)
        await engine.poll()
        asked = gw.status_calls
        for _ in range(3):
            clock.advance(30)
            await engine.poll()
        assert gw.status_calls == asked  # now followed: no request
    finally:
        await engine.aclose()


async def test_a_burst_of_events_is_one_snapshot_for_the_front_end() -> None:
    clock = FakeClock()
    gw = FakeGateway()
    gw.answers.update({f"s{i:03d}": SessionStatus(f"s{i:03d}", exists=True, ready=True) for i in range(100)})
    channel = FakeChannel(clock)
    pushed: list[Snapshot] = []
    engine = Engine(Monitor(Config(), gw, clock=clock), channel=channel, clock=clock, on_change=pushed.append)
    try:
        await engine.poll(full=True)
        clock.advance(5)
        for i in range(100):  # a network blip: every session drops at once
            channel.queue.put_nowait(SessionEvent(f"s{i:03d}", EventKind.STATE, clock.now(), "", "STOPPED",
                                                  ConnState.STOPPED))
        for _ in range(100):
            await asyncio.sleep(0.01)
            if pushed and all(v.state == ConnState.STOPPED for v in pushed[-1].sessions if v.id.startswith("s")):
                break
        assert pushed, "the front end was never told"
        assert all(v.state == ConnState.STOPPED for v in pushed[-1].sessions if v.id.startswith("s"))
        assert len(pushed) <= 3  # one rebuild for the burst (a slow machine may split it), not 100
    finally:
        await engine.aclose()


async def test_with_the_channel_up_the_list_is_a_check_every_30_s_not_every_poll() -> None:
    clock = FakeClock()
    gw = FakeGateway()
    listings: list[float] = []
    listed = gw.list_sessions

    async def counted() -> list[str] | GatewayFailure:
        listings.append(clock.now())
        return await listed()
    gw.list_sessions = counted  # type: ignore[method-assign]
    engine = Engine(Monitor(Config(), gw, clock=clock), channel=FakeChannel(clock), clock=clock)
    try:
        await engine.poll()
        for _ in range(5):
            clock.advance(3)
            await engine.poll()
        assert len(listings) == 1  # every session told: the channel carries the changes
        clock.advance(20)
        await engine.poll()
        assert len(listings) == 2  # the consistency check
        await engine.poll(full=True)
        assert len(listings) == 3  # a one-shot run always lists
    finally:
        await engine.aclose()


# --- one log, every front end -------------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def logged(tmp_path: Path) -> Config:
    log = WinstonLog(tmp_path / "logs")
    log.info(f"User {UID} authenticated")
    log.info(f"✅ WhatsApp client ready for user {UID}")
    log.info(f"User {UID} connected with number: 18765551234")
    log.info(f"QR code generated for user {UID2}")
    path = log.path_for_today()
    assert path is not None
    # The gateway does not answer: whatever the front ends know of these sessions, the log told them.
    return Config(gateway_url=f"http://127.0.0.1:{closed_port()}", log_globs=(str(path),), oneshot_share=0.0,
                  state_dir=tmp_path / "state", audit_log=tmp_path / "audit.jsonl")


def states(snap: Snapshot) -> dict[str, tuple[str, str | None]]:
    return {s.id: (s.state.value, s.last_known.value if s.last_known else None) for s in snap.sessions}


async def one_batch(lines: list[LogLine]) -> AsyncIterator[list[LogLine]]:
    yield lines


async def test_the_same_log_gives_the_same_states_everywhere(logged: Config, capsys: pytest.CaptureFixture[str]) -> None:
    config = logged
    follower = build_log_follower(config)
    assert follower is not None
    try:
        lines = await follower.poll()
    finally:
        await follower.aclose()

    # The TUI: its log feed goes through the engine, which applies the events before the pane shows the lines.
    targets = build_targets(config, findings=findings_for(config), host=False)
    try:
        shown = [b async for b in targets.engine.follow(one_batch(lines))]
        assert [line.text for b in shown for line in b.lines] == [line.text for line in lines]
        tui = states(await targets.engine.poll(full=True))
    finally:
        await targets.aclose()

    # The exporter.
    targets = build_targets(config, findings=findings_for(config), host=False)
    collector = SnapshotCollector()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    try:
        exporter = Exporter(targets.engine, collector, Exposition(registry), interval_s=1.0, logs=one_batch(lines))
        await exporter.follow_logs()
        await exporter.poll_once()
        assert collector.snapshot is not None
        exported = states(collector.snapshot)
    finally:
        await targets.aclose()

    # status --json and doctor --json, as the CLI runs them.
    await cli.status(config, as_json=True)
    status_doc = json.loads(capsys.readouterr().out)
    from_status = {s["id"]: (s["state"], s["last_known"]) for s in status_doc["sessions"]}
    await cli.doctor(config, argparse.Namespace(json=True, timeout=30.0))
    doctor_doc = json.loads(capsys.readouterr().out)

    assert tui[UID][0] == ConnState.CONNECTED or tui[UID][1] == ConnState.CONNECTED
    assert tui[UID2][0] == ConnState.QR or tui[UID2][1] == ConnState.QR
    assert tui == exported == from_status
    # The doctor read the same sessions: the connected one has no auth dir, so it would not survive a restart.
    lost = {tuple(f.get("subjects", ())) for f in doctor_doc["findings"]
            if f["code"] == "sessions-will-not-survive-restart"}
    assert lost and all(UID in subjects for subjects in lost)
