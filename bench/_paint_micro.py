"""CPU of one frame of each idle repaint, in-process: the log pane after a batch, the table after the tick.

Run: .venv/bin/python bench/_paint_micro.py [--profile]   (not part of `make bench`; headless `run_test`, no
network; thread CPU time, so another process's load changes little)

The real PulseApp (canned source of SESSIONS sessions, fake clock) at 150x40, as bench/idle_cpu.py shows it.
- log: BATCHES batches of LINES_PER_BATCH lines (what the follower hands over every 0.5 s at 1.4 lines/s from
  4 apps), each followed by its frame: CPU of add_lines and of the frame, per batch;
- tick: the clock advanced 5 s and `MainScreen.tick()` (every visible row's time in state changes, as in a
  session's first minute), and its frame: CPU per tick;
- poll: the clock advanced 3 s and a snapshot taken then applied (the details' durations and the gateway's
  latency move, as in an idle poll), and its frame: CPU per poll.
"""

from __future__ import annotations

import asyncio
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from textual.app import App

from pulse_tui.clock import FakeClock
from pulse_tui.config import Config
from pulse_tui.model import ConnState, GatewayHealth, HealthState, KeysStatus, SessionView, Snapshot
from pulse_tui.sim.canned import CannedGateway, CannedSource
from pulse_tui.sources.logs.line import LogLine
from pulse_tui.tui.app import PulseApp

T0 = 1_790_000_000.0
SESSIONS = 100
BATCHES = 200
LINES_PER_BATCH = 3
TICKS = 40
POLLS = 40
SIZE = (150, 40)


def snapshot() -> Snapshot:
    views = tuple(SessionView(id=str(uuid.UUID(int=i + 1, version=4)), state=ConnState.CONNECTED, since=T0 - 15,
                              seconds_in_state=15, phone=f"1876555{i:04d}", has_auth_dir=True, restorable=True,
                              last_fresh=T0 - 2, rss_bytes=300 * 2**20, pss_bytes=120 * 2**20)
                  for i in range(SESSIONS))
    return Snapshot(taken_at=T0, gateway_kind="salesboy", gateway_url="http://127.0.0.1:3001",
                    gateway=GatewayHealth(HealthState.OK, latency_ms=12.0, budget_left=84, budget_limit=90),
                    sessions=views, redis=None, keys=KeysStatus("ok"))


async def painted(app: App[Any]) -> None:
    done = asyncio.Event()
    app.call_after_refresh(done.set)
    await done.wait()


async def run(profile: cProfile.Profile | None) -> dict[str, list[float]]:
    tmp = Path(tempfile.mkdtemp(prefix="pulse-bench-paint-micro-"))
    clock = FakeClock(T0)
    app = PulseApp(Config(audit_log=tmp / "audit.log"), CannedSource(snapshot()), CannedGateway(),  # type: ignore[arg-type]
                   clock=clock, autopoll=False)
    out: dict[str, list[float]] = {"add_lines": [], "log frame": [], "tick": [], "tick frame": [], "apply": [],
                                   "poll frame": []}
    n = 0
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await app.poll_now().wait()
        await pilot.pause()
        pane = app.main.log_pane
        pane.add_lines([LogLine(T0 - 600 + i, "info", f"bench-app-{i % 4}",
                                f"2026-12-01T22:00:00.000Z INFO [bench-app-{i % 4}] handled message {i}")
                        for i in range(500)])
        await painted(app)
        async def measure(step: str, frame: str, act: Callable[[], object]) -> None:
            t0 = time.thread_time()
            act()
            t1 = time.thread_time()
            await painted(app)
            out[step].append(t1 - t0)
            out[frame].append(time.thread_time() - t1)

        if profile:
            profile.enable()
        for _ in range(BATCHES):
            batch = []
            for _ in range(LINES_PER_BATCH):
                n += 1
                batch.append(LogLine(T0 + n, "info", f"bench-app-{n % 4}",
                                     f"2026-12-01T22:00:{n % 60:02d}.000Z INFO [bench-app-{n % 4}] handled message "
                                     f"{n} from 18765551234@c.us"))
            await measure("add_lines", "log frame", partial(pane.add_lines, batch))
        for _ in range(TICKS):
            clock.advance(5)
            await measure("tick", "tick frame", app.main.tick)
        snap = snapshot()
        for i in range(POLLS):
            clock.advance(3)
            gateway = replace(snap.gateway, latency_ms=10.0 + i % 7)
            polled = replace(snap, taken_at=clock.now(), gateway=gateway)
            await measure("apply", "poll frame", partial(app.apply, polled))
        if profile:
            profile.disable()
    return out


def main(argv: list[str]) -> int:
    profile = cProfile.Profile() if "--profile" in argv else None
    out = asyncio.run(run(profile))
    print(f"paint micro-bench: {SESSIONS} sessions at {SIZE[0]}x{SIZE[1]}, {BATCHES} log batches of "
          f"{LINES_PER_BATCH} lines, {TICKS} ticks of 5 s (thread CPU, median / mean ms)")
    for k, v in out.items():
        print(f"  {k:<11} {statistics.median(v) * 1000:6.2f} / {statistics.fmean(v) * 1000:6.2f} ms")
    if profile:
        stats = pstats.Stats(profile, stream=sys.stdout)
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
