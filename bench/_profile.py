"""Where pulse-tui's start-up time, idle CPU and memory go: the figures behind bench/PROFILE.md.

Run: .venv/bin/python bench/_profile.py [startup|status|idle|ablation|all]   (not part of `make bench`; needs py-spy in .venv:
`.venv/bin/pip install py-spy`; loopback only; removes every process, tmux session, pm2 daemon and temp dir)

- startup: the real pulse-tui in tmux over a gateway with one session, as bench/first_sessions.py runs it, but
  through bench/_probe.py (start-up phases stamped), RUNS times: the timeline of the median run; then one run
  under `py-spy record` (CPU samples of every thread, to the session row and quit); then `-X importtime`.
- idle: pulse-tui over 100 sessions and 4 pm2 apps, as bench/idle_cpu.py runs it: `py-spy record --pid` for
  SAMPLE_S after SETTLE_S, the CPU split between pulse-tui and the children it spawned; beside it a second
  pulse-tui through _probe.py with tracemalloc on, whose top allocations are dumped after TRACE_AFTER_S, and
  the first one's RSS split (anonymous vs file-backed) from /proc/PID/smaps_rollup.
"""

from __future__ import annotations

import compileall
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import psutil
from _world import BIN, PULSE_TUI, Tmux, close_started, pm2_binary, start_world, tree_cpu_s, vm_hwm
from first_sessions import MAIN_SCREEN, measure, row_pattern
from idle_cpu import SESSIONS, Pm2

PROBE = Path(__file__).with_name("_probe.py")
PY_SPY = BIN / "py-spy"
RUNS = 5
SETTLE_S = 15.0
SAMPLE_S = 40
TRACE_AFTER_S = 40.0
TOP = 12
# Leaf frames of a thread that waits (py-spy's idle detection misses these): counted apart, not as CPU.
WAITING = {"threading.py:Condition.wait", "threading.py:Event.wait", "selectors.py:SelectSelector.select",
           "selectors.py:EpollSelector.select", "concurrent/futures/thread.py:_worker", "queue.py:Queue.get",
           "selectors.py:PollSelector.select"}
# Frames on nearly every stack (the event loop, the app's run, callbacks): left out of the inclusive list.
PLUMBING = ("asyncio/", "threading.py", "textual/_callback.py", "textual/message_pump.py", "pulse-tui:",
            "pulse_tui/cli.py", "pulse_tui/tui/run.py", "concurrent/", "<frozen importlib", "textual/app.py:App.run",
            "textual/timer.py", "_probe.py", "textual/worker.py")


def wait_for(tmux: Tmux, name: str, pattern: re.Pattern[str], timeout_s: float = 60.0) -> float:
    t0 = time.time()
    while time.time() - t0 < timeout_s:
        if pattern.search(tmux.capture(name)):
            return time.time()
        if tmux.dead(name):
            break
        time.sleep(0.01)
    raise RuntimeError(f"{name}: no session row; the pane shows:\n{tmux.capture(name)[-1500:]}")


def frame_name(frame: str) -> str:
    """'func (path/file.py:12)' → 'file.py:func' with the path shortened to the package."""
    m = re.match(r"(.*) \((.*?)(?::\d+)?\)$", frame)
    if not m:
        return frame
    func, path = m.groups()
    for anchor in ("site-packages/", "pulse_tui/", "lib/python3"):
        if anchor in path:
            path = (anchor if anchor == "pulse_tui/" else "") + path.split(anchor, 1)[1]
            break
    return f"{path}:{func}"


def short_path(path: str) -> str:
    """A source path with the interpreter's and the venv's prefixes cut."""
    for anchor in ("site-packages/", "/python3.11/"):
        if anchor in path:
            return path.split(anchor, 1)[1]
    return path.split("/wt-bench/", 1)[-1]


def spy_top(raw: Path, top: int = TOP) -> str:
    """Top functions by own samples and by inclusive samples, and samples per thread, from py-spy's raw output."""
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = waiting = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = stack.split(";")
        thread = next((f for f in frames if f.startswith("thread (")), "?")
        frames = [frame_name(f) for f in frames if not f.startswith(("thread (", "process "))]
        if frames and frames[-1] in WAITING:
            waiting += n
            continue
        total += n
        threads[thread] += n
        if frames:
            own[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    if not total:
        return "    (no samples)"
    out = [f"    {total} busy samples ({waiting} more in a waiting leaf frame, left out); per thread: " + ", ".join(f"{t} {n}" for t, n in threads.most_common(6))]
    out.append("    by own samples:")
    out += [f"      {n * 100 / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    out.append("    by inclusive samples (stack contains it; event-loop plumbing left out):")
    out += [f"      {n * 100 / total:5.1f}%  {f}" for f, n in incl.most_common()
            if not f.startswith(PLUMBING)][: top + 8]
    return "\n".join(out)


def startup(tmp: Path) -> None:
    compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "pulse_tui"), quiet=1)
    world = start_world(1)
    tmux = Tmux("prof-start")
    try:
        env_file = world.env_file("pulse.env")
        row = row_pattern(world.ids[0])
        runs: list[tuple[float, float, list[dict[str, object]]]] = []
        for i in range(RUNS + 1):
            out = tmp / f"probe-{i}.jsonl"
            seen, screen_at, _cpu = measure(tmux, f"p{i}", [sys.executable, str(PROBE), "--env-file", str(env_file)],
                                            row, MAIN_SCREEN, {"PULSE_PROBE_T0": repr(time.time()),
                                                               "PULSE_PROBE_OUT": str(out)})
            if i:  # the first run warms the page cache
                events = [json.loads(x) for x in out.read_text().splitlines()]
                runs.append((seen, screen_at or seen, events))
        runs.sort(key=lambda r: r[0])
        seen, screen_at, events = runs[len(runs) // 2]
        print(f"startup, through _probe.py, {RUNS} runs: session row at median {seen:.3f} s "
              f"[{', '.join(f'{r[0]:.2f}' for r in runs)}]; main screen painted at {screen_at:.3f} s")
        print("  timeline of the median run (seconds since the spawn; thread; duration):")
        for e in sorted(events, key=lambda e: float(e["start"])):  # type: ignore[arg-type]
            s, t = float(e["start"]), float(e["end"])  # type: ignore[arg-type]
            print(f"    {s:6.3f} → {t:6.3f}  ({t - s:6.3f})  {e['thread']:<22} {e['name']}")
        print(f"    {screen_at:6.3f}  main screen on the terminal (capture-pane)")
        print(f"    {seen:6.3f}  session row on the terminal (capture-pane)")
        for name in ("PBKDF2 derive_key", "connect (sources built, thread)", "RedisInspector.inspect",
                     "Monitor._poll_gateway", "Monitor.poll"):
            per_run = [sum(float(e["end"]) - float(e["start"]) for e in r[2] if e["name"] == name)  # type: ignore[arg-type]
                       for r in runs]
            print(f"  median total time in {name}: {statistics.median(per_run):.3f} s")

        if PY_SPY.exists():
            raw = tmp / "startup.raw"
            t0 = time.time()
            pid = tmux.new("spy", [str(PY_SPY), "record", "-r", "200", "--threads", "--format", "raw", "-o",
                                   str(raw), "--", str(PULSE_TUI), "--env-file", str(env_file)])
            at = wait_for(tmux, "spy", row) - t0
            tmux.quit("spy", pid, timeout_s=20)
            print(f"  py-spy record (CPU, every thread, 200 Hz) to the session row ({at:.2f} s under py-spy) "
                  "and quit:")
            print(spy_top(raw))
    finally:
        tmux.close()
        world.close()
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c",
                           "import pulse_tui.cli, pulse_tui.tui.app, pulse_tui.tui.run, pulse_tui.monitor.build, "
                           "pulse_tui.doctor.checks"], capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": ""})
    rows = []
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m:
            rows.append((int(m.group(1)), int(m.group(2)), len(m.group(3)), m.group(4)))
    top_level = sorted((r for r in rows if r[2] <= 1), key=lambda r: -r[1])
    total = sum(r[1] for r in top_level)
    print(f"  -X importtime (warm, pyc): {total / 1e6:.3f} s for the modules the app imports; top-level, cumulative:")
    for _, cum, _, name in top_level[:TOP]:
        print(f"      {cum / 1e6:6.3f} s  {name}")
    print("    by own time:")
    for own_us, _, _, name in sorted(rows, key=lambda r: -r[0])[:TOP]:
        print(f"      {own_us / 1e6:6.3f} s  {name}")


def smaps(pid: int) -> str:
    try:
        fields = {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in
                  Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:])}
    except (OSError, ValueError):
        return "?"
    return ", ".join(f"{k} {fields.get(k, 0) / 1024:.1f}" for k in ("Rss", "Anonymous", "Shared_Clean",
                                                                     "Private_Clean", "Private_Dirty")) + " MiB"


def idle(tmp: Path) -> None:
    pm2_bin, why = pm2_binary()
    pm2 = Pm2(pm2_bin) if pm2_bin else None
    world = tmux = None
    try:
        logs = pm2.start() if pm2 else []
        world = start_world(SESSIONS, logs)
        env_file = world.env_file("pulse.env", PULSE_TUI_PM2_APP=pm2.names[0] if pm2 else "bench-app-1")
        tmux = Tmux("prof-idle")
        pm2_env = pm2.env if pm2 else {}
        pid = tmux.new("pulse", [str(PULSE_TUI), "--env-file", str(env_file)], pm2_env)
        trace = tmp / "tracemalloc.json"
        traced = tmux.new("traced", [sys.executable, str(PROBE), "--env-file", str(env_file)],
                          {**pm2_env, "PULSE_PROBE_TRACEMALLOC": f"{trace}:{TRACE_AFTER_S}"})
        time.sleep(SETTLE_S)
        proc = psutil.Process(pid)
        c0, tree0, w0 = proc.cpu_times(), tree_cpu_s(pid), time.monotonic()
        raw = tmp / "idle.raw"
        spy = None
        if PY_SPY.exists():
            spy = subprocess.run([str(PY_SPY), "record", "--pid", str(pid), "-d", str(SAMPLE_S), "-r", "100",
                                  "--threads", "--format", "raw", "-o", str(raw), "--nonblocking"],
                                 capture_output=True, text=True, timeout=SAMPLE_S + 60, check=False)
        else:
            time.sleep(SAMPLE_S)
        c1, tree1, wall = proc.cpu_times(), tree_cpu_s(pid), time.monotonic() - w0
        own = (c1.user + c1.system - c0.user - c0.system) / wall * 100
        kids = (c1.children_user + c1.children_system - c0.children_user - c0.children_system) / wall * 100
        print(f"idle, {SESSIONS} sessions, 4 logs at 1.4 lines/s, {'apps under ' + why if pm2 else why}; "
              f"over {wall:.1f} s after {SETTLE_S:g} s (py-spy attached, --nonblocking):")
        print(f"  pulse-tui {(tree1 - tree0) / wall * 100:.2f} % of one core: itself {own:.2f} % (user "
              f"{(c1.user - c0.user) / wall * 100:.2f}, system {(c1.system - c0.system) / wall * 100:.2f}), "
              f"children it spawned and reaped {kids:.2f} %; threads now {proc.num_threads()}")
        print(f"  RSS {proc.memory_info().rss / 2**20:.1f} MiB, VmHWM {(vm_hwm(pid) or 0) / 2**20:.1f} MiB; "
              f"smaps_rollup: {smaps(pid)}")
        if spy is not None:
            print("  py-spy record --pid (CPU samples, every thread, 100 Hz):")
            print(spy_top(raw) if raw.exists() else f"    py-spy failed: {spy.stderr.strip()[-300:]}")
        deadline = time.monotonic() + TRACE_AFTER_S + 30
        while not trace.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        if trace.exists():
            time.sleep(0.5)
            t = json.loads(trace.read_text())
            print(f"  tracemalloc (second pulse-tui, tracing since its first line, after {TRACE_AFTER_S:g} s): "
                  f"traced {t['traced'] / 2**20:.1f} MiB (peak {t['traced_peak'] / 2**20:.1f}), its RSS "
                  f"{t['rss'] / 2**20:.1f} MiB (tracing itself adds to it), VmHWM {t['hwm'] / 2**20:.1f} MiB")
            print("    by package:")
            for name, size in t["packages"][:TOP]:
                print(f"      {size / 2**20:6.2f} MiB  {name}")
            print("    by line:")
            for where, size, count in t["lines"][:TOP + 3]:
                print(f"      {size / 2**20:6.2f} MiB  {count:7d} blocks  {short_path(where)}")
            print(f"    modules loaded: {t['modules_total']}; by top-level package: "
                  + ", ".join(f"{name} {n}" for name, n in t["modules"]))
        else:
            print("  tracemalloc: no dump (the traced run did not live long enough)")
        tmux.quit("traced", traced)
        tmux.quit("pulse", pid)
    finally:
        close_started(tmux, pm2, world)


def status(tmp: Path) -> None:
    """`status --json` over 10,000 sessions under py-spy, and the same command's phases through _probe.py."""
    from pulse_tui.demo import DEMO_HASH_SALT, DEMO_KEY, DEMO_SALT
    from pulse_tui.sim.redis_server import RedisServer
    from pulse_tui.sim.seeder import seed_bulk

    world = start_world(1, seed=False)
    full = RedisServer().start()
    try:
        seed_bulk(full.url, 10_000, DEMO_KEY, DEMO_SALT, DEMO_HASH_SALT)
        env_file = world.env_file("full.env", REDIS_URL=full.url)
        out = tmp / "status.jsonl"
        t0 = time.time()
        subprocess.run([sys.executable, str(PROBE), "--env-file", str(env_file), "status", "--json"],
                       env={**os.environ, "PULSE_PROBE_T0": repr(t0), "PULSE_PROBE_OUT": str(out)},
                       capture_output=True, timeout=120, check=False)
        took = time.time() - t0
        events = [json.loads(x) for x in out.read_text().splitlines()]
        derivations = sum(1 for e in events if e["name"] == "PBKDF2 derive_key")
        print(f"status --json, 10,000 sessions, through _probe.py: {took:.2f} s spawn to exit; {derivations} PBKDF2 "
              "derivations; phases:")
        for e in sorted(events, key=lambda e: float(e["start"])):
            if e["name"] != "PBKDF2 derive_key":
                print(f"    {float(e['start']):6.3f} → {float(e['end']):6.3f}  ({float(e['end']) - float(e['start']):6.3f})"
                      f"  {e['thread']:<22} {e['name']}")
        if PY_SPY.exists():
            raw = tmp / "status.raw"
            subprocess.run([str(PY_SPY), "record", "-r", "200", "--threads", "--format", "raw", "-o", str(raw), "--",
                            str(PULSE_TUI), "--env-file", str(env_file), "status", "--json"],
                           capture_output=True, timeout=180, check=False)
            print("  py-spy record (CPU, every thread, 200 Hz), spawn to exit:")
            print(spy_top(raw))
    finally:
        full.close()
        world.close()


def ablation(tmp: Path) -> None:
    """Idle CPU of pulse-tui with one part switched off at a time (through _probe.py), all in the same minute."""
    pm2_bin, why = pm2_binary()
    pm2 = Pm2(pm2_bin) if pm2_bin else None
    world = tmux = None
    variants = {"everything on": "", "no 1 s tick": "tick", "no host process scan": "procs",
                "no log follower": "logs", "no pm2 reader": "pm2", "none of these": "tick,procs,logs,pm2"}
    try:
        logs = pm2.start() if pm2 else []
        world = start_world(SESSIONS, logs)
        env_file = world.env_file("pulse.env", PULSE_TUI_PM2_APP=pm2.names[0] if pm2 else "bench-app-1")
        tmux = Tmux("prof-abl")
        pids = {}
        for i, (label, off) in enumerate(variants.items()):
            pids[label] = tmux.new(f"v{i}", [sys.executable, str(PROBE), "--env-file", str(env_file)],
                                   {**(pm2.env if pm2 else {}), "PULSE_PROBE_OFF": off})
        time.sleep(SETTLE_S)
        before = {k: tree_cpu_s(p) for k, p in pids.items()}
        t0 = time.monotonic()
        time.sleep(SAMPLE_S)
        wall = time.monotonic() - t0
        after = {k: tree_cpu_s(p) for k, p in pids.items()}
        print(f"ablation: {len(variants)} pulse-tui at once over the same world ({SESSIONS} sessions, 4 pm2 logs), "
              f"{wall:.1f} s after {SETTLE_S:g} s:")
        for k in variants:
            print(f"  {k:<22} {(after[k] - before[k]) / wall * 100:5.2f} % of one core")
        for i, p in enumerate(pids.values()):
            tmux.quit(f"v{i}", p)
    finally:
        close_started(tmux, pm2, world)


def main() -> int:
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    tmp = Path(tempfile.mkdtemp(prefix="pulse-bench-profile-"))
    try:
        if what in ("startup", "all"):
            startup(tmp)
        if what in ("status", "all"):
            status(tmp)
        if what in ("idle", "all"):
            idle(tmp)
        if what in ("ablation", "all"):
            ablation(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
