"""Benchmark the exporter: one scrape with 1,000 sessions and 10,000 Redis user sessions, and its idle CPU.

Run: .venv/bin/python bench/exporter.py   (not a test; loopback only; about a minute; removes what it starts)

Scrape: a snapshot of 1,000 WhatsApp sessions (8 states each, so 8,000 `pulse_session_state` samples) and
10,000 user sessions is rendered once (`SnapshotCollector.update`, what each poll costs), then served over
HTTP by the exporter's own server; SCRAPES scrapes are timed with httpx. Baseline in the same run:
prometheus_client's `start_http_server` serving an empty registry, scraped the same way. Target: < 50 ms.

Idle CPU: `pulse-tui exporter` as a child process on the demo world (embedded Redis, gateway simulator, log
writer; its default 15 s polls, BENCH_INTERVAL=3 for the app's pace), scraped every 5 s, CPU time read with psutil over MEASURE_S after SETTLE_S; baseline: a
child running prometheus_client's `start_http_server` with the default registry, scraped the same way.
Target: < 1 % of one core.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from prometheus_client import CollectorRegistry, start_http_server  # noqa: E402

from pulse_tui.exporter.metrics import SnapshotCollector  # noqa: E402
from pulse_tui.exporter.serve import Exposition, HttpServer, Listen, PollHealth, make_app  # noqa: E402
from pulse_tui.model import (  # noqa: E402
    ConnState,
    GatewayHealth,
    HealthState,
    HostSummary,
    KeysStatus,
    Persistence,
    RedisReport,
    SessionView,
    Snapshot,
    UserSession,
    ValueClass,
)

SESSIONS = 1_000
USER_SESSIONS = 10_000
SCRAPES = 30
SCRAPE_TARGET_MS = 50.0
SETTLE_S = 10.0
MEASURE_S = 30.0
IDLE_TARGET_PCT = 1.0


def big_snapshot() -> Snapshot:
    now = time.time()
    states = list(ConnState)
    classes = list(ValueClass)
    sessions = tuple(
        SessionView(id=f"{i:08x}-0000-4000-8000-{i:012x}", state=states[i % len(states)], since=now - i,
                    seconds_in_state=float(i), restorable=i % 3 == 0, rss_bytes=200_000_000 + i)
        for i in range(SESSIONS)
    )
    users = tuple(
        UserSession(key=f"session:{i:032x}", session_id=f"{i:032x}", value_class=classes[i % len(classes)],
                    ttl=(i * 97) % (10 * 86_400))
        for i in range(USER_SESSIONS)
    )
    return Snapshot(
        taken_at=now, gateway_kind="salesboy", gateway_url="http://127.0.0.1:3001",
        gateway=GatewayHealth(HealthState.OK, latency_ms=8.0, budget_left=70, budget_limit=90),
        sessions=sessions,
        redis=RedisReport(available=True, sessions=users,
                          persistence=Persistence(save="3600 1", appendonly="no", config_available=True)),
        keys=KeysStatus("ok"), poll_s=0.4, host=HostSummary(),
    )


def time_scrapes(url: str) -> tuple[float, int]:
    """Median milliseconds per scrape, and the body size."""
    times = []
    size = 0
    with httpx.Client() as client:
        client.get(url)  # connection and first-request warm-up
        for _ in range(SCRAPES):
            t0 = time.perf_counter()
            r = client.get(url)
            times.append((time.perf_counter() - t0) * 1000)
            size = len(r.content)
    return statistics.median(times), size


def bench_scrape() -> bool:
    snap = big_snapshot()
    collector = SnapshotCollector()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    exposition = Exposition(registry)
    t0 = time.perf_counter()
    collector.update(snap)
    collector.render()
    exposition.refresh()
    render_ms = (time.perf_counter() - t0) * 1000
    server = HttpServer(Listen("127.0.0.1", 0), make_app(exposition, PollHealth(3.0))).start()
    base_server, base_thread = start_http_server(0, addr="127.0.0.1", registry=CollectorRegistry())
    try:
        ms, size = time_scrapes(f"{server.listen.url}/metrics")
        base_ms, _ = time_scrapes(f"http://127.0.0.1:{base_server.server_address[1]}/metrics")
    finally:
        server.close()
        base_server.shutdown()
        base_server.server_close()
        base_thread.join(timeout=5)
    ok = ms < SCRAPE_TARGET_MS
    print(f"scrape, {SESSIONS} sessions + {USER_SESSIONS} user sessions ({size // 1024} KiB): "
          f"{ms:.1f} ms median of {SCRAPES} (empty-registry baseline {base_ms:.2f} ms, {ms / base_ms:.0f}x); "
          f"target < {SCRAPE_TARGET_MS:.0f} ms: {'ok' if ok else 'MISSED'}")
    print(f"  rendering that snapshot once (families + text + gzip, at most once a second): {render_ms:.1f} ms")
    return ok


BASELINE_CHILD = """
import sys, time
from prometheus_client import start_http_server
srv, _ = start_http_server(0, addr="127.0.0.1")
print(f"pulse-tui exporter: serving http://127.0.0.1:{srv.server_address[1]}/metrics", file=sys.stderr, flush=True)
time.sleep(3600)
"""


def start_child(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(args, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    if "serving" not in line:
        proc.kill()
        raise SystemExit(f"child did not start: {line}")
    return proc, line.split()[-1]


def cpu_seconds(p: psutil.Process) -> float:
    t = p.cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def bench_idle() -> bool:
    from pulse_tui.demo import start_world
    from tests.test_exporter_world import world_env

    world = start_world(drive=False)
    env = world_env(world)
    interval = os.environ.get("BENCH_INTERVAL", "15")  # the exporter's default
    children = []
    try:
        exp = start_child([sys.executable, "-m", "pulse_tui", "exporter", "--listen", "127.0.0.1:0",
                           "--interval", interval], env)
        children.append(exp[0])
        base = start_child([sys.executable, "-c", BASELINE_CHILD], dict(os.environ))
        children.append(base[0])
        procs = {name: (psutil.Process(p.pid), url) for name, (p, url) in (("exporter", exp), ("baseline", base))}
        with httpx.Client() as client:
            deadline = time.monotonic() + SETTLE_S
            while time.monotonic() < deadline:
                time.sleep(1)
            start = {n: cpu_seconds(p) for n, (p, _) in procs.items()}
            t0 = time.monotonic()
            while time.monotonic() - t0 < MEASURE_S:
                for _, url in procs.values():
                    client.get(url)
                time.sleep(5)
            wall = time.monotonic() - t0
            pct = {n: 100 * (cpu_seconds(p) - start[n]) / wall for n, (p, _) in procs.items()}
    finally:
        for p in children:
            p.terminate()
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        world.close()
    ok = pct["exporter"] < IDLE_TARGET_PCT
    print(f"idle CPU over {MEASURE_S:.0f} s ({interval} s polls, a scrape every 5 s): exporter {pct['exporter']:.2f} % of a "
          f"core, empty prometheus_client server {pct['baseline']:.2f} %; target < {IDLE_TARGET_PCT:.0f} %: "
          f"{'ok' if ok else 'MISSED'}")
    return ok


def main() -> int:
    ok = bench_scrape()
    ok = bench_idle() and ok
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
