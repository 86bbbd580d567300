"""Benchmark idle CPU and peak memory as on a real host: pulse-tui watching 100 sessions on a 3 s poll and 4
logs written by apps under pm2, against `pm2 monit` on the same 4 apps, over the same minute.

Run: .venv/bin/python bench/idle_cpu.py   (not a test; loopback only; about 2.5 minutes; removes every process,
tmux session, pm2 daemon and temp dir it starts)

The world: a Redis seeded as the demo seeds it and a Salesboy gateway simulator with SESSIONS linked sessions,
all connected before anything is measured. A real pm2 from npm (cached in /tmp/pulse-tui-pm2, as
tests/test_pm2.py does) runs 4 Node apps in a PM2_HOME of its own, each logging 1.4 lines/s to stdout, which
pm2 writes to PM2_HOME/logs/<app>-out.log; pulse-tui's PULSE_TUI_LOGS names those 4 files and
PULSE_TUI_PM2_APP the first app. In one private tmux server (150x40 each), at the same time:
- `pulse-tui --env-file …` (the console script) with pm2's bin dir on PATH and PM2_HOME set, as on a host;
- `pm2 monit` with the same PATH and PM2_HOME: the baseline, the operator's alternative;
- for context: the same pulse-tui without pm2 on PATH, and the bare Textual app (bench/_bare_app.py).
After SETTLE_S, CPU seconds (user + system of the pane's process and all its descendants, including the
exited children they reaped, such as `pm2 jlist`) are read, and again MEASURE_S later, twice: CPU s / wall s =
percent of one core, for the first minute after start-up (every session's time in state still steps every 5 s:
ui_words.duration) and for the minute after it, the steady state an operator leaves open; both are judged. RSS is sampled every 0.5 s (the process tree; for pulse-tui also the kernel's VmHWM).
pm2's daemon serves both pulse-tui and pm2 monit; its CPU is reported beside them, counted in neither.
Without node/npm, the bench says so and measures pulse-tui without pm2.
Targets: pulse-tui <= 0.5x pm2 monit, < 1 % of one core; peak RSS < 64 MiB.
Before/after in one run: `IDLE_CPU_BEFORE=DIR` (a checkout of an older commit; run from a directory without a
pulse_tui of its own) adds that code's pulse-tui beside the others, with the same PATH and PM2_HOME; its figures
are printed beside the current ones and judge nothing.
"""

from __future__ import annotations

import compileall
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from _world import (
    PULSE_TUI,
    Tmux,
    close_started,
    load_average,
    pm2_binary,
    start_world,
    tree_cpu_s,
    tree_rss,
    vm_hwm,
)

from pulse_tui.sources.pm2 import daemon_pid

BEFORE = os.environ.get("IDLE_CPU_BEFORE")
SESSIONS = 100
APPS = 4
LINE_EVERY_MS = 714  # 1.4 lines/s per app
SETTLE_S = float(os.environ.get("IDLE_SETTLE_S", "10"))
MEASURE_S = float(os.environ.get("IDLE_MEASURE_S", "60"))
RATIO_TARGET = 0.5
PCT_TARGET = 1.0
RSS_TARGET_MIB = 64.0
BARE = Path(__file__).with_name("_bare_app.py")
APP_JS = ("let i = 0;\nsetInterval(() => { i += 1; console.log(`${new Date().toISOString()} INFO "
          f"[${{process.env.APP}}] handled message ${{i}} from 18765551234@c.us`); }}, {LINE_EVERY_MS});\n")


class Pm2:
    """A pm2 daemon in its own PM2_HOME with APPS logging apps; `close()` kills it and removes the home."""

    def __init__(self, binary: str) -> None:
        self.bin = binary
        self.home = Path(tempfile.mkdtemp(prefix="pm2b-", dir="/tmp"))  # short: pm2's unix sockets live here
        self.env = {"PATH": f"{Path(binary).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                    "PM2_HOME": str(self.home)}
        self.names = [f"bench-app-{i}" for i in range(1, APPS + 1)]
        (self.home / "app.js").write_text(APP_JS)

    def run(self, *args: str, **extra: str) -> None:
        proc = subprocess.run([self.bin, *args], env={**os.environ, **self.env, **extra}, capture_output=True,
                              text=True, timeout=60, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"pm2 {args[0]} failed: {proc.stderr.strip()[-500:]}")

    def start(self) -> list[str]:
        for name in self.names:
            self.run("start", str(self.home / "app.js"), "--name", name, APP=name)
        return [str(self.home / "logs" / f"{n}-out.log") for n in self.names]

    def close(self) -> None:
        subprocess.run([self.bin, "kill"], env={**os.environ, **self.env}, capture_output=True, timeout=60,
                       check=False)
        shutil.rmtree(self.home, ignore_errors=True)


def python_writers(root: Path, stop: threading.Event) -> list[str]:
    """Without pm2: the same 4 logs written by threads of this process (not counted in any figure)."""
    paths = [root / f"app-{i}-out.log" for i in range(1, APPS + 1)]

    def write() -> None:
        n = 0
        while not stop.wait(LINE_EVERY_MS / 1000):
            n += 1
            for i, p in enumerate(paths, 1):
                with open(p, "a", encoding="utf-8") as fh:
                    fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} INFO [app-{i}] handled message {n}\n")

    for p in paths:
        p.touch()
    threading.Thread(target=write, daemon=True).start()
    return [str(p) for p in paths]


def main() -> int:
    started = time.perf_counter()
    pm2_bin, why = pm2_binary()
    pm2 = Pm2(pm2_bin) if pm2_bin else None
    tmp = Path(tempfile.mkdtemp(prefix="pulse-bench-idle-"))
    stop = threading.Event()
    world = None
    tmux = None
    panes: dict[str, int] = {}
    try:
        logs = pm2.start() if pm2 else python_writers(tmp, stop)
        world = start_world(SESSIONS, logs)
        env_file = world.env_file("pulse.env", PULSE_TUI_PM2_APP=pm2.names[0] if pm2 else "bench-app-1")
        tmux = Tmux("idle")
        pulse_argv = [str(PULSE_TUI), "--env-file", str(env_file)]
        if BEFORE:
            from first_sessions import before_command

            compileall.compile_dir(str(Path(BEFORE) / "pulse_tui"), quiet=1)
            before_argv, before_env = before_command(Path(BEFORE))
            panes["pulse-tui before"] = tmux.new("pulse-before", [*before_argv, "--env-file", str(env_file)],
                                                 {**(pm2.env if pm2 else {}), **before_env})
        if pm2:
            panes["pulse-tui"] = tmux.new("pulse", pulse_argv, pm2.env)
            panes["pm2 monit"] = tmux.new("monit", [pm2.bin, "monit"], pm2.env)
            no_pm2 = {"PATH": os.environ.get("PATH", ""), "PM2_HOME": str(pm2.home)}
            panes["pulse-tui, no pm2 on PATH"] = tmux.new("pulse-nopm2", pulse_argv, no_pm2)
        else:
            panes["pulse-tui"] = tmux.new("pulse", pulse_argv)
        panes["bare Textual app"] = tmux.new("bare", [sys.executable, str(BARE)])
        time.sleep(SETTLE_S)
        for name, pid in panes.items():
            if not psutil.pid_exists(pid):
                raise RuntimeError(f"{name} exited early")
        daemon = daemon_pid(pm2.home) if pm2 else None
        peak = dict.fromkeys(panes, 0)
        first, first_daemon, first_wall = _measure(panes, daemon, peak)  # the minute after start-up
        steady, steady_daemon, wall = _measure(panes, daemon, peak)  # the minute after that: what idle costs
        hwm = vm_hwm(panes["pulse-tui"]) or 0
        hwm_before = vm_hwm(panes["pulse-tui before"]) or 0 if BEFORE else 0
        screen = tmux.capture("pulse")
        sizes = [Path(p).stat().st_size if Path(p).exists() else 0 for p in logs]
    finally:
        stop.set()
        if tmux:
            for session, pid in _sessions(panes).items():
                tmux.quit(session, pid, keys=("C-c",) if session == "monit" else ("q",))
        close_started(tmux, pm2, world)
        shutil.rmtree(tmp, ignore_errors=True)

    pct = {n: cpu / wall * 100 for n, cpu in steady.items()}
    first_pct = {n: cpu / first_wall * 100 for n, cpu in first.items()}
    mib = {n: v / 2**20 for n, v in peak.items()}
    shown = sum(1 for sid in world.ids if sid in screen)
    print(f"idle CPU benchmark: {SESSIONS} sessions on the gateway, 3 s poll, {APPS} logs at "
          f"{1000 / LINE_EVERY_MS:.1f} lines/s each ({'apps under ' + why if pm2 else 'no pm2: ' + why}), "
          f"settle {SETTLE_S:g} s, then a first minute ({first_wall:.1f} s) and a steady one ({wall:.1f} s), "
          f"all at once in tmux "
          f"(took {time.perf_counter() - started:.1f} s; load average {load_average()})")
    for n in panes:
        print(f"  {n:<27}: {pct[n]:5.2f} % of one core ({steady[n]:.2f} CPU s; first minute {first_pct[n]:.2f} %), "
              f"peak RSS {mib[n]:.1f} MiB")
    if pm2:
        print(f"  pm2 daemon (serves both)   : {steady_daemon / wall * 100:5.2f} % of one core (first minute "
              f"{first_daemon / first_wall * 100:.2f} %), counted in neither")
    if BEFORE:
        print(f"  pulse-tui before ({BEFORE}) VmHWM {hwm_before / 2**20:.1f} MiB")
    print(f"  pulse-tui VmHWM {hwm / 2**20:.1f} MiB; {shown} session ids on its screen; log bytes written "
          f"{sum(sizes)}")
    for label, share in (("first minute", first_pct), ("steady minute", pct)):
        p = share["pulse-tui"]
        if pm2:
            ratio = p / share["pm2 monit"] if share["pm2 monit"] > 0 else float("inf")
            print(f"  {label}: ratio pulse-tui/pm2 monit {ratio:.2f}x   (target <= {RATIO_TARGET}x: "
                  f"{'PASS' if ratio <= RATIO_TARGET else 'MISS'})")
        else:
            print(f"  {label}: ratio pulse-tui/pm2 monit not measured ({why})")
        print(f"  {label}: pulse-tui absolute {p:.2f} % of one core   (target < {PCT_TARGET:g} %: "
              f"{'PASS' if p < PCT_TARGET else 'MISS'})")
    rss = max(mib["pulse-tui"], hwm / 2**20)
    monit = f"{mib['pm2 monit']:.1f} MiB" if "pm2 monit" in mib else "not measured"
    print(f"  pulse-tui peak RSS: {rss:.1f} MiB   (baseline pm2 monit {monit}, bare "
          f"Textual {mib['bare Textual app']:.1f} MiB; target < {RSS_TARGET_MIB:g} MiB: "
          f"{'PASS' if rss < RSS_TARGET_MIB else 'MISS'})")
    return 0


def _measure(panes: dict[str, int], daemon: int | None, peak: dict[str, int]) -> tuple[dict[str, float], float, float]:
    """CPU seconds of each pane's tree and of pm2's daemon over MEASURE_S, and the wall seconds; RSS into `peak`."""
    before = {n: tree_cpu_s(p) for n, p in panes.items()}
    daemon_before = tree_cpu_s(daemon) if daemon else 0.0
    t0 = time.monotonic()
    while time.monotonic() - t0 < MEASURE_S:
        for n, p in panes.items():
            peak[n] = max(peak[n], tree_rss(p))
        time.sleep(0.5)
    cpu = {n: tree_cpu_s(p) - before[n] for n, p in panes.items()}
    daemon_cpu = tree_cpu_s(daemon) - daemon_before if daemon else 0.0
    return cpu, daemon_cpu, time.monotonic() - t0


def _sessions(panes: dict[str, int]) -> dict[str, int]:
    """tmux session name of each pane started."""
    names = {"pulse-tui": "pulse", "pm2 monit": "monit", "pulse-tui, no pm2 on PATH": "pulse-nopm2",
             "bare Textual app": "bare", "pulse-tui before": "pulse-before"}
    return {names[n]: pid for n, pid in panes.items()}


if __name__ == "__main__":
    raise SystemExit(main())
