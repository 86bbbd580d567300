"""Plain data shared by every layer: states, sessions, findings, snapshots. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pulse_tui.events import ChannelStatus  # events.py imports this module


class ConnState(StrEnum):
    """WhatsApp connection state of one gateway session, as an operator reads it."""

    STOPPED = "stopped"
    STARTING = "starting"
    QR = "qr"  # waiting for a scan
    CONNECTED = "connected"
    RESTORABLE = "restorable"  # auth on disk, no client: a start reconnects without QR
    RESTORING = "restoring"  # queued in the gateway's boot-time restore
    STUCK = "stuck"  # starting for too long with no QR
    UNKNOWN = "unknown"  # source unreachable or out of budget


class ValueClass(StrEnum):
    """How a `session:*` value in Redis opens."""

    OK = "ok"
    DEFAULT_KEY = "default-key"
    UNDECRYPTABLE = "undecryptable"
    PLAIN = "plain"
    CORRUPT = "corrupt"


class IndexClass(StrEnum):
    """State of the `whatsapp:*` index that points at a session."""

    OK = "ok"
    DANGLING = "dangling"  # index key whose session is gone
    ORPHAN = "orphan"  # session with no index key pointing at it
    WRONG_TYPE = "wrong-type"  # index key that is a hash, list… instead of a string


class HealthState(StrEnum):
    """Health of a source (gateway or Redis) as shown in the header."""

    OK = "ok"
    UNAUTHORIZED = "unauthorized"
    RATE_LIMITED = "rate-limited"
    DOWN = "down"
    ERROR = "error"  # 5xx or a body we could not understand
    BUDGET = "out-of-budget"  # our own request budget is spent; waiting, not failing
    UNKNOWN = "unknown"  # not checked yet


class Severity(StrEnum):
    OK = "ok"
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"
    UNKNOWN = "unknown"  # could not check

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.OK: 0,
    Severity.INFO: 0,
    Severity.WARNING: 1,
    Severity.CRITICAL: 2,
    Severity.UNKNOWN: 3,
}


@dataclass(frozen=True)
class Finding:
    """One diagnosis: what is wrong, how bad, and how to fix it. Never carries a secret."""

    severity: Severity
    code: str  # stable, kebab-case, e.g. "redis-persistence-off"
    message: str
    hint: str = ""
    subjects: tuple[str, ...] = ()  # example ids, never values


# --- gateway -----------------------------------------------------------------


@dataclass(frozen=True)
class QrCode:
    """A QR as a gateway gives it: a raw payload (Pulse, WAHA) or a PNG data URL (Salesboy)."""

    payload: str | None = None
    png_data_url: str | None = None


class FailureKind(StrEnum):
    """Why a gateway call failed, finer than its HealthState (for scripts reading `status --json`)."""

    TRANSPORT = "transport"  # refused, reset, closed without answering
    DEADLINE = "deadline"  # no complete answer within the call's total deadline
    TOO_LARGE = "too-large"  # the body grew past the call's size cap
    MALFORMED = "malformed"  # not JSON, too deep, NaN/inf, or the wrong shape
    HTTP = "http"  # 401/404/5xx and other statuses the route does not expect
    RATE_LIMITED = "rate-limited"  # the server's 429 / Retry-After
    BUDGET = "budget"  # our own (shared) budget refused the request; nothing was sent
    INVALID = "invalid"  # an id the gateway would refuse; nothing was sent
    INTERNAL = "internal"  # an unexpected error inside pulse-tui, contained to this source


@dataclass(frozen=True)
class GatewayFailure:
    """A gateway call that did not succeed, as a value instead of an exception."""

    state: HealthState
    detail: str
    status_code: int | None = None
    retry_after_s: float | None = None
    kind: FailureKind = FailureKind.HTTP


@dataclass(frozen=True)
class BudgetUse:
    """Who spent the gateway's rate-limit window: this process, other pulse-tui processes, anyone else."""

    this_process: int
    other_pulse_tui: int
    someone_else: int  # the server's count minus every pulse-tui request in the shared ledger
    server_used: int | None = None  # the server's own count (limit - remaining), when it said


@dataclass(frozen=True)
class GatewayHealth:
    state: HealthState
    latency_ms: float | None = None
    budget_left: int | None = None  # requests we may still spend in this window
    budget_limit: int | None = None
    retry_after_s: float | None = None  # when rate-limited: seconds until we may ask again
    detail: str = ""
    failure_kind: FailureKind | None = None
    budget_use: BudgetUse | None = None


@dataclass(frozen=True)
class SessionStatus:
    """What a gateway says about one session at one moment."""

    session_id: str
    exists: bool
    ready: bool
    qr: QrCode | None = None
    phone: str | None = None
    name: str | None = None
    # Gateways with a state machine of their own (WAHA, Evolution) say it here; None: derive from exists/ready.
    state: ConnState | None = None
    gateway_word: str = ""  # the gateway's own word, shown as is: "FAILED", "close (database: connecting)"
    detail: str = ""  # why, in one sentence: "logged out on the phone (401): needs a new QR"
    last_activity: float | None = None  # epoch seconds of the session's last event, when the gateway tells


@dataclass(frozen=True)
class ActionResult:
    ok: bool
    message: str
    failure: GatewayFailure | None = None


# --- redis -------------------------------------------------------------------


@dataclass(frozen=True)
class Persistence:
    """Redis persistence facts. `None` fields mean CONFIG/INFO could not tell; unknown is never "off"."""

    save: str | None
    appendonly: str | None
    config_available: bool
    rdb_last_bgsave_status: str | None = None
    aof_last_write_status: str | None = None
    rdb_changes_since_last_save: int | None = None
    rdb_last_save_time: int | None = None
    rdb_saves: int | None = None  # RDB snapshots since start (INFO, Redis 7+)
    rdb_last_bgsave_time_sec: int | None = None  # -1 until a BGSAVE has run since start

    @property
    def rdb_saves_seen(self) -> bool:
        """INFO shows an RDB snapshot written since the server started."""
        return bool(self.rdb_saves) or (self.rdb_last_bgsave_time_sec is not None and self.rdb_last_bgsave_time_sec >= 0)

    @property
    def enabled(self) -> bool | None:
        """True when a restart keeps data, False when it loses it, None when unknown."""
        if (self.appendonly or "").lower() == "yes" or (self.save or "").strip():
            return True
        if self.save is not None and self.appendonly is not None:
            return False  # both read from CONFIG: nothing is saved
        # CONFIG renamed or denied (managed Redis): INFO can prove saves happen, never that they don't.
        return True if self.rdb_saves_seen else None

    @property
    def basis(self) -> str:
        """Where `enabled` comes from, for the header and the doctor."""
        if self.config_available and self.save is not None and self.appendonly is not None:
            return "CONFIG"
        if (self.appendonly or "").lower() == "yes":
            return "INFO aof_enabled"
        if self.rdb_saves_seen:
            return "INFO: RDB snapshots written since start"
        return "CONFIG unavailable, INFO inconclusive"

    @property
    def last_save_failed(self) -> bool:
        return self.rdb_last_bgsave_status == "err" or self.aof_last_write_status == "err"


# UserSession and IndexKey are built 10,000 at a time per poll, so they are plain slotted dataclasses: a frozen
# one's __init__ goes through object.__setattr__ per field, ten times the cost. Nothing mutates them once built.


@dataclass(slots=True)
class UserSession:
    """One `session:<id>` key in Pulse's Redis, classified. `fields` never holds a secret."""

    key: str
    session_id: str
    value_class: ValueClass
    ttl: int | None  # seconds; None = no expiry
    whatsapp_id: str | None = None
    phone: str | None = None
    linked: bool = False
    expires_at: str | None = None
    last_activity: str | None = None
    key_label: str | None = None  # which key opened it: "configured", "default", "placeholder"…
    index: IndexClass = IndexClass.OK
    detail: str = ""
    fields: tuple[tuple[str, str], ...] = ()  # redacted display fields
    redis_type: str = "string"  # the key's Redis type: hash, list, set, zset, stream for a wrong-type key
    raw_key: bytes = b""  # the key's exact bytes: the identity (two binary keys may display alike)


@dataclass(slots=True)
class IndexKey:
    """One `whatsapp:` index key and the session it points at (its TTL is not read: nothing shows or checks it)."""

    key: str
    session_id: str
    index_class: IndexClass
    redis_type: str = "string"
    raw_key: bytes = b""


@dataclass(frozen=True)
class RedisReport:
    available: bool
    error: str = ""
    sessions: tuple[UserSession, ...] = ()
    index_keys: tuple[IndexKey, ...] = ()
    persistence: Persistence | None = None
    round_trips: int = 0
    took_s: float = 0.0
    other_encrypted: int = 0  # otp:, balance:… values seen (counted, not classified one by one)


# --- monitor snapshot ----------------------------------------------------------


@dataclass(frozen=True)
class StateChange:
    at: float  # wall-clock epoch seconds
    state: ConnState
    reason: str = ""


@dataclass(frozen=True)
class SessionView:
    """One WhatsApp connection as the monitor sees it, merged from every source."""

    id: str
    state: ConnState
    since: float  # epoch seconds when it entered `state`
    seconds_in_state: float
    phone: str | None = None
    name: str | None = None
    has_auth_dir: bool = False
    auth_dir: str | None = None
    restorable: bool = False  # survives a gateway restart without a QR scan
    last_fresh: float | None = None  # epoch seconds of the last first-hand data
    stale_s: float | None = None  # age of the data when the source could not be asked
    last_activity: float | None = None
    qr: QrCode | None = None
    flags: frozenset[str] = frozenset()
    detail: str = ""
    history: tuple[StateChange, ...] = ()
    last_known: ConnState | None = None  # when state is UNKNOWN: the state before the source went away
    # host facts (None/empty when no host source is configured or the scan failed)
    rss_bytes: int | None = None  # summed over the session's browser processes; 0 = scanned, none running
    cpu_percent: float | None = None  # 100 = one core; None until two scans have been compared
    browser_pids: tuple[int, ...] = ()
    pss_bytes: int | None = None  # summed PSS: the session's share of host memory (None: smaps unreadable)
    uss_bytes: int | None = None  # summed USS: private memory, what killing the browser frees
    lock: str = "none"  # "none" | "stale" | "conflict" | "foreign" | "unknown" (a live own lock is "none")
    lock_info: LockView | None = None  # the lock's pid, host and paths, for the details pane
    orphans: tuple[OrphanView, ...] = ()  # browser trees of this session nobody owns any more
    gateway_word: str = ""  # the gateway's own word for the state (WAHA "FAILED", Evolution "close"), shown as is
    no_browser: str = ""  # why there is no browser to measure (the gateway runs none): memory is null, not 0
    # `since` is when pulse-tui first saw it, already in this state (no change seen yet): it has been so at least
    # that long, maybe for days; shown as "≥ 15s", never as if it had just connected
    since_first_seen: bool = False


@dataclass(frozen=True)
class LockView:
    """Chromium's SingletonLock in one session's profile dir, as the details pane shows it."""

    state: str  # LockState value: none / stale / live / conflict / foreign / unknown
    profile_dir: str
    host: str | None = None
    pid: int | None = None
    files: tuple[str, ...] = ()  # which of SingletonLock/SingletonSocket/SingletonCookie exist
    holder: str = ""  # for a live pid: its process name
    detail: str = ""


@dataclass(frozen=True)
class OrphanView:
    """One orphaned browser tree: what it holds and why nobody owns it."""

    root_pid: int
    pids: tuple[int, ...]
    rss_bytes: int
    user_data_dir: str
    reason: str
    pss_bytes: int | None = None


@dataclass(frozen=True)
class Pm2Summary:
    """The gateway's pm2 app, for the header."""

    app: str
    status: str  # online / stopped / errored / launching…
    restarts: int  # pm2's own count
    restarts_since_start: int  # since pulse-tui started
    memory_restarts: int  # by max_memory_restart since pulse-tui started
    uptime_s: float | None
    memory_bytes: int | None
    pid: int | None = None
    cpu_percent: float | None = None
    max_memory_restart: int | None = None
    read_at: float | None = None  # clock time of the `pm2 jlist` behind status and restarts (memory/CPU: this poll)


@dataclass(frozen=True)
class HostSummary:
    """Host facts of one poll: browser memory, free memory, pm2. `error` says why a part is missing."""

    unmapped_browsers: int = 0  # WAHA browsers on a temp profile no session could be tied to (many sessions)
    unmapped_why: tuple[str, ...] = ()  # why each could not be tied (by start time), when the monitor tried
    browser_matches: tuple[tuple[str, str], ...] = ()  # (session id, how its temp-profile browser was tied to it)
    browser_rss_bytes: int = 0  # summed RSS: counts shared pages once per process (3-4x too high for Chromium)
    browser_pss_bytes: int | None = None  # summed PSS: what the browsers cost the host
    browser_uss_bytes: int | None = None  # summed USS: what killing them all frees
    memory_age_s: float | None = None  # age of the oldest PSS/USS figure (smaps is read at a slower cadence)
    mem_available_bytes: int | None = None
    mem_total_bytes: int | None = None
    browsers: int = 0  # browser process trees seen
    browser_processes: int = 0
    orphans: int = 0
    stale_locks: int = 0  # same host, pid dead: Chromium clears them itself
    foreign_locks: int = 0  # written on another host: the next start fails (exit 21)
    pm2: Pm2Summary | None = None  # None: no pm2, no daemon, app not found or unreadable (see pm2_state)
    pm2_state: str = "off"  # "ok" | "not-available" | "not-running" | "error" | "app-missing" | "off"
    pm2_detail: str = ""
    scan_s: float = 0.0
    error: str = ""  # the host probe failed (the rest of the snapshot is still good)


@dataclass(frozen=True)
class KeysStatus:
    """Header summary of the encryption keys: ok / mismatch / default key in use."""

    state: str  # "ok" | "mismatch" | "default" | "unknown"
    detail: str = ""


@dataclass(frozen=True)
class Snapshot:
    taken_at: float
    gateway_kind: str
    gateway_url: str
    gateway: GatewayHealth
    sessions: tuple[SessionView, ...]
    redis: RedisReport | None
    keys: KeysStatus
    findings: tuple[Finding, ...] = ()
    poll_s: float = 0.0
    host: HostSummary | None = None  # None when the monitor has no host source
    redis_pending: bool = False  # the first Redis inspection has not finished yet (the header says "checking")
    # The gateway's event channel (pulse_tui.events.ChannelStatus): None when it has none (polling only).
    events: ChannelStatus | None = None

    def session(self, session_id: str) -> SessionView | None:
        for s in self.sessions:
            if s.id == session_id:
                return s
        return None
