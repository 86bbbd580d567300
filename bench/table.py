"""Benchmark one poll's worth of table changes at 1,000 and 10,000 sessions, 1% of them changing per poll.

Run: .venv/bin/python bench/table.py   (not a test; headless `run_test`, no network, no files kept)

The real PulseApp and MainScreen (canned source, fake clock: the snapshot time stands still, so exactly the
changed sessions' cells differ) at 200x50. Each of POLLS polls flips 1% of the sessions to another state
(state, in-state and flags cells change) and is applied with `MainScreen.show(snapshot)`; reported per poll
(median): show() as called by the app (cells for every session + SyncedTable.sync + header + details), the
sync alone, and show() plus the repaint that follows. `rebuilds` must not grow.
Baseline in the same run, same size and the columns the screen chose: a plain DataTable rebuilt per poll (clear() + add_rows of all
rows, cells made beforehand), with and without its repaint. Also the 1 s tick (time-in-state of visible rows).
Target: show() < 50 ms per poll at 10,000 sessions and no full rebuilds (wall time; show()'s thread CPU is printed
beside it, for a machine other work shares).
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import statistics
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from pulse_tui.clock import FakeClock
from pulse_tui.config import Config
from pulse_tui.model import (
    ConnState,
    GatewayHealth,
    HealthState,
    KeysStatus,
    SessionView,
    Snapshot,
)
from pulse_tui.sim.canned import CannedGateway, CannedSource
from pulse_tui.tui.app import PulseApp
from pulse_tui.tui.rows import ID_SHORT, conn_cells, time_cells

T0 = 1_790_000_000.0
SIZES = (1_000, 10_000)
POLLS = 20
CHANGE = 0.01
SCREEN = (200, 50)
TARGET_MS = 50.0
STATES = (ConnState.CONNECTED, ConnState.CONNECTED, ConnState.CONNECTED, ConnState.RESTORABLE, ConnState.STOPPED,
          ConnState.QR, ConnState.STARTING)


# --- snapshots ------------------------------------------------------------------------------------------


def sessions(n: int, rng: random.Random) -> list[SessionView]:
    """n sessions of mixed states, ids, phones, ages and flags, like a big gateway's."""
    out = []
    for i in range(n):
        state = STATES[i % len(STATES)]
        age = rng.uniform(60, 5 * 86_400)
        out.append(SessionView(
            id=str(uuid.UUID(int=rng.getrandbits(128), version=4)), state=state, since=T0 - age,
            seconds_in_state=age, phone=f"1876555{i:04d}"[:11] if state == ConnState.CONNECTED else None,
            has_auth_dir=True, restorable=state != ConnState.STOPPED, last_fresh=T0 - 2,
            last_activity=T0 - rng.uniform(1, 3_600) if state == ConnState.CONNECTED else None,
            rss_bytes=rng.randrange(200, 900) * 2**20 if state == ConnState.CONNECTED else None,
            flags=frozenset({"never-restored"}) if i % 50 == 0 else frozenset()))
    return out


def snapshot(views: list[SessionView]) -> Snapshot:
    return Snapshot(taken_at=T0, gateway_kind="salesboy", gateway_url="http://127.0.0.1:3001",
                    gateway=GatewayHealth(HealthState.OK, latency_ms=12.0, budget_left=84, budget_limit=90),
                    sessions=tuple(views), redis=None, keys=KeysStatus("ok"))


def next_poll(views: list[SessionView], rng: random.Random) -> list[SessionView]:
    """The next poll: 1% of the sessions moved to another state just now (and their flags changed)."""
    out = list(views)
    for i in rng.sample(range(len(out)), max(1, int(len(out) * CHANGE))):
        s = out[i]
        state = rng.choice([x for x in STATES if x != s.state])
        flags = frozenset() if s.flags else frozenset({"stuck"})
        out[i] = replace(s, state=state, since=T0 - 3, seconds_in_state=3, flags=flags)
    return out


# --- the app's table ------------------------------------------------------------------------------------


async def painted(app: App[Any]) -> None:
    """Wait for the next screen refresh (the frame that shows what was just changed)."""
    done = asyncio.Event()
    app.call_after_refresh(done.set)
    await done.wait()


Columns = list[tuple[str, str, int]]


async def bench_app(n: int, tmp: Path) -> tuple[dict[str, float], Columns, bool]:
    """Median ms per poll of show(), sync() and show()+paint; rebuild count before/after; tick ms. Also the
    columns (key, title, width) and id shortening the screen chose, for the baseline."""
    rng = random.Random(n)
    views = sessions(n, rng)
    source = CannedSource(snapshot(views))
    config = Config(audit_log=tmp / "audit.log")
    app = PulseApp(config, source, CannedGateway(), clock=FakeClock(T0), autopoll=False)  # type: ignore[arg-type]
    out: dict[str, float] = {}
    async with app.run_test(size=SCREEN) as pilot:
        t0 = time.perf_counter()
        while app.snapshot is None:
            await asyncio.sleep(0.005)
        await painted(app)
        out["first_ms"] = (time.perf_counter() - t0) * 1000
        table = app.main.conn_table
        assert table.row_count == n, table.row_count
        rebuilds_before = table.rebuilds
        show_ms, paint_ms, sync_ms, show_cpu_ms = [], [], [], []
        columns = [(str(k.value), str(c.label), c.width) for k, c in table.columns.items()]
        short = table.columns[ColumnKey("id")].width == ID_SHORT
        for _ in range(POLLS):
            views = next_poll(views, rng)
            snap = snapshot(views)
            t0, c0 = time.perf_counter(), time.thread_time()
            app.main.show(snap)
            t1, c1 = time.perf_counter(), time.thread_time()
            await painted(app)
            t2 = time.perf_counter()
            show_ms.append((t1 - t0) * 1000)
            show_cpu_ms.append((c1 - c0) * 1000)
            paint_ms.append((t2 - t0) * 1000)
        for _ in range(POLLS):  # the sync alone, cells made beforehand
            views = next_poll(views, rng)
            rows = {s.id: conn_cells(s, short) for s in views}
            t0 = time.perf_counter()
            table.sync(rows)
            sync_ms.append((time.perf_counter() - t0) * 1000)
            await painted(app)
        app.main.snap = snapshot(views)
        tick_ms = []
        for _ in range(POLLS):
            t0 = time.perf_counter()
            app.main.tick()
            tick_ms.append((time.perf_counter() - t0) * 1000)
        await pilot.pause()
        out["show_ms"] = statistics.median(show_ms)
        out["show_max_ms"] = max(show_ms)
        out["show_cpu_ms"] = statistics.median(show_cpu_ms)
        out["paint_ms"] = statistics.median(paint_ms)
        out["sync_ms"] = statistics.median(sync_ms)
        out["tick_ms"] = statistics.median(tick_ms)
        out["rebuilds_before"] = rebuilds_before
        out["rebuilds_after"] = table.rebuilds
        out["rows"] = table.row_count
    return out, columns, short


# --- baseline: a plain DataTable rebuilt per poll ---------------------------------------------------------


class Plain(App[None]):
    def compose(self) -> ComposeResult:
        yield DataTable[Text | str](cursor_type="row")


async def bench_rebuild(n: int, columns: Columns, short: bool) -> dict[str, float]:
    """Median ms per poll of DataTable.clear() + add_rows(all rows), without and with the repaint."""
    rng = random.Random(n)
    views = sessions(n, rng)
    app = Plain()
    out: dict[str, float] = {}
    async with app.run_test(size=SCREEN) as pilot:
        table = app.query_one(DataTable)
        for key, title, width in columns:
            table.add_column(title, key=key, width=width)
        rebuild_ms, paint_ms = [], []
        for _ in range(POLLS):
            views = next_poll(views, rng)
            rows = [[{**conn_cells(s, short), **time_cells(s, T0)}[key] for key, _, _ in columns] for s in views]
            t0 = time.perf_counter()
            table.clear()
            table.add_rows(rows)
            t1 = time.perf_counter()
            await painted(app)
            t2 = time.perf_counter()
            rebuild_ms.append((t1 - t0) * 1000)
            paint_ms.append((t2 - t0) * 1000)
        await pilot.pause()
        out["rebuild_ms"] = statistics.median(rebuild_ms)
        out["paint_ms"] = statistics.median(paint_ms)
    return out


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f}/{five:.1f}/{fifteen:.1f} on {os.cpu_count()} cores"


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="pulse-bench-table-"))
    started = time.perf_counter()
    try:
        results = {}
        for n in SIZES:
            shown, columns, short = asyncio.run(bench_app(n, tmp))
            results[n] = (shown, asyncio.run(bench_rebuild(n, columns, short)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"table benchmark: {POLLS} polls per size, {CHANGE:.0%} of the sessions changing per poll, "
          f"{SCREEN[0]}x{SCREEN[1]} headless (took {time.perf_counter() - started:.1f} s; load average "
          f"{_load()})")
    for n, (a, b) in results.items():
        print(f"{n:>6} sessions (first snapshot painted in {a['first_ms']:.0f} ms):")
        print(f"    show(snapshot)               : {a['show_ms']:7.1f} ms/poll (max {a['show_max_ms']:.1f}), "
              f"with repaint {a['paint_ms']:7.1f} ms")
        print(f"    show() on-thread CPU         : {a['show_cpu_ms']:7.1f} ms/poll (what the wall time is on an "
              f"idle machine; a shared one adds others' time slices)")
        print(f"    of which SyncedTable.sync    : {a['sync_ms']:7.1f} ms/poll")
        print(f"    baseline clear()+add_rows()  : {b['rebuild_ms']:7.1f} ms/poll, "
              f"with repaint {b['paint_ms']:7.1f} ms")
        print(f"    ratio to the rebuild         : show {a['show_ms'] / b['rebuild_ms']:.2f}x, "
              f"sync {a['sync_ms'] / b['rebuild_ms']:.2f}x, with repaint "
              f"{a['paint_ms'] / b['paint_ms']:.2f}x")
        grew = a["rebuilds_after"] - a["rebuilds_before"]
        print(f"    rebuilds during polls        : {grew:.0f} ({a['rebuilds_before']:.0f} before, "
              f"{a['rebuilds_after']:.0f} after; {a['rows']:.0f} rows)")
        print(f"    1 s tick (visible rows)      : {a['tick_ms']:7.1f} ms")
    big_show = results[max(SIZES)][0]
    no_rebuild = all(a["rebuilds_after"] == a["rebuilds_before"] for a, _ in results.values())
    print(f"target {max(SIZES):,}: show() < {TARGET_MS:.0f} ms/poll "
          f"{'PASS' if big_show['show_ms'] < TARGET_MS else 'MISS'} ({big_show['show_ms']:.1f} ms); "
          f"no full rebuilds {'PASS' if no_rebuild else 'MISS'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
