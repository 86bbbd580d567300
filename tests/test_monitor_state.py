"""The connection state machine, fed facts directly (pure logic, no sources)."""

from __future__ import annotations

from pulse_tui.model import ConnState, QrCode, SessionStatus
from pulse_tui.monitor.state import Tracked, advance, derive, flags_for, view_of
from pulse_tui.sources.gateway.salesboy import CAPABILITIES as SALESBOY

T0 = 1_790_000_000.0
SID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"


def status(exists: bool, ready: bool, qr: bool = False) -> SessionStatus:
    return SessionStatus(SID, exists=exists, ready=ready, qr=QrCode(png_data_url="data:x") if qr else None)


def test_ready_wins_over_stale_qr() -> None:
    t = Tracked(SID)
    t.learn_status(status(True, True, qr=True), T0)
    assert derive(t, T0)[0] == ConnState.CONNECTED
    assert t.facts.qr is None


def test_lifecycle_and_history() -> None:
    t = Tracked(SID)
    t.learn_status(status(True, False), T0)
    assert advance(t, T0) and t.state == ConnState.STARTING
    t.learn_status(status(True, False, qr=True), T0 + 5)
    advance(t, T0 + 5)
    assert t.state == ConnState.QR
    t.learn_status(status(True, True), T0 + 30)
    advance(t, T0 + 30)
    assert t.state == ConnState.CONNECTED
    assert [h.state for h in t.history] == [ConnState.STARTING, ConnState.QR, ConnState.CONNECTED]
    assert not advance(t, T0 + 40)  # no change, no new history entry


def test_stuck_after_long_start_without_qr() -> None:
    t = Tracked(SID)
    t.learn_status(status(True, False), T0)
    advance(t, T0)
    t.learn_status(status(True, False), T0 + 60)
    advance(t, T0 + 60, stuck_after_s=90)
    assert t.state == ConnState.STARTING
    t.learn_status(status(True, False), T0 + 100)
    advance(t, T0 + 100, stuck_after_s=90)
    assert t.state == ConnState.STUCK and "stuck" in flags_for(t, SALESBOY)


def test_no_client_with_auth_is_restorable_or_restoring() -> None:
    t = Tracked(SID, has_auth_dir=True)
    t.learn_status(status(False, False), T0)
    assert derive(t, T0)[0] == ConnState.RESTORABLE
    t.restore_due = T0 + 30
    assert derive(t, T0 + 10)[0] == ConnState.RESTORING
    assert derive(t, T0 + 31)[0] == ConnState.RESTORABLE
    t.auth_dead = True
    assert derive(t, T0 + 31)[0] == ConnState.STOPPED


def test_no_client_no_auth_is_stopped_and_invalid_dir_never_restores() -> None:
    t = Tracked(SID)
    t.learn_status(status(False, False), T0)
    assert derive(t, T0)[0] == ConnState.STOPPED
    t2 = Tracked("current-user", has_auth_dir=True, auth_valid=False)
    t2.learn_status(SessionStatus("current-user", exists=False, ready=False), T0)
    advance(t2, T0)
    assert t2.state == ConnState.STOPPED and "never-restored" in flags_for(t2, SALESBOY)


def test_view_marks_stale_and_connected_without_auth_dir() -> None:
    t = Tracked(SID)
    t.learn_status(status(True, True), T0)
    advance(t, T0)
    v = view_of(t, T0 + 100, SALESBOY, fresh_within_s=30)
    assert v.stale_s == 100 and "stale" in v.flags
    assert "will-not-survive-restart" in v.flags and not v.restorable
    t.has_auth_dir = True
    v = view_of(t, T0 + 5, SALESBOY, fresh_within_s=30)
    assert v.stale_s is None and v.restorable and "will-not-survive-restart" not in v.flags
    assert v.seconds_in_state == 5


def test_time_in_state_is_a_minimum_until_a_change_is_seen() -> None:
    from pulse_tui.tui.rows import in_state_text

    t = Tracked(SID)
    t.learn_status(status(True, True), T0)
    advance(t, T0)  # first sight: connected for who knows how long already
    v = view_of(t, T0 + 15, SALESBOY, fresh_within_s=30)
    assert v.since_first_seen and in_state_text(v, T0 + 15) == "≥15s"
    t.learn_status(status(False, False), T0 + 20)
    advance(t, T0 + 20)  # a change pulse-tui saw: from then on the time is exact
    v = view_of(t, T0 + 27, SALESBOY, fresh_within_s=30)
    assert not v.since_first_seen and in_state_text(v, T0 + 27) == "7s"
