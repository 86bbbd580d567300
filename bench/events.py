"""Benchmark WAHA's event channel end to end: 1,000 sessions on a WAHA-flavoured simulator, 10% of them changing
state per minute; the time from the simulator's event to the connections table's STATE cell, the status requests
spent meanwhile, and the TUI's idle CPU, all in one run.

Run: .venv/bin/python bench/events.py   (not a test; loopback only; about 2 minutes; EVENTS_MEASURE_S=15 for a
quick try; it stops the simulator and the TUI process it starts and removes its temp dir)

How: the simulator (pulse_tui.sim.waha, its /ws websocket) runs in this process and stamps each event it sends
with `time.monotonic()`. The TUI runs in a process of its own (bench/_events_tui.py): the real PulseApp, built
as `pulse-tui --gateway waha` builds it (connector, event channel, 3 s polls), headless under Textual's pilot
at 150x40. After each snapshot it applies, once the screen has refreshed, it reads every STATE cell through
DataTable's public API and stamps those that changed (CLOCK_MONOTONIC is one clock for every process of a
host). Chosen over the console script in tmux because 1,000 rows do not fit a terminal: capture-pane sees only
the ~20 rows on screen, while the table holds all of them; the cost: the last hop (the frame's bytes to a real
terminal; the headless driver drops them) is not in the figures. Latency = cell stamp - send stamp of the same
session and state. After the TUI's table holds every row and its header says "· events", and SETTLE_S more,
MEASURE_S (default 60) of changes follow: MEASURE_S/60 x 100 sessions, each once, at random times, cycling
WORKING -> FAILED -> STARTING -> WORKING. Over that window: the simulator's request log (per-session status
GETs: the target; the listing each poll still makes, and the rest, reported beside; and which status GETs hit a
session the channel had already told) and the TUI process's CPU seconds (psutil, user + system) / wall. Then
QUIET_S (default 20) with no change at all: the CPU of the polls and ticks alone, hence the CPU per event.
Targets: p99 < 1 s, 0 status requests while the channel is up, TUI CPU < 1 % of one core (bench/idle_cpu.py's
target). Baseline measured in the same run: what polling would cost to see the same changes (one `?all=true`
listing per poll; one GET per session).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import IO, Any

import httpx
import psutil
from _world import kill_tree, load_average, tree_cpu_s

from pulse_tui.sim.waha import SentEvent, WahaSim
from pulse_tui.sources.gateway.waha import map_status
from pulse_tui.ui_words import STATE_WORDS

SESSIONS = 1_000
CHANGING_PER_MIN = SESSIONS // 10
SETTLE_S = float(os.environ.get("EVENTS_SETTLE_S", "5"))
MEASURE_S = float(os.environ.get("EVENTS_MEASURE_S", "60"))
QUIET_S = float(os.environ.get("EVENTS_QUIET_S", "20"))  # then no change at all: the CPU of polls alone
DRAIN_S = 5.0  # after the window: time for the last changes to reach the table (not counted in CPU/requests)
KEY = "bench-key"
POLL_S = 3.0  # pulse-tui's default poll interval, for the polling baseline
P99_TARGET_S = 1.0
CPU_TARGET_PCT = 1.0
NEXT = {"WORKING": "FAILED", "FAILED": "STARTING", "STARTING": "WORKING"}
START_MIX = (("WORKING", 0.8), ("FAILED", 0.1), ("STARTING", 0.1))
CHILD = Path(__file__).with_name("_events_tui.py")
STATUS_ROUTE = re.compile(r"^/api/sessions/[^/]+(/me)?$|^/api/[^/]+/auth/qr$")  # one session's state


class Child:
    """The TUI process: JSON lines on its stdout, `stop` on its stdin; `close()` ends it for sure."""

    def __init__(self, url: str, root: Path) -> None:
        env = {**os.environ, "HOME": str(root), "XDG_STATE_HOME": str(root / "state"), "PYTHONUNBUFFERED": "1"}
        env.pop("PULSE_TUI_LOGS", None)
        self.proc = subprocess.Popen([sys.executable, str(CHILD), url, KEY, str(SESSIONS)], cwd=root, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.stderr: list[str] = []
        assert self.proc.stderr is not None
        threading.Thread(target=self._drain, args=(self.proc.stderr,), daemon=True).start()

    def _drain(self, stream: IO[str]) -> None:
        for line in stream:
            self.stderr.append(line)

    def read(self, timeout_s: float) -> dict[str, Any]:
        """The next JSON line, or RuntimeError with the child's last words."""
        got: list[str] = []
        assert self.proc.stdout is not None
        reader = threading.Thread(target=lambda: got.append(self.proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout_s)
        if not got or not got[0]:
            raise RuntimeError(f"the TUI process ended or said nothing within {timeout_s:g} s (exit "
                               f"{self.proc.poll()}): {''.join(self.stderr)[-1500:]}")
        msg: dict[str, Any] = json.loads(got[0])
        if "error" in msg:
            raise RuntimeError(f"the TUI process: {msg['error']}")
        return msg

    def stop(self) -> tuple[list[tuple[float, str, str]], int, float]:
        """(every STATE cell change it saw: monotonic time, row, text), how many rows are unknown now, and the
        CPU seconds its cell reads took since it started."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("stop\n")
        self.proc.stdin.flush()
        msg = self.read(60)
        self.proc.wait(30)
        seen = [(float(t), str(k), str(text)) for t, k, text in msg["seen"]]
        return seen, int(msg["unknown"]), float(msg["probe_s"])

    def close(self) -> None:
        if self.proc.poll() is None:
            kill_tree(self.proc.pid)
        self.proc.wait(10)


def set_up(sim: WahaSim, names: list[str], rng: random.Random) -> None:
    """The fleet as it stands before the TUI starts (no socket yet: no event is sent)."""
    words = [w for w, _ in START_MIX]
    weights = [p for _, p in START_MIX]
    for name in names:
        sim.set_status(name, rng.choices(words, weights)[0])


def change(sim: WahaSim, names: list[str], rng: random.Random, window_s: float) -> int:
    """MEASURE_S's share of 100 changes a minute, each session once, at random times over the window."""
    count = max(1, round(CHANGING_PER_MIN * window_s / 60))
    chosen = rng.sample(names, count)
    times = sorted(rng.uniform(0, window_s) for _ in chosen)
    t0 = time.monotonic()
    for at, name in zip(times, chosen, strict=True):
        delay = t0 + at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        status = sim.state(name) or "WORKING"
        sim.set_status(name, NEXT.get(status, "WORKING"))
    rest = t0 + window_s - time.monotonic()
    if rest > 0:
        time.sleep(rest)
    return count


def pair(sent: list[SentEvent], seen: list[tuple[float, str, str]]) -> tuple[list[float], list[SentEvent]]:
    """Latency of each sent event to the first later cell showing its state; the events never shown."""
    by_row: dict[str, list[tuple[float, str]]] = {}
    for t, row, text in seen:
        by_row.setdefault(row, []).append((t, text))
    latencies: list[float] = []
    missing: list[SentEvent] = []
    for ev in sent:
        word = STATE_WORDS[map_status(ev.status)[0]]
        shown = next((t for t, text in by_row.get(ev.session, ()) if t >= ev.at and word in text), None)
        if shown is None:
            missing.append(ev)
        else:
            latencies.append(shown - ev.at)
    return latencies, missing


def polling_baseline(url: str) -> tuple[float, float]:
    """(seconds for one `?all=true` listing, seconds for one GET per session) against the same server."""
    with httpx.Client(base_url=url, headers={"X-Api-Key": KEY}, trust_env=False) as c:
        t0 = time.perf_counter()
        r = c.get("/api/sessions", params={"all": "true"})
        assert r.status_code == 200 and len(r.json()) == SESSIONS
        listing = time.perf_counter() - t0
        t0 = time.perf_counter()
        for i in range(100):
            assert c.get(f"/api/sessions/s{i:04d}").status_code == 200
        per_session = (time.perf_counter() - t0) * SESSIONS / 100
    return listing, per_session


def pct(values: list[float], q: int) -> float:
    if not values:
        return float("inf")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> int:
    started = time.perf_counter()
    rng = random.Random(16)
    names = [f"s{i:04d}" for i in range(SESSIONS)]
    sim = WahaSim(KEY, sessions=tuple(names), action_delay_s=0.0, start_delay_s=3600.0)
    root = Path(tempfile.mkdtemp(prefix="pulse-bench-events-"))
    child: Child | None = None
    try:
        sim.start()
        set_up(sim, names, rng)
        child = Child(sim.url, root)
        ready = child.read(240)["ready"]
        time.sleep(SETTLE_S)
        proc = psutil.Process(child.proc.pid)
        cpu0, seen0, sent0 = tree_cpu_s(proc.pid), len(sim.seen), len(sim.sent_events())
        t0 = time.monotonic()
        changes = change(sim, names, rng, MEASURE_S)
        wall = time.monotonic() - t0
        cpu1, seen1 = tree_cpu_s(proc.pid), len(sim.seen)
        t1 = time.monotonic()
        sent = sim.sent_events()[sent0:]
        time.sleep(DRAIN_S)
        cpu2, q0 = tree_cpu_s(proc.pid), time.monotonic()
        time.sleep(QUIET_S)
        quiet_wall = time.monotonic() - q0
        quiet_cpu = tree_cpu_s(proc.pid) - cpu2
        asks = [(at, name) for at, name in sim.status_asks() if t0 <= at <= t1]
        seen, unknown_after, probe_s = child.stop()
        told = sim.sent_events()
        listing, per_session = polling_baseline(sim.url)
        requests = sim.seen[seen0:seen1]
    finally:
        if child is not None:
            child.close()
        sim.stop()
        shutil.rmtree(root, ignore_errors=True)

    latencies, missing = pair(sent, seen)
    routes = Counter(f"{m} {'/api/sessions/{s}' if STATUS_ROUTE.match(p) else p}" for m, p, _ in requests)
    status_requests = sum(1 for _, p, _ in requests if STATUS_ROUTE.match(p))
    told_at: dict[str, float] = {}
    for ev in told:  # every event since the TUI connected, oldest first
        told_at.setdefault(ev.session, ev.at)
    after_told = sum(1 for at, name in asks if name in told_at and told_at[name] < at)
    cpu_pct = (cpu1 - cpu0) / wall * 100
    p50, p99 = pct(latencies, 50), pct(latencies, 99)
    worst = max(latencies) if latencies else float("inf")
    print(f"events benchmark: {SESSIONS} sessions on a WAHA simulator, {changes} state changes over {wall:.1f} s "
          f"({CHANGING_PER_MIN}/min), TUI headless at 150x40 in its own process, settle {SETTLE_S:g} s "
          f"(took {time.perf_counter() - started:.1f} s; load average {load_average()})")
    print(f"  TUI ready with {ready['rows']} rows; header: {ready['header'].strip()}")
    print(f"  rows whose state is unknown (not yet asked; the channel had told nothing): {ready['unknown']} "
          f"when the window opened, {unknown_after} after it")
    print(f"  simulator event -> table cell: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max "
          f"{worst * 1000:.1f} ms over {len(latencies)} events; never shown: {len(missing)}   "
          f"(target p99 < {P99_TARGET_S * 1000:.0f} ms: {verdict(p99 < P99_TARGET_S and not missing)})")
    print(f"  status requests while the channel was up: {status_requests}   (target 0: "
          f"{verdict(status_requests == 0)})")
    print(f"    of the {len(asks)} GET /api/sessions/{{s}}, on a session the channel had already told: {after_told} "
          f"(the others learn rows still unknown)")
    other = ", ".join(f"{route} x{n}" for route, n in sorted(routes.items())) or "none"
    print(f"  every request in the window: {other}")
    print(f"  TUI CPU: {cpu_pct:.2f} % of one core ({cpu1 - cpu0:.2f} CPU s over {wall:.1f} s)   "
          f"(target < {CPU_TARGET_PCT:g} %: {verdict(cpu_pct < CPU_TARGET_PCT)})")
    print(f"    the bench's own cell reads in that process: {probe_s:.2f} CPU s over its whole run (an upper bound "
          f"of their share)")
    quiet_pct = quiet_cpu / quiet_wall * 100
    per_event = (cpu1 - cpu0 - quiet_cpu / quiet_wall * wall) / max(1, len(sent))
    print(f"  beside it: {quiet_pct:.2f} % over {quiet_wall:.1f} s with no change at all (polls and ticks alone), "
          f"so ~{per_event * 1000:.1f} CPU ms per event")
    print(f"baseline, polling every {POLL_S:g} s: a change is seen after ~{POLL_S / 2 * 1000:.0f} ms on average "
          f"(up to {POLL_S * 1000:.0f} ms)")
    print(f"  one ?all=true listing of {SESSIONS}: {listing * 1000:.1f} ms; one GET per session: "
          f"{per_session * 1000:.0f} ms and {SESSIONS} requests per poll")
    return 0


if __name__ == "__main__":
    sys.exit(main())
