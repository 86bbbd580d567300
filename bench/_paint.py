"""What pulse-tui repaints at idle, and what it costs: the figures behind the idle-CPU work of issue 15.

Run: .venv/bin/python bench/_paint.py [--base DIR] [VARIANT…]   (not part of `make bench`; loopback only; about
1.5 minutes; removes every process, tmux session, pm2 daemon and temp dir it starts)

The world of bench/idle_cpu.py (100 sessions, 3 s poll, 4 logs at 1.4 lines/s under a real pm2 when node is
present), and several pulse-tui at once in one tmux server, each through bench/_paint_probe.py, which counts
per widget the rows rendered again and per caller the refresh() calls, over the same SPAN seconds. Variants:
`on` (everything), `notick`, `nologs`, `none` (tick, logs, procs and pm2 off); `--base DIR` adds `base`: the
same probe over the pulse_tui package found in DIR (e.g. `git archive` of the commit before a change), so a
change and its base are measured in the same minute. With $PAINT_PROFILE=DIR each also writes DIR/VARIANT.pstats:
cProfile of its main thread over the same span (read with pstats; it slows what it measures).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import psutil
from _world import Tmux, close_started, load_average, pm2_binary, start_world, tree_cpu_s
from idle_cpu import SESSIONS, Pm2, python_writers

PROBE = Path(__file__).with_name("_paint_probe.py")
START_S = float(os.environ.get("PAINT_START_S", "15"))  # 75: the steady minute, after every time in state steps by minutes
SPAN_S = float(os.environ.get("PAINT_SPAN_S", "40"))
VARIANTS = {"on": "", "notick": "tick", "nologs": "logs", "none": "tick,logs,procs,pm2"}
TOP = 14


def main(argv: list[str]) -> int:
    base = None
    if argv[:1] == ["--base"]:
        base, argv = Path(argv[1]).resolve(), argv[2:]
    chosen = argv or ["on", "notick", "nologs"]
    if base is not None:
        chosen = ["base", *chosen]
    pm2_bin, why = pm2_binary()
    pm2 = Pm2(pm2_bin) if pm2_bin else None
    tmp = Path(tempfile.mkdtemp(prefix="pulse-bench-paint-"))
    world = tmux = None
    import threading

    stop = threading.Event()
    try:
        logs = pm2.start() if pm2 else python_writers(tmp, stop)
        world = start_world(SESSIONS, logs)
        env_file = world.env_file("pulse.env", PULSE_TUI_PM2_APP=pm2.names[0] if pm2 else "bench-app-1")
        tmux = Tmux("paint")
        pids: dict[str, int] = {}
        for i, name in enumerate(chosen):
            env = {**(pm2.env if pm2 else {}), "PULSE_PAINT_OUT": str(tmp / f"{name}.json"),
                   "PULSE_PAINT_START": str(START_S), "PULSE_PAINT_SPAN": str(SPAN_S),
                   "PULSE_PROBE_OFF": VARIANTS.get(name, "")}
            if os.environ.get("PAINT_PROFILE"):
                env["PULSE_PAINT_PROFILE"] = str(Path(os.environ["PAINT_PROFILE"]) / f"{name}.pstats")
            if name == "base":
                env["PYTHONPATH"] = str(base)
            pids[name] = tmux.new(f"v{i}", [sys.executable, str(PROBE), "--env-file", str(env_file)], env)
        time.sleep(START_S)
        before = {k: tree_cpu_s(p) for k, p in pids.items()}
        t0 = time.monotonic()
        time.sleep(SPAN_S + 1)
        wall = time.monotonic() - t0
        after = {k: tree_cpu_s(p) for k, p in pids.items()}
        print(f"paint probe: {SESSIONS} sessions, 4 logs ({'pm2 ' + why if pm2 else why}), {len(chosen)} pulse-tui "
              f"at once, {wall:.1f} s after {START_S:g} s; load average {load_average()}")
        for name in chosen:
            out = tmp / f"{name}.json"
            for _ in range(20):
                if out.exists():
                    break
                time.sleep(0.5)
            pct = (after[name] - before[name]) / wall * 100
            if not out.exists():
                print(f"\n[{name}] {pct:.2f} % of one core; no probe output")
                continue
            d = json.loads(out.read_text())
            span = d["wall"]
            print(f"\n[{name}] {pct:.2f} % of one core (tree); process {d['cpu'] / span * 100:.2f} %; {d['module']}")
            for label, (calls, cpu) in sorted(d["timing"].items(), key=lambda kv: -kv[1][1]):
                print(f"    {calls / span:7.2f}/s  {cpu / span * 100:5.2f} % of a core  {label}")
            print("  content rows rendered again, per widget (per s):")
            for w, n in sorted(d["lines"].items(), key=lambda kv: -kv[1])[:TOP]:
                print(f"    {n / span:8.1f}  ({d['renders'].get(w, 0) / span:5.1f} render calls/s, "
                      f"{d['render_cpu'].get(w, 0) / span * 100:5.2f} % of a core)  {w}")
            print("  other widgets rendered (from their cache), % of a core:")
            print("    " + ", ".join(f"{w} {c / span * 100:.2f}" for w, c in
                                     sorted(d["render_cpu"].items(), key=lambda kv: -kv[1]) if w not in d["lines"]))
            print("  partial frames by crop (per s):")
            for c, n in sorted(d["crops"].items(), key=lambda kv: -kv[1])[:8]:
                print(f"    {n / span:6.2f}  {c}")
            print("  frames per s by what asked for them since the frame before, CPU per frame (ms):")
            for c, (n, cpu) in sorted(d.get("frames", {}).items(), key=lambda kv: -kv[1][1])[:TOP]:
                print(f"    {n / span:6.2f}  {cpu / n * 1000:6.2f} ms  {cpu / span * 100:5.2f} %  {c}")
                parts = d.get("frame_parts", {}).get(c, {})
                print("           per frame: " + ", ".join(
                    f"{w} {cpu_w / n * 1000:.2f} ms/{rows / n:.0f} rows" for w, (rows, cpu_w) in
                    sorted(parts.items(), key=lambda kv: -kv[1][1])[:6]) + f"; all widgets "
                    f"{sum(v[1] for v in parts.values()) / n * 1000:.2f} ms in {len(parts)}")
                if c in d.get("regions", {}):
                    print(f"           dirty (x, y, w, h): {d['regions'][c][:400]}")
            print("  table cells set, per s (column: old -> new):")
            for c, n in sorted(d.get("cells", {}).items(), key=lambda kv: -kv[1])[:TOP]:
                print(f"    {n / span:6.2f}  {c}")
            print("  refresh() calls per s, by widget, kind and caller:")
            for r, n in sorted(d["refreshes"].items(), key=lambda kv: -kv[1])[:TOP]:
                print(f"    {n / span:8.2f}  {r}")
            print(f"  messages dispatched per s ({sum(d.get('messages', {}).values()) / span:.1f} in all), by type and "
                  "receiver:")
            for m, n in sorted(d.get("messages", {}).items(), key=lambda kv: -kv[1])[:TOP]:
                print(f"    {n / span:8.2f}  {m}")
        for i, p in enumerate(pids.values()):
            if psutil.pid_exists(p):
                tmux.quit(f"v{i}", p)
    finally:
        stop.set()
        close_started(tmux, pm2, world)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
