"""`pulse-tui watch` as a process: it says its mode, keeps its state file, and exits 0 on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from pulse_tui.watch.journal import watch_paths
from pulse_tui.watch.lock import lock_is_held
from tests.tui_helpers import API_KEY, UID_A, make_sim


def _spawn(tmp_path: Path, url: str, auth: Path, *extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_TUI_", "API_SECRET"))}
    env.update(PULSE_TUI_GATEWAY_URL=url, API_SECRET_KEY=API_KEY, PULSE_TUI_AUTH_DIR=str(auth),
               XDG_STATE_HOME=str(tmp_path / "state"), PULSE_TUI_LOGS=str(tmp_path / "none.log"))
    return subprocess.Popen([sys.executable, "-m", "pulse_tui", "watch", "--interval", "0.5", *extra],
                            cwd=tmp_path, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)


def _first_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stderr is not None
    return proc.stderr.readline()


def test_sigterm_ends_the_watchdog_cleanly_and_a_second_one_is_an_observer(tmp_path: Path) -> None:
    sim = make_sim(tmp_path, (UID_A,))
    try:
        first = _spawn(tmp_path, sim.url, sim.auth_root)
        assert "acting" in _first_line(first)
        second = _spawn(tmp_path, sim.url, sim.auth_root)
        line = _first_line(second)
        assert "observer" in line and "another watchdog" in line
        _, state_path, lock_path = watch_paths(tmp_path / "state", sim.url)
        assert lock_is_held(lock_path)
        for proc in (second, first):
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
            assert proc.stderr is not None
            assert "Traceback" not in proc.stderr.read()
        assert not lock_is_held(lock_path)
        state = json.loads(state_path.read_text())
        assert state["mode"] == "acting" and "counts" in state
    finally:
        sim.stop()
