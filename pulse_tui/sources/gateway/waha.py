"""WAHA adapter (specs/waha.md): `X-Api-Key`, sessions listed by the server, raw QR payloads, pairing codes.

It learns what it talks to from `GET /api/server/version`: Core before 2026.6.1 (e.g. 2024.10.8) runs only the
`default` session, has no `/health` (422) and checks no API key; the adapter then asks `/ping` instead and says so
in `capabilities.version_note`. Stop/restart/logout/delete take ~3 s on the server: they use the action timeout.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

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
    Reply,
    answer_json,
    failure,
    invalid_id,
    not_ok,
    pairing_digits,
    polled_qr,
    refused,
    shape_failure,
    to_health,
)
from pulse_tui.sources.gateway.budget import Spend
from pulse_tui.sources.gateway.capabilities import Capabilities, Consequences, QrForm
from pulse_tui.sources.gateway.routed import message_of, send

if TYPE_CHECKING:
    from typing_extensions import Unpack

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
QR_WAIT_S = 8.0  # the server itself waits up to 5 s for SCAN_QR_CODE before answering
ALL_IN_CORE = (2026, 6, 1)  # from this version on, Core runs many sessions and has /health
PROBE_KEY = "pulse-tui-key-probe"  # a key no server holds: 200 to it means no key is enforced

# WAHA's word -> pulse-tui's state, and what it means when it is not obvious
STATES: dict[str, tuple[ConnState, str]] = {
    "STOPPED": (ConnState.STOPPED, ""),
    "STARTING": (ConnState.STARTING, ""),
    "SCAN_QR_CODE": (ConnState.QR, ""),
    "WORKING": (ConnState.CONNECTED, ""),
    "FAILED": (ConnState.STOPPED, "FAILED: the phone unlinked the device, the auth failed or the QR codes ran out; "
                                  "a start (or logout) asks for a new QR"),
    "PASSKEY_REQUIRED": (ConnState.STARTING, "waiting for the passkey on the phone"),
    "PASSKEY_CONFIRMATION_REQUIRED": (ConnState.STARTING, "waiting for the passkey confirmation on the phone"),
}

CONSEQUENCES = Consequences(
    start="Starts its WhatsApp client (WAHA answers at once; a QR follows unless the auth is kept).",
    stop="Stops its WhatsApp client (~3 s); the auth is kept on current servers.",
    restart="Stops and starts its client (~3 s); it is offline for a moment.",
    delete="Stops it, logs it out and deletes the session from WAHA (~3 s). It cannot be undone.",
    logout="Logs out: WAHA empties the session's auth and starts it again, waiting for a new QR scan (~3 s).",
)


def waha_id_error(session_id: str) -> str | None:
    """WAHA session names: letters, digits, `-` and `_`."""
    return None if NAME_RE.match(session_id) else "WAHA session names are letters, digits, - and _"


def core_id_error(session_id: str) -> str | None:
    """WAHA Core before 2026.6.1 runs only `default`."""
    return None if session_id == "default" else "this WAHA Core runs only the 'default' session"


CAPABILITIES = Capabilities(
    lists_sessions=True,
    stop_deletes_auth=False,
    has_restart=True,
    has_delete=True,
    qr_form=QrForm.RAW,
    id_rule=waha_id_error,
    restores_from_auth_dir=False,  # WAHA keeps its own store; our auth dirs are not its
    pairing_code=True,
    event_stream=True,
    consequences=CONSEQUENCES,
    has_logout=True,
    qr_interval_s=20.0,  # a QR lives 60 s, then 20 s each, 6 codes, then FAILED (maintainer, waha#1799)
    qr_first_s=60.0,
    qr_attempts=6,
    throwaway_profiles=True,  # 2024.10.8 WEBJS passes no userDataDir: puppeteer's temp profile names no session
)


def version_tuple(text: str) -> tuple[int, ...] | None:
    """"2024.10.8" -> (2024, 10, 8); None for anything else."""
    parts = re.findall(r"\d+", text)
    return tuple(int(p) for p in parts[:3]) if len(parts) >= 2 else None


@dataclass(frozen=True)
class WahaServer:
    """What `/api/server/version` and the probes told about the server (never a key value)."""

    version: str
    engine: str
    tier: str
    single_default: bool  # only `default` exists (Core before 2026.6.1)
    has_health: bool
    key_enforced: bool | None = None  # None: not probed
    environment_shows_keys: bool | None = None  # /api/server/environment hands out the key variables


@dataclass(frozen=True)
class WahaSessionFacts:
    name: str
    status: str
    activity_ms: int | None


@dataclass(frozen=True)
class WahaFacts:
    """The adapter's facts for the doctor."""

    url: str
    loopback: bool
    api_key_set: bool
    server: WahaServer | None
    sessions: tuple[WahaSessionFacts, ...] = ()
    qr_codes_seen: dict[str, int] | None = None  # per session, since it entered SCAN_QR_CODE (from events)


def is_loopback_url(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in ("127.0.0.1", "::1", "localhost") or host.startswith("127.")


class WahaGateway(HttpAdapter):
    """One WAHA server; sessions are the names it lists."""

    kind = GatewayKind.WAHA

    def __init__(self, url: str, api_key: str | None = None, **options: Unpack[AdapterOptions]) -> None:
        # WAHA has no rate limit of its own: the default budget only counts.
        super().__init__(url, api_key, **options)
        self.capabilities = CAPABILITIES
        self.server: WahaServer | None = None
        self._listed: dict[str, WahaSessionFacts] = {}
        # `?all=true` carries every session's status: the monitor adopts them instead of one request each.
        self._listed_states: dict[str, tuple[SessionStatus, float]] = {}
        self._qr_seen: dict[str, list[str]] = {}  # distinct codes seen since the session entered SCAN_QR_CODE

    async def _send(self, method: str, path: str, **kw: Any) -> Reply | GatewayFailure:
        return await send(self._http, method, path, **kw)

    async def _json(self, method: str, path: str, what: str, **kw: Any) -> tuple[int, Any] | GatewayFailure:
        return answer_json(await self._send(method, path, **kw), what, empty_is_none=True)

    # --- the server ---------------------------------------------------------------------

    async def probe(self) -> WahaServer | GatewayFailure:
        """Ask `/api/server/version` (and whether a wrong key is refused), adapt to what answers."""
        got = await self._json("GET", "/api/server/version", "GET /api/server/version")
        if isinstance(got, GatewayFailure):
            return got
        code, body = got
        if code == 404:
            server = WahaServer("unknown (no /api/server/version)", "?", "?", False, True)
        elif not isinstance(body, dict) or not isinstance(body.get("version"), str):
            return shape_failure("GET /api/server/version", code)
        else:
            version, tier = str(body["version"]), str(body.get("tier") or "?")
            vt = version_tuple(version)
            old_core = tier.upper() == "CORE" and vt is not None and vt < ALL_IN_CORE
            server = WahaServer(version, str(body.get("engine") or "?"), tier, old_core, not old_core)
        enforced = await self._key_enforced()
        shows = await self._environment_shows_keys()
        self.server = replace(server, key_enforced=enforced, environment_shows_keys=shows)
        self._adapt(self.server)
        return self.server

    async def _key_enforced(self) -> bool | None:
        resp = await self._send("GET", "/api/server/version", headers={"X-Api-Key": PROBE_KEY})
        if isinstance(resp, GatewayFailure):
            return True if resp.state == HealthState.UNAUTHORIZED else None
        return False if resp.status_code == 200 else None  # a made-up key was let in: nothing is checked

    async def _environment_shows_keys(self) -> bool | None:
        got = await self._json("GET", "/api/server/environment", "GET /api/server/environment")
        if isinstance(got, GatewayFailure):
            return None
        _, body = got
        if not isinstance(body, dict):
            return None
        return any(k in body for k in ("WAHA_API_KEY", "WHATSAPP_API_KEY"))

    def _adapt(self, server: WahaServer) -> None:
        note = f"WAHA {server.tier.title()} {server.version} ({server.engine})"
        browser = server.engine.upper() not in ("NOWEB", "GOWS")  # only WEBJS runs a Chromium per session
        why = f"WAHA's {server.engine.upper()} engine runs no browser per session"
        if server.single_default:
            note += ": only the 'default' session, no /health, no API-key check"
            # Its Chromium gets no profile dir of the session, but only 'default' can run: every WAHA browser is it.
            self.capabilities = replace(CAPABILITIES, id_rule=core_id_error, version_note=note,
                                        browser_per_session=browser, no_browser_why=why,
                                        throwaway_profiles=browser, throwaway_owner="default" if browser else None)
        else:
            self.capabilities = replace(CAPABILITIES, version_note=note, browser_per_session=browser,
                                        no_browser_why=why, throwaway_profiles=browser)

    # --- reading ---------------------------------------------------------------------------

    async def health(self) -> GatewayHealth:
        """`/health` where it exists, else `/ping` (Core 2024.10.8 answers /health with 422)."""
        if self.server is None:
            probed = await self.probe()
            if isinstance(probed, GatewayFailure):
                return to_health(probed, self._http.last_latency_ms, self.budget)
        assert self.server is not None
        path = "/health" if self.server.has_health else "/ping"
        got = await self._json("GET", path, f"GET {path}", route_codes=(422,))
        if isinstance(got, GatewayFailure):
            return to_health(got, self._http.last_latency_ms, self.budget)
        code, body = got
        if code == 422 and path == "/health":
            self.server = replace(self.server, has_health=False)
            return await self.health()
        ok = isinstance(body, dict) and (body.get("status") == "ok" if path == "/health" else body.get("message") == "pong")
        if not ok:
            return to_health(shape_failure(f"GET {path}", code), self._http.last_latency_ms, self.budget)
        left, limit = self.budget.snapshot()
        return GatewayHealth(HealthState.OK, self._http.last_latency_ms, left, limit,
                             detail=self.capabilities.version_note)

    async def list_sessions(self) -> list[str] | GatewayFailure:
        """`GET /api/sessions?all=true` (without `all`, STOPPED sessions are left out)."""
        if self.server is None:
            # A poll that asks statuses never calls health(): probe here, or the capabilities (engine, Core's
            # single session) and the doctor's facts would never be learned. A failure shows in the list's own.
            probed = await self.probe()
            if isinstance(probed, GatewayFailure):
                return probed
        what = "GET /api/sessions"
        # Stamped when asked, not when answered: an event that lands while the list is on its way is newer.
        at = self.clock.now()
        got = await self._json("GET", "/api/sessions", what, params={"all": "true"}, call=CallKind.LIST)
        if isinstance(got, GatewayFailure):
            return got
        code, body = got
        if code != 200 or not isinstance(body, list):
            return shape_failure(what, code)
        listed: dict[str, WahaSessionFacts] = {}
        states: dict[str, tuple[SessionStatus, float]] = {}
        for item in body:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                return shape_failure(what, code)
            name = item["name"]
            listed[name] = WahaSessionFacts(name, str(item.get("status") or "?"), _activity_ms(item))
            st = parse_session(name, item)
            if isinstance(st, SessionStatus):
                states[name] = (st, at)
        self._listed, self._listed_states = listed, states
        return sorted(listed)

    def known_states(self) -> dict[str, tuple[SessionStatus, float]]:
        """Each session's status as the last listing gave it (the list carries them: no request per session)."""
        return dict(self._listed_states)

    async def status(self, session_id: str) -> SessionStatus | GatewayFailure:
        """`GET /api/sessions/{s}`, plus its QR when it waits for a scan."""
        if bad := invalid_id(self.capabilities, session_id):
            return bad
        what = "GET /api/sessions/{s}"
        got = await self._json("GET", f"/api/sessions/{quote(session_id, safe='')}", what)
        if isinstance(got, GatewayFailure):
            return got
        code, body = got
        if code == 404:
            return SessionStatus(session_id, False, False, state=ConnState.STOPPED, gateway_word="not found",
                                 detail="WAHA has no session by this name")
        if code != 200:
            return failure(HealthState.ERROR, f"WAHA refused {session_id}: {message_of(body) or code}", code)
        st = parse_session(session_id, body)
        if isinstance(st, GatewayFailure) or st.state != ConnState.QR:
            if not isinstance(st, GatewayFailure) and st.state != ConnState.STOPPED:
                self._qr_seen.pop(session_id, None)  # a FAILED session keeps its count for the doctor
            return st
        qr = await self.qr(session_id)
        return replace(st, qr=qr) if isinstance(qr, QrCode) else st

    async def qr(self, session_id: str) -> QrCode | None | GatewayFailure:
        """`GET /api/{s}/auth/qr?format=raw` -> the payload; None when the session shows no QR (404/422)."""
        if bad := invalid_id(self.capabilities, session_id):
            return bad
        what = "GET /api/{s}/auth/qr"
        got = await self._json("GET", f"/api/{quote(session_id, safe='')}/auth/qr", what,
                               params={"format": "raw"}, timeout_s=QR_WAIT_S, call=CallKind.QR)
        if isinstance(got, GatewayFailure):
            return got
        code, body = got
        if code in (404, 422):
            return None
        value = body.get("value") if isinstance(body, dict) else None
        if not isinstance(value, str) or not value:
            return shape_failure(what, code)
        seen = self._qr_seen.setdefault(session_id, [])
        if value not in seen:
            seen.append(value)
        return QrCode(payload=value)

    async def qr_stream(self, session_id: str) -> AsyncGenerator[QrCode | GatewayFailure, None]:
        """Polls the raw QR every `qr_poll_s`; yields each new code, and a failure when one starts."""
        async with aclosing(polled_qr(partial(self.qr, session_id), self.qr_poll_s,
                                      honour_retry_after=False)) as codes:
            async for item in codes:
                yield item

    async def request_pairing_code(self, session_id: str, phone: str) -> str | GatewayFailure:
        """Link by phone number: `POST /api/{s}/auth/request-code` -> the code to type on the phone."""
        digits = pairing_digits(phone)
        if isinstance(digits, GatewayFailure):
            return digits
        if bad := invalid_id(self.capabilities, session_id):
            return bad
        what = "POST /api/{s}/auth/request-code"
        got = await self._json("POST", f"/api/{quote(session_id, safe='')}/auth/request-code", what,
                               spend=Spend.ACTION, json_body={"phoneNumber": digits}, timeout_s=QR_WAIT_S, call=CallKind.QR)
        if isinstance(got, GatewayFailure):
            return got
        code, body = got
        if code >= 400:
            return failure(HealthState.ERROR, f"WAHA gave no pairing code: {message_of(body) or code}", code)
        value = body.get("code") if isinstance(body, dict) else None
        if not isinstance(value, str) or not value:
            return shape_failure(what, code)
        return value

    # --- actions ---------------------------------------------------------------------------

    async def _action(self, method: str, path: str, session_id: str, verb: str, *,
                      body: Any = None) -> ActionResult:
        if bad := invalid_id(self.capabilities, session_id):
            return not_ok(bad)
        got = await self._json(method, path, f"{method} {path}", spend=Spend.ACTION, json_body=body,
                               timeout_s=self._http.timeouts.action_s, call=CallKind.ACTION)
        if isinstance(got, GatewayFailure):
            return not_ok(got)
        code, answer = got
        if code >= 400:
            return refused(message_of(answer) or f"HTTP {code}", code)
        if method == "DELETE":
            return ActionResult(True, verb)  # 200 with an empty body
        status = answer.get("status") if isinstance(answer, dict) else None
        if not isinstance(status, str):
            return not_ok(shape_failure(f"{method} {path}", code))  # every other action answers the session
        return ActionResult(True, f"{verb}: {status}")

    def _spath(self, session_id: str, op: str = "") -> str:
        base = f"/api/sessions/{quote(session_id, safe='')}"
        return f"{base}/{op}" if op else base

    async def start(self, session_id: str) -> ActionResult:
        """`POST …/start`; a session WAHA does not know yet is created with `start: true`."""
        result = await self._action("POST", self._spath(session_id, "start"), session_id, "started")
        if result.failure is not None and result.failure.status_code == 404:
            return await self._action("POST", "/api/sessions", session_id, "created and started",
                                      body={"name": session_id, "start": True})
        return result

    async def stop(self, session_id: str) -> ActionResult:
        return await self._action("POST", self._spath(session_id, "stop"), session_id, "stopped")

    async def restart(self, session_id: str) -> ActionResult:
        return await self._action("POST", self._spath(session_id, "restart"), session_id, "restarted")

    async def logout(self, session_id: str) -> ActionResult:
        """Empties the session's auth and starts it again (a new QR follows)."""
        return await self._action("POST", self._spath(session_id, "logout"), session_id, "logged out")

    async def delete(self, session_id: str) -> ActionResult:
        """`DELETE /api/sessions/{s}`: stop, logout and delete (200 with an empty body)."""
        return await self._action("DELETE", self._spath(session_id), session_id, "deleted")

    # --- misc -------------------------------------------------------------------------------

    async def learn_facts(self) -> None:
        """Probe the server once (version, engine, key enforcement) when no poll has yet; its failure is already
        the gateway's state."""
        if self.server is None:
            await self.probe()

    def facts(self) -> WahaFacts:
        return WahaFacts(self.url, is_loopback_url(self.url), self._has_key, self.server,
                         tuple(self._listed.values()), {k: len(v) for k, v in self._qr_seen.items()})


def _activity_ms(item: dict[str, Any]) -> int | None:
    ts = item.get("timestamps")
    act = ts.get("activity") if isinstance(ts, dict) else None
    return int(act) if isinstance(act, int | float) and not isinstance(act, bool) else None


def phone_of(me: Any) -> tuple[str | None, str | None]:
    """`{"id": "123@c.us", "pushName": "…"}` -> (phone, name)."""
    if not isinstance(me, dict):
        return None, None
    jid, name = me.get("id"), me.get("pushName")
    phone = jid.split("@", 1)[0].split(":", 1)[0] if isinstance(jid, str) else None
    return (phone if phone and phone.isdigit() else None), (name if isinstance(name, str) else None)


def map_status(word: str) -> tuple[ConnState, str]:
    """WAHA's status word -> (state, what it means); an unknown word is UNKNOWN, never an error."""
    return STATES.get(word, (ConnState.UNKNOWN, f"WAHA reports {word!r}, a status pulse-tui does not know"))


def parse_session(session_id: str, body: Any) -> SessionStatus | GatewayFailure:
    """One `GET /api/sessions/{s}` (or list item) body as a SessionStatus."""
    what = "GET /api/sessions/{s}"
    if not isinstance(body, dict) or not isinstance(body.get("status"), str):
        return shape_failure(what)
    word = str(body["status"])
    state, detail = map_status(word)
    phone, name = phone_of(body.get("me"))
    act = _activity_ms(body)
    return SessionStatus(session_id, True, state == ConnState.CONNECTED, phone=phone, name=name, state=state,
                         gateway_word=word, detail=detail, last_activity=act / 1000.0 if act else None)
