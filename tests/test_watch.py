"""The watchdog against the real Salesboy simulator over HTTP, with a fake clock for its backoff (issue 18)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from pulse_tui.clock import FakeClock
from pulse_tui.config import Config
from pulse_tui.model import ConnState, Snapshot
from pulse_tui.monitor.build import Targets, build_log_follower, build_targets
from pulse_tui.sim.gateway import Fault, GatewaySim
from pulse_tui.sources.logs.follower import LogFollower
from pulse_tui.watch.command import build_watchdog
from pulse_tui.watch.journal import RESET, Entry, Journal, watch_paths
from pulse_tui.watch.policy import Policy
from pulse_tui.watch.state import watchdog_block, write_state
from pulse_tui.watch.watchdog import Mode, Watchdog
from tests.tui_helpers import API_KEY, UID_A, UID_B, UID_C, make_sim

POLICY = Policy(jitter=0.0, backoff_base_s=30.0, backoff_max_s=900.0)


@dataclass
class World:
    sim: GatewaySim
    clock: FakeClock
    config: Config
    targets: Targets
    follower: LogFollower | None
    tmp: Path

    async def poll(self, advance: float = 3.0) -> Snapshot:
        """Feed the gateway's log lines, advance the fake clock, poll once."""
        if self.follower is not None:
            self.targets.engine.take_lines(await self.follower.poll())
        self.clock.advance(advance)
        return await self.targets.monitor.poll()

    async def until(self, cond: Callable[[Snapshot], bool], tries: int = 80, advance: float = 3.0) -> Snapshot:
        for _ in range(tries):
            snap = await self.poll(advance)
            if cond(snap):
                return snap
            await asyncio.sleep(0.1)  # the simulator's clients move in real time
        raise AssertionError(f"condition not met; last states: {[(s.id, s.state) for s in snap.sessions]}")

    def dog(self, policy: Policy = POLICY, **kw: object) -> Watchdog:
        return build_watchdog(self.config, self.targets, policy, clock=self.clock, **kw)  # type: ignore[arg-type]

    def audit(self) -> list[dict[str, object]]:
        path = self.tmp / "audit.jsonl"
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []

    def posts(self, route: str = "/session/start") -> int:
        return sum(1 for method, path, _ in self.sim.seen if method == "POST" and path.startswith(route))


def state_of(snap: Snapshot, sid: str) -> ConnState | None:
    s = snap.session(sid)
    return None if s is None else s.state


async def make_world(tmp_path: Path, ids: tuple[str, ...] = (UID_A,), *, read_only: bool = False,
                     budget: int = 10_000, **sim_opts: object) -> World:
    sim = make_sim(tmp_path, ids, log_dir=tmp_path / "logs", **sim_opts)
    clock = FakeClock()
    config = Config(gateway_url=sim.url, api_key=API_KEY, auth_dirs=(sim.auth_root,), request_budget=budget,
                    state_dir=tmp_path / "state", audit_log=tmp_path / "audit.jsonl", read_only=read_only,
                    log_globs=(str(tmp_path / "logs" / "*.log"),))
    targets = build_targets(config, clock, host=False)
    return World(sim, clock, config, targets, build_log_follower(config), tmp_path)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    w = await make_world(tmp_path)
    yield w
    await close(w)


async def close(w: World) -> None:
    if w.follower is not None:
        await w.follower.aclose()
    await w.targets.aclose()
    w.sim.stop()


async def connect(w: World, *ids: str) -> Snapshot:
    """Link sessions the way an operator would (their auth is on disk: no QR)."""
    for sid in ids:
        assert (await w.targets.gateway.start(sid)).ok
    return await w.until(lambda s: all(state_of(s, sid) == ConnState.CONNECTED for sid in ids))


async def drop(w: World, sid: str, reason: str = "NAVIGATION") -> Snapshot:
    assert w.sim.disconnect(sid, reason)
    want = ConnState.RESTORABLE if reason != "LOGOUT" else ConnState.STOPPED
    return await w.until(lambda s: state_of(s, sid) == want)


async def test_a_dropped_restorable_session_is_restarted_after_the_backoff(world: World) -> None:
    w = world
    dog = w.dog()
    assert dog.mode == Mode.ACTING
    assert await dog.step(await connect(w, UID_A)) == []
    starts_before = w.posts()
    snap = await drop(w, UID_A)
    await dog.step(snap)
    nxt = dog.next_action()
    assert nxt is not None and nxt.session == UID_A and nxt.action == "start" and not nxt.due
    assert nxt.at == pytest.approx(snap.taken_at + 30.0)
    await dog.step(await w.poll(advance=25.0))  # still inside the backoff
    assert w.posts() == starts_before and w.audit() == []
    decisions = await dog.step(await w.poll(advance=6.0))
    assert [(e.kind, e.action, e.session) for e in decisions if e.kind == "acted"] == [("acted", "start", UID_A)]
    assert w.posts() == starts_before + 1
    snap = await w.until(lambda s: state_of(s, UID_A) == ConnState.CONNECTED)
    await dog.step(snap)
    assert dog.next_action() is None
    # Every action has its audit line, with the policy's reason.
    (line,) = w.audit()
    assert line["action"] == "start" and line["target"] == UID_A and line["ok"] is True
    assert str(line["reason"]).startswith("watchdog:")
    # …and its journal entry, which `status --json` shows.
    journal_path, state_path, _ = watch_paths(w.config.state_dir or w.tmp, w.config.gateway_url)
    assert any(e.kind == "acted" and e.session == UID_A for e in Journal(journal_path).last())
    write_state(state_path, dog.status(), w.clock.now())
    block = watchdog_block(w.config)
    assert block["running"] is True and block["mode"] == "acting" and block["paused"] is None
    assert any(e.get("kind") == "acted" for e in block["last"])


async def test_logout_is_never_restarted_and_is_reported_with_its_age(world: World) -> None:
    w = world
    dog = w.dog()
    await dog.step(await connect(w, UID_A))
    starts_before = w.posts()
    snap = await drop(w, UID_A, "LOGOUT")
    view = snap.session(UID_A)
    assert view is not None and not view.restorable
    decisions = await dog.step(snap)
    (report,) = [e for e in decisions if e.kind == "needs-qr"]
    assert report.session == UID_A and "in stopped" in report.reason
    for _ in range(10):  # an hour of steps, far past every backoff
        assert [e for e in await dog.step(await w.poll(advance=360.0)) if e.kind in ("acted", "would-act")] == []
    assert w.posts() == starts_before and w.audit() == []
    assert dog.next_action() is None
    assert dog.counts["needs-qr"] == 1  # reported once, not every step


async def test_a_flapping_session_opens_the_circuit_until_reset(tmp_path: Path) -> None:
    w = await make_world(tmp_path)
    try:
        dog = w.dog(replace(POLICY, flap_transitions=4, flap_window_s=600.0))
        await dog.step(await connect(w, UID_A))
        await dog.step(await drop(w, UID_A))  # connected -> restorable: 1
        await dog.step(await w.poll(advance=31.0))  # acts: start
        assert dog.counts["acted"] == 1
        snap = await w.until(lambda s: state_of(s, UID_A) == ConnState.CONNECTED)
        await dog.step(snap)  # restorable -> starting -> connected: 2 or 3
        await dog.step(await drop(w, UID_A))  # -> restorable again: 4
        assert UID_A in dog.circuits()
        starts_before = w.posts()
        for _ in range(5):
            decisions = await dog.step(await w.poll(advance=120.0))
            assert not [e for e in decisions if e.kind == "acted"]
        assert w.posts() == starts_before
        assert dog.counts["circuit-open"] == 1
        skipped = [e for e in dog.last if e.kind == "skipped" and e.session == UID_A]
        assert skipped and "--reset" in skipped[0].reason
        assert dog.status()["circuits_open"] == {UID_A: dog.circuits()[UID_A]}
        # The operator's reset arrives through the journal (what `pulse-tui watch --reset ID` writes).
        dog.journal.append(Entry(w.clock.now(), RESET, UID_A, reason="operator"))
        decisions = await dog.step(await w.poll(advance=3.0))
        assert any(e.kind == "circuit-closed" for e in decisions)
        assert dog.circuits() == {}
        await dog.step(await w.poll(advance=31.0))
        assert w.posts() == starts_before + 1
    finally:
        await close(w)


async def test_failed_reconnects_in_a_row_open_the_circuit(world: World) -> None:
    w = world
    dog = w.dog(replace(POLICY, max_failures=2, flap_transitions=100))
    await dog.step(await connect(w, UID_A))
    await dog.step(await drop(w, UID_A))
    for _ in range(2):
        w.sim.fail_next_start()
        await dog.step(await w.poll(advance=901.0))
        await asyncio.sleep(0.3)
        await dog.step(await w.until(lambda s: state_of(s, UID_A) == ConnState.RESTORABLE))
    assert UID_A in dog.circuits() and "in a row" in dog.circuits()[UID_A]
    starts = w.posts()
    await dog.step(await w.poll(advance=901.0))
    assert w.posts() == starts


async def test_gateway_down_pauses_the_watchdog(world: World) -> None:
    w = world
    dog = w.dog()
    await dog.step(await connect(w, UID_A))
    await dog.step(await drop(w, UID_A))
    w.sim.set_fault(Fault.DOWN)
    starts_before = w.posts()
    decisions = await dog.step(await w.poll(advance=60.0))  # past the backoff, but the gateway is down
    assert [e.kind for e in decisions if e.kind in ("paused", "acted")] == ["paused"]
    assert dog.paused.startswith("gateway down")
    assert dog.status()["paused"] == dog.paused
    await dog.step(await w.poll(advance=60.0))
    assert w.posts() == starts_before
    assert dog.counts["paused"] == 1  # journaled once per cause, not every step
    w.sim.set_fault(Fault.NONE)
    kinds: list[str] = []
    for _ in range(10):  # back up: it restores its auth dirs first (waited for), then the watchdog resumes
        kinds += [e.kind for e in await dog.step(await w.poll(advance=15.0))]
        if "acted" in kinds:
            break
    assert kinds.index("resumed") < kinds.index("acted")
    assert w.posts() == starts_before + 1


async def test_two_watchdogs_on_one_host_only_one_acts(world: World) -> None:
    w = world
    first, second = w.dog(), w.dog()
    assert first.mode == Mode.ACTING
    assert second.mode == Mode.OBSERVER
    snap = await connect(w, UID_A)
    for dog in (first, second):
        await dog.step(snap)
    snap = await drop(w, UID_A)
    for dog in (first, second):
        await dog.step(snap)
    starts_before = w.posts()
    snap = await w.poll(advance=31.0)
    acted = await first.step(snap)
    observed = await second.step(snap)
    assert [e.kind for e in acted if e.action == "start"] == ["acted"]
    assert [e.kind for e in observed if e.action == "start"] == ["would-act"]
    assert "observer" in observed[-1].reason
    assert w.posts() == starts_before + 1
    assert [a["action"] for a in w.audit()] == ["start"]
    assert first.lock is not None
    first.lock.release()  # the acting one exits: the observer takes over
    assert second.mode == Mode.ACTING


@pytest.mark.parametrize("how", ["read-only", "dry-run"])
async def test_read_only_and_dry_run_act_on_nothing(tmp_path: Path, how: str) -> None:
    w = await make_world(tmp_path, read_only=how == "read-only")
    try:
        dog = w.dog(dry_run=how == "dry-run")
        assert dog.mode.value == how
        await dog.step(await connect(w, UID_A))
        await dog.step(await drop(w, UID_A))
        starts_before = w.posts()
        decisions = await dog.step(await w.poll(advance=31.0))
        (would,) = [e for e in decisions if e.kind == "would-act"]
        assert would.action == "start" and would.session == UID_A and how in would.reason
        for _ in range(5):
            await dog.step(await w.poll(advance=900.0))
        assert w.posts() == starts_before and w.audit() == []
        assert w.posts("/session/stop") == 0
    finally:
        await close(w)


async def test_the_budget_is_never_exceeded(tmp_path: Path) -> None:
    w = await make_world(tmp_path, (UID_A, UID_B, UID_C), rate_limit=40, budget=30)
    try:
        dog = w.dog(replace(POLICY, backoff_base_s=5.0, budget_reserve=3, flap_transitions=1000, max_per_hour=100))
        for sid in (UID_A, UID_B, UID_C):
            await w.targets.gateway.start(sid)
        for _ in range(120):  # sessions keep dropping: the watchdog would happily spend everything
            snap = await w.poll(advance=10.0)
            for s in snap.sessions:
                if s.state == ConnState.CONNECTED:
                    w.sim.disconnect(s.id)
            await dog.step(snap)
            await asyncio.sleep(0.02)
        assert dog.counts["acted"] >= 1
        assert w.sim.requests_seen() <= 30
        assert w.sim.statuses[429] == 0
        assert "budget" in dog.paused or dog.paused.startswith("gateway out-of-budget")
    finally:
        await close(w)


async def test_a_salesboy_restart_is_waited_for_not_fought(tmp_path: Path) -> None:
    ids = (UID_A, UID_B, UID_C)
    w = await make_world(tmp_path, ids, restore_on_boot=True, restore_interval_s=1.0)
    try:
        dog = w.dog(replace(POLICY, backoff_base_s=5.0))  # short: without the wait it would start them itself
        snap = await w.until(lambda s: all(state_of(s, sid) == ConnState.CONNECTED for sid in ids), advance=3.0)
        await dog.step(snap)
        w.sim.restart()  # pm2 restart: every client dropped, restored from disk one at a time
        starts_before, restarts_before = w.posts(), w.posts("/session/restart")
        for _ in range(100):
            snap = await w.poll(advance=3.0)
            await dog.step(snap)
            if all(state_of(snap, sid) == ConnState.CONNECTED for sid in ids):
                break
            await asyncio.sleep(0.1)
        assert all(state_of(snap, sid) == ConnState.CONNECTED for sid in ids)
        assert any("restoring" in e.reason for e in dog.last if e.kind == "paused")
        assert w.posts() == starts_before and w.posts("/session/restart") == restarts_before
        assert w.audit() == []
    finally:
        await close(w)
