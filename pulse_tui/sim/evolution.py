"""Evolution API v2.3.6 simulator (specs/evolution.md): REST routes with its envelopes, socket.io events per
instance namespace, QR rotation up to QRCODE_LIMIT, and the two views of state (memory vs database).

`create` answers after `create_delay_s` (5 s on the real server), `connect` from `close` after `connect_delay_s`
(2 s); tests set both near zero. `scan()`, `unlink()`, `lose_connection()` play the phone and the network.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import socketio
from aiohttp import web

from pulse_tui.sim.aiorunner import AioSim, json_reply
from pulse_tui.sim.gateway import Fault
from pulse_tui.sim.qrpayload import PayloadMaker, png_data_url

VERSION = "2.3.6"
WA_VERSION = "2.3000.1027934701"
INTEGRATIONS = ("WHATSAPP-BAILEYS", "WHATSAPP-BUSINESS", "EVOLUTION")
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
WORDS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 500: "Internal Server Error"}
WEBSOCKET_EVENTS = ["APPLICATION_STARTUP", "QRCODE_UPDATED", "CONNECTION_UPDATE", "LOGOUT_INSTANCE",
                    "REMOVE_INSTANCE", "STATUS_INSTANCE"]


def iso(ts: datetime | None = None) -> str:
    """`2026-12-01T18:49:08.899Z`, as Prisma and Evolution write times."""
    t = ts or datetime.now(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def envelope_error(status: int, message: str) -> web.Response:
    """Evolution's error envelope: `message` is a list, except for 401."""
    msg: Any = "Unauthorized" if status == 401 else [message]
    return json_reply({"status": status, "error": WORDS.get(status, "Error"), "response": {"message": msg}}, status)


@dataclass
class Instance:
    name: str
    id: str
    token: str
    integration: str = "WHATSAPP-BAILEYS"
    mem: str = "close"  # what connectionState says (the socket)
    db: str = "close"  # what fetchInstances says (the database row)
    count: int = 0
    code: str | None = None
    pairing: str | None = None
    number: str | None = None
    owner_jid: str | None = None
    profile_name: str | None = None
    creds: bool = False  # a saved WhatsApp session: a reconnect needs no QR
    disc_code: int | None = None
    disc_obj: str | None = None
    disc_at: str | None = None
    created_at: str = ""
    updated_at: str = ""
    generation: int = 0
    websocket: bool = False
    maker: PayloadMaker | None = None
    not_open_since: float | None = None  # monotonic; for DEL_INSTANCE


class EvolutionSim(AioSim):
    """One Evolution API server on loopback."""

    def __init__(
        self,
        api_key: str = "testkey123",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        client_name: str = "evolution_exchange",
        qrcode_limit: int = 30,
        create_delay_s: float = 5.0,
        connect_delay_s: float = 2.0,
        qr_delay_s: float = 0.3,
        qr_interval_s: float = 45.0,
        step_s: float = 0.15,
        websocket_enabled: bool = True,
        websocket_all: bool = True,  # as if `/websocket/set` had been called for every instance
        global_events: bool = False,
        auto_scan_s: float | None = None,
        del_instance_s: float | None = None,  # DEL_INSTANCE (in seconds here): delete what is not open that long
        seed: int | None = None,
    ) -> None:
        super().__init__(host, port)
        self.api_key = api_key
        self.del_instance_s = del_instance_s
        self.client_name = client_name
        self.qrcode_limit = qrcode_limit
        self.create_delay_s = create_delay_s
        self.connect_delay_s = connect_delay_s
        self.qr_delay_s = qr_delay_s
        self.qr_interval_s = qr_interval_s
        self.step_s = step_s
        self.websocket_enabled = websocket_enabled
        self.websocket_all = websocket_all
        self.global_events = global_events
        self.auto_scan_s = auto_scan_s
        self.rng = random.Random(seed)
        self.instances: dict[str, Instance] = {}
        self.namespaces: list[str] = ["/"] if global_events else []
        self.sio = socketio.AsyncServer(async_mode="aiohttp", namespaces=self.namespaces, logger=False,
                                        engineio_logger=False)
        self.sio.namespaces = self.namespaces  # the same list: a namespace opens at its first emit
        self.sio.on("connect", self._sio_connect, namespace="*")
        self.emitted: list[tuple[str, str]] = []  # (instance, event) of every socket.io emit

    # --- the phone and the network (test side, thread-safe) -------------------------------

    def add_instance(self, name: str, *, connect: bool = False, paired: bool = False) -> str:
        """An instance as if created earlier (no delay); returns its token."""
        def add() -> str:
            inst = self._new(name)
            if paired:
                inst.creds, inst.owner_jid, inst.profile_name = True, "18765550123@s.whatsapp.net", "Stub"
            if connect:
                self._connect(inst)
            return inst.token
        return self.call(add)

    def scan(self, name: str, phone: str = "18765550123", profile: str = "Stub") -> bool:
        """The phone scans the QR (or types the pairing code): close 515 -> connecting -> open."""
        return self.call(self._scan, name, phone, profile)

    def unlink(self, name: str) -> bool:
        """The device is removed on the phone: close with 401, stays closed."""
        return self.call(self._logged_out, name, "Stream Errored (conflict)", False)

    def lose_connection(self, name: str) -> bool:
        """A network drop (408): close, then Evolution reconnects with the saved session."""
        return self.call(self._lose, name)

    def set_db_state(self, name: str, state: str) -> None:
        """Make the database row disagree with memory (the Manager's "connected after the drop")."""
        self.call(lambda: setattr(self.instances[name], "db", state))

    def states(self, name: str) -> tuple[str, str] | None:
        """(memory, database) state of an instance."""
        return self.call(lambda: (self.instances[name].mem, self.instances[name].db) if name in self.instances
                         else None)

    def token_of(self, name: str) -> str:
        return self.call(lambda: self.instances[name].token)

    # --- lifecycle (loop thread) -----------------------------------------------------------

    def _new(self, name: str, integration: str = "WHATSAPP-BAILEYS") -> Instance:
        now = iso()
        inst = Instance(name, str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                        str(uuid.UUID(int=self.rng.getrandbits(128), version=4)).upper(), integration,
                        created_at=now, updated_at=now, websocket=self.websocket_all,
                        not_open_since=time.monotonic())
        self.instances[name] = inst
        return inst

    def _touch(self, inst: Instance, mem: str | None = None, db: str | None = None) -> None:
        if mem is not None:
            inst.mem = mem
            if mem == "open":
                inst.not_open_since = None
            elif inst.not_open_since is None:
                inst.not_open_since = time.monotonic()
        if db is not None:
            inst.db = db
        inst.updated_at = iso()

    def _connect(self, inst: Instance) -> None:
        inst.generation += 1
        inst.maker = inst.maker or PayloadMaker(self.rng)
        self._touch(inst, "connecting", "connecting")
        self._emit(inst, "connection.update", {"instance": inst.name, "state": "connecting", "statusReason": 200})
        self.spawn(self._run(inst, inst.generation))

    async def _run(self, inst: Instance, gen: int) -> None:
        await asyncio.sleep(self.qr_delay_s)
        if inst.generation != gen:
            return
        if inst.creds:
            self._open(inst)
            return
        if self.auto_scan_s is not None:
            self.spawn(self._auto_scan(inst, gen))
        while inst.generation == gen and inst.mem == "connecting":
            if inst.count >= self.qrcode_limit:
                self._refuse(inst)
                return
            self._new_qr(inst)
            await asyncio.sleep(self.qr_interval_s)

    async def _auto_scan(self, inst: Instance, gen: int) -> None:
        await asyncio.sleep(self.auto_scan_s or 0.0)
        if inst.generation == gen:
            self._scan(inst.name, "18765550123", "Stub")

    def _new_qr(self, inst: Instance) -> None:
        assert inst.maker is not None
        inst.count += 1
        inst.code = inst.maker.next()
        inst.pairing = "".join(self.rng.choice(CROCKFORD) for _ in range(8)) if inst.number else None
        self._emit(inst, "qrcode.updated", {"qrcode": {"instance": inst.name, "pairingCode": inst.pairing,
                                                       "code": inst.code, "base64": png_data_url(inst.code)}})

    def _refuse(self, inst: Instance) -> None:
        """The QR limit: memory goes `close`, the database stays `connecting`, the count restarts."""
        inst.generation += 1
        self._emit(inst, "qrcode.updated", {"message": "QR code limit reached, please login again",
                                            "statusCode": 500})
        self._emit(inst, "connection.update", {"instance": inst.name, "state": "refused", "statusReason": 428})
        inst.code, inst.pairing, inst.count = None, None, 0
        self._touch(inst, mem="close")

    def _open(self, inst: Instance) -> None:
        inst.code, inst.pairing = None, None
        inst.disc_code = inst.disc_obj = inst.disc_at = None
        self._touch(inst, "open", "open")
        self._emit(inst, "connection.update", {"instance": inst.name, "wuid": inst.owner_jid,
                                               "profileName": inst.profile_name, "profilePictureUrl": None,
                                               "state": "open", "statusReason": 200})

    def _scan(self, name: str, phone: str, profile: str) -> bool:
        inst = self.instances.get(name)
        if inst is None or inst.mem != "connecting" or inst.creds:
            return False
        inst.creds, inst.owner_jid, inst.profile_name = True, f"{phone}@s.whatsapp.net", profile
        self._reconnect(inst)  # restart required (515): no event for the short close
        return True

    def _lose(self, name: str) -> bool:
        inst = self.instances.get(name)
        if inst is None or inst.mem != "open":
            return False
        self._reconnect(inst)
        return True

    def _reconnect(self, inst: Instance) -> None:
        inst.generation += 1
        gen = inst.generation
        self._touch(inst, mem="close")

        async def again() -> None:
            await asyncio.sleep(self.step_s)
            if inst.generation == gen:
                self._connect(inst)
        self.spawn(again())

    def _logged_out(self, name: str, message: str, by_api: bool) -> bool:
        inst = self.instances.get(name)
        if inst is None or inst.mem == "close":
            return False
        inst.generation += 1
        inst.creds, inst.code, inst.pairing, inst.count = False, None, None, 0
        inst.disc_code, inst.disc_at = 401, iso()
        inst.disc_obj = json.dumps({"error": {"data": None, "isBoom": True, "isServer": False, "output": {
            "statusCode": 401, "payload": {"statusCode": 401, "error": "Unauthorized", "message": message},
            "headers": {}}}, "date": inst.disc_at}, separators=(",", ":"))
        self._touch(inst, "close", "close")
        self._emit(inst, "status.instance", {"instance": name, "status": "closed", "disconnectionAt": inst.disc_at,
                                             "disconnectionReasonCode": 401, "disconnectionObject": inst.disc_obj})
        if by_api:
            self._emit(inst, "logout.instance", None)
        self._emit(inst, "connection.update", {"instance": name, "state": "close", "statusReason": 401})
        return True

    # --- socket.io -----------------------------------------------------------------------------

    def _emit(self, inst: Instance, event: str, data: Any) -> None:
        if not (self.websocket_enabled and inst.websocket):
            return
        body: dict[str, Any] = {"event": event, "instance": inst.name, "data": data, "server_url": self.url,
                                "date_time": iso(), "apikey": inst.token}
        if inst.owner_jid:
            body["sender"] = inst.owner_jid
        ns = f"/{inst.name}"
        if ns not in self.namespaces:
            self.namespaces.append(ns)  # the namespace exists from Evolution's first emit on
        self.emitted.append((inst.name, event))
        self.spawn(self.sio.emit(event, body, namespace=ns))
        if self.global_events:
            self.spawn(self.sio.emit(event, body, namespace="/"))

    async def _sio_connect(self, namespace: str, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        given = (query.get("apikey") or [None])[0] or environ.get("HTTP_APIKEY")
        if self.fault == Fault.UNAUTHORIZED:
            raise socketio.exceptions.ConnectionRefusedError("Unauthorized")
        if given is None:
            return  # loopback clients are let in without a key [code]
        tokens = {i.token for i in self.instances.values()}
        if not (secrets.compare_digest(given, self.api_key) or given in tokens):
            raise socketio.exceptions.ConnectionRefusedError("Unauthorized")

    async def on_start(self) -> None:
        """A restarted server reconnects what was connected: paired ones open, the others show a new QR."""
        for inst in self.instances.values():
            if inst.mem != "close" or inst.creds:
                self._connect(inst)
        if self.del_instance_s is not None:
            self.spawn(self._del_instance(self.del_instance_s))

    async def _del_instance(self, after_s: float) -> None:
        """DEL_INSTANCE: Evolution removes instances that stayed not `open` for that long."""
        while True:
            await asyncio.sleep(min(after_s / 4, 1.0))
            now = time.monotonic()
            for inst in list(self.instances.values()):
                since = inst.not_open_since if inst.not_open_since is not None else now
                if inst.mem != "open" and now - since >= after_s:
                    inst.generation += 1
                    self._emit(inst, "remove.instance", None)
                    self.instances.pop(inst.name, None)

    async def on_stop(self) -> None:
        for ns in list(self.namespaces):
            for sid in list(self.sio.manager.get_participants(ns, None)):
                await self.sio.disconnect(sid[0] if isinstance(sid, tuple) else sid, namespace=ns)

    def fault_exempt(self, request: web.Request) -> bool:
        return request.path.startswith("/socket.io") and self.fault != Fault.DOWN

    def fault_body(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        if fault == Fault.UNAUTHORIZED:
            return envelope_error(401, "Unauthorized")
        if fault == Fault.ERROR_500:
            return envelope_error(500, "Internal server error")
        if fault == Fault.SHAPE:
            return json_reply({"instances": "none"} if "fetchInstances" in request.path else [1, 2])
        return super().fault_body(request, fault)

    # --- HTTP ---------------------------------------------------------------------------------

    def build(self, app: web.Application) -> None:
        self.sio.attach(app)
        r = app.router
        r.add_get("/", self._welcome)
        r.add_post("/instance/create", self._create)
        r.add_get("/instance/connectionState/{name}", self._state)
        r.add_get("/instance/connect/{name}", self._connect_route)
        r.add_get("/instance/fetchInstances", self._fetch)
        r.add_post("/instance/restart/{name}", self._restart)
        r.add_delete("/instance/logout/{name}", self._logout)
        r.add_delete("/instance/delete/{name}", self._delete)
        r.add_post("/websocket/set/{name}", self._websocket_set)
        r.add_route("*", "/{tail:.*}", self._nope)

    def _global_ok(self, request: web.Request) -> bool:
        given = request.headers.get("apikey")
        return given is not None and secrets.compare_digest(given, self.api_key)

    def _find(self, request: web.Request) -> Instance | web.Response:
        """Guard order as Evolution's: instance exists (404 even without a key), then the key (401)."""
        name = request.match_info["name"]
        inst = self.instances.get(name)
        if inst is None:
            return envelope_error(404, f'The "{name}" instance does not exist')
        given = request.headers.get("apikey")
        if not (self._global_ok(request) or (given is not None and secrets.compare_digest(given, inst.token))):
            return envelope_error(401, "Unauthorized")
        return inst

    def _qr_json(self, inst: Instance) -> dict[str, Any]:
        return {"pairingCode": inst.pairing, "code": inst.code,
                "base64": png_data_url(inst.code) if inst.code else None, "count": inst.count}

    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    async def _welcome(self, request: web.Request) -> web.StreamResponse:
        return json_reply({"status": 200, "message": "Welcome to the Evolution API, it is working!",
                           "version": VERSION, "clientName": self.client_name, "manager": f"{self.url}/manager",
                           "documentation": "https://doc.evolution-api.com", "whatsappWebVersion": WA_VERSION})

    async def _create(self, request: web.Request) -> web.StreamResponse:
        if not self._global_ok(request):
            return envelope_error(401, "Unauthorized")
        body = await self._body(request)
        if body.get("integration") not in INTEGRATIONS:
            return envelope_error(400, "Invalid integration")
        name = body.get("instanceName")
        name = name if isinstance(name, str) and name else "undefined"
        if name in self.instances or (name == "undefined" and self.instances):
            return envelope_error(403, f'This name "{name}" is already in use.')
        inst = self._new(name, str(body["integration"]))
        ws = body.get("websocket")
        if isinstance(ws, dict) and ws.get("enabled"):
            inst.websocket = True
        if isinstance(body.get("number"), str):
            inst.number = body["number"]
        self._emit(inst, "instance.create", {"instanceName": name, "instanceId": inst.id})
        out: dict[str, Any] = {
            "instance": {"instanceName": name, "instanceId": inst.id, "integration": inst.integration,
                         "webhookWaBusiness": None, "accessTokenWaBusiness": "", "status": "close"},
            "hash": inst.token, "webhook": {}, "websocket": {}, "rabbitmq": {}, "nats": {}, "sqs": {},
            "settings": {"rejectCall": False, "msgCall": "", "groupsIgnore": False, "alwaysOnline": False,
                         "readMessages": False, "readStatus": False, "syncFullHistory": False, "wavoipToken": ""},
        }
        if body.get("qrcode") is True:
            self._connect(inst)
            await asyncio.sleep(self.create_delay_s)  # it connects, then delay(5000) before answering
            out["instance"]["status"] = inst.mem
            out["qrcode"] = self._qr_json(inst)
        return json_reply(out, 201)

    async def _state(self, request: web.Request) -> web.StreamResponse:
        got = self._find(request)
        if not isinstance(got, Instance):
            return got
        return json_reply({"instance": {"instanceName": got.name, "state": got.mem}})

    async def _connect_route(self, request: web.Request) -> web.StreamResponse:
        got = self._find(request)
        if not isinstance(got, Instance):
            return got
        inst = got
        number = request.query.get("number")
        if inst.mem == "open":
            return json_reply({"instance": {"instanceName": inst.name, "state": "open"}})
        if number:
            inst.number = number
            if inst.mem == "connecting" and inst.code:
                inst.pairing = "".join(self.rng.choice(CROCKFORD) for _ in range(8))
        if inst.mem == "close":  # not read-only: this STARTS a connection
            self._connect(inst)
            await asyncio.sleep(self.connect_delay_s)
        return json_reply(self._qr_json(inst))

    def _row(self, inst: Instance) -> dict[str, Any]:
        return {
            "id": inst.id, "name": inst.name, "connectionStatus": inst.db, "ownerJid": inst.owner_jid,
            "profileName": inst.profile_name, "profilePicUrl": None, "integration": inst.integration,
            "number": inst.number, "businessId": None, "token": inst.token, "clientName": self.client_name,
            "disconnectionReasonCode": inst.disc_code, "disconnectionObject": inst.disc_obj,
            "disconnectionAt": inst.disc_at, "createdAt": inst.created_at, "updatedAt": inst.updated_at,
            "Chatwoot": None, "Proxy": None, "Rabbitmq": None, "Nats": None, "Sqs": None,
            "Websocket": {"enabled": True, "events": WEBSOCKET_EVENTS} if inst.websocket else None,
            "Setting": {"rejectCall": False, "msgCall": "", "groupsIgnore": False, "alwaysOnline": False,
                        "readMessages": False, "readStatus": False, "syncFullHistory": False,
                        "wavoipToken": "", "instanceId": inst.id},
            "_count": {"Message": 0, "Contact": 0, "Chat": 0},
        }

    async def _fetch(self, request: web.Request) -> web.StreamResponse:
        rows = list(self.instances.values())
        if not self._global_ok(request):
            given = request.headers.get("apikey")
            rows = [i for i in rows if given is not None and secrets.compare_digest(given, i.token)]
            if not rows:
                return envelope_error(401, "Unauthorized")
        q = request.query
        if "instanceName" in q:
            rows = [i for i in rows if i.name == q["instanceName"]]
            if not rows:
                return envelope_error(404, f'Instance "{q["instanceName"]}" not found')
        if "instanceId" in q:
            rows = [i for i in rows if i.id == q["instanceId"]]
        if "number" in q:
            rows = [i for i in rows if i.number == q["number"]]
        return json_reply([self._row(i) for i in rows])

    async def _restart(self, request: web.Request) -> web.StreamResponse:
        got = self._find(request)
        if not isinstance(got, Instance):
            return got
        inst = got
        if inst.mem == "close":
            return json_reply({"error": True, "message": "[object Object]"})  # a BadRequestException as a string
        if inst.mem == "open":
            self._reconnect(inst)
            return json_reply({"instance": {"instanceName": inst.name, "state": "open"}})
        answer = self._qr_json(inst)
        self._reconnect(inst)
        return json_reply(answer)

    async def _logout(self, request: web.Request) -> web.StreamResponse:
        got = self._find(request)
        if not isinstance(got, Instance):
            return got
        if got.mem == "close":
            return envelope_error(400, f'The "{got.name}" instance is not connected')
        self._logged_out(got.name, f"Log out instance: {got.name}", True)
        return json_reply({"status": "SUCCESS", "error": False, "response": {"message": "Instance logged out"}})

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        got = self._find(request)
        if not isinstance(got, Instance):
            return got
        inst = got
        if inst.mem != "close":
            self._logged_out(inst.name, f"Log out instance: {inst.name}", True)
        inst.generation += 1
        self._emit(inst, "instance.delete", {"instanceName": inst.name, "instanceId": inst.id})
        self._emit(inst, "remove.instance", None)
        self.instances.pop(inst.name, None)
        return json_reply({"status": "SUCCESS", "error": False, "response": {"message": "Instance deleted"}})

    async def _websocket_set(self, request: web.Request) -> web.StreamResponse:
        got = self._find(request)
        if not isinstance(got, Instance):
            return got
        body = await self._body(request)
        ws = body.get("websocket")
        got.websocket = bool(isinstance(ws, dict) and ws.get("enabled"))
        now = iso()
        return json_reply({"id": secrets.token_hex(12), "enabled": got.websocket, "events": WEBSOCKET_EVENTS,
                           "createdAt": now, "updatedAt": now, "instanceId": got.id}, 201)

    async def _nope(self, request: web.Request) -> web.StreamResponse:
        return envelope_error(404, f"Cannot {request.method} {request.path}")
