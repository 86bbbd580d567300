"""Benchmark the live log tail: follower + parser + redactor + LogPane, headless.

Run: .venv/bin/python bench/logs.py   (not a test; prints each figure with its target; cleans up its files)

1. Ingest: a writer thread appends 100,000 lines (winston JSON and pm2-prefixed lines, some errors and some
   secrets to mask), 100 lines per write(), as fast as it can, to a file the follower follows while a LogPane
   is mounted in an App under `run_test`. Reports lines/s from the first write until the pane holds the last
   line, the longest a keypress waited meanwhile (keys pressed through the pilot every 20 ms; the wait is from
   the press until the app's action ran), and peak RSS against the RSS with the pane full before ingesting.
2. Open: a 1 GB file — SPARSE (1 GB of holes) with 4 MB of real lines at its end — time to the first tail of
   500 lines, and the bytes the follower read to get there.
Targets: >= 50,000 lines/s, keypress wait < 100 ms, memory bounded by the buffer, 1 GB open < 100 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pulse_tui.sources.logs import LogFollower, Redactor  # noqa: E402
from pulse_tui.tui.log_pane import LogPane  # noqa: E402

LINES = 100_000
PER_WRITE = 100
BUFFER = 10_000
SID = "6f1c2a4e-1b2c-4d3e-8f90-123456789abc"


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def make_line(i: int) -> str:
    ts = f"2026-11-25T08:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}.{i % 1000:03d}Z"
    k = i % 20
    if k == 0:
        return f"2026-11-25 08:00:{i % 60:02d} +00:00: Error: connect ECONNREFUSED 127.0.0.1:6379 (attempt {i})"
    if k == 1:
        return json.dumps({"level": "warn", "message": f"User {SID} disconnected: NAVIGATION", "timestamp": ts})
    if k == 2:
        return f"2026-11-25 08:00:{i % 60:02d} +00:00: calling ElevenLabs with xi-api-key: sk_{i:048d}"
    return json.dumps({"level": "info", "message": f"Message {i} received from 18765551234@c.us in chat "
                                                   f"120363{i:06d}@g.us: hello there", "timestamp": ts})


class Host(App[None]):
    BINDINGS = [Binding("k", "probe", "probe")]

    def __init__(self) -> None:
        super().__init__()
        self.probed: list[float] = []

    def compose(self) -> ComposeResult:
        yield LogPane(max_lines=BUFFER)

    def action_probe(self) -> None:
        self.probed.append(time.perf_counter())


def chunks() -> list[bytes]:
    """The writer's payload, made before the clock starts: the gateway writing is another process."""
    return ["".join(make_line(i) + "\n" for i in range(s, s + PER_WRITE)).encode() for s in range(0, LINES, PER_WRITE)]


def writer(path: Path, payload: list[bytes], started: list[float]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        started.append(time.perf_counter())
        for chunk in payload:
            os.write(fd, chunk)
    finally:
        os.close(fd)


async def bench_ingest(tmp: Path) -> dict[str, float]:
    path = tmp / "gateway-2026-11-25.log"
    path.write_text("")
    app = Host()
    out: dict[str, float] = {}
    async with app.run_test(size=(160, 50)) as pilot:
        pane = app.query_one(LogPane)
        pane.view.focus()
        # fill the buffer once so the baseline RSS already holds a full pane
        pane.add_lines([LogFollowerLine.make(i) for i in range(BUFFER)])
        pane.clear()
        await pilot.pause()
        payload = chunks()
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
        started: list[float] = []
        th = threading.Thread(target=writer, args=(path, payload, started), daemon=True)
        th.start()
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
        finished = time.perf_counter()
        th.join()
        await asyncio.gather(*presses)
        await follower.aclose()
        task.cancel()
        await pilot.pause()
        out["lines_per_s"] = LINES / (finished - started[0])
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


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="pulse-bench-logs-"))
    try:
        t0 = time.perf_counter()
        ing = asyncio.run(bench_ingest(tmp))
        opened = asyncio.run(bench_open(tmp))
        total = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    def mark(good: bool) -> str:
        return "ok  " if good else "MISS"

    print(f"log tail benchmark ({LINES:,} lines, pane buffer {BUFFER:,}; took {total:.1f} s)")
    print(f"  [{mark(ing['lines_per_s'] >= 50_000)}] ingest to the screen: {ing['lines_per_s']:,.0f} lines/s"
          f"   (target >= 50,000)")
    print(f"  [{mark(ing['key_wait_max_ms'] < 100)}] longest keypress wait while ingesting: "
          f"{ing['key_wait_max_ms']:.1f} ms over {ing['key_presses']:.0f} presses   (target < 100 ms)")
    second_half = ing["rss_after_mb"] - ing["rss_half_mb"]
    print(f"  [{mark(second_half < 10)}] memory: RSS {ing['rss_base_mb']:.0f} MB before (pane filled once, writer's payload made), "
          f"{ing['rss_half_mb']:.0f} MB at {LINES // 2:,} lines, {ing['rss_after_mb']:.0f} MB at {LINES:,} "
          f"(second half {second_half:+.0f} MB); peak RSS {peak_rss_mb():.0f} MB; pane holds "
          f"{ing['buffered']:,.0f}, dropped {ing['dropped']:,.0f}   (target: bounded by the buffer, flat once full)")
    print(f"  [{mark(opened['open_ms'] < 100)}] open a 1 GB file (sparse, 4 MB of real lines at the end): "
          f"first tail of {opened['lines']:.0f} lines in {opened['open_ms']:.1f} ms, "
          f"{opened['bytes_read'] / 1024:.0f} KiB read   (target < 100 ms)")
    if not ing["last_ok"]:
        print("  [MISS] the pane's last row is not the last line written")


if __name__ == "__main__":
    main()
