"""The engine every front end reads: the monitor over its sources, with their event streams wired in.

Log lines and the gateway's event channel are inputs of the engine, not of a front end: the TUI, `status`,
`doctor` and the exporter see the same log-derived state because the engine applies it, not they.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import replace
from typing import Protocol

from pulse_tui.clock import Clock, SystemClock
from pulse_tui.events import ChannelState, ChannelStatus, SessionEvent
from pulse_tui.model import Snapshot
from pulse_tui.monitor.logbatch import LogBatch
from pulse_tui.sources.logs.events import SessionEvent as LogEvent
from pulse_tui.sources.logs.line import LogLine

STATUS_CHECK_S = 0.5  # how often the channel's own state (connected / down) is compared: an attribute read
# Channel events are applied at once; the snapshot front ends are told of is rebuilt at most this often, so a burst
# (a network blip dropping 100 sessions) costs one rebuild, not 100 (34 ms each with 1,000 sessions).
PUSH_EVERY_S = 0.05


class SnapshotSource(Protocol):
    """What a front end reads: the Engine, or canned snapshots in appearance tests."""

    async def poll(self, *, full: bool = False) -> Snapshot: ...
    def current(self) -> Snapshot: ...
    async def redis_settled(self) -> bool: ...
    def watch(self, session_id: str | None) -> None: ...
    def note_action(self, session_id: str, action: str, ok: bool) -> None: ...
    def add_session(self, session_id: str) -> None: ...
    def follow(self, feed: AsyncIterable[list[LogLine]]) -> AsyncIterator[LogBatch]: ...


class EventChannel(Protocol):
    """A gateway's push channel (WAHA's websocket, Evolution's socket.io)."""

    @property
    def status(self) -> ChannelStatus: ...
    def events(self) -> AsyncIterator[SessionEvent]: ...
    def watch(self, names: Iterable[str]) -> None:
        """Follow these sessions from now on (Evolution: one socket.io namespace each; WAHA: all at once)."""
        ...


class EngineMonitor(SnapshotSource, Protocol):
    """The part of `Monitor` the engine drives: what a front end reads, plus the inputs and closing."""

    def apply_events(self, events: list[SessionEvent], source: str = "log") -> int: ...
    def recent_events(self) -> tuple[SessionEvent, ...]: ...
    def take_lines(self, lines: list[LogLine]) -> bool: ...
    def take_log_events(self, events: Iterable[LogEvent]) -> bool: ...
    def set_channel(self, status: ChannelStatus | None) -> None: ...
    async def aclose(self) -> None: ...


class Engine:
    """Polls on request; applies log lines and channel events as they come; closes what it owns."""

    def __init__(
        self,
        monitor: EngineMonitor,
        *,
        channel: EventChannel | None = None,
        clock: Clock | None = None,
        closers: tuple[Callable[[], Awaitable[None]], ...] = (),
        on_change: Callable[[Snapshot], None] | None = None,
    ) -> None:
        self.monitor = monitor
        self.channel = channel
        self.clock = clock or SystemClock()
        self.on_change = on_change  # told of each snapshot a channel event produced (the TUI repaints)
        self._closers = closers
        self._channel_task: asyncio.Task[None] | None = None
        self._status_task: asyncio.Task[None] | None = None
        self._push: asyncio.TimerHandle | None = None  # a snapshot push waiting for the rest of a burst
        self._followed: frozenset[str] | None = None  # the session ids last handed to the channel's watch
        monitor.set_channel(channel.status if channel is not None else None)

    # --- what front ends read --------------------------------------------------------------------------------

    async def poll(self, *, full: bool = False) -> Snapshot:
        """One merged snapshot (starts the event channel on the first call, inside the caller's loop)."""
        self._start_channel()
        self._sync_channel()
        snap = await self.monitor.poll(full=full)
        self._follow_sessions(snap)
        return snap

    def current(self) -> Snapshot:
        """What is known now, without spending a request."""
        self._sync_channel()
        return self.monitor.current()

    async def redis_settled(self) -> bool:
        return await self.monitor.redis_settled()

    def watch(self, session_id: str | None) -> None:
        self.monitor.watch(session_id)

    def note_action(self, session_id: str, action: str, ok: bool) -> None:
        self.monitor.note_action(session_id, action, ok)

    def add_session(self, session_id: str) -> None:
        self.monitor.add_session(session_id)

    # --- inputs --------------------------------------------------------------------------------------------

    def recent_events(self) -> tuple[SessionEvent, ...]:
        """The last session events the monitor applied, from every stream (for the checks that count them)."""
        return self.monitor.recent_events()

    def take_lines(self, lines: list[LogLine]) -> bool:
        """Apply the session events of some log lines; True when one moved a session."""
        return self.monitor.take_lines(lines)

    def take_log_events(self, events: Iterable[LogEvent]) -> bool:
        """Apply events parsed from log lines (e.g. a one-shot run's recent tail); True when one moved a session."""
        return self.monitor.take_log_events(events)

    def follow(self, feed: AsyncIterable[list[LogLine]]) -> AsyncIterator[LogBatch]:
        """Each batch of a log feed, once its events are applied: for display, with the snapshot they changed."""
        return self.monitor.follow(feed)

    def _start_channel(self) -> None:
        if self.channel is not None and self._channel_task is None:
            self._channel_task = asyncio.create_task(self._follow_channel(self.channel))
            self._status_task = asyncio.create_task(self._watch_status(self.channel))

    async def _watch_status(self, channel: EventChannel) -> None:
        """A channel that connects or drops without an event still changes what the header must say."""
        last = channel.status.state
        while True:
            await asyncio.sleep(STATUS_CHECK_S)
            now = channel.status
            if now.state != last:
                last = now.state
                self.monitor.set_channel(now)
                if self.on_change is not None:
                    self.on_change(self.monitor.current())

    def _follow_sessions(self, snap: Snapshot) -> None:
        """The channel follows the sessions the polls found (a new instance gets its namespace at once)."""
        if self.channel is None:
            return
        names = frozenset(s.id for s in snap.sessions)
        if names != self._followed:
            self._followed = names
            self.channel.watch(names)

    def _sync_channel(self) -> None:
        if self.channel is not None:
            self.monitor.set_channel(self.channel.status)

    async def _follow_channel(self, channel: EventChannel) -> None:
        """Channel events into the monitor; a broken channel leaves polling as it was, never a failed poll."""
        try:
            async for ev in channel.events():
                self.monitor.set_channel(channel.status)
                if self.monitor.apply_events([ev], "events"):
                    self._push_soon()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the channel is an optimisation; polling is the fallback
            status = channel.status
            self.monitor.set_channel(replace(status, state=ChannelState.DOWN,
                                             reason=f"event channel stopped ({type(exc).__name__})"))

    def _push_soon(self) -> None:
        """Tell the front end of the changed snapshot once the events arriving within PUSH_EVERY_S are in."""
        if self.on_change is not None and self._push is None:
            self._push = asyncio.get_running_loop().call_later(PUSH_EVERY_S, self._push_now)

    def _push_now(self) -> None:
        self._push = None
        if self.on_change is not None:
            self.on_change(self.monitor.current())

    async def aclose(self) -> None:
        """Stop the event channel, then close the monitor and the sources it owns."""
        if self._push is not None:
            self._push.cancel()
            self._push = None
        tasks = [t for t in (self._channel_task, self._status_task) if t is not None]
        self._channel_task = self._status_task = None
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.monitor.aclose()
        for close in self._closers:
            with contextlib.suppress(Exception):  # closing must never end in a traceback
                await close()
