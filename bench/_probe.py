"""`pulse-tui` with a stopwatch on its start-up phases, for bench/_profile.py: run as `python _probe.py ARGS…`
in place of the console script. Production code is not changed: a few functions are wrapped at run time, and
each call is written to $PULSE_PROBE_OUT as a JSON line (name, thread, start, end: seconds since
$PULSE_PROBE_T0, the parent's wall clock just before the spawn). With $PULSE_PROBE_TRACEMALLOC=FILE:SECONDS,
tracemalloc runs from the first line and its top allocations are written to FILE after SECONDS.
Not a benchmark (`make bench` skips `_*.py`)."""

from __future__ import annotations

import os

if os.environ.get("PULSE_PROBE_TRACEMALLOC"):
    import tracemalloc

    tracemalloc.start(1)  # one frame: deeper tracebacks slow the app ~10x

import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _marks import mark, wrap  # noqa: E402


def package(filename: str) -> str:
    """The distribution a source file belongs to: 'textual', 'pulse_tui', or 'stdlib <module>'."""
    if "/site-packages/" in filename:
        return filename.split("/site-packages/")[1].split("/")[0]
    if "/pulse_tui/" in filename:
        return "pulse_tui"
    tail = filename.split("/python3.11/")[-1]
    return "stdlib " + tail.split("/")[0].removesuffix(".py")


def dump_tracemalloc(path: str, after_s: float) -> None:
    """After `after_s`, the top allocations by line, by file and by package, with the traced total."""
    import tracemalloc

    def dump() -> None:
        snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        current, peak = tracemalloc.get_traced_memory()
        rss = hwm = 0
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
        packages: dict[str, int] = {}
        sites: dict[str, list[int]] = {}
        for stat in snap.statistics("lineno"):
            frame = stat.traceback[0]
            if frame.filename.startswith("<frozen importlib"):
                key = site = "code objects of imported modules (unmarshalled by importlib)"
            else:
                key, site = package(frame.filename), f"{frame.filename}:{frame.lineno}"
            packages[key] = packages.get(key, 0) + stat.size
            agg = sites.setdefault(site, [0, 0])
            agg[0] += stat.size
            agg[1] += stat.count
        modules: dict[str, int] = {}
        for name in list(sys.modules):
            top = name.split(".")[0]
            modules[top] = modules.get(top, 0) + 1
        out = {"modules_total": len(sys.modules),
               "modules": sorted(modules.items(), key=lambda kv: -kv[1])[:15], "traced": current, "traced_peak": peak, "rss": rss, "hwm": hwm,
               "packages": sorted(packages.items(), key=lambda kv: -kv[1])[:15],
               "lines": sorted(((k, v[0], v[1]) for k, v in sites.items()), key=lambda x: -x[1])[:20]}
        with open(path, "w") as fh:
            json.dump(out, fh)

    timer = threading.Timer(after_s, dump)
    timer.daemon = True
    timer.start()


def switch_off(parts: str) -> None:
    """For ablation runs: turn one part off to see what it costs (`tick`, `procs`, `logs`, `pm2`)."""
    import pulse_tui.sources.pm2 as pm2
    import pulse_tui.sources.procs as procs
    import pulse_tui.tui.app as app_mod

    for part in filter(None, parts.split(",")):
        if part == "tick":  # the 1 s tick that ages the time columns
            app_mod.PulseApp._tick = lambda self: None  # type: ignore[method-assign]
        elif part == "procs":  # the host process scan: an empty process table
            procs.ProcessMapper._read_table = lambda self: []  # type: ignore[method-assign]
        elif part == "logs":  # the log follower and the log pane's new lines
            app_mod.PulseApp._follow_logs = lambda self: None  # type: ignore[method-assign]
        elif part == "pm2":  # pm2 as absent
            pm2.Pm2Reader.available = property(lambda self: False)  # type: ignore[method-assign]
        else:
            raise SystemExit(f"_probe.py: PULSE_PROBE_OFF: unknown part {part!r}")


def main() -> int:
    mark("probe started (interpreter up)", time.time())
    spec = os.environ.get("PULSE_PROBE_TRACEMALLOC")
    if spec:
        path, seconds = spec.rsplit(":", 1)
        dump_tracemalloc(path, float(seconds))
    s = time.time()
    import pulse_tui.cli as cli

    mark("import pulse_tui.cli", s, time.time())
    tui = not {"status", "doctor", "keys"} & set(sys.argv[1:])  # those commands never import textual
    if tui:
        s = time.time()
        import pulse_tui.tui.app as app_mod
        import pulse_tui.tui.run as run_mod

        mark("import pulse_tui.tui (textual)", s, time.time())
    s = time.time()
    import pulse_tui.crypto.pulse as crypto
    import pulse_tui.doctor.checks as checks
    import pulse_tui.monitor.build as build
    import pulse_tui.monitor.service as service
    import pulse_tui.sources.redis_store as redis_store

    mark("import monitor + sources (the app does it in its connect thread)", s, time.time())
    wrap(crypto, "derive_key", "PBKDF2 derive_key")
    wrap(build, "build_targets")
    wrap(checks, "findings_for")
    wrap(service.Monitor, "poll")
    wrap(service.Monitor, "_poll_gateway")
    wrap(service.Monitor, "_poll_redis")
    wrap(service.Monitor, "_scan_host")
    wrap(redis_store.RedisInspector, "inspect")
    wrap(redis_store, "build_sessions")
    wrap(redis_store.RedisInspector, "_collect", "RedisInspector._collect (SCAN + MGET/TTL pipelines)")
    import pulse_tui.status_json as status_json

    wrap(status_json, "snapshot_to_json")
    if not tui:
        return int(cli.main(sys.argv[1:]))
    wrap(app_mod.PulseApp, "start", "PulseApp.start (main screen mounted)")
    wrap(app_mod.PulseApp, "apply", "PulseApp.apply (snapshot to widgets)")
    connector: Callable[..., Any] = run_mod.connector

    def timed_connector(*a: Any, **k: Any) -> Any:
        connect = connector(*a, **k)

        def timed_connect() -> Any:
            s = time.time()
            try:
                return connect()
            finally:
                mark("connect (sources built, thread)", s, time.time())

        return timed_connect

    run_mod.connector = timed_connector  # type: ignore[assignment]
    switch_off(os.environ.get("PULSE_PROBE_OFF", ""))
    return int(cli.main(sys.argv[1:]))


if __name__ == "__main__":
    raise SystemExit(main())
