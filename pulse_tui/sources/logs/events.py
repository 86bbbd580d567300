"""Session state changes told by the gateways' log lines (Salesboy "Logs", Pulse "Failure mode"), for
`Monitor.apply_events`: they cost no gateway request."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

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
    """Every session event in a batch of lines, in order (feed to `Monitor.apply_events`)."""
    out: list[SessionEvent] = []
    for line in lines:
        ev = parse_event(line.text, line.at)
        if ev is not None:
            out.append(ev)
    return out
