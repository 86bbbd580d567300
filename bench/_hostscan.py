"""Micro-bench of the host process scan (`ProcessMapper.scan`) on a host of ~300 processes.

Run: .venv/bin/python bench/_hostscan.py [TOTAL]   (not a test; starts `sleep` processes and stand-in browsers
until the host has about TOTAL processes (default 300), removes every one of them at the end)

Prints the CPU time (user + system of this process) per scan for a full scan (every process read, as the
kill re-check does) and for the per-poll scan (only new and browser-related processes read), and what each
costs at a 3 s poll in % of one core. Compare the two within one run: the machine is shared.

`bench/_hostscan.py idle OLD_TREE [TOTAL]`: the whole TUI, as bench/idle_cpu.py runs it (100 sessions, 4 pm2 logs),
twice from this checkout and twice from OLD_TREE (a `git archive` of an older pulse_tui, put first on PYTHONPATH),
all four at once in one tmux over the same minute, on a host of about TOTAL processes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from pulse_tui.clock import SystemClock
from pulse_tui.sim.browsers import BrowserSpec, StandInGateway
from pulse_tui.sources.procs import CMDLINE_SETTLE_S, ProcessMapper

POLL_S = 3.0
SCANS = 60


def _cpu_per_scan(scan: Callable[[], object], n: int) -> float:
    """CPU seconds of this process per call of `scan()`."""
    scan()  # warm: command lines read once
    before = time.process_time()
    for _ in range(n):
        scan()
    return (time.process_time() - before) / n


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    tmp = Path(tempfile.mkdtemp(prefix="pulse-hostscan-"))
    root = tmp / ".wwebjs_auth"
    specs = [BrowserSpec(root / f"session-bench-{i}", children=4, lock=False) for i in range(3)]
    gw = StandInGateway(specs).start()
    sleepers: list[subprocess.Popen[bytes]] = []
    try:
        while len(psutil.pids()) < total:
            sleepers.append(subprocess.Popen(["sleep", "600"]))
        time.sleep(CMDLINE_SETTLE_S + 0.5)  # as on a real host: its processes are older than a command line's settling
        mapper = ProcessMapper([root], SystemClock())
        report = mapper.scan()
        assert len(report.sessions) == 3, report.sessions
        load = os.getloadavg()[0]
        print(f"host processes: {report.processes_scanned}, browser processes: "
              f"{sum(len(t.procs) for t in report.trees)}, load {load:.2f}")
        full = _cpu_per_scan(lambda: mapper.scan(full=True), SCANS)
        print(f"full scan:     {full * 1000:6.2f} ms CPU/scan = {full / POLL_S * 100:5.2f} % of a core at a 3 s poll")
        part = _cpu_per_scan(lambda: mapper.scan(full=False), SCANS)
        print(f"per-poll scan: {part * 1000:6.2f} ms CPU/scan = {part / POLL_S * 100:5.2f} % of a core "
              f"at a 3 s poll ({full / part:.1f}x less; the full scan also runs once a minute)")
        polled = mapper.scan(full=False)
        assert len(polled.sessions) == 3 and not polled.full_scan
    finally:
        for p in sleepers:
            p.kill()
        for p in sleepers:
            p.wait()
        gw.close()


def idle(old_tree: str, total: int) -> None:
    """Idle CPU of the TUI, this checkout against OLD_TREE, in the same minute."""
    from _world import PULSE_TUI, Tmux, load_average, pm2_binary, start_world, tree_cpu_s
    from idle_cpu import SESSIONS, Pm2

    pm2_bin, why = pm2_binary()
    if pm2_bin is None:
        raise SystemExit(f"needs pm2: {why}")
    pm2, world, tmux = Pm2(pm2_bin), None, None
    sleepers: list[subprocess.Popen[bytes]] = []
    try:
        world = start_world(SESSIONS, pm2.start())
        while len(psutil.pids()) < total:
            sleepers.append(subprocess.Popen(["sleep", "900"]))
        env_file = world.env_file("pulse.env", PULSE_TUI_PM2_APP=pm2.names[0])
        tmux = Tmux("hostscan")
        pids = {}
        for i, (label, path) in enumerate((("new a", ""), ("old a", old_tree), ("new b", ""), ("old b", old_tree))):
            pids[label] = tmux.new(f"v{i}", [str(PULSE_TUI), "--env-file", str(env_file)],
                                   {**pm2.env, "PYTHONPATH": path})
        time.sleep(15.0)
        before = {k: tree_cpu_s(p) for k, p in pids.items()}
        t0 = time.monotonic()
        time.sleep(60.0)
        wall = time.monotonic() - t0
        cpu = {k: (tree_cpu_s(p) - before[k]) / wall * 100 for k, p in pids.items()}
        print(f"idle TUI, {SESSIONS} sessions, 4 pm2 logs, {len(psutil.pids())} host processes, {wall:.0f} s, "
              f"load {load_average()}:")
        for k, v in cpu.items():
            print(f"  {k:<6} {v:5.2f} % of one core")
        new, old = (cpu["new a"] + cpu["new b"]) / 2, (cpu["old a"] + cpu["old b"]) / 2
        print(f"  mean: new {new:.2f} %, old {old:.2f} %: {old - new:+.2f} points saved")
        for i, p in enumerate(pids.values()):
            tmux.quit(f"v{i}", p)
    finally:
        for p in sleepers:
            p.kill()
            p.wait()
        if tmux:
            tmux.close()
        pm2.close()
        if world:
            world.close()


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "idle":
        idle(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 300)
    else:
        main()
