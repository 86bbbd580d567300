"""The action specs are the one source of keys, words and checks: the README, the screen's bindings and the
help screen follow them, and `perform()` re-checks, honours read-only and audits."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pulse_tui.actions import SPECS, Confirm, Scope, spec_for
from pulse_tui.actions.perform import ActionContext, perform
from pulse_tui.audit import AuditLog
from pulse_tui.clock import FakeClock
from pulse_tui.model import ConnState
from pulse_tui.sim.canned import CannedGateway, CannedSource
from tests.canned import IDS, T0, snapshot

README = Path(__file__).resolve().parent.parent / "README.md"


def _key_rows() -> dict[str, str]:
    """The README's Keys table: key -> the row's text."""
    section = README.read_text().split("## Keys", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"\| `([^`]+)` \|(.*)\|$", line)
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


def test_every_action_key_and_verb_is_in_the_readme_key_table() -> None:
    rows = _key_rows()
    assert len(rows) > 10, "the README's Keys table was not found"
    for spec in SPECS:
        assert spec.key in rows, f"README's Keys table has no row for {spec.key!r} ({spec.name})"
        assert spec.verb.lower() in rows[spec.key].lower(), f"README row {spec.key!r} does not say {spec.verb!r}"


def test_specs_are_unique_and_named_for_the_audit_log() -> None:
    assert len({s.name for s in SPECS}) == len({s.key for s in SPECS}) == len(SPECS) == 7
    assert spec_for("delete").confirm == Confirm.TYPE_ID and spec_for("restart-gateway").scope == Scope.GATEWAY
    with pytest.raises(KeyError):
        spec_for("format-disk")


def test_the_screen_binds_and_helps_from_the_specs() -> None:
    from pulse_tui.tui.help import help_text
    from pulse_tui.tui.main_screen import MainScreen

    bindings = {b.key: b for b in MainScreen.BINDINGS if not isinstance(b, tuple)}  # type: ignore[union-attr]
    text = help_text("/tmp/audit.jsonl", read_only=False)
    for spec in SPECS:
        b = bindings[spec.key]
        assert b.action == f"act({spec.name!r})" and b.description == spec.verb and b.show == spec.show
        assert f"  {spec.key:<12} {spec.help}" in text


def test_consequences_come_from_the_gateway_capabilities() -> None:
    caps = CannedGateway.capabilities
    snap = snapshot()
    sid = IDS[ConnState.CONNECTED]
    assert spec_for("stop").consequence(sid, snap.session(sid), caps) == caps.consequences.stop
    assert "DELETES" in caps.consequences.stop  # Salesboy's stop removes the auth dir
    assert spec_for("restart").refusal(snap.session(sid), caps) == "This gateway has no restart route."
    words = spec_for("kill-orphan").consequence(sid, snap.session(sid), caps)
    assert "SIGHUP" in words and "SIGTERM" in words and "SIGKILL" in words


def _ctx(tmp_path: Path, *, read_only: bool = False) -> tuple[ActionContext, Path]:
    path = tmp_path / "audit.jsonl"
    ctx = ActionContext(CannedSource(snapshot()), CannedGateway(), AuditLog(path, FakeClock(T0)),  # type: ignore[arg-type]
                        read_only=read_only)
    return ctx, path


def _audit(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_perform_acts_and_audits(tmp_path: Path) -> None:
    ctx, path = _ctx(tmp_path)
    sid = IDS[ConnState.CONNECTED]
    outcome = await perform("stop", sid, ctx)
    assert outcome.ok and not outcome.refused and outcome.before is not None and outcome.before.id == sid
    [entry] = _audit(path)
    assert entry["action"] == "stop" and entry["target"] == sid and entry["ok"] is True
    assert entry["gateway"] == "salesboy"


async def test_perform_rechecks_at_the_moment_of_acting(tmp_path: Path) -> None:
    ctx, path = _ctx(tmp_path)
    stopped = IDS[ConnState.STOPPED]
    outcome = await perform("stop", stopped, ctx)
    assert outcome.refused and not outcome.ok and "no running client" in outcome.message
    [entry] = _audit(path)
    assert entry["ok"] is False and str(entry["message"]).startswith("refused:")
    restart = await perform("restart", IDS[ConnState.CONNECTED], ctx)
    assert restart.refused and "no restart route" in restart.message


async def test_perform_in_read_only_mode_does_nothing(tmp_path: Path) -> None:
    ctx, path = _ctx(tmp_path, read_only=True)
    outcome = await perform("stop", IDS[ConnState.CONNECTED], ctx)
    assert outcome.refused and "read-only" in outcome.message
    assert _audit(path) == []


async def test_host_actions_without_a_host_probe_fail_plainly(tmp_path: Path) -> None:
    ctx, path = _ctx(tmp_path)
    stale = IDS[ConnState.STUCK]  # the canned session with a stale lock: the check passes, the act cannot
    assert snapshot().session(stale).lock == "stale"  # type: ignore[union-attr]
    outcome = await perform("clear-lock", stale, ctx)
    assert not outcome.ok and not outcome.refused and outcome.message == "no host probe in this view"
    assert _audit(path)[-1]["action"] == "clear-lock"
