"""One registry of finding codes: every code a producer can emit is in it, and the README lists it as generated."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pulse_tui.doctor.checks import CODES, GROUP_OF
from pulse_tui.findings import GROUPS, REGISTRY, codes_markdown, finding
from pulse_tui.model import Severity

ROOT = Path(__file__).resolve().parents[1]
# The shapes a code takes where it is emitted: finding("code", …), Finding(Severity.X, "code", …), code="…",
# and the doctor's flag table ("flag", "code", Severity.X, …).
EMITTED = (
    re.compile(r'\bfinding\(\s*"([a-z0-9-]+)"'),
    re.compile(r'\bFinding\(\s*(?:severity=)?[\w.()]+,\s*(?:code=)?"([a-z0-9-]+)"'),
    re.compile(r'\bcode="([a-z0-9-]+)"'),
    re.compile(r'\("[a-z-]+", "([a-z0-9-]+)", Severity\.\w+,'),
)


def emitted_codes() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted((ROOT / "pulse_tui").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for pattern in EMITTED:
            for code in pattern.findall(text):
                found.setdefault(code, str(path.relative_to(ROOT)))
    return found


def test_every_emitted_code_is_registered() -> None:
    found = emitted_codes()
    assert len(found) > 50  # the patterns still match how producers write findings
    missing = {code: where for code, where in found.items() if code not in REGISTRY}
    assert not missing


def test_each_check_group_has_its_failure_code() -> None:
    # run_checks reports a group that raised as `<group>-check-failed`
    for group in ("keys", "redis", "gateway", "sessions", "logs", "host"):
        assert f"{group}-check-failed" in REGISTRY


def test_entries_are_well_formed_and_the_doctor_reads_them() -> None:
    for code, entry in REGISTRY.items():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", code) and entry.code == code
        assert entry.group in GROUPS and entry.description.endswith(".")
        assert CODES[code] == entry.description and GROUP_OF[code] == entry.group


def test_finding_takes_the_usual_severity_and_refuses_an_unknown_code() -> None:
    assert finding("pm2-app-missing", "x").severity == REGISTRY["pm2-app-missing"].severity == Severity.WARNING
    assert finding("pm2-app-missing", "x", severity=Severity.INFO).severity == Severity.INFO
    with pytest.raises(KeyError):
        finding("no-such-code", "x")


def test_readme_lists_the_generated_codes() -> None:
    assert codes_markdown() in (ROOT / "README.md").read_text(encoding="utf-8")
