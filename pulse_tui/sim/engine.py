"""The simulated gateway's sessions: one fake whatsapp-web.js client per id, moved along by time.

start -> starting (browser launch) -> QR codes every `qr_interval_s` (up to `qr_max`, then the client gives
up) -> scanned -> authenticated -> ready (auth dir written, as LocalAuth does). A client started on a live
auth dir skips the QR. Thread-safe: every method takes the engine's condition lock; a ticker thread fires
the timed steps and `notify_all` wakes SSE streams waiting for a new code.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from pulse_tui.sim.browsers import SessionBrowsers, make_stale_lock
from pulse_tui.sim.qrpayload import PayloadMaker, png_data_url
from pulse_tui.sim.simlog import WinstonLog
from pulse_tui.sources.authdirs import Layout, auth_dir_path, discover

MAX_QR_REASON = "Max qrcode retries reached"


class Flavor(StrEnum):
    SALESBOY = "salesboy"
    PULSE = "pulse"


class Phase(StrEnum):
    STARTING = "starting"  # browser launching: exists, not ready, no QR
    QR = "qr"
    AUTHENTICATING = "authenticating"  # scanned (or restored), `ready` not fired yet
    READY = "ready"


@dataclass(frozen=True)
class Timing:
    """How long each lifecycle step takes (seconds)."""

    start_delay_s: float = 1.0
    qr_interval_s: float = 20.0
    qr_max: int = 5
    auto_scan_s: float | None = None  # scan this long after the first code; None: only when told
    ready_delay_s: float = 0.3  # authenticated -> ready
    restore_interval_s: float = 5.0


@dataclass(eq=False)
class SimClient:
    """One fake whatsapp-web.js client."""

    id: str
    phase: Phase
    since: float
    due: float | None
    restoring: bool  # started on a live auth dir: no QR
    maker: PayloadMaker
    start_error: str | None = None
    qr_payload: str | None = None
    qr_png: str | None = None
    qr_count: int = 0
    first_qr_at: float | None = None
    version: int = 0  # bumped on each new code; SSE streams wait on it
    alive: bool = True

    @property
    def qr(self) -> str | None:
        """The PNG data URL a status call shows: null once ready."""
        return self.qr_png if self.phase in (Phase.QR, Phase.AUTHENTICATING) else None


def phone_for(session_id: str) -> str:
    """A stable fake WhatsApp number for an id (digits ids are already phones)."""
    if session_id.isdigit():
        return session_id
    return "1876" + str(int(hashlib.sha256(session_id.encode()).hexdigest()[:12], 16))[-7:].rjust(7, "0")


@dataclass
class _Restore:
    queue: list[str] = field(default_factory=list)
    total: int = 0
    done: int = 0
    next_at: float = 0.0


def write_linked_profile(d: Path) -> None:
    """A profile dir as a linked session leaves it: a few files like the Chromium profile LocalAuth points
    --user-data-dir at (contents are irrelevant)."""
    (d / "Default" / "Local Storage" / "leveldb").mkdir(parents=True, exist_ok=True)
    (d / "Local State").write_text('{"browser":{"enabled_labs_experiments":[]}}\n')
    (d / "Default" / "Preferences").write_text('{"profile":{"name":"Person 1"}}\n')
    (d / "Default" / "Local Storage" / "leveldb" / "CURRENT").write_text("MANIFEST-000001\n")


class Engine:
    """Sessions of one simulated gateway process."""

    def __init__(
        self,
        auth_root: Path,
        flavor: Flavor,
        log: WinstonLog,
        timing: Timing,
        *,
        phones: tuple[str, ...] = (),
        seed: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        browsers: SessionBrowsers | None = None,
    ) -> None:
        self.auth_root = Path(auth_root)
        self.flavor = flavor
        self.layout = Layout.PULSE if flavor == Flavor.PULSE else Layout.SALESBOY
        self.log = log
        self.timing = timing
        self.cond = threading.Condition()
        self.clients: dict[str, SimClient] = {}
        self.dead: set[str] = set()  # auth dirs unlinked from the phone (LOGOUT): on disk but useless
        self.known: set[str] = set(phones)  # Pulse: configured instances
        self._rng = random.Random(seed)
        self._clock = clock
        self._restore = _Restore()
        self._fail_next: str | None = None
        self._stopping = False
        self._ticker: threading.Thread | None = None
        self.browsers = browsers  # None: no processes (the default); else one stand-in browser per client

    # --- process lifecycle -------------------------------------------------------

    def boot(self, restore: bool = True) -> None:
        """Gateway start: queue every restorable auth dir (Pulse: every instance), one at a time."""
        with self.cond:
            for c in self.clients.values():
                c.alive = False
            self.clients.clear()
            if self.browsers is not None:
                self.browsers.close_all()
            dirs = [d.session_id for d in discover([self.auth_root], self.layout) if d.valid]
            if self.flavor == Flavor.PULSE:
                self.known.update(dirs)
                ids = sorted(self.known)
            else:
                ids = dirs
            self._restore = _Restore()
            if restore:
                self._restore = _Restore(list(ids), len(ids), 0, self._clock())
                self.log.info(f"Found {len(ids)} session(s) to restore")
            self.cond.notify_all()

    def start_ticker(self) -> None:
        """Run the timed steps in a daemon thread until `stop_ticker`."""
        self._stopping = False
        self._ticker = threading.Thread(target=self._run, name="sim-engine", daemon=True)
        self._ticker.start()

    def stop_ticker(self) -> None:
        with self.cond:
            self._stopping = True
            self.cond.notify_all()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
            self._ticker = None

    @property
    def stopping(self) -> bool:
        return self._stopping

    def _run(self) -> None:
        with self.cond:
            while not self._stopping:
                nxt = self._tick()
                now = self._clock()
                timeout = 0.5 if nxt is None else min(0.5, max(0.002, nxt - now))
                self.cond.wait(timeout)

    # --- time --------------------------------------------------------------------

    def tick(self) -> None:
        """Fire every step that is due (also done by the ticker thread)."""
        with self.cond:
            self._tick()

    def _tick(self) -> float | None:
        now = self._clock()
        r = self._restore
        while r.queue and now >= r.next_at:
            sid = r.queue.pop(0)
            r.done += 1
            self.log.info(f"Restoring session {r.done}/{r.total} for user {sid}")
            if sid not in self.clients:
                self._new_client(sid, now)
            r.next_at = now + self.timing.restore_interval_s
        deadlines = [r.next_at] if r.queue else []
        for c in list(self.clients.values()):
            while c.alive and c.due is not None and now >= c.due:
                self._step(c, now)
            if c.alive and c.phase == Phase.QR and self.timing.auto_scan_s is not None and c.first_qr_at is not None:
                scan_at = c.first_qr_at + self.timing.auto_scan_s
                if now >= scan_at:
                    self._scan(c, now)
                else:
                    deadlines.append(scan_at)
            if c.alive and c.due is not None:
                deadlines.append(c.due)
        return min(deadlines) if deadlines else None

    def _step(self, c: SimClient, now: float) -> None:
        if c.phase == Phase.STARTING:
            if c.start_error is not None:
                self.log.error(f"Failed to initialize session for {c.id}: {c.start_error}")
                self._drop(c)
            elif c.restoring:
                self._authenticated(c, now)
            else:
                self._issue_qr(c, now)
        elif c.phase == Phase.QR:
            if c.qr_count >= self.timing.qr_max:
                self.log.warn(f"User {c.id} disconnected: {MAX_QR_REASON}")
                self._drop(c)
            else:
                self._issue_qr(c, now)
        elif c.phase == Phase.AUTHENTICATING:
            self._ready(c, now)
        else:
            c.due = None

    def _set(self, c: SimClient, phase: Phase, now: float, due: float | None) -> None:
        c.phase, c.since, c.due = phase, now, due
        self.cond.notify_all()

    def _issue_qr(self, c: SimClient, now: float) -> None:
        c.qr_payload = c.maker.next()
        c.qr_png = png_data_url(c.qr_payload)
        c.qr_count += 1
        c.version += 1
        if c.first_qr_at is None:
            c.first_qr_at = now
        self.log.info(f"QR code generated for user {c.id}")
        self._set(c, Phase.QR, now, now + self.timing.qr_interval_s)

    def _authenticated(self, c: SimClient, now: float) -> None:
        self.log.info(f"User {c.id} authenticated")
        self._set(c, Phase.AUTHENTICATING, now, now + self.timing.ready_delay_s)

    def _scan(self, c: SimClient, now: float) -> None:
        self._authenticated(c, now)

    def _ready(self, c: SimClient, now: float) -> None:
        self._write_auth_dir(c.id)
        self.dead.discard(c.id)
        c.qr_payload = c.qr_png = None
        self.log.info(f"✅ WhatsApp client ready for user {c.id}")
        self.log.info(f"User {c.id} connected with number: {phone_for(c.id)}")
        self._set(c, Phase.READY, now, None)

    def _drop(self, c: SimClient, *, keep_browser: bool = False) -> None:
        c.alive = False
        c.due = None
        if self.clients.get(c.id) is c:
            del self.clients[c.id]
            if self.browsers is not None and not keep_browser:
                self.browsers.close(c.id)  # client.destroy() closes its browser
        self.cond.notify_all()

    def _has_auth(self, sid: str) -> bool:
        if self.browsers is None:
            return self.dir_for(sid).is_dir()
        # A browser creates its profile dir at launch: only what `_ready` writes means a linked session.
        return (self.dir_for(sid) / "Default" / "Local Storage" / "leveldb" / "CURRENT").is_file()

    def _new_client(self, sid: str, now: float) -> SimClient:
        live_dir = self._has_auth(sid) and sid not in self.dead
        c = SimClient(
            id=sid,
            phase=Phase.STARTING,
            since=now,
            due=now + self.timing.start_delay_s,
            restoring=live_dir,
            maker=PayloadMaker(random.Random(self._rng.getrandbits(64))),
            start_error=self._fail_next,
        )
        self._fail_next = None
        self.clients[sid] = c
        if self.browsers is not None and c.start_error is None:
            blocked = self.browsers.blocking_lock(self.dir_for(sid))
            if blocked is not None:
                c.start_error = blocked  # Chromium refuses a profile another (or a dead) browser locked
            else:
                self.browsers.launch(sid, self.dir_for(sid))
        self.cond.notify_all()
        return c

    # --- disk ----------------------------------------------------------------------

    def dir_for(self, sid: str) -> Path:
        return auth_dir_path(self.auth_root, sid, self.layout)

    def _write_auth_dir(self, sid: str) -> None:
        write_linked_profile(self.dir_for(sid))

    def _delete_auth_dir(self, sid: str) -> bool:
        d = self.dir_for(sid)
        if not d.exists():
            return False
        shutil.rmtree(d, ignore_errors=True)
        if self.layout == Layout.PULSE:
            with contextlib.suppress(OSError):
                d.parent.rmdir()  # the `<phone>/` dataPath, when now empty
        return True

    # --- operations (HTTP routes and control) -------------------------------------------

    def client(self, sid: str) -> SimClient | None:
        with self.cond:
            self._tick()
            return self.clients.get(sid)

    def start(self, sid: str) -> tuple[SimClient | None, str]:
        """Salesboy `/session/start`: (new client to wait for, "") or (None, message for a running one)."""
        with self.cond:
            self._tick()
            c = self.clients.get(sid)
            if c is None:
                return self._new_client(sid, self._clock()), ""
            if c.phase == Phase.READY:
                return None, "Session already active"
            if c.phase == Phase.STARTING:
                self.log.info(f"Session already initializing for user {sid}")
                return None, "Session is initializing"
            return None, "Session connecting"

    def wait_started(self, c: SimClient, timeout: float) -> str | None:
        """Block until the browser is up (what `client.initialize()` awaits); the launch error or None."""
        with self.cond:
            self.cond.wait_for(lambda: not c.alive or c.phase != Phase.STARTING or self._stopping, timeout)
            if c.start_error is not None and not c.alive:
                return c.start_error
            return None

    def stop(self, sid: str, delete_auth: bool = True) -> bool:
        """Salesboy `/session/stop`: destroy the client and delete its auth dir; False when no client."""
        with self.cond:
            c = self.clients.get(sid)
            if c is None:
                return False
            self._drop(c)
            self.log.info(f"Session stopped for {sid}")
            if delete_auth and self._delete_auth_dir(sid):
                self.log.info(f"Deleted auth for {sid}")
            return True

    def scan(self, sid: str) -> bool:
        """The operator scanned the current code."""
        with self.cond:
            self._tick()
            c = self.clients.get(sid)
            if c is None or c.phase != Phase.QR:
                return False
            self._scan(c, self._clock())
            return True

    def disconnect(self, sid: str, reason: str = "NAVIGATION") -> bool:
        """whatsapp-web.js `disconnected`: client dropped, auth dir kept; LOGOUT makes it dead."""
        with self.cond:
            c = self.clients.get(sid)
            if c is None:
                return False
            self.log.warn(f"User {sid} disconnected: {reason}")
            if reason.upper() == "LOGOUT":
                self.dead.add(sid)
            self._drop(c)
            return True

    def auth_failure(self, sid: str, message: str = "Unable to restore session") -> bool:
        """whatsapp-web.js `auth_failure`: client dropped, auth dir kept."""
        with self.cond:
            c = self.clients.get(sid)
            if c is None:
                return False
            self.log.error(f"Auth failure for user {sid}: {message}")
            self._drop(c)
            return True

    def fail_next_start(self, message: str) -> None:
        """The next client's browser will fail to launch with `message`."""
        with self.cond:
            self._fail_next = message

    def wait_qr(self, c: SimClient, seen: int, timeout: float) -> tuple[int, str] | None:
        """Wait for a code newer than version `seen`; (version, png data URL) or None on timeout."""
        with self.cond:
            self.cond.wait_for(lambda: c.version != seen or self._stopping, timeout)
            if c.version != seen and c.qr_png is not None and c.phase == Phase.QR:
                return c.version, c.qr_png
            return None

    # --- host faults (need browsers) ----------------------------------------------------

    def crash_browser(self, sid: str) -> int:
        """The session's browser dies by SIGKILL: the client drops and a stale SingletonLock stays behind.

        With no running browser, a lock naming a real dead pid is written instead. Returns that pid.
        """
        with self.cond:
            c = self.clients.get(sid)
            pid = self.browsers.crash(sid) if self.browsers is not None else None
            if c is not None:
                self.log.warn(f"User {sid} disconnected: Protocol error: Target closed")
                self._drop(c)
            if pid is None:
                pid = make_stale_lock(self.dir_for(sid))
            return pid

    def orphan_browser(self, sid: str) -> int | None:
        """The gateway loses the client but not its browser (a restart path that skipped destroy()).

        The status route then says the session does not exist while its browser keeps the profile. None when the
        session had no running browser.
        """
        with self.cond:
            c = self.clients.get(sid)
            pid = self.browsers.detach(sid) if self.browsers is not None else None
            if c is not None:
                self._drop(c, keep_browser=True)
            if self.flavor == Flavor.PULSE:
                self.known.discard(sid)  # Pulse lists every instance it runs: a forgotten one is no longer listed
            return pid

    def close_browsers(self) -> None:
        """Stop every stand-in browser, orphans included (the simulator is stopping)."""
        with self.cond:
            if self.browsers is not None:
                self.browsers.close_all()

    # --- Pulse instances ---------------------------------------------------------------

    def restart_instance(self, phone: str) -> SimClient | None:
        """Pulse restart: destroy and re-initialize a known instance; None when unknown."""
        with self.cond:
            if phone not in self.known:
                return None
            old = self.clients.get(phone)
            if old is not None:
                self._drop(old)
            return self._new_client(phone, self._clock())

    def logout_instance(self, phone: str) -> bool:
        """Pulse logout: unlink from the phone, which removes the auth dir (the next start needs a QR)."""
        with self.cond:
            if phone not in self.known:
                return False
            c = self.clients.get(phone)
            if c is not None:
                self.log.warn(f"User {phone} disconnected: LOGOUT")
                self._drop(c)
            self._delete_auth_dir(phone)
            return True

    def clear_instance(self, phone: str) -> bool:
        """Pulse DELETE session: destroy the client and the auth dir."""
        with self.cond:
            if phone not in self.known:
                return False
            c = self.clients.get(phone)
            if c is not None:
                self._drop(c)
            if self._delete_auth_dir(phone):
                self.log.info(f"Deleted auth for {phone}")
            return True

    def add_instance(self, phone: str, start: bool = True) -> None:
        """Configure a Pulse instance (and start it)."""
        with self.cond:
            self.known.add(phone)
            if start and phone not in self.clients:
                self._new_client(phone, self._clock())

    # --- views -----------------------------------------------------------------------

    def snapshot(self) -> dict[str, dict[str, object]]:
        """Every client's state (control route / tests)."""
        with self.cond:
            self._tick()
            return {
                sid: {"phase": c.phase.value, "qr_count": c.qr_count, "restoring": c.restoring,
                      "qr_payload": c.qr_payload}
                for sid, c in sorted(self.clients.items())
            }

    def restore_pending(self) -> list[str]:
        """Ids the boot-time restore has not reached yet."""
        with self.cond:
            self._tick()
            return list(self._restore.queue)
