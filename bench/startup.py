"""Benchmark cold start: a new interpreter to the first fully painted frame, demo app vs a minimal Textual app.

Run: .venv/bin/python bench/startup.py   (not a test; loopback only; removes every process and temp dir)

The demo world (embedded Redis, gateway simulator, log writers) is environment, not the app: it is started
once in the parent, before any clock runs. Each measured start is a fresh `python bench/startup.py --child
KIND` process, given the wall time of its spawn and (for the demo app) the world's settings as the same
variables an env file holds, from which the child builds its Config with `config_from_values`. The demo child
builds the app exactly as `pulse-tui demo` does (`connect=connector(…)`: the screen is painted first, the
sources are built in a thread after it) and runs it headless (150x40). Two figures from spawn:
- first frame: the refresh after the main screen mounted (header, both tabs, details, log pane, footer all
  painted; the header says it is waiting for the first poll). This is the figure the target is on: the
  minimal app (Header + DataTable with 8 rows + Footer) stops its clock after the refresh that follows its
  `on_mount` in the same way.
- first snapshot painted: the refresh after the first polled snapshot was shown (`PulseApp.apply`), reported
  beside it.
Both include interpreter start-up and imports. pulse_tui is byte-compiled first, as pip compiles what it
installs. One unmeasured start of each warms the page cache; then RUNS alternated starts, median taken. Peak RSS
is the child's `ru_maxrss` at the snapshot frame. Targets: first frame demo/minimal <= 1.5x, peak RSS < 80 MiB.
"""

from __future__ import annotations

import compileall
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

from _demo_child import VARIABLES, app_css_path, child_config, variables, watched

RUNS = 5
SIZE = (150, 40)
RATIO_TARGET = 1.5
RSS_TARGET_MIB = 80.0
SPAWNED = "PULSE_BENCH_SPAWNED"


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
    """The demo app as `pulse-tui demo` builds it: its first frame, then the frame after its first snapshot."""
    from pulse_tui.model import Snapshot
    from pulse_tui.monitor.build import Targets, build_log_follower  # demo.follower loads the simulator
    from pulse_tui.sources.logs.recent import RecentLines
    from pulse_tui.tui.app import PulseApp
    from pulse_tui.tui.run import connector, run_frozen

    imported = time.time()
    config = child_config()
    recent = RecentLines()
    connect = connector(config, recent, freeze=True)  # as run_app builds it
    polled: list[Snapshot] = []
    result: dict[str, float] = {}

    def timed_connect() -> Targets:
        started = time.time()
        conn = connect()
        result["connect_s"] = time.time() - started
        return conn

    class Timed(PulseApp):
        CSS_PATH = app_css_path()

        def start(self) -> None:
            result["mounted_s"] = time.time() - spawned
            super().start()
            self.call_after_refresh(self._first_frame)

        def _first_frame(self) -> None:
            result.update({f"first_{k}": v for k, v in _report(spawned, imported).items()})

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
            self.exit(0)  # the app closes HTTP and Redis on its own loop as it unmounts

    app = Timed(config, connect=watched(timed_connect, polled.append), logs=build_log_follower(config),
                recent=recent)
    run_frozen(app, headless=True, size=SIZE)  # as `pulse-tui demo` runs it
    assert "frame_s" in result, "the demo app exited before its first snapshot was painted"
    return result


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
    # As installed by pip (which byte-compiles what it installs): an editable checkout under
    # PYTHONDONTWRITEBYTECODE would otherwise compile pulse_tui from source in every child.
    compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "pulse_tui"), quiet=1)
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

    minimal = med("minimal", "frame_s")
    first, data = med("demo", "first_frame_s"), med("demo", "frame_s")
    ratio, data_ratio = first / minimal, data / minimal
    rss = med("demo", "rss_mib")
    print(f"startup benchmark: {RUNS} cold starts each (+1 warm-up), headless {SIZE[0]}x{SIZE[1]}, "
          f"demo world started beforehand in the parent (took {time.perf_counter() - started:.1f} s)")

    def frames(kind: str, key: str) -> str:
        return ", ".join(f"{r[key]:.2f}" for r in runs[kind])

    print(f"  minimal first frame: median {minimal:.3f} s [{frames('minimal', 'frame_s')}]; interpreter + imports "
          f"{med('minimal', 'imports_s'):.3f} s; peak RSS {med('minimal', 'rss_mib'):.1f} MiB")
    print(f"  demo    first frame: median {first:.3f} s [{frames('demo', 'first_frame_s')}]; interpreter + imports "
          f"{med('demo', 'imports_s'):.3f} s; main screen mounted {med('demo', 'mounted_s'):.3f} s")
    print(f"  demo    first snapshot painted: median {data:.3f} s [{frames('demo', 'frame_s')}]; sources built in "
          f"{med('demo', 'connect_s'):.3f} s (thread), first poll {med('demo', 'poll_s'):.3f} s, "
          f"{int(runs['demo'][0].get('sessions', 0))} sessions; peak RSS {rss:.1f} MiB")
    print(f"  ratio demo/minimal, first frame: {ratio:.2f}   (target <= {RATIO_TARGET}: "
          f"{'PASS' if ratio <= RATIO_TARGET else 'MISS'})")
    print(f"  ratio demo/minimal, first snapshot painted: {data_ratio:.2f}   (reported, no target)")
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
