"""What a TUI on a host without Pulse's Redis keeps loaded (issue 15, memory): redis-py (~6 MiB resident) and
cryptography (~7 MiB, most of it its Rust module) are loaded by what reads Redis, not by the checks and sources
every TUI builds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.tui_helpers import API_KEY, make_sim

REDIS_STACK = ("redis", "cryptography")

# As run_app's connect builds the sources (then the deferred half), one poll and its findings, in a fresh process.
CHILD = """
import asyncio, json, sys
from pathlib import Path
from pulse_tui.config import Config
from pulse_tui.sources.logs.recent import RecentLines
from pulse_tui.tui.run import connector

url, auth, audit, api_key, stack = sys.argv[1:6]
config = Config(gateway_url=url, api_key=api_key, auth_dirs=(Path(auth),), redis_url=None, request_budget=10_000,
                audit_log=Path(audit))

async def main():
    targets = await asyncio.to_thread(connector(config, RecentLines()))
    if targets.complete is not None:
        targets.complete()
    snap = await targets.engine.poll(full=True)
    await targets.aclose()
    return len(snap.sessions), len(snap.findings)

sessions, findings = asyncio.run(main())
print(json.dumps({"sessions": sessions, "findings": findings,
                  "loaded": sorted(m for m in stack.split(",") if m in sys.modules)}))
"""


def test_a_tui_without_redis_loads_neither_redis_py_nor_cryptography(tmp_path: Path) -> None:
    sim = make_sim(tmp_path, start_delay_s=0.0)
    try:
        argv = [sim.url, str(sim.auth_root), str(tmp_path / "a.jsonl"), API_KEY, ",".join(REDIS_STACK)]
        out = subprocess.run([sys.executable, "-c", CHILD, *argv], capture_output=True, text=True, timeout=120,
                             check=False)
    finally:
        sim.stop()
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["sessions"] == 2, result  # the poll really ran: the simulator's two sessions are in it
    assert result["findings"] > 0, result  # and so did the checks, key checks included
    assert result["loaded"] == [], "a check or source without Redis loaded redis-py or cryptography"
