"""Evolution's socket.io channel against the simulator on 127.0.0.1: typed events, namespaces that appear late,
QR limit, logout, reconnects, a refused key."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from pulse_tui.events import ChannelState, EventKind, SessionEvent
from pulse_tui.model import ConnState
from pulse_tui.sim.evolution import EvolutionSim
from pulse_tui.sources.gateway.channel import Backoff
from pulse_tui.sources.gateway.evolution_events import EvolutionEvents, parse_evolution_event

KEY = "testkey123"
FAST = dict(create_delay_s=0.05, connect_delay_s=0.05, qr_delay_s=0.05, qr_interval_s=10.0, step_s=0.05)
WAIT_S = 5.0  # generous: the noisy machine must not fail a test; the real figure is in bench/


@pytest.fixture
def sim() -> Iterator[EvolutionSim]:
    s = EvolutionSim(KEY, **FAST)  # type: ignore[arg-type]
    s.start()
    yield s
    s.stop()


class Reader:
    def __init__(self, channel: EvolutionEvents) -> None:
        self.channel = channel
        self.queue: asyncio.Queue[SessionEvent] = asyncio.Queue()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for ev in self.channel.events():
            await self.queue.put(ev)

    async def next_of(self, kind: EventKind, word: str = "") -> SessionEvent:
        """The next event of `kind` (and word), skipping others."""
        async def find() -> SessionEvent:
            while True:
                ev = await self.queue.get()
                if ev.kind == kind and word in ev.word:
                    return ev
        return await asyncio.wait_for(find(), WAIT_S)

    async def until(self, state: ChannelState) -> None:
        async def wait() -> None:
            while self.channel.status.state != state:
                await asyncio.sleep(0.02)
        await asyncio.wait_for(wait(), WAIT_S)

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


def channel(sim: EvolutionSim, names: tuple[str, ...], key: str | None = KEY,
            missing_retry_s: float = 0.05) -> EvolutionEvents:
    return EvolutionEvents(sim.url, key, names, backoff=Backoff(0.05, 0.2), missing_retry_s=missing_retry_s)


@pytest.fixture
async def ready(sim: EvolutionSim) -> AsyncIterator[Reader]:
    """A channel on instance i1, whose namespace already exists (it emitted once)."""
    sim.add_instance("i1", connect=True, paired=True)

    async def opened() -> None:
        while sim.states("i1") != ("open", "open"):
            await asyncio.sleep(0.02)
    await asyncio.wait_for(opened(), WAIT_S)
    r = Reader(channel(sim, ("i1",)))
    await r.until(ChannelState.CONNECTED)
    yield r
    await r.close()


async def test_state_changes_arrive_typed_without_polling(sim: EvolutionSim, ready: Reader) -> None:
    before = list(sim.seen)
    assert sim.lose_connection("i1")
    ev = await ready.next_of(EventKind.STATE, "connecting")
    assert ev.session_id == "i1" and ev.state == ConnState.STARTING
    ev = await ready.next_of(EventKind.STATE, "open")
    assert ev.state == ConnState.CONNECTED
    assert sim.seen == before  # not one HTTP request
    assert ready.channel.status.events >= 2


async def test_logout_by_the_phone(sim: EvolutionSim, ready: Reader) -> None:
    assert sim.unlink("i1")
    ev = await ready.next_of(EventKind.LOGGED_OUT)
    assert ev.reason_code == 401 and "new QR" in ev.detail
    ev = await ready.next_of(EventKind.STATE, "close")
    assert ev.state == ConnState.STOPPED and ev.reason_code == 401


async def test_a_namespace_that_appears_later(sim: EvolutionSim) -> None:
    sim.add_instance("i2")  # never emitted: its namespace does not exist yet
    r = Reader(channel(sim, ("i2",), missing_retry_s=0.3))  # long enough for the DOWN reason to be seen
    try:
        async def missing() -> None:
            while r.channel.status.uncovered != {"i2"}:
                await asyncio.sleep(0.02)
        await asyncio.wait_for(missing(), WAIT_S)
        assert r.channel.status.state == ChannelState.CONNECTING  # nothing followed: everything is polled
        assert "no instance has a socket.io namespace yet" in r.channel.status.reason
        assert r.channel.namespace_status("i2") is not None
        assert "does not exist yet" in (r.channel.namespace_status("i2") or r.channel.status).reason
        sim.set_db_state("i2", "close")
        await asyncio.to_thread(sim.call, lambda: sim._connect(sim.instances["i2"]))
        await r.until(ChannelState.CONNECTED)
        await asyncio.to_thread(sim.call, lambda: sim._new_qr(sim.instances["i2"]))
        ev = await r.next_of(EventKind.QR)
        assert ev.session_id == "i2" and ev.word == "qrcode.updated"
    finally:
        await r.close()


async def test_qr_limit_is_its_own_kind(ready: Reader, sim: EvolutionSim) -> None:
    await asyncio.to_thread(sim.call, lambda: sim._refuse(sim.instances["i1"]))
    ev = await ready.next_of(EventKind.QR_LIMIT, "refused")
    assert ev.reason_code == 428 and ev.state == ConnState.STOPPED


async def test_refused_key_is_a_down_state(sim: EvolutionSim) -> None:
    sim.add_instance("i1", connect=True)
    r = Reader(channel(sim, ("i1",), key="wrong"))
    try:
        async def refused() -> None:
            while "API key" not in r.channel.status.reason:
                await asyncio.sleep(0.02)
        await asyncio.wait_for(refused(), WAIT_S)
        assert r.channel.status.state != ChannelState.CONNECTED and "wrong" not in r.channel.status.reason
    finally:
        await r.close()


async def test_reconnects_after_a_server_restart(sim: EvolutionSim, ready: Reader) -> None:
    sim.stop()
    await ready.until(ChannelState.DOWN)
    sim.start()
    await asyncio.to_thread(sim.call, lambda: sim._emit(sim.instances["i1"], "connection.update",
                                                        {"instance": "i1", "state": "open", "statusReason": 200}))
    await ready.until(ChannelState.CONNECTED)
    assert ready.channel.status.reconnects >= 1


async def test_watch_follows_new_instances(sim: EvolutionSim, ready: Reader) -> None:
    sim.add_instance("i9", connect=True, paired=True)  # emits, so its namespace exists

    async def opened() -> None:
        while sim.states("i9") != ("open", "open"):
            await asyncio.sleep(0.02)
    await asyncio.wait_for(opened(), WAIT_S)
    ready.channel.watch(["i1", "i9"])
    await ready.until(ChannelState.CONNECTED)
    status = ready.channel.namespace_status("i9")
    assert status is not None and status.state == ChannelState.CONNECTED
    assert sim.lose_connection("i9")
    ev = await ready.next_of(EventKind.STATE, "open")
    assert ev.session_id == "i9"
    ready.channel.watch(["i9"])
    assert ready.channel.namespace_status("i1") is None


async def test_an_instance_without_a_namespace_is_polled_while_the_others_are_followed(
        sim: EvolutionSim, ready: Reader) -> None:
    sim.add_instance("quiet")  # closed since Evolution started: no event, no namespace
    ready.channel.watch(["i1", "quiet"])

    async def split() -> None:
        while ready.channel.status.uncovered != {"quiet"}:
            await asyncio.sleep(0.02)
    await asyncio.wait_for(split(), WAIT_S)
    status = ready.channel.status
    assert status.state == ChannelState.CONNECTED, status  # i1 is followed: the channel is up
    assert sim.lose_connection("i1")
    assert (await ready.next_of(EventKind.STATE, "open")).session_id == "i1"
    await asyncio.to_thread(sim.call, lambda: sim._connect(sim.instances["quiet"]))  # its first event: a namespace

    async def covered() -> None:
        while ready.channel.status.uncovered:
            await asyncio.sleep(0.02)
    await asyncio.wait_for(covered(), WAIT_S)
    assert ready.channel.status.state == ChannelState.CONNECTED


def test_parse_drops_what_it_does_not_follow() -> None:
    body = {"event": "connection.update", "instance": "i1", "date_time": "2026-12-01T18:49:08.899Z",
            "data": {"instance": "i1", "state": "open", "statusReason": 200}, "apikey": "TOKEN"}
    ev = parse_evolution_event("connection.update", body, now=1.0)
    assert ev is not None and ev.state == ConnState.CONNECTED and ev.at > 1_700_000_000
    assert "TOKEN" not in repr(ev)
    assert parse_evolution_event("messages.upsert", body, 1.0) is None
    assert parse_evolution_event("connection.update", "junk", 1.0) is None
    limit = parse_evolution_event("qrcode.updated", {"instance": "i1", "data": {"message": "limit",
                                                                              "statusCode": 500}}, 1.0)
    assert limit is not None and limit.kind == EventKind.QR_LIMIT
