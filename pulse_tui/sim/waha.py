"""WAHA simulator (specs/waha.md): the REST API, the `/ws` event websocket, QR rotation and its limit.

Flavours: `waha` (current: multi-session, API key enforced, /health) and `waha-core-2024` (Core 2024.10.8:
only `default`, no key check, /health 422, /api/server/environment shows the keys). Actions take
`action_delay_s` (~3 s on the real server; tests set it near zero). `scan()`, `unlink()`, `crash()` play the phone.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import secrets
import string
import time
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import segno
from aiohttp import WSCloseCode, web

from pulse_tui.sim.aiorunner import AioSim, json_reply
from pulse_tui.sim.gateway import Fault
from pulse_tui.sim.qrpayload import PayloadMaker

CORE_2024 = {"version": "2024.10.8", "engine": "WEBJS", "tier": "CORE", "browser": "/usr/bin/chromium"}
CURRENT = {"version": "2026.7.1", "engine": "WEBJS", "tier": "CORE", "browser": "/usr/bin/chromium"}
CORE_ONLY_DEFAULT = ("WAHA Core support only 'default' session. If you want to run more then one WhatsApp account - "
                     "please get WAHA PLUS version. Check this out: https://waha.devlike.pro/docs/how-to/plus-version/")
WWEB_VERSION = "2.3000.1017054665"


SENT_KEPT = 10_000  # send stamps kept (a benchmark's minute of 1,000 sessions needs a few hundred)


@dataclass(frozen=True)
class SentEvent:
    """One session.status event as it left the simulator: `at` is `time.monotonic()` (same host, any process)."""

    at: float
    session: str
    status: str


class WahaFlavor(StrEnum):
    CURRENT = "waha"
    CORE_2024 = "waha-core-2024"


@dataclass
class WahaSession:
    name: str
    status: str = "STOPPED"
    me: dict[str, str] | None = None
    config: dict[str, Any] = field(default_factory=dict)
    qr: str | None = None
    qr_count: int = 0
    activity_ms: int | None = None
    generation: int = 0  # bumped on every (re)start: timers of an older run stop
    linked_phone: str | None = None  # a WEBJS Core session keeps no auth: only kept on current servers


def _error(status: int, message: str, **extra: Any) -> web.Response:
    words = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 422: "Unprocessable Entity",
             500: "Internal Server Error"}
    body: dict[str, Any] = {"statusCode": status, "message": message, "error": words.get(status, "Error")}
    body.update(extra)
    return json_reply(body, status)


class WahaSim(AioSim):
    """One WAHA server on loopback."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        flavor: WahaFlavor | str = WahaFlavor.CURRENT,
        host: str = "127.0.0.1",
        port: int = 0,
        sessions: tuple[str, ...] = (),
        action_delay_s: float = 3.0,
        start_delay_s: float = 1.0,
        qr_first_s: float = 60.0,
        qr_next_s: float = 20.0,
        qr_max: int = 6,
        qr_wait_s: float = 5.0,
        ready_delay_s: float = 0.3,
        auto_scan_s: float | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(host, port)
        self.flavor = WahaFlavor(flavor)
        self.api_key = api_key
        self.action_delay_s = action_delay_s
        self.start_delay_s = start_delay_s
        self.qr_first_s = qr_first_s
        self.qr_next_s = qr_next_s
        self.qr_max = qr_max
        self.qr_wait_s = qr_wait_s
        self.ready_delay_s = ready_delay_s
        self.auto_scan_s = auto_scan_s
        self.rng = random.Random(seed)
        self.sessions: dict[str, WahaSession] = {}
        names = ("default",) if self.core else sessions
        for name in names:
            self.sessions[name] = WahaSession(name)
        self.sockets: set[web.WebSocketResponse] = set()
        self.events_sent = 0
        self.sent: deque[SentEvent] = deque(maxlen=SENT_KEPT)  # send stamps, so a bench can pair send -> screen
        self.asked: deque[tuple[float, str]] = deque(maxlen=SENT_KEPT)  # (monotonic, session) of each status GET
        self.started_ms = int(time.time() * 1000)

    @property
    def core(self) -> bool:
        return self.flavor == WahaFlavor.CORE_2024

    @property
    def version(self) -> dict[str, str]:
        return dict(CORE_2024 if self.core else CURRENT)

    # --- the phone and the host (test side, thread-safe) --------------------------------

    def scan(self, name: str, phone: str = "18765550123", push_name: str = "Stub") -> bool:
        """The phone scans the current QR (or enters the pairing code): WORKING, announced twice."""
        return self.call(self._scan, name, phone, push_name)

    def unlink(self, name: str) -> bool:
        """The phone removes the linked device: FAILED, `me` null."""
        return self.call(self._fail, name, True)

    def crash(self, name: str) -> bool:
        """The browser crashes: FAILED, then WAHA restarts the client after 2 s (here: `start_delay_s`)."""
        return self.call(self._crash, name)

    def set_activity(self, name: str, epoch_ms: int | None) -> None:
        """Pretend the session's last event was at `epoch_ms` (a WORKING session gone silent)."""
        self.call(lambda: setattr(self.sessions[name], "activity_ms", epoch_ms))

    def send_raw(self, text: str) -> None:
        """Send `text` as is to every websocket client (a malformed or foreign message)."""
        def send() -> None:
            for ws in list(self.sockets):
                self.spawn(ws.send_str(text))
        self.call(send)

    def state(self, name: str) -> str | None:
        return self.call(lambda: self.sessions[name].status if name in self.sessions else None)

    def set_status(self, name: str, status: str) -> None:
        """Move a session to `status` as the server announces it: one session.status event, no timers."""
        self.call(lambda: self._set(self.sessions[name], status))

    def sent_events(self) -> list[SentEvent]:
        """The send stamps kept so far (the last SENT_KEPT), oldest first."""
        return self.call(lambda: list(self.sent))

    def status_asks(self) -> list[tuple[float, str]]:
        """(monotonic time, session) of each `GET /api/sessions/{s}` answered (the last SENT_KEPT), oldest first."""
        return self.call(lambda: list(self.asked))

    def add_session(self, name: str, start: bool = False) -> None:
        def add() -> None:
            self.sessions[name] = WahaSession(name)
            if start:
                self._start(self.sessions[name])
        self.call(add)

    # --- lifecycle (loop thread) ---------------------------------------------------------

    def _set(self, s: WahaSession, status: str) -> None:
        s.status = status
        if status == "WORKING":
            s.activity_ms = int(time.time() * 1000)
        self._broadcast(s)

    def _start(self, s: WahaSession) -> None:
        s.generation += 1
        s.qr, s.qr_count = None, 0
        self._set(s, "STARTING")
        self.spawn(self._boot(s, s.generation))

    async def _boot(self, s: WahaSession, gen: int) -> None:
        await asyncio.sleep(self.start_delay_s)
        if s.generation != gen or s.status != "STARTING":
            return
        if s.linked_phone and not self.core:
            self._working(s, s.linked_phone, "Stub")
            return
        maker = PayloadMaker(self.rng)
        s.qr, s.qr_count = maker.next(), 1
        self._set(s, "SCAN_QR_CODE")
        if self.auto_scan_s is not None:
            self.spawn(self._auto_scan(s, gen))
        wait = self.qr_first_s
        while True:
            await asyncio.sleep(wait)
            if s.generation != gen or s.status != "SCAN_QR_CODE":
                return
            if s.qr_count >= self.qr_max:
                self._fail(s.name, False)  # the QR attempts ran out
                return
            s.qr, s.qr_count = maker.next(), s.qr_count + 1
            wait = self.qr_next_s

    async def _auto_scan(self, s: WahaSession, gen: int) -> None:
        await asyncio.sleep(self.auto_scan_s or 0.0)
        if s.generation == gen and s.status == "SCAN_QR_CODE":
            self._scan(s.name, "18765550123", "Stub")

    def _scan(self, name: str, phone: str, push_name: str) -> bool:
        s = self.sessions.get(name)
        if s is None or s.status != "SCAN_QR_CODE":
            return False
        s.generation += 1
        s.linked_phone = phone
        self._working(s, phone, push_name)
        return True

    def _working(self, s: WahaSession, phone: str, push_name: str) -> None:
        s.qr = None
        s.me = {"id": f"{phone}@c.us", "pushName": push_name}
        self._set(s, "WORKING")  # authenticated
        gen = s.generation

        async def ready() -> None:
            await asyncio.sleep(self.ready_delay_s)
            if s.generation == gen and s.status == "WORKING":
                self._set(s, "WORKING")  # ready: WAHA announces WORKING a second time
        self.spawn(ready())

    def _fail(self, name: str, unlinked: bool) -> bool:
        s = self.sessions.get(name)
        if s is None or s.status in ("STOPPED", "FAILED"):
            return False
        s.generation += 1
        s.qr, s.me = None, None
        if unlinked:
            s.linked_phone = None
        self._set(s, "FAILED")
        return True

    def _crash(self, name: str) -> bool:
        s = self.sessions.get(name)
        if s is None or not self._fail(name, False):
            return False

        async def again() -> None:
            await asyncio.sleep(self.start_delay_s)
            if s.status == "FAILED":
                self._start(s)
        self.spawn(again())
        return True

    def _stop(self, s: WahaSession) -> None:
        s.generation += 1
        s.qr, s.me = None, None
        if s.status != "STOPPED":
            self._set(s, "STOPPED")

    # --- events ------------------------------------------------------------------------------

    def _envelope(self, s: WahaSession) -> dict[str, Any]:
        env: dict[str, Any] = {"event": "session.status", "session": s.name, "me": s.me,
                               "payload": {"name": s.name, "status": s.status},
                               "engine": "WEBJS", "environment": self.version}
        if not self.core:
            now = int(time.time() * 1000)
            env = {"id": f"evt_{secrets.token_hex(12)}", "timestamp": now, **env, "metadata": {}}
            env["payload"]["statuses"] = [{"status": s.status, "timestamp": now}]
        return env

    def _broadcast(self, s: WahaSession) -> None:
        if not self.sockets:
            return
        text = json.dumps(self._envelope(s), separators=(",", ":"))
        self.sent.append(SentEvent(time.monotonic(), s.name, s.status))
        for ws in list(self.sockets):
            if not ws.closed:
                self.events_sent += 1
                self.spawn(ws.send_str(text))

    async def on_stop(self) -> None:
        for ws in list(self.sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY)

    def fault_exempt(self, request: web.Request) -> bool:
        return request.path == "/ws" and self.fault != Fault.DOWN

    def fault_body(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        if fault == Fault.SHAPE:
            return json_reply({"sessions": "none"} if request.path.startswith("/api/sessions") else [1, 2])
        if fault == Fault.UNAUTHORIZED:
            return json_reply({"message": "Unauthorized", "statusCode": 401}, 401)
        return super().fault_body(request, fault)

    # --- HTTP ----------------------------------------------------------------------------------

    def build(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/ping", self._ping)
        r.add_get("/health", self._health)
        r.add_get("/api/server/version", self._version)
        r.add_get("/api/server/status", self._status)
        r.add_get("/api/server/environment", self._environment)
        r.add_get("/api/sessions", self._list)
        r.add_post("/api/sessions", self._create)
        r.add_get("/api/sessions/{s}", self._get)
        r.add_delete("/api/sessions/{s}", self._delete)
        r.add_get("/api/sessions/{s}/me", self._me)
        r.add_post("/api/sessions/{s}/{op}", self._action)
        r.add_get("/api/{s}/auth/qr", self._qr)
        r.add_post("/api/{s}/auth/request-code", self._request_code)
        r.add_get("/ws", self._ws)

    def _key_ok(self, request: web.Request) -> bool:
        if self.core or not self.api_key:
            return True  # Core 2024.10.8 checks no key at all
        given = request.headers.get("X-Api-Key") or request.query.get("x-api-key")
        return given is not None and secrets.compare_digest(given, self.api_key)

    def _guard(self, request: web.Request) -> web.Response | None:
        """401 when a key is enforced and missing or wrong."""
        if not self._key_ok(request):
            return json_reply({"message": "Unauthorized", "statusCode": 401}, 401)
        return None

    def _find(self, request: web.Request) -> WahaSession | web.Response:
        """The session named in the path, or the answer WAHA gives instead (401, Core's 422, 404)."""
        if (bad := self._guard(request)) is not None:
            return bad
        name = request.match_info["s"]
        if self.core and name != "default":
            return _error(422, CORE_ONLY_DEFAULT)
        s = self.sessions.get(name)
        return s if s is not None else _error(404, "Session not found")

    def _session_json(self, s: WahaSession, detail: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"name": s.name, "status": s.status, "config": s.config, "me": s.me}
        if not self.core:
            out.update({"presence": None, "timestamps": {"activity": s.activity_ms}, "assignedWorker": "",
                        "apps": None})
        if detail:
            out["engine"] = {"engine": "WEBJS", "WWebVersion": WWEB_VERSION if s.status == "WORKING" else None,
                             "state": "CONNECTED" if s.status == "WORKING" else None}
        return out

    async def _ping(self, request: web.Request) -> web.StreamResponse:
        if not self._key_ok(request):
            return json_reply({"message": "Unauthorized", "statusCode": 401}, 401)
        return json_reply({"message": "pong"})

    async def _health(self, request: web.Request) -> web.StreamResponse:
        if self.core:
            return _error(422, "The feature is available only in Plus version")
        if (bad := self._guard(request)) is not None:
            return bad
        return json_reply({"status": "ok", "info": {"mediaFiles.space": {"status": "up"}},
                           "error": {}, "details": {"mediaFiles.space": {"status": "up"}}})

    async def _version(self, request: web.Request) -> web.StreamResponse:
        if (bad := self._guard(request)) is not None:
            return bad
        return json_reply(self.version)

    async def _status(self, request: web.Request) -> web.StreamResponse:
        if (bad := self._guard(request)) is not None:
            return bad
        now = int(time.time() * 1000)
        return json_reply({"startTimestamp": self.started_ms, "uptime": now - self.started_ms, "worker": {"id": ""}})

    async def _environment(self, request: web.Request) -> web.StreamResponse:
        if (bad := self._guard(request)) is not None:
            return bad
        env = {"WAHA_WORKER_ID": "", "WHATSAPP_DEFAULT_ENGINE": "WEBJS"}
        if self.core:  # 2024.10.8 hands out both key variables in clear [seen]
            env.update({"WHATSAPP_API_KEY": self.api_key or "", "WAHA_API_KEY": self.api_key or ""})
        return json_reply(env)

    async def _list(self, request: web.Request) -> web.StreamResponse:
        if (bad := self._guard(request)) is not None:
            return bad
        every = request.query.get("all") in ("true", "1")
        return json_reply([self._session_json(s) for s in self.sessions.values()
                           if every or s.status != "STOPPED"])

    async def _create(self, request: web.Request) -> web.StreamResponse:
        if (bad := self._guard(request)) is not None:
            return bad
        try:
            body = await request.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        name = body.get("name") or "default"
        if not isinstance(name, str) or not name:
            return _error(400, "name must be a string")
        if self.core and name != "default":
            return _error(422, CORE_ONLY_DEFAULT)
        if name in self.sessions and not (self.core and self.sessions[name].status == "STOPPED"):
            return _error(422, f"Session '{name}' already exists. Use PUT to update it.")
        s = self.sessions.setdefault(name, WahaSession(name))
        if isinstance(body.get("config"), dict):
            s.config = body["config"]
        if body.get("start", True):
            self._start(s)
        return json_reply(self._session_json(s), 201)

    async def _get(self, request: web.Request) -> web.StreamResponse:
        got = self._find(request)
        if not isinstance(got, WahaSession):
            return got
        self.asked.append((time.monotonic(), got.name))
        return json_reply(self._session_json(got, detail=True))

    async def _me(self, request: web.Request) -> web.StreamResponse:
        got = self._find(request)
        if not isinstance(got, WahaSession):
            return got
        if got.status != "WORKING" or got.me is None:
            return web.Response(status=200)  # an EMPTY body when not logged in [seen]
        return json_reply(got.me)

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        got = self._find(request)
        if not isinstance(got, WahaSession):
            return got
        await asyncio.sleep(self.action_delay_s)
        self._stop(got)
        got.linked_phone = None
        if not self.core:
            self.sessions.pop(got.name, None)
        return web.Response(status=200)

    async def _action(self, request: web.Request) -> web.StreamResponse:
        op = request.match_info["op"]
        if op not in ("start", "stop", "restart", "logout"):
            return _error(404, f"Cannot POST {request.path}")
        got = self._find(request)
        if not isinstance(got, WahaSession):
            return got
        s = got
        if op == "start":
            if s.status not in ("STOPPED", "FAILED"):
                return _error(422, f"Session '{s.name}' is already started.")
            self._start(s)
            return json_reply(self._session_json(s), 201)
        await asyncio.sleep(self.action_delay_s)
        if op == "stop":
            self._stop(s)
        elif op == "restart":
            self._stop(s)
            self._start(s)
        else:  # logout: stop, empty the auth, start again
            self._stop(s)
            s.linked_phone = None
            self._start(s)
        return json_reply(self._session_json(s), 201)

    async def _wait_for_qr(self, s: WahaSession) -> bool:
        end = time.monotonic() + self.qr_wait_s
        while s.status == "STARTING" and time.monotonic() < end:
            await asyncio.sleep(0.02)
        return s.status == "SCAN_QR_CODE"

    async def _not_expected(self, s: WahaSession) -> web.Response:
        if s.status == "WORKING":
            await asyncio.sleep(self.qr_wait_s)
        return json_reply({"error": "Session status is not as expected. Try again later or restart the session",
                           "session": s.name, "status": s.status, "expected": ["SCAN_QR_CODE"]}, 422)

    async def _qr(self, request: web.Request) -> web.StreamResponse:
        got = self._find(request)
        if not isinstance(got, WahaSession):
            return got
        s = got
        if s.status in ("STOPPED",):
            return _error(404, f"We didn't find a session with name '{s.name}'. Please start it first by using "
                               f"POST /api/sessions/{s.name}/start request")
        if not await self._wait_for_qr(s) or s.qr is None:
            return await self._not_expected(s)
        if request.query.get("format") == "raw":
            return json_reply({"value": s.qr})
        png = segno.make_qr(s.qr, error="l").png_data_uri(scale=6, border=2).split(",", 1)[1]
        if request.headers.get("Accept") == "application/json":
            return json_reply({"mimetype": "image/png", "data": png})
        return web.Response(status=200, body=base64.b64decode(png), content_type="image/png")

    async def _request_code(self, request: web.Request) -> web.StreamResponse:
        got = self._find(request)
        if not isinstance(got, WahaSession):
            return got
        try:
            body = await request.json()
        except ValueError:
            body = None
        phone = body.get("phoneNumber") if isinstance(body, dict) else None
        if not isinstance(phone, str) or not phone.strip("+").isdigit():
            return _error(400, "phoneNumber must be digits")
        if not await self._wait_for_qr(got):
            return await self._not_expected(got)
        alphabet = string.ascii_uppercase + string.digits
        code = "".join(self.rng.choice(alphabet) for _ in range(8))
        return json_reply({"code": f"{code[:4]}-{code[4:]}"})

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        if not self._key_ok(request):
            return json_reply({"message": "Unauthorized", "statusCode": 401}, 401)
        ws = web.WebSocketResponse(heartbeat=10.0)  # the server pings every 10 s
        await ws.prepare(request)
        session, events = request.query.get("session", "*"), request.query.get("events", "*")
        if self.core and (session != "*" or events not in ("*", "session.status")):
            await ws.close(code=4001, message=b"Only session=* and events=*|session.status are allowed")
            return ws
        self.sockets.add(ws)
        try:
            async for _ in ws:
                pass  # clients only listen
        finally:
            self.sockets.discard(ws)
        return ws
