"""Issue 13 item 5: one request-budget ledger per gateway URL, shared by every pulse-tui process on the host.

Real subprocesses (`pulse-tui status --json`) against the real simulator, requests counted at the simulator;
every test has its own XDG_STATE_HOME (conftest).
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pulse_tui.clock import FakeClock
from pulse_tui.model import BudgetUse, GatewayHealth, HealthState, SessionStatus
from pulse_tui.sim.gateway import GatewaySim
from pulse_tui.sim.simlog import iso_now
from pulse_tui.sources.gateway.budget import RequestBudget, Spend
from pulse_tui.sources.gateway.ledger import Ledger, ledger_path
from pulse_tui.tui.rows import gateway_line

API_KEY = "ledger-test-key-83b1f0"
IDS = [str(uuid.UUID(int=0x1000 + i, version=4)) for i in range(30)]
SHARE_OF_90 = 9  # PULSE_TUI_ONESHOT_SHARE 0.1 of PULSE_TUI_REQUEST_BUDGET 90


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[GatewaySim]:
    root = tmp_path / ".wwebjs_auth"
    root.mkdir()
    for sid in IDS:
        (root / f"session-{sid}").mkdir()
    with GatewaySim(root, api_key=API_KEY, start_delay_s=0.1, restore_on_boot=False) as s:
        yield s


def env_for(sim: GatewaySim, state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_TUI_", "REDIS_", "ENCRYPTION_"))}
    env.update({"PULSE_TUI_GATEWAY_URL": sim.url, "API_SECRET_KEY": API_KEY, "PULSE_TUI_AUTH_DIR": str(sim.auth_root),
                "XDG_STATE_HOME": str(state)})
    return env


def status_json(sim: GatewaySim, state: Path, cwd: Path) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-m", "pulse_tui", "status", "--json"], capture_output=True, text=True,
                         env=env_for(sim, state), cwd=cwd, timeout=120)
    assert out.returncode in (0, 1), out.stderr
    doc = json.loads(out.stdout)
    assert isinstance(doc, dict)
    return doc


def use_of(doc: dict[str, object]) -> dict[str, int]:
    gw = doc["gateway"]
    assert isinstance(gw, dict) and isinstance(gw["budget_use"], dict)
    return gw["budget_use"]


def asked_ids(sim: GatewaySim, start: int = 0) -> list[str]:
    return [path.rsplit("/", 1)[-1] for _, path, _ in sim.seen[start:] if path.startswith("/session/status/")]


def test_one_shot_runs_share_one_ledger_and_tell_who_spent(sim: GatewaySim, tmp_path: Path) -> None:
    state = tmp_path / "state"
    a = status_json(sim, state, tmp_path)
    spent_a = sim.requests_seen()
    assert 1 <= spent_a <= SHARE_OF_90  # 30 sessions, but a one-shot run spends its share of the window only
    assert use_of(a) == {"this_process": spent_a, "other_pulse_tui": 0, "someone_else": 0, "server_used": spent_a}
    gw_a = a["gateway"]
    assert isinstance(gw_a, dict) and isinstance(gw_a["latency_ms"], float)  # set by the status calls
    first = set(asked_ids(sim))

    b = status_json(sim, state, tmp_path)
    spent_b = sim.requests_seen() - spent_a
    assert 1 <= spent_b <= SHARE_OF_90
    assert not first & set(asked_ids(sim, spent_a)), "B asked again what A had just learned"
    assert use_of(b)["this_process"] == spent_b and use_of(b)["other_pulse_tui"] == spent_a
    sessions = b["sessions"]
    assert isinstance(sessions, list)
    by_id = {s["id"]: s for s in sessions}
    for sid in first:  # answered from the ledger (seconds old: fresh, so not flagged stale)
        assert by_id[sid]["state"] == "restorable" and "stale" not in by_id[sid]["flags"]
    saved = json.loads(ledger_path(state, sim.url).read_text())["state"]["sessions"]
    assert set(saved) == first | set(asked_ids(sim, spent_a)) and all("at" in e for e in saved.values())

    # The dashboard (or anyone on this IP) spends from the same server window.
    for _ in range(5):
        assert httpx.get(f"{sim.url}/health", headers={"x-api-key": API_KEY}, trust_env=False).status_code == 200
    c = status_json(sim, state, tmp_path)
    spent_c = sim.requests_seen() - spent_a - spent_b - 5
    assert use_of(c) == {"this_process": spent_c, "other_pulse_tui": spent_a + spent_b, "someone_else": 5,
                         "server_used": sim.requests_seen()}
    gw = c["gateway"]
    assert isinstance(gw, dict) and gw["budget_left"] == 90 - sim.requests_seen()


def test_concurrent_processes_count_every_request_once(sim: GatewaySim, tmp_path: Path) -> None:
    state = tmp_path / "state"
    cmd = [sys.executable, "-m", "pulse_tui", "status", "--json"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env_for(sim, state), cwd=tmp_path) for _ in range(2)]
    docs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode in (0, 1), err
        docs.append(json.loads(out))
    mine = [use_of(d)["this_process"] for d in docs]
    assert all(1 <= n <= SHARE_OF_90 for n in mine)
    assert sum(mine) == sim.requests_seen()
    ledger = ledger_path(state, sim.url)
    saved = json.loads(ledger.read_text())["state"]
    assert sum(saved["by_process"].values()) == sim.requests_seen()
    assert stat.S_IMODE(ledger.stat().st_mode) == 0o600
    raw = ledger.read_text()
    assert API_KEY not in raw and sim.url not in raw and str(sim.port) not in ledger.name


def test_a_429_seen_by_one_process_blocks_the_others(tmp_path: Path) -> None:
    clock = FakeClock()
    path = ledger_path(tmp_path, "http://127.0.0.1:3001")
    one = RequestBudget(90, clock=clock, reserve=0, store=Ledger(path), me="1")
    two = RequestBudget(90, clock=clock, reserve=0, store=Ledger(path), me="2")
    assert one.try_spend() and two.try_spend() and two.try_spend()
    assert one.use() == BudgetUse(1, 2, 0, None)
    one.observe({"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "90",
                 "X-RateLimit-Reset": str(int(clock.now() + 600))}, 200)
    assert two.use() == BudgetUse(2, 1, 7, 10)  # the server counted 10: 7 are nobody's we know
    assert two.left == 80
    one.observe({"Retry-After": "30"}, 429)
    assert not two.try_spend(Spend.ACTION) and two.rate_limited and 29 <= two.blocked_for() <= 30
    clock.advance(31)
    assert two.try_spend(Spend.ACTION)


def test_last_known_states_are_shared_without_their_qr(tmp_path: Path) -> None:
    clock = FakeClock()
    path = ledger_path(tmp_path, "http://127.0.0.1:3001")
    writer = RequestBudget(90, clock=clock, store=Ledger(path), me="1")
    writer.remember(SessionStatus(IDS[0], True, True, phone="15550001"))
    clock.advance(12)
    known = RequestBudget(90, clock=clock, store=Ledger(path), me="2").recall()
    assert known == {IDS[0]: (SessionStatus(IDS[0], True, True, phone="15550001"), clock.now() - 12)}


def test_a_transaction_rewrites_the_file_only_when_its_caller_changed_the_state(tmp_path: Path) -> None:
    ledger = Ledger(ledger_path(tmp_path, "http://127.0.0.1:3001"))
    with ledger.transaction() as st:
        st.spent = 3
        st.sessions = {IDS[0]: {"state": "CONNECTED"}}
    first = os.stat(ledger.path)
    with ledger.transaction() as st:
        assert st.spent == 3 and st.sessions == {IDS[0]: {"state": "CONNECTED"}}
    assert os.stat(ledger.path).st_ino == first.st_ino  # read only: not replaced
    with ledger.transaction() as st:
        st.sessions[IDS[0]]["state"] = "DISCONNECTED"  # a change inside a nested dict counts too
    assert os.stat(ledger.path).st_ino != first.st_ino
    assert json.loads(ledger.path.read_bytes())["state"]["sessions"] == {IDS[0]: {"state": "DISCONNECTED"}}


def test_an_unchanged_ledger_is_not_parsed_again_yet_another_process_s_write_is_seen(tmp_path: Path) -> None:
    path = ledger_path(tmp_path, "http://127.0.0.1:3001")
    mine, other = Ledger(path), Ledger(path)  # two processes' ledgers of one URL
    with mine.transaction() as st:
        st.spent = 3
    with mine.transaction() as st:
        first = st
    with mine.transaction() as st:
        assert st is first  # the same bytes: the state parsed last time, not a new parse
    with other.transaction() as st:
        st.spent = 4  # same size, maybe the same inode and mtime tick: only the bytes tell
    with mine.transaction() as st:
        assert st.spent == 4 and st is not first


def test_a_batch_is_one_locked_transaction_for_several_calls(tmp_path: Path) -> None:
    path = ledger_path(tmp_path, "http://127.0.0.1:3001")
    b = RequestBudget(90, clock=FakeClock(), reserve=0, store=Ledger(path), me="1")
    assert b.try_spend()
    written = os.stat(path).st_ino
    probe = os.open(path.with_suffix(".lock"), os.O_RDWR)
    try:
        with b.batch():
            with pytest.raises(BlockingIOError):  # held for the whole batch: no other process interleaves
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            assert b.try_spend() and b.try_spend()
            assert b.snapshot() == (87, 90) and b.use() == BudgetUse(3, 0, 0, None)  # its own changes, unwritten
            assert os.stat(path).st_ino == written
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released
        fcntl.flock(probe, fcntl.LOCK_UN)
    finally:
        os.close(probe)
    assert json.loads(path.read_bytes())["state"]["spent"] == 3  # written once, at the end
    other = RequestBudget(90, clock=FakeClock(), reserve=0, store=Ledger(path), me="2")
    assert other.use() == BudgetUse(0, 3, 0, None)


def test_a_change_made_in_memory_or_abandoned_never_reaches_the_next_transaction(tmp_path: Path) -> None:
    path = ledger_path(tmp_path, "http://127.0.0.1:3001")
    ledger = Ledger(path)
    with ledger.transaction() as st:
        st.spent = 3
    with ledger.transaction() as st:
        pass  # cached now; it is also the memory fallback
    fd = os.open(path.with_suffix(".lock"), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with ledger.transaction() as st:
            st.spent = 50  # counted in memory only: the file still says 3
    finally:
        os.close(fd)
    with ledger.transaction() as st:
        assert st.spent == 3
    with pytest.raises(RuntimeError), ledger.transaction() as st:
        st.spent = 60
        raise RuntimeError("the caller failed halfway")
    with ledger.transaction() as st:
        assert st.spent == 3


@pytest.mark.parametrize("content", [b"", b"{", b"[" * 100_000, b'{"version":1,"state":{"spent":1e309,'
                                     b'"window_end":"x","by_process":{"1":-5},"sessions":[]}}'])
def test_a_damaged_ledger_is_a_fresh_window_not_a_crash(tmp_path: Path, content: bytes) -> None:
    path = ledger_path(tmp_path, "http://127.0.0.1:3001")
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    b = RequestBudget(90, clock=FakeClock(), reserve=0, store=Ledger(path), me="1")
    assert b.snapshot() == (90, 90)
    assert b.try_spend() and b.use() == BudgetUse(1, 0, 0, None)


def test_a_ledger_held_by_a_stuck_process_falls_back_to_memory(tmp_path: Path) -> None:
    path = ledger_path(tmp_path, "http://127.0.0.1:3001")
    ledger = Ledger(path)
    b = RequestBudget(90, clock=FakeClock(), reserve=0, store=ledger, me="1")
    assert b.try_spend()
    fd = os.open(path.with_suffix(".lock"), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert b.try_spend()  # counted in memory, after a bounded wait for the lock
        assert "locked by another process" in ledger.error
    finally:
        os.close(fd)
    assert b.try_spend() and ledger.error == ""


def test_header_names_who_spent_the_window() -> None:
    gw = GatewayHealth(HealthState.OK, 12.0, 60, 90, budget_use=BudgetUse(5, 20, 5, 30))
    text = gateway_line("salesboy", "http://127.0.0.1:3001", gw, polling=False).plain
    assert "budget 60/90 (spent: us 5, other pulse-tui 20, someone else 5)" in text
    alone = GatewayHealth(HealthState.OK, 12.0, 85, 90, budget_use=BudgetUse(5, 0, 0, 5))
    assert "spent:" not in gateway_line("salesboy", "http://127.0.0.1:3001", alone, polling=False).plain


def test_one_shot_status_reads_session_states_from_the_logs(sim: GatewaySim, tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    # A winston JSON line from the gateway: free news of a session the one-shot run may not spend a request on.
    log.write_text(json.dumps({"level": "info", "message": f"WhatsApp client ready for user {IDS[-1]}",
                               "timestamp": iso_now()}) + "\n")
    env = {"PULSE_TUI_LOGS": str(log), "PULSE_TUI_ONESHOT_SHARE": "0.02"}  # 1 request of 90
    out = subprocess.run([sys.executable, "-m", "pulse_tui", "status", "--json"], capture_output=True, text=True,
                         env={**env_for(sim, tmp_path / "state"), **env}, cwd=tmp_path, timeout=120)
    assert out.returncode in (0, 1), out.stderr
    doc = json.loads(out.stdout)
    assert sim.requests_seen() == 1
    by_id = {s["id"]: s for s in doc["sessions"]}
    assert IDS[-1] not in asked_ids(sim)
    assert by_id[IDS[-1]]["state"] == "connected"


def test_a_zero_share_answers_from_the_ledger_without_asking(sim: GatewaySim, tmp_path: Path) -> None:
    state = tmp_path / "state"
    status_json(sim, state, tmp_path)
    spent = sim.requests_seen()
    known = set(asked_ids(sim))
    out = subprocess.run([sys.executable, "-m", "pulse_tui", "status", "--json"], capture_output=True, text=True,
                         env={**env_for(sim, state), "PULSE_TUI_ONESHOT_SHARE": "0"}, cwd=tmp_path, timeout=120)
    doc = json.loads(out.stdout)
    assert sim.requests_seen() == spent
    by_id = {s["id"]: s for s in doc["sessions"]}
    assert all(by_id[sid]["state"] == "restorable" for sid in known)
    assert doc["gateway"]["budget_use"]["other_pulse_tui"] == spent
