"""The plain HTTP/1.1 transport of http:// gateways, against raw-socket servers on 127.0.0.1: keep-alive reuse, a
connection the server closed meanwhile, streamed bodies, cut bodies, timeouts, request bodies."""

from __future__ import annotations

import asyncio
import json
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest

from pulse_tui.sources.gateway.plain_http import PlainHttpTransport
from tests.hostile_http import read_request

Handler = Callable[[socket.socket, "Server"], None]


class Server:
    """A threaded TCP server on 127.0.0.1 that runs `handler` for each connection; counts connections."""

    def __init__(self, handler: Handler) -> None:
        self.connections = 0
        self.release = threading.Event()  # a test's go-ahead to a handler that waits for it
        outer = self

        class Conn(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                outer.connections += 1
                handler(self.request, outer)

        self.tcp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Conn)
        self.tcp.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.tcp.server_address[1]}"
        threading.Thread(target=self.tcp.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.tcp.shutdown()
        self.tcp.server_close()


@contextmanager
def serving(handler: Handler) -> Iterator[Server]:
    server = Server(handler)
    try:
        yield server
    finally:
        server.close()


def answer(body: bytes, *extra: str) -> bytes:
    head = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", "Content-Type: application/json", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def keep_alive(sock: socket.socket, server: Server) -> None:
    while read_request(sock) is not None:
        sock.sendall(answer(b'{"ok":true}'))


def client(url: str, **timeouts: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, transport=PlainHttpTransport(), timeout=httpx.Timeout(2.0, **timeouts))


async def test_sequential_requests_share_one_kept_alive_connection() -> None:
    with serving(keep_alive) as server:
        async with client(server.url) as c:
            for _ in range(3):
                resp = await c.get("/session/status/x")
                assert resp.status_code == 200 and resp.json() == {"ok": True}
        assert server.connections == 1


async def test_concurrent_requests_each_get_a_connection() -> None:
    with serving(keep_alive) as server:
        async with client(server.url) as c:
            answers = await asyncio.gather(*(c.get(f"/s/{i}") for i in range(3)))
            assert [a.json() for a in answers] == [{"ok": True}] * 3
            assert (await c.get("/again")).status_code == 200  # on one of the idle ones
        assert server.connections == 3


async def test_a_connection_the_server_closed_is_not_reused() -> None:
    def once_then_close(sock: socket.socket, server: Server) -> None:
        if read_request(sock) is not None:
            sock.sendall(answer(b'{"n":1}'))  # keep-alive by default, then the server's idle timeout closes it

    with serving(once_then_close) as server:
        async with client(server.url) as c:
            assert (await c.get("/a")).json() == {"n": 1}
            await asyncio.sleep(0.2)  # the server has closed its side by now
            assert (await c.get("/b")).json() == {"n": 1}
        assert server.connections == 2


async def test_connection_close_answers_are_not_kept() -> None:
    def close_each(sock: socket.socket, server: Server) -> None:
        if read_request(sock) is not None:
            sock.sendall(answer(b"{}", "Connection: close"))

    with serving(close_each) as server:
        async with client(server.url) as c:
            for _ in range(2):
                assert (await c.get("/x")).status_code == 200
        assert server.connections == 2


async def test_a_request_body_arrives_whole_and_the_answer_streams_as_sent() -> None:
    got: list[bytes] = []

    def echo_then_stream(sock: socket.socket, server: Server) -> None:
        req = read_request(sock)
        assert req is not None
        got.append(req[1])
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        sock.sendall(b"a\r\ndata: one\n\r\n")
        server.release.wait(5)  # the second event only once the client has the first
        sock.sendall(b"a\r\ndata: two\n\r\n0\r\n\r\n")

    with serving(echo_then_stream) as server:
        async with client(server.url) as c, c.stream("POST", "/session/qr", json={"userId": "u1"}) as resp:
            chunks = resp.aiter_bytes()
            assert await anext(chunks) == b"data: one\n"
            server.release.set()
            assert b"".join([c async for c in chunks]) == b"data: two\n"
    assert json.loads(got[0]) == {"userId": "u1"}


async def test_a_cut_body_is_a_protocol_error_and_no_answer_is_one_too() -> None:
    def cut(sock: socket.socket, server: Server) -> None:
        if read_request(sock) is not None:
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"par")  # then closes

    def hang_up(sock: socket.socket, server: Server) -> None:
        read_request(sock)  # and closes without a word

    for handler in (cut, hang_up):
        with serving(handler) as server:
            async with client(server.url) as c:
                with pytest.raises(httpx.RemoteProtocolError):
                    await c.get("/x")


async def test_silence_is_a_read_timeout_and_a_closed_port_a_connect_error() -> None:
    def silent(sock: socket.socket, server: Server) -> None:
        read_request(sock)
        server.release.wait(5)

    with serving(silent) as server:
        async with client(server.url, read=0.2) as c:
            with pytest.raises(httpx.ReadTimeout):
                await c.get("/x")
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nobody listens there now
    async with client(f"http://127.0.0.1:{port}") as c:
        with pytest.raises(httpx.ConnectError):
            await c.get("/x")
