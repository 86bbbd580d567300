"""Fixed snapshots for appearance tests: every connection state, every Redis value class, a few findings.

Appearance (snapshot) tests need the same pixels every run, so they read these instead of a live monitor;
the behaviour tests in test_tui_app.py use the real simulator and Redis.
"""

from __future__ import annotations

from typing import Any

from pulse_tui.clock import FakeClock
from pulse_tui.config import Config
from pulse_tui.model import (
    ConnState,
    Finding,
    GatewayHealth,
    HealthState,
    HostSummary,
    IndexClass,
    KeysStatus,
    Persistence,
    QrCode,
    RedisReport,
    SessionView,
    Severity,
    Snapshot,
    StateChange,
    UserSession,
    ValueClass,
)
from pulse_tui.sim.canned import CannedGateway, CannedSource

T0 = 1_790_000_000.0
IDS = {
    ConnState.CONNECTED: "3f8a1c52-9b7e-4d2a-8c61-5e0f7a9b2d14",
    ConnState.QR: "7c9e6679-7425-40de-944b-e07fc1f90ae7",
    ConnState.STARTING: "0b5e3c1a-2f4d-4e6b-8a7c-9d0e1f2a3b4c",
    ConnState.RESTORING: "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
    ConnState.RESTORABLE: "c0ffee00-1234-4abc-9def-0123456789ab",
    ConnState.STOPPED: "current-user",
    ConnState.STUCK: "5d6e7f80-91a2-4b3c-8d4e-5f6071829304",
    ConnState.UNKNOWN: "e9f8a7b6-c5d4-4e3f-9a2b-1c0d9e8f7a6b",
}
PAYLOAD = "2@" + "Q" * 60 + "," + "k" * 43 + "=," + "p" * 43 + "=," + "s" * 43 + "="


def _view(state: ConnState, age: float, **kw: Any) -> SessionView:
    sid = IDS[state]
    history = (StateChange(T0 - age - 40, ConnState.STARTING, "start requested"), StateChange(T0 - age, state))
    return SessionView(id=sid, state=state, since=T0 - age, seconds_in_state=age, last_fresh=T0 - 2,
                       history=history, **kw)


def snapshot(gateway: GatewayHealth | None = None, redis_up: bool = True) -> Snapshot:
    sessions = (
        _view(ConnState.CONNECTED, 3725, phone="18765551234", has_auth_dir=True, restorable=True,
              auth_dir="/root/salesboy-gateway/.wwebjs_auth/session-3f8a1c52-9b7e-4d2a-8c61-5e0f7a9b2d14",
              last_activity=T0 - 12, rss_bytes=612 * 2**20, pss_bytes=171 * 2**20, uss_bytes=88 * 2**20,
              browser_pids=(4242, 4250, 4251)),
        _view(ConnState.QR, 14, qr=QrCode(payload=PAYLOAD), detail="waiting for a scan"),
        _view(ConnState.STARTING, 6),
        _view(ConnState.RESTORING, 31, has_auth_dir=True, restorable=True),
        _view(ConnState.RESTORABLE, 900, has_auth_dir=True, restorable=True),
        _view(ConnState.STOPPED, 86_400, has_auth_dir=True, flags=frozenset({"never-restored"})),
        _view(ConnState.STUCK, 140, flags=frozenset({"stuck", "stale-lock"}), lock="stale"),
        SessionView(id=IDS[ConnState.UNKNOWN], state=ConnState.UNKNOWN, since=T0 - 50, seconds_in_state=50,
                    stale_s=95, flags=frozenset({"stale"}), last_known=ConnState.CONNECTED),
    )
    users = (
        UserSession("session:" + "a" * 32, "a" * 32, ValueClass.OK, 80_000, "18765551234@c.us", "18765551234",
                    True, key_label="configured", fields=(("isVerified", "true"), ("flashAuthToken", "••••"))),
        UserSession("session:" + "b" * 32, "b" * 32, ValueClass.DEFAULT_KEY, 52_000, "18765550000@c.us",
                    "18765550000", True, key_label="default"),
        UserSession("session:" + "c" * 32, "c" * 32, ValueClass.UNDECRYPTABLE, 3_600, index=IndexClass.OK),
        UserSession("session:" + "d" * 32, "d" * 32, ValueClass.PLAIN, 1_700, "18765559999@c.us", "18765559999"),
        UserSession("session:" + "e" * 32, "e" * 32, ValueClass.CORRUPT, None, index=IndexClass.ORPHAN),
    )
    persistence = Persistence(save="", appendonly="no", config_available=True)
    redis = RedisReport(available=redis_up, sessions=users if redis_up else (), persistence=persistence,
                        error="" if redis_up else "connection refused by 127.0.0.1:6379")
    findings = (
        Finding(Severity.CRITICAL, "redis-persistence-off", "Redis saves nothing: a restart loses every session.",
                "CONFIG SET appendonly yes, and set it in redis.conf"),
        Finding(Severity.WARNING, "sessions-default-key", "1 session is encrypted with Pulse's default key.",
                "pulse-tui keys migrate --from-default --to-env /opt/pulse/.env", ("b" * 32,)),
    )
    return Snapshot(
        taken_at=T0,
        gateway_kind="salesboy",
        gateway_url="http://127.0.0.1:3001",
        gateway=gateway or GatewayHealth(HealthState.OK, latency_ms=12.0, budget_left=84, budget_limit=90),
        sessions=sessions,
        redis=redis,
        keys=KeysStatus("default", "1 session(s) encrypted with a default key"),
        findings=findings,
        host=HostSummary(browser_rss_bytes=612 * 2**20, browser_pss_bytes=171 * 2**20,
                         browser_uss_bytes=88 * 2**20, mem_available_bytes=9 * 2**30),
    )


def canned_app(snap: Snapshot | None = None, *, read_only: bool = False) -> Any:
    from pulse_tui.tui.app import PulseApp

    config = Config(read_only=read_only)
    return PulseApp(config, CannedSource(snap or snapshot()), CannedGateway(),  # type: ignore[arg-type]
                    clock=FakeClock(T0), autopoll=False)
