"""CPU of one idle poll in-process (the TUI's monitor, doctor hook and sources, no screen), checkouts side by side.

Run: .venv/bin/python bench/_poll_cpu.py [ROOT ...]   (not part of `make bench`; loopback only). One world (100
sessions on the Salesboy simulator, Redis seeded as the demo seeds it); each ROOT (default: this checkout) runs in
its own process with PYTHONPATH=ROOT, interleaved ROOT1, ROOT2, ROOT1 ... ($POLL_REPEATS rounds), and polls
$POLL_N times, $POLL_EVERY_S apart, after 3 warm-up polls. Printed: process CPU per poll (every thread, the waits
between polls included) and the main thread's CPU inside `Engine.poll`, each round and the median per ROOT.
$POLL_PROF=DIR writes a cProfile of each ROOT's last round there (`<DIR>/poll-<i>.prof`).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPEATS = int(os.environ.get("POLL_REPEATS", "3"))
POLLS = int(os.environ.get("POLL_N", "40"))
EVERY_S = float(os.environ.get("POLL_EVERY_S", "0.25"))


async def child(env_file: Path, polls: int, every_s: float, prof: str | None) -> None:
    """In the child process: build the targets as the TUI does and time its polls."""
    from pulse_tui.config import load_config
    from pulse_tui.monitor.build import build_targets
    from pulse_tui.sources.logs.recent import RecentLines
    from pulse_tui.tui.run import LateChecks, doctor_checks

    config = load_config(env_files=[env_file])
    checks = LateChecks()
    targets = build_targets(config, findings=checks, defer_slow=True)
    checks.hook = doctor_checks(config, RecentLines(), targets)
    assert targets.complete is not None
    targets.complete()
    for _ in range(3):
        await targets.engine.poll()
        await asyncio.sleep(every_s)
    profiler = None
    if prof:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    c0, busy = time.process_time(), 0.0
    for _ in range(polls):
        b0 = time.thread_time()
        await targets.engine.poll()
        busy += time.thread_time() - b0
        await asyncio.sleep(every_s)
    total = time.process_time() - c0
    if profiler is not None and prof:
        profiler.disable()
        profiler.dump_stats(prof)
    await targets.aclose()
    print(f"{total / polls * 1000:.3f} {busy / polls * 1000:.3f}")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        asyncio.run(child(Path(sys.argv[2]), POLLS, EVERY_S, os.environ.get("POLL_PROF_FILE")))
        return 0
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _world import load_average, start_world

    roots = [str(Path(r).resolve()) for r in sys.argv[1:]] or [str(Path(__file__).resolve().parent.parent)]
    prof_dir = os.environ.get("POLL_PROF")
    world = start_world(100)
    results: dict[str, list[tuple[float, float]]] = {r: [] for r in roots}
    try:
        env_file = world.env_file("pulse.env")
        for rnd in range(REPEATS):
            for i, root in enumerate(roots):
                state = tempfile.mkdtemp(prefix="pulse-poll-cpu-")  # each run its own budget ledger
                env = {**os.environ, "PYTHONPATH": root, "XDG_STATE_HOME": state}
                if prof_dir and rnd == REPEATS - 1:
                    env["POLL_PROF_FILE"] = str(Path(prof_dir) / f"poll-{i}.prof")
                out = subprocess.run([sys.executable, __file__, "--child", str(env_file)], env=env,
                                     capture_output=True, text=True, check=False, timeout=600)
                if out.returncode != 0:
                    print(f"{root}: failed\n{out.stderr[-2000:]}")
                    return 1
                total, busy = (float(x) for x in out.stdout.split())
                results[root].append((total, busy))
                print(f"  round {rnd + 1} {root}: {total:.2f} ms CPU a poll, {busy:.2f} ms in poll()", flush=True)
    finally:
        world.close()
    print(f"poll CPU: 100 sessions, {POLLS} polls {EVERY_S:g} s apart, {REPEATS} rounds; load {load_average()}")
    for root, runs in results.items():
        print(f"  {root}: median {statistics.median(t for t, _ in runs):.2f} ms CPU a poll, "
              f"{statistics.median(b for _, b in runs):.2f} ms in poll()")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
