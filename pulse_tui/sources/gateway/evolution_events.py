"""Evolution's socket.io events (`WEBSOCKET_ENABLED`) as typed `SessionEvent`s, with python-socketio's client.

Evolution emits each instance's events in namespace `/<instance>` (or `/` with `WEBSOCKET_GLOBAL_EVENTS`). A
namespace exists only from Evolution's first emit for it, so each instance gets its own client and a refused
namespace ("Invalid namespace") only keeps that instance on polling. The payload's `apikey` (an instance token)
is dropped on arrival.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import socketio

from pulse_tui.clock import Clock, SystemClock
from pulse_tui.events import ChannelState, ChannelStatus, EventKind, SessionEvent
from pulse_tui.sources.gateway.base import display_url
from pulse_tui.sources.gateway.channel import Backoff, StatusKeeper
from pulse_tui.sources.gateway.evolution import STATES, reason_text

GLOBAL = "/"


def _at(obj: dict[str, Any], now: float) -> float:
    raw = obj.get("date_time")
    if isinstance(raw, str):
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    return now


def _code(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_evolution_event(event: str, body: Any, now: float) -> SessionEvent | None:
    """One socket.io event (name + webhook envelope) -> a SessionEvent; None for events we do not follow."""
    if not isinstance(body, dict):
        return None
    instance, data = body.get("instance"), body.get("data")
    if not isinstance(instance, str) or not instance:
        return None
    at = _at(body, now)
    if event == "connection.update" and isinstance(data, dict) and isinstance(data.get("state"), str):
        word, code = str(data["state"]), _code(data.get("statusReason"))
        state = STATES.get(word)
        kind = EventKind.QR_LIMIT if word == "refused" else EventKind.STATE
        detail = reason_text(code) if code not in (None, 200) else ""
        return SessionEvent(instance, kind, at, detail, f"connection.update {word}", state, code)
    if event == "qrcode.updated" and isinstance(data, dict):
        if isinstance(data.get("qrcode"), dict):
            return SessionEvent(instance, EventKind.QR, at, "new QR code", "qrcode.updated")
        msg = data.get("message")
        return SessionEvent(instance, EventKind.QR_LIMIT, at,
                            "QR code limit reached (QRCODE_LIMIT): a new start is needed" if msg else "",
                            "qrcode.updated")
    if event == "status.instance" and isinstance(data, dict):
        code = _code(data.get("disconnectionReasonCode"))
        kind = EventKind.LOGGED_OUT if code == 401 else EventKind.STATE
        return SessionEvent(instance, kind, at, reason_text(code), f"status.instance {data.get('status')}",
                            None, code)
    if event == "logout.instance":
        return SessionEvent(instance, EventKind.LOGGED_OUT, at, "logged out", event, None, 401)
    if event == "instance.create":
        return SessionEvent(instance, EventKind.CREATED, at, "", event)
    if event in ("instance.delete", "remove.instance"):
        return SessionEvent(instance, EventKind.DELETED, at, "", event)
    return None


class EvolutionEvents:
    """One socket.io client per instance namespace (or one on `/`), merged into one event stream."""

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        instances: Iterable[str] = (),
        *,
        global_events: bool = False,
        clock: Clock | None = None,
        backoff: Backoff | None = None,
        wait_timeout_s: float = 3.0,
        missing_retry_s: float = 2.0,
    ) -> None:
        self.clock = clock or SystemClock()
        self._url = url.rstrip("/")
        self._shown = display_url(url)
        self._api_key = api_key
        self.global_events = global_events
        self.wait_timeout_s = wait_timeout_s
        self.missing_retry_s = missing_retry_s
        self._backoff = backoff or Backoff()
        self._queue: asyncio.Queue[SessionEvent] = asyncio.Queue()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._keepers: dict[str, StatusKeeper] = {}
        self._names: set[str] = set() if global_events else set(instances)
        self._keeper = StatusKeeper(self.clock)
        self._running = False  # events() is being iterated: new names connect at once
        self._missing: set[str] = set()  # namespaces the server said do not exist yet
        self.skipped = 0

    @property
    def status(self) -> ChannelStatus:
        """Connected when every namespace is; else connecting/down with the first reason."""
        keepers = list(self._keepers.values())
        if not keepers:
            return self._keeper.status
        events = sum(k.status.events for k in keepers)
        reconnects = sum(k.status.reconnects for k in keepers)
        # An instance without a namespace yet (no event since Evolution started) is polled, not a channel failure.
        uncovered = frozenset(ns.removeprefix("/") for ns in self._missing if ns in self._keepers)
        live = {ns: k for ns, k in self._keepers.items() if ns not in self._missing}
        if not live:
            return ChannelStatus(ChannelState.CONNECTING, f"no instance has a socket.io namespace yet ({len(uncovered)} "
                                 "polled)", min(k.status.since for k in keepers), events, reconnects, uncovered)
        for state in (ChannelState.DOWN, ChannelState.CONNECTING):
            bad = [(ns, k.status) for ns, k in live.items() if k.status.state == state]
            if bad:
                ns, st = bad[0]
                more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
                return ChannelStatus(state, f"{ns}: {st.reason}{more}", st.since, events, reconnects, uncovered)
        return ChannelStatus(ChannelState.CONNECTED, "", min(k.status.since for k in live.values()), events,
                             reconnects, uncovered)

    def namespace_status(self, instance: str) -> ChannelStatus | None:
        keeper = self._keepers.get(GLOBAL if self.global_events else f"/{instance}")
        return keeper.status if keeper else None

    def watch(self, instances: Iterable[str]) -> None:
        """Follow exactly these instances from now on (new namespaces connect, gone ones close)."""
        if self.global_events:
            return
        self._names = set(instances)
        if self._running:  # else events() connects them when it starts
            self._sync()

    def _sync(self) -> None:
        wanted = {GLOBAL} if self.global_events else {f"/{n}" for n in self._names}
        for ns in list(self._tasks):
            if ns not in wanted:
                self._tasks.pop(ns).cancel()
                self._keepers.pop(ns, None)
                self._missing.discard(ns)
        for ns in sorted(wanted - set(self._tasks)):
            self._keepers[ns] = StatusKeeper(self.clock)
            self._tasks[ns] = asyncio.get_running_loop().create_task(self._follow(ns))

    async def events(self) -> AsyncIterator[SessionEvent]:
        """Every event of the watched instances until the consumer stops iterating."""
        self._keeper.set(ChannelState.CONNECTING, "no instance to follow yet")
        self._running = True
        self._sync()
        try:
            while True:
                yield await self._queue.get()
        finally:
            self._running = False
            for task in self._tasks.values():
                task.cancel()
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
            self._tasks.clear()

    async def _follow(self, ns: str) -> None:
        keeper = self._keepers[ns]
        backoff = Backoff(self._backoff.initial_s, self._backoff.max_s)
        while True:
            keeper.set(ChannelState.CONNECTING, f"connecting to {self._shown} {ns}")
            reason, missing = await self._one_client(ns, keeper, backoff)
            keeper.set(ChannelState.DOWN, reason)
            if missing:
                self._missing.add(ns)
            else:
                self._missing.discard(ns)
            # A namespace that does not exist yet appears at the instance's first event: retry it briskly.
            await asyncio.sleep(self.missing_retry_s if missing else backoff.next())

    async def _one_client(self, ns: str, keeper: StatusKeeper, backoff: Backoff) -> tuple[str, bool]:
        """One connection until it drops: (why it ended, whether the namespace did not exist)."""
        sio = socketio.AsyncClient(reconnection=False, logger=False, engineio_logger=False)
        gone = asyncio.Event()

        async def on_event(event: str, data: Any = None) -> None:
            ev = parse_evolution_event(event, data, self.clock.now())
            if ev is None:
                self.skipped += 1
                return
            keeper.counted()
            await self._queue.put(ev)

        async def on_disconnect(*_: Any) -> None:
            gone.set()

        refusals: list[str] = []

        async def on_connect_error(data: Any = None) -> None:
            msg = data.get("message") if isinstance(data, dict) else data
            refusals.append(str(msg)[:80] if msg is not None else "")

        sio.on("*", on_event, namespace=ns)
        sio.on("disconnect", on_disconnect, namespace=ns)
        sio.on("connect_error", on_connect_error, namespace=ns)
        query = f"?{urlencode({'apikey': self._api_key})}" if self._api_key else ""
        headers = {"apikey": self._api_key} if self._api_key else {}
        try:
            await sio.connect(self._url + query, headers=headers, namespaces=[ns], transports=["websocket"],
                              wait_timeout=self.wait_timeout_s)
        except socketio.exceptions.ConnectionError as exc:
            await _quiet_disconnect(sio)
            return _refusal(" ".join(refusals) or " ".join(str(a) for a in exc.args), ns)
        except (OSError, ValueError) as exc:
            await _quiet_disconnect(sio)
            return f"cannot connect to {self._shown} ({type(exc).__name__})", False
        keeper.set(ChannelState.CONNECTED)
        self._missing.discard(ns)
        backoff.reset()
        try:
            await gone.wait()
        finally:
            await _quiet_disconnect(sio)
        return "Evolution closed the socket.io connection", False


def _refusal(said: str, ns: str) -> tuple[str, bool]:
    """Why the server refused the namespace (from its connect_error), and whether it just does not exist yet."""
    text = said.lower()
    if "unauthorized" in text:
        return "Evolution rejected our API key on socket.io", False
    if "namespace" in text or "unable to connect" in text:
        return f"namespace {ns} does not exist yet (Evolution creates it at the instance's first event)", True
    return "socket.io connection failed (is WEBSOCKET_ENABLED=true on the server?)", False


async def _quiet_disconnect(sio: socketio.AsyncClient) -> None:
    with contextlib.suppress(Exception):  # closing a half-open client must never blind the other namespaces
        await sio.disconnect()
