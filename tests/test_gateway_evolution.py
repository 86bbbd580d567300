"""Evolution adapter against the Evolution simulator over HTTP on 127.0.0.1: both views of state, QR and
pairing code, actions as Evolution really does them, reason codes, faults."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from pulse_tui.model import ConnState, GatewayFailure, HealthState, QrCode, SessionStatus
from pulse_tui.sim.evolution import EvolutionSim
from pulse_tui.sim.gateway import Fault
from pulse_tui.sources.gateway.base import Gateway, Timeouts
from pulse_tui.sources.gateway.evolution import (
    EvolutionGateway,
    is_transient,
    merge_states,
    parse_row,
    reason_text,
)
from tests.sim_helpers import started_sims

KEY = "testkey123"
FAST = dict(create_delay_s=0.05, connect_delay_s=0.05, qr_delay_s=0.03, qr_interval_s=0.15, step_s=0.03)


async def eventually(cond: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if await cond():
            return
        await asyncio.sleep(0.03)
    raise AssertionError("condition not reached in time")


@pytest.fixture
def make_sim() -> Iterator[Callable[..., EvolutionSim]]:
    with started_sims(lambda **kw: EvolutionSim(KEY, **kw), **FAST) as make:
        yield make


@pytest.fixture
def sim(make_sim: Callable[..., EvolutionSim]) -> EvolutionSim:
    return make_sim()


@pytest.fixture
async def gw(sim: EvolutionSim) -> AsyncIterator[EvolutionGateway]:
    g = EvolutionGateway(sim.url, KEY, qr_poll_s=0.03)
    yield g
    await g.aclose()


async def status_of(gw: EvolutionGateway, name: str) -> SessionStatus:
    st = await gw.status(name)
    assert isinstance(st, SessionStatus), st
    return st


async def _is(gw: EvolutionGateway, name: str, state: ConnState) -> bool:
    st = await gw.status(name)
    return isinstance(st, SessionStatus) and st.state == state


async def test_satisfies_the_gateway_protocol(gw: EvolutionGateway) -> None:
    assert isinstance(gw, Gateway)
    caps = gw.capabilities
    assert caps.lists_sessions and caps.stop_deletes_auth and caps.pairing_code and caps.event_stream
    assert not caps.browser_per_session and caps.id_error("a/b") and caps.id_error("i1") is None
    assert "[object Object]" in caps.consequences.restart


async def test_health_reads_the_welcome_without_a_key(sim: EvolutionSim) -> None:
    gw = EvolutionGateway(sim.url, None)
    try:
        h = await gw.health()
        assert h.state == HealthState.OK and "2.3.6" in h.detail and "evolution_exchange" in h.detail
        assert gw.server is not None and gw.server.whatsapp_web_version.startswith("2.3000.")
        listed = await gw.list_sessions()  # the listing needs the key
        assert isinstance(listed, GatewayFailure) and listed.state == HealthState.UNAUTHORIZED
        assert "requires" in listed.detail
    finally:
        await gw.aclose()


async def test_start_creates_then_scan_connects(sim: EvolutionSim, gw: EvolutionGateway) -> None:
    assert await gw.list_sessions() == []
    res = await gw.start("i1")
    assert res.ok and "created" in res.message
    qr = await gw.qr("i1")
    assert isinstance(qr, QrCode) and qr.payload and qr.payload.startswith("2@")
    st = await status_of(gw, "i1")
    assert (st.state, st.gateway_word) == (ConnState.QR, "connecting") and st.qr == qr  # a code, no phone yet
    assert sim.scan("i1", phone="18765550199", profile="Ana")
    await eventually(lambda: _is(gw, "i1", ConnState.CONNECTED))
    st = await status_of(gw, "i1")
    assert (st.ready, st.phone, st.name, st.gateway_word) == (True, "18765550199", "Ana", "open")
    assert await gw.list_sessions() == ["i1"]


async def test_status_never_calls_connect(sim: EvolutionSim, gw: EvolutionGateway) -> None:
    sim.add_instance("i1")
    st = await status_of(gw, "i1")
    assert st.state == ConnState.STOPPED and st.gateway_word == "close"
    assert await gw.qr("i1") is None
    assert not any("/instance/connect/" in p for (_, p, _) in sim.seen)
    assert sim.states("i1") == ("close", "close")  # still closed: nothing started it


async def test_unknown_instance(gw: EvolutionGateway) -> None:
    st = await status_of(gw, "ghost")
    assert not st.exists and st.gateway_word == "not found"


async def test_qr_limit_shows_both_views(make_sim: Callable[..., EvolutionSim]) -> None:
    sim = make_sim(qrcode_limit=2, qr_interval_s=0.05)
    gw = EvolutionGateway(sim.url, KEY, qr_poll_s=0.02)
    try:
        sim.add_instance("i3")
        assert (await gw.start("i3")).ok
        await eventually(lambda: _is(gw, "i3", ConnState.STOPPED))
        st = await status_of(gw, "i3")
        assert st.gateway_word == "close (database: connecting)"
        assert "memory says close" in st.detail and "database says connecting" in st.detail
        connects = sum("/instance/connect/" in p for (_, p, _) in sim.seen)
        items = [item async for item in gw.qr_stream("i3")]  # closed: ends at once, starts nothing
        assert len(items) == 1 and isinstance(items[0], GatewayFailure) and "start it again" in items[0].detail
        assert sum("/instance/connect/" in p for (_, p, _) in sim.seen) == connects
        assert sim.states("i3") == ("close", "connecting")
    finally:
        await gw.aclose()


async def test_qr_stream_yields_new_codes_while_connecting(sim: EvolutionSim, gw: EvolutionGateway) -> None:
    sim.add_instance("i1")
    await gw.start("i1")
    seen: list[str] = []
    async for item in gw.qr_stream("i1"):
        assert isinstance(item, QrCode) and item.payload
        seen.append(item.payload)
        if len(seen) == 2:
            break
    assert seen[0] != seen[1]


async def test_pairing_code_flow(sim: EvolutionSim, gw: EvolutionGateway) -> None:
    sim.add_instance("i1")
    bad = await gw.request_pairing_code("i1", "not-a-number")
    assert isinstance(bad, GatewayFailure) and "digits" in bad.detail
    code = await gw.request_pairing_code("i1", "+18765550199")
    assert isinstance(code, str) and len(code) == 8 and code.isalnum()
    assert sim.scan("i1")
    await eventually(lambda: _is(gw, "i1", ConnState.CONNECTED))
    again = await gw.request_pairing_code("i1", "18765550199")
    assert isinstance(again, GatewayFailure) and "already connected" in again.detail


async def test_logout_is_the_stop_and_keeps_the_401(sim: EvolutionSim, gw: EvolutionGateway) -> None:
    sim.add_instance("i1", connect=True, paired=True)
    await eventually(lambda: _is(gw, "i1", ConnState.CONNECTED))
    res = await gw.stop("i1")
    assert res.ok and res.message == "Instance logged out"
    st = await status_of(gw, "i1")
    assert st.state == ConnState.STOPPED and "401" in st.detail and "new QR" in st.detail
    again = await gw.logout("i1")
    assert not again.ok and "not connected" in again.message


async def test_restart_open_closed(sim: EvolutionSim, gw: EvolutionGateway) -> None:
    sim.add_instance("i1", connect=True, paired=True)
    await eventually(lambda: _is(gw, "i1", ConnState.CONNECTED))
    assert (await gw.restart("i1")).ok
    await eventually(lambda: _is(gw, "i1", ConnState.CONNECTED))
    await gw.logout("i1")
    res = await gw.restart("i1")
    assert not res.ok and "[object Object]" in res.message and "start it instead" in res.message


async def test_delete_logs_out_first(sim: EvolutionSim, gw: EvolutionGateway) -> None:
    sim.add_instance("i1", connect=True, paired=True)
    await eventually(lambda: _is(gw, "i1", ConnState.CONNECTED))
    res = await gw.delete("i1")
    assert res.ok and res.message == "Instance deleted"
    assert not (await status_of(gw, "i1")).exists
    again = await gw.delete("i1")
    assert not again.ok and "does not exist" in again.message


async def test_create_refuses_a_taken_name(sim: EvolutionSim, gw: EvolutionGateway) -> None:
    """The route's own 403 ("name in use") reaches the operator, not a generic auth failure."""
    sim.add_instance("i1")
    got = await gw._act("POST", "/instance/create", "i1", json_body={"instanceName": "i1", "integration":
                                                                     "WHATSAPP-BAILEYS"})
    assert not isinstance(got, tuple) and "already in use" in got.message


async def test_instance_token_sees_only_its_instance(sim: EvolutionSim) -> None:
    token = sim.add_instance("mine")
    sim.add_instance("other")
    gw = EvolutionGateway(sim.url, token)
    try:
        assert await gw.list_sessions() == ["mine"]
        assert (await status_of(gw, "mine")).exists
        other = await gw.status("other")
        assert isinstance(other, GatewayFailure) and other.state == HealthState.UNAUTHORIZED
        assert token not in other.detail
    finally:
        await gw.aclose()


def test_reason_codes_have_meanings() -> None:
    assert "new QR" in reason_text(401) and not is_transient(401)
    assert is_transient(408) and is_transient(515) and not is_transient(428)
    assert "restart required" in reason_text(515) and "QR limit" in reason_text(428)
    assert reason_text(999) == "closed with code 999" and reason_text(None) == ""


def test_merge_keeps_both_words_and_unknown_states() -> None:
    row = parse_row({"name": "i1", "connectionStatus": "open", "ownerJid": "1@s.whatsapp.net"})
    st = merge_states("i1", "close", row)
    assert st.state == ConnState.STOPPED and st.gateway_word == "close (database: open)"
    odd = merge_states("i1", "weird", None)
    assert odd.state == ConnState.UNKNOWN and "weird" in odd.detail
    assert parse_row({"connectionStatus": "open"}) is None


@pytest.mark.parametrize(("fault", "state"), [
    (Fault.DOWN, HealthState.DOWN),
    (Fault.ERROR_500, HealthState.ERROR),
    (Fault.UNAUTHORIZED, HealthState.UNAUTHORIZED),
    (Fault.GARBAGE, HealthState.ERROR),
    (Fault.SHAPE, HealthState.ERROR),
])
async def test_faults_are_typed(sim: EvolutionSim, gw: EvolutionGateway, fault: Fault, state: HealthState) -> None:
    sim.add_instance("i1")
    sim.set_fault(fault)
    listed = await gw.list_sessions()
    assert isinstance(listed, GatewayFailure) and listed.state == state
    st = await gw.status("i1")
    assert isinstance(st, GatewayFailure) and st.state == state
    res = await gw.start("i1")
    assert not res.ok and res.failure is not None


async def test_slow_server_times_out(sim: EvolutionSim) -> None:
    sim.set_fault(Fault.SLOW, slow_s=3.0)
    gw = EvolutionGateway(sim.url, KEY, timeouts=Timeouts(connect_s=0.5, status_s=0.3, action_s=0.3))
    try:
        got = await gw.list_sessions()
        assert isinstance(got, GatewayFailure) and got.state == HealthState.DOWN
    finally:
        await gw.aclose()


async def test_stopped_server_is_down(sim: EvolutionSim) -> None:
    url = sim.url
    sim.stop()
    gw = EvolutionGateway(url, KEY)
    try:
        assert (await gw.health()).state == HealthState.DOWN
    finally:
        await gw.aclose()


async def test_server_restart_reopens_paired_instances(sim: EvolutionSim, gw: EvolutionGateway) -> None:
    sim.add_instance("paired", connect=True, paired=True)
    sim.add_instance("waiting", connect=True)
    sim.add_instance("idle")
    await eventually(lambda: _is(gw, "paired", ConnState.CONNECTED))
    sim.stop()
    assert isinstance(await gw.status("paired"), GatewayFailure)
    sim.start()
    await eventually(lambda: _is(gw, "paired", ConnState.CONNECTED))  # no scan needed
    assert sim.states("waiting") == ("connecting", "connecting")  # a new QR, until the limit
    assert sim.states("idle") == ("close", "close")


async def test_del_instance_removes_what_is_not_open(make_sim: Callable[..., EvolutionSim]) -> None:
    """The behaviour the doctor's evolution-del-instance warns about: closed instances vanish."""
    sim = make_sim(del_instance_s=0.3)
    gw = EvolutionGateway(sim.url, KEY)
    try:
        sim.add_instance("kept", connect=True, paired=True)
        sim.add_instance("closed")
        await eventually(lambda: _is(gw, "kept", ConnState.CONNECTED))

        async def gone() -> bool:
            return await gw.list_sessions() == ["kept"]
        await eventually(gone)
    finally:
        await gw.aclose()
