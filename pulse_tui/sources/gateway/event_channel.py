"""The protocol of a gateway's push channel of session events (WAHA's websocket, Evolution's socket.io)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Protocol

from pulse_tui.events import ChannelStatus, SessionEvent


class EventChannel(Protocol):
    """A gateway's push channel of session events, as the engine consumes it."""

    @property
    def status(self) -> ChannelStatus:
        """Connected / connecting / down, and why."""
        ...

    def events(self) -> AsyncIterator[SessionEvent]:
        """Session events until cancelled; reconnects by itself."""
        ...

    def watch(self, names: Iterable[str]) -> None:
        """The sessions the last listing named (channels that follow one connection per session need them)."""
        ...
