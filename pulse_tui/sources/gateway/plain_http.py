"""An httpx transport for `http://` gateways: HTTP/1.1 over asyncio streams, parsed by h11.

httpx's default transport is httpcore, which imports anyio for its locks and sockets: ~50-70 ms of CPU at
start-up (issue 15: the TUI's first request waited for it), for a client that talks plain HTTP to one gateway,
mostly on loopback. This one keeps what the adapters use: keep-alive connections reused one request at a time,
streamed bodies (the QR stream's events), connect/read/write timeouts, and httpx's exception types, so
`HttpCaller` maps failures as before. `https://` gateways keep httpx's own transport (TLS, certificates).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import h11
import httpx

READ_CHUNK = 64 * 1024
MAX_IDLE = 8  # kept-alive connections per transport (one gateway): a poll asks at most a few at once


class Connection:
    """One TCP connection and its h11 state machine; carries one request at a time."""

    def __init__(self, origin: tuple[str, int], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.origin = origin
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.CLIENT)

    def reusable(self) -> bool:
        """Idle, and not closed by the server meanwhile (a keep-alive timeout shows as EOF on the reader)."""
        return (self.h11.our_state is h11.IDLE and not self.reader.at_eof()
                and not self.writer.is_closing())

    async def send(self, request: httpx.Request, body: bytes, timeout_s: float | None) -> None:
        """The request line, headers and body."""
        data = self.h11.send(h11.Request(method=request.method, target=request.url.raw_path,
                                         headers=request.headers.raw)) or b""
        if body:
            data += self.h11.send(h11.Data(data=body)) or b""
        data += self.h11.send(h11.EndOfMessage()) or b""
        self.writer.write(data)
        async with asyncio.timeout(timeout_s):
            await self.writer.drain()

    async def next_event(self, timeout_s: float | None) -> h11.Event:
        """The next parsed event of the response, reading from the socket as h11 needs."""
        while True:
            event = self.h11.next_event()
            if event is h11.PAUSED:  # bytes after a complete response, before our next request
                raise h11.RemoteProtocolError("data after the end of the response")
            if event is not h11.NEED_DATA:
                assert isinstance(event, h11.Event)
                return event
            async with asyncio.timeout(timeout_s):
                data = await self.reader.read(READ_CHUNK)
            self.h11.receive_data(data)  # b"": the server closed its side

    def finish(self) -> bool:
        """After a complete exchange: ready for the next request (True), or not reusable (False)."""
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
            return True
        return False

    def close(self) -> None:
        self.writer.close()


class ResponseBody(httpx.AsyncByteStream):
    """A response's body as it arrives; the connection goes back to the pool once the body has been read to its
    end, and is closed if the reader stops before."""

    def __init__(self, transport: PlainHttpTransport, conn: Connection, request: httpx.Request,
                 timeout_s: float | None) -> None:
        self.transport = transport
        self.conn = conn
        self.request = request
        self.timeout_s = timeout_s
        self.done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while not self.done:
            async with mapped_errors(self.request, read=True):  # not around the yield: the consumer's own errors
                event = await self.conn.next_event(self.timeout_s)
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self.done = True
                self.transport.release(self.conn)
            elif isinstance(event, h11.ConnectionClosed):
                raise httpx.RemoteProtocolError("the server closed the connection mid-body", request=self.request)

    async def aclose(self) -> None:
        if not self.done:
            self.done = True
            self.conn.close()  # unread bytes would be taken for the next answer


@asynccontextmanager
async def mapped_errors(request: httpx.Request, *, read: bool) -> AsyncIterator[None]:
    """Socket, timeout and protocol errors as httpx's own exception types (what HttpCaller maps to failures)."""
    try:
        yield
    except TimeoutError as exc:
        if read:
            raise httpx.ReadTimeout("timed out", request=request) from exc
        raise httpx.WriteTimeout("timed out", request=request) from exc
    except h11.RemoteProtocolError as exc:
        raise httpx.RemoteProtocolError(str(exc), request=request) from exc
    except h11.LocalProtocolError as exc:
        raise httpx.LocalProtocolError(str(exc), request=request) from exc
    except OSError as exc:
        if read:
            raise httpx.ReadError(type(exc).__name__, request=request) from exc
        raise httpx.WriteError(type(exc).__name__, request=request) from exc


class PlainHttpTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 without TLS: a new connection per concurrent request, idle ones kept for the next."""

    def __init__(self) -> None:
        self._idle: list[Connection] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != "http":
            raise httpx.UnsupportedProtocol(f"{request.url.scheme!r}: this transport speaks plain HTTP only",
                                            request=request)
        timeouts = request.extensions.get("timeout", {})
        origin = (request.url.host, request.url.port or 80)
        body = await request.aread()
        conn = self._take(origin) or await self._connect(origin, request, timeouts.get("connect"))
        try:
            async with mapped_errors(request, read=False):
                await conn.send(request, body, timeouts.get("write"))
            async with mapped_errors(request, read=True):
                event = await conn.next_event(timeouts.get("read"))
                while isinstance(event, h11.InformationalResponse):  # 100 Continue and the like
                    event = await conn.next_event(timeouts.get("read"))
        except BaseException:
            conn.close()
            raise
        if not isinstance(event, h11.Response):
            conn.close()
            raise httpx.RemoteProtocolError("the server closed the connection without answering", request=request)
        return httpx.Response(event.status_code, headers=event.headers.raw_items(),
                              stream=ResponseBody(self, conn, request, timeouts.get("read")),
                              extensions={"http_version": b"HTTP/1.1", "reason_phrase": event.reason})

    def _take(self, origin: tuple[str, int]) -> Connection | None:
        while self._idle:
            conn = self._idle.pop()
            if conn.origin == origin and conn.reusable():
                return conn
            conn.close()
        return None

    async def _connect(self, origin: tuple[str, int], request: httpx.Request, timeout_s: float | None) -> Connection:
        try:
            async with asyncio.timeout(timeout_s):
                reader, writer = await asyncio.open_connection(*origin)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout("timed out connecting", request=request) from exc
        except OSError as exc:
            raise httpx.ConnectError(f"{type(exc).__name__}", request=request) from exc
        return Connection(origin, reader, writer)

    def release(self, conn: Connection) -> None:
        """A connection whose exchange is complete: kept for the next request when it may carry one."""
        if conn.finish() and len(self._idle) < MAX_IDLE:
            self._idle.append(conn)
        else:
            conn.close()

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
