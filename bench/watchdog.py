"""Benchmark the watchdog: 200 linked sessions, 20 drop at once, Salesboy's 100 requests / 15 min per IP.

Run: .venv/bin/python bench/watchdog.py [--sessions 200] [--drops 20]   (not a test; real time, ~1-2 min)
A dashboard (a pulse-tui monitor polling every 3 s, as the TUI does) shares the gateway's limit with the
watchdog through the shared budget ledger. Both follow the gateway's log, as the TUI and `pulse-tui watch` do.
Reports: seconds from the drop until all dropped sessions are connected again, requests spent (by route),
and the number of 429 answers (target: 0).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pulse_tui.config import Config  # noqa: E402
from pulse_tui.model import ConnState, Snapshot  # noqa: E402
from pulse_tui.monitor.build import Targets, build_log_follower, build_targets  # noqa: E402
from pulse_tui.sim.engine import write_linked_profile  # noqa: E402
from pulse_tui.sim.gateway import GatewaySim  # noqa: E402
from pulse_tui.sources.logs.follower import LogFollower  # noqa: E402
from pulse_tui.watch.command import build_watchdog  # noqa: E402
from pulse_tui.watch.journal import Entry  # noqa: E402
from pulse_tui.watch.policy import Policy  # noqa: E402

API_KEY = "bench-watchdog-key-77e1"
DASHBOARD_EVERY_S = 3.0
WATCH_EVERY_S = 3.0
GIVE_UP_S = 600.0


def uid(i: int) -> str:
    return f"{i:08x}-0000-4000-8000-{i:012x}"


async def feed(targets: Targets, follower: LogFollower | None) -> None:
    if follower is not None:
        targets.engine.take_lines(await follower.poll())


def connected(snap: Snapshot, ids: list[str]) -> int:
    return sum(1 for sid in ids if (s := snap.session(sid)) is not None and s.state == ConnState.CONNECTED)


async def dashboard(targets: Targets, follower: LogFollower | None, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await feed(targets, follower)
        await targets.monitor.poll()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), DASHBOARD_EVERY_S)


async def main(n: int, drops: int, verbose: bool = False) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="bench-watchdog-"))
    ids = [uid(i) for i in range(1, n + 1)]
    root = tmp / ".wwebjs_auth"
    for sid in ids:
        write_linked_profile(root / f"session-{sid}")
    sim = GatewaySim(root, api_key=API_KEY, log_dir=tmp / "logs", rate_limit=100, rate_window_s=900.0,
                     start_delay_s=0.2, ready_delay_s=0.5, restore_interval_s=0.01, restore_on_boot=True)
    sim.start()
    config = Config(gateway_url=sim.url, api_key=API_KEY, auth_dirs=(root,), request_budget=90,
                    state_dir=tmp / "state", audit_log=tmp / "audit.jsonl",
                    log_globs=(str(tmp / "logs" / "*.log"),), poll_seconds=3.0)
    dash, watch = build_targets(config, host=False), build_targets(config, host=False)
    dash_logs, watch_logs = build_log_follower(config), build_log_follower(config)
    t_start = time.monotonic()

    def say(entry: Entry) -> None:
        if verbose:
            print(f"  {time.monotonic() - t_start:6.1f} s  {entry.kind} {entry.action} {entry.session[:13]} "
                  f"{entry.reason[:90]}")

    dog = build_watchdog(config, watch, Policy(), say=say)
    stop = asyncio.Event()
    dash_task = asyncio.create_task(dashboard(dash, dash_logs, stop))
    try:
        t0 = time.monotonic()
        while True:  # the boot-time restore links every session; the watchdog sees them connected
            await feed(watch, watch_logs)
            snap = await watch.monitor.poll()
            await dog.step(snap)
            if connected(snap, ids) == n or time.monotonic() - t0 > GIVE_UP_S:
                break
            await asyncio.sleep(1.0)
        print(f"{connected(snap, ids)}/{n} sessions connected after {time.monotonic() - t0:.0f} s of boot restore")
        before = len(sim.seen)
        seen_before = before
        dropped = ids[:: max(1, n // drops)][:drops]
        for sid in dropped:
            sim.disconnect(sid)  # e.g. a network blip: clients gone, auth kept
        t_drop = time.monotonic()
        if verbose:
            print(f"  {t_drop - t_start:6.1f} s  dropped {len(dropped)}")
        back_at = None
        while time.monotonic() - t_drop < GIVE_UP_S:
            await feed(watch, watch_logs)
            snap = await watch.monitor.poll()
            await dog.step(snap)
            if connected(snap, dropped) == len(dropped):
                back_at = time.monotonic() - t_drop
                break
            await asyncio.sleep(WATCH_EVERY_S)
        after = Counter((m, p.split("?")[0]) for m, p, _ in sim.seen[seen_before:])
        starts = sum(v for (m, p), v in after.items() if m == "POST" and p.startswith("/session/start"))
        print(f"dropped {len(dropped)} of {n} at once; dashboard polls every {DASHBOARD_EVERY_S:g} s")
        print("all reconnected after " + (f"{back_at:.1f} s" if back_at is not None else f"NOT within {GIVE_UP_S:g} s"))
        print(f"requests after the drop: {len(sim.seen) - seen_before} (watchdog starts: {starts}, "
              f"the rest status/health of both monitors); before it: {before}")
        print(f"429 answers: {sim.statuses[429]}")
        print(f"watchdog decisions: {dict(dog.counts)}; paused now: {dog.paused or 'no'}")
        ok = back_at is not None and sim.statuses[429] == 0
        return 0 if ok else 1
    finally:
        stop.set()
        await dash_task
        for follower in (dash_logs, watch_logs):
            if follower is not None:
                await follower.aclose()
        await dash.aclose()
        await watch.aclose()
        sim.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=200)
    ap.add_argument("--drops", type=int, default=20)
    ap.add_argument("-v", "--verbose", action="store_true", help="print each decision as it is taken")
    a = ap.parse_args()
    sys.exit(asyncio.run(main(a.sessions, a.drops, a.verbose)))
