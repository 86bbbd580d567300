"""The watchdog's parts on their own: policy variables, backoff, breaker, journal, lock, expiry, metrics, state."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest

from pulse_tui.actions.perform import ActionContext
from pulse_tui.config import Config, ConfigError
from pulse_tui.exporter.metrics import watchdog_families
from pulse_tui.model import (
    ConnState,
    GatewayHealth,
    HealthState,
    KeysStatus,
    RedisReport,
    SessionView,
    Snapshot,
    UserSession,
    ValueClass,
)
from pulse_tui.sources.gateway.capabilities import Capabilities, QrForm
from pulse_tui.watch.backoff import Backoff, HourCap
from pulse_tui.watch.breaker import Breaker
from pulse_tui.watch.expiry import BudgetForecast, qr_giving_up, session_expiry
from pulse_tui.watch.journal import Entry, Journal, watch_paths
from pulse_tui.watch.lock import WatchLock, lock_is_held
from pulse_tui.watch.policy import Policy, policy_from_env
from pulse_tui.watch.state import watchdog_block, watchdog_reader, write_state
from pulse_tui.watch.watchdog import Mode, Watchdog

NOW = 1_790_000_000.0
CAPS = Capabilities(lists_sessions=False, stop_deletes_auth=True, has_restart=False, has_delete=True,
                    qr_form=QrForm.PNG_DATA_URL, budget_window_s=900.0)


def snap(*sessions: SessionView, health: HealthState = HealthState.OK, left: int | None = 80,
         redis: RedisReport | None = None, keys: str = "ok", at: float = NOW) -> Snapshot:
    return Snapshot(at, "salesboy", "http://127.0.0.1:3001", GatewayHealth(health, budget_left=left, budget_limit=90),
                    tuple(sessions), redis, KeysStatus(keys, "k"))


def view(sid: str, state: ConnState, since: float = NOW, restorable: bool = True) -> SessionView:
    return SessionView(sid, state, since, NOW - since, has_auth_dir=restorable, restorable=restorable)


# --- policy --------------------------------------------------------------------------------


def test_policy_defaults_and_variables() -> None:
    assert policy_from_env({}) == Policy()
    p = policy_from_env({"PULSE_TUI_WATCH_BACKOFF_S": "10", "PULSE_TUI_WATCH_MAX_PER_HOUR": "4"}, max_per_hour=2)
    assert p.backoff_base_s == 10.0 and p.max_per_hour == 2  # the flag wins


@pytest.mark.parametrize(("var", "value"), [
    ("PULSE_TUI_WATCH_JITTER", "2"), ("PULSE_TUI_WATCH_MAX_PER_HOUR", "1.5"), ("PULSE_TUI_WATCH_BACKOFF_S", "soon"),
    ("PULSE_TUI_WATCH_FLAP_WINDOW_S", "nan"), ("PULSE_TUI_WATCH_BACKOFF_MAX_S", "5"),
])
def test_a_bad_policy_variable_is_named(var: str, value: str) -> None:
    with pytest.raises(ConfigError, match=var):
        policy_from_env({var: value})


def test_bad_policy_exits_2_with_one_sentence(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    from pulse_tui.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PULSE_TUI_WATCH_JITTER", "3")
    assert main(["watch", "--once"]) == 2
    err = capsys.readouterr().err
    assert "PULSE_TUI_WATCH_JITTER" in err and "Traceback" not in err and err.count("\n") == 1


# --- backoff, cap, breaker -------------------------------------------------------------------


def test_backoff_doubles_to_its_max_with_jitter_below_each_step() -> None:
    b = Backoff(30.0, 900.0, 0.3, random.Random(7))
    waits = []
    for _ in range(8):
        waits.append(b.delay())
        b.attempted(0.0)
    for n, w in enumerate(waits):
        raw = min(900.0, 30.0 * 2**n)
        assert 0.7 * raw <= w <= raw
    assert len({round(w, 3) for w in waits}) == len(waits)  # jittered: no two alike
    b.reset()
    assert b.attempts == 0 and b.due_at is None


def test_hour_cap_slides() -> None:
    cap = HourCap(2)
    cap.note(0.0)
    cap.note(100.0)
    assert not cap.allows(3599.0) and cap.free_at(3599.0) == 3600.0
    assert cap.allows(3600.0)


def test_breaker_opens_on_flapping_and_on_failures_and_resets() -> None:
    b = Breaker(transitions=3, window_s=60.0, max_failures=2)
    assert b.changed(0.0) is None and b.changed(100.0) is None and b.changed(130.0) is None  # spread out
    assert b.changed(150.0) is not None and b.is_open
    b.reset()
    assert not b.is_open and b.failed() is None
    assert "in a row" in (b.failed() or "")


# --- journal and lock --------------------------------------------------------------------------


def test_journal_appends_reads_new_entries_and_stays_bounded(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    j = Journal(path, max_bytes=10_000)
    j.new_entries()
    other = Journal(path)  # another process: `watch --reset`
    other.append(Entry(NOW, "reset", "s-1"))
    assert [e.session for e in j.new_entries()] == ["s-1"]
    assert j.new_entries() == []
    with path.open("a") as fh:
        fh.write("not json\n[1, 2]\n")
    for i in range(500):
        j.append(Entry(NOW + i, "acted", f"s-{i}", "start", "x" * 40, ok=True))
    assert path.stat().st_size <= 10_000
    assert path.with_name("j.jsonl.1").stat().st_size <= 10_000
    last = j.last(5)
    assert [e.session for e in last] == [f"s-{i}" for i in range(495, 500)] and last[-1].ok is True
    assert json.loads(path.read_text().splitlines()[-1])["kind"] == "acted"


def test_journal_write_failure_is_reported_not_raised(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    j = Journal(tmp_path / "file" / "j.jsonl")
    j.append(Entry(NOW, "acted"))
    assert "not written" in j.error


def test_one_lock_per_gateway(tmp_path: Path) -> None:
    _, _, path = watch_paths(tmp_path, "http://user:pw@127.0.0.1:3001")
    assert "pw" not in str(path)
    a, b = WatchLock(path), WatchLock(path)
    assert a.acquire() and not b.acquire() and "another watchdog" in b.error
    assert lock_is_held(path)
    a.release()
    assert not lock_is_held(path) and b.acquire()
    b.release()


# --- expiry --------------------------------------------------------------------------------------


def test_user_sessions_expiring_within_the_window_become_warnings() -> None:
    def user(sid: str, ttl: int | None) -> UserSession:
        return UserSession(f"session:{sid}", sid, ValueClass.OK, ttl, phone="18765551234")

    redis = RedisReport(True, sessions=(user("u-soon", 3600), user("u-later", 3 * 86_400), user("u-never", None)))
    (w,) = session_expiry(snap(redis=redis), 86_400)
    assert w.subject == "u-soon" and w.at == NOW + 3600 and "60 min" in w.message
    assert "18765551234" not in w.message  # who is the session id, never the phone


def test_a_waiting_qr_says_when_it_gives_up() -> None:
    (w,) = qr_giving_up(snap(view("s-qr", ConnState.QR, since=NOW - 100)), 120.0)
    assert w.at == NOW + 20 and "gives up in 20 s" in w.message
    (late,) = qr_giving_up(snap(view("s-qr", ConnState.QR, since=NOW - 300)), 120.0)
    assert "used its attempts" in late.message


def test_a_budget_running_out_before_its_window_resets_is_predicted() -> None:
    f = BudgetForecast(900.0)
    assert f.observe(snap(left=90)) is None
    assert f.observe(snap(left=80, at=NOW + 30)) is None  # a burst is not a pace
    w = f.observe(snap(left=50, at=NOW + 120))  # 20 requests a minute: empty in 2.5 min, 10 min before the reset
    assert w is not None and w.code == "budget-running-out" and w.at == pytest.approx(NOW + 270)
    calm = BudgetForecast(900.0)
    calm.observe(snap(left=90))
    assert calm.observe(snap(left=88, at=NOW + 120)) is None


# --- the Watchdog on hand-made snapshots ----------------------------------------------------------


def bare_dog(tmp_path: Path, **kw: Any) -> Watchdog:
    """A watchdog whose context is never used: every case here must decide without acting."""
    ctx = ActionContext(cast(Any, None), cast(Any, None), cast(Any, None), capabilities_override=CAPS)
    return Watchdog(Policy(jitter=0.0), ctx, Journal(tmp_path / "j.jsonl"), **kw)


@pytest.mark.parametrize(("kwargs", "why"), [
    ({"keys": "mismatch"}, "keys in doubt"),
    ({"keys": "default"}, "keys in doubt"),
    ({"redis": RedisReport(False, error="refused")}, "Redis unavailable"),
    ({"health": HealthState.UNAUTHORIZED}, "gateway unauthorized"),
    ({"health": HealthState.RATE_LIMITED}, "gateway rate-limited"),
    ({"left": 5}, "request budget low"),
])
async def test_it_pauses_when_acting_could_hurt(tmp_path: Path, kwargs: dict[str, Any], why: str) -> None:
    dog = bare_dog(tmp_path)
    await dog.step(snap(view("s-1", ConnState.CONNECTED)))
    decisions = await dog.step(snap(view("s-1", ConnState.RESTORABLE), **kwargs, at=NOW + 3600))
    assert dog.paused.startswith(why), dog.paused
    assert [e.kind for e in decisions if e.kind in ("paused", "acted", "failed")] == ["paused"]


async def test_off_plans_nothing_and_journals_nothing(tmp_path: Path) -> None:
    dog = bare_dog(tmp_path, enabled=False)
    assert dog.mode == Mode.OFF
    await dog.step(snap(view("s-1", ConnState.CONNECTED)))
    await dog.step(snap(view("s-1", ConnState.RESTORABLE), health=HealthState.DOWN))
    assert dog.next_action() is None and dog.status()["mode"] == "off"
    assert dog.journal.last() == [] and dog.paused.startswith("gateway down")  # it still sees


async def test_thousands_of_expiring_user_sessions_are_listed_not_journaled(tmp_path: Path) -> None:
    users = tuple(UserSession(f"session:{i:032x}", f"{i:032x}", ValueClass.OK, 86_000 - i) for i in range(2000))
    dog = bare_dog(tmp_path)
    await dog.step(snap(view("s-qr", ConnState.QR, since=NOW - 10), redis=RedisReport(True, sessions=users)))
    status = dog.status()
    assert status["warnings_total"] == 2001 and len(status["warnings"]) == 50
    # the soonest first: the QR gives up in 110 s, then the user session with the shortest TTL
    assert [w["subject"] for w in status["warnings"][:2]] == ["s-qr", f"{1999:032x}"]
    kinds = [(e.kind, e.action) for e in dog.journal.last(100)]
    assert ("warning", "qr-giving-up") in kinds and ("warning", "session-expiring") not in kinds
    await dog.step(snap(view("s-qr", ConnState.QR, since=NOW - 10), redis=RedisReport(True, sessions=users)))
    assert len(dog.journal.last(100)) == len(kinds)  # still true: not said again


# --- status --json and metrics ---------------------------------------------------------------------


def test_the_status_block_and_metrics_follow_the_running_watchdog(tmp_path: Path) -> None:
    config = Config(gateway_url="http://127.0.0.1:3001", state_dir=tmp_path)
    journal_path, state_path, lock_path = watch_paths(tmp_path, config.gateway_url)
    assert watchdog_block(config)["mode"] == "off"
    assert watchdog_reader(config)() is None
    Journal(journal_path).append(Entry(NOW, "acted", "s-1", "start", "watchdog: …", ok=True))
    state = {"mode": "acting", "acting": True, "paused": "gateway down", "next_action": None,
             "circuits_open": {"s-2": "flapping"}, "counts": {"acted": 3, "circuit-open": 1}, "warnings": []}
    write_state(state_path, state, NOW)
    lock = WatchLock(lock_path)
    assert lock.acquire()
    try:
        block = watchdog_block(config)
        assert block["running"] and block["mode"] == "acting" and block["paused"] == "gateway down"
        assert block["last"][0]["kind"] == "acted"
        running = watchdog_reader(config)()
        assert running is not None
        fams = {f.name: f for f in watchdog_families(running, snap(view("s-1", ConnState.CONNECTED),
                                                                   view("s-2", ConnState.RESTORABLE)))}
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in fams.values() for s in f.samples}
        assert samples[("pulse_watchdog_running", ())] == 1.0
        assert samples[("pulse_watchdog_paused", ())] == 1.0
        assert samples[("pulse_watchdog_actions_total", (("result", "acted"),))] == 3.0
        assert samples[("pulse_watchdog_circuit_open", (("session", "s-2"),))] == 1.0
        assert samples[("pulse_watchdog_circuit_open", (("session", "s-1"),))] == 0.0
    finally:
        lock.release()
    gone = watchdog_block(config)
    assert gone["mode"] == "off" and "paused" not in gone and gone["last"][0]["kind"] == "acted"  # its history stays


def test_reset_is_written_to_the_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pulse_tui.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert main(["watch", "--reset", "s-9"]) == 0
    config = Config(state_dir=tmp_path)
    (entry,) = Journal(watch_paths(tmp_path, config.gateway_url)[0]).last()
    assert entry.kind == "reset" and entry.session == "s-9"


def test_status_json_carries_the_watchdog_block() -> None:
    from pulse_tui.status_json import snapshot_to_json

    assert snapshot_to_json(snap())["watchdog"] is None
    block = {"running": False, "mode": "off", "last": []}
    assert json.loads(json.dumps(snapshot_to_json(snap(), watchdog=block)))["watchdog"] == block


@pytest.mark.parametrize("has_restart", [True, False])
async def test_a_hung_client_is_restarted_only_where_the_gateway_has_a_restart(tmp_path: Path,
                                                                               has_restart: bool) -> None:
    ctx = ActionContext(cast(Any, None), cast(Any, None), cast(Any, None),
                        capabilities_override=replace(CAPS, has_restart=has_restart))
    dog = Watchdog(Policy(jitter=0.0), ctx, Journal(tmp_path / "j.jsonl"))
    await dog.step(snap(view("s-1", ConnState.CONNECTED)))
    decisions = await dog.step(snap(view("s-1", ConnState.STUCK)))
    nxt = dog.next_action()
    if has_restart:
        assert nxt is not None and nxt.action == "restart" and not nxt.due
    else:
        assert nxt is None
        (skip,) = [e for e in decisions if e.kind == "skipped"]
        assert "no restart route" in skip.reason
