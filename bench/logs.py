"""Benchmark the live log tail: follower + parser + redactor + LogPane, headless.

Run: .venv/bin/python bench/logs.py   (not a test; prints each figure with its target; cleans up its files)

1. Ingest: a writer process (bench/_logs_writer.py: a gateway writes its logs from its own process, not from a
   thread sharing our GIL) appends 100,000 lines (winston JSON and pm2-prefixed lines, some errors and some
   secrets to mask), 100 lines per write(), as fast as it can, to a file the follower follows while a LogPane
   is mounted in an App under `run_test`. Reports lines/s from the first write until the pane holds the last
   line (CLOCK_MONOTONIC in both processes), this process's CPU seconds meanwhile, the longest a keypress waited
   meanwhile (keys pressed through the pilot every 20 ms; the wait is from the press until the app's action
   ran), and peak RSS against the RSS with the pane full before ingesting.
2. Open: a 1 GB file — SPARSE (1 GB of holes) with 4 MB of real lines at its end — time to the first tail of
   500 lines, and the bytes the follower read to get there.
Targets: >= 50,000 lines/s, keypress wait < 100 ms, memory bounded by the buffer, 1 GB open < 100 ms.

Before/after in one run: `LOGS_BEFORE=DIR` (a tree holding an older `pulse_tui/`, e.g. a `git worktree add
--detach`) runs this bench `LOGS_RUNS` times (default 3) on each side, alternately, each run a process of its own
with that side's `pulse_tui` first on sys.path (`LOGS_TREE`), and prints every run and the medians.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding

HERE = Path(__file__).resolve().parent
TREE = os.environ.get("LOGS_TREE") or str(HERE.parent)
sys.path.insert(0, TREE)

from _logs_writer import LINES, make_line  # noqa: E402

from pulse_tui.sources.logs import LogFollower, Redactor  # noqa: E402
from pulse_tui.tui.log_pane import LogPane  # noqa: E402

BUFFER = 10_000
BEFORE = os.environ.get("LOGS_BEFORE")


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


class Host(App[None]):
    BINDINGS = [Binding("k", "probe", "probe")]

    def __init__(self) -> None:
        super().__init__()
        self.probed: list[float] = []

    def compose(self) -> ComposeResult:
        yield LogPane(max_lines=BUFFER)

    def action_probe(self) -> None:
        self.probed.append(time.perf_counter())


async def bench_ingest(tmp: Path) -> dict[str, float]:
    path = tmp / "gateway-2026-11-25.log"
    path.write_text("")
    # started first: it builds its payload while the app starts
    writer = subprocess.Popen([sys.executable, str(HERE / "_logs_writer.py"), str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        return await _ingest(path, writer)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()


async def _ingest(path: Path, writer: subprocess.Popen[str]) -> dict[str, float]:
    app = Host()
    out: dict[str, float] = {}
    async with app.run_test(size=(160, 50)) as pilot:
        pane = app.query_one(LogPane)
        pane.view.focus()
        # fill the buffer once so the baseline RSS already holds a full pane
        pane.add_lines([LogFollowerLine.make(i) for i in range(BUFFER)])
        pane.clear()
        await pilot.pause()
        base_rss = rss_mb()
        follower = LogFollower([str(path)], redactor=Redactor(["hunter2-secret"]))
        await follower.poll()
        received = 0
        done = asyncio.Event()

        def feed(batch: list) -> None:
            nonlocal received
            pane.add_lines(batch)
            received += len(batch)
            if received >= LINES:
                done.set()

        task = asyncio.create_task(follower.run(feed))
        assert writer.stdin is not None and writer.stdout is not None
        if writer.stdout.readline().strip() != "ready":
            raise RuntimeError("the writer process did not start")
        cpu0 = time.process_time()
        writer.stdin.write("go\n")
        writer.stdin.flush()
        waits: list[float] = []
        presses: list[asyncio.Task[None]] = []
        half_rss = 0.0
        while not done.is_set():
            before = len(app.probed)
            t0 = time.perf_counter()
            # the pilot's press also waits for the app to go idle, which it never is while ingesting: run it
            # aside and time from the press to the moment the app's action ran
            presses.append(asyncio.create_task(pilot.press("k")))
            while len(app.probed) == before:
                await asyncio.sleep(0.0005)
            waits.append(app.probed[-1] - t0)
            if not half_rss and received >= LINES // 2:
                half_rss = rss_mb()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), timeout=0.02)
        finished = time.monotonic()
        cpu = time.process_time() - cpu0
        started = float(writer.stdout.readline())
        writer.wait()
        await asyncio.gather(*presses)
        await follower.aclose()
        task.cancel()
        await pilot.pause()
        out["lines_per_s"] = LINES / (finished - started)
        out["cpu_s"] = cpu
        out["wall_s"] = finished - started
        out["key_wait_max_ms"] = max(waits) * 1000 if waits else float("nan")
        out["key_presses"] = len(waits)
        out["rss_base_mb"] = base_rss
        out["rss_after_mb"] = rss_mb()
        out["rss_half_mb"] = half_rss
        out["buffered"] = pane.buffered
        out["dropped"] = pane.dropped
        out["last_ok"] = float(pane.view.lines[-1].endswith(make_line(LINES - 1)[-20:]) or
                               "99999" in pane.view.lines[-1])
    return out


class LogFollowerLine:
    """Lines to fill the pane for the baseline, shaped like the ingested ones."""

    @staticmethod
    def make(i: int):  # noqa: ANN205 - bench helper
        from pulse_tui.sources.logs import parse_line

        return parse_line(make_line(i), "gateway-2026-11-25.log")


async def bench_open(tmp: Path) -> dict[str, float]:
    path = tmp / "big.log"
    size = 1024**3
    tail = "".join(make_line(i) + "\n" for i in range(30_000)).encode()[-4 * 1024 * 1024:]
    tail = tail[tail.index(b"\n") + 1:]
    with path.open("wb") as fh:
        fh.truncate(size - len(tail))  # sparse: holes read as NUL bytes without disk
        fh.seek(size - len(tail))
        fh.write(tail)
    follower = LogFollower([str(path)], start_lines=500)
    t0 = time.perf_counter()
    lines = await follower.poll()
    took = time.perf_counter() - t0
    out = {"open_ms": took * 1000, "lines": len(lines), "bytes_read": follower.stats.bytes_read,
           "size": path.stat().st_size}
    await follower.aclose()
    return out


def measure() -> dict[str, float]:
    """Both parts once, in this process: the figures by name."""
    tmp = Path(tempfile.mkdtemp(prefix="pulse-bench-logs-"))
    try:
        t0 = time.perf_counter()
        ing = asyncio.run(bench_ingest(tmp))
        opened = asyncio.run(bench_open(tmp))
        total = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {**ing, **{k if k == "open_ms" else f"open_{k}": v for k, v in opened.items()},
            "took_s": total, "peak_rss_mb": peak_rss_mb()}


def mark(good: bool) -> str:
    return "ok  " if good else "MISS"


def report(f: dict[str, float]) -> None:
    print(f"log tail benchmark ({LINES:,} lines, pane buffer {BUFFER:,}; took {f['took_s']:.1f} s)")
    print(f"  [{mark(f['lines_per_s'] >= 50_000)}] ingest to the screen: {f['lines_per_s']:,.0f} lines/s"
          f" ({f['wall_s']:.2f} s, this process's CPU {f['cpu_s']:.2f} s; the writer is another process)"
          f"   (target >= 50,000)")
    print(f"  [{mark(f['key_wait_max_ms'] < 100)}] longest keypress wait while ingesting: "
          f"{f['key_wait_max_ms']:.1f} ms over {f['key_presses']:.0f} presses   (target < 100 ms)")
    second_half = f["rss_after_mb"] - f["rss_half_mb"]
    print(f"  [{mark(second_half < 10)}] memory: RSS {f['rss_base_mb']:.0f} MB before (pane filled once), "
          f"{f['rss_half_mb']:.0f} MB at {LINES // 2:,} lines, {f['rss_after_mb']:.0f} MB at {LINES:,} "
          f"(second half {second_half:+.0f} MB); peak RSS {f['peak_rss_mb']:.0f} MB; pane holds "
          f"{f['buffered']:,.0f}, dropped {f['dropped']:,.0f}   (target: bounded by the buffer, flat once full)")
    print(f"  [{mark(f['open_ms'] < 100)}] open a 1 GB file (sparse, 4 MB of real lines at the end): "
          f"first tail of {f['open_lines']:.0f} lines in {f['open_ms']:.1f} ms, "
          f"{f['open_bytes_read'] / 1024:.0f} KiB read   (target < 100 ms)")
    if not f["last_ok"]:
        print("  [MISS] the pane's last row is not the last line written")


def compare(before: str) -> None:
    """LOGS_BEFORE: this bench on each side's pulse_tui, alternately, each run in a process of its own."""
    import pulse_tui

    sides = {"before": str(Path(before).resolve()), "now": TREE}
    runs = int(os.environ.get("LOGS_RUNS", "3"))
    got: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
    for _ in range(runs):
        for side, tree in sides.items():
            env = {**os.environ, "LOGS_TREE": tree, "LOGS_JSON": "1"}
            env.pop("LOGS_BEFORE", None)
            done = subprocess.run([sys.executable, __file__], env=env, capture_output=True, text=True, check=True)
            got[side].append(json.loads(done.stdout.splitlines()[-1]))
    print(f"log tail benchmark, before/after ({runs} alternating runs a side; now: {Path(pulse_tui.__file__).parent})")
    for side, tree in sides.items():
        rs = got[side]
        rates = ", ".join(f"{r['lines_per_s'] / 1000:.1f}k" for r in rs)
        cpus = ", ".join(f"{r['cpu_s']:.2f}" for r in rs)
        walls = ", ".join(f"{r['wall_s']:.2f}" for r in rs)
        print(f"  {side:6s} ({tree}): ingest median {statistics.median(r['lines_per_s'] for r in rs):,.0f} lines/s "
              f"[{rates}], wall [{walls}] s, CPU in the window [{cpus}] s, keypress wait max "
              f"{max(r['key_wait_max_ms'] for r in rs):.0f} ms, 1 GB open max {max(r['open_ms'] for r in rs):.1f} ms")
    ratio = statistics.median(r["lines_per_s"] for r in got["now"]) / statistics.median(
        r["lines_per_s"] for r in got["before"])
    print(f"  now / before (ingest lines/s, medians): {ratio:.2f}x")


def main() -> None:
    if BEFORE:
        compare(BEFORE)
        return
    figures = measure()
    if os.environ.get("LOGS_JSON"):
        import pulse_tui

        print(json.dumps({**figures, "tree": str(Path(pulse_tui.__file__).parent)}))
    else:
        report(figures)


if __name__ == "__main__":
    main()
