"""Configured log paths that give no line (missing, a dir, a FIFO, a glob matching nothing) become findings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pulse_tui.sources.logs.follower import LogFollower, log_path_findings, log_path_problem


def test_each_unusable_log_path_is_named(tmp_path: Path) -> None:
    good = tmp_path / "pm2-out.log"
    good.write_text("hello\n")
    fifo = tmp_path / "pipe.log"
    os.mkfifo(fifo)
    assert log_path_problem(str(good)) is None
    assert log_path_problem(str(tmp_path / "*.log")) is None
    assert log_path_problem(str(tmp_path / "missing.log")) == "does not exist"
    assert log_path_problem(str(tmp_path)) == "is a directory, not a regular file"
    assert log_path_problem(str(fifo)) == "is a FIFO, not a regular file"
    assert log_path_problem(str(tmp_path / "nothing-*.txt")) == "matches no file"
    assert log_path_problem(str(tmp_path / "pipe*")) == "matches no regular file"
    found = log_path_findings([str(good), str(fifo)])
    assert [f.code for f in found] == ["log-path-unusable"] and str(fifo) in found[0].message


async def test_follower_never_blocks_on_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.log"
    os.mkfifo(fifo)
    follower = LogFollower([str(fifo)])
    try:
        assert await follower.poll() == []  # a FIFO opened for reading would block here forever
    finally:
        await follower.aclose()


@pytest.mark.parametrize("kind", ["missing", "dir", "fifo"])
def test_status_and_doctor_report_the_log_path(kind: str, tmp_path: Path) -> None:
    path = {"missing": tmp_path / "gone.log", "dir": tmp_path, "fifo": tmp_path / "pipe.log"}[kind]
    if kind == "fifo":
        os.mkfifo(path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_TUI_", "REDIS_"))}
    env.update({"PULSE_TUI_GATEWAY_URL": "http://127.0.0.1:9", "PULSE_TUI_LOGS": str(path),
                "XDG_STATE_HOME": str(tmp_path)})
    status = subprocess.run([sys.executable, "-m", "pulse_tui", "status", "--json"], env=env, capture_output=True,
                            text=True, timeout=60, stdin=subprocess.DEVNULL)
    doctor = subprocess.run([sys.executable, "-m", "pulse_tui", "doctor"], env=env, capture_output=True, text=True,
                            timeout=60, stdin=subprocess.DEVNULL)
    assert "Traceback" not in status.stderr + doctor.stderr
    found = [f for f in json.loads(status.stdout)["findings"] if f["code"] == "log-path-unusable"]
    assert len(found) == 1 and str(path) in found[0]["message"]
    assert "Logs  [" in doctor.stdout and str(path) in doctor.stdout
