"""Session state changes told by the gateways' log lines (Salesboy "Logs", Pulse "Failure mode"), converted by
`session_events` into the engine's typed `pulse_tui.events.SessionEvent`: they cost no gateway request."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from pulse_tui import events as engine
from pulse_tui.sources.logs.line import LogLine


class EventKind(StrEnum):
    RESTORE_FOUND = "restore_found"
    RESTORING = "restoring"
    QR = "qr"
    READY = "ready"
    CONNECTED = "connected"
    AUTHENTICATED = "authenticated"
    AUTH_FAILURE = "auth_failure"
    DISCONNECTED = "disconnected"
    ALREADY_INITIALIZING = "already_initializing"
    INIT_FAILED = "init_failed"
    STOPPED = "stopped"
    AUTH_DELETED = "auth_deleted"
    PULSE_DESTROYED = "pulse_destroyed"  # Pulse failed to decrypt session:<id> and deletes it


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """One state change of one session (session_id None for gateway-wide events)."""

    kind: EventKind
    session_id: str | None
    at: float | None
    detail: str = ""


_ID = r"(?P<id>[^\s:]+)"
# Salesboy's messages as the gateway (and pulse_tui.sim) writes them, each behind a substring that must be in
# the line for its regex to run (most lines hold none: substring tests are far cheaper than regexes).
_RULES: list[tuple[str, EventKind, re.Pattern[str]]] = [
    ("to restore", EventKind.RESTORE_FOUND, re.compile(r"Found (?P<detail>\d+) session\(s\) to restore")),
    ("Restoring session", EventKind.RESTORING,
     re.compile(rf"Restoring session (?P<detail>\d+/\d+) for user {_ID}")),
    ("QR code generated", EventKind.QR, re.compile(rf"QR code generated for user {_ID}")),
    ("client ready", EventKind.READY, re.compile(rf"WhatsApp client ready for user {_ID}")),
    ("connected with number", EventKind.CONNECTED,
     re.compile(rf"User {_ID} connected with number: (?P<detail>\S+)")),
    (" authenticated", EventKind.AUTHENTICATED, re.compile(rf"User {_ID} authenticated\b")),
    ("Auth failure for", EventKind.AUTH_FAILURE, re.compile(rf"Auth failure for user {_ID}(?:: (?P<detail>.*))?")),
    ("disconnected", EventKind.DISCONNECTED, re.compile(rf"User {_ID} disconnected(?:: (?P<detail>.*))?")),
    ("already initializing", EventKind.ALREADY_INITIALIZING,
     re.compile(rf"Session already initializing for user {_ID}")),
    ("Failed to initialize", EventKind.INIT_FAILED,
     re.compile(rf"Failed to initialize session for {_ID}(?:: (?P<detail>.*))?")),
    ("Session stopped for", EventKind.STOPPED, re.compile(rf"Session stopped for {_ID}")),
    ("Deleted auth for", EventKind.AUTH_DELETED, re.compile(rf"Deleted auth for {_ID}")),
    # Pulse: the session id is 32 hex chars; the error follows on the same or the next line
    ("Failed to get encrypted value", EventKind.PULSE_DESTROYED,
     re.compile(r"Failed to get encrypted value for key session:(?P<id>[^\s:]+)(?::\s*(?P<detail>.*))?")),
]


def parse_event(text: str, at: float | None = None) -> SessionEvent | None:
    """The session event one log message tells, or None."""
    for needle, kind, pattern in _RULES:
        if needle not in text:
            continue
        m = pattern.search(text)
        if m is None:
            continue
        groups = m.groupdict()
        detail = (groups.get("detail") or "").split("\n", 1)[0].strip()
        return SessionEvent(kind=kind, session_id=groups.get("id"), at=at, detail=detail)
    return None


def events_from_lines(lines: Iterable[LogLine]) -> list[SessionEvent]:
    """Every session event in a batch of lines, in order (`session_events` makes them the engine's)."""
    out: list[SessionEvent] = []
    for line in lines:
        ev = parse_event(line.text, line.at)
        if ev is not None:
            out.append(ev)
    return out


# What each log word tells the engine; a kind missing here is not about a WhatsApp connection (Pulse's Redis).
_ENGINE_KIND = {
    EventKind.RESTORE_FOUND: engine.EventKind.RESTORE_QUEUED,
    EventKind.RESTORING: engine.EventKind.STARTING,
    EventKind.ALREADY_INITIALIZING: engine.EventKind.STARTING,
    EventKind.QR: engine.EventKind.QR,
    EventKind.READY: engine.EventKind.READY,
    EventKind.CONNECTED: engine.EventKind.READY,
    EventKind.AUTHENTICATED: engine.EventKind.AUTHENTICATED,
    EventKind.DISCONNECTED: engine.EventKind.CLIENT_GONE,
    EventKind.AUTH_FAILURE: engine.EventKind.CLIENT_GONE,
    EventKind.INIT_FAILED: engine.EventKind.CLIENT_GONE,
    EventKind.STOPPED: engine.EventKind.CLIENT_GONE,
    EventKind.AUTH_DELETED: engine.EventKind.AUTH_DELETED,
}


def to_session_event(ev: SessionEvent, now: float) -> engine.SessionEvent | None:
    """The engine's event for one log event (undated ones take `now`), or None when it is not about a connection."""
    kind = _ENGINE_KIND.get(ev.kind)
    if kind is None or (not ev.session_id and kind != engine.EventKind.RESTORE_QUEUED):
        return None
    word = ev.kind.value.replace("_", " ")
    at = ev.at if ev.at is not None else now
    sid = ev.session_id or ""
    if kind == engine.EventKind.CLIENT_GONE:
        if ev.kind == EventKind.DISCONNECTED and "LOGOUT" in ev.detail.upper():
            kind = engine.EventKind.LOGGED_OUT  # unlinked on the phone: the auth dir is dead
        return engine.SessionEvent(sid, kind, at, f"{word}: {ev.detail}".rstrip(": "), word)
    phone = ev.detail.split()[-1] if ev.kind == EventKind.CONNECTED and ev.detail else None
    return engine.SessionEvent(sid, kind, at, word, word, phone=phone)


def session_events(events: Iterable[SessionEvent], now: float) -> list[engine.SessionEvent]:
    """The engine's events for a batch of log events, in order."""
    return [e for ev in events if (e := to_session_event(ev, now)) is not None]
