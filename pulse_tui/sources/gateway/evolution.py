"""Evolution API v2 adapter (specs/evolution.md): `apikey`, instances from `fetchInstances` (the database) AND
`connectionState` (the socket in memory), reported together when they disagree.

`GET /instance/connect` is not read-only: on a `close` instance it STARTS a connection, so it is called only by
`start()` and `request_pairing_code()` (the operator asked), and by `qr_stream()` only while memory says
`connecting`. Evolution has no stop: `stop()` is its logout (the next start needs a QR).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pulse_tui.config import GatewayKind
from pulse_tui.model import (
    ActionResult,
    ConnState,
    GatewayFailure,
    GatewayHealth,
    HealthState,
    QrCode,
    SessionStatus,
)
from pulse_tui.sources.gateway.base import (
    AdapterOptions,
    CallKind,
    HttpAdapter,
    answer_json,
    failure,
    invalid_id,
    not_ok,
    pairing_digits,
    refused,
    shape_failure,
    to_health,
)
from pulse_tui.sources.gateway.budget import Spend
from pulse_tui.sources.gateway.capabilities import Capabilities, Consequences, QrForm
from pulse_tui.sources.gateway.keys_from_env import EVOLUTION_DEFAULT_KEY
from pulse_tui.sources.gateway.routed import message_of, send

if TYPE_CHECKING:
    from typing_extensions import Unpack

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")
CREATE_TIMEOUT_S = 15.0  # create answers after ~5 s (it connects, then waits 5 s)
PNG_PREFIX = "data:image/png;base64,"

# Baileys' DisconnectReason codes as Evolution stores them (disconnectionReasonCode, statusReason)
REASONS: dict[int, tuple[str, bool]] = {  # code -> (meaning, transient: Evolution reconnects by itself)
    401: ("logged out (on the phone or by a logout): needs a new QR", False),
    403: ("forbidden by WhatsApp (the number may be banned)", False),
    402: ("refused by WhatsApp (402)", False),
    406: ("refused by WhatsApp (406)", False),
    408: ("connection lost or timed out (QR refs ended): Evolution reconnects by itself", True),
    411: ("multi-device mismatch: link the phone again", False),
    428: ("connection closed (at the QR limit: refused until a new start)", False),
    440: ("connection replaced: another client took this session", False),
    500: ("bad session data: link the phone again", False),
    503: ("WhatsApp service unavailable: Evolution retries", True),
    515: ("restart required (normal right after pairing): Evolution reconnects by itself", True),
}

CONSEQUENCES = Consequences(
    start="Connects the instance: a QR (or pairing code) follows unless it has a saved session. "
          "A new instance is created (~5 s).",
    stop="Logs the instance out (Evolution has no plain stop): its WhatsApp session is deleted and the next "
         "start needs a new QR scan.",
    restart="Reconnects an open or connecting instance; on a closed one Evolution refuses (\"[object Object]\").",
    delete="Logs it out first if connected, then deletes the instance from Evolution. It cannot be undone.",
    logout="Logs out: unlinks the phone and deletes the saved session; the instance stays, closed.",
)


def evolution_id_error(session_id: str) -> str | None:
    return None if NAME_RE.match(session_id) else "not an Evolution instance name"


CAPABILITIES = Capabilities(
    lists_sessions=True,
    stop_deletes_auth=True,
    has_restart=True,
    has_delete=True,
    qr_form=QrForm.RAW,
    id_rule=evolution_id_error,
    restores_from_auth_dir=False,  # sessions live in its database or Redis, not in a dir of ours
    pairing_code=True,
    event_stream=True,  # socket.io when WEBSOCKET_ENABLED
    consequences=CONSEQUENCES,
    has_logout=True,
    browser_per_session=False,  # Baileys: no browser
    no_browser_why="Evolution runs Baileys (a websocket client), no Chromium per session",
    qr_interval_s=45.0,  # Baileys' qrTimeout; its QRCODE_LIMIT counts codes across reconnects, not one attempt
)


STATES = {"open": ConnState.CONNECTED, "connecting": ConnState.STARTING, "close": ConnState.STOPPED,
          "refused": ConnState.STOPPED}


def reason_text(code: int | None) -> str:
    """What a disconnection code means, in one phrase."""
    if code is None:
        return ""
    meaning = REASONS.get(code)
    return f"{meaning[0]} ({code})" if meaning else f"closed with code {code}"


def is_transient(code: int | None) -> bool:
    """True for a close Evolution recovers from by itself (it reconnects unless 401/402/403/406)."""
    return code is not None and code not in (401, 402, 403, 406) and REASONS.get(code, ("", True))[1]


@dataclass(frozen=True)
class InstanceRow:
    """One `fetchInstances` row, without its token."""

    name: str
    db_state: str
    owner_jid: str | None = None
    profile_name: str | None = None
    disconnection_code: int | None = None
    disconnection_at: str | None = None
    memory_state: str | None = None  # the last connectionState we read


@dataclass(frozen=True)
class EvolutionServer:
    version: str
    client_name: str
    whatsapp_web_version: str


@dataclass(frozen=True)
class EvolutionFacts:
    """The adapter's facts for the doctor (never the key or a token)."""

    url: str
    key_is_default: bool
    server: EvolutionServer | None
    instances: tuple[InstanceRow, ...] = ()


def _phone(jid: Any) -> str | None:
    if not isinstance(jid, str):
        return None
    user = jid.split("@", 1)[0].split(":", 1)[0]
    return user if user.isdigit() else None


def parse_row(item: Any) -> InstanceRow | None:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        return None
    code = item.get("disconnectionReasonCode")
    at = item.get("disconnectionAt")
    return InstanceRow(
        item["name"], str(item.get("connectionStatus") or "?"),
        item["ownerJid"] if isinstance(item.get("ownerJid"), str) else None,
        item["profileName"] if isinstance(item.get("profileName"), str) else None,
        code if isinstance(code, int) and not isinstance(code, bool) else None,
        at if isinstance(at, str) else None,
    )


def merge_states(name: str, memory: str, row: InstanceRow | None) -> SessionStatus:
    """connectionState (memory) + the database row -> one status; a disagreement is said, both words kept."""
    state = STATES.get(memory, ConnState.UNKNOWN)
    word = memory
    details: list[str] = []
    if memory not in STATES:
        details.append(f"Evolution reports {memory!r}, a state pulse-tui does not know")
    if row is not None and row.db_state != memory:
        word = f"{memory} (database: {row.db_state})"
        details.append(f"Evolution's memory says {memory} but its database says {row.db_state} "
                       "(a known Evolution failure: the Manager shows the database)")
    if state == ConnState.STOPPED and row is not None and row.disconnection_code is not None:
        details.append(reason_text(row.disconnection_code))
    phone = _phone(row.owner_jid) if row else None
    return SessionStatus(name, True, state == ConnState.CONNECTED, phone=phone if state == ConnState.CONNECTED
                         else None, name=row.profile_name if row and state == ConnState.CONNECTED else None,
                         state=state, gateway_word=word, detail="; ".join(details))


def qr_of(body: Any) -> QrCode | None:
    """`{"code": "2@…", "base64": …}` -> the raw payload (the PNG is not needed: we draw it ourselves)."""
    if isinstance(body, dict) and isinstance(body.get("code"), str) and body["code"]:
        return QrCode(payload=body["code"])
    return None


class EvolutionGateway(HttpAdapter):
    """One Evolution API server; its instances are the sessions."""

    kind = GatewayKind.EVOLUTION
    key_header = "apikey"  # Evolution reads `apikey`, not `x-api-key`

    def __init__(self, url: str, api_key: str | None = None, **options: Unpack[AdapterOptions]) -> None:
        super().__init__(url, api_key, **options)
        self._key_is_default = (api_key or EVOLUTION_DEFAULT_KEY) == EVOLUTION_DEFAULT_KEY
        self.capabilities = CAPABILITIES
        self.server: EvolutionServer | None = None
        self._rows: dict[str, InstanceRow] = {}
        self._last_qr: dict[str, QrCode] = {}

    async def _json(self, method: str, path: str, what: str, **kw: Any) -> tuple[int, Any] | GatewayFailure:
        kw.setdefault("route_codes", (400, 403, 404))  # 403 is "name in use" here; a bad key is 401
        return answer_json(await send(self._http, method, path, **kw), what)

    def _ipath(self, op: str, name: str) -> str:
        return f"/instance/{op}/{quote(name, safe='')}"

    # --- reading ---------------------------------------------------------------------------

    async def health(self) -> GatewayHealth:
        """`GET /` (needs no key): version, client name; the key is tested by the listing."""
        got = await self._json("GET", "/", "GET /")
        if isinstance(got, GatewayFailure):
            return to_health(got, self._http.last_latency_ms, self.budget)
        code, body = got
        if code != 200 or not isinstance(body, dict) or not isinstance(body.get("version"), str):
            return to_health(shape_failure("GET /", code), self._http.last_latency_ms, self.budget)
        self.server = EvolutionServer(str(body["version"]), str(body.get("clientName") or ""),
                                      str(body.get("whatsappWebVersion") or ""))
        note = f"Evolution API {self.server.version}"
        if self.server.client_name:
            note += f" (client {self.server.client_name}: only its instances are listed)"
        if self.capabilities.version_note != note:
            self.capabilities = replace(CAPABILITIES, version_note=note)
        left, limit = self.budget.snapshot()
        return GatewayHealth(HealthState.OK, self._http.last_latency_ms, left, limit, detail=note)

    async def fetch_instances(self) -> list[InstanceRow] | GatewayFailure:
        """The database's view: every row `fetchInstances` returns (an instance token sees only its own)."""
        what = "GET /instance/fetchInstances"
        got = await self._json("GET", "/instance/fetchInstances", what, call=CallKind.LIST)
        if isinstance(got, GatewayFailure):
            return got
        code, body = got
        if code != 200 or not isinstance(body, list):
            return shape_failure(what, code)
        rows = [parse_row(item) for item in body]
        if any(r is None for r in rows):
            return shape_failure(what, code)
        self._rows = {r.name: r for r in rows if r is not None}
        return [r for r in rows if r is not None]

    async def list_sessions(self) -> list[str] | GatewayFailure:
        rows = await self.fetch_instances()
        return rows if isinstance(rows, GatewayFailure) else sorted(r.name for r in rows)

    async def connection_state(self, name: str) -> str | None | GatewayFailure:
        """Memory's view: `connectionState`; None when the instance does not exist (404)."""
        if bad := invalid_id(self.capabilities, name):
            return bad
        what = "GET /instance/connectionState"
        got = await self._json("GET", self._ipath("connectionState", name), what)
        if isinstance(got, GatewayFailure):
            return got
        code, body = got
        if code == 404:
            return None
        inst = body.get("instance") if isinstance(body, dict) else None
        state = inst.get("state") if isinstance(inst, dict) else None
        if code != 200 or not isinstance(state, str):
            return shape_failure(what, code)
        return state

    async def status(self, session_id: str) -> SessionStatus | GatewayFailure:
        """connectionState plus this instance's database row (two requests; Evolution has no rate limit)."""
        memory = await self.connection_state(session_id)
        if isinstance(memory, GatewayFailure):
            return memory
        if memory is None:
            self._rows.pop(session_id, None)
            return SessionStatus(session_id, False, False, state=ConnState.STOPPED, gateway_word="not found",
                                 detail="Evolution has no instance by this name")
        what = "GET /instance/fetchInstances?instanceName="
        got = await self._json("GET", "/instance/fetchInstances", what, params={"instanceName": session_id})
        row: InstanceRow | None = None
        if not isinstance(got, GatewayFailure) and got[0] == 200 and isinstance(got[1], list) and got[1]:
            row = parse_row(got[1][0])
        if row is not None:
            self._rows[session_id] = replace(row, memory_state=memory)
        st = merge_states(session_id, memory, row)
        if st.state == ConnState.STARTING and session_id in self._last_qr and (row is None or not row.owner_jid):
            # `connecting` with a code we were given and no phone linked yet: it waits for a scan
            st = replace(st, state=ConnState.QR, qr=self._last_qr[session_id])
        elif st.state != ConnState.STARTING:
            self._last_qr.pop(session_id, None)
        return st

    async def qr(self, session_id: str) -> QrCode | None | GatewayFailure:
        """The last code seen from a start or the QR stream; never calls `connect` (it would start the instance)."""
        if bad := invalid_id(self.capabilities, session_id):
            return bad
        return self._last_qr.get(session_id)

    async def qr_stream(self, session_id: str) -> AsyncGenerator[QrCode | GatewayFailure, None]:
        """New codes while the instance is `connecting` (connect then only answers the current QR); stops
        with a failure once it is `close` (QR limit, logout): a new code then needs an explicit start."""
        last: str | None = None
        while True:
            memory = await self.connection_state(session_id)
            if isinstance(memory, GatewayFailure):
                yield memory
                if memory.status_code == 400:
                    return
            elif memory is None:
                yield failure(HealthState.ERROR, f"Evolution has no instance {session_id!r}", 404)
                return
            elif memory in ("close", "refused"):
                yield failure(HealthState.ERROR, f"{session_id} is closed (QR limit or logout): start it again "
                                                 "for new codes")
                return
            elif memory == "open":
                return
            else:
                got = await self._connect(session_id, None)
                if isinstance(got, GatewayFailure):
                    yield got
                elif got.payload != last:
                    last = got.payload
                    yield got
            await asyncio.sleep(self.qr_poll_s)

    async def _connect(self, name: str, number: str | None) -> QrCode | GatewayFailure:
        what = "GET /instance/connect"
        got = await self._json("GET", self._ipath("connect", name), what, spend=Spend.ACTION,
                               params={"number": number} if number else None,
                               timeout_s=self._http.timeouts.action_s, call=CallKind.QR)
        if isinstance(got, GatewayFailure):
            return got
        code, body = got
        if code == 404:
            return failure(HealthState.ERROR, message_of(body) or f"Evolution has no instance {name!r}", 404)
        if isinstance(body, dict) and body.get("error") is True:
            return failure(HealthState.ERROR, f"Evolution could not connect {name}: {message_of(body) or '?'}", code)
        qr = qr_of(body)
        if qr is None:
            return shape_failure(what, code)
        self._last_qr[name] = qr
        return qr

    async def request_pairing_code(self, session_id: str, phone: str) -> str | GatewayFailure:
        """Link by phone number: `connect?number=` -> `pairingCode` (8 characters). Starts a connection."""
        digits = pairing_digits(phone)
        if isinstance(digits, GatewayFailure):
            return digits
        if bad := invalid_id(self.capabilities, session_id):
            return bad
        what = "GET /instance/connect?number="
        got = await self._json("GET", self._ipath("connect", session_id), what, spend=Spend.ACTION,
                               params={"number": digits}, timeout_s=self._http.timeouts.action_s, call=CallKind.QR)
        if isinstance(got, GatewayFailure):
            return got
        code, body = got
        if code >= 400 or not isinstance(body, dict):
            return failure(HealthState.ERROR, f"Evolution gave no pairing code: {message_of(body) or code}", code)
        pairing = body.get("pairingCode")
        if isinstance(pairing, str) and pairing:
            return pairing
        inst = body.get("instance")
        if isinstance(inst, dict) and inst.get("state") == "open":
            return failure(HealthState.ERROR, f"{session_id} is already connected", code)
        return shape_failure(what, code)

    # --- actions ---------------------------------------------------------------------------

    async def _act(self, method: str, path: str, name: str, **kw: Any) -> tuple[int, Any] | ActionResult:
        if bad := invalid_id(self.capabilities, name):
            return not_ok(bad)
        got = await self._json(method, path, f"{method} {path}", spend=Spend.ACTION,
                               timeout_s=kw.pop("timeout_s", self._http.timeouts.action_s), call=CallKind.ACTION, **kw)
        if isinstance(got, GatewayFailure):
            return not_ok(got)
        code, body = got
        if code >= 400:
            return refused(message_of(body) or f"HTTP {code}", code)
        return got

    async def start(self, session_id: str) -> ActionResult:
        """Create the instance (with a QR) if Evolution does not know it, else `connect` it when closed."""
        memory = await self.connection_state(session_id)
        if isinstance(memory, GatewayFailure):
            return not_ok(memory)
        if memory == "open":
            return ActionResult(True, "already connected")
        if memory is None:
            got = await self._act("POST", "/instance/create", session_id,
                                  timeout_s=max(CREATE_TIMEOUT_S, self._http.timeouts.action_s),
                                  json_body={"instanceName": session_id, "qrcode": True,
                                             "integration": "WHATSAPP-BAILEYS"})
            if isinstance(got, ActionResult):
                return got
            body = got[1]
            qr = qr_of(body.get("qrcode")) if isinstance(body, dict) else None
            if qr is not None:
                self._last_qr[session_id] = qr
            if not isinstance(body, dict) or not isinstance(body.get("instance"), dict):
                return not_ok(shape_failure("POST /instance/create", got[0]))
            return ActionResult(True, "created; waiting for the QR scan")
        connected = await self._connect(session_id, None)
        if isinstance(connected, GatewayFailure):
            return not_ok(connected)
        return ActionResult(True, "connecting; waiting for the QR scan")

    async def stop(self, session_id: str) -> ActionResult:
        """Evolution has no stop: this is its logout (the saved session is deleted)."""
        return await self.logout(session_id)

    async def logout(self, session_id: str) -> ActionResult:
        got = await self._act("DELETE", self._ipath("logout", session_id), session_id)
        if isinstance(got, ActionResult):
            return got
        self._last_qr.pop(session_id, None)
        return ActionResult(True, message_of(got[1]) or "logged out")

    async def restart(self, session_id: str) -> ActionResult:
        """Always HTTP 200: on a closed instance the body is `{"error": true, "message": "[object Object]"}`."""
        got = await self._act("POST", self._ipath("restart", session_id), session_id)
        if isinstance(got, ActionResult):
            return got
        body = got[1]
        if isinstance(body, dict) and body.get("error") is True:
            msg = (f"Evolution refused to restart {session_id}: it is closed (it answers "
                   f"{str(body.get('message'))[:40]!r}); start it instead")
            return refused(msg, got[0])
        qr = qr_of(body)
        if qr is not None:
            self._last_qr[session_id] = qr
        return ActionResult(True, "reconnecting")

    async def delete(self, session_id: str) -> ActionResult:
        """`DELETE /instance/delete/{name}`: logs out first when connected, then deletes the instance."""
        got = await self._act("DELETE", self._ipath("delete", session_id), session_id)
        if isinstance(got, ActionResult):
            return got
        self._last_qr.pop(session_id, None)
        self._rows.pop(session_id, None)
        return ActionResult(True, message_of(got[1]) or "deleted")

    # --- misc -------------------------------------------------------------------------------

    def facts(self) -> EvolutionFacts:
        return EvolutionFacts(self.url, self._key_is_default, self.server, tuple(self._rows.values()))

