"""`pulse-tui doctor`: one full poll, every check, a report (or JSON) on stdout, a monitoring-plugin exit code."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any, TextIO

from pulse_tui.config import Config
from pulse_tui.doctor.checks import check_failed, checked_groups, group_of, redact, run_checks
from pulse_tui.doctor.checks_gateways import gateway_fact_findings
from pulse_tui.doctor.options import DEFAULT_TIMEOUT_S
from pulse_tui.doctor.report import exit_code, render_report, report_json, visible_lines
from pulse_tui.model import Finding, GatewayHealth, HealthState, RedisReport, Severity, Snapshot
from pulse_tui.monitor.service import Monitor, keys_status

if TYPE_CHECKING:
    from pulse_tui.monitor.build import Targets

FALLBACK_MIN_S = 5.0  # the Redis read after a failed poll gets at least this long (the inspector's own timeouts)


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


def _findings(config: Config, snap: Snapshot) -> list[Finding]:
    """The snapshot's findings plus every check it lacks: a monitor built without the doctor's hook has only its
    host findings, so the checks run here; codes the hook already produced are not repeated."""
    have = redact(snap.findings, config.secret_values())
    codes = {f.code for f in have}
    return have + [f for f in run_checks(config, snap) if f.code not in codes]


async def _gateway_facts(config: Config, targets: Targets, timeout: float) -> list[Finding]:
    """WAHA's and Evolution's own checks over the adapter's facts; a failure costs the gateway group only."""
    monitor = targets.monitor
    try:
        found = await asyncio.wait_for(
            gateway_fact_findings(targets.gateway, config.evolution, monitor.clock.now(), monitor.recent_events()),
            timeout)
    except Exception as exc:  # noqa: BLE001 - a hostile answer must not hide the rest of the report
        found = [check_failed("gateway", exc)]
    return redact(found, config.secret_values())


def _reason(exc: BaseException, config: Config) -> str:
    if isinstance(exc, TimeoutError):
        return "the poll did not finish in time"
    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return _redact_text(reason.splitlines()[0][:200], config)


async def _fallback(config: Config, monitor: Monitor, reason: str, timeout: float) -> tuple[Snapshot, list[Finding]]:
    """When the full poll failed: Redis and the keys are still checked on their own (a sick gateway must not hide
    them), and the gateway gets a "could not check" finding."""
    report: RedisReport | None = None
    found: list[Finding] = []
    if monitor.redis is not None:
        try:
            report = await asyncio.wait_for(monitor.redis.inspect(), max(FALLBACK_MIN_S, timeout))
        except Exception as exc:  # noqa: BLE001 - the Redis read failing too is a finding, not a crash
            found.append(Finding(Severity.UNKNOWN, "redis-could-not-check",
                                 f"Redis could not be read ({_reason(exc, config)}).", "Run the doctor again."))
    snap = Snapshot(
        taken_at=monitor.clock.now(),
        gateway_kind=str(config.gateway_kind),
        gateway_url=config.gateway_url,
        gateway=GatewayHealth(HealthState.UNKNOWN, detail=f"could not check: {reason}"),
        sessions=(),
        redis=report,
        keys=keys_status(report),
    )
    found.append(Finding(Severity.UNKNOWN, "gateway-could-not-check",
                         f"The gateway and its sessions could not be checked: {reason}.",
                         "Check that the gateway answers (`curl` its /health); the Redis and key checks below "
                         "ran without it."))
    skipped = ("gateway", "sessions")
    found += [f for f in run_checks(config, snap) if group_of(f.code) not in skipped]
    return snap, redact(found, config.secret_values())


async def run(config: Config, targets: Targets, args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """Poll once (full), print the report or JSON, return 0/1/2/3. Prints no secret.

    A poll that fails or times out still gives the Redis and key checks; 3 only when no source could be read.
    """
    out = out if out is not None else sys.stdout
    monitor = targets.monitor
    timeout = float(getattr(args, "timeout", DEFAULT_TIMEOUT_S) or DEFAULT_TIMEOUT_S)
    as_json = bool(getattr(args, "json", False))
    failure = ""
    try:
        snap = await asyncio.wait_for(monitor.poll(full=True), timeout)
        findings = _findings(config, snap)
        codes = {f.code for f in findings}
        findings += [f for f in await _gateway_facts(config, targets, timeout) if f.code not in codes]
        checked = checked_groups(config, snap)
    except Exception as exc:  # noqa: BLE001 - any failure of the poll is "could not check" for the gateway only
        failure = _reason(exc, config)
        snap, findings = await _fallback(config, monitor, failure, timeout)
        checked = tuple(g for g in checked_groups(config, snap) if g not in ("gateway", "sessions"))
        if snap.redis is None:
            checked = tuple(g for g in checked if g != "redis")
    could_check = not failure or snap.redis is not None
    code = exit_code(findings, could_check)
    if as_json:
        doc: dict[str, Any] = report_json(findings, checked=checked, could_check=could_check)
        doc["gateway"] = {"kind": snap.gateway_kind, "url": snap.gateway_url, "health": snap.gateway.state.value}
        doc["redis"] = None if snap.redis is None else {"available": snap.redis.available}
        doc["keys"] = {"state": snap.keys.state, "detail": snap.keys.detail}
        if failure:
            doc["error"] = failure
        text = json.dumps(doc, indent=2) + "\n"
    else:
        head = f"pulse-tui doctor: {snap.gateway_kind} gateway {snap.gateway_url}"
        if failure:
            head += f" could not be polled ({failure})"
        if snap.redis is not None:
            head += f", Redis {'reachable' if snap.redis.available else 'unreachable'}"
            head += f", {len(snap.redis.sessions)} user session(s)"
        body = render_report(findings, ascii=config.ascii, checked=checked, could_check=could_check)
        if not config.ascii and not _can_encode(out, body):
            body = render_report(findings, ascii=True, checked=checked, could_check=could_check)
        text = visible_lines(head) + "\n\n" + body
    out.write(_redact_text(text, config))
    return code
