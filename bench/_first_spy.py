"""Where the CPU to the first frame showing the sessions goes: the real `pulse-tui` (as bench/first_sessions.py
runs it) under `py-spy record` until its session row shows, RUNS times, samples merged; then the top frames by
own and inclusive samples, split by thread. `python bench/_first_spy.py [RUNS] [RAW_OUT]`. Needs py-spy at
$PY_SPY (default /work/main/.venv/bin/py-spy). Not a benchmark (`make bench` skips `_*.py`)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import psutil
from _profile import spy_top, wait_for
from _world import PULSE_TUI, Tmux, load_average, start_world
from first_sessions import row_pattern

PY_SPY = os.environ.get("PY_SPY", "/work/main/.venv/bin/py-spy")


def main(runs: int = 3, out: str | None = None) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="pulse-first-spy-"))
    world = start_world(1)
    tmux = Tmux("firstspy")
    merged = Path(out) if out else tmp / "merged.raw"
    lines: list[str] = []
    at: list[float] = []
    try:
        env_file = world.env_file("pulse.env")
        row = row_pattern(world.ids[0])
        for i in range(runs):
            raw = tmp / f"r{i}.raw"
            t0 = time.time()
            pid = tmux.new(f"s{i}", [PY_SPY, "record", "-r", "250", "--threads", "--format", "raw", "-o",
                                     str(raw), "--", str(PULSE_TUI), "--env-file", str(env_file)])
            spied = psutil.Process(pid)
            while not spied.children():
                time.sleep(0.002)
            child = spied.children()[0]
            at.append(wait_for(tmux, f"s{i}", row) - t0)
            # Killed at the row, so no sample falls after it (py-spy writes its output once its program is gone).
            child.kill()
            tmux.quit(f"s{i}", pid, timeout_s=20)
            lines += raw.read_text().splitlines()
    finally:
        tmux.close()
        world.close()
    try:
        merged.write_text("\n".join(lines) + "\n")
        print(f"{runs} runs under py-spy, row at {', '.join(f'{a:.2f}' for a in at)} s; load {load_average()}")
        print(spy_top(merged, top=40))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # the merged samples stay where `out` says, if given
    return 0


if __name__ == "__main__":
    raise SystemExit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3, sys.argv[2] if len(sys.argv) > 2 else None))
