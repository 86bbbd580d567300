"""One `ActionSpec` per action: its key, its words, when it may run and what it does on this gateway."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from pulse_tui.model import ConnState, SessionView

if TYPE_CHECKING:
    # Only a type here: importing sources.gateway would load the HTTP stack before the first frame.
    from pulse_tui.sources.gateway.capabilities import Capabilities

RUNNING = (ConnState.CONNECTED, ConnState.QR, ConnState.STARTING, ConnState.STUCK)


class Scope(StrEnum):
    SESSION = "session"  # acts on one WhatsApp connection
    GATEWAY = "gateway"  # acts on the gateway process as a whole


class Confirm(StrEnum):
    YES_NO = "yes-no"  # a dialog that names the target, default No
    TYPE_ID = "type-id"  # the operator types the id: for what cannot be undone


# Why an action may not run now, given the session as last seen and the gateway's capabilities; None = it may.
Check = Callable[[SessionView | None, "Capabilities"], "str | None"]
Words = Callable[[str, SessionView | None, "Capabilities"], str]


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

    @property
    def button_label(self) -> str:
        """The dialog's confirm button."""
        return self.button or self.verb

    def refusal(self, view: SessionView | None, caps: Capabilities) -> str | None:
        """Why this action may not run on `view` now, or None."""
        return self.check(view, caps)


def _start_check(s: SessionView | None, caps: Capabilities) -> str | None:
    if s is not None and s.state == ConnState.CONNECTED:
        return f"{s.id} is already connected."
    if s is not None and (why := caps.id_error(s.id)):
        return f"The gateway refuses {s.id} ({why})."
    return None


def _start_words(sid: str, s: SessionView | None, caps: Capabilities) -> str:
    what = ("Its auth is on disk: it should reconnect without a QR." if s is not None and s.restorable
            else "It has no usable auth: a QR code will be shown to scan.")
    return f"Starts a WhatsApp client for {sid}. {what}"


def _stop_check(s: SessionView | None, caps: Capabilities) -> str | None:
    if s is not None and s.state not in (*RUNNING, ConnState.UNKNOWN):
        return f"{s.id} has no running client: nothing to disconnect (x deletes its auth dir)."
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
    where = f" Auth dir: {s.auth_dir}." if s is not None and s.auth_dir else ""
    return caps.consequences.delete + where


def _lock_check(s: SessionView | None, caps: Capabilities) -> str | None:
    if s is None:
        return "No session selected."
    if s.lock == "foreign":
        host = s.lock_info.host if s.lock_info and s.lock_info.host else "another host"  # from the symlink
        return (f"{s.id}: the lock was written on {host}; the next start fails (exit 21). "
                "Clear it by hand, only if no browser on that host uses this profile.")
    if s.lock != "stale":
        return f"{s.id} has no stale profile lock (lock: {s.lock})."
    return None


def _lock_words(sid: str, s: SessionView | None, caps: Capabilities) -> str:
    info = s.lock_info if s is not None else None
    where = info.profile_dir if info else "its profile dir"
    pid = info.pid if info else "?"
    return (f"Removes SingletonLock/SingletonSocket/SingletonCookie in {where}. Their browser (pid {pid}, this "
            "host) is dead; this is checked again at the moment of removing. Optional: Chromium clears a lock "
            "like this itself at the next start.")


def _orphan_check(s: SessionView | None, caps: Capabilities) -> str | None:
    if s is None:
        return "No session selected."
    if not s.orphans:
        return f"{s.id} has no orphaned browser."
    return None


def _orphan_words(sid: str, s: SessionView | None, caps: Capabilities) -> str:
    # What monitor/host_actions.py + sources/procs.py kill_orphan do: SIGHUP, SIGTERM after 5 s, SIGKILL.
    orphans = s.orphans if s is not None else ()
    pids = [p for o in orphans for p in o.pids]
    pss = [o.pss_bytes for o in orphans if o.pss_bytes is not None]
    size = (f"{sum(pss) / 2**20:.0f} MiB PSS" if pss
            else f"{sum(o.rss_bytes for o in orphans) / 2**20:.0f} MiB RSS")
    return (f"Asks Chromium to exit (SIGHUP, so it removes its lock; SIGTERM after 5 s, SIGKILL after 5 more) "
            f"for {len(pids)} process(es) ({size}): {', '.join(map(str, pids[:12]))}. Checked again at the "
            "moment of acting: if the gateway owns the browser again, nothing is killed.")


def _never(s: SessionView | None, caps: Capabilities) -> str | None:
    return None


def _fixed(text: str) -> Words:
    return lambda sid, s, caps: text


def _caps_text(pick: Callable[[Capabilities], str]) -> Words:
    return lambda sid, s, caps: pick(caps)


SPECS: tuple[ActionSpec, ...] = (
    ActionSpec("start", "s", "Start", "start the session (shows its QR when it needs a scan)", Scope.SESSION,
               Confirm.YES_NO, _start_check, lambda sid, s, c: f"Start {sid}?", _start_words, show=True),
    ActionSpec("stop", "d", "Disconnect", "disconnect (some gateways also delete its auth: the next start needs a QR)",
               Scope.SESSION, Confirm.YES_NO, _stop_check, lambda sid, s, c: f"Disconnect {sid}?",
               _caps_text(lambda c: c.consequences.stop), show=True),
    ActionSpec("restart", "r", "Restart", "restart (where the gateway has it)", Scope.SESSION, Confirm.YES_NO,
               _restart_check, lambda sid, s, c: f"Restart {sid}?", _caps_text(lambda c: c.consequences.restart)),
    ActionSpec("delete", "x", "Delete auth", "delete auth / session (type the id to confirm)", Scope.SESSION,
               Confirm.TYPE_ID, _delete_check, lambda sid, s, c: f"Delete the auth of {sid}?", _delete_words),
    ActionSpec("clear-lock", "L", "Clear lock", "clear the session's stale Chromium lock (then offers to start it)",
               Scope.SESSION, Confirm.YES_NO, _lock_check, lambda sid, s, c: f"Clear the old lock of {sid}?",
               _lock_words),
    ActionSpec("kill-orphan", "K", "Kill orphan", "kill the session's orphaned browser", Scope.SESSION,
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
