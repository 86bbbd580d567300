"""Benchmark what an operator waits for: from typing `pulse-tui` to the frame that shows their sessions.

Run: .venv/bin/python bench/first_sessions.py   (not a test; loopback only; removes every process, tmux
session and temp dir it starts)

The world (a Redis seeded as the demo seeds it, a Salesboy gateway simulator holding ONE linked, connected
session) is started first and is not measured. Each measured start is the real `pulse-tui` console script from
.venv/bin with `--env-file` naming that world, in a real terminal: a new 150x40 session of a private tmux
server, with `capture-pane -p` polled every ~10 ms until a row of the connections table shows the session's
state word followed by its id. The baseline is a bare Textual app (Header + DataTable + RichLog + Footer,
bench/_bare_app.py) started the same way, until its one row appears. Both clocks run from just before
`tmux new-session`; beside them, the CPU seconds each program had used when its row appeared (from /proc:
far steadier than wall time on a shared machine). pulse_tui is byte-compiled first (as pip does on install);
one unmeasured start of each warms the page cache; then RUNS interleaved starts; medians. Target: pulse-tui /
bare <= 1.5x.

Before/after in one run: `FIRST_SESSIONS_BEFORE=DIR` (a checkout of an older commit) adds that code's starts,
interleaved with the others: DIR/.venv/bin/pulse-tui when DIR has its own venv, else `python -m pulse_tui` with
PYTHONPATH=DIR (from a directory without a pulse_tui of its own).
"""

from __future__ import annotations

import compileall
import os
import re
import statistics
import sys
import time
from pathlib import Path

from _bare_app import MARKER
from _world import PULSE_TUI, Tmux, load_average, start_world

from pulse_tui.ui_words import STATE_WORDS

RUNS = 7
POLL_S = 0.01
TIMEOUT_S = 30.0
TARGET = 1.5
BARE = Path(__file__).with_name("_bare_app.py")
BEFORE = os.environ.get("FIRST_SESSIONS_BEFORE")
MAIN_SCREEN = "1 Connections"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")  # the tab strip: pulse-tui's main screen is painted, sessions or not


def row_pattern(session_id: str) -> re.Pattern[str]:
    """A connections-table row: a state word, then the session id (log lines name the id before any state)."""
    words = "|".join(re.escape(w) for w in STATE_WORDS.values())
    return re.compile(rf"(?:{words})\s+{re.escape(session_id)}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def measure(tmux: Tmux, name: str, argv: list[str], done: re.Pattern[str],
            early: str | None = None, env: dict[str, str] | None = None) -> tuple[float, float | None, float]:
    """Seconds from `new-session` to the capture matching `done` (and to the first one containing `early`), and
    the CPU seconds the program had used by then."""
    t0 = time.perf_counter()
    pid = tmux.new(name, argv, env)
    seen_early: float | None = None
    try:
        while True:
            screen = tmux.capture(name)
            now = time.perf_counter() - t0
            if early is not None and seen_early is None and early in screen:
                seen_early = now
            if done.search(screen):
                return now, seen_early, cpu_seconds(pid)
            if now > TIMEOUT_S or tmux.dead(name):
                raise RuntimeError(f"{name}: no match after {now:.1f} s; the pane shows:\n{screen[-1500:]}")
            time.sleep(POLL_S)
    finally:
        tmux.quit(name, pid)


def before_command(tree: Path) -> tuple[list[str], dict[str, str]]:
    """How to start the older checkout's pulse-tui: its own console script, else its tree on PYTHONPATH."""
    script = tree / ".venv" / "bin" / "pulse-tui"
    if script.exists():
        return [str(script)], {}
    return [sys.executable, "-m", "pulse_tui"], {"PYTHONPATH": str(tree)}


def main(runs: int = RUNS) -> int:
    started = time.perf_counter()
    compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "pulse_tui"), quiet=1)
    world = start_world(1)
    tmux = Tmux("first")
    bare: list[float] = []
    bare_cpu: list[float] = []
    kinds = ["now", "before"] if BEFORE else ["now"]
    pulse: dict[str, list[float]] = {k: [] for k in kinds}
    screen: dict[str, list[float]] = {k: [] for k in kinds}
    pulse_cpu: dict[str, list[float]] = {k: [] for k in kinds}
    try:
        env = world.env_file("pulse.env")
        commands: dict[str, tuple[list[str], dict[str, str]]] = {"now": ([str(PULSE_TUI)], {})}
        if BEFORE:
            compileall.compile_dir(str(Path(BEFORE) / "pulse_tui"), quiet=1)
            commands["before"] = before_command(Path(BEFORE))
        bare_argv = [sys.executable, str(BARE)]
        row = row_pattern(world.ids[0])
        marker = re.compile(re.escape(MARKER))
        measure(tmux, "warm-bare", bare_argv, marker)
        for kind, (argv, extra) in commands.items():
            measure(tmux, f"warm-{kind}", [*argv, "--env-file", str(env)], row, env=extra)
        for i in range(runs):
            t, _, cpu = measure(tmux, f"bare-{i}", bare_argv, marker)
            bare.append(t)
            bare_cpu.append(cpu)
            for kind, (argv, extra) in commands.items():
                t, early, cpu = measure(tmux, f"{kind}-{i}", [*argv, "--env-file", str(env)], row, MAIN_SCREEN,
                                        env=extra)
                pulse[kind].append(t)
                screen[kind].append(early if early is not None else t)
                pulse_cpu[kind].append(cpu)
    finally:
        tmux.close()
        world.close()

    b, bc = statistics.median(bare), statistics.median(bare_cpu)

    def fmt(xs: list[float]) -> str:
        return ", ".join(f"{x:.2f}" for x in xs)

    print(f"first frame showing the sessions: {runs} interleaved starts each (+1 warm-up), tmux "
          f"150x40, capture-pane every {POLL_S * 1000:.0f} ms, gateway with 1 session + seeded Redis "
          f"(took {time.perf_counter() - started:.1f} s; load average {load_average()})")
    print(f"  baseline bare Textual app (Header+DataTable+RichLog+Footer), its row on screen: median {b:.3f} s "
          f"[{fmt(bare)}]")
    for kind in reversed(kinds):
        label = "pulse-tui" if kind == "now" else f"before ({BEFORE})"
        p, s = statistics.median(pulse[kind]), statistics.median(screen[kind])
        pc = statistics.median(pulse_cpu[kind])
        print(f"  {label} main screen painted (tab strip, no sessions yet): median {s:.3f} s [{fmt(screen[kind])}] "
              f"= {s / b:.2f}x bare")
        print(f"  {label} session row with its state: median {p:.3f} s [{fmt(pulse[kind])}] = {p / b:.2f}x bare")
        # CPU seconds move far less with the machine's load than wall seconds: a change's effect shows in them first.
        print(f"  {label} CPU used by then (user+system, all threads): bare median {bc:.2f} s, {pc:.2f} s "
              f"= {pc / bc:.2f}x (reported, no target)")
    ratio = statistics.median(pulse["now"]) / b
    print(f"  ratio pulse-tui/bare: {ratio:.2f}x   (target <= {TARGET}x: {'PASS' if ratio <= TARGET else 'MISS'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(int(sys.argv[1]) if len(sys.argv) > 1 else RUNS))
