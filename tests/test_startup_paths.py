"""What the TUI's start-up loads and builds (issue 15): the screen's modules load no HTTP, Redis or crypto stack
(run_app builds the gateway's half of the sources before the app runs, Redis and crypto once the first rows show),
and the sources' modules are frozen for the collector once built (as run_frozen does with the app's)."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

from pulse_tui.config import Config
from pulse_tui.sources.logs.recent import RecentLines
from pulse_tui.tui.run import connector
from tests.tui_helpers import API_KEY, make_sim

# Loaded by the sources (run_app's connect), never by the screen's own modules.
NOT_BEFORE_THE_FRAME = ("httpx", "httpcore", "anyio", "redis", "cryptography", "psutil",
                        "pulse_tui.sources.gateway", "pulse_tui.monitor.service", "pulse_tui.doctor.checks")


def test_the_screen_modules_load_no_sources_stack() -> None:
    # As `pulse-tui` starts: the configuration (a Salesboy gateway, a Redis), then the screen's modules.
    code = ("import json, sys\n"
            "from pulse_tui.config import config_from_values\n"
            "config_from_values({'PULSE_TUI_GATEWAY_URL': 'http://127.0.0.1:3001', 'REDIS_URL': 'redis://127.0.0.1'})\n"
            "import pulse_tui.tui.app, pulse_tui.tui.run\n"
            f"print(json.dumps(sorted(m for m in {NOT_BEFORE_THE_FRAME!r} if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [], "importing the app loaded what only the sources need"


async def test_the_tui_connection_freezes_what_it_loaded_and_a_plain_one_does_not(tmp_path: Path) -> None:
    sim = make_sim(tmp_path)
    config = Config(gateway_url=sim.url, api_key=API_KEY, auth_dirs=(sim.auth_root,), redis_url=None,
                    request_budget=10_000, audit_log=tmp_path / "audit.jsonl")
    try:
        before = gc.get_freeze_count()
        plain = connector(config, RecentLines())()  # tests and scripts: nothing frozen behind their back
        assert gc.get_freeze_count() == before
        await plain.aclose()
        try:
            frozen = connector(config, RecentLines(), freeze=True)()  # as run_app builds it, under run_frozen
            assert gc.get_freeze_count() > before
            await frozen.aclose()
        finally:
            gc.unfreeze()  # as run_frozen does at exit
    finally:
        sim.stop()


def test_the_first_snapshot_needs_no_redis_crypto_or_doctor_stack_and_complete_brings_them(tmp_path: Path) -> None:
    # As the TUI connects: the gateway's monitor first (the rows), then `complete` once they are on screen.
    code = ("import json, sys\n"
            "from pulse_tui.config import config_from_values\n"
            "from pulse_tui.sources.logs.recent import RecentLines\n"
            "from pulse_tui.tui.run import connector\n"
            "config = config_from_values({'PULSE_TUI_GATEWAY_URL': 'http://127.0.0.1:9', 'REDIS_URL': "
            "'redis://127.0.0.1:9', 'XDG_STATE_HOME': sys.argv[1]})\n"
            "targets = connector(config, RecentLines())()\n"
            "late = ('redis', 'cryptography', 'anyio', 'httpcore', 'pulse_tui.doctor.checks',\n"
            "        'pulse_tui.sources.gateway.waha', 'pulse_tui.sources.gateway.evolution', 'psutil',\n"
            "        'pulse_tui.monitor.host')\n"
            "first = sorted(m for m in late if m in sys.modules)\n"
            "assert targets.complete is not None\n"
            "targets.complete()\n"
            "print(json.dumps([first, sorted(m for m in late if m in sys.modules), targets.redis is not None]))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60,
                         check=False)
    assert out.returncode == 0, out.stderr
    first, then, redis_built = json.loads(out.stdout)
    assert first == [], "the gateway's monitor loaded what only Redis, the checks, httpcore or other adapters need"
    assert {"pulse_tui.doctor.checks", "psutil", "pulse_tui.monitor.host"} <= set(then) and redis_built


def test_the_log_package_loads_a_module_only_when_one_of_its_names_is_used() -> None:
    code = ("import json, sys\n"
            "import pulse_tui.sources.logs.line\n"
            "first = 'pulse_tui.sources.logs.follower' in sys.modules\n"
            "import pulse_tui.sources.logs as logs\n"
            "names = {n: type(getattr(logs, n)).__name__ for n in logs.__all__}\n"
            "print(json.dumps([first, 'pulse_tui.sources.logs.follower' in sys.modules, len(names)]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    first, then, names = json.loads(out.stdout)
    assert first is False, "LogLine's module loaded the follower through the package"
    assert then is True and names == 19  # every exported name still resolves
