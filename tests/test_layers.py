"""Layer rules: nothing outside pulse_tui/tui imports Textual (status and doctor stay fast and UI-free)."""

from __future__ import annotations

import ast
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


# --- static layer rules (issue 19): read the source, so a lazy or TYPE_CHECKING import counts too ---------

UI_FREE = ("actions", "monitor", "sources", "doctor", "keys", "exporter")
GATEWAY_NAMES = frozenset({"salesboy", "pulse", "waha", "evolution"})
# Known and owned elsewhere: the log feed in `_follow_logs` parses events itself until the engine side of
# issue 19 moves log events into the monitor; delete the entry then (the test fails when it is stale).
TUI_SOURCES_ALLOWED: set[tuple[str, str]] = set()


def _imports(path: Path) -> list[str]:
    """Every module `path` imports, at any depth (function bodies, TYPE_CHECKING blocks)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            if node.module == "pulse_tui":  # `from pulse_tui import sources`
                found.extend(f"pulse_tui.{alias.name}" for alias in node.names)
    return found


def _imported_names(path: Path) -> list[str]:
    return [alias.asname or alias.name for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ImportFrom) for alias in node.names]


def test_tui_never_imports_sources() -> None:
    seen_allowed: set[tuple[str, str]] = set()
    files = sorted((PKG / "tui").rglob("*.py"))
    assert len(files) > 8
    for path in files:
        for module in _imports(path):
            if module == "pulse_tui.sources" or module.startswith("pulse_tui.sources."):
                key = (path.name, module)
                if key in TUI_SOURCES_ALLOWED:
                    seen_allowed.add(key)
                    continue
                raise AssertionError(f"{path.relative_to(PKG)} imports {module}: go through monitor/ or actions/")
    assert seen_allowed == TUI_SOURCES_ALLOWED, f"stale exemption: {TUI_SOURCES_ALLOWED - seen_allowed}"


def test_engine_packages_never_import_textual_statically() -> None:
    checked = 0
    for package in UI_FREE:
        for path in (PKG / package).rglob("*.py"):
            bad = [m for m in _imports(path) if m == "textual" or m.startswith("textual.")]
            assert not bad, f"{path.relative_to(PKG)} imports {bad[0]}"
            checked += 1
    assert checked > 30


def _kind_tests(path: Path) -> list[str]:
    return [f"{path.relative_to(PKG)}:{line}" for line in _kind_test_lines(path.read_text())]


def _kind_test_lines(text: str) -> list[int]:
    """`x.kind == "salesboy"`, `gateway_kind != GatewayKind.PULSE`…: a gateway named where behaviour is decided."""
    def names_gateway(node: ast.expr) -> bool:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value.lower() in GATEWAY_NAMES
        if isinstance(node, ast.Attribute):
            return node.attr.lower() in GATEWAY_NAMES or (isinstance(node.value, ast.Name)
                                                         and node.value.id == "GatewayKind")
        return False

    def is_kind(node: ast.expr) -> bool:
        name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
        return name.endswith("kind")

    hits = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Compare) and any(isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn))
                                                 for op in node.ops):
            sides = [node.left, *node.comparators]
            if any(is_kind(s) for s in sides) and any(names_gateway(s) for s in sides):
                hits.append(node.lineno)
    return hits


def _names_a_gateway(name: str) -> bool:
    """`salesboy_id_error`, `PULSE_IDS`, `WahaGateway`: a helper of one gateway (`PulseApp` is ours, not one)."""
    tokens = set(name.lower().split("_"))
    return bool(tokens & GATEWAY_NAMES) or any(name.lower() == f"{g}gateway" for g in GATEWAY_NAMES)


def test_no_gateway_kind_is_tested_in_the_tui_or_the_actions() -> None:
    files = [*(PKG / "tui").rglob("*.py"), *(PKG / "actions").rglob("*.py"), *(PKG / "monitor").rglob("*.py")]
    hits = [hit for path in files for hit in _kind_tests(path)]
    assert not hits, f"gateway kind tested (ask its Capabilities instead): {hits}"
    gateway_helpers = [f"{path.name}: {name}" for path in files for name in _imported_names(path)
                       if _names_a_gateway(name)]
    assert not gateway_helpers, f"gateway-specific helper imported: {gateway_helpers}"


def test_the_kind_check_finds_what_it_looks_for() -> None:
    text = ('if gw.kind == "salesboy":\n    pass\n'
            'if snap.gateway_kind != GatewayKind.PULSE:\n    pass\n'
            'if screen.kind == "doctor":\n    pass\n'  # a screen's own kind, not a gateway
            'if caps.has_restart:\n    pass\n')
    assert _kind_test_lines(text) == [1, 3]


def _probes(text: str) -> list[int]:
    """`getattr(x, "name")` / `hasattr(...)`: a member asked for at run time instead of declared in a protocol
    (a proxy's own `__getattr__`, which forwards every name, is delegation, not a probe)."""
    tree = ast.parse(text)
    forwarding = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name == "__getattr__"
                  for n in ast.walk(f)}
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr")
            and id(node) not in forwarding]


def test_the_seams_declare_what_they_use() -> None:
    """The engine, the actions and the TUI read their sources through complete protocols (mypy checks them)."""
    files = [p for pkg in ("monitor", "actions", "tui") for p in (PKG / pkg).rglob("*.py")]
    files.append(PKG / "doctor" / "checks_gateways.py")
    hits = [f"{p.relative_to(PKG)}:{line}" for p in files for line in _probes(p.read_text())]
    assert not hits, f"getattr/hasattr at a seam (add the member to the protocol instead): {hits}"
    assert _probes('x = getattr(gw, "facts", None)\nif hasattr(gw, "probe"):\n    pass\n') == [1, 2]
    assert _probes("class P:\n    def __getattr__(self, name):\n        return getattr(self._inner, name)\n") == []


def test_screens_never_import_the_app() -> None:
    """Attributes go down, messages go up: a screen that imported the app would call it (and close a cycle)."""
    screens = [p for p in (PKG / "tui").glob("*.py") if p.name not in ("app.py", "run.py", "screenshots.py")]
    assert any(p.name == "main_screen.py" for p in screens)
    for path in screens:
        assert "pulse_tui.tui.app" not in _imports(path), f"{path.name} imports the app"
