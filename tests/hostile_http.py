"""A misbehaving HTTP server on 127.0.0.1: the hostile gateway answers of issue 13, one mode at a time.

Raw sockets, so it can do what a well-behaved server library refuses to: drip a body a byte at a time,
never send headers, declare 64 MiB, send `[` x100000 or `1e309`, or lie in its rate-limit headers.
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# A body every route accepts as a well-formed answer: /health reads `status`, a status call the rest.
GOOD = b'{"status":"ok","timestamp":"2026-12-01T00:00:00Z","exists":false,"ready":false,"qr":null}'
JSON = "application/json; charset=utf-8"


@dataclass(frozen=True)
class Mode:
    """One hostile behaviour: what the server sends for every request."""

    name: str
    body: bytes | None = None  # a complete body sent with Content-Length (None: `send` does the work)
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    send: Callable[[socket.socket, threading.Event], None] | None = None


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _drip(sock: socket.socket, stop: threading.Event) -> None:
    sock.sendall(_head(200, {"Content-Type": JSON, "Transfer-Encoding": "chunked"}))
    while not stop.wait(0.5):
        sock.sendall(b"1\r\n \r\n")  # one byte (a space: still valid JSON so far) every 0.5 s, forever


def _endless(sock: socket.socket, stop: threading.Event) -> None:
    sock.sendall(_head(200, {"Content-Type": JSON, "Transfer-Encoding": "chunked"}))
    chunk = b"4000\r\n" + b" " * 0x4000 + b"\r\n"
    while not stop.is_set():
        sock.sendall(chunk)


def _huge(sock: socket.socket, stop: threading.Event) -> None:
    size = 64 * 1024 * 1024
    sock.sendall(_head(200, {"Content-Type": JSON, "Content-Length": str(size)}))
    sent = 0
    block = b" " * 65536
    while sent < size and not stop.is_set():
        sock.sendall(block)
        sent += len(block)


def _huge_undeclared(sock: socket.socket, stop: threading.Event) -> None:
    sock.sendall(_head(200, {"Content-Type": JSON, "Connection": "close"}))
    block = b" " * 65536
    for _ in range(1024):
        if stop.is_set():
            return
        sock.sendall(block)


def _sse_drip(sock: socket.socket, stop: threading.Event) -> None:
    sock.sendall(_head(200, {"Content-Type": "text/event-stream", "Transfer-Encoding": "chunked"}))
    sock.sendall(b"6\r\ndata: \r\n")
    while not stop.wait(0.5):
        sock.sendall(b"1\r\nx\r\n")  # an event that never ends, a byte at a time


def _silent(sock: socket.socket, stop: threading.Event) -> None:
    stop.wait(120)  # headers never sent


def _no_body(sock: socket.socket, stop: threading.Event) -> None:
    sock.sendall(_head(200, {"Content-Type": JSON, "Content-Length": "100"}))
    stop.wait(120)  # the body never comes


LYING_HEADERS = (
    ("RateLimit-Reset", "1e309"),
    ("RateLimit-Limit", "-1"),
    ("RateLimit-Remaining", "NaN"),
    ("X-RateLimit-Reset", "1e309"),
    ("X-RateLimit-Limit", "-1"),
    ("Retry-After", "soon, maybe \u00ff"),
)

MODES: dict[str, Mode] = {m.name: m for m in (
    Mode("good", GOOD),
    Mode("drip", send=_drip),
    Mode("endless", send=_endless),
    Mode("huge", send=_huge),
    Mode("huge-undeclared", send=_huge_undeclared),
    Mode("silent", send=_silent),
    Mode("sse-drip", send=_sse_drip),
    Mode("no-body", send=_no_body),
    Mode("deep", b"[" * 100_000),
    Mode("deep-object", b'{"a":' * 100_000),
    Mode("nan", b'{"status":"ok","exists":NaN,"ready":true,"qr":null,"timestamp":NaN}'),
    Mode("inf", b'{"status":"ok","exists":true,"ready":1e309,"qr":null,"timestamp":-Infinity}'),
    Mode("bigint", b'{"status":"ok","exists":true,"ready":true,"qr":null,"n":' + b"9" * 5000 + b"}"),
    Mode("shape", b'["exists",true,"ready","maybe"]'),
    Mode("wrong-types", b'{"status":["ok"],"exists":"yes","ready":1,"qr":5}'),
    Mode("not-utf8", b'{"status":"\xff\xfe"}'),
    Mode("lying-headers", GOOD, headers=LYING_HEADERS),
    Mode("lying-429", b"Too many requests", status=429,
         headers=(("Retry-After", "1e309"), ("X-RateLimit-Reset", "1e309"), ("X-RateLimit-Limit", "-1"))),
)}


@dataclass
class HostileServer:
    """`with HostileServer("drip") as srv: srv.url`; `srv.mode = "deep"` switches; `srv.requests` counts."""

    mode: str = "good"
    requests: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _server: socketserver.ThreadingTCPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> HostileServer:
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                outer.serve(self.request)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        srv.daemon_threads = True
        self._server = srv
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def serve(self, sock: socket.socket) -> None:
        """Answer every request on one connection the current mode's way."""
        sock.settimeout(5)
        buf = b""
        try:
            while not self._stop.is_set():
                request = read_request(sock, buf)
                if request is None:
                    return
                buf = request[2]  # what a pipelining client sent after it
                self.requests += 1
                mode = MODES[self.mode]
                if mode.send is not None:
                    mode.send(sock, self._stop)
                    return
                assert mode.body is not None
                headers = {"Content-Type": JSON if mode.status == 200 else "text/html",
                           "Content-Length": str(len(mode.body)), **dict(mode.headers)}
                sock.sendall(_head(mode.status, headers) + mode.body)
        except OSError:
            return  # the client gave up: that is the point of most modes


def read_request(sock: socket.socket, pending: bytes = b"") -> tuple[bytes, bytes, bytes] | None:
    """One request read off a connection: its head, its body (by Content-Length) and what the client sent after
    it (`pending` is what an earlier call left over); None when the client closed the connection first."""
    data = pending
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        body += chunk
    return head, body[:length], body[length:]


def wait_for(cond: Callable[[], bool], limit_s: float = 10.0) -> bool:
    """Poll `cond` until true or `limit_s` passes (for facts another thread establishes)."""
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return cond()
