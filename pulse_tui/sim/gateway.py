"""A real HTTP gateway simulator on loopback: Salesboy's API exactly (specs/salesboy.md), or Pulse's.

stdlib only (ThreadingHTTPServer in daemon threads), so the demo can embed it next to an event loop and
tests can run it in-process; `python -m pulse_tui.sim` runs it standalone. Control routes under `/__sim/`
(no API key, not rate limited) and the same methods on the object drive faults and the lifecycle.
"""

from __future__ import annotations

import contextlib
import email.utils
import html
import json
import math
import select
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from pulse_tui.sim.browsers import SessionBrowsers
from pulse_tui.sim.engine import Engine, Flavor, Phase, Timing, phone_for
from pulse_tui.sim.ratelimit import TOO_MANY, RateLimiter
from pulse_tui.sim.simlog import WinstonLog, iso_now
from pulse_tui.sources.authdirs import PHONE_RE, is_uuid, salesboy_id_error
from pulse_tui.url_host import url_host

JSON_CT = "application/json; charset=utf-8"
HTML_CT = "text/html; charset=utf-8"
SSE_POLL_S = 0.25  # how often an idle SSE stream checks for a closed client or a stopping server
PULSE_SERVICE = "Pulse - WhatsApp Web.js Multi-Instance"


LYING_HEADERS = {
    "RateLimit-Limit": "-1", "RateLimit-Remaining": "NaN", "RateLimit-Reset": "1e309",
    "X-RateLimit-Reset": "1e309", "Retry-After": "whenever",
}


class Fault(StrEnum):
    NONE = "none"
    DOWN = "down"  # close the connection without answering
    SLOW = "slow"  # sleep slow_s, then answer normally
    ERROR_500 = "500"
    UNAUTHORIZED = "401"
    RATE_LIMITED = "429"
    GARBAGE = "garbage"  # 200 with a body that is not JSON
    SHAPE = "shape"  # 200 with JSON of the wrong shape
    DRIP = "drip"  # 200 with a chunked body of one byte every 0.5 s, never finished
    DEEP = "deep"  # 200 with `[` x100000 (RecursionError in a naive JSON decoder)
    LYING = "lying-headers"  # normal answers with nonsense rate-limit headers (1e309, -1, NaN, garbage)


class GatewaySim:
    """The simulator: `start()` -> base URL, `stop()`, or use it as a context manager."""

    def __init__(
        self,
        auth_root: Path,
        api_key: str | None = None,
        log_dir: Path | None = None,
        port: int = 0,
        *,
        flavor: Flavor | str = Flavor.SALESBOY,
        host: str = "127.0.0.1",
        rate_limit: int = 100,
        rate_window_s: float = 900.0,
        start_delay_s: float = 1.0,
        qr_interval_s: float = 20.0,
        qr_max: int = 5,
        auto_scan_s: float | None = None,
        ready_delay_s: float = 0.3,
        restore_interval_s: float = 5.0,
        restore_on_boot: bool = True,
        phones: tuple[str, ...] = (),
        seed: int | None = None,
        browsers: bool = False,
        browser_children: int = 3,
    ) -> None:
        self.flavor = Flavor(flavor)
        self.auth_root = Path(auth_root)
        self.api_key = api_key
        self.host = host
        self.port = port
        self.restore_on_boot = restore_on_boot
        self.log = WinstonLog(log_dir)
        timing = Timing(start_delay_s, qr_interval_s, qr_max, auto_scan_s, ready_delay_s, restore_interval_s)
        # browsers=True: each started session runs a stand-in Chromium (a real process tree with
        # --user-data-dir=<its auth dir>) so the host probe has something real to map.
        self.browsers = SessionBrowsers(children=browser_children) if browsers else None
        self.engine = Engine(self.auth_root, self.flavor, self.log, timing, phones=tuple(phones), seed=seed,
                             browsers=self.browsers)
        self.limiter = RateLimiter(rate_limit, rate_window_s)
        self.fault = Fault.NONE
        self.slow_s = 10.0
        self.fault_retry_after_s = 30
        self._lock = threading.Lock()
        self.seen: list[tuple[str, str, int]] = []  # (method, path, status) of every non-control answer
        self.statuses: Counter[int] = Counter()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._stop_event = threading.Event()

    # --- process -------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{url_host(self.host)}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> str:
        """Listen (on the same port as before after a stop), boot the gateway, return its base URL."""
        if self._server is not None:
            return self.url
        self._stop_event.clear()
        server = _Server((self.host, self.port), _Handler, self)
        self.port = server.server_address[1]
        self._server = server
        self.auth_root.mkdir(parents=True, exist_ok=True)
        self.engine.boot(self.restore_on_boot)
        self.engine.start_ticker()
        name = "Salesboy Gateway" if self.flavor == Flavor.SALESBOY else "Pulse"
        self.log.info(f"{name} running on port {self.port}")
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"sim-http-{self.port}", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop answering: close the listener and every open connection (SSE streams end)."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stop_event.set()
        self.engine.stop_ticker()
        self.engine.close_browsers()
        server.shutdown()
        server.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def restart(self) -> None:
        """Like `pm2 restart`: every client dropped, limiter reset, boot-time restore runs again."""
        self.stop()
        self.limiter.reset()
        self.start()

    def __enter__(self) -> GatewaySim:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- control ---------------------------------------------------------------------

    def set_fault(self, fault: Fault | str, *, slow_s: float | None = None, retry_after_s: int | None = None) -> None:
        """Switch a fault on (`none` clears it)."""
        self.fault = Fault(fault)
        if slow_s is not None:
            self.slow_s = float(slow_s)
        if retry_after_s is not None:
            self.fault_retry_after_s = int(retry_after_s)

    def scan(self, session_id: str) -> bool:
        """The phone scans the current code; False when the session shows no code."""
        return self.engine.scan(session_id)

    def disconnect(self, session_id: str, reason: str = "NAVIGATION") -> bool:
        return self.engine.disconnect(session_id, reason)

    def auth_failure(self, session_id: str, message: str = "Unable to restore session") -> bool:
        return self.engine.auth_failure(session_id, message)

    def fail_next_start(self, message: str = "Failed to launch the browser process!") -> None:
        self.engine.fail_next_start(message)

    def leave_stale_lock(self, session_id: str) -> int:
        """Crash the session's browser (SIGKILL) so its SingletonLock stays, naming a dead pid; the client drops.

        Without a running browser, writes such a lock into the auth dir. Returns the dead pid. For the demo.
        """
        return self.engine.crash_browser(session_id)

    def leave_orphan(self, session_id: str) -> int | None:
        """The gateway forgets the session but its browser keeps running: an orphan. Needs `browsers=True`.

        Pulse flavour: the instance also leaves Pulse's list (as when it is removed from the configuration).

        Returns the browser's pid (None when the session had none). `stop()` still cleans it up.
        """
        return self.engine.orphan_browser(session_id)

    def browser_pids(self) -> dict[str, int]:
        """Session id → root pid of its running stand-in browser (empty with `browsers=False`)."""
        if self.browsers is None:
            return {}
        with self.engine.cond:
            return self.browsers.pids()

    def reset_rate_limit(self) -> None:
        self.limiter.reset()

    def add_instance(self, phone: str, start: bool = True) -> None:
        """Pulse: configure one more instance."""
        self.engine.add_instance(phone, start)

    def state(self) -> dict[str, Any]:
        """Clients, restore queue and fault, for tests and `GET /__sim/state`."""
        return {
            "flavor": self.flavor.value,
            "fault": self.fault.value,
            "clients": self.engine.snapshot(),
            "restore_pending": self.engine.restore_pending(),
            "dead": sorted(self.engine.dead),
        }

    def requests_seen(self) -> int:
        """How many non-control requests reached the app (every answer, 401s and 429s included)."""
        with self._lock:
            return len(self.seen)

    def _record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.seen.append((method, path, status))
            if len(self.seen) > 50_000:
                del self.seen[:25_000]
            self.statuses[status] += 1

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)


SalesboySim = GatewaySim


class PulseSim(GatewaySim):
    """The Pulse flavour: `/whatsapp-web/...` routes, no API key, no rate limit."""

    def __init__(self, auth_root: Path, *args: Any, **kw: Any) -> None:
        kw.setdefault("flavor", Flavor.PULSE)
        super().__init__(auth_root, *args, **kw)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, addr: tuple[str, int], handler: type[BaseHTTPRequestHandler], sim: GatewaySim) -> None:
        self.sim = sim
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        super().__init__(addr, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up mid-answer (slow fault, closed SSE) is normal here


class _Reply(Exception):
    """Raised inside a route to answer at once."""

    def __init__(self, status: int, body: Any, ctype: str | None = JSON_CT) -> None:
        super().__init__(status)
        self.status, self.body, self.ctype = status, body, ctype


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60  # idle keep-alive connections close after a minute
    # Headers and body go out in two writes: with Nagle on, the body waits for the client's delayed ACK
    # (~40 ms per request on Linux). Node's http server, which Express runs on, sets TCP_NODELAY too.
    disable_nagle_algorithm = True
    server: _Server

    # --- plumbing ------------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self.server.sim._track(self.connection, True)

    def finish(self) -> None:
        self.server.sim._track(self.connection, False)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # quiet: the sim's own log is the winston file

    def send_response(self, code: int, message: str | None = None) -> None:
        # Express sends no `Server` header; keep Date like Node does.
        self.send_response_only(code, message)
        self.send_header("Date", email.utils.formatdate(usegmt=True))

    def _send(self, status: int, body: bytes, ctype: str | None, headers: dict[str, str] | None = None) -> None:
        self.server.sim._record(self.command, self.path, status)  # before answering: a client never sees it late
        self.send_response(status)
        self.send_header("X-Content-Type-Options", "nosniff")  # helmet
        self.send_header("Access-Control-Allow-Origin", "*")  # cors
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.server.sim.fault == Fault.LYING:
            for k, v in LYING_HEADERS.items():
                self.send_header(k, v)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close" if self.close_connection else "keep-alive")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode(), JSON_CT, headers)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch()

    do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = do_OPTIONS = do_GET  # noqa: N815

    def _read_body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _dispatch(self) -> None:
        sim = self.server.sim
        if sim._stop_event.is_set():
            self.close_connection = True
            return
        split = urlsplit(self.path)
        path = unquote(split.path)
        if len(path) > 1:
            path = path.rstrip("/")  # Express routing is not strict about a trailing slash
        query = parse_qs(split.query)
        raw = self._read_body()
        if path.startswith("/__sim/") or path == "/__sim":
            self._control(path, raw)
            return
        self._rl_headers: dict[str, str] = {}
        if self._apply_fault(sim, path):
            return
        try:
            if sim.flavor == Flavor.SALESBOY:
                self._salesboy(sim, path, query, raw)
            else:
                self._pulse(sim, path)
        except _Reply as r:
            body = r.body if isinstance(r.body, bytes) else json.dumps(r.body, separators=(",", ":")).encode()
            self._send(r.status, body, r.ctype, self._rl_headers)

    # --- faults -----------------------------------------------------------------------

    def _apply_fault(self, sim: GatewaySim, path: str) -> bool:
        fault = sim.fault
        if fault == Fault.NONE:
            return False
        if fault == Fault.DOWN:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            sim._record(self.command, self.path, 0)
            return True
        if fault == Fault.SLOW:
            sim._stop_event.wait(sim.slow_s)
            return False
        if fault == Fault.ERROR_500:
            self._json(500, {"error": "Internal server error"})
        elif fault == Fault.UNAUTHORIZED:
            self._json(401, {"error": "Unauthorized"})
        elif fault == Fault.RATE_LIMITED:
            now = time.time()
            self._send(429, TOO_MANY.encode(), HTML_CT, {
                "X-RateLimit-Limit": str(sim.limiter.limit),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(math.ceil(now + sim.fault_retry_after_s)),
                "Retry-After": str(sim.fault_retry_after_s),
            })
        elif fault == Fault.GARBAGE:
            self._send(200, b"<html><body>Bad gateway? {\"exists\": tr", HTML_CT)
        elif fault == Fault.SHAPE:
            self._json(200, ["exists", True, "ready", "maybe"])
        elif fault == Fault.DEEP:
            self._send(200, b"[" * 100_000, JSON_CT)
        elif fault == Fault.DRIP:
            self._drip(sim)
        elif fault == Fault.LYING:
            return False  # answered normally; `_send` adds the lying headers
        return True

    def _drip(self, sim: GatewaySim) -> None:
        sim._record(self.command, self.path, 200)
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", JSON_CT)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        with contextlib.suppress(OSError):
            while not sim._stop_event.wait(0.5):
                self.wfile.write(b"1\r\n \r\n")
                self.wfile.flush()

    # --- Salesboy ----------------------------------------------------------------------

    def _salesboy(self, sim: GatewaySim, path: str, query: dict[str, list[str]], raw: bytes) -> None:
        body: Any = {}
        if raw and "json" in (self.headers.get("Content-Type") or "").lower():
            # express.json() runs first; its parse error reaches the app's error handler.
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            if not isinstance(body, dict | list):
                raise _Reply(500, {"error": "Internal server error"})
        if sim.api_key is not None and self.headers.get("x-api-key") != sim.api_key:
            raise _Reply(401, {"error": "Unauthorized"})
        now = time.time()
        hit = sim.limiter.hit(self.client_address[0])
        self._rl_headers = hit.headers(now)
        if hit.over:
            raise _Reply(429, TOO_MANY.encode(), HTML_CT)
        method = self.command
        parts = path.split("/")[1:]
        low = [p.lower() for p in parts]
        if method == "GET" and low == ["health"]:
            raise _Reply(200, {"status": "ok", "timestamp": iso_now()})
        if method == "POST" and low in (["session", "start"], ["session", "stop"]):
            self._start_stop(sim, low[1], body if isinstance(body, dict) else {})
        if method == "GET" and low[:2] == ["session", "status"] and len(parts) <= 3:
            uid = parts[2] if len(parts) == 3 else (query.get("user_id") or [""])[0]
            self._status(sim, uid)
        if method == "GET" and low[:2] == ["session", "qr"] and len(parts) == 3:
            self._sse(sim, parts[2])
            return
        page = (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n</head>\n'
            f"<body>\n<pre>Cannot {html.escape(method)} {html.escape(path)}</pre>\n</body>\n</html>\n"
        )
        self._rl_headers["Content-Security-Policy"] = "default-src 'none'"
        raise _Reply(404, page.encode(), HTML_CT)

    def _start_stop(self, sim: GatewaySim, action: str, body: dict[str, Any]) -> None:
        raw_id = body.get("userId")
        uid = raw_id if isinstance(raw_id, str) else (str(raw_id) if raw_id else "")
        err = salesboy_id_error(uid)
        if err:
            raise _Reply(400, {"error": err})
        if action == "stop":
            if sim.engine.stop(uid):
                raise _Reply(200, {"success": True, "message": "Session stopped"})
            raise _Reply(200, {"success": False, "message": "Session not found"})
        client, message = sim.engine.start(uid)
        if client is None:
            raise _Reply(200, {"success": True, "message": message})
        # The real route answers only once the browser is up (client.initialize()).
        error = sim.engine.wait_started(client, timeout=sim.engine.timing.start_delay_s + 30)
        if error is not None:
            raise _Reply(200, {"success": False, "message": error})
        raise _Reply(200, {"success": True, "message": "Session initialized"})

    def _status(self, sim: GatewaySim, uid: str) -> None:
        if not uid:
            raise _Reply(400, {"error": "userId parameter is required"})
        err = salesboy_id_error(uid)
        if err:
            raise _Reply(400, {"error": err})
        c = sim.engine.client(uid)
        if c is None:
            raise _Reply(200, {"exists": False, "ready": False, "qr": None})
        raise _Reply(200, {"exists": True, "ready": c.phase == Phase.READY, "qr": c.qr})

    def _sse(self, sim: GatewaySim, uid: str) -> None:
        if not is_uuid(uid):
            raise _Reply(400, b"", None)
        sim._record(self.command, self.path, 200)
        self.send_response(200)
        for k, v in self._rl_headers.items():
            self.send_header(k, v)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "keep-alive")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.close_connection = True
        # Like the real route, the listener belongs to the client running now: none -> silent forever.
        client = sim.engine.client(uid)
        seen = 0
        try:
            if client is not None:
                seen = client.version
                if client.qr is not None and client.phase == Phase.QR:
                    self._event({"qr": client.qr})
            while not sim._stop_event.is_set() and not self._peer_closed():
                if client is None:
                    sim._stop_event.wait(SSE_POLL_S)
                    continue
                got = sim.engine.wait_qr(client, seen, SSE_POLL_S)
                if got is not None:
                    seen, png = got
                    self._event({"qr": png})
                elif client.version != seen:
                    seen = client.version
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass

    def _event(self, obj: dict[str, Any]) -> None:
        data = f"data: {json.dumps(obj, separators=(',', ':'))}\n\n".encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _peer_closed(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    # --- Pulse -----------------------------------------------------------------------------

    def _pulse(self, sim: GatewaySim, path: str) -> None:
        method = self.command
        parts = path.split("/")[1:]
        low = [p.lower() for p in parts]
        eng = sim.engine
        if method == "GET" and low == ["health"]:
            raise _Reply(200, {"status": "ok", "timestamp": iso_now(), "service": "pulse"})
        if low[:1] == ["whatsapp-web"]:
            rest = low[1:]
            if method == "GET" and rest == ["health"]:
                ready = any(c.phase == Phase.READY for c in self._pulse_clients(sim).values())
                raise _Reply(200, {"status": "ok", "service": "Pulse WhatsApp Web.js Prototype",
                                   "timestamp": iso_now(), "ready": ready})
            if method == "GET" and rest == ["status"]:
                inst = [self._instance(sim, p) for p in sorted(eng.known)]
                n_ready = sum(1 for i in inst if i["connected"])
                raise _Reply(200, {"status": "connected" if n_ready else "disconnected", "ready": n_ready > 0,
                                   "instances": inst, "metrics": {"total": len(inst), "ready": n_ready},
                                   "service": PULSE_SERVICE})
            if method == "GET" and rest == ["qr"]:
                self._pulse_all_qr(sim)
            if len(rest) == 3 and rest[0] == "instances":
                self._pulse_instance(sim, method, parts[2], rest[2])
        raise _Reply(404, {"message": f"Cannot {method} {path}", "error": "Not Found", "statusCode": 404})

    @staticmethod
    def _pulse_clients(sim: GatewaySim) -> dict[str, Any]:
        return {p: c for p in sorted(sim.engine.known) if (c := sim.engine.client(p)) is not None}

    @staticmethod
    def _instance(sim: GatewaySim, phone: str) -> dict[str, Any]:
        c = sim.engine.client(phone) if phone in sim.engine.known else None
        out: dict[str, Any] = {"phoneNumber": phone, "connected": bool(c and c.phase == Phase.READY)}
        if c is not None and c.phase == Phase.READY:
            out |= {"number": phone_for(phone), "name": "Pulse"}
        return out

    @staticmethod
    def _qr_image_url(payload: str) -> str:
        # Pulse puts a third-party QR-image URL here; the sim's points at an unroutable fake host (and not
        # the payload) so a client that wrongly fetches it fails loudly instead of leaking anything.
        return f"https://qr-image.invalid/v1/create-qr-code/?size=300x300&len={len(payload)}"

    def _pulse_all_qr(self, sim: GatewaySim) -> None:
        items = []
        for p in sorted(sim.engine.known):
            c = sim.engine.client(p)
            items.append({"phoneNumber": p, "qrCode": (c.qr_payload or "") if c and c.phase == Phase.QR else None})
        pending = [i for i in items if i["qrCode"]]
        if not pending:
            raise _Reply(200, {"status": "all_authenticated", "message": "All WhatsApp instances are authenticated",
                               "instances": items})
        raise _Reply(200, {"status": "pending_authentication", "message": "Scan QR codes with WhatsApp",
                           "instances": [i | {"qrImageUrl": self._qr_image_url(i["qrCode"] or "")} for i in pending]})

    def _pulse_instance(self, sim: GatewaySim, method: str, phone: str, op: str) -> None:
        eng = sim.engine
        if method == "GET" and op == "status":
            raise _Reply(200, self._instance(sim, phone))
        if method == "GET" and op == "qr":
            c = eng.client(phone) if phone in eng.known else None
            if c is None or c.phase != Phase.QR or c.qr_payload is None:
                # Pulse says this whenever it has no code, even for an instance that is not running.
                raise _Reply(200, {"status": "already_authenticated",
                                   "message": "WhatsApp instance is already authenticated", "phoneNumber": phone})
            raise _Reply(200, {"status": "pending_authentication", "phoneNumber": phone, "qrCode": c.qr_payload,
                               "qrImageUrl": self._qr_image_url(c.qr_payload),
                               "message": "Scan this QR code with WhatsApp"})
        if method == "POST" and op == "restart":
            client = eng.restart_instance(phone) if PHONE_RE.match(phone) else None
            if client is None:
                raise _Reply(200, {"status": "error", "message": "Failed to restart instance"})
            error = eng.wait_started(client, timeout=eng.timing.start_delay_s + 30)
            if error is not None:
                raise _Reply(200, {"status": "error", "message": "Failed to restart instance"})
            raise _Reply(200, {"status": "success", "message": f"Instance {phone} restarted successfully"})
        if method == "POST" and op == "logout":
            if eng.logout_instance(phone):
                raise _Reply(200, {"status": "success", "message": f"Instance {phone} logged out successfully"})
            raise _Reply(200, {"status": "error", "message": "Failed to logout instance"})
        if method == "DELETE" and op == "session":
            if eng.clear_instance(phone):
                raise _Reply(200, {"status": "success", "message": f"Session cleared for instance {phone}"})
            raise _Reply(200, {"status": "error", "message": "Failed to clear session"})

    # --- control -------------------------------------------------------------------------

    def _control(self, path: str, raw: bytes) -> None:
        sim = self.server.sim
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._json(400, {"ok": False, "error": "body must be a JSON object"})
            return
        parts = path.split("/")[2:]
        op, arg = parts[0] if parts else "", "/".join(parts[1:])
        actions: dict[str, Callable[[], Any]] = {
            "state": sim.state,
            "fault": lambda: sim.set_fault(body.get("fault", "none"), slow_s=body.get("slow_s"),
                                           retry_after_s=body.get("retry_after_s")),
            "scan": lambda: sim.scan(arg),
            "disconnect": lambda: sim.disconnect(arg, str(body.get("reason", "NAVIGATION"))),
            "auth_failure": lambda: sim.auth_failure(arg, str(body.get("message", "Unable to restore session"))),
            "reset_rate_limit": sim.reset_rate_limit,
            "fail_start": lambda: sim.fail_next_start(str(body.get("message", "Failed to launch the browser process!"))),
            "add_instance": lambda: sim.add_instance(arg),
            # From a handler thread the listener cannot be closed and reopened in place: do it just after.
            "restart": lambda: threading.Timer(0.05, sim.restart).start(),
        }
        fn = actions.get(op)
        if fn is None:
            self._json(404, {"ok": False, "error": f"unknown control {op!r}"})
            return
        try:
            result = fn()
        except ValueError as exc:
            self._json(400, {"ok": False, "error": str(exc)})
            return
        if result is False:
            self._json(404, {"ok": False, "error": f"no client for {arg}"})
        elif isinstance(result, dict):
            self._json(200, result)
        else:
            self._json(200, {"ok": True})
