"""What the WAHA and Evolution event channels share: their typed status and the reconnect backoff."""

from __future__ import annotations

from dataclasses import replace

from pulse_tui.clock import Clock
from pulse_tui.events import ChannelState, ChannelStatus


class Backoff:
    """Delays of `initial_s`, doubling up to `max_s`; `reset()` after a good connection."""

    def __init__(self, initial_s: float = 1.0, max_s: float = 30.0) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self._next = initial_s

    def next(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self.max_s)
        return delay

    def reset(self) -> None:
        self._next = self.initial_s


class StatusKeeper:
    """The channel's `ChannelStatus`, updated as it connects, drops and counts events."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.status = ChannelStatus(ChannelState.DOWN, "not started", clock.now())
        self._was_connected = False

    def set(self, state: ChannelState, reason: str = "") -> None:
        st = self.status
        again = state == ChannelState.CONNECTED and st.state != ChannelState.CONNECTED and self._was_connected
        self._was_connected = self._was_connected or state == ChannelState.CONNECTED
        since = st.since if st.state == state else self.clock.now()
        self.status = replace(st, state=state, reason=reason, since=since, reconnects=st.reconnects + again)

    def counted(self) -> None:
        self.status = replace(self.status, events=self.status.events + 1)
