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
    # Facts told by the gateway's log lines, which say less than a state (pulse_tui/sources/logs/events.py):
    STARTING = "starting"  # a client exists and is not ready yet (restoring, already initializing)
    READY = "ready"  # the client is ready (`phone` when the line tells it)
    AUTHENTICATED = "authenticated"  # the phone's credentials were accepted; ready follows
    CLIENT_GONE = "client-gone"  # the client is gone (disconnected, auth failure, init failed, stopped)
    AUTH_DELETED = "auth-deleted"  # the gateway removed the session's auth dir
    RESTORE_QUEUED = "restore-queued"  # gateway-wide (no session): it restores every auth dir after boot


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
    phone: str | None = None  # the linked number, when the event tells it


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
    # Sessions the channel cannot follow yet (an Evolution instance whose namespace appears at its first event):
    # they are polled while the channel covers the others.
    uncovered: frozenset[str] = frozenset()
