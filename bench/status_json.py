"""Benchmark `pulse-tui status --json` over 10,000 Pulse sessions, against the same command over an empty Redis
and against a floor script, all measured in the same run.

Run: .venv/bin/python bench/status_json.py [N]   (not a test; loopback only; removes every process and temp dir)

Two redis-servers: one with N sessions (seed_bulk: ~400-byte encrypted JSON values with their index keys, all
opening with the configured key), one empty. Both commands see the same Salesboy gateway simulator (one
connected session) and its log, through an env file, as an operator runs them; only REDIS_URL differs. The
floor (bench/_floor_status.py) is what a plain script must do to get the same facts about the values: import
redis-py + hiredis and cryptography, derive the one key (PBKDF2), SCAN, MGET pipelines of 1,000, AESGCM-decrypt
each value. Each is a new process timed from spawn to exit (the installed console script, as cron runs it);
pulse_tui is byte-compiled first; one unmeasured run of each, then RUNS interleaved runs; medians.
Targets: full / empty <= 2.0x, full / floor <= 1.2x.

Before/after in one run: `STATUS_JSON_BEFORE=DIR` (a tree holding an older `pulse_tui/`, e.g. from
`git archive REV pulse_tui | tar -x -C DIR`) adds that code's full and empty runs, interleaved with the others
(`python -m pulse_tui` with PYTHONPATH=DIR, from a directory without a pulse_tui of its own), and the same two runs
of this checkout started the same way, which the before/after figures compare.
"""

from __future__ import annotations

import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _world import PULSE_TUI, load_average, start_world

from pulse_tui.demo import DEMO_HASH_SALT, DEMO_KEY, DEMO_SALT
from pulse_tui.sim.redis_server import RedisServer
from pulse_tui.sim.seeder import seed_bulk

N = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
RUNS = 5
EMPTY_TARGET = 2.0
FLOOR_TARGET = 1.2
FLOOR = Path(__file__).with_name("_floor_status.py")
BEFORE = os.environ.get("STATUS_JSON_BEFORE")


def timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    """Seconds from spawn to exit, and stdout; exit 0 or 1 (healthy or not) are both answers."""
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL, cwd=tempfile.gettempdir())
    seconds = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{argv[1]} exited {proc.returncode}: {proc.stderr.strip()[-1000:]}")
    return seconds, proc.stdout


def main() -> int:
    started = time.perf_counter()
    compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "pulse_tui"), quiet=1)
    world = start_world(1, seed=False)  # its Redis stays empty
    full = RedisServer().start()
    try:
        seed_bulk(full.url, N, DEMO_KEY, DEMO_SALT, DEMO_HASH_SALT)
        cases = {
            "full": [str(PULSE_TUI), "--env-file", str(world.env_file("full.env", REDIS_URL=full.url)),
                     "status", "--json"],
            "empty": [str(PULSE_TUI), "--env-file", str(world.env_file("empty.env")), "status", "--json"],
            "floor": [sys.executable, str(FLOOR), full.url],
        }
        if BEFORE:
            compileall.compile_dir(str(Path(BEFORE) / "pulse_tui"), quiet=1)
            # Both sides the same way (`python -m`, PYTHONPATH): the console script and `-m` differ by 10-30 %.
            for kind in ("full", "empty"):
                cases[f"{kind}@before"] = [sys.executable, "-m", "pulse_tui", *cases[kind][1:]]
                cases[f"{kind}@now"] = [sys.executable, "-m", "pulse_tui", *cases[kind][1:]]
        floor_env = {"ENCRYPTION_KEY": DEMO_KEY, "ENCRYPTION_SALT": DEMO_SALT}
        paths = {"before": BEFORE, "now": str(Path(__file__).resolve().parents[1])}
        envs = {kind: floor_env if kind == "floor" else {"PYTHONPATH": paths[kind.split("@")[1]]} if "@" in kind
                else None for kind in cases}
        times: dict[str, list[float]] = {k: [] for k in cases}
        outputs: dict[str, str] = {}
        for kind, argv in cases.items():
            outputs[kind] = timed(argv, envs[kind])[1]  # warm-up, unmeasured
        for _ in range(RUNS):
            for kind, argv in cases.items():
                times[kind].append(timed(argv, envs[kind])[0])
    finally:
        full.close()
        world.close()

    got = json.loads(outputs["full"])
    users = len(got.get("user_sessions") or [])
    empty_users = len(json.loads(outputs["empty"]).get("user_sessions") or [])
    opened = json.loads(outputs["floor"])["opened"]
    if users != N or opened != N or empty_users != 0:
        raise RuntimeError(f"wrong answers: status saw {users} user sessions (empty: {empty_users}), "
                           f"the floor opened {opened}; expected {N}")
    med = {k: statistics.median(v) for k, v in times.items()}

    def runs(kind: str) -> str:
        return ", ".join(f"{x:.2f}" for x in times[kind])

    print(f"status --json benchmark: {N} Pulse sessions vs an empty Redis vs a floor script, {RUNS} interleaved "
          f"runs each (+1 warm-up), each a new process, spawn to exit (took {time.perf_counter() - started:.1f} s; load average {load_average()})")
    print(f"  pulse-tui status --json, {N} sessions: median {med['full']:.3f} s [{runs('full')}]; "
          f"{users} user sessions in the JSON")
    print(f"  baseline status --json, empty Redis  : median {med['empty']:.3f} s [{runs('empty')}]")
    print(f"  baseline floor (redis-py+hiredis MGET x1000 + AESGCM): median {med['floor']:.3f} s "
          f"[{runs('floor')}]; {opened} values opened")
    if BEFORE:
        for kind in ("full", "empty"):
            print(f"  python -m, {kind:5s}: before ({BEFORE}) median {med[kind + '@before']:.3f} s "
                  f"[{runs(kind + '@before')}], now {med[kind + '@now']:.3f} s [{runs(kind + '@now')}]; "
                  f"now / before {med[kind + '@now'] / med[kind + '@before']:.2f}x")
        for side in ("before", "now"):
            print(f"  python -m, {side}: full/empty {med['full@' + side] / med['empty@' + side]:.2f}x, "
                  f"full/floor {med['full@' + side] / med['floor']:.2f}x")
    r_empty, r_floor = med["full"] / med["empty"], med["full"] / med["floor"]
    print(f"  ratio full/empty: {r_empty:.2f}x   (target <= {EMPTY_TARGET}x: "
          f"{'PASS' if r_empty <= EMPTY_TARGET else 'MISS'})")
    print(f"  ratio full/floor: {r_floor:.2f}x   (target <= {FLOOR_TARGET}x: "
          f"{'PASS' if r_floor <= FLOOR_TARGET else 'MISS'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
