"""Pilot tests of the QR screen: live codes, attempt counter, countdown, size shortfall, closing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from rich.style import Style
from textual.app import App
from textual.geometry import Region
from textual.pilot import Pilot
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from pulse_tui.clock import FakeClock
from pulse_tui.model import GatewayFailure, HealthState, QrCode
from pulse_tui.qr import Rendering, TooSmall, payload_from_text
from pulse_tui.tui.qr_view import QrScreen
from tests.test_qr import salesboy_data_url, whatsapp_payload

SESSION = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
P1 = whatsapp_payload(1)
P2 = whatsapp_payload(2)


class Stream:
    """An async generator of gateway items that stays open (like the SSE stream) until closed."""

    def __init__(self, items: list[QrCode | GatewayFailure], end: bool = False) -> None:
        self.items = items
        self.end = end
        self.closed = False

    async def __call__(self) -> AsyncIterator[QrCode | GatewayFailure]:
        try:
            for item in self.items:
                yield item
            if not self.end:
                await asyncio.Event().wait()
        finally:
            self.closed = True


class Host(App[None]):
    """A tiny app that opens the QR screen at once and records how it closed and what it announced."""

    def __init__(self, make_screen: Callable[[], QrScreen]) -> None:
        super().__init__()
        self.make_screen = make_screen
        self.results: list[str | None] = []
        self.notices: list[str] = []
        self.qr: QrScreen | None = None

    def compose(self) -> Any:
        yield Label("main screen")

    def on_mount(self) -> None:
        self.qr = self.make_screen()
        self.push_screen(self.qr, callback=self.results.append)

    def notify(self, message: str, **kwargs: Any) -> None:  # type: ignore[override]
        self.notices.append(message)
        super().notify(message, **kwargs)


async def wait_for(pilot: Pilot[Any], cond: Callable[[], bool], tries: int = 400) -> None:
    for _ in range(tries):
        if cond():
            return
        await pilot.pause(0.01)
    raise AssertionError("condition not reached")


def png_codes(*payloads: str) -> list[QrCode | GatewayFailure]:
    return [QrCode(png_data_url=salesboy_data_url(p)) for p in payloads]


def info_text(screen: QrScreen) -> str:
    return str(screen.query_one("#qr-info", Static).content)


async def test_shows_latest_code_scannable_black_on_white() -> None:
    stream = Stream(png_codes(P1, P2))
    app = Host(lambda: QrScreen(SESSION, stream()))
    async with app.run_test(size=(100, 45)) as pilot:
        screen = app.qr
        assert screen is not None
        await wait_for(pilot, lambda: screen.attempt == 2 and isinstance(screen.rendering, Rendering))
        await pilot.pause()
        info = info_text(screen)
        assert SESSION in info and "attempt 2" in info and "next code in ~" in info
        assert screen.query_one("#qr-hint", Static).content is not None
        assert "Press Escape to close" in str(screen.query_one("#qr-hint", Static).content)

        code = screen.query_one("#qr-code", Static)
        assert code.display and not screen.query_one("#qr-message", Static).display
        content_lines = str(code.content).split("\n")
        assert payload_from_text(content_lines) == P2
        rendering = screen.rendering
        assert isinstance(rendering, Rendering) and (rendering.width, rendering.height) == (61, 31)

        # What is actually painted: whole, unclipped, and black on white.
        assert screen.region.contains_region(code.region)
        assert (code.region.width, code.region.height) == (61, 31)
        strips = code.render_lines(Region(0, 0, code.size.width, code.size.height))
        assert payload_from_text([strip.text for strip in strips]) == P2
        for strip in strips:
            for seg in strip:
                style = seg.style or Style()
                assert style.bgcolor is not None and style.bgcolor.get_truecolor() == (255, 255, 255)
                if seg.text.strip():
                    assert style.color is not None and style.color.get_truecolor() == (0, 0, 0)


async def test_too_small_says_needed_size_then_draws_after_resize() -> None:
    stream = Stream(png_codes(P1))
    app = Host(lambda: QrScreen(SESSION, stream()))
    async with app.run_test(size=(50, 20)) as pilot:
        screen = app.qr
        assert screen is not None
        await wait_for(pilot, lambda: isinstance(screen.rendering, TooSmall))
        await pilot.pause()
        message = str(screen.query_one("#qr-message", Static).content)
        # Terminal terms: the 57x29 code plus the info and hint rows.
        assert message.startswith("Terminal too small for the QR: need 57x31, have 50x20")
        assert "61x33" in message
        assert not screen.query_one("#qr-code", Static).display

        await pilot.resize_terminal(100, 45)
        await wait_for(pilot, lambda: isinstance(screen.rendering, Rendering))
        await pilot.pause()
        code = screen.query_one("#qr-code", Static)
        assert code.display and payload_from_text(str(code.content).split("\n")) == P1


async def test_mark_connected_dismisses_and_notifies() -> None:
    stream = Stream(png_codes(P1))
    app = Host(lambda: QrScreen(SESSION, stream()))
    async with app.run_test(size=(100, 45)) as pilot:
        screen = app.qr
        assert screen is not None
        await wait_for(pilot, lambda: screen.attempt == 1)
        screen.mark_connected()
        screen.mark_connected()  # a second report changes nothing
        await wait_for(pilot, lambda: bool(app.results))
        assert app.results == ["connected"]
        assert app.screen is not screen
        assert any(SESSION in n and "connected" in n for n in app.notices)
        await wait_for(pilot, lambda: stream.closed)


async def test_connected_under_a_modal_waits_for_the_modal() -> None:
    stream = Stream(png_codes(P1))
    app = Host(lambda: QrScreen(SESSION, stream()))
    async with app.run_test(size=(100, 45)) as pilot:
        screen = app.qr
        assert screen is not None
        await wait_for(pilot, lambda: screen.attempt == 1)
        modal: ModalScreen[None] = ModalScreen()
        await app.push_screen(modal)
        screen.mark_connected()
        await pilot.pause()
        assert app.results == [] and app.screen is modal  # dismiss() would have popped the modal
        app.pop_screen()
        await wait_for(pilot, lambda: bool(app.results))
        assert app.results == ["connected"]


async def test_escape_closes() -> None:
    stream = Stream(png_codes(P1))
    app = Host(lambda: QrScreen(SESSION, stream()))
    async with app.run_test(size=(100, 45)) as pilot:
        await wait_for(pilot, lambda: app.qr is not None and app.qr.attempt == 1)
        await pilot.press("escape")
        await wait_for(pilot, lambda: bool(app.results))
        assert app.results == ["closed"] and app.notices == []
        await wait_for(pilot, lambda: stream.closed)


async def test_ascii_mode_draws_a_scannable_code() -> None:
    stream = Stream(png_codes(P1))
    app = Host(lambda: QrScreen(SESSION, stream(), ascii=True))
    async with app.run_test(size=(130, 68)) as pilot:
        screen = app.qr
        assert screen is not None
        await wait_for(pilot, lambda: isinstance(screen.rendering, Rendering))
        rendering = screen.rendering
        assert isinstance(rendering, Rendering) and rendering.ascii and rendering.width == 122
        code = screen.query_one("#qr-code", Static)
        assert payload_from_text(str(code.content).split("\n"), ascii=True) == P1
        await pilot.press("a")  # back to half blocks
        await wait_for(pilot, lambda: isinstance(screen.rendering, Rendering) and not screen.rendering.ascii)
        assert payload_from_text(str(code.content).split("\n")) == P1


async def test_repeat_code_failure_and_end_of_stream() -> None:
    same = png_codes(P1)[0]
    failure = GatewayFailure(HealthState.RATE_LIMITED, "HTTP 429", 429, retry_after_s=12)
    stream = Stream([QrCode(payload=P1), QrCode(payload=P1), same, failure], end=True)
    app = Host(lambda: QrScreen(SESSION, stream()))
    async with app.run_test(size=(100, 45)) as pilot:
        screen = app.qr
        assert screen is not None
        await wait_for(pilot, lambda: stream.closed)
        await pilot.pause()
        # The raw payload and the PNG of the same code arrive as different inputs: 2 attempts, not 3.
        assert screen.attempt == 2
        status = str(screen.query_one("#qr-status", Static).content)
        assert "no more codes" in status
        assert "no more codes" in info_text(screen)
        code = screen.query_one("#qr-code", Static)
        assert payload_from_text(str(code.content).split("\n")) == P1


async def test_failure_is_shown_and_countdown_follows_clock() -> None:
    clock = FakeClock()
    failure = GatewayFailure(HealthState.RATE_LIMITED, "HTTP 429", 429, retry_after_s=12)
    stream = Stream([QrCode(payload=P1), failure])
    app = Host(lambda: QrScreen(SESSION, stream(), clock=clock, code_interval_s=20))
    async with app.run_test(size=(100, 45)) as pilot:
        screen = app.qr
        assert screen is not None
        await wait_for(pilot, lambda: "retrying in 12 s" in str(screen.query_one("#qr-status", Static).content))
        assert "rate limit" in str(screen.query_one("#qr-status", Static).content)
        assert "next code in ~20 s" in info_text(screen)
        clock.advance(7)
        await wait_for(pilot, lambda: "next code in ~13 s" in info_text(screen), tries=400)
        clock.advance(30)
        await wait_for(pilot, lambda: "a new code is due" in info_text(screen), tries=400)
        assert screen.attempt == 1


async def test_unreadable_image_is_reported_not_drawn() -> None:
    stream = Stream([QrCode(png_data_url="data:image/png;base64,AAAA")])
    app = Host(lambda: QrScreen(SESSION, stream()))
    async with app.run_test(size=(100, 45)) as pilot:
        screen = app.qr
        assert screen is not None
        await wait_for(pilot, lambda: screen.attempt == 1)
        await pilot.pause()
        message = str(screen.query_one("#qr-message", Static).content)
        assert "Could not read this QR code" in message
        assert not screen.query_one("#qr-code", Static).display and screen.rendering is None


async def test_needed_size_is_exact() -> None:
    """The size the message names really is enough, and one column less really is not."""
    stream = Stream([QrCode(payload=P1)])
    app = Host(lambda: QrScreen(SESSION, stream()))
    async with app.run_test(size=(56, 31)) as pilot:
        screen = app.qr
        assert screen is not None
        await wait_for(pilot, lambda: isinstance(screen.rendering, TooSmall))
        await pilot.resize_terminal(57, 31)
        await wait_for(pilot, lambda: isinstance(screen.rendering, Rendering))
        await pilot.pause()
        rendering = screen.rendering
        assert isinstance(rendering, Rendering) and rendering.quiet == 2
        code = screen.query_one("#qr-code", Static)
        assert screen.region.contains_region(code.region) and code.region.size == (57, 29)
        strips = code.render_lines(Region(0, 0, code.size.width, code.size.height))
        assert payload_from_text([strip.text for strip in strips]) == P1


async def test_countdown_follows_the_gateways_own_rotation() -> None:
    """Evolution rotates every 45 s; WAHA's first code lives 60 s, then 20 s each, and it gives up after 6."""
    from pulse_tui.sources.gateway.evolution import CAPABILITIES as EVOLUTION
    from pulse_tui.sources.gateway.waha import CAPABILITIES as WAHA

    clock = FakeClock()
    app = Host(lambda: QrScreen(SESSION, Stream([QrCode(payload=P1)])(), clock=clock, capabilities=EVOLUTION))
    async with app.run_test(size=(100, 45)) as pilot:
        screen = app.qr
        assert screen is not None
        await wait_for(pilot, lambda: "next code in ~45 s" in info_text(screen))
        assert "attempt 1 ·" in info_text(screen)  # Evolution's limit spans reconnects: no "of N"

    clock = FakeClock()
    waha = [QrCode(payload=whatsapp_payload(i)) for i in range(1, 7)]
    items = Stream(waha[:1])
    app = Host(lambda: QrScreen(SESSION, items(), clock=clock, capabilities=WAHA))
    async with app.run_test(size=(100, 45)) as pilot:
        screen = app.qr
        assert screen is not None
        await wait_for(pilot, lambda: "attempt 1 of 6" in info_text(screen) and "next code in ~60 s" in info_text(screen))
    clock = FakeClock()
    app = Host(lambda: QrScreen(SESSION, Stream(waha)(), clock=clock, capabilities=WAHA))
    async with app.run_test(size=(100, 45)) as pilot:
        screen = app.qr
        assert screen is not None
        await wait_for(pilot, lambda: "attempt 6 of 6" in info_text(screen))
        assert "last code: expires in ~20 s" in info_text(screen)
        clock.advance(21)
        await wait_for(pilot, lambda: "the gateway gives up after this code" in info_text(screen))
