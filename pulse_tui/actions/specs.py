"""One `ActionSpec` per action: its key, its words, when it may run and what it does on this gateway."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from pulse_tui.model import ConnState, SessionView
from pulse_tui.sources.gateway.capabilities import Capabilities

RUNNING = (ConnState.CONNECTED, ConnState.QR, ConnState.STARTING, ConnState.STUCK)


class Scope(StrEnum):
    SESSION = "session"  # acts on one WhatsApp connection
    GATEWAY = "gateway"  # acts on the gateway process as a whole


class Confirm(StrEnum):
    YES_NO = "yes-no"  # a dialog that names the target, default No
    TYPE_ID = "type-id"  # the operator types the id: for what cannot be undone


# Why an action may not run now, given the session as last seen and the gateway's capabilities; None = it may.
Check = Callable[[SessionView | None, Capabilities], str | None]
Words = Callable[[str, SessionView | None, Capabilities], str]


@dataclass(frozen=True)
class ActionSpec:
    """One action as every front end sees it."""

    name: str  # stable: the audit log and scripts use it
    key: str  # the TUI binding
    verb: str  # "Start", "Disconnect"…
    help: str  # one line for the help screen and the README's key table
    scope: Scope
    confirm: Confirm
    check: Check
    title: Words  # the dialog's question
    consequence: Words  # what will happen, in this gateway's terms
    button: str = ""  # the dialog's confirm button (default: the verb)
    show: bool = False  # shown in the footer

    def refusal(self, view: SessionView | None, caps: Capabilities) -> str | None:
        """Why this action may not run on `view` now, or None."""
        return self.check(view, caps)


def _start_check(s: SessionView | None, caps: Capabilities) -> str | None:
    if s is not None and s.state == ConnState.CONNECTED:
        return f"{s.id} is already connected."
    if s is not None and (why := caps.id_error(s.id)):
        return f"The gateway refuses {s.id!r} ({why})."
    return None


def _start_words(sid: str, s: SessionView | None, caps: Capabilities) -> str:
    what = ("Its auth is on disk: it should reconnect without a QR." if s is not None and s.restorable
            else "It has no usable auth: a QR code will be shown to scan.")
    return f"{caps.consequences.start} {what}"


def _stop_check(s: SessionView | None, caps: Capabilities) -> str | None:
    if s is not None and s.state not in (*RUNNING, ConnState.UNKNOWN):
        return f"{s.id} has no running client: nothing to disconnect (x deletes its auth)."
    return None


def _restart_check(s: SessionView | None, caps: Capabilities) -> str | None:
    return None if caps.has_restart else "This gateway has no restart route."


def _delete_check(s: SessionView | None, caps: Capabilities) -> str | None:
    if not caps.has_delete:
        return "This gateway cannot delete a session's auth."
    if s is not None and s.state in RUNNING:
        return f"{s.id} has a running client: disconnect it first (d)."
    return None


def _delete_words(sid: str, s: SessionView | None, caps: Capabilities) -> str:
    where = f"Removes {s.auth_dir}. " if s is not None and s.auth_dir else ""
    return where + caps.consequences.delete


def _lock_check(s: SessionView | None, caps: Capabilities) -> str | None:
    if s is not None and s.lock != "stale":
        return f"{s.id} has no stale profile lock (lock: {s.lock})."
    return None


def _lock_words(sid: str, s: SessionView | None, caps: Capabilities) -> str:
    info = s.lock_info if s is not None else None
    where = info.profile_dir if info else "its profile dir"
    pid = info.pid if info and info.pid is not None else "?"
    return (f"Removes SingletonLock/SingletonSocket/SingletonCookie in {where}. Their browser (pid {pid}) is dead; "
            "this is checked again at the moment of removing.")


def _orphan_check(s: SessionView | None, caps: Capabilities) -> str | None:
    if s is not None and not s.orphans:
        return f"{s.id} has no orphaned browser."
    return None


def _orphan_words(sid: str, s: SessionView | None, caps: Capabilities) -> str:
    orphans = s.orphans if s is not None else ()
    pids = [p for o in orphans for p in o.pids]
    mib = sum(o.rss_bytes for o in orphans) / 2**20
    return (f"Asks {len(pids)} process(es) ({mib:.0f} MiB) to exit: {', '.join(map(str, pids[:12]))}. Checked again "
            "at the moment of acting: if the gateway owns the browser again, nothing is killed.")


def _never(s: SessionView | None, caps: Capabilities) -> str | None:
    return None


def _fixed(text: str) -> Words:
    return lambda sid, s, caps: text


def _caps_text(pick: Callable[[Capabilities], str]) -> Words:
    return lambda sid, s, caps: pick(caps)


SPECS: tuple[ActionSpec, ...] = (
    ActionSpec("start", "s", "Start", "start (shows the QR when a scan is needed)", Scope.SESSION, Confirm.YES_NO,
               _start_check, lambda sid, s, c: f"Start {sid}?", _start_words, show=True),
    ActionSpec("stop", "d", "Disconnect", "disconnect (on some gateways this also deletes the auth)", Scope.SESSION,
               Confirm.YES_NO, _stop_check, lambda sid, s, c: f"Disconnect {sid}?",
               _caps_text(lambda c: c.consequences.stop), show=True),
    ActionSpec("restart", "r", "Restart", "restart (where the gateway has one)", Scope.SESSION, Confirm.YES_NO,
               _restart_check, lambda sid, s, c: f"Restart {sid}?", _caps_text(lambda c: c.consequences.restart)),
    ActionSpec("delete", "x", "Delete auth", "delete the session's auth (type the id to confirm)", Scope.SESSION,
               Confirm.TYPE_ID, _delete_check, lambda sid, s, c: f"Delete the auth of {sid}?", _delete_words),
    ActionSpec("clear-lock", "L", "Clear lock", "clear the session's stale Chromium SingletonLock", Scope.SESSION,
               Confirm.YES_NO, _lock_check, lambda sid, s, c: f"Clear the stale lock of {sid}?", _lock_words),
    ActionSpec("kill-orphan", "K", "Kill orphan", "stop the session's orphaned browser tree", Scope.SESSION,
               Confirm.YES_NO, _orphan_check, lambda sid, s, c: f"Kill the orphaned browser of {sid}?",
               _orphan_words, button="Kill"),
    ActionSpec("restart-gateway", "R", "Restart gateway", "restart the gateway under pm2", Scope.GATEWAY,
               Confirm.YES_NO, _never, lambda app, s, c: f"Restart the gateway (pm2 restart {app})?",
               _fixed("Every WhatsApp client stops; the gateway then restores each auth dir, one every 5 s. "
                      "Sessions without a usable auth dir will need a QR scan.")),
)


def spec_for(name: str) -> ActionSpec:
    """The spec of action `name` (KeyError for an unknown one)."""
    for spec in SPECS:
        if spec.name == name:
            return spec
    raise KeyError(name)
