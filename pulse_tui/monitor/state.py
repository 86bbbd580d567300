"""The WhatsApp connection state machine: facts about one session in, a ConnState and its history out.

Facts arrive from three places with different costs: a gateway status call (spends rate-limit budget), a
gateway log line (free, but says less) and the auth dir on disk (free). The tracker keeps the latest of
each, so a state can be derived every poll even when no request was spent on that session.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import NamedTuple

from pulse_tui.model import ConnState, LockView, OrphanView, QrCode, SessionStatus, SessionView, StateChange
from pulse_tui.sources.gateway.capabilities import Capabilities

HISTORY_LIMIT = 50
STUCK_AFTER_S = 90.0  # whatsapp-web.js normally shows a QR or restores well within this
RESTORE_SLACK_S = 20.0  # how late the boot-time restore queue may reach a dir before we stop waiting for it


@dataclass
class ClientFacts:
    """The last known facts about a session's client, and when/where they were learned."""

    exists: bool | None = None  # None: never learned
    ready: bool = False
    qr: QrCode | None = None
    qr_seen: bool = False  # a log line said a QR was issued (the code itself needs a status call)
    phone: str | None = None
    name: str | None = None
    at: float | None = None  # epoch seconds of the fact
    source: str = ""  # "gateway" | "log" | "events" | "action"
    reason: str = ""
    state: ConnState | None = None  # the gateway's own mapped state (WAHA, Evolution); None: derive it
    word: str = ""  # the gateway's own word for it, shown as is


@dataclass
class Tracked:
    """Everything the monitor remembers about one session between polls."""

    id: str
    facts: ClientFacts = field(default_factory=ClientFacts)
    has_auth_dir: bool = False
    auth_dir: str | None = None
    auth_valid: bool = True  # False for dirs the gateway never restores (non-UUID names)
    auth_dead: bool = False  # unlinked from the phone (LOGOUT): the dir exists but needs a new QR
    restore_due: float | None = None  # epoch by which the boot-time restore queue should reach it
    starting_since: float | None = None
    state: ConnState = ConnState.UNKNOWN
    since: float = 0.0
    history: deque[StateChange] = field(default_factory=lambda: deque(maxlen=HISTORY_LIMIT))
    last_activity: float | None = None
    polled_at: float | None = None  # last time a status request was spent on it

    def learn_status(self, status: SessionStatus, at: float) -> None:
        self.facts = ClientFacts(
            exists=status.exists,
            ready=status.ready,
            qr=None if status.ready else status.qr,  # ready wins over a stale QR
            phone=status.phone or self.facts.phone,
            name=status.name or self.facts.name,
            at=at,
            source="gateway",
            reason=status.detail,
            state=status.state,
            word=status.gateway_word,
        )
        self.polled_at = at

    def learn(self, at: float, source: str, reason: str = "", **changes: object) -> None:
        """Update some facts (from a log event or an action) without forgetting the others."""
        f = self.facts
        f.state, f.word = None, ""  # a new fact without the gateway's own state: derive it again
        for name, value in changes.items():
            setattr(f, name, value)
        f.at, f.source, f.reason = at, source, reason
        if f.ready:
            f.qr, f.qr_seen = None, False


def derive(t: Tracked, now: float, *, stuck_after_s: float = STUCK_AFTER_S) -> tuple[ConnState, str]:
    """The state a session is in, from its facts, with a short reason."""
    f = t.facts
    if f.exists is None:
        if t.has_auth_dir and not t.auth_valid:
            return ConnState.STOPPED, "the gateway never restores this dir: its name is not a valid user id"
        if t.has_auth_dir and t.restore_due is not None and now <= t.restore_due:
            return ConnState.RESTORING, "queued in the gateway's boot-time restore"
        if t.has_auth_dir:
            return ConnState.UNKNOWN, "auth on disk; gateway not asked yet"
        return ConnState.UNKNOWN, "not asked yet"
    if f.state is not None:
        # The gateway's own state machine wins over exists/ready; only a start that never ends is ours to call.
        if f.state == ConnState.STARTING and t.starting_since is not None and now - t.starting_since > stuck_after_s:
            return ConnState.STUCK, f"no QR and not ready after {int(now - t.starting_since)} s"
        return f.state, f.reason
    if f.exists and f.ready:
        return ConnState.CONNECTED, ""
    if f.exists and (f.qr is not None or f.qr_seen):
        return ConnState.QR, "waiting for a scan"
    if f.exists:
        started = t.starting_since if t.starting_since is not None else (f.at or now)
        if now - started > stuck_after_s:
            return ConnState.STUCK, f"no QR and not ready after {int(now - started)} s"
        return ConnState.STARTING, f.reason
    # No client.
    if t.has_auth_dir and t.restore_due is not None and now <= t.restore_due:
        return ConnState.RESTORING, "queued in the gateway's boot-time restore"
    if t.has_auth_dir and t.auth_valid and not t.auth_dead:
        return ConnState.RESTORABLE, "auth on disk: a start reconnects without a QR"
    return ConnState.STOPPED, f.reason


def advance(t: Tracked, now: float, *, stuck_after_s: float = STUCK_AFTER_S) -> bool:
    """Re-derive the state; record a history entry when it changed. Returns True on a change."""
    f = t.facts
    starting = f.state == ConnState.STARTING if f.state is not None else f.exists and not f.ready
    if starting and not (f.qr or f.qr_seen):
        if t.starting_since is None:
            t.starting_since = f.at or now
    else:
        t.starting_since = None
    state, reason = derive(t, now, stuck_after_s=stuck_after_s)
    if state == t.state and t.history:
        return False
    t.state, t.since = state, now
    t.history.append(StateChange(at=now, state=state, reason=reason))
    return True


def flags_for(t: Tracked, caps: Capabilities) -> frozenset[str]:
    """Short flags the table shows; each is explained in words in the details pane."""
    flags: set[str] = set()
    if t.state == ConnState.CONNECTED and not t.has_auth_dir and caps.restores_from_auth_dir:
        flags.add("no-auth-dir")  # only where the auth dir on disk is what a restart restores from
    if t.has_auth_dir and not t.auth_valid:
        flags.add("never-restored")
    if t.auth_dead:
        flags.add("auth-dead")
    if t.state == ConnState.STUCK:
        flags.add("stuck")
    if caps.logs_out_on_shutdown and t.state == ConnState.CONNECTED:
        flags.add("logout-on-shutdown")
    lost_on_restart = caps.logs_out_on_shutdown or (caps.restores_from_auth_dir and not t.has_auth_dir)
    if t.state == ConnState.CONNECTED and lost_on_restart:
        flags.add("will-not-survive-restart")
    return frozenset(flags)


FLAG_EXPLANATIONS = {
    "no-auth-dir": "Connected but no LocalAuth dir on disk: a gateway restart will need a new QR scan.",
    "never-restored": "The auth dir's name is not a UUID: the gateway never restores it at boot.",
    "auth-dead": "WhatsApp logged this device out (LOGOUT): the auth dir is dead, the next start needs a QR.",
    "stuck": "Starting for too long with no QR: often a browser that cannot start (stale SingletonLock).",
    "logout-on-shutdown": "Pulse logs out on shutdown, so a restart forces a re-scan.",
    "will-not-survive-restart": "This session will not come back by itself after a gateway restart.",
    "stale": "The gateway could not be asked recently: this state is as old as shown.",
    "stale-lock": "Chromium's SingletonLock in this profile names a dead process on this host: harmless, "
                  "Chromium clears it at the next start.",
    "orphaned-browser": "A browser still holds this session's profile although the gateway no longer owns it "
                        "(the session is gone or its gateway process died): it wastes memory and blocks a start.",
    "lock-conflict": "The profile's SingletonLock names a live process on this host that is not a Chromium of "
                     "this profile (a reused pid): Chromium may refuse to start on it.",
    "foreign-lock": "The profile's SingletonLock was written on another host (often a container restarted with "
                    "a new hostname): the next start fails with exit code 21. Clear it by hand only if no browser "
                    "on the other host uses this profile; pulse-tui never touches it.",
}


class HostFacts(NamedTuple):
    """What the host probe found for one session, for its view (a tuple: one is built per session per poll)."""

    rss_bytes: int | None = None
    cpu_percent: float | None = None
    browser_pids: tuple[int, ...] = ()
    pss_bytes: int | None = None
    uss_bytes: int | None = None
    lock: str = "none"
    lock_info: LockView | None = None
    orphans: tuple[OrphanView, ...] = ()
    flags: frozenset[str] = frozenset()  # the host's own flags only (stale-lock, orphaned-browser, ...)


NO_HOST_FACTS = HostFacts()  # a view's host facts before any scan (or with no host source)


def view_of(t: Tracked, now: float, caps: Capabilities, fresh_within_s: float, host: HostFacts = NO_HOST_FACTS,
            unreachable: str = "") -> SessionView:
    """An immutable view of one tracked session for a snapshot, with its host facts.

    `unreachable`: the gateway's health word while it cannot be asked; a stale view then says UNKNOWN (last known:
    its state), since that state may no longer hold."""
    age = None if t.facts.at is None else max(0.0, now - t.facts.at)
    stale = age if age is not None and age > fresh_within_s else None
    flags = flags_for(t, caps)
    if stale is not None:
        flags = flags | {"stale"}
    if host.flags:
        flags = flags | host.flags
    state, last_known, detail = t.state, None, t.history[-1].reason if t.history else ""
    if unreachable and stale is not None and state != ConnState.UNKNOWN:
        state, last_known = ConnState.UNKNOWN, t.state
        detail = f"last known: {t.state.value}, {int(stale)} s ago ({unreachable})"
    return SessionView(
        id=t.id,
        state=state,
        since=t.since,
        seconds_in_state=max(0.0, now - t.since),
        phone=t.facts.phone,
        name=t.facts.name,
        has_auth_dir=t.has_auth_dir,
        auth_dir=t.auth_dir,
        restorable=t.has_auth_dir and t.auth_valid and not t.auth_dead,
        last_fresh=t.facts.at,
        stale_s=stale,
        last_activity=t.last_activity,
        qr=t.facts.qr,
        flags=flags,
        detail=detail,
        history=tuple(t.history),
        last_known=last_known,
        rss_bytes=host.rss_bytes,
        cpu_percent=host.cpu_percent,
        browser_pids=host.browser_pids,
        pss_bytes=host.pss_bytes,
        uss_bytes=host.uss_bytes,
        lock=host.lock,
        lock_info=host.lock_info,
        orphans=host.orphans,
        gateway_word=t.facts.word,
        no_browser=no_browser_why(caps),
        since_first_seen=len(t.history) == 1,  # its only entry is the first sight (see advance)
    )


def no_browser_why(caps: Capabilities) -> str:
    """Why a gateway's sessions have no browser to measure ("" when each runs one)."""
    return "" if caps.browser_per_session else caps.no_browser_why
