"""The QR screen: one session's linking code drawn in the terminal, live from the gateway's QR stream.

The app pushes `QrScreen(session_id, gateway.qr_stream(session_id))` and calls `mark_connected()` when its
monitor sees the session become ready; the screen then dismisses itself with "connected" (Escape gives
"closed"). With `pair` (gateways whose capabilities have `pairing_code`), `p` asks for the phone number and shows
the 8-character code to type on the phone instead of scanning. The code is drawn dark-on-light: the drawing widget has an explicit black-on-white style (see
pulse_tui.qr.render for why), and it is re-fitted to the space left whenever that space changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TYPE_CHECKING, ClassVar

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input, Static

from pulse_tui.clock import Clock, SystemClock
from pulse_tui.model import GatewayFailure, HealthState, QrCode
from pulse_tui.qr.decode import QrDecodeError, payload_from_qr
from pulse_tui.qr.render import QrEncodeError, QrMatrix, Rendering, TooSmall, encode, fit_matrix
from pulse_tui.sanitize import visible

if TYPE_CHECKING:
    from pulse_tui.actions import Capabilities

# WhatsApp issues a new linking code about every 20 s (then gives up after a few).
DEFAULT_CODE_INTERVAL_S = 20.0

RESULT_CONNECTED = "connected"
RESULT_CLOSED = "closed"

# (session id, phone digits) -> the pairing code, or why there is none
PairFn = Callable[[str, str], Awaitable["str | GatewayFailure"]]
_PHONE_SEPARATORS = re.compile(r"[\s().-]")
PAIRING_STEPS = "On the phone: WhatsApp › Linked devices › Link a device › Link with phone number instead."


def phone_digits(text: str) -> str | None:
    """The digits of a typed phone number (spaces, dashes, dots, brackets and a leading + allowed); None if it is
    not 6 to 15 digits."""
    raw = _PHONE_SEPARATORS.sub("", text.strip())
    raw = raw[1:] if raw.startswith("+") else raw
    return raw if raw.isascii() and raw.isdigit() and 6 <= len(raw) <= 15 else None


def shown_code(code: str) -> str:
    """An 8-character pairing code as WhatsApp shows it (ABCD-EFGH); other lengths as given."""
    code = visible(code).strip()
    return f"{code[:4]}-{code[4:]}" if len(code) == 8 and "-" not in code else code


def prepare_code(qr: QrCode) -> QrMatrix:
    """Gateway QR → payload → level-L matrix. CPU work (PNG decode, encode): run it off the UI loop."""
    return encode(payload_from_qr(qr), "L")


class QrArea(Container):
    """The space the code may use; tells the screen whenever its size changes so the code is re-fitted."""

    class Resized(Message):
        """The QR area changed size."""

    def on_resize(self, event: events.Resize) -> None:
        self.post_message(self.Resized())


class QrScreen(Screen[str]):
    """Shows the live QR code of ONE session; dismisses with "connected" or "closed"."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("a", "toggle_ascii", "ASCII", show=False),
        Binding("p", "pair", "Pair by phone", show=False),
    ]

    DEFAULT_CSS = """
    QrScreen {
        layout: vertical;
    }
    QrScreen #qr-info, QrScreen #qr-status, QrScreen #qr-hint {
        height: auto;
        width: 100%;
        padding: 0 1;
    }
    QrScreen #qr-info, QrScreen #qr-hint {
        /* One row each, whatever the width: the space left for the code (and the size we say is
           needed) then does not depend on how a long session id wraps. */
        height: 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    QrScreen #qr-status {
        color: $warning;
    }
    QrScreen #qr-status.-empty {
        display: none;
    }
    QrScreen #qr-phone {
        display: none;
        margin: 0 1;
    }
    QrScreen #qr-pairing {
        height: auto;
        width: 100%;
        padding: 0 1;
        text-style: bold;
    }
    QrScreen #qr-pairing.-empty {
        display: none;
    }
    QrScreen #qr-hint {
        color: $text-muted;
    }
    QrScreen QrArea {
        height: 1fr;
        width: 100%;
        align: center middle;
        overflow: hidden hidden;
    }
    QrScreen .qr-code {
        width: auto;
        height: auto;
        padding: 0;
        /* Scanners need dark modules on a light ground, whatever the terminal theme. */
        background: #ffffff;
        color: #000000;
        text-style: none;
    }
    QrScreen #qr-message {
        width: 100%;
        height: auto;
        text-align: center;
        padding: 0 1;
    }
    """

    def __init__(
        self,
        session_id: str,
        codes: AsyncGenerator[QrCode | GatewayFailure, None],
        *,
        ascii: bool = False,
        code_interval_s: float | None = None,
        capabilities: Capabilities | None = None,
        clock: Clock | None = None,
        notify_connected: bool = True,
        pair: PairFn | None = None,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's own parameter name
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.session_id = session_id
        self.ascii = ascii
        # The gateway's own rotation (Evolution 45 s, WAHA 60 s then 20 s, 6 codes); `code_interval_s` overrides.
        interval = capabilities.qr_interval_s if capabilities is not None else DEFAULT_CODE_INTERVAL_S
        self.code_interval_s = interval if code_interval_s is None else code_interval_s
        self.first_code_s = capabilities.qr_first_s if capabilities is not None and code_interval_s is None else None
        self.max_codes = capabilities.qr_attempts if capabilities is not None else None
        self.notify_connected = notify_connected
        self.pair = pair
        self.pairing_code: str | None = None  # the last code the gateway gave, as shown
        self._codes = codes
        self._clock = clock or SystemClock()
        self._attempt = 0
        self._last_key: str | None = None
        self._matrix: QrMatrix | None = None
        self._code_at: float | None = None
        self._problem = ""  # why there is no code to show (decode error), shown in the code's place
        self._ended = False
        self._done = False
        self._pending_result: str | None = None
        self._rendering: Rendering | TooSmall | None = None
        self._timer: Timer | None = None

    # --- public -------------------------------------------------------------------------------------

    @property
    def attempt(self) -> int:
        """How many distinct codes have been received so far."""
        return self._attempt

    @property
    def rendering(self) -> Rendering | TooSmall | None:
        """What the code area currently shows: the drawn code, the size shortfall, or nothing yet."""
        return self._rendering

    def mark_connected(self) -> None:
        """The session is linked: close with "connected" (now, or as soon as this screen is on top again)."""
        if self._done:
            return
        self._done = True
        self._stop()
        if self.is_active:
            self._finish(RESULT_CONNECTED)
        else:
            # dismiss() pops the TOP screen: never close a modal stacked over us by mistake.
            self._pending_result = RESULT_CONNECTED

    # --- Textual ------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(self._info_text(), id="qr-info", markup=False)
        yield Static("", id="qr-status", classes="-empty", markup=False)
        # Disabled (so never focused) until `p`: until then every key goes to the screen's bindings.
        yield Input(placeholder="phone number with country code, e.g. +1 876 555 0123", id="qr-phone",
                    disabled=True, restrict=r"[0-9+ ().-]*", max_length=32)
        yield Static("", id="qr-pairing", classes="-empty", markup=False)
        with QrArea(id="qr-area"):
            yield Static("", id="qr-code", classes="qr-code", markup=False)
            yield Static("Waiting for the first QR code from the gateway…", id="qr-message", markup=False)
        pairing = " · p: pair by phone number" if self.pair is not None else ""
        yield Static(f"Press Escape to close · a: ASCII / blocks{pairing}", id="qr-hint", markup=False)

    def on_mount(self) -> None:
        # Toasts sit bottom right, over the code's corner: a phone camera must see the whole code.
        self.app.clear_notifications()
        self.query_one("#qr-code").display = False
        self._timer = self.set_interval(1, self._tick)
        self._consume()

    def on_screen_resume(self) -> None:
        if self._pending_result is not None:
            result, self._pending_result = self._pending_result, None
            self._finish(result)

    def on_qr_area_resized(self, message: QrArea.Resized) -> None:
        self._refit()

    def action_close(self) -> None:
        """Escape: close without waiting for the scan (or, while typing a phone number, stop typing)."""
        if self._done:
            return
        phone = self.query_one("#qr-phone", Input)
        if phone.display:
            self._hide_phone(phone)
            return
        self._done = True
        self._stop()
        self.dismiss(RESULT_CLOSED)

    def action_toggle_ascii(self) -> None:
        """Switch between half blocks and the ASCII fallback."""
        self.ascii = not self.ascii
        self._refit()

    def action_pair(self) -> None:
        """`p`: ask for the phone number to link with a pairing code instead of the QR."""
        if self._done:
            return
        if self.pair is None:
            self._set_status("This gateway cannot link by phone number: scan the QR code.")
            return
        phone = self.query_one("#qr-phone", Input)
        phone.disabled = False
        phone.display = True
        phone.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "qr-phone":
            return
        event.stop()
        digits = phone_digits(event.value)
        if digits is None:
            self._set_status("A phone number is 6 to 15 digits with its country code, e.g. +1 876 555 0123.")
            return
        self._hide_phone(event.input)
        self._set_status("")
        self._show_pairing(f"Asking the gateway for a pairing code for +{digits}…")
        self._request_code(digits)

    @work(exclusive=True, exit_on_error=False, group="qr-pair")
    async def _request_code(self, digits: str) -> None:
        assert self.pair is not None
        try:
            got = await self.pair(self.session_id, digits)
        except Exception as exc:  # noqa: BLE001 - an adapter bug shows here, the QR stays usable
            got = GatewayFailure(HealthState.ERROR, f"the request failed ({type(exc).__name__})")
        if self._done:
            return
        if isinstance(got, GatewayFailure):
            self._show_pairing("")
            self._set_status(f"No pairing code: {_failure_text(got)}")
            return
        self.pairing_code = shown_code(got)
        self._show_pairing(f"Pairing code for +{digits}: {self.pairing_code}   {PAIRING_STEPS}")

    def _hide_phone(self, phone: Input) -> None:
        phone.display = False
        phone.disabled = True
        self.set_focus(None)

    def _show_pairing(self, text: str) -> None:
        if self.is_mounted:
            line = self.query_one("#qr-pairing", Static)
            line.update(text)
            line.set_class(not text, "-empty")

    # --- the stream ---------------------------------------------------------------------------------

    @work(exclusive=True, exit_on_error=False, group="qr-stream")
    async def _consume(self) -> None:
        codes = self._codes
        try:
            async for item in codes:
                if self._done:
                    break
                if isinstance(item, GatewayFailure):
                    self._set_status(_failure_text(item))
                else:
                    await self._new_code(item)
        except Exception as exc:  # noqa: BLE001 - any adapter bug must show up here, not crash the app
            # The type only: an adapter's message could quote a URL or a body.
            self._set_status(f"The QR stream failed ({type(exc).__name__}); close and try again.")
        else:
            if not self._done:
                self._ended = True
                self._set_status("The gateway sent no more codes. If the phone did not link, close and "
                                 "start the session again.")
                self._update_info()
        finally:
            with contextlib.suppress(Exception):
                await codes.aclose()

    async def _new_code(self, qr: QrCode) -> None:
        key = qr.payload or qr.png_data_url or ""
        if key == self._last_key:
            return  # the same code again (a poll or a reconnect): not a new attempt
        self._last_key = key
        self._attempt += 1
        self._code_at = self._clock.monotonic()
        try:
            matrix: QrMatrix | None = await asyncio.to_thread(prepare_code, qr)
            self._problem = ""
        except (QrDecodeError, QrEncodeError) as exc:
            matrix = None
            self._problem = f"Could not read this QR code from the gateway: {exc}."
        if self._done:
            return
        self._matrix = matrix
        self._set_status("")
        self._update_info()
        self._refit()

    # --- drawing ------------------------------------------------------------------------------------

    def _refit(self) -> None:
        if not self.is_mounted:
            return
        code = self.query_one("#qr-code", Static)
        message = self.query_one("#qr-message", Static)
        if self._matrix is None:
            self._rendering = None
            code.display = False
            message.update(visible(self._problem) or "Waiting for the first QR code from the gateway…")
            message.display = True
            return
        area = self.query_one(QrArea)
        have = area.content_size
        if have.width <= 0 or have.height <= 0:
            return  # not laid out yet: the area's Resize will bring us back
        fitted = fit_matrix(self._matrix, have.width, have.height, self.ascii)
        if isinstance(fitted, TooSmall):
            # Say it in terminal terms: the operator resizes the terminal, not our code area.
            fitted = fitted.grown(self.size.width - have.width, self.size.height - have.height)
            code.display = False
            message.update(fitted.message)
            message.display = True
        else:
            code.update(Content(fitted.text))
            message.display = False
            code.display = True
        self._rendering = fitted

    def _tick(self) -> None:
        self._update_info()

    def _update_info(self) -> None:
        if self.is_mounted:
            self.query_one("#qr-info", Static).update(self._info_text())

    def _info_text(self) -> str:
        parts = [f"Scan to link session {visible(self.session_id)}"]
        if self._attempt:
            limit = self.max_codes
            parts.append(f"attempt {self._attempt}" + (f" of {limit}" if limit else ""))
            parts.append(self._countdown_text())
        return " · ".join(parts)

    def _countdown_text(self) -> str:
        if self._ended:
            return "no more codes"
        if self._code_at is None:
            return ""
        life = self.first_code_s if self._attempt == 1 and self.first_code_s is not None else self.code_interval_s
        left = life - (self._clock.monotonic() - self._code_at)
        last = self.max_codes is not None and self._attempt >= self.max_codes
        if left <= 0:
            return "the gateway gives up after this code" if last else "a new code is due"
        return f"last code: expires in ~{math.ceil(left)} s" if last else f"next code in ~{math.ceil(left)} s"

    def _set_status(self, text: str) -> None:
        if self.is_mounted:
            status = self.query_one("#qr-status", Static)
            status.update(visible(text))  # a gateway's error detail may quote its body
            status.set_class(not text, "-empty")

    # --- closing ------------------------------------------------------------------------------------

    def _stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self.workers.cancel_group(self, "qr-stream")
        self.workers.cancel_group(self, "qr-pair")

    def _finish(self, result: str) -> None:
        if result == RESULT_CONNECTED and self.notify_connected:
            self.app.notify(f"Session {self.session_id} connected.", title="WhatsApp linked")
        self.dismiss(result)


def _failure_text(failure: GatewayFailure) -> str:
    """One line about a gateway problem while waiting for codes (the detail is the adapter's, secret-free)."""
    label = {
        HealthState.RATE_LIMITED: "Gateway rate limit",
        HealthState.UNAUTHORIZED: "Gateway refused the API key",
        HealthState.DOWN: "Gateway unreachable",
        HealthState.BUDGET: "Request budget spent",
    }.get(failure.state, "Gateway problem")
    text = f"{label}: {failure.detail}" if failure.detail else label
    if failure.retry_after_s is not None:
        text += f" (retrying in {math.ceil(failure.retry_after_s)} s)"
    return text
