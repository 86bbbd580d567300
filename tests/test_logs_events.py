"""Session events from the exact lines the simulator's engine writes, read back through the follower."""

from __future__ import annotations

from pathlib import Path

import pytest

from pulse_tui.clock import FakeClock
from pulse_tui.config import Config, GatewayKind
from pulse_tui.model import ConnState
from pulse_tui.monitor.service import Monitor
from pulse_tui.sim.engine import MAX_QR_REASON, Engine, Flavor, Timing, phone_for
from pulse_tui.sim.simlog import WinstonLog
from pulse_tui.sources.gateway.salesboy import CAPABILITIES as SALESBOY_CAPABILITIES
from pulse_tui.sources.logs import EventKind, LogFollower, SessionEvent, events_from_lines, parse_event

A = "6f1c2a4e-1b2c-4d3e-8f90-123456789abc"
B = "0b8e6a52-3c1d-4e2f-9a0b-abcdefabcdef"
C = "9d7f1e20-5a4b-4c3d-8e2f-112233445566"
D = "11111111-2222-4333-8444-555555555555"


class Tick:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def drive(engine: Engine, tick: Tick, seconds: float, step: float = 0.5) -> None:
    end = tick.t + seconds
    while tick.t < end:
        tick.t += step
        engine.tick()


@pytest.fixture
def sim(tmp_path: Path) -> tuple[Engine, Tick, Path]:
    tick = Tick()
    log = WinstonLog(tmp_path / "logs")
    timing = Timing(start_delay_s=1.0, qr_interval_s=5.0, qr_max=2, ready_delay_s=0.5, restore_interval_s=5.0)
    engine = Engine(tmp_path / ".wwebjs_auth", Flavor.SALESBOY, log, timing, clock=tick, seed=1)
    return engine, tick, tmp_path


async def test_every_salesboy_message_from_the_simulator(sim: tuple[Engine, Tick, Path]) -> None:
    engine, tick, tmp_path = sim
    follower = LogFollower([str(tmp_path / "logs" / "gateway-*.log")])
    await follower.poll()
    # A: linked before, restored at boot
    engine._write_auth_dir(A)
    engine.boot()
    drive(engine, tick, 8)
    # B: new, QR, started twice while starting, scanned, then an auth failure
    engine.start(B)
    engine.start(B)
    drive(engine, tick, 1.5)
    engine.scan(B)
    drive(engine, tick, 1)
    engine.auth_failure(B, "Unable to restore session")
    # C: the browser fails to start; D: QR never scanned; A: unlinked from the phone, then stopped again
    engine.fail_next_start("Failed to launch the browser process!")
    engine.start(C)
    engine.start(D)
    drive(engine, tick, 15)
    engine.disconnect(A, "LOGOUT")
    engine.start(A)
    drive(engine, tick, 1.5)
    engine.scan(A)
    drive(engine, tick, 1)
    engine.stop(A)

    lines = await follower.poll()
    await follower.aclose()
    events = events_from_lines(lines)
    got = [(e.kind, e.session_id, e.detail) for e in events]
    expected = [
        (EventKind.RESTORE_FOUND, None, "1"),
        (EventKind.RESTORING, A, "1/1"),
        (EventKind.AUTHENTICATED, A, ""),
        (EventKind.READY, A, ""),
        (EventKind.CONNECTED, A, phone_for(A)),
        (EventKind.ALREADY_INITIALIZING, B, ""),
        (EventKind.QR, B, ""),
        (EventKind.AUTHENTICATED, B, ""),
        (EventKind.READY, B, ""),
        (EventKind.CONNECTED, B, phone_for(B)),
        (EventKind.AUTH_FAILURE, B, "Unable to restore session"),
        (EventKind.INIT_FAILED, C, "Failed to launch the browser process!"),
        (EventKind.DISCONNECTED, D, MAX_QR_REASON),
        (EventKind.DISCONNECTED, A, "LOGOUT"),
        (EventKind.STOPPED, A, ""),
        (EventKind.AUTH_DELETED, A, ""),
    ]
    for item in expected:
        assert item in got, item
    assert got.count((EventKind.QR, D, "")) == 2  # qr_max codes, then the client gives up
    assert all(e.at is not None for e in events)
    # every simulator line that names a session turned into an event: nothing slipped through
    assert len(events) == len([m for m in engine.log.lines if parse_event(m) is not None])
    assert len(engine.log.lines) == len(events)


@pytest.mark.parametrize(
    ("message", "kind", "sid", "detail"),
    [
        ("Found 3 session(s) to restore", EventKind.RESTORE_FOUND, None, "3"),
        (f"Restoring session 2/3 for user {A}", EventKind.RESTORING, A, "2/3"),
        (f"QR code generated for user {A}", EventKind.QR, A, ""),
        (f"✅ WhatsApp client ready for user {A}", EventKind.READY, A, ""),
        (f"User {A} connected with number: 18765551234", EventKind.CONNECTED, A, "18765551234"),
        (f"User {A} authenticated", EventKind.AUTHENTICATED, A, ""),
        (f"Auth failure for user {A}: bad creds", EventKind.AUTH_FAILURE, A, "bad creds"),
        (f"User {A} disconnected: NAVIGATION", EventKind.DISCONNECTED, A, "NAVIGATION"),
        (f"Session already initializing for user {A}", EventKind.ALREADY_INITIALIZING, A, ""),
        (f"Failed to initialize session for {A}: boom", EventKind.INIT_FAILED, A, "boom"),
        (f"Session stopped for {A}", EventKind.STOPPED, A, ""),
        (f"Deleted auth for {A}", EventKind.AUTH_DELETED, A, ""),
        ("Failed to get encrypted value for key session:0123456789abcdef0123456789abcdef:",
         EventKind.PULSE_DESTROYED, "0123456789abcdef0123456789abcdef", ""),
        ("[Nest] 7  - 11/25/2026, 8:01:02 AM   ERROR [RedisService] Failed to get encrypted value for key "
         "session:0123456789abcdef0123456789abcdef: Error: Decryption failed",
         EventKind.PULSE_DESTROYED, "0123456789abcdef0123456789abcdef", "Error: Decryption failed"),
    ],
)
def test_each_message(message: str, kind: EventKind, sid: str | None, detail: str) -> None:
    ev = parse_event(message, 5.0)
    assert ev == SessionEvent(kind, sid, 5.0, detail)


@pytest.mark.parametrize(
    "message",
    ["Redis client disconnected", "User connected", "QR code expired", "Session restored for nobody",
     "Found sessions to restore"],
)
def test_unrelated_lines_are_no_events(message: str) -> None:
    assert parse_event(message) is None


def test_kinds_are_the_strings_the_monitor_reads() -> None:
    assert {k.value for k in EventKind} >= {
        "restore_found", "restoring", "qr", "ready", "connected", "authenticated", "auth_failure",
        "disconnected", "already_initializing", "init_failed", "stopped", "auth_deleted", "pulse_destroyed"}


class _NoGateway:
    kind = GatewayKind.SALESBOY
    url = "http://127.0.0.1:1"
    capabilities = SALESBOY_CAPABILITIES


def test_monitor_accepts_the_events() -> None:
    clock = FakeClock()
    mon = Monitor(Config(), _NoGateway(), clock=clock)  # type: ignore[arg-type]
    evs = [parse_event(f"User {A} authenticated", clock.now()),
           parse_event(f"✅ WhatsApp client ready for user {A}", clock.now()),
           parse_event(f"User {A} connected with number: 18765551234", clock.now())]
    assert mon.take_log_events([e for e in evs if e is not None])
    assert A in mon.tracked_ids()
    view = mon.current().session(A)
    assert view is not None and view.state == ConnState.CONNECTED and view.phone == "18765551234"
