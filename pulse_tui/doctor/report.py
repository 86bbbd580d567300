"""The doctor's report: text grouped by area with glyph AND word per severity, JSON, and a plugin exit code.

Exit codes follow the monitoring-plugin convention: 0 ok, 1 warning, 2 critical, 3 could not check. A source
that is down is a critical finding (2), not a 3: 3 means no source could be read at all (the poll raised or timed
out and Redis, checked on its own then, was not configured or not readable either). A finding of severity `unknown` (one thing could not be read, e.g. an unreadable lock) counts as a
warning, so it never hides a critical nor turns a good run into "could not check".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pulse_tui.doctor.checks import CODES, GROUPS, group_of
from pulse_tui.model import Finding, Severity
from pulse_tui.sanitize import visible

EXIT_OK, EXIT_WARNING, EXIT_CRITICAL, EXIT_UNKNOWN = 0, 1, 2, 3

GLYPHS = {
    Severity.CRITICAL: ("✖", "X"),
    Severity.WARNING: ("▲", "!"),
    Severity.UNKNOWN: ("?", "?"),
    Severity.INFO: ("●", "i"),
    Severity.OK: ("✔", "+"),
}
GROUP_TITLES = {
    "keys": "Keys", "redis": "Redis", "gateway": "Gateway", "sessions": "Sessions", "host": "Host", "logs": "Logs",
}
_ORDER = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.UNKNOWN: 2, Severity.INFO: 3, Severity.OK: 4}


def label(severity: Severity, *, ascii: bool = False) -> str:
    """Glyph and word, e.g. `✖ critical` (colour is never the only signal); `X critical` in ASCII."""
    glyph = GLYPHS[severity][1 if ascii else 0]
    return f"{glyph} {severity.value}"


def exit_code(findings: Iterable[Finding], could_check: bool) -> int:
    """0 ok, 1 warning, 2 critical, 3 when the checks could not run at all."""
    if not could_check:
        return EXIT_UNKNOWN
    worst = EXIT_OK
    for f in findings:
        if f.severity == Severity.CRITICAL:
            return EXIT_CRITICAL
        if f.severity in (Severity.WARNING, Severity.UNKNOWN):
            worst = EXIT_WARNING
    return worst


def overall(findings: Iterable[Finding], could_check: bool = True) -> Severity:
    """The one severity that sums up a run."""
    return {EXIT_OK: Severity.OK, EXIT_WARNING: Severity.WARNING, EXIT_CRITICAL: Severity.CRITICAL,
            EXIT_UNKNOWN: Severity.UNKNOWN}[exit_code(findings, could_check)]


def visible_lines(text: str) -> str:
    """`text` safe for a terminal line by line: untrusted parts (ids, Redis values) show their control bytes."""
    return "\n".join(visible(line) for line in text.split("\n"))


def _grouped(findings: Iterable[Finding]) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for f in findings:
        out.setdefault(group_of(f.code), []).append(f)
    for items in out.values():
        items.sort(key=lambda f: (_ORDER[f.severity], f.code))
    return out


def _group_order(present: Iterable[str], checked: Iterable[str]) -> list[str]:
    names = set(present) | set(checked)
    return [g for g in GROUPS if g in names] + sorted(names - set(GROUPS))


def render_report(
    findings: Sequence[Finding],
    *,
    ascii: bool = False,
    checked: Iterable[str] = (),
    could_check: bool = True,
) -> str:
    """Plain-text report grouped by keys, redis, gateway, sessions, host, logs, with a fix hint under each finding.

    `checked`: groups whose checks ran; those without findings get an `ok` line instead of being left out.
    """
    grouped = _grouped(findings)
    checked = tuple(checked)
    lines: list[str] = []
    arrow = "->" if ascii else "→"
    for group in _group_order(grouped, checked):
        items = grouped.get(group, [])
        worst = overall(items)
        lines.append(f"{GROUP_TITLES.get(group, group.title())}  [{label(worst, ascii=ascii)}]")
        if not items:
            lines.append(f"  {label(Severity.OK, ascii=ascii)}  no problems found")
        for f in items:
            # Messages and subjects may quote ids and values from Redis or the gateway: never raw to the terminal.
            lines.append(f"  {label(f.severity, ascii=ascii)}  {visible(f.message)}  [{visible(f.code)}]")
            if f.subjects:
                lines.append(f"      e.g. {', '.join(visible(x) for x in f.subjects)}")
            if f.hint:
                lines.append(f"      {arrow} {visible(f.hint)}")
        lines.append("")
    summary = overall(findings, could_check)
    counts = {s: sum(1 for f in findings if f.severity == s) for s in (Severity.CRITICAL, Severity.WARNING,
                                                                        Severity.INFO)}
    if not could_check:
        lines.append(f"Result: {label(Severity.UNKNOWN, ascii=ascii)}: the checks could not run.")
    else:
        lines.append(
            f"Result: {label(summary, ascii=ascii)} ({counts[Severity.CRITICAL]} critical, "
            f"{counts[Severity.WARNING]} warning, {counts[Severity.INFO]} info)"
        )
    return "\n".join(lines) + "\n"


def finding_json(f: Finding) -> dict[str, Any]:
    return {
        "severity": f.severity.value,
        "code": f.code,
        "group": group_of(f.code),
        "message": f.message,
        "hint": f.hint,
        "subjects": list(f.subjects),
        "description": CODES.get(f.code, ""),
    }


def report_json(
    findings: Sequence[Finding], *, checked: Iterable[str] = (), could_check: bool = True
) -> dict[str, Any]:
    """The report as a JSON-ready dict: overall status, exit code, per-group status and every finding."""
    grouped = _grouped(findings)
    return {
        "schema": 1,
        "status": overall(findings, could_check).value,
        "exit_code": exit_code(findings, could_check),
        "could_check": could_check,
        "groups": {g: overall(grouped.get(g, [])).value for g in _group_order(grouped, checked)},
        "findings": [finding_json(f) for f in findings],
    }
