"""An aiohttp app on loopback in a daemon thread with its own event loop, for the WAHA/Evolution simulators.

Their event channels (a websocket, socket.io) live on the same port as the REST API, as on the real servers,
which the stdlib server of `sim/gateway.py` cannot do. State is touched only on the loop thread: the test-side
methods go through `call()`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from aiohttp import web

from pulse_tui.sim.gateway import Fault
from pulse_tui.url_host import url_host

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LOOPBACK = ("127.0.0.1", "::1", "localhost")


class AioSim:
    """`start()` -> base URL, `stop()`, or a context manager. Subclasses build the app and own the state."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if host not in LOOPBACK:
            raise ValueError("the simulator only listens on loopback (127.0.0.1 or ::1)")
        self.host = host
        self.port = port
        self.fault = Fault.NONE
        self.slow_s = 10.0
        self.seen: list[tuple[str, str, int]] = []  # (method, path, status) of every answer
        self.statuses: Counter[int] = Counter()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        logging.getLogger("aiohttp").setLevel(logging.CRITICAL)  # a closed peer is a test scenario, not news

    # --- process -------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{url_host(self.host)}:{self.port}"

    @property
    def running(self) -> bool:
        return self._runner is not None

    def start(self) -> str:
        if self._runner is not None:
            return self.url
        loop = asyncio.new_event_loop()
        self.loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name=f"{type(self).__name__}", daemon=True)
        self._thread.start()
        self.run(self._serve())
        return self.url

    async def _serve(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        self.build(app)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        await site.start()
        server: Any = site._server  # aiohttp has no public accessor for the bound port
        if self.port == 0 and server is not None and getattr(server, "sockets", None):
            self.port = int(server.sockets[0].getsockname()[1])
        self._runner = runner
        await self.on_start()

    def stop(self) -> None:
        """Close every connection and the port (a later `start()` reopens the same port)."""
        loop = self.loop
        if loop is None:
            return
        if self._runner is not None:
            self.run(self._shutdown())
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)
        loop.close()
        self.loop = None
        self._thread = None

    async def _shutdown(self) -> None:
        await self.on_stop()
        for task in list(self._tasks):
            task.cancel()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in rest:  # engine.io pings and the like: closed with the loop, not left pending
            task.cancel()
        await asyncio.gather(*rest, return_exceptions=True)

    def __enter__(self) -> AioSim:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- thread-safe access ----------------------------------------------------------

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run `coro` on the simulator's loop and wait for its result."""
        assert self.loop is not None, "simulator not started"
        fut: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return fut.result(timeout)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Call `fn(*args)` on the loop thread (where the state lives) and return its result."""
        async def wrap() -> T:
            return fn(*args)
        return self.run(wrap())

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """A background task of the simulator (cancelled on stop). Call on the loop thread."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def set_fault(self, fault: Fault | str, *, slow_s: float | None = None) -> None:
        self.fault = Fault(fault)
        if slow_s is not None:
            self.slow_s = slow_s

    # --- hooks -------------------------------------------------------------------------

    def build(self, app: web.Application) -> None:
        raise NotImplementedError

    async def on_start(self) -> None:
        """Runs on the loop once the port is open."""

    async def on_stop(self) -> None:
        """Runs on the loop before the port closes (close event clients here)."""

    def fault_exempt(self, request: web.Request) -> bool:
        """Paths the fault switches leave alone (e.g. the event channel)."""
        return False

    def fault_body(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        """The answer for a fault switch (500, 401, garbage, shape); subclasses give their envelopes."""
        if fault == Fault.GARBAGE:
            return web.Response(status=200, text="<html><body>Bad gateway</body></html>", content_type="text/html")
        if fault == Fault.SHAPE:
            return web.json_response({"unexpected": [1, 2, 3]})
        if fault == Fault.RATE_LIMITED:
            return web.json_response({"message": "Too Many Requests"}, status=429, headers={"Retry-After": "30"})
        code = 401 if fault == Fault.UNAUTHORIZED else 500
        return web.json_response({"statusCode": code, "message": "Unauthorized" if code == 401 else "boom"},
                                 status=code)

    # --- plumbing ------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        fault = self.fault
        if fault != Fault.NONE and not self.fault_exempt(request):
            if fault == Fault.DOWN:
                if request.transport is not None:
                    request.transport.abort()
                raise asyncio.CancelledError  # nothing is answered on a dropped connection
            if fault == Fault.SLOW:
                await asyncio.sleep(self.slow_s)
            else:
                return self._record(request, self.fault_body(request, fault))
        try:
            resp = await handler(request)
        except web.HTTPException as exc:
            resp = exc
        return self._record(request, resp)

    def _record(self, request: web.Request, resp: web.StreamResponse) -> web.StreamResponse:
        self.seen.append((request.method, request.path, resp.status))
        self.statuses[resp.status] += 1
        return resp


def json_reply(obj: Any, status: int = 200) -> web.Response:
    """JSON as a NestJS/Express server writes it (compact, utf-8)."""
    return web.Response(status=status, text=json.dumps(obj, separators=(",", ":")),
                        content_type="application/json", charset="utf-8")
