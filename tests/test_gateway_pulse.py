"""Pulse adapter against the simulator's Pulse flavour: instances, raw QR payloads, actions, faults."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from pulse_tui.config import Config, GatewayKind
from pulse_tui.model import GatewayFailure, HealthState, QrCode, SessionStatus
from pulse_tui.sim.gateway import PulseSim
from pulse_tui.sources.gateway import Gateway, PulseGateway, Timeouts, make_gateway
from tests.sim_helpers import started_sims

PHONE = "18765550001"
OTHER = "18765550002"
FAST = dict(start_delay_s=0.05, qr_interval_s=0.3, ready_delay_s=0.05, restore_interval_s=0.02)


async def eventually(cond: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if await cond():
            return
        await asyncio.sleep(0.03)
    raise AssertionError("condition not reached in time")


@pytest.fixture
def auth_root(tmp_path: Path) -> Path:
    return tmp_path / "whatsapp-sessions"


@pytest.fixture
def make_sim(auth_root: Path) -> Iterator[Callable[..., PulseSim]]:
    with started_sims(lambda **kw: PulseSim(auth_root, **kw), **FAST, phones=(PHONE, OTHER)) as make:
        yield make


@pytest.fixture
def sim(make_sim: Callable[..., PulseSim]) -> PulseSim:
    return make_sim()


@pytest.fixture
async def gw(sim: PulseSim) -> AsyncIterator[PulseGateway]:
    g = PulseGateway(sim.url, timeouts=Timeouts(status_s=2.0, action_s=10.0), qr_poll_s=0.05)
    requested: list[str] = []

    async def record(request: httpx.Request) -> None:
        requested.append(str(request.url))

    g._http.client.event_hooks["request"].append(record)
    g.requested = requested  # type: ignore[attr-defined]
    yield g
    await g.aclose()
    # every request went to the gateway: never to the qrImageUrl web service
    assert all(u.startswith(sim.url) for u in requested)


async def has_qr(gw: PulseGateway, phone: str = PHONE) -> bool:
    st = await gw.status(phone)
    return isinstance(st, SessionStatus) and st.qr is not None


async def test_protocol_and_health(gw: PulseGateway) -> None:
    assert isinstance(gw, Gateway)
    assert gw.kind == "pulse" and gw.capabilities.has_restart and gw.capabilities.has_delete
    h = await gw.health()
    assert h.state == HealthState.OK and h.latency_ms is not None
    assert gw.budget_snapshot() == (None, None)  # Pulse has no rate limit


async def test_lists_instances(gw: PulseGateway) -> None:
    assert await gw.list_sessions() == [PHONE, OTHER]


async def test_qr_scan_connected(sim: PulseSim, gw: PulseGateway) -> None:
    await gw.list_sessions()
    await eventually(lambda: has_qr(gw))
    st = await gw.status(PHONE)
    assert isinstance(st, SessionStatus) and st.exists and not st.ready
    assert st.qr is not None and st.qr.png_data_url is None
    assert st.qr.payload == sim.state()["clients"][PHONE]["qr_payload"]
    assert st.qr.payload and st.qr.payload.startswith("2@") and len(st.qr.payload) == 225
    code = await gw.qr(PHONE)
    assert isinstance(code, QrCode) and code.payload == st.qr.payload
    assert sim.scan(PHONE)

    async def connected() -> bool:
        s = await gw.status(PHONE)
        return isinstance(s, SessionStatus) and s.ready

    await eventually(connected)
    st = await gw.status(PHONE)
    assert isinstance(st, SessionStatus) and st.qr is None and st.phone == PHONE and st.name
    assert await gw.qr(PHONE) is None


async def test_actions_read_the_status_field(sim: PulseSim, gw: PulseGateway, auth_root: Path) -> None:
    await eventually(lambda: has_qr(gw))
    assert sim.scan(PHONE)

    async def connected() -> bool:
        s = await gw.status(PHONE)
        return isinstance(s, SessionStatus) and s.ready

    await eventually(connected)
    assert (auth_root / PHONE / f"session-pulse-bot-{PHONE}").is_dir()
    r = await gw.restart(PHONE)
    assert r.ok and r.message == f"Instance {PHONE} restarted successfully"
    r = await gw.stop(PHONE)
    assert r.ok and "logged out" in r.message
    assert not (auth_root / PHONE / f"session-pulse-bot-{PHONE}").exists()
    r = await gw.start(PHONE)
    assert r.ok
    r = await gw.delete(OTHER)
    assert r.ok and r.message == f"Session cleared for instance {OTHER}"
    for action in (gw.start, gw.stop, gw.restart, gw.delete):
        r = await action("19999999")
        assert not r.ok and r.message.startswith("Failed") and r.failure is None


async def test_unknown_instance_status_is_stopped(gw: PulseGateway) -> None:
    st = await gw.status("19999999")
    assert st == SessionStatus("19999999", False, False, None, phone="19999999")


async def test_bad_phone_costs_no_request(gw: PulseGateway) -> None:
    before = len(gw.requested)  # type: ignore[attr-defined]
    for bad in ("abc", "../x", "1/2"):
        st = await gw.status(bad)
        assert isinstance(st, GatewayFailure) and st.status_code == 400
        assert not (await gw.start(bad)).ok
        items = [i async for i in gw.qr_stream(bad)]
        assert len(items) == 1 and isinstance(items[0], GatewayFailure)
    assert len(gw.requested) == before  # type: ignore[attr-defined]


async def test_qr_stream_polls_and_yields_each_new_code(sim: PulseSim, gw: PulseGateway) -> None:
    codes: list[str] = []

    async def collect() -> None:
        async for item in gw.qr_stream(PHONE):
            if isinstance(item, QrCode) and item.payload:
                codes.append(item.payload)
            if len(codes) == 2:
                return

    await asyncio.wait_for(collect(), timeout=10)
    assert len(set(codes)) == 2


FAULTS = [
    ("down", HealthState.DOWN),
    ("slow", HealthState.DOWN),
    ("500", HealthState.ERROR),
    ("garbage", HealthState.ERROR),
    ("shape", HealthState.ERROR),
    ("401", HealthState.UNAUTHORIZED),
    ("429", HealthState.RATE_LIMITED),
]


@pytest.mark.parametrize(("fault", "state"), FAULTS)
async def test_every_fault_is_typed_and_recovers(
    make_sim: Callable[..., PulseSim], fault: str, state: HealthState
) -> None:
    sim = make_sim()
    g = PulseGateway(sim.url, timeouts=Timeouts(status_s=0.4, action_s=0.4), qr_poll_s=0.05)
    try:
        sim.set_fault(fault, slow_s=3, retry_after_s=1)
        h = await g.health()
        assert h.state == state, h
        listed = await g.list_sessions()
        assert isinstance(listed, GatewayFailure) and listed.state == state
        st = await g.status(PHONE)
        assert isinstance(st, GatewayFailure) and st.state == state
        r = await g.restart(PHONE)
        assert not r.ok and r.failure is not None and r.failure.state == state
        stream = g.qr_stream(PHONE)
        first = await asyncio.wait_for(anext(stream), timeout=5)
        await stream.aclose()
        assert isinstance(first, GatewayFailure) and first.state == state
        sim.set_fault("none")
        if fault == "429":
            assert (await g.health()).state == HealthState.RATE_LIMITED  # honoured even without a budget
            await asyncio.sleep(1.1)
        assert (await g.health()).state == HealthState.OK
        assert await g.list_sessions() == [PHONE, OTHER]
    finally:
        await g.aclose()


async def test_connection_refused(make_sim: Callable[..., PulseSim]) -> None:
    sim = make_sim()
    g = PulseGateway(sim.url)
    try:
        sim.stop()
        assert (await g.health()).state == HealthState.DOWN
        sim.start()
        assert (await g.health()).state == HealthState.OK
    finally:
        await g.aclose()


async def test_make_gateway_pulse(sim: PulseSim, auth_root: Path) -> None:
    g = make_gateway(Config(gateway_kind=GatewayKind.PULSE, gateway_url=sim.url, auth_dirs=(auth_root,)))
    try:
        assert isinstance(g, PulseGateway)
        assert (await g.health()).state == HealthState.OK
        assert g.budget_snapshot() == (None, None)
    finally:
        await g.aclose()
