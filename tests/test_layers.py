"""Layer rules: nothing outside pulse_tui/tui imports Textual (status and doctor stay fast and UI-free)."""

from __future__ import annotations

import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pulse_tui

PKG = Path(pulse_tui.__file__).parent


def _non_ui_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages([str(PKG)], prefix="pulse_tui."):
        if info.name.startswith("pulse_tui.tui") or info.name.endswith("__main__"):
            continue
        names.append(info.name)
    return names


def test_no_textual_import_outside_tui() -> None:
    modules = _non_ui_modules()
    assert "pulse_tui.monitor.service" in modules and "pulse_tui.cli" in modules
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
            "print(len(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0", "a module outside pulse_tui/tui imported textual"


def test_sources_do_not_import_the_monitor_or_ui() -> None:
    pattern = re.compile(r"^\s*(from|import)\s+pulse_tui\.(monitor|tui)\b", re.MULTILINE)
    checked = 0
    for path in (PKG / "sources").rglob("*.py"):
        assert not pattern.search(path.read_text()), path
        checked += 1
    assert checked > 10
