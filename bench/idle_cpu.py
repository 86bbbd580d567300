"""Benchmark idle CPU: the demo app watching 100 sessions on a 3 s poll, left alone for 60 s, vs a minimal app.

Run: .venv/bin/python bench/idle_cpu.py   (not a test; loopback only; about 1.5 minutes; removes every process
and temp dir it starts)

The parent starts the demo world (`start_world(drive=False)`: embedded Redis, gateway simulator, pm2 log
writer) and writes SESSIONS linked `session-<uuid4>` profile dirs under its auth dir before the app starts,
so the app's first poll already sees them (plus the world's own 4). Two children run headless at the same
time, each a fresh `python bench/idle_cpu.py --child KIND`: the demo app, wired as `run_demo` wires it
(connector with the doctor's recent log lines, log follower, run_frozen; Config from the world's settings
passed as env-file variables), and the baseline, a minimal Textual app (Header + DataTable with 8 rows +
Footer). After SETTLE_S the parent reads each child's CPU time with psutil (user + system, plus children's),
again MEASURE_S later: CPU seconds / wall seconds = percent of one core. Each child exits by itself
afterwards. Target: the demo app < 2%.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import IO, Any

import psutil
from _demo_child import VARIABLES, app_css_path, child_config, variables, watched

SESSIONS = 100
# IDLE_SETTLE_S=120 measures the steady state (every session older than its last duration step).
SETTLE_S = float(os.environ.get("IDLE_SETTLE_S", "10"))
MEASURE_S = 60.0
EXIT_AFTER_S = SETTLE_S + MEASURE_S + 5.0  # each child quits by itself once the window has surely passed
SIZE = (150, 40)
TARGET_PCT = 2.0


def child_minimal() -> dict[str, Any]:
    """The baseline: Header + DataTable + Footer, idle until EXIT_AFTER_S."""
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable, Footer, Header

    class Minimal(App[None]):
        def compose(self) -> ComposeResult:
            yield Header()
            yield DataTable()
            yield Footer()

        def on_mount(self) -> None:
            table = self.query_one(DataTable)
            table.add_columns("STATE", "SESSION", "PHONE", "IN STATE")
            for i in range(8):
                table.add_row("● connected", f"session-{i}", "18765551234", "3m02s")
            self.set_timer(EXIT_AFTER_S, self.exit)

    Minimal().run(headless=True, size=SIZE)
    return {}


def child_demo() -> dict[str, Any]:
    """The demo app over the world, polling every 3 s, until EXIT_AFTER_S; how many polls it showed."""
    from pulse_tui.demo import follower
    from pulse_tui.model import Snapshot
    from pulse_tui.sources.logs.recent import RecentLines
    from pulse_tui.tui.app import PulseApp
    from pulse_tui.tui.run import connector, run_frozen

    config = child_config()
    out: dict[str, Any] = {"polls": 0, "sessions": 0}
    recent = RecentLines()

    def count(snap: Snapshot) -> None:
        out["polls"] += 1
        out["sessions"] = len(snap.sessions)
        out["gateway"] = snap.gateway.state.value

    class Idle(PulseApp):
        CSS_PATH = app_css_path()

        def on_mount(self) -> None:
            self.set_timer(EXIT_AFTER_S, lambda: self.exit(0))  # on_unmount closes HTTP and Redis

    # As run_demo builds it: sources made after the first frame.
    app = Idle(config, connect=watched(connector(config, recent), count), logs=follower(config), recent=recent)
    run_frozen(app, headless=True, size=SIZE)
    return out


def cpu_s(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def main() -> int:
    from dataclasses import replace

    from pulse_tui.config import config_from_values
    from pulse_tui.demo import start_world
    from pulse_tui.sim.engine import write_linked_profile

    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="pulse-bench-idle-"))
    world = start_world(drive=False)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    files: list[IO[bytes]] = []
    try:
        root = world.config.auth_dirs[0]
        for _ in range(SESSIONS):
            write_linked_profile(root / f"session-{uuid.uuid4()}")
        values = variables(world, tmp / "audit.jsonl")
        assert config_from_values(values) == replace(world.config, audit_log=tmp / "audit.jsonl")
        env = {**os.environ, VARIABLES: json.dumps(values)}
        for kind in ("demo", "minimal"):
            out, err = open(tmp / f"{kind}.out", "wb"), open(tmp / f"{kind}.err", "wb")  # noqa: SIM115
            files += [out, err]
            procs[kind] = subprocess.Popen([sys.executable, __file__, "--child", kind], env=env,
                                           stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        handles = {k: psutil.Process(p.pid) for k, p in procs.items()}
        time.sleep(SETTLE_S)
        for kind, p in procs.items():
            if p.poll() is not None:
                raise RuntimeError(f"{kind} child exited early: {(tmp / f'{kind}.err').read_text()[-2000:]}")
        before = {k: cpu_s(h) for k, h in handles.items()}
        t0 = time.monotonic()
        time.sleep(MEASURE_S)
        after = {k: cpu_s(h) for k, h in handles.items()}
        wall = time.monotonic() - t0
        rss = {k: h.memory_info().rss / 2**20 for k, h in handles.items()}
        for p in procs.values():
            p.wait(timeout=EXIT_AFTER_S + 20)
        reports = {}
        for kind, p in procs.items():
            if p.returncode != 0:
                raise RuntimeError(f"{kind} child failed ({p.returncode}): "
                                   f"{(tmp / f'{kind}.err').read_text()[-2000:]}")
            lines = (tmp / f"{kind}.out").read_text().strip().splitlines()
            reports[kind] = json.loads(lines[-1]) if lines else {}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
        for f in files:
            f.close()
        world.close()
        shutil.rmtree(tmp, ignore_errors=True)

    pct = {k: (after[k] - before[k]) / wall * 100 for k in procs}
    demo = reports["demo"]
    print(f"idle CPU benchmark: {SESSIONS} extra sessions, {world.config.poll_seconds:g} s poll, settle "
          f"{SETTLE_S:g} s, measured over {wall:.1f} s, both apps at once (took {time.perf_counter() - started:.1f} s)")
    print(f"  demo app : {pct['demo']:5.2f} % of one core ({after['demo'] - before['demo']:.2f} CPU s), RSS "
          f"{rss['demo']:.0f} MiB; {demo.get('polls', 0)} polls in {EXIT_AFTER_S:g} s, last showed "
          f"{demo.get('sessions', 0)} sessions, gateway {demo.get('gateway', '?')}")
    print(f"  baseline minimal Textual app: {pct['minimal']:5.3f} % of one core "
          f"({after['minimal'] - before['minimal']:.2f} CPU s; psutil counts 10 ms ticks), RSS {rss['minimal']:.0f} MiB")
    ratio = f"{pct['demo'] / pct['minimal']:.0f}x" if pct["minimal"] > 0 else "n/a (baseline below one tick)"
    print(f"  ratio demo/minimal: {ratio}; demo minus baseline {pct['demo'] - pct['minimal']:.2f} points")
    print(f"  target demo < {TARGET_PCT:g} % of one core: {'PASS' if pct['demo'] < TARGET_PCT else 'MISS'}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        figures = child_demo() if sys.argv[2] == "demo" else child_minimal()
        print(json.dumps(figures))
        raise SystemExit(0)
    raise SystemExit(main())
