"""Benchmark cold start: a new interpreter to the first fully painted frame, demo app vs a minimal Textual app.

Run: .venv/bin/python bench/startup.py   (not a test; loopback only; removes every process and temp dir)

The demo world (embedded Redis, gateway simulator, log writers) is environment, not the app: it is started
once in the parent, before any clock runs. Each measured start is a fresh `python bench/startup.py --child
KIND` process, given the wall time of its spawn and (for the demo app) the world's settings as the same
variables an env file holds, from which the child builds its Config with `config_from_values`. The child runs
the app headless (150x40) and stops the clock once the screen has refreshed after the main screen rendered the
first polled snapshot (`call_after_refresh` from `PulseApp.apply`); the minimal app (Header + DataTable with
8 rows + Footer) stops it after the refresh that follows its `on_mount`. Both include interpreter start-up
and imports. One unmeasured start of each warms the page cache; then RUNS alternated starts, median taken.
Peak RSS is the child's `ru_maxrss` at that frame. Targets: demo/minimal <= 1.5x, demo peak RSS < 80 MiB.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RUNS = 5
SIZE = (150, 40)
RATIO_TARGET = 1.5
RSS_TARGET_MIB = 80.0
SPAWNED = "PULSE_BENCH_SPAWNED"
VARIABLES = "PULSE_BENCH_VARIABLES"


def _report(spawned: float, imported: float) -> dict[str, float]:
    """What the child prints: seconds from spawn to imports done and to the frame, peak RSS in MiB."""
    now = time.time()
    return {"imports_s": imported - spawned, "frame_s": now - spawned,
            "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def child_minimal(spawned: float) -> dict[str, float]:
    """The baseline: Header + DataTable + Footer, to the frame after on_mount."""
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable, Footer, Header

    imported = time.time()

    class Minimal(App[dict[str, float]]):
        def compose(self) -> ComposeResult:
            yield Header()
            yield DataTable()
            yield Footer()

        def on_mount(self) -> None:
            table = self.query_one(DataTable)
            table.add_columns("STATE", "SESSION", "PHONE", "IN STATE")
            for i in range(8):
                table.add_row("● connected", f"session-{i}", "18765551234", "3m02s")
            self.call_after_refresh(lambda: self.exit(_report(spawned, imported)))

    result = Minimal().run(headless=True, size=SIZE)
    assert result is not None, "the minimal app exited without a frame"
    return result


def child_demo(spawned: float) -> dict[str, float]:
    """The demo app (monitor over the world, log follower) to the frame after its first polled snapshot."""
    from pulse_tui.config import config_from_values
    from pulse_tui.doctor.checks import findings_for
    from pulse_tui.model import Snapshot
    from pulse_tui.monitor.build import build_log_follower, build_targets
    from pulse_tui.tui.app import PulseApp

    imported = time.time()
    config = config_from_values(json.loads(os.environ[VARIABLES]))
    targets = build_targets(config, findings=findings_for(config))
    polled: list[Snapshot] = []
    poll = targets.monitor.poll

    async def first_poll(*, full: bool = False) -> Snapshot:
        snap = await poll(full=full)
        polled.append(snap)
        return snap

    targets.monitor.poll = first_poll  # type: ignore[method-assign]
    result: dict[str, float] = {}

    class Timed(PulseApp):
        CSS_PATH = str(Path(sys.modules[PulseApp.__module__].__file__ or "").with_name(PulseApp.CSS_PATH))

        def start(self) -> None:
            result["mounted_s"] = time.time() - spawned
            super().start()

        def apply(self, snap: Snapshot) -> None:
            if "applied_s" not in result and polled and snap is polled[0]:
                result["polled_s"] = time.time() - spawned
                super().apply(snap)
                result["applied_s"] = time.time() - spawned
                result["poll_s"] = snap.poll_s
                result["sessions"] = len(snap.sessions)
                self.call_after_refresh(self._painted)
            else:
                super().apply(snap)

        def _painted(self) -> None:
            result.update(_report(spawned, imported))
            self.run_worker(self._close())

        async def _close(self) -> None:
            # Close HTTP and Redis on the app's own loop: their connections belong to it.
            await targets.aclose()
            self.exit(0)

    logs = build_log_follower(config)  # as the app and the demo build it
    Timed(config, targets.monitor, targets.gateway, logs=logs).run(headless=True, size=SIZE)
    assert "frame_s" in result, "the demo app exited before its first snapshot was painted"
    return result


def variables(world: Any, audit: Path) -> dict[str, str]:
    """The world's Config as the variables an env file would hold."""
    c = world.config
    return {
        "PULSE_TUI_GATEWAY": c.gateway_kind.value, "PULSE_TUI_GATEWAY_URL": c.gateway_url,
        "API_SECRET_KEY": c.api_key, "PULSE_TUI_AUTH_DIR": ",".join(str(p) for p in c.auth_dirs),
        "REDIS_URL": c.redis_url, "ENCRYPTION_KEY": c.encryption_key, "ENCRYPTION_SALT": c.encryption_salt,
        "HASH_SALT": c.hash_salt, "PULSE_TUI_LOGS": ",".join(c.log_globs),
        "PULSE_TUI_POLL_SECONDS": str(c.poll_seconds), "PULSE_TUI_REQUEST_BUDGET": str(c.request_budget),
        "PULSE_TUI_PM2_APP": c.pm2_app or "", "PULSE_TUI_AUDIT_LOG": str(audit),
    }


def spawn(kind: str, values: dict[str, str]) -> dict[str, float]:
    """One cold start in a new interpreter; the child's figures."""
    env = {**os.environ, VARIABLES: json.dumps(values), SPAWNED: repr(time.time())}
    proc = subprocess.run([sys.executable, __file__, "--child", kind], env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} child failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    from dataclasses import replace

    from pulse_tui.config import config_from_values
    from pulse_tui.demo import start_world

    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="pulse-bench-startup-"))
    world = start_world(drive=False)
    try:
        values = variables(world, tmp / "audit.jsonl")
        assert config_from_values(values) == replace(world.config, audit_log=tmp / "audit.jsonl")
        runs: dict[str, list[dict[str, float]]] = {"minimal": [], "demo": []}
        for kind in runs:
            spawn(kind, values)  # warm the page cache, unmeasured
        for _ in range(RUNS):
            for kind, out in runs.items():
                out.append(spawn(kind, values))
    finally:
        world.close()
        shutil.rmtree(tmp, ignore_errors=True)

    def med(kind: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[kind])

    demo, minimal = med("demo", "frame_s"), med("minimal", "frame_s")
    ratio = demo / minimal
    rss = med("demo", "rss_mib")
    print(f"startup benchmark: {RUNS} cold starts each (+1 warm-up), headless {SIZE[0]}x{SIZE[1]}, "
          f"demo world started beforehand in the parent (took {time.perf_counter() - started:.1f} s)")
    for kind in runs:
        frames = ", ".join(f"{r['frame_s']:.2f}" for r in runs[kind])
        print(f"  {kind:<7} first frame: median {med(kind, 'frame_s'):.3f} s [{frames}]; interpreter + imports "
              f"{med(kind, 'imports_s'):.3f} s; peak RSS {med(kind, 'rss_mib'):.1f} MiB")
    print(f"  demo breakdown (medians, from spawn): main screen mounted {med('demo', 'mounted_s'):.3f} s, first "
          f"poll returned {med('demo', 'polled_s'):.3f} s (the poll itself {med('demo', 'poll_s'):.3f} s), "
          f"snapshot shown {med('demo', 'applied_s'):.3f} s, painted {demo:.3f} s; "
          f"{int(runs['demo'][0].get('sessions', 0))} sessions")
    print(f"  ratio demo/minimal: {ratio:.2f}   (target <= {RATIO_TARGET}: {'PASS' if ratio <= RATIO_TARGET else 'MISS'})")
    print(f"  demo peak RSS: {rss:.1f} MiB   (target < {RSS_TARGET_MIB:.0f} MiB: "
          f"{'PASS' if rss < RSS_TARGET_MIB else 'MISS'})")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        spawned_at = float(os.environ[SPAWNED])
        figures = child_demo(spawned_at) if sys.argv[2] == "demo" else child_minimal(spawned_at)
        print(json.dumps(figures))
        raise SystemExit(0)
    raise SystemExit(main())
