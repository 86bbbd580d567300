"""Idle CPU of several pulse-tui checkouts side by side in the idle_cpu.py world, with py-spy on the first.

Run: .venv/bin/python bench/_idle_spy.py [ROOT ...]   (not part of `make bench`; loopback only; removes what it
starts). Each ROOT is a checkout of pulse-tui run as `python -m pulse_tui` with PYTHONPATH=ROOT (default: this
one), all at once over the same world (100 sessions, 4 pm2 apps logging 1.4 lines/s); the bare Textual app beside
them, and the same logs tailed by a bare Textual app (bench/_bare_tail.py). py-spy (/work/main/.venv/bin/py-spy,
or $PY_SPY) records the first ROOT for the measured window unless IDLE_SPY=0; its top frames are printed with
_profile.spy_top ($IDLE_SPY_RAW=FILE keeps py-spy's raw samples).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _profile import spy_top
from _world import Tmux, close_started, load_average, pm2_binary, start_world, tree_cpu_s
from idle_cpu import BARE, SESSIONS, Pm2

SETTLE_S = float(os.environ.get("IDLE_SETTLE_S", "10"))
MEASURE_S = float(os.environ.get("IDLE_MEASURE_S", "40"))
BARE_TAIL = Path(__file__).with_name("_bare_tail.py")
PY_SPY = os.environ.get("PY_SPY", "/work/main/.venv/bin/py-spy")


def main() -> int:
    roots = [Path(r).resolve() for r in sys.argv[1:]] or [Path(__file__).resolve().parent.parent]
    pm2_bin, why = pm2_binary()
    pm2 = Pm2(pm2_bin) if pm2_bin else None
    world = tmux = None
    tmp = Path(tempfile.mkdtemp(prefix="pulse-idle-spy-"))
    try:
        logs = pm2.start() if pm2 else []
        world = start_world(SESSIONS, logs)
        env_file = world.env_file("pulse.env", PULSE_TUI_PM2_APP=pm2.names[0] if pm2 else "bench-app-1")
        tmux = Tmux("idle-spy")
        panes: dict[str, int] = {}
        for i, root in enumerate(roots):
            env = {**(pm2.env if pm2 else {}), "PYTHONPATH": str(root)}
            panes[f"{i}:{root}"] = tmux.new(f"p{i}", [sys.executable, "-m", "pulse_tui", "--env-file",
                                                      str(env_file)], env)
        panes["bare"] = tmux.new("bare", [sys.executable, str(BARE)])
        if logs:  # the floor of a once-a-second tail of the same logs in Textual (bench/_bare_tail.py)
            panes["bare tail"] = tmux.new("tail", [sys.executable, str(BARE_TAIL), *map(str, logs)])
        time.sleep(SETTLE_S)
        before = {n: tree_cpu_s(p) for n, p in panes.items()}
        t0 = time.monotonic()
        raw = tmp / "spy.raw"
        if os.environ.get("IDLE_SPY", "1") != "0" and Path(PY_SPY).exists():
            subprocess.run([PY_SPY, "record", "--pid", str(next(iter(panes.values()))), "-d", str(int(MEASURE_S)),
                            "-r", os.environ.get("IDLE_SPY_RATE", "100"), "--threads", "--format", "raw", "-o", str(raw), "--nonblocking"],
                           capture_output=True, text=True, timeout=MEASURE_S + 60, check=False)
        else:
            time.sleep(MEASURE_S)
        after = {n: tree_cpu_s(p) for n, p in panes.items()}
        wall = time.monotonic() - t0
        screen = tmux.capture("p0")
        print(f"idle spy: {SESSIONS} sessions, {why}, settle {SETTLE_S:g} s, over {wall:.1f} s; load "
              f"{load_average()}")
        for n in panes:
            print(f"  {n:<40}: {(after[n] - before[n]) / wall * 100:5.2f} % of one core")
        print(f"  {sum(1 for sid in world.ids if sid in screen)} session ids on p0's screen")
        if raw.exists():
            print(spy_top(raw, 25))
            if keep := os.environ.get("IDLE_SPY_RAW"):
                shutil.copy(raw, keep)  # for slicing the samples further than spy_top does
    finally:
        close_started(tmux, pm2, world)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
