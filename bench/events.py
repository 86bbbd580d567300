"""Benchmark WAHA's event channel: 1,000 sessions on a WAHA-flavoured simulator, 10% changing state per
"minute" (compressed to EVENT_WINDOW_S), time from the simulator's event to the typed `SessionEvent`.

Run: .venv/bin/python bench/events.py   (not a test; starts its own simulator on a loopback port)
Targets: p99 under 1 s, and 0 status requests spent while the channel is up. Baseline measured in the same run:
what polling costs to see the same changes (one `?all=true` listing per poll, and one GET per session).
Not covered here: the hop from SessionEvent to the table cell and the TUI's idle CPU (the engine wiring is
the lead's; bench/idle_cpu.py measures the idle app).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pulse_tui.sim.waha import WahaSim  # noqa: E402
from pulse_tui.sources.gateway.waha_events import WahaEvents  # noqa: E402

SESSIONS = 1_000
CHANGING = SESSIONS // 10
EVENT_WINDOW_S = 6.0
KEY = "bench-key"
POLL_S = 3.0  # pulse-tui's default poll interval, for the polling baseline


def flip(sim: WahaSim, names: list[str]) -> None:
    """On the simulator's loop: each named session to its next state (one session.status event each)."""
    nxt = {"STOPPED": "STARTING", "STARTING": "WORKING", "WORKING": "STOPPED"}
    for name in names:
        s = sim.sessions[name]
        sim._set(s, nxt.get(s.status, "STARTING"))


async def measure_events(sim: WahaSim) -> tuple[list[float], int, int]:
    """(latencies in s, events received, status requests the simulator answered meanwhile)."""
    channel = WahaEvents(sim.url, KEY)
    latencies: list[float] = []
    got = asyncio.Event()

    async def read() -> None:
        async for ev in channel.events():
            latencies.append(time.time() - ev.at)
            if len(latencies) >= CHANGING:
                got.set()
    task = asyncio.create_task(read())
    while channel.status.state.value != "connected":
        await asyncio.sleep(0.01)
    before = len(sim.seen)
    names = random.Random(7).sample(sorted(sim.sessions), CHANGING)
    gap = EVENT_WINDOW_S / CHANGING
    for name in names:
        await asyncio.to_thread(sim.call, flip, sim, [name])
        await asyncio.sleep(gap)
    await asyncio.wait_for(got.wait(), 30)
    requests = len(sim.seen) - before
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return latencies, len(latencies), requests


async def measure_polling(sim: WahaSim) -> tuple[float, float]:
    """(seconds for one `?all=true` listing, seconds for one GET per session) against the same server."""
    async with httpx.AsyncClient(base_url=sim.url, headers={"X-Api-Key": KEY}, trust_env=False) as c:
        t0 = time.perf_counter()
        r = await c.get("/api/sessions", params={"all": "true"})
        assert r.status_code == 200 and len(r.json()) == SESSIONS
        listing = time.perf_counter() - t0
        t0 = time.perf_counter()
        for name in list(sim.sessions)[:100]:
            assert (await c.get(f"/api/sessions/{name}")).status_code == 200
        per_session = (time.perf_counter() - t0) * SESSIONS / 100
    return listing, per_session


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


async def main() -> int:
    names = tuple(f"s{i:04d}" for i in range(SESSIONS))
    sim = WahaSim(KEY, sessions=names, action_delay_s=0.0, start_delay_s=3600.0)
    sim.start()
    try:
        latencies, received, requests = await measure_events(sim)
        listing, per_session = await measure_polling(sim)
    finally:
        sim.stop()
    p50, p99 = pct(latencies, 50) * 1000, pct(latencies, 99) * 1000
    print(f"events: {received} state changes of {SESSIONS} sessions in {EVENT_WINDOW_S:g} s")
    print(f"  simulator event -> SessionEvent: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(latencies) * 1000:.1f} ms"
          f"  (target p99 < 1000 ms)")
    print(f"  status requests spent while the channel was up: {requests}  (target 0)")
    print(f"baseline, polling every {POLL_S:g} s: a change is seen after ~{POLL_S / 2 * 1000:.0f} ms on average "
          f"(up to {POLL_S * 1000:.0f} ms)")
    print(f"  one ?all=true listing of {SESSIONS}: {listing * 1000:.1f} ms; one GET per session: "
          f"{per_session * 1000:.0f} ms and {SESSIONS} requests per poll")
    ok = p99 < 1000 and requests == 0
    print("PASS" if ok else "MISS")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
