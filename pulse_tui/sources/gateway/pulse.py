"""Pulse adapter: its `/whatsapp-web/...` routes (specs/pulse.md). Lists instances; raw QR payloads.

Pulse answers its actions with HTTP 200 and `{"status": "success"|"error", "message"}`: read `status`.
Its `qrImageUrl` points at a public QR-image web service with the linking payload in the query string:
never fetched, never shown; only `qrCode` is used.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pulse_tui.config import GatewayKind
from pulse_tui.model import (
    ActionResult,
    FailureKind,
    GatewayFailure,
    GatewayHealth,
    HealthState,
    QrCode,
    SessionStatus,
)
from pulse_tui.sources.authdirs import PHONE_RE
from pulse_tui.sources.gateway.base import (
    AdapterOptions,
    CallKind,
    LedgerAdapter,
    failure,
    not_ok,
    polled_qr,
    shape_failure,
)
from pulse_tui.sources.gateway.budget import Spend
from pulse_tui.sources.gateway.capabilities import Capabilities, Consequences, QrForm

if TYPE_CHECKING:
    from typing_extensions import Unpack

BASE = "/whatsapp-web"


def pulse_id_error(session_id: str) -> str | None:
    """Pulse instance ids are phone numbers: 6 to 20 digits."""
    return None if PHONE_RE.match(session_id) else "not a Pulse instance phone number (digits only)"


CAPABILITIES = Capabilities(
    lists_sessions=True,  # it lists every instance it runs
    stop_deletes_auth=False,
    has_restart=True,
    has_delete=True,
    qr_form=QrForm.RAW,
    id_rule=pulse_id_error,
    logs_out_on_shutdown=True,  # so a restart forces a re-scan, auth dir or not
    restores_from_auth_dir=False,
    consequences=Consequences(
        stop="Pulse logs it out: WhatsApp unlinks this device; the next start needs a new QR scan.",
    ),
)


def _phone_failure(phone: str) -> GatewayFailure:
    return failure(HealthState.ERROR, f"{phone!r} is not a Pulse instance phone number (digits only)", 400,
                   kind=FailureKind.INVALID)


class PulseGateway(LedgerAdapter):
    """Pulse's multi-instance WhatsApp Web service; instance ids are phone numbers."""

    kind = GatewayKind.PULSE
    capabilities = CAPABILITIES

    def __init__(self, url: str, api_key: str | None = None, **options: Unpack[AdapterOptions]) -> None:
        # Pulse has no rate limit: unlimited, but a 429 or Retry-After from a proxy is still honoured.
        super().__init__(url, api_key, **options)
        self._listed: set[str] = set()

    async def _get(self, path: str, what: str, call: CallKind = CallKind.STATUS) -> tuple[int, Any] | GatewayFailure:
        return await self._http.request_json("GET", path, what, call=call)

    @staticmethod
    def _path(phone: str, op: str) -> str:
        return f"{BASE}/instances/{quote(phone, safe='')}/{op}"

    # --- reading ---------------------------------------------------------------------

    async def health(self) -> GatewayHealth:
        return await self._http.health("/health")

    async def list_sessions(self) -> list[str] | GatewayFailure:
        """The instances `GET /whatsapp-web/status` lists."""
        what = f"GET {BASE}/status"
        got = await self._get(f"{BASE}/status", what, CallKind.LIST)
        if isinstance(got, GatewayFailure):
            return got
        _, body = got
        inst = body.get("instances") if isinstance(body, dict) else None
        if not isinstance(inst, list):
            return shape_failure(what)
        phones = [i.get("phoneNumber") for i in inst if isinstance(i, dict)]
        if not all(isinstance(p, str) for p in phones):
            return shape_failure(what)
        self._listed = {str(p) for p in phones}
        return sorted(self._listed)

    async def status(self, session_id: str) -> SessionStatus | GatewayFailure:
        """Instance status, plus its QR when it is not connected (two requests; Pulse has no rate limit)."""
        if self.capabilities.id_error(session_id):
            return _phone_failure(session_id)
        what = "GET …/status"
        got = await self._get(self._path(session_id, "status"), what)
        if isinstance(got, GatewayFailure):
            return got
        _, body = got
        connected = body.get("connected") if isinstance(body, dict) else None
        if not isinstance(connected, bool):
            return shape_failure(what)
        number, name = body.get("number"), body.get("name")
        phone = str(number) if isinstance(number, str | int) else session_id
        name = name if isinstance(name, str) else None
        if connected:
            linked = SessionStatus(session_id, True, True, phone=phone, name=name)
            self.budget.remember(linked)
            return linked
        code = await self.qr(session_id)
        if isinstance(code, GatewayFailure):
            return code
        exists = code is not None or session_id in self._listed
        waiting = SessionStatus(session_id, exists, False, qr=code, phone=phone, name=name)
        self.budget.remember(waiting)
        return waiting

    async def qr(self, session_id: str) -> QrCode | None | GatewayFailure:
        """`qrCode` from `…/qr` (None when Pulse has none: it then says "already_authenticated")."""
        if self.capabilities.id_error(session_id):
            return _phone_failure(session_id)
        what = "GET …/qr"
        got = await self._get(self._path(session_id, "qr"), what, CallKind.QR)
        if isinstance(got, GatewayFailure):
            return got
        _, body = got
        if not isinstance(body, dict) or not isinstance(body.get("status"), str):
            return shape_failure(what)
        if body["status"] != "pending_authentication":
            return None
        payload = body.get("qrCode")
        if not isinstance(payload, str) or not payload:
            return shape_failure(what)
        return QrCode(payload=payload)

    async def qr_stream(self, session_id: str) -> AsyncGenerator[QrCode | GatewayFailure, None]:
        """Polls `…/qr` every `qr_poll_s`; yields each new code, and a failure when one starts."""
        async with aclosing(polled_qr(partial(self.qr, session_id), self.qr_poll_s,
                                      honour_retry_after=True)) as codes:
            async for item in codes:
                yield item

    # --- actions -------------------------------------------------------------------------

    async def _action(self, method: str, session_id: str, op: str) -> ActionResult:
        if self.capabilities.id_error(session_id):
            return not_ok(_phone_failure(session_id))
        what = f"{method} …/{op}"
        got = await self._http.request_json(method, self._path(session_id, op), what, call=CallKind.ACTION,
                                            spend=Spend.ACTION)
        if isinstance(got, GatewayFailure):
            return not_ok(got)
        code, body = got
        status = body.get("status") if isinstance(body, dict) else None
        if status not in ("success", "error"):
            return not_ok(shape_failure(what, code))
        message = body.get("message")
        return ActionResult(status == "success", message if isinstance(message, str) else str(status))

    async def start(self, session_id: str) -> ActionResult:
        """Pulse has no start route: a restart (re)initializes the instance."""
        return await self._action("POST", session_id, "restart")

    async def stop(self, session_id: str) -> ActionResult:
        """Logout: unlinks the number, so the next start needs a QR scan."""
        return await self._action("POST", session_id, "logout")

    async def restart(self, session_id: str) -> ActionResult:
        return await self._action("POST", session_id, "restart")

    async def delete(self, session_id: str) -> ActionResult:
        """DELETE …/session: clears the instance's stored WhatsApp session."""
        return await self._action("DELETE", session_id, "session")
