"""What a gateway can do and how it behaves, as typed values every caller asks instead of testing its kind.

Adding a gateway means adding an adapter that declares its `Capabilities`; nothing in `monitor/`, `actions/` or
`tui/` names a gateway.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum


class QrForm(StrEnum):
    RAW = "raw"  # the QR payload text (Pulse, WAHA's format=raw)
    PNG_DATA_URL = "png-data-url"  # a rendered PNG (Salesboy), decoded locally


def any_id(session_id: str) -> str | None:
    """The id rule of a gateway that takes any non-empty id without a path separator."""
    if not session_id or "/" in session_id or session_id in (".", ".."):
        return "not a session id"
    return None


@dataclass(frozen=True)
class Consequences:
    """What each action really does on this gateway, in the words a confirmation shows."""

    start: str = "Starts a WhatsApp client for this session."
    stop: str = "Stops its WhatsApp client."
    restart: str = "Restarts its WhatsApp client; it is offline for a moment."
    delete: str = "Removes its auth. It cannot be restored: the next start needs a new QR scan."
    logout: str = "Logs out: unlinks the phone; the next start needs a new QR scan."


@dataclass(frozen=True)
class Capabilities:
    """One gateway's behaviour, declared by its adapter."""

    lists_sessions: bool  # the gateway's list is authoritative (else the ids are our own guess from disk)
    stop_deletes_auth: bool  # its stop also removes the auth: the next start needs a QR
    has_restart: bool
    has_delete: bool
    qr_form: QrForm
    id_rule: Callable[[str], str | None] = any_id  # why the gateway would refuse this id, or None
    logs_out_on_shutdown: bool = False  # connected sessions are logged out when the gateway stops
    restores_from_auth_dir: bool = True  # a connected session survives a restart only through its auth dir
    pairing_code: bool = False  # can link by phone number instead of a QR
    event_stream: bool = False  # pushes session events (else: polls, plus its log lines)
    budget_window_s: float | None = None  # its rate-limit window, None when it has none
    consequences: Consequences = field(default_factory=Consequences)
    has_logout: bool = False  # a logout distinct from stop (unlinks the phone, keeps the session)
    version_note: str = ""  # what the adapter learned of the server, for the header: "WAHA Core 2024.10.8: …"
    browser_per_session: bool = True  # a Chromium per session (else host facts say "no browser", not "0 B")
    throwaway_profiles: bool = False  # its browsers may run on puppeteer temp profiles that name no session (WAHA)
    throwaway_owner: str | None = None  # the session a browser on a puppeteer temp profile is (WAHA Core 2024: default)
    no_browser_why: str = "the gateway runs no browser per session"  # shown when browser_per_session is False
    qr_interval_s: float = 20.0  # a new linking code this often (WhatsApp Web's usual rotation)
    qr_first_s: float | None = None  # how long the FIRST code lives when it differs (WAHA: 60 s), else the interval
    qr_attempts: int | None = None  # codes shown before the gateway gives up on this attempt, None when unknown

    def id_error(self, session_id: str) -> str | None:
        """Why the gateway would refuse `session_id` (None when it accepts it)."""
        return self.id_rule(session_id)
