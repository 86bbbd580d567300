"""WAHA's event websocket against the simulator on 127.0.0.1: typed events, channel state, reconnects."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from pulse_tui.events import ChannelState, EventKind, SessionEvent
from pulse_tui.model import ConnState
from pulse_tui.sim.waha import WahaFlavor, WahaSim
from pulse_tui.sources.gateway.channel import Backoff
from pulse_tui.sources.gateway.waha_events import WahaEvents, parse_waha_event, ws_url

KEY = "waha-test-key"
FAST = dict(action_delay_s=0.05, start_delay_s=0.05, qr_first_s=5.0, qr_next_s=5.0, qr_wait_s=0.3,
            ready_delay_s=0.05, sessions=("alpha",))
WAIT_S = 5.0  # generous: the noisy machine must not fail a test; the real figure is in bench/


@pytest.fixture
def sim() -> Iterator[WahaSim]:
    s = WahaSim(KEY, **FAST)  # type: ignore[arg-type]
    s.start()
    yield s
    s.stop()


class Reader:
    """Consumes a channel in a task; tests await the events they expect."""

    def __init__(self, channel: WahaEvents) -> None:
        self.channel = channel
        self.queue: asyncio.Queue[SessionEvent] = asyncio.Queue()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for ev in self.channel.events():
            await self.queue.put(ev)

    async def next(self) -> SessionEvent:
        return await asyncio.wait_for(self.queue.get(), WAIT_S)

    async def until(self, state: ChannelState) -> None:
        async def wait() -> None:
            while self.channel.status.state != state:
                await asyncio.sleep(0.02)
        await asyncio.wait_for(wait(), WAIT_S)

    async def close(self) -> None:
        self.task.cancel()
        with_suppress = asyncio.gather(self.task, return_exceptions=True)
        await with_suppress


@pytest.fixture
async def reader(sim: WahaSim) -> AsyncIterator[Reader]:
    r = Reader(WahaEvents(sim.url, KEY, backoff=Backoff(0.05, 0.2)))
    await r.until(ChannelState.CONNECTED)
    yield r
    await r.close()


async def test_state_changes_arrive_as_typed_events_without_polling(sim: WahaSim, reader: Reader) -> None:
    polls_before = [p for (_, p, _) in sim.seen]
    sim.add_session("beta", start=True)
    ev = await reader.next()
    assert (ev.session_id, ev.kind, ev.word, ev.state) == ("beta", EventKind.STATE, "STARTING", ConnState.STARTING)
    ev = await reader.next()
    assert (ev.word, ev.state) == ("SCAN_QR_CODE", ConnState.QR)
    sim.scan("beta")
    first, second = await reader.next(), await reader.next()
    assert first.word == second.word == "WORKING"  # announced twice: authenticated, then ready
    assert first.state == ConnState.CONNECTED
    assert [p for (_, p, _) in sim.seen] == polls_before  # zero status requests
    assert reader.channel.status.events == 4


async def test_failed_is_kept_as_the_gateways_word(sim: WahaSim, reader: Reader) -> None:
    sim.add_session("beta", start=True)
    assert (await reader.next()).word == "STARTING"
    assert (await reader.next()).word == "SCAN_QR_CODE"
    sim.crash("beta")
    ev = await reader.next()
    assert ev.word == "FAILED" and ev.state == ConnState.STOPPED and ev.detail
    assert (await reader.next()).word == "STARTING"  # WAHA restarts a crashed client by itself


async def test_malformed_messages_are_skipped(sim: WahaSim, reader: Reader) -> None:
    sim.send_raw("{not json")
    sim.send_raw('{"event":"message","session":"alpha","payload":{}}')
    sim.add_session("beta", start=True)
    assert (await reader.next()).word == "STARTING"
    assert reader.channel.skipped == 2


async def test_wrong_key_is_a_down_state_with_its_reason(sim: WahaSim) -> None:
    r = Reader(WahaEvents(sim.url, "wrong", backoff=Backoff(0.05, 0.2)))
    try:
        await r.until(ChannelState.DOWN)
        assert "401" in r.channel.status.reason and "wrong" not in r.channel.status.reason
    finally:
        await r.close()


async def test_core_2024_refuses_a_single_session_subscription() -> None:
    sim = WahaSim(None, flavor=WahaFlavor.CORE_2024, **{k: v for k, v in FAST.items() if k != "sessions"})  # type: ignore[arg-type]
    sim.start()
    r = Reader(WahaEvents(sim.url, None, session="default", backoff=Backoff(0.05, 0.2)))
    try:
        async def refused() -> None:
            while "4001" not in r.channel.status.reason:
                await asyncio.sleep(0.02)
        await asyncio.wait_for(refused(), WAIT_S)
        assert r.channel.status.state in (ChannelState.DOWN, ChannelState.CONNECTING, ChannelState.CONNECTED)
    finally:
        await r.close()
        sim.stop()


async def test_reconnects_after_the_server_restarts(sim: WahaSim, reader: Reader) -> None:
    sim.stop()
    await reader.until(ChannelState.DOWN)
    assert reader.channel.status.reason
    sim.start()
    await reader.until(ChannelState.CONNECTED)
    sim.add_session("beta", start=True)
    assert (await reader.next()).session_id == "beta"
    assert reader.channel.status.reconnects >= 1


def test_parse_keeps_the_server_time_and_ignores_junk() -> None:
    ev = parse_waha_event('{"event":"session.status","session":"x","timestamp":1700000000000,'
                          '"payload":{"name":"x","status":"WORKING"}}', now=5.0)
    assert ev is not None and ev.at == 1_700_000_000.0 and ev.state == ConnState.CONNECTED
    assert parse_waha_event('{"event":"session.status","session":"x","payload":{"status":"NEW"}}', 5.0) is not None
    assert parse_waha_event("[]", 5.0) is None
    assert parse_waha_event(b"\xff", 5.0) is None


def test_ws_url_carries_the_subscription() -> None:
    assert ws_url("http://127.0.0.1:3000", None) == "ws://127.0.0.1:3000/ws?session=*&events=session.status"
    assert "x-api-key=k" in ws_url("https://127.0.0.1:3000/", "k")
    assert ws_url("https://127.0.0.1:3000/", "k").startswith("wss://")


async def test_a_peer_that_never_answers_the_handshake_is_a_timeout() -> None:
    """A hung peer: TCP accepted, no HTTP answer. The channel says so; it never hangs or raises."""
    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)
    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    r = Reader(WahaEvents(f"http://127.0.0.1:{port}", None, open_timeout_s=0.3, backoff=Backoff(1.0, 1.0)))
    try:
        async def timed_out() -> None:
            while "within 0.3s" not in r.channel.status.reason:
                await asyncio.sleep(0.02)
        await asyncio.wait_for(timed_out(), WAIT_S)
    finally:
        await r.close()
        server.close()


async def test_an_oversized_message_closes_then_the_channel_recovers(sim: WahaSim, reader: Reader) -> None:
    reader.channel.backoff = Backoff(0.5, 0.5)  # the DOWN state lasts long enough to be seen
    sim.send_raw("x" * (2 << 20))

    async def closed() -> None:
        while "1009" not in reader.channel.status.reason:
            await asyncio.sleep(0.01)
    await asyncio.wait_for(closed(), WAIT_S)
    await reader.until(ChannelState.CONNECTED)
    sim.add_session("beta", start=True)
    assert (await reader.next()).session_id == "beta"


async def test_each_sent_event_is_stamped_for_the_bench(sim: WahaSim, reader: Reader) -> None:
    before = time.monotonic()
    await asyncio.to_thread(sim.set_status, "alpha", "WORKING")
    ev = await reader.next()
    got = time.monotonic()
    assert ev.session_id == "alpha" and ev.state == ConnState.CONNECTED
    stamps = await asyncio.to_thread(sim.sent_events)
    assert [(s.session, s.status) for s in stamps] == [("alpha", "WORKING")]  # one event, no ready echo
    assert before <= stamps[0].at <= got


async def test_each_status_get_is_stamped_for_the_bench(sim: WahaSim) -> None:
    async with httpx.AsyncClient(base_url=sim.url, headers={"X-Api-Key": KEY}, trust_env=False) as c:
        before = time.monotonic()
        assert (await c.get("/api/sessions/alpha")).status_code == 200
        assert (await c.get("/api/sessions", params={"all": "true"})).status_code == 200  # a listing: not one
        assert (await c.get("/api/sessions/nobody")).status_code == 404  # no such session: not one either
    asks = await asyncio.to_thread(sim.status_asks)
    assert [name for _, name in asks] == ["alpha"]
    assert before <= asks[0][0] <= time.monotonic()
