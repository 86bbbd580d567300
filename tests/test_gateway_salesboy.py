"""Salesboy adapter against the running simulator: results, every fault, the rate limit, the QR stream."""

from __future__ import annotations

import asyncio
import base64
import io
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
import zxingcpp
from PIL import Image

from pulse_tui.config import Config, GatewayKind
from pulse_tui.model import ActionResult, GatewayFailure, GatewayHealth, HealthState, QrCode, SessionStatus
from pulse_tui.sim.gateway import GatewaySim
from pulse_tui.sources.gateway import Gateway, RequestBudget, SalesboyGateway, Timeouts, make_gateway
from tests.sim_helpers import started_sims

UID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
UID2 = "0b9e8f1c-1111-4222-8333-444455556666"
KEY = "salesboy-test-key-987"
FAST = dict(start_delay_s=0.05, qr_interval_s=0.3, ready_delay_s=0.05, restore_interval_s=0.05)


def decode_png(data_url: str) -> str:
    img = Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1])))
    found = zxingcpp.read_barcodes(img)
    assert found
    return found[0].text


async def eventually(cond: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if await cond():
            return
        await asyncio.sleep(0.03)
    raise AssertionError("condition not reached in time")


@pytest.fixture
def auth_root(tmp_path: Path) -> Path:
    return tmp_path / ".wwebjs_auth"


@pytest.fixture
def make_sim(auth_root: Path) -> Iterator[Callable[..., GatewaySim]]:
    with started_sims(lambda **kw: GatewaySim(auth_root, **kw), **FAST, api_key=KEY) as make:
        yield make


@pytest.fixture
def sim(make_sim: Callable[..., GatewaySim]) -> GatewaySim:
    return make_sim()


@pytest.fixture
async def gw(sim: GatewaySim, auth_root: Path) -> AsyncIterator[SalesboyGateway]:
    g = SalesboyGateway(sim.url, KEY, auth_roots=[auth_root], extra_sessions=[UID2],
                        timeouts=Timeouts(status_s=2.0, action_s=10.0))
    yield g
    await g.aclose()


def assert_no_secret(*values: object) -> None:
    for v in values:
        assert KEY not in repr(v)


# --- happy path ---------------------------------------------------------------------------------


async def test_satisfies_the_protocol(gw: SalesboyGateway) -> None:
    assert isinstance(gw, Gateway)
    assert gw.kind == "salesboy" and gw.capabilities.has_restart is False and gw.capabilities.has_delete is True


async def test_health_ok_with_budget_and_latency(gw: SalesboyGateway) -> None:
    h = await gw.health()
    assert isinstance(h, GatewayHealth)
    assert h.state == HealthState.OK and h.latency_ms is not None and h.latency_ms >= 0
    assert (h.budget_left, h.budget_limit) == (99, 100)  # the server's own count
    assert gw.budget_snapshot() == (99, 100)


async def test_list_sessions_is_free(sim: GatewaySim, gw: SalesboyGateway, auth_root: Path) -> None:
    other = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
    (auth_root / f"session-{other}").mkdir(parents=True)
    (auth_root / "session-current-user").mkdir()
    before = sim.requests_seen()
    assert await gw.list_sessions() == sorted([other, UID2])
    assert (await gw.start(UID)).ok
    assert await gw.list_sessions() == sorted([other, UID2, UID])
    assert sim.requests_seen() == before + 1  # only the start


async def test_start_qr_scan_ready_stop(sim: GatewaySim, gw: SalesboyGateway, auth_root: Path) -> None:
    st = await gw.status(UID)
    assert st == SessionStatus(UID, False, False, None)
    r = await gw.start(UID)
    assert r == ActionResult(True, "Session initialized")

    async def has_qr() -> bool:
        s = await gw.status(UID)
        return isinstance(s, SessionStatus) and s.qr is not None

    await eventually(has_qr)
    st = await gw.status(UID)
    assert isinstance(st, SessionStatus) and st.exists and not st.ready and st.qr
    assert st.qr.png_data_url and decode_png(st.qr.png_data_url).startswith("2@")
    code = await gw.qr(UID)
    assert isinstance(code, QrCode) and code.png_data_url
    assert (await gw.start(UID)).message == "Session connecting"
    assert sim.scan(UID)

    async def ready() -> bool:
        s = await gw.status(UID)
        return isinstance(s, SessionStatus) and s.ready

    await eventually(ready)
    st = await gw.status(UID)
    assert isinstance(st, SessionStatus) and st.qr is None
    assert await gw.qr(UID) is None
    assert (auth_root / f"session-{UID}").is_dir()
    assert await gw.stop(UID) == ActionResult(True, "Session stopped")
    assert not (auth_root / f"session-{UID}").exists()
    assert await gw.stop(UID) == ActionResult(False, "Session not found")


async def test_browser_failure_is_not_ok(sim: GatewaySim, gw: SalesboyGateway) -> None:
    sim.fail_next_start("Failed to launch the browser process!")
    r = await gw.start(UID)
    assert not r.ok and r.message == "Failed to launch the browser process!"
    assert UID not in await gw.list_sessions()


async def test_bad_ids_cost_no_request(sim: GatewaySim, gw: SalesboyGateway) -> None:
    before = sim.requests_seen()
    for bad in ("current-user", "test-user-1", "abc", "../../etc"):
        st = await gw.status(bad)
        assert isinstance(st, GatewayFailure) and st.status_code == 400 and st.state == HealthState.ERROR
        r = await gw.start(bad)
        assert not r.ok and r.failure is not None
        assert not (await gw.stop(bad)).ok
        assert isinstance(await gw.qr(bad), GatewayFailure)
        items = [i async for i in gw.qr_stream(bad)]
        assert len(items) == 1 and isinstance(items[0], GatewayFailure)
    assert sim.requests_seen() == before


async def test_restart_is_not_supported(sim: GatewaySim, gw: SalesboyGateway) -> None:
    before = sim.requests_seen()
    r = await gw.restart(UID)
    assert not r.ok and "not supported" in r.message
    assert sim.requests_seen() == before


async def test_delete_removes_local_auth_dir_only(gw: SalesboyGateway, auth_root: Path, tmp_path: Path) -> None:
    (auth_root / f"session-{UID}" / "Default").mkdir(parents=True)
    (auth_root / "session-current-user").mkdir()
    assert (await gw.delete(UID)).ok and not (auth_root / f"session-{UID}").exists()
    assert (await gw.delete("current-user")).ok
    assert not (await gw.delete(UID)).ok
    assert not (await gw.delete("../x")).ok
    no_roots = SalesboyGateway("http://127.0.0.1:9")
    assert not (await no_roots.delete(UID)).ok
    await no_roots.aclose()


# --- faults ---------------------------------------------------------------------------------------

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
    make_sim: Callable[..., GatewaySim], auth_root: Path, fault: str, state: HealthState
) -> None:
    sim = make_sim()
    # A timeout well under the slow fault (3 s) but wide enough that a busy CI machine never turns "down" into "slow".
    g = SalesboyGateway(sim.url, KEY, auth_roots=[auth_root], timeouts=Timeouts(status_s=1.0, action_s=1.0))
    try:
        sim.set_fault(fault, slow_s=3, retry_after_s=1)
        h = await g.health()
        assert h.state == state, h
        st = await g.status(UID)
        assert isinstance(st, GatewayFailure) and st.state == state
        r = await g.start(UID)
        assert not r.ok and r.failure is not None and r.failure.state == state
        code = await g.qr(UID)
        assert isinstance(code, GatewayFailure)
        if fault == "429":
            assert h.retry_after_s is not None and 0 < h.retry_after_s <= 1
        if fault == "slow":
            assert "within" in h.detail
        assert_no_secret(h, st, r, code)
        sim.set_fault("none")
        if fault == "429":
            assert (await g.health()).state == HealthState.RATE_LIMITED  # blocked without asking
            await asyncio.sleep(1.1)
        if fault == "slow":
            # The four slow answers land at the simulator after we gave up on them: count them first.
            for _ in range(100):
                if sim.requests_seen() >= 4:
                    break
                await asyncio.sleep(0.1)
        # Requests of the faulty phase may still be reaching the simulator on a loaded machine: count from the
        # moment the count stops moving.
        seen = sim.requests_seen()
        for _ in range(20):
            await asyncio.sleep(0.1)
            if sim.requests_seen() == seen:
                break
            seen = sim.requests_seen()
        assert (await g.health()).state == HealthState.OK
        assert isinstance(await g.status(UID), SessionStatus)
        assert sim.requests_seen() == seen + 2
    finally:
        await g.aclose()


async def test_connection_refused_then_recovery(make_sim: Callable[..., GatewaySim]) -> None:
    sim = make_sim()
    g = SalesboyGateway(sim.url, KEY)
    try:
        sim.stop()
        h = await g.health()
        assert h.state == HealthState.DOWN and "connect" in h.detail
        st = await g.status(UID)
        assert isinstance(st, GatewayFailure) and st.state == HealthState.DOWN
        assert g.budget_snapshot()[0] == 100  # refused connections are not counted
        sim.start()
        assert (await g.health()).state == HealthState.OK
    finally:
        await g.aclose()


async def test_wrong_key_is_unauthorized_and_costs_no_budget(sim: GatewaySim) -> None:
    for key in (None, "not-the-key"):
        g = SalesboyGateway(sim.url, key, budget=RequestBudget(5, 900, reserve=0))
        try:
            for _ in range(8):
                h = await g.health()
                assert h.state == HealthState.UNAUTHORIZED
                assert ("rejected" in h.detail) == bool(key)
            assert g.budget_snapshot() == (5, 5)
        finally:
            await g.aclose()
    assert sim.statuses[401] == 16 and sim.statuses[429] == 0


async def test_wrong_shapes_from_status(make_sim: Callable[..., GatewaySim]) -> None:
    parse = SalesboyGateway._parse_status
    for body in ({"exists": "yes", "ready": False, "qr": None}, {"exists": True}, [],
                 {"exists": True, "ready": False, "qr": "http://evil/qr.png"}):
        assert isinstance(parse(UID, body, "x"), GatewayFailure)
    stale = parse(UID, {"exists": True, "ready": True, "qr": "data:image/png;base64,AAAA"}, "x")
    assert isinstance(stale, SessionStatus) and stale.ready and stale.qr is None  # ready wins


# --- rate limit ------------------------------------------------------------------------------------


async def test_client_stops_before_the_gateway_says_429_and_recovers(make_sim: Callable[..., GatewaySim]) -> None:
    sim = make_sim(rate_limit=6, rate_window_s=2.5)
    # someone else on the same IP (the dashboard) spends part of the window first
    for _ in range(2):
        httpx.get(f"{sim.url}/health", headers={"x-api-key": KEY}, trust_env=False)
    g = SalesboyGateway(sim.url, KEY, budget=RequestBudget(6, 2.5, reserve=0))
    try:
        results = [await g.status(UID) for _ in range(10)]
        ok = [r for r in results if isinstance(r, SessionStatus)]
        refused = [r for r in results if isinstance(r, GatewayFailure)]
        assert len(ok) == 4 and len(refused) == 6
        assert all(r.state == HealthState.BUDGET and r.retry_after_s is not None for r in refused)
        assert sim.requests_seen() == 6 and sim.statuses[429] == 0
        assert g.budget_snapshot() == (0, 6)
        await asyncio.sleep(max(r.retry_after_s or 0 for r in refused) + 0.1)
        assert isinstance(await g.status(UID), SessionStatus)
        assert sim.statuses[429] == 0
    finally:
        await g.aclose()


async def test_polls_leave_the_reserve_for_an_operator_action(make_sim: Callable[..., GatewaySim]) -> None:
    sim = make_sim(rate_limit=8)
    g = SalesboyGateway(sim.url, KEY, budget=RequestBudget(8, 900, reserve=2))
    try:
        polls = [await g.status(UID) for _ in range(8)]
        assert sum(isinstance(p, SessionStatus) for p in polls) == 6
        assert (await g.start(UID)).ok
        assert sim.statuses[429] == 0
    finally:
        await g.aclose()


async def test_server_429_blocks_until_retry_after(make_sim: Callable[..., GatewaySim]) -> None:
    sim = make_sim(rate_limit=3, rate_window_s=2.0)
    g = SalesboyGateway(sim.url, KEY, budget=RequestBudget(50, 900, reserve=0))  # we think we have more
    try:
        for _ in range(3):
            assert isinstance(await g.status(UID), SessionStatus)
        # the server's headers already said 0 left: we do not even ask
        f = await g.status(UID)
        assert isinstance(f, GatewayFailure) and f.state == HealthState.BUDGET
        assert sim.statuses[429] == 0
        httpx.get(f"{sim.url}/health", headers={"x-api-key": KEY}, trust_env=False)  # someone else gets the 429
        sim.reset_rate_limit()
        for _ in range(3):
            httpx.get(f"{sim.url}/health", headers={"x-api-key": KEY}, trust_env=False)
        g2 = SalesboyGateway(sim.url, KEY, budget=RequestBudget(50, 900, reserve=0))
        f = await g2.status(UID)  # no headers seen yet: it asks and is told 429
        assert isinstance(f, GatewayFailure) and f.state == HealthState.RATE_LIMITED
        assert f.retry_after_s is not None and f.retry_after_s <= 2
        seen = sim.requests_seen()
        again = await g2.health()
        assert again.state == HealthState.RATE_LIMITED and sim.requests_seen() == seen
        await asyncio.sleep(f.retry_after_s + 0.2)
        assert (await g2.health()).state == HealthState.OK
        await g2.aclose()
    finally:
        await g.aclose()


# --- QR stream -------------------------------------------------------------------------------------


async def test_qr_stream_delivers_new_codes(sim: GatewaySim, gw: SalesboyGateway) -> None:
    assert (await gw.start(UID)).ok
    seen_before = sim.requests_seen()
    codes: list[str] = []

    async def collect() -> None:
        async for item in gw.qr_stream(UID):
            assert isinstance(item, QrCode) and item.png_data_url
            codes.append(decode_png(item.png_data_url))
            if len(codes) == 3:
                return

    await asyncio.wait_for(collect(), timeout=10)
    assert len(set(codes)) == 3 and all(c.startswith("2@") for c in codes)
    assert sim.requests_seen() == seen_before + 1  # one request for many codes


async def test_qr_stream_reports_failures(make_sim: Callable[..., GatewaySim]) -> None:
    sim = make_sim()
    g = SalesboyGateway(sim.url, KEY, sse_retry_s=0.05)
    try:
        for fault, state in (("500", HealthState.ERROR), ("garbage", HealthState.ERROR),
                             ("401", HealthState.UNAUTHORIZED), ("down", HealthState.DOWN)):
            sim.set_fault(fault)
            stream = g.qr_stream(UID)
            first = await asyncio.wait_for(anext(stream), timeout=5)
            await stream.aclose()
            assert isinstance(first, GatewayFailure) and first.state == state, (fault, first)
            assert_no_secret(first)
        sim.set_fault("none")
        assert (await g.start(UID)).ok
        stream = g.qr_stream(UID)
        item = await asyncio.wait_for(anext(stream), timeout=5)
        await stream.aclose()
        assert isinstance(item, QrCode)
    finally:
        await g.aclose()


async def test_qr_stream_reconnects_after_gateway_restart(make_sim: Callable[..., GatewaySim]) -> None:
    sim = make_sim(qr_interval_s=5.0)
    g = SalesboyGateway(sim.url, KEY, sse_retry_s=0.05)
    try:
        assert (await g.start(UID)).ok
        stream = g.qr_stream(UID)
        first = await asyncio.wait_for(anext(stream), timeout=5)
        assert isinstance(first, QrCode)
        sim.restart()  # the client is gone; no auth dir, so nothing is restored
        items = []
        assert (await g.start(UID)).ok
        while len(items) < 5:
            item = await asyncio.wait_for(anext(stream), timeout=5)
            items.append(item)
            if isinstance(item, QrCode):
                break
        await stream.aclose()
        assert isinstance(items[-1], QrCode) and items[-1] != first
    finally:
        await g.aclose()


# --- factory --------------------------------------------------------------------------------------------


async def test_make_gateway_from_config(sim: GatewaySim, auth_root: Path) -> None:
    cfg = Config(gateway_kind=GatewayKind.SALESBOY, gateway_url=sim.url, api_key=KEY, auth_dirs=(auth_root,),
                 extra_sessions=(UID,), request_budget=42)
    g = make_gateway(cfg)
    try:
        assert isinstance(g, SalesboyGateway)
        assert g.budget_snapshot() == (42, 42)
        assert await g.list_sessions() == [UID]
        assert (await g.health()).state == HealthState.OK
        assert_no_secret(g.url)
    finally:
        await g.aclose()


async def test_url_credentials_never_show(sim: GatewaySim) -> None:
    url = sim.url.replace("http://", "http://user:pa55word-xyz@")
    g = SalesboyGateway(url, KEY)
    try:
        sim.stop()
        h = await g.health()
        assert "pa55word-xyz" not in repr(h) and "pa55word-xyz" not in g.url
    finally:
        await g.aclose()


async def test_one_poll_lists_the_auth_dirs_once_and_keeps_sessions_started_on_the_adapter(
    sim: GatewaySim, auth_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pulse_tui.monitor.build import build_targets
    from pulse_tui.sources import authdirs
    from pulse_tui.sources.gateway import salesboy

    listings: list[tuple[Path, ...]] = []
    real = authdirs.discover

    def counted(roots: object, *args: object, **kw: object) -> list[authdirs.AuthDir]:
        listings.append(tuple(roots))  # type: ignore[arg-type]
        return real(roots, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(authdirs, "discover", counted)
    monkeypatch.setattr(salesboy, "discover", counted)
    on_disk = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
    (auth_root / f"session-{on_disk}").mkdir(parents=True)
    config = Config(gateway_kind=GatewayKind.SALESBOY, gateway_url=sim.url, api_key=KEY, auth_dirs=(auth_root,))
    targets = build_targets(config, host=False, channel=False)
    try:
        assert (await targets.gateway.start(UID)).ok
        assert (await targets.gateway.stop(UID)).ok  # its stop deletes the auth dir: only "started here" knows it
        assert not (auth_root / f"session-{UID}").exists()
        listings.clear()
        snap = await targets.monitor.poll(full=True)
        assert len(listings) == 1, listings
        assert snap.session(on_disk) is not None and snap.session(UID) is not None
    finally:
        await targets.aclose()
