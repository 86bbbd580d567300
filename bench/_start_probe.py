"""Where pulse-tui's start-up goes, without moving it: `python _start_probe.py [tui args…]` in place of the
console script writes one JSON line per event to $PULSE_PROBE_OUT (seconds since $PULSE_PROBE_T0). Unlike
bench/_probe.py it imports nothing ahead of the app: modules are stamped as they are imported (an audit hook)
and the monitor's methods are wrapped once the connect has imported them. `--timeline [RUNS]` runs it in
tmux against a one-session world and prints the median run's timeline (imports, gc collections, phases);
`--memory` runs it 20 s against 100 sessions and prints VmHWM and the loaded modules by package.
$PULSE_PROBE_TREE=DIR runs pulse_tui from DIR (a `git archive` of another commit) for before/after figures.
Not a benchmark (`make bench` skips `_*.py`).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _marks import mark, wrap  # noqa: E402

WATCHED = ("textual", "httpx", "redis", "anyio", "httpcore", "psutil", "cryptography", "email",
           "importlib.metadata", "pulse_tui.monitor.build", "pulse_tui.monitor.service", "pulse_tui.tui.app",
           "pulse_tui.sources.redis_store", "pulse_tui.doctor.checks", "ssl", "certifi", "h11")

_STACK_OF = os.environ.get("PULSE_PROBE_STACK")  # a module name: who imports it first, as a stack in the output


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event == "import" and args[0] in WATCHED and args[0] not in sys.modules:
        mark(f"import {args[0]}", time.time())
        if args[0] == _STACK_OF:
            import traceback

            mark("stack: " + " <- ".join(f"{f.filename.split('/')[-1]}:{f.lineno}"
                                         for f in reversed(traceback.extract_stack()[:-2])), time.time())


def dump_modules(path: str, after_s: float) -> None:
    """After `after_s`: VmHWM, VmRSS and every loaded module's name, to `path`."""
    def dump() -> None:
        lines = Path("/proc/self/status").read_text().splitlines()
        status = dict(line.split(":", 1) for line in lines if ":" in line)
        with open(path, "w") as fh:
            json.dump({"threads": threading.active_count(), "hwm": status["VmHWM"].strip(), "rss": status["VmRSS"].strip(),
                       "modules": sorted(sys.modules)}, fh)

    timer = threading.Timer(after_s, dump)
    timer.daemon = True
    timer.start()


_GC: dict[int, float] = {}


def _gc_timer(phase: str, info: dict[str, int]) -> None:
    """Each collection as an event (generation, objects collected), so start-up GC time shows on the timeline."""
    if phase == "start":
        _GC[threading.get_ident()] = time.time()
    elif (began := _GC.pop(threading.get_ident(), None)) is not None:
        mark(f"gc gen{info['generation']}", began, time.time())


def use_tree(tree: str) -> None:
    """Run pulse_tui from another source tree (a `git archive` of another commit): before/after comparisons."""
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__]
    sys.path.insert(0, tree)


def main() -> int:
    mark("probe started (interpreter up)", time.time())
    if os.environ.get("PULSE_PROBE_TREE"):
        use_tree(os.environ["PULSE_PROBE_TREE"])
    import gc

    gc.callbacks.append(_gc_timer)
    spec = os.environ.get("PULSE_PROBE_MODULES")
    if spec:
        path, seconds = spec.rsplit(":", 1)
        dump_modules(path, float(seconds))
    sys.addaudithook(_hook)
    s = time.time()
    import pulse_tui.tui.run as run_mod

    mark("import pulse_tui.tui.run", s, time.time())
    connector = run_mod.connector

    def timed_connector(*a: Any, **k: Any) -> Any:
        connect = connector(*a, **k)

        def timed_connect() -> Any:
            s = time.time()
            try:
                return connect()
            finally:
                mark("connect (the gateway's sources built)", s, time.time())
                import pulse_tui.monitor.service as service
                import pulse_tui.sources.gateway.base as base

                for attr in ("poll", "_poll_gateway", "_poll_redis", "_scan_host"):
                    wrap(service.Monitor, attr, f"Monitor.{attr}")
                wrap(base.HttpCaller, "request", "HttpCaller.request")

        return timed_connect

    run_mod.connector = timed_connector  # type: ignore[assignment]
    import pulse_tui.tui.app as app_mod

    wrap(app_mod.PulseApp, "start", "PulseApp.start (main screen mounted)")
    wrap(app_mod.PulseApp, "apply", "PulseApp.apply")
    import pulse_tui.cli as cli

    return int(cli.main(sys.argv[1:]))


def timeline(runs: int = 5) -> int:
    """Spawn the probe in tmux against a one-session world `runs` times; print the median run's events."""
    import statistics
    import tempfile

    from _world import Tmux, load_average, start_world
    from first_sessions import MAIN_SCREEN, measure, row_pattern

    tmp = Path(tempfile.mkdtemp(prefix="pulse-start-probe-"))
    world = start_world(1)
    tmux = Tmux("startprobe")
    results: list[tuple[float, float, list[dict[str, Any]]]] = []
    try:
        env_file = world.env_file("pulse.env")
        row = row_pattern(world.ids[0])
        for i in range(runs + 1):
            out = tmp / f"p{i}.jsonl"
            seen, screen_at, _cpu = measure(tmux, f"p{i}", [sys.executable, __file__, "--env-file", str(env_file)],
                                            row, MAIN_SCREEN, {"PULSE_PROBE_T0": repr(time.time()),
                                                               "PULSE_PROBE_OUT": str(out)})
            if i:
                results.append((seen, screen_at or seen,
                                [json.loads(x) for x in out.read_text().splitlines()]))
    finally:
        tmux.close()
        world.close()
        shutil.rmtree(tmp, ignore_errors=True)
    results.sort(key=lambda r: r[0])
    seen, screen_at, events = results[len(results) // 2]
    print(f"row at median {statistics.median(r[0] for r in results):.3f} s "
          f"[{', '.join(f'{r[0]:.2f}' for r in results)}]; load average {load_average()}")
    for e in sorted(events, key=lambda e: float(e["start"])):
        print(f"  {e['start']:6.3f} -> {e['end']:6.3f} ({e['end'] - e['start']:6.3f}) {e['modules']:4d} mods "
              f"{e['thread'][:18]:<18} {e['name']}")
    print(f"  {screen_at:6.3f} main screen on the terminal\n  {seen:6.3f} session row on the terminal")
    return 0


def memory(sessions: int = 100, after_s: float = 20.0) -> int:
    """Run the probe in tmux against a world of `sessions` for `after_s`; print VmHWM and the module census."""
    import tempfile
    from collections import Counter

    from _world import Tmux, load_average, start_world

    tmp = Path(tempfile.mkdtemp(prefix="pulse-start-mem-"))
    world = start_world(sessions)
    tmux = Tmux("startmem")
    out = tmp / "modules.json"
    try:
        env_file = world.env_file("pulse.env")
        pid = tmux.new("m", [sys.executable, __file__, "--env-file", str(env_file)],
                       {"PULSE_PROBE_MODULES": f"{out}:{after_s}",
                        **{k: v for k, v in os.environ.items() if k.startswith(("MALLOC_", "PULSE_PROBE_TREE"))}})
        deadline = time.time() + after_s + 30
        while not out.exists() and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(0.2)
        tmux.quit("m", pid)
    finally:
        tmux.close()
        world.close()
    data = json.loads(out.read_text())
    shutil.rmtree(tmp, ignore_errors=True)
    tops = Counter(m.split(".")[0] for m in data["modules"])
    print(f"after {after_s:.0f} s with {sessions} sessions: VmHWM {data['hwm']}, VmRSS {data['rss']}, "
          f"{len(data['modules'])} modules, {data['threads']} threads; load average {load_average()}")
    print("  " + ", ".join(f"{k} {v}" for k, v in tops.most_common(25)))
    if os.environ.get("PULSE_PROBE_CENSUS"):
        Path(os.environ["PULSE_PROBE_CENSUS"]).write_text("\n".join(data["modules"]))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--memory"]:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        raise SystemExit(memory())
    if sys.argv[1:2] == ["--timeline"]:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        raise SystemExit(timeline(int(sys.argv[2]) if len(sys.argv) > 2 else 5))
    raise SystemExit(main())
