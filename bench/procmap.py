"""Benchmark: one process-map scan with 50 sessions x 12 stand-in browser processes (600 processes).

Baseline, measured in the same run: a bare `psutil.process_iter` over the same process table with the same
attributes and no grouping. Target: a scan under 100 ms. Also reports the lock check of the 50 profile dirs and
the share of one poll interval (default 3 s) the host probe takes, and its share of one real `Monitor.poll`
(against the gateway simulator on loopback, with and without the host source, measured in the same run).

    .venv/bin/python bench/procmap.py [--sessions 50] [--procs 12] [--rounds 7] [--poll 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
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
from pulse_tui.sources.procs import SCAN_ATTRS, ProcessMapper


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
    ap.add_argument("--procs", type=int, default=12, help="processes per session (root + children)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--poll", type=float, default=3.0, help="poll interval in seconds, for the share")
    args = ap.parse_args(argv)

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

            # interleave so both see the same machine load
            base_ms, scan_ms = [], []
            for _ in range(args.rounds):
                base_ms.append(_median_ms(baseline, 1))
                scan_ms.append(_median_ms(mapper.scan, 1))
            base, scan = statistics.median(base_ms), statistics.median(scan_ms)
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
    print(f"scan      ProcessMapper.scan()     : {scan:7.1f} ms  ({scan / base:.2f}x baseline; target < 100 ms: "
          f"{'OK' if scan < 100 else 'MISSED'})")
    print(f"locks     check_locks({len(dirs)} dirs)      : {locks_ms:7.1f} ms")
    print(f"share of one {args.poll:g} s poll (scan + locks): {probe / (args.poll * 1000) * 100:.1f} %")
    print(f"Monitor.poll without host source   : {poll_plain:7.1f} ms")
    print(f"Monitor.poll with host source      : {poll_host:7.1f} ms  ({poll_host / poll_plain:.2f}x; the scan runs "
          f"beside the gateway calls, so it adds {max(0.0, poll_host - poll_plain):.1f} ms, "
          f"{max(0.0, poll_host - poll_plain) / poll_host * 100:.0f} % of the poll)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
