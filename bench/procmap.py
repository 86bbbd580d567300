"""Benchmark: one process-map scan with 50 sessions x 9 stand-in browser processes (450 processes: puppeteer's
default Chromium has 9 per session).

Baseline, measured in the same run: a bare `psutil.process_iter` over the same process table with the same
attributes and no grouping. Target: a scan under 100 ms. The scan is timed three ways, interleaved: without the
memory details (RSS only), with PSS/USS read for every browser process (smaps_rollup, what a due refresh costs),
and as the monitor runs it (figures cached between refreshes every MEMORY_EVERY_S); the ratio is printed. A
stand-in has few mappings, a real Chromium process hundreds, and smaps_rollup walks them all: when `chromium` is
installed one real headless instance (about:blank, no network) is started too and its per-process smaps cost is
reported and scaled to 450 processes. Also reports the lock check of the 50 profile dirs, the share of one poll
interval (default 3 s) the host probe takes, and its share of one real `Monitor.poll` (against the gateway
simulator on loopback, with and without the host source, measured in the same run).

    .venv/bin/python bench/procmap.py [--sessions 50] [--procs 9] [--rounds 7] [--poll 3] [--no-chromium]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from pulse_tui.clock import SystemClock
from pulse_tui.config import Config
from pulse_tui.monitor.host import HostSource
from pulse_tui.monitor.service import Monitor
from pulse_tui.sim.browsers import BrowserSpec, StandInGateway
from pulse_tui.sim.gateway import GatewaySim
from pulse_tui.sources.authdirs import discover
from pulse_tui.sources.gateway import SalesboyGateway
from pulse_tui.sources.locks import check_locks
from pulse_tui.sources.procs import MEMORY_BATCH, MEMORY_EVERY_S, SCAN_ATTRS, ProcessMapper

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")


def _chromium_smaps_us(rounds: int) -> tuple[float, int] | None:
    """Median µs per `memory_full_info()` over one real headless Chromium's processes, and their count."""
    exe = shutil.which("chromium")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory(prefix="pulse-tui-procmap-chromium-") as tmp:
        proc = subprocess.Popen([exe, *CHROMIUM_FLAGS, f"--user-data-dir={tmp}/profile", "about:blank"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started: list[psutil.Process] = []
        try:
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline and len(started) < 6:
                time.sleep(0.5)
                started = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
            time.sleep(2.0)  # let the renderers settle
            procs = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
            per = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                for p in procs:
                    p.memory_full_info()
                per.append((time.perf_counter() - t0) * 1e6 / len(procs))
            return statistics.median(per), len(procs)
        finally:
            with_kids: list[psutil.Process] = []
            with contextlib.suppress(psutil.Error):
                with_kids = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
            proc.send_signal(2)  # SIGINT: Chromium exits cleanly (and takes its crash handlers along)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for p in with_kids:
                try:
                    p.kill()
                except psutil.Error:
                    continue


def _median_ms(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


async def _poll_ms(root: Path, rounds: int) -> tuple[float, float]:
    """Median wall time of one Monitor.poll without and with the host source (interleaved), in ms."""
    sim = GatewaySim(root, rate_limit=100_000, restore_on_boot=False)
    sim.start()
    gateway = SalesboyGateway(sim.url, auth_roots=[root])
    config = Config(gateway_url=sim.url, auth_dirs=(root,), pm2_app=None)
    try:
        def monitor(host: HostSource | None) -> Monitor:
            return Monitor(config, gateway, clock=SystemClock(), host=host,
                           auth_discovery=lambda: Monitor.auth_facts(discover([root])))

        plain, hosted = monitor(None), monitor(HostSource(config, SystemClock()))
        await plain.poll()
        await hosted.poll()  # warm: the first scan has no CPU baseline
        without, with_host = [], []
        for _ in range(rounds):
            t0 = time.perf_counter()
            await plain.poll()
            without.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            await hosted.poll()
            with_host.append((time.perf_counter() - t0) * 1000)
        return statistics.median(without), statistics.median(with_host)
    finally:
        await gateway.aclose()
        sim.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=50)
    ap.add_argument("--procs", type=int, default=9, help="processes per session (root + children)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--poll", type=float, default=3.0, help="poll interval in seconds, for the share")
    ap.add_argument("--no-chromium", action="store_true", help="skip the real-Chromium smaps measurement")
    args = ap.parse_args(argv)
    real = None if args.no_chromium else _chromium_smaps_us(args.rounds)

    with tempfile.TemporaryDirectory(prefix="pulse-tui-procmap-") as tmp:
        root = Path(tmp) / ".wwebjs_auth"
        specs = [BrowserSpec(root / f"session-{i:08d}-0000-4000-8000-000000000000", children=args.procs - 1,
                             flagged_children=(args.procs - 1) * 2 // 3)
                 for i in range(args.sessions)]
        t0 = time.perf_counter()
        gw = StandInGateway(specs).start(timeout_s=120)
        try:
            spawn_s = time.perf_counter() - t0
            mapper = ProcessMapper([root], SystemClock())
            report = mapper.scan()  # warm psutil's process cache, as every poll after the first is
            mapped = sum(len(s.pids) for s in report.sessions)
            want = args.sessions * args.procs
            if len(report.sessions) != args.sessions or mapped != want:
                print(f"MAPPING WRONG: {len(report.sessions)} sessions / {mapped} processes, expected "
                      f"{args.sessions} / {want}", file=sys.stderr)
                return 1

            def baseline() -> object:
                return [p.info for p in psutil.process_iter(SCAN_ATTRS, ad_value=None)]

            full = ProcessMapper([root], SystemClock(), memory_every_s=0.0, memory_batch=want)  # all, every scan
            full.scan()

            def rss_only() -> object:
                return mapper.scan(memory=False)

            # interleave so all see the same machine load
            base_ms, scan_ms, bare_ms, full_ms = [], [], [], []
            for _ in range(args.rounds):
                base_ms.append(_median_ms(baseline, 1))
                scan_ms.append(_median_ms(mapper.scan, 1))
                bare_ms.append(_median_ms(rss_only, 1))
                full_ms.append(_median_ms(full.scan, 1))
            base, scan = statistics.median(base_ms), statistics.median(scan_ms)
            bare, with_mem = statistics.median(bare_ms), statistics.median(full_ms)
            dirs = [(s.session_id, s.user_data_dir) for s in report.sessions]
            locks_ms = _median_ms(lambda: check_locks(dirs, report), args.rounds)
            total = report.processes_scanned
            poll_plain, poll_host = asyncio.run(_poll_ms(root, args.rounds))
        finally:
            gw.close()

    probe = scan + locks_ms
    print(f"stand-ins: {args.sessions} sessions x {args.procs} processes = {want} (spawned in {spawn_s:.2f} s); "
          f"{total} processes on the host")
    print(f"baseline  bare process_iter        : {base:7.1f} ms")
    print(f"scan      ProcessMapper.scan()     : {scan:7.1f} ms  (as the monitor runs it, PSS/USS cached; "
          f"{scan / base:.2f}x baseline; target < 100 ms: "
          f"{'OK' if scan < 100 else 'MISSED'})")
    print(f"memory    scan without PSS/USS     : {bare:7.1f} ms")
    print(f"memory    scan reading PSS/USS     : {with_mem:7.1f} ms  ({with_mem / bare:.2f}x without; "
          f"{(with_mem - bare) * 1000 / want:.0f} us per stand-in process)")
    if real is not None:
        us, n = real
        print(f"memory    real Chromium smaps      : {us:7.0f} us per process ({n} processes measured); "
              f"x {want} = {us * want / 1000:.0f} ms per full refresh; so PSS/USS are refreshed every "
              f"{MEMORY_EVERY_S:g} s, at most {MEMORY_BATCH} per scan ({us * MEMORY_BATCH / 1000:.0f} ms)")
    else:
        print("memory    real Chromium smaps      : not measured (no `chromium`, or --no-chromium)")
    print(f"locks     check_locks({len(dirs)} dirs)      : {locks_ms:7.1f} ms")
    print(f"share of one {args.poll:g} s poll (scan + locks): {probe / (args.poll * 1000) * 100:.1f} %")
    print(f"Monitor.poll without host source   : {poll_plain:7.1f} ms")
    print(f"Monitor.poll with host source      : {poll_host:7.1f} ms  ({poll_host / poll_plain:.2f}x; the scan runs "
          f"beside the gateway calls, so it adds {max(0.0, poll_host - poll_plain):.1f} ms, "
          f"{max(0.0, poll_host - poll_plain) / poll_host * 100:.0f} % of the poll)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
