"""`pulse-tui doctor`: one full poll, every check, a report (or JSON) on stdout, a monitoring-plugin exit code."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any, TextIO

from pulse_tui.config import Config
from pulse_tui.doctor.checks import checked_groups, redact, run_checks
from pulse_tui.doctor.report import EXIT_UNKNOWN, exit_code, render_report, report_json
from pulse_tui.model import Finding, Snapshot
from pulse_tui.monitor.service import Monitor

DEFAULT_TIMEOUT_S = 120.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the `doctor` subcommand."""
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                        help="give up (exit 3) when one poll takes longer than this")


def _redact_text(text: str, config: Config) -> str:
    for secret in sorted(set(config.secret_values()), key=len, reverse=True):
        text = text.replace(secret, "«redacted»")
    return text


def _can_encode(stream: TextIO, text: str) -> bool:
    try:
        text.encode(getattr(stream, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _findings(config: Config, monitor: Monitor, snap: Snapshot) -> list[Finding]:
    # A monitor built without the doctor's hook has no findings in its snapshot: run the checks here instead.
    if getattr(monitor, "_findings", None) is None:
        return run_checks(config, snap)
    return redact(snap.findings, config.secret_values())


async def run(config: Config, monitor: Monitor, args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """Poll once (full), print the report or JSON, return 0/1/2/3. Prints no secret."""
    out = out if out is not None else sys.stdout
    timeout = float(getattr(args, "timeout", DEFAULT_TIMEOUT_S) or DEFAULT_TIMEOUT_S)
    as_json = bool(getattr(args, "json", False))
    try:
        snap = await asyncio.wait_for(monitor.poll(full=True), timeout)
    except Exception as exc:  # noqa: BLE001 - any failure of the poll itself means "could not check" (3)
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        reason = _redact_text(reason, config)
        if as_json:
            doc: dict[str, Any] = report_json([], could_check=False)
            doc["error"] = reason
            out.write(json.dumps(doc, indent=2) + "\n")
        else:
            out.write(render_report([], could_check=False, ascii=config.ascii) + f"  ({reason})\n")
        return EXIT_UNKNOWN
    findings = _findings(config, monitor, snap)
    checked = checked_groups(config, snap)
    code = exit_code(findings, True)
    if as_json:
        doc = report_json(findings, checked=checked)
        doc["gateway"] = {"kind": snap.gateway_kind, "url": snap.gateway_url, "health": snap.gateway.state.value}
        doc["redis"] = None if snap.redis is None else {"available": snap.redis.available}
        doc["keys"] = {"state": snap.keys.state, "detail": snap.keys.detail}
        text = json.dumps(doc, indent=2) + "\n"
    else:
        head = f"pulse-tui doctor: {snap.gateway_kind} gateway {snap.gateway_url}"
        if snap.redis is not None:
            head += f", Redis {'reachable' if snap.redis.available else 'unreachable'}"
            head += f", {len(snap.redis.sessions)} user session(s)"
        body = render_report(findings, ascii=config.ascii, checked=checked)
        if not config.ascii and not _can_encode(out, body):
            body = render_report(findings, ascii=True, checked=checked)
        text = head + "\n\n" + body
    out.write(_redact_text(text, config))
    return code
