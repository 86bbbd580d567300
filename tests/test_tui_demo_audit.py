"""`pulse-tui demo` keeps its audit log in its own temp dir, never in the operator's ~/.local/state."""

from __future__ import annotations

from pathlib import Path

import pytest

from pulse_tui.demo import start_world
from pulse_tui.sources.logs.recent import RecentLines
from pulse_tui.tui.app import PulseApp
from pulse_tui.tui.run import connector


def test_demo_audit_log_lives_in_the_demo_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    world = start_world(drive=False, browsers=False)
    try:
        app = PulseApp(world.config, connect=connector(world.config, RecentLines()))
        assert app.audit.path.is_relative_to(world.root)
        assert app.audit.record("stop", "11111111-1111-4111-8111-111111111111", True, "demo") is None
        assert app.audit.path.read_text().count('"stop"') == 1
    finally:
        world.close()
    assert not (tmp_path / ".local" / "state" / "pulse-tui").exists()
