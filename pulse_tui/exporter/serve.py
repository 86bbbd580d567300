"""The headless loop: poll through the monitor on its own schedule, follow the logs, serve the last snapshot.

The HTTP server (prometheus_client's WSGI app in a thread) only ever reads the collector's last rendering,
so a slow gateway or Redis makes a scrape older, never slower.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import ipaddress
import socket
import ssl
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TextIO
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.exposition import ThreadingWSGIServer

from pulse_tui.clock import Clock, SystemClock
from pulse_tui.exporter.metrics import SnapshotCollector
from pulse_tui.model import Snapshot
from pulse_tui.sources.logs.line import LogLine
from pulse_tui.url_host import url_host

POLL_TIMEOUT_MIN_S = 60.0  # a poll longer than this is abandoned (sources have their own, shorter deadlines)
RENDER_EVERY_S = 1.0  # a busy log moves sessions many times a second: render the text at most once a second

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class ListenError(ValueError):
    """A `--listen` value that cannot be served."""


@dataclass(frozen=True)
class Listen:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{url_host(self.host)}:{self.port}"


def parse_listen(text: str) -> Listen:
    """`127.0.0.1:9464`, `[::1]:9464` or `:9464` (loopback); raises ListenError with one sentence."""
    raw = text.strip()
    host, sep, port_text = raw.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ListenError(f"--listen {raw!r}: expected HOST:PORT, e.g. 127.0.0.1:9464")
    host = host.strip("[]") or "127.0.0.1"
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ListenError(f"--listen {raw!r}: {host!r} is not an IP address") from None
    return Listen(host, int(port_text))


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        """Scrapes every few seconds would flood stderr: log nothing per request."""


class Exposition:
    """The text of the last snapshot, rendered once per change (plain and gzip) and served as is to every scrape.

    prometheus_client renders 1,000 sessions (11,000 samples, 1 MB) in ~0.25 s and gzips them in ~0.15 s more:
    doing that per scrape would make each scrape slow; once per snapshot, a scrape only sends bytes.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._body: tuple[bytes, bytes] = (b"", b"")
        self.renders = 0

    def refresh(self) -> None:
        """Render the registry now (from the poll loop, in a worker thread)."""
        text = generate_latest(self.registry)
        self._body = (text, gzip.compress(text, compresslevel=1))  # one assignment: never half of each
        self.renders += 1

    def body(self, *, gzipped: bool) -> bytes:
        if not self.renders:
            self.refresh()
        return self._body[1 if gzipped else 0]


def make_app(exposition: Exposition, healthy: Callable[[], tuple[bool, str]]) -> WsgiApp:
    """`/metrics` (the last rendering), `/healthz` (200 while polls keep landing, else 503), else 404."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD")])
            return [b""]
        if path == "/metrics":
            gzipped = "gzip" in environ.get("HTTP_ACCEPT_ENCODING", "")
            headers = [("Content-Type", CONTENT_TYPE_LATEST)]
            if gzipped:
                headers.append(("Content-Encoding", "gzip"))
            start_response("200 OK", headers)
            return [exposition.body(gzipped=gzipped)]
        if path == "/healthz":
            ok, why = healthy()
            start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain")])
            return [why.encode() + b"\n"]
        if path == "/":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"pulse-tui exporter: /metrics, /healthz\n"]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: try /metrics\n"]

    return app


class HttpServer:
    """A threaded WSGI server on one address, TLS when a certificate is given (stdlib ssl, no crypto here)."""

    def __init__(self, listen: Listen, app: WsgiApp, *, certfile: str | None = None,
                 keyfile: str | None = None) -> None:
        family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET

        class Server(ThreadingWSGIServer):
            address_family = family

        try:
            self.httpd = make_server(listen.host, listen.port, app, Server, handler_class=_QuietHandler)
        except OSError as exc:
            raise ListenError(f"--listen {listen.host}:{listen.port}: {exc.strerror or exc}") from None
        if certfile:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            try:
                ctx.load_cert_chain(certfile, keyfile)
            except (OSError, ssl.SSLError) as exc:
                self.httpd.server_close()
                raise ListenError(f"--tls-cert {certfile} / --tls-key {keyfile}: {exc.strerror or exc}") from None
            # The handshake waits for the first read, in the request's own thread: a client that connects and
            # says nothing must not hold the accept loop (and every other scrape) hostage.
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True, do_handshake_on_connect=False)
        host, port = self.httpd.server_address[:2]
        self.listen = Listen(str(host), int(port))
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="exporter-http", daemon=True)

    def start(self) -> HttpServer:
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release the port."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)


class PollingMonitor(Protocol):
    """The engine as the exporter uses it (`pulse_tui.monitor.engine.Engine`)."""

    async def poll(self, *, full: bool = False) -> Snapshot: ...
    def take_lines(self, lines: list[LogLine]) -> bool: ...
    def current(self) -> Snapshot: ...


class LineFeed(Protocol):
    def __aiter__(self) -> Any: ...


class PollHealth:
    """/healthz: healthy while polls keep finishing (a hung engine turns it red, a down gateway does not)."""

    def __init__(self, interval_s: float, clock: Clock | None = None) -> None:
        self.interval_s = interval_s
        self.clock = clock or SystemClock()
        self.last_poll_at: float | None = None  # monotonic, when the last poll finished
        self.last_error = ""

    def mark(self, error: str = "") -> None:
        self.last_poll_at, self.last_error = self.clock.monotonic(), error

    def __call__(self) -> tuple[bool, str]:
        if self.last_poll_at is None:
            return False, "no poll finished yet"
        age = self.clock.monotonic() - self.last_poll_at
        if age > 3 * self.interval_s + POLL_TIMEOUT_MIN_S:
            return False, f"last poll finished {age:.0f} s ago"
        return True, f"ok (last poll failed: {self.last_error})" if self.last_error else "ok"


class Exporter:
    """Polls every `interval_s`, feeds log events to the monitor, and hands each snapshot to the collector."""

    def __init__(
        self,
        monitor: PollingMonitor,
        collector: SnapshotCollector,
        exposition: Exposition,
        *,
        interval_s: float,
        logs: LineFeed | None = None,
        on_lines: Callable[[list[LogLine]], None] | None = None,
        health: PollHealth | None = None,
        err: TextIO | None = None,
        poll_timeout_s: float | None = None,
    ) -> None:
        self.monitor = monitor
        self.collector = collector
        self.exposition = exposition
        self.interval_s = interval_s
        self.logs = logs
        self.on_lines = on_lines
        self.health = health or PollHealth(interval_s)
        self.err = err if err is not None else sys.stderr
        self.polls = 0
        self.poll_timeout_s = poll_timeout_s or max(POLL_TIMEOUT_MIN_S, 10 * interval_s)
        self._changed: asyncio.Event | None = None

    def _update(self, snap: Snapshot | None = None) -> None:
        self.collector.update(snap)
        if self._changed is not None:
            self._changed.set()

    async def poll_once(self) -> None:
        """One poll; a failure of the poll as a whole is counted and the last snapshot stays served."""
        try:
            snap = await asyncio.wait_for(self.monitor.poll(), self.poll_timeout_s)
        except Exception as exc:  # noqa: BLE001 - one bad poll must never end the exporter
            error = type(exc).__name__
            self.collector.counters.poll_errors += 1
            self._update()
            print(f"pulse-tui exporter: poll failed ({type(exc).__name__}); serving the last snapshot",
                  file=self.err, flush=True)
        else:
            error = ""
            self._update(snap)
        self.polls += 1
        self.health.mark(error)

    async def follow_logs(self) -> None:
        """Each batch is counted; the engine applies its state lines (they move sessions without a request)."""
        if self.logs is None:
            return
        try:
            async for batch in self.logs:
                if self.on_lines is not None:
                    self.on_lines(batch)
                self.collector.counters.count_lines(batch)
                if self.monitor.take_lines(batch):
                    self._update(self.monitor.current())
                else:
                    self._update()
        except Exception as exc:  # noqa: BLE001 - the logs failing must not stop the polls
            print(f"pulse-tui exporter: log follower stopped ({type(exc).__name__}); polls go on",
                  file=self.err, flush=True)

    async def publish(self) -> None:
        """Render what changed: the families here (they read the counters), the text in a worker thread."""
        self.collector.render()
        await asyncio.to_thread(self.exposition.refresh)

    async def _publish_forever(self, changed: asyncio.Event) -> None:
        while True:
            await changed.wait()
            changed.clear()
            if self.collector.dirty:
                try:
                    await self.publish()
                except Exception as exc:  # noqa: BLE001 - keep serving the last good text, and say so once
                    print(f"pulse-tui exporter: rendering failed ({type(exc).__name__}); serving the last metrics",
                          file=self.err, flush=True)
            await asyncio.sleep(RENDER_EVERY_S)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll and follow until `stop` is set."""
        changed = asyncio.Event()
        self._changed = changed
        tasks = [asyncio.create_task(self._publish_forever(changed))]
        if self.logs is not None:
            tasks.append(asyncio.create_task(self.follow_logs()))
        try:
            while not stop.is_set():
                await self.poll_once()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.interval_s)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
