"""The QR view on WAHA and Evolution, end to end over HTTP: the live QR, and `p` to link by phone number."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Static

from pulse_tui.audit import AuditLog
from pulse_tui.config import GatewayKind
from pulse_tui.demo_gateways import start_gateway_demo
from pulse_tui.model import GatewayFailure, HealthState, QrCode
from pulse_tui.qr import Rendering
from pulse_tui.sim.evolution import EvolutionSim
from pulse_tui.sim.waha import WahaSim
from pulse_tui.sources.gateway.evolution import EvolutionGateway
from pulse_tui.sources.gateway.waha import WahaGateway
from pulse_tui.tui.app import PulseApp
from pulse_tui.tui.qr_view import RESULT_CONNECTED, QrScreen, phone_digits, shown_code
from tests.test_qr_view import Host, wait_for

CODE_RE = re.compile(r"\b[A-Z0-9]{4}-[A-Z0-9]{4}\b")


def test_phone_numbers_as_operators_type_them() -> None:
    assert phone_digits("+1 (876) 555-0123") == "18765550123"
    assert phone_digits("44.20.7946.0958") == "442079460958"
    assert phone_digits("12345") is None and phone_digits("+1 876 555 012x") is None
    assert phone_digits("١٢٣٤٥٦٧") is None  # Arabic-Indic digits: not what the gateway takes
    assert shown_code("ABCDEFGH") == "ABCD-EFGH" and shown_code("ABCD-EFGH") == "ABCD-EFGH"
    assert "\x1b" not in shown_code("AB\x1b[31mCD")  # a gateway's answer never reaches the terminal raw


def pairing_text(screen: QrScreen) -> str:
    return str(screen.query_one("#qr-pairing", Static).content)


def status_text(screen: QrScreen) -> str:
    return str(screen.query_one("#qr-status", Static).content)


async def _qr_then_pair(screen_of: Any, scan: Any, linked: Any) -> None:
    """Open the screen, see a drawn QR, press p, type a bad then a good number, see the code, scan, close."""
    app = Host(screen_of)
    async with app.run_test(size=(120, 60)) as pilot:
        screen = app.qr
        assert screen is not None
        await wait_for(pilot, lambda: isinstance(screen.rendering, Rendering), tries=1500)
        assert screen.attempt >= 1
        await pilot.press("p")
        phone = screen.query_one("#qr-phone", Input)
        assert phone.has_focus and phone.display
        await pilot.press(*"12ab", "enter")  # letters are not taken; 2 digits are no phone number: said so
        await wait_for(pilot, lambda: "6 to 15 digits" in status_text(screen))
        assert phone.value == "12" and screen.pairing_code is None
        phone.value = ""
        await pilot.press(*"+1 876 555 0123", "enter")
        await wait_for(pilot, lambda: screen.pairing_code is not None, tries=1500)
        assert CODE_RE.search(pairing_text(screen)) and "+18765550123" in pairing_text(screen)
        assert "Link with phone number" in pairing_text(screen)
        assert not phone.display  # the field closes once the number is sent
        assert scan()  # the phone types the code
        for _ in range(500):
            if await linked():
                break
            await asyncio.sleep(0.02)
        assert await linked()
        screen.mark_connected()  # what the app does when its monitor sees the session ready
        await wait_for(pilot, lambda: app.results == [RESULT_CONNECTED])


async def test_waha_qr_and_pairing_code() -> None:
    sim = WahaSim("wk-qr-123456", action_delay_s=0.0, start_delay_s=0.05, qr_wait_s=5.0)
    url = sim.start()
    sim.add_session("sales", start=True)
    gw = WahaGateway(url, "wk-qr-123456", qr_poll_s=0.2)

    async def linked() -> bool:
        got = await gw.status("sales")
        return not isinstance(got, GatewayFailure) and got.gateway_word.startswith("WORKING")

    try:
        await _qr_then_pair(lambda: QrScreen("sales", gw.qr_stream("sales"), pair=gw.request_pairing_code),
                            lambda: sim.scan("sales"), linked)
    finally:
        await gw.aclose()
        sim.stop()


async def test_evolution_qr_and_pairing_code() -> None:
    sim = EvolutionSim("ek-qr-123456", create_delay_s=0.0, connect_delay_s=0.2)
    url = sim.start()
    sim.add_instance("shop", connect=True)
    gw = EvolutionGateway(url, "ek-qr-123456", qr_poll_s=0.2)

    async def linked() -> bool:
        return sim.states("shop") == ("open", "open")

    try:
        await _qr_then_pair(lambda: QrScreen("shop", gw.qr_stream("shop"), pair=gw.request_pairing_code),
                            lambda: sim.scan("shop"), linked)
    finally:
        await gw.aclose()
        sim.stop()


async def test_a_refused_pairing_request_keeps_the_qr_usable() -> None:
    async def codes() -> AsyncIterator[QrCode | GatewayFailure]:
        await asyncio.Event().wait()
        yield QrCode(payload="never")

    async def refuse(_sid: str, _phone: str) -> str | GatewayFailure:
        return GatewayFailure(HealthState.ERROR, "WAHA gave no pairing code: session is not in SCAN_QR_CODE")

    app = Host(lambda: QrScreen("sales", codes(), pair=refuse))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.qr
        assert screen is not None
        await pilot.press("p", *"18765550123", "enter")
        await wait_for(pilot, lambda: "SCAN_QR_CODE" in status_text(screen))
        assert screen.pairing_code is None and not screen.query_one("#qr-pairing", Static).display
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.results == ["closed"])


async def test_without_pairing_p_says_scan_the_qr() -> None:
    async def codes() -> AsyncIterator[QrCode | GatewayFailure]:
        await asyncio.Event().wait()
        yield QrCode(payload="never")

    app = Host(lambda: QrScreen("7c9e6679-7425-40de-944b-e07fc1f90ae7", codes()))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.qr
        assert screen is not None
        assert "pair by phone" not in str(screen.query_one("#qr-hint", Static).content)
        await pilot.press("p")
        await wait_for(pilot, lambda: "cannot link by phone number" in status_text(screen))
        assert not screen.query_one("#qr-phone", Input).display


@pytest.mark.parametrize("read_only", [False, True])
async def test_the_app_offers_pairing_where_the_gateway_has_it(tmp_path: Path, read_only: bool) -> None:
    from pulse_tui.monitor.build import build_targets

    demo = start_gateway_demo(GatewayKind.WAHA, auto_scan_s=None, action_delay_s=0.0, read_only=read_only)
    try:
        targets = build_targets(demo.config, host=False)
        app = PulseApp(demo.config, targets.monitor, targets.gateway, host=targets.monitor, audit=AuditLog(tmp_path / "audit.jsonl"),
                       autopoll=False)
        async with app.run_test(size=(150, 45)) as pilot:
            app.open_qr("sales")
            await pilot.pause()
            assert app.qr_screen is not None
            assert (app.qr_screen.pair is None) == read_only  # Evolution's connect starts a session: an action
            await pilot.press("escape")
        await targets.aclose()
    finally:
        demo.close()
