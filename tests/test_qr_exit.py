"""`pulse-tui qr ID` end to end in a subprocess: linked → exit 0, and nothing printed on stderr at exit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pulse_tui.sim.gateway import GatewaySim
from tests.tui_helpers import API_KEY

UID = "44444444-4444-4444-8444-444444444444"

SCRIPT = """
import sys
from pathlib import Path

import pytest
from pulse_tui.config import Config
from pulse_tui.sources.logs.recent import RecentLines
from pulse_tui.tui.app import PulseApp
from pulse_tui.tui.run import connector, run_frozen

url, key, root, audit, uid = sys.argv[1:6]
config = Config(gateway_url=url, api_key=key, auth_dirs=(Path(root),), poll_seconds=0.5, request_budget=10_000,
                audit_log=Path(audit))
app = PulseApp(config, connect=connector(config, RecentLines()), qr_session=uid)
sys.exit(run_frozen(app, headless=True, size=(120, 50)))
"""


def test_qr_view_then_exit_leaves_stderr_empty(tmp_path: Path) -> None:
    root = tmp_path / ".wwebjs_auth"
    root.mkdir()
    with GatewaySim(root, api_key=API_KEY, start_delay_s=0.1, restore_on_boot=False, rate_limit=10_000,
                    qr_interval_s=20.0, auto_scan_s=1.5) as sim:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_TUI_", "REDIS_"))}
        out = subprocess.run([sys.executable, "-c", SCRIPT, sim.url, API_KEY, str(root), str(tmp_path / "audit.jsonl"),
                              UID], capture_output=True, text=True, env=env, timeout=90)
        asked_qr = [path for _, path, _ in sim.seen if "qr" in path.lower()]
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stderr == "", out.stderr[-3000:]
    assert "nanobind" not in out.stdout
    assert asked_qr, "the QR view ran (and decoded a code with zxing-cpp) before the session linked"


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_TUI_", "REDIS_"))}
    base.update(env or {})
    return subprocess.run([sys.executable, "-m", "pulse_tui", *args], capture_output=True, text=True, env=base,
                          timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("bad", ["../../etc", "not-a-uuid", "", "current-user", "\x1b]0;pwned\x07"])
def test_qr_refuses_an_id_the_gateway_refuses(bad: str) -> None:
    out = _cli("qr", bad)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pulse-tui: qr ") and "UUID" in lines[0]
    assert "\x1b" not in out.stderr and "\x07" not in out.stderr
    assert out.stdout == ""


def test_qr_refuses_a_non_phone_id_on_pulse() -> None:
    out = _cli("--gateway", "pulse", "qr", "12ab")
    assert out.returncode == 2 and "phone number" in out.stderr and len(out.stderr.strip().splitlines()) == 1
