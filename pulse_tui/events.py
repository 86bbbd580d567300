"""Typed session events pushed by a gateway's event channel, and the channel's own state for the header."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pulse_tui.model import ConnState


class EventKind(StrEnum):
    """What happened to a session."""

    STATE = "state"  # its connection state changed (see `state` and `word`)
    QR = "qr"  # a new QR code was issued
    QR_LIMIT = "qr-limit"  # the gateway stopped issuing codes: the session will not link without a new start
    LOGGED_OUT = "logged-out"  # the phone or an operator unlinked it: the next start needs a QR
    CREATED = "created"
    DELETED = "deleted"


@dataclass(frozen=True)
class SessionEvent:
    """One event about one session, as the gateway announced it (`word` is its own vocabulary)."""

    session_id: str
    kind: EventKind
    at: float  # epoch seconds (the gateway's time when it sent one, else ours on arrival)
    detail: str = ""
    word: str = ""  # "SCAN_QR_CODE", "connection.update open", …
    state: ConnState | None = None  # the mapped state, for STATE events
    reason_code: int | None = None  # Evolution's statusReason / disconnection code


class ChannelState(StrEnum):
    CONNECTED = "connected"
    CONNECTING = "connecting"
    DOWN = "down"  # not connected; polling is the fallback


@dataclass(frozen=True)
class ChannelStatus:
    """The event channel as the header shows it ("events: connected" / "polling: <reason>")."""

    state: ChannelState
    reason: str = ""
    since: float = 0.0
    events: int = 0  # events received since the channel was created
    reconnects: int = 0
