"""WAHA adapter against the WAHA simulator over HTTP on 127.0.0.1: states, QR, pairing, actions, versions, faults."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from pulse_tui.model import ConnState, GatewayFailure, HealthState, QrCode, SessionStatus
from pulse_tui.sim.gateway import Fault
from pulse_tui.sim.waha import WahaFlavor, WahaSim
from pulse_tui.sources.gateway.base import Gateway, Timeouts
from pulse_tui.sources.gateway.waha import WahaGateway, parse_session
from tests.sim_helpers import started_sims

KEY = "waha-test-key"
FAST = dict(action_delay_s=0.05, start_delay_s=0.05, qr_first_s=0.3, qr_next_s=0.2, qr_wait_s=0.3,
            ready_delay_s=0.05)


async def eventually(cond: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if await cond():
            return
        await asyncio.sleep(0.03)
    raise AssertionError("condition not reached in time")


@pytest.fixture
def make_sim() -> Iterator[Callable[..., WahaSim]]:
    with started_sims(lambda **kw: WahaSim(KEY, **kw), **FAST, sessions=("alpha", "beta")) as make:
        yield make


@pytest.fixture
def sim(make_sim: Callable[..., WahaSim]) -> WahaSim:
    return make_sim()


@pytest.fixture
async def gw(sim: WahaSim) -> AsyncIterator[WahaGateway]:
    g = WahaGateway(sim.url, KEY, qr_poll_s=0.05)
    yield g
    await g.aclose()


async def status_of(gw: WahaGateway, name: str) -> SessionStatus:
    st = await gw.status(name)
    assert isinstance(st, SessionStatus), st
    return st


async def test_satisfies_the_gateway_protocol(gw: WahaGateway) -> None:
    assert isinstance(gw, Gateway)
    caps = gw.capabilities
    assert caps.lists_sessions and not caps.stop_deletes_auth and caps.pairing_code and caps.event_stream
    assert caps.has_logout and "empties" in caps.consequences.logout
    await gw.probe()
    assert gw.capabilities.browser_per_session  # the simulator reports engine WEBJS


async def test_lists_stopped_sessions_too(gw: WahaGateway) -> None:
    assert await gw.list_sessions() == ["alpha", "beta"]


async def test_every_state_with_the_gateway_word(sim: WahaSim, gw: WahaGateway) -> None:
    st = await status_of(gw, "alpha")
    assert (st.state, st.gateway_word, st.exists, st.ready) == (ConnState.STOPPED, "STOPPED", True, False)
    res = await gw.start("alpha")
    assert res.ok, res.message
    assert (await status_of(gw, "alpha")).state in (ConnState.STARTING, ConnState.QR)

    async def qr_shown() -> bool:
        s = await status_of(gw, "alpha")
        return s.state == ConnState.QR and s.qr is not None and bool(s.qr.payload)
    await eventually(qr_shown)
    assert sim.scan("alpha", phone="18765550100", push_name="Ana")
    st = await status_of(gw, "alpha")
    assert (st.state, st.ready, st.phone, st.name) == (ConnState.CONNECTED, True, "18765550100", "Ana")
    assert st.last_activity is not None
    assert sim.unlink("alpha")
    st = await status_of(gw, "alpha")
    assert st.state == ConnState.STOPPED and st.gateway_word == "FAILED" and "unlinked" in st.detail
    assert st.phone is None


async def test_unknown_session_does_not_exist(gw: WahaGateway) -> None:
    st = await status_of(gw, "ghost")
    assert not st.exists and st.state == ConnState.STOPPED and st.gateway_word == "not found"


async def test_invalid_name_sends_no_request(sim: WahaSim, gw: WahaGateway) -> None:
    before = len(sim.seen)
    st = await gw.status("a/b")
    assert isinstance(st, GatewayFailure) and st.status_code == 400
    assert len(sim.seen) == before


def test_an_unknown_status_word_is_unknown_not_an_error() -> None:
    st = parse_session("x", {"name": "x", "status": "HIBERNATING", "me": None})
    assert isinstance(st, SessionStatus)
    assert st.state == ConnState.UNKNOWN and st.gateway_word == "HIBERNATING"
    assert isinstance(parse_session("x", {"name": "x"}), GatewayFailure)


async def test_qr_codes_rotate_then_failed(make_sim: Callable[..., WahaSim]) -> None:
    sim = make_sim(qr_first_s=0.15, qr_next_s=0.15, qr_max=3)
    gw = WahaGateway(sim.url, KEY, qr_poll_s=0.03)
    try:
        assert (await gw.start("alpha")).ok
        seen: list[str] = []

        async def collect() -> None:
            async for item in gw.qr_stream("alpha"):
                if isinstance(item, QrCode) and item.payload:
                    seen.append(item.payload)
        task = asyncio.create_task(collect())

        async def failed() -> bool:
            return (await status_of(gw, "alpha")).gateway_word == "FAILED"
        await eventually(failed)
        task.cancel()
        assert 2 <= len(seen) <= 3 and len(set(seen)) == len(seen)
        assert await gw.qr("alpha") is None  # FAILED shows no QR
        await gw.list_sessions()
        facts = gw.facts()
        assert facts.qr_codes_seen == {"alpha": len(seen)}  # kept for the doctor after FAILED
        assert [s.status for s in facts.sessions if s.name == "alpha"] == ["FAILED"]
    finally:
        await gw.aclose()


async def test_qr_of_a_stopped_or_working_session_is_none(sim: WahaSim, gw: WahaGateway) -> None:
    assert await gw.qr("alpha") is None  # 404 "We didn't find a session…"
    await gw.start("alpha")
    await eventually(lambda: _is(gw, "alpha", ConnState.QR))
    sim.scan("alpha")
    assert await gw.qr("alpha") is None  # 422 "Session status is not as expected"


async def _is(gw: WahaGateway, name: str, state: ConnState) -> bool:
    st = await gw.status(name)
    return isinstance(st, SessionStatus) and st.state == state


async def test_pairing_code_flow(sim: WahaSim, gw: WahaGateway) -> None:
    bad = await gw.request_pairing_code("alpha", "12ab")
    assert isinstance(bad, GatewayFailure) and "digits" in bad.detail
    await gw.start("alpha")
    code = await gw.request_pairing_code("alpha", "+12132132130")
    assert isinstance(code, str) and len(code) == 9 and code[4] == "-"
    assert sim.scan("alpha")
    assert await _is(gw, "alpha", ConnState.CONNECTED)


async def test_pairing_code_on_a_stopped_session_is_a_failure(gw: WahaGateway) -> None:
    got = await gw.request_pairing_code("alpha", "12132132130")
    assert isinstance(got, GatewayFailure) and got.status_code == 422


async def test_actions(sim: WahaSim, gw: WahaGateway) -> None:
    assert (await gw.start("alpha")).ok
    again = await gw.start("alpha")
    assert not again.ok and "already started" in again.message
    await eventually(lambda: _is(gw, "alpha", ConnState.QR))
    sim.scan("alpha")
    res = await gw.restart("alpha")
    assert res.ok and "STARTING" in res.message
    await eventually(lambda: _is(gw, "alpha", ConnState.CONNECTED))  # current servers keep the auth
    res = await gw.logout("alpha")
    assert res.ok
    await eventually(lambda: _is(gw, "alpha", ConnState.QR))  # logout empties the auth and starts again
    res = await gw.stop("alpha")
    assert res.ok and "STOPPED" in res.message
    assert await _is(gw, "alpha", ConnState.STOPPED)
    assert (await gw.delete("alpha")).ok
    assert await gw.list_sessions() == ["beta"]


async def test_start_creates_a_session_the_server_does_not_know(sim: WahaSim, gw: WahaGateway) -> None:
    res = await gw.start("gamma")
    assert res.ok and "created" in res.message
    assert "gamma" in await gw.list_sessions()


async def test_current_server_probe_and_health(gw: WahaGateway) -> None:
    server = await gw.probe()
    assert not isinstance(server, GatewayFailure)
    assert not server.single_default and server.has_health and server.key_enforced is True
    assert server.environment_shows_keys is False
    h = await gw.health()
    assert h.state == HealthState.OK and "2026" in h.detail


async def test_wrong_key_is_unauthorized(sim: WahaSim) -> None:
    gw = WahaGateway(sim.url, "wrong")
    try:
        got = await gw.list_sessions()
        assert isinstance(got, GatewayFailure) and got.state == HealthState.UNAUTHORIZED
        assert "wrong" not in got.detail
        assert (await gw.health()).state == HealthState.UNAUTHORIZED
    finally:
        await gw.aclose()


async def test_core_2024_version_adaptation(make_sim: Callable[..., WahaSim]) -> None:
    sim = make_sim(flavor=WahaFlavor.CORE_2024)
    gw = WahaGateway(sim.url, None)  # Core 2024.10.8 checks no key
    try:
        h = await gw.health()
        assert h.state == HealthState.OK, h.detail
        assert "2024.10.8" in gw.capabilities.version_note and "only the 'default'" in gw.capabilities.version_note
        assert ("GET", "/ping", 200) in sim.seen and ("GET", "/health", 422) not in sim.seen
        server = gw.server
        assert server is not None and server.single_default and server.key_enforced is False
        assert server.environment_shows_keys is True
        assert await gw.list_sessions() == ["default"]
        before = len(sim.seen)
        other = await gw.status("alpha")
        assert isinstance(other, GatewayFailure) and "default" in other.detail
        assert len(sim.seen) == before  # refused locally, as the server would with its 422
        assert (await gw.start("default")).ok
        await eventually(lambda: _is(gw, "default", ConnState.QR))
    finally:
        await gw.aclose()


async def test_health_falls_back_to_ping_on_a_422(make_sim: Callable[..., WahaSim]) -> None:
    """A server that answers /health with 422 although its version looked new: ping instead."""
    sim = make_sim(flavor=WahaFlavor.CORE_2024)
    gw = WahaGateway(sim.url, None)
    try:
        await gw.probe()
        assert gw.server is not None
        from dataclasses import replace
        gw.server = replace(gw.server, has_health=True)
        assert (await gw.health()).state == HealthState.OK
        assert gw.server.has_health is False
    finally:
        await gw.aclose()


@pytest.mark.parametrize(("fault", "state"), [
    (Fault.DOWN, HealthState.DOWN),
    (Fault.ERROR_500, HealthState.ERROR),
    (Fault.UNAUTHORIZED, HealthState.UNAUTHORIZED),
    (Fault.GARBAGE, HealthState.ERROR),
    (Fault.SHAPE, HealthState.ERROR),
    (Fault.RATE_LIMITED, HealthState.RATE_LIMITED),
])
async def test_faults_are_typed(sim: WahaSim, gw: WahaGateway, fault: Fault, state: HealthState) -> None:
    sim.set_fault(fault)
    listed = await gw.list_sessions()
    assert isinstance(listed, GatewayFailure) and listed.state == state
    st = await gw.status("alpha")
    assert isinstance(st, GatewayFailure) and st.state == state
    res = await gw.stop("alpha")
    assert not res.ok and res.failure is not None


async def test_slow_server_times_out(sim: WahaSim) -> None:
    sim.set_fault(Fault.SLOW, slow_s=3.0)
    gw = WahaGateway(sim.url, KEY, timeouts=Timeouts(connect_s=0.5, status_s=0.3, action_s=0.3))
    try:
        got = await gw.list_sessions()
        assert isinstance(got, GatewayFailure) and got.state == HealthState.DOWN and "0.3s" in got.detail
    finally:
        await gw.aclose()


async def test_stopped_server_is_down(sim: WahaSim) -> None:
    url = sim.url
    sim.stop()
    gw = WahaGateway(url, KEY)
    try:
        h = await gw.health()
        assert h.state == HealthState.DOWN
    finally:
        await gw.aclose()


async def test_the_listing_gives_every_state_without_a_request_each(sim: WahaSim, gw: WahaGateway) -> None:
    assert gw.known_states() == {}
    assert (await gw.start("alpha")).ok
    await gw.list_sessions()
    known = gw.known_states()
    assert set(known) == {"alpha", "beta"}
    assert known["beta"][0].state == ConnState.STOPPED and known["beta"][0].gateway_word == "STOPPED"
    assert known["alpha"][0].state in (ConnState.STARTING, ConnState.QR)


async def test_a_poll_learns_every_session_from_one_listing(make_sim: Callable[..., WahaSim]) -> None:
    from pulse_tui.clock import SystemClock
    from pulse_tui.config import Config
    from pulse_tui.monitor.service import Monitor

    sim = make_sim(sessions=tuple(f"s{i:02d}" for i in range(40)))
    gw = WahaGateway(sim.url, KEY)
    try:
        snap = await Monitor(Config(gateway_url=sim.url), gw, clock=SystemClock()).poll()
        assert len(snap.sessions) == 40
        assert {s.state for s in snap.sessions} == {ConnState.STOPPED}  # none left "unknown"
        assert len(sim.status_asks()) <= 4  # the pace's share at most, not one request per session
    finally:
        await gw.aclose()


async def test_listed_states_are_stamped_when_asked_not_when_answered(sim: WahaSim) -> None:
    """An event that lands while the listing is on its way is newer than it: the monitor must keep the event."""
    import httpx

    from pulse_tui.clock import FakeClock

    clock = FakeClock(1_000.0)

    class SlowWire(httpx.AsyncHTTPTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            clock.advance(2.0)  # the answer takes 2 s (on the fake clock)
            return await super().handle_async_request(request)

    gw = WahaGateway(sim.url, KEY, clock=clock, transport=SlowWire())
    try:
        await gw.probe()
        asked_at = clock.now()
        await gw.list_sessions()
        assert clock.now() > asked_at
        assert {at for _st, at in gw.known_states().values()} == {asked_at}
    finally:
        await gw.aclose()
