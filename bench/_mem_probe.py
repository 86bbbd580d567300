"""Where the running TUI's memory goes (issue 15, target 4): `python bench/_mem_probe.py [--tree DIR]… [options]`
starts pulse-tui once per source tree (default: this checkout), side by side in one tmux server on one world of
--sessions linked sessions and 4 logs, and after --seconds prints for each: VmHWM, VmRSS (anonymous/file),
threads, VmRSS over time (sampled every 0.1 s: when the high-water mark was set), pymalloc's totals, the largest
mappings (smaps) and the loaded modules by package.
- `--tree DIR[@K=V,…]` (repeatable): a checkout or a `git worktree add --detach` of another commit (its
  pulse_tui is imported, not this one's; compiled first, as an installed package is), with its own variables;
  `--env K=V` goes to every tree (MALLOC_ARENA_MAX=1); `--drop VAR` leaves VAR out of the env file (REDIS_URL…:
  a gateway-only host); `--pm2`: the logs are written by apps under a real pm2, on PATH.
- `--who MOD,MOD`: the import stack that first loaded each (`--who '*'`: every module's, to FILE.<n>.json).
- `--trim`: glibc's arenas (malloc_info) and VmRSS around malloc_trim(0) (ctypes, loaded for it, adds ~2 MiB).
- `--burst LINES --rate N`: half way through, LINES log lines at N lines/s (a long run's log window and caches).
- `--caches`: at the dump, every widget's Textual render caches, textual's and rich's lru_caches, the live Strips,
  then what a collection frees (it unfreezes the TUI's gc: for the last dump only, not with --twice).
- `--tracemalloc FRAMES [--twice]`: tracemalloc snapshot(s) to FILE.<n>.tm (`--modules FILE`) to diff.
Not a benchmark (`make bench` skips `_*.py`); loopback only; removes what it starts.
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# The TUI's launcher: the console script's two lines, plus signal handlers that dump what this probe reads.
# Kept to `os`, `signal` and `sys` (already loaded by the interpreter) so the figures are the console script's.
CHILD = r"""
import os, signal, sys
tree, out, who = sys.argv[1], sys.argv[2], [m for m in sys.argv[3].split(",") if m]
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__]
sys.path.insert(0, tree)
stacks = {}
if who:
    def hook(event, args):
        if event == "import" and args[0] not in sys.modules and args[0] not in stacks and (
                args[0] in who or who == ["*"]):
            f, chain = sys._getframe(1), []
            while f is not None:
                name = f.f_code.co_filename
                if "importlib._bootstrap" not in name:
                    chain.append(f"{name.split('site-packages/')[-1].split('/lib/python3.11/')[-1]}:{f.f_lineno}")
                f = f.f_back
            stacks[args[0]] = chain
    sys.addaudithook(hook)
def status():
    return dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines() if ":" in l)
def dump(*_):
    import json
    st = status()
    if os.environ.get("PULSE_MEM_CACHES"):
        try:
            census(out + ".caches")  # before the file the probe waits for
        except Exception:
            import traceback
            open(out + ".caches", "w").write(traceback.format_exc())
    with open(out + ".tmp", "w") as fh:
        json.dump({"status": {k: st[k].strip() for k in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "Threads")},
                   "modules": sorted(sys.modules), "stacks": stacks,
                   "pulse_tui": sys.modules["pulse_tui"].__file__}, fh)
    os.replace(out + ".tmp", out)
    fd, saved = os.open(out + ".pymalloc", os.O_WRONLY | os.O_CREAT | os.O_TRUNC), os.dup(2)
    os.dup2(fd, 2)  # _debugmallocstats writes to C stderr, the pane
    try:
        sys._debugmallocstats()
    finally:
        os.dup2(saved, 2); os.close(fd); os.close(saved)
    if os.environ.get("PYTHONTRACEMALLOC"):
        import tracemalloc
        tracemalloc.take_snapshot().dump(out + ".tm.tmp")  # read by --tracemalloc
        os.replace(out + ".tm.tmp", out + ".tm")
def census(path):
    # Every widget's Textual caches, the lru_caches of textual and rich, and the live Strips: what grows at run
    # time. Sizes are sys.getsizeof summed over what each cache alone reaches (objects seen once, in this order).
    import gc
    from textual.cache import FIFOCache, LRUCache
    from textual.strip import Strip
    from textual.widget import Widget
    seen, rows = set(), []
    def deep(obj):
        total, stack = 0, [obj]
        while stack:
            o = stack.pop()
            if id(o) in seen or isinstance(o, (type, Widget)) or type(o).__name__ in ("function", "module"):
                continue
            seen.add(id(o))
            total += sys.getsizeof(o)
            if isinstance(o, dict):
                stack.extend(o.keys()); stack.extend(o.values())
            elif isinstance(o, (list, tuple, set, frozenset)):
                stack.extend(o)
            elif isinstance(o, (LRUCache, FIFOCache)):
                stack.append(o._cache)
            elif hasattr(o, "__slots__") or hasattr(o, "__dict__"):
                for cls in type(o).__mro__:
                    for name in getattr(cls, "__slots__", ()):
                        v = getattr(o, name, None)
                        if v is not None:
                            stack.append(v)
                if hasattr(o, "__dict__"):
                    stack.append(o.__dict__)
        return total
    gc.unfreeze()  # the TUI freezes what it loaded and built (tui/run.py): get_objects() skips frozen objects
    objs = gc.get_objects()
    for w in [o for o in objs if isinstance(o, Widget)]:
        for name, val in vars(w).items():
            if isinstance(val, (LRUCache, FIFOCache)) and len(val):
                rows.append((deep(val), f"{type(w).__name__}#{w.id}.{name}", len(val), getattr(val, "maxsize", None) or val._maxsize))
    for f in objs:
        info = getattr(f, "cache_info", None)
        mod = getattr(f, "__module__", "") or ""
        if callable(info) and mod.split(".")[0] in ("textual", "rich", "pulse_tui"):
            try:
                ci = info()
            except TypeError:
                continue
            if ci.currsize > 50:
                rows.append((0, f"lru {mod}.{getattr(f, '__qualname__', '?')}", ci.currsize, ci.maxsize))
    strips = [o for o in objs if isinstance(o, Strip)]
    rows.append((sum(sys.getsizeof(s) for s in strips), "live Strip objects (shallow)", len(strips), 0))
    rows.sort(reverse=True)
    del objs, strips
    before = status()["VmRSS"].strip()
    found = gc.collect()  # cycles left unreachable since the freezes, now collectable
    rows.append((0, f"gc.collect() after unfreeze: {found} unreachable; VmRSS {before} -> "
                    f"{status()['VmRSS'].strip()}", 0, 0))
    with open(path, "w") as fh:
        fh.write("\n".join(f"{b / 2**20:7.2f} MiB {n} len {l} max {m}" for b, n, l, m in rows) + "\n")
def trim(*_):
    import ctypes
    before = status()["VmRSS"].strip()
    libc = ctypes.CDLL("libc.so.6")
    libc.fopen.restype = ctypes.c_void_p
    fp = libc.fopen((out + ".malloc").encode(), b"w")
    libc.malloc_info(0, ctypes.c_void_p(fp))
    libc.fclose(ctypes.c_void_p(fp))
    libc.malloc_trim(0)
    with open(out + ".trim", "w") as fh:
        fh.write(f"{before} -> {status()['VmRSS'].strip()}")
signal.signal(signal.SIGUSR1, dump)
signal.signal(signal.SIGUSR2, trim)
sys.argv = ["pulse-tui", *sys.argv[4:]]
from pulse_tui.cli import main
sys.exit(main())
"""


def kib(text: str) -> float:
    """'12345 kB' -> MiB."""
    return int(text.split()[0]) / 1024


def smaps(pid: int, top: int) -> list[tuple[int, int, str]]:
    """(Rss KiB, Anonymous KiB, mapping) of the largest mappings, summed by file name ([anon] for none)."""
    agg: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    cur = "[anon]"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        parts = line.split()
        if "-" in parts[0] and not parts[0].endswith(":"):
            cur = parts[5] if len(parts) > 5 else "[anon]"
        elif parts[0] == "Rss:":
            agg[cur][0] += int(parts[1])
        elif parts[0] == "Anonymous:":
            agg[cur][1] += int(parts[1])
    rows = sorted(((v[0], v[1], k.rsplit("/", 1)[-1]) for k, v in agg.items()), reverse=True)
    return rows[:top]


def _pymalloc_summary(text: str) -> str:
    """The totals of sys._debugmallocstats(): arenas mapped vs bytes in live blocks (the rest is slack)."""
    want = ("# arenas allocated current", "# bytes in allocated blocks", "# bytes in available blocks",
            "# bytes lost to pool headers", "# bytes lost to quantization", "# bytes lost to arena alignment")
    found = {}
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() in want:
            found[key.strip().lstrip("# ")] = int(value.strip().replace(",", ""))
    return ", ".join(f"{k} {v / 2**20:.1f} MiB" if "bytes" in k else f"{k} {v}"
                     for k, v in found.items())


def _arenas(xml: str) -> str:
    """Per glibc arena, from malloc_info(): system bytes mapped and bytes free in it (fragmentation)."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(xml)
    rows = []
    for heap in root.findall("heap"):
        total = heap.find("system[@type='current']")
        free = sum(int(e.get("size", 0)) for e in heap.findall("total"))
        mapped = int(total.get("size", 0)) if total is not None else 0
        rows.append(f"#{heap.get('nr')} {mapped / 2**20:.1f}/{free / 2**20:.1f}")
    return ", ".join(rows)


def sampler(pids: dict[str, int], stop: threading.Event, out: dict[str, list[tuple[float, float]]]) -> None:
    """VmRSS of each TUI every 0.1 s, from its start: where the high-water mark was set."""
    t0 = time.monotonic()
    while not stop.wait(0.1):
        for name, pid in pids.items():
            try:
                text = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            rss = next(line for line in text.splitlines() if line.startswith("VmRSS:"))
            out[name].append((time.monotonic() - t0, kib(rss.split(":", 1)[1])))


def burst(logs: list[str], lines: int, rate: float) -> None:
    """`lines` lines shaped like the idle bench's writers', spread over the logs, at `rate` lines/s (4 writes a
    second: the log pane caches every row it paints, so slow arrivals fill its caches as a long run does)."""
    chunk = max(len(logs), int(rate / 4))
    for start in range(0, lines, chunk):
        for i, path in enumerate(logs, 1):
            with open(path, "a", encoding="utf-8") as fh:
                fh.writelines(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} INFO [app-{i}] handled message {n} from "
                              f"18765551234@c.us in {n % 997} ms\n"
                              for n in range(start + i - 1, min(start + chunk, lines), len(logs)))
        time.sleep(0.25)


def main() -> int:
    sys.path.insert(0, str(HERE))
    from _world import Tmux, close_started, load_average, pm2_binary, start_world
    from idle_cpu import Pm2, python_writers

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tree", action="append", help="source tree to run, DIR[@K=V,…] (repeatable; default: here)")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--sessions", type=int, default=100)
    ap.add_argument("--pm2", action="store_true", help="logs written by apps under a real pm2, pm2 on PATH")
    ap.add_argument("--env", action="append", default=[], metavar="K=V")
    ap.add_argument("--who", default="", metavar="MOD,MOD")
    ap.add_argument("--drop", action="append", default=[], metavar="VAR",
                    help="leave VAR out of the env file (REDIS_URL: a gateway-only host)")
    ap.add_argument("--trim", action="store_true")
    ap.add_argument("--caches", action="store_true",
                    help="the widgets' render caches, textual's and rich's lru_caches, live Strips (sizes)")
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--burst", type=int, default=0, metavar="LINES",
                    help="half way through SECONDS, append LINES lines across the logs (a long run's log window)")
    ap.add_argument("--rate", type=float, default=2000.0, help="--burst's lines per second")
    ap.add_argument("--modules", type=Path, help="write each tree's module list to FILE.<n>")
    ap.add_argument("--twice", action="store_true",
                    help="with --tracemalloc: a first snapshot half way too (FILE.<n>.half.tm), to diff what grows")
    ap.add_argument("--tracemalloc", type=int, metavar="FRAMES",
                    help="trace allocations (PYTHONTRACEMALLOC); the snapshot goes to FILE.<n>.tm (--modules)")
    opts = ap.parse_args()
    specs = [t.partition("@") for t in (opts.tree or [str(HERE.parent)])]
    trees = [f"{Path(d).resolve()}{'@' + e if e else ''}" for d, _, e in specs]
    tree_env = [dict(kv.split("=", 1) for kv in e.split(",") if kv) for _, _, e in specs]
    env = dict(e.split("=", 1) for e in opts.env)
    if opts.caches:
        env["PULSE_MEM_CACHES"] = "1"
    if opts.tracemalloc:
        env["PYTHONTRACEMALLOC"] = str(opts.tracemalloc)
    tmp = Path(tempfile.mkdtemp(prefix="pulse-mem-probe-"))
    stop = threading.Event()
    pm2 = None
    world = None
    tmux = None
    pids: dict[str, int] = {}
    timeline: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)
    results: dict[str, dict[str, Any]] = {}
    try:
        if opts.pm2:
            binary, why = pm2_binary()
            if binary is None:
                raise RuntimeError(why)
            pm2 = Pm2(binary)
            logs = pm2.start()
            env.update(pm2.env)
        else:
            logs = python_writers(tmp, stop)
        world = start_world(opts.sessions, logs)
        for var in opts.drop:
            world.variables.pop(var, None)
        env_file = world.env_file("pulse.env", PULSE_TUI_PM2_APP=pm2.names[0] if pm2 else "bench-app-1")
        tmux = Tmux("memprobe")
        watch = threading.Thread(target=sampler, args=(pids, stop, timeline), daemon=True)
        watch.start()
        for tree in trees:
            # Each tree's own bytecode, as an installed package has it: with PYTHONDONTWRITEBYTECODE (set on this
            # machine) a tree without __pycache__ compiles every module at every start (+2 MiB VmHWM measured).
            subprocess.run([sys.executable, "-m", "compileall", "-q", f"{tree.split('@')[0]}/pulse_tui"],
                           check=True, capture_output=True, timeout=120)
        for i, tree in enumerate(trees):
            name = f"t{i}"
            pids[name] = tmux.new(name, [sys.executable, "-c", CHILD, tree.split("@")[0], str(tmp / name),
                                         opts.who, "--env-file", str(env_file)], {**env, **tree_env[i]})
        if opts.twice and opts.tracemalloc:
            time.sleep(opts.seconds / 2)
            import os
            import signal

            for pid in pids.values():
                os.kill(pid, signal.SIGUSR1)
            for i, name in enumerate(pids):
                wait_for = time.monotonic() + 120
                while time.monotonic() < wait_for and not (tmp / f"{name}.tm").exists():
                    time.sleep(0.5)
                os.replace(tmp / f"{name}.tm", f"{opts.modules or '/tmp/mem-probe'}.{i}.half.tm")
                (tmp / name).unlink()
            time.sleep(opts.seconds / 2)
        elif opts.burst:
            time.sleep(opts.seconds / 2)
            burst(logs, opts.burst, opts.rate)
            time.sleep(opts.seconds / 2)
        else:
            time.sleep(opts.seconds)
        import os
        import signal

        for pid in pids.values():
            os.kill(pid, signal.SIGUSR1)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all((tmp / n).exists() for n in pids):
            time.sleep(0.2)
        for i, (name, pid) in enumerate(pids.items()):
            if opts.tracemalloc:
                while time.monotonic() < deadline and not (tmp / f"{name}.tm").exists():
                    time.sleep(0.5)
                shutil.copy(tmp / f"{name}.tm", f"{opts.modules or '/tmp/mem-probe'}.{i}.tm")
            data = json.loads((tmp / name).read_text())
            data["pymalloc"] = _pymalloc_summary((tmp / f"{name}.pymalloc").read_text())
            data["smaps"] = smaps(pid, opts.top)
            data["screen"] = sum(1 for sid in world.ids if sid in tmux.capture(name))
            if opts.caches:
                data["caches"] = (tmp / f"{name}.caches").read_text()
            results[name] = data
        if opts.trim:
            for pid in pids.values():
                os.kill(pid, signal.SIGUSR2)
            time.sleep(1.0)
            for name in pids:
                results[name]["trim"] = (tmp / f"{name}.trim").read_text()
                results[name]["arenas"] = _arenas((tmp / f"{name}.malloc").read_text())
    finally:
        stop.set()
        if tmux:
            for name, pid in pids.items():
                tmux.quit(name, pid)
        close_started(tmux, pm2, world)
    print(f"memory probe: {opts.sessions} sessions, {'pm2 apps' if pm2 else 'python-written logs'}, after "
          f"{opts.seconds:g} s, env {env if opts.env else '-'}; load average {load_average()}")
    for i, (name, data) in enumerate(results.items()):
        st = data["status"]
        series = timeline[name]
        peak_t, peak = max(series, key=lambda s: s[1]) if series else (0.0, 0.0)
        at = {s: next((r for t, r in series if t >= s), 0.0) for s in (1, 2, 5, 10, 30, 60)}
        print(f"\n[{trees[i]}] pulse_tui from {data['pulse_tui']}; {data['screen']} session ids on screen")
        print(f"  VmHWM {kib(st['VmHWM']):.1f} MiB, VmRSS {kib(st['VmRSS']):.1f} (anon {kib(st['RssAnon']):.1f}, "
              f"file {kib(st['RssFile']):.1f}), threads {st['Threads']}, modules {len(data['modules'])}")
        print(f"  sampled peak {peak:.1f} MiB at {peak_t:.1f} s; at 1/2/5/10/30/60 s: "
              + " / ".join(f"{v:.1f}" for v in at.values()))
        print(f"  pymalloc: {data['pymalloc']}")
        if "trim" in data:
            print(f"  glibc arenas before the trim (MiB mapped/free): {data['arenas']}")
            print(f"  malloc_trim(0): VmRSS {data['trim']}")
        if "caches" in data:
            print("  caches (deep size, alone):\n    " + "\n    ".join(
                line for line in data["caches"].splitlines() if not line.startswith("   0.00 MiB ")
                or " lru " in line or "gc.collect" in line or "Traceback" in line))
        print("  smaps (Rss KiB, anon KiB): " + "; ".join(f"{r} {a} {m}" for r, a, m in data["smaps"]))
        tops = collections.Counter(m.split(".")[0] for m in data["modules"])
        print("  modules: " + ", ".join(f"{k} {v}" for k, v in tops.most_common(30)))
        for mod, chain in data["stacks"].items() if i == 0 and opts.who != "*" else ():
            print(f"  who imports {mod}: " + " <- ".join(chain[:14]))
        if opts.modules:
            Path(f"{opts.modules}.{i}").write_text("\n".join(data["modules"]) + "\n")
            Path(f"{opts.modules}.{i}.json").write_text(json.dumps(data["stacks"]))
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
