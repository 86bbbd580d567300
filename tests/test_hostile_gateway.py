"""Issue 13 items 2-3: a hostile gateway (tests/hostile_http.py) never hangs or blinds pulse-tui.

Every call ends within its total deadline with a typed failure naming why; one malformed answer fails that
call only, and Redis still reports through the same monitor, in `status --json` and in the TUI.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pulse_tui.config import Config
from pulse_tui.model import FailureKind, GatewayFailure, HealthState, RedisReport, SessionStatus
from pulse_tui.monitor.build import build_targets
from pulse_tui.sources.gateway import SalesboyGateway, Timeouts
from pulse_tui.sources.gateway.budget import MAX_WAIT_S
from pulse_tui.tui.app import PulseApp
from tests.hostile_http import HostileServer

UID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
SHORT = Timeouts(connect_s=1.0, status_s=1.0, action_s=1.0)
CEILING_S = 30.0  # far above every deadline here: reaching it means a hang, not a slow machine

EXPECTED = {
    "drip": FailureKind.DEADLINE,
    "silent": FailureKind.DEADLINE,
    "no-body": FailureKind.DEADLINE,
    "endless": FailureKind.TOO_LARGE,
    "huge": FailureKind.TOO_LARGE,
    "huge-undeclared": FailureKind.TOO_LARGE,
    "deep": FailureKind.MALFORMED,
    "deep-object": FailureKind.MALFORMED,
    "nan": FailureKind.MALFORMED,
    "inf": FailureKind.MALFORMED,
    "bigint": FailureKind.MALFORMED,
    "shape": FailureKind.MALFORMED,
    "wrong-types": FailureKind.MALFORMED,
    "not-utf8": FailureKind.MALFORMED,
}
MALFORMED = [m for m, k in EXPECTED.items() if k == FailureKind.MALFORMED]


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with HostileServer() as srv:
        yield srv


@pytest.fixture
def auth_root(tmp_path: Path) -> Path:
    root = tmp_path / ".wwebjs_auth"
    (root / f"session-{UID}").mkdir(parents=True)
    return root


@pytest.mark.parametrize("mode", sorted(EXPECTED))
async def test_each_hostile_answer_is_a_typed_failure_of_that_call(hostile: HostileServer, mode: str) -> None:
    hostile.mode = mode
    g = SalesboyGateway(hostile.url, "k", timeouts=SHORT)
    try:
        health = await asyncio.wait_for(g.health(), CEILING_S)
        status = await asyncio.wait_for(g.status(UID), CEILING_S)
    finally:
        await g.aclose()
    # /health has the smallest cap (16 KiB): `[` x100000 is refused there for its size before its depth.
    assert health.state != HealthState.OK and health.failure_kind in (EXPECTED[mode], FailureKind.TOO_LARGE), health
    assert isinstance(status, GatewayFailure) and status.kind == EXPECTED[mode], status
    assert hostile.requests >= 2
    if EXPECTED[mode] == FailureKind.DEADLINE:
        assert "within 1s" in status.detail
    if EXPECTED[mode] == FailureKind.TOO_LARGE:
        assert "larger than" in status.detail


async def test_lying_rate_limit_headers_are_ignored_not_fatal(hostile: HostileServer) -> None:
    hostile.mode = "lying-headers"
    g = SalesboyGateway(hostile.url, "k", timeouts=SHORT)
    try:
        health = await g.health()
        status = await g.status(UID)
        assert health.state == HealthState.OK and isinstance(status, SessionStatus)
        assert g.budget_snapshot() == (98, 100)  # our own count; the server's nonsense is not believed
        hostile.mode = "lying-429"
        limited = await g.status(UID)
        assert isinstance(limited, GatewayFailure) and limited.state == HealthState.RATE_LIMITED
        assert limited.retry_after_s is not None and 0 < limited.retry_after_s <= MAX_WAIT_S
        assert g.budget.blocked_for() <= MAX_WAIT_S
    finally:
        await g.aclose()


@pytest.mark.parametrize("mode", [*MALFORMED, "drip", "huge", "lying-headers", "lying-429"])
async def test_monitor_still_reports_redis_when_the_gateway_answer_is_hostile(
    hostile: HostileServer, auth_root: Path, redis_url: str, mode: str
) -> None:
    hostile.mode = mode
    config = Config(gateway_url=hostile.url, api_key="k", auth_dirs=(auth_root,), redis_url=redis_url)
    targets = build_targets(config, host=False)
    try:
        snap = await asyncio.wait_for(targets.monitor.poll(full=True), CEILING_S)
    finally:
        await targets.aclose()
    assert snap.redis is not None and snap.redis.available, snap.redis
    assert snap.session(UID) is not None
    if mode == "lying-headers":
        assert snap.gateway.state == HealthState.OK
    else:
        assert snap.gateway.state != HealthState.OK and snap.gateway.detail
        assert "RecursionError" not in snap.gateway.detail and "OverflowError" not in snap.gateway.detail


class Exploding(SalesboyGateway):
    """A gateway adapter with a bug: its status call raises."""

    async def status(self, session_id: str) -> SessionStatus | GatewayFailure:
        raise RecursionError("maximum recursion depth exceeded")


class ExplodingRedis:
    async def inspect(self) -> RedisReport:
        raise OverflowError("cannot convert float infinity to integer")


async def test_an_unexpected_exception_in_one_source_is_that_sources_state(
    hostile: HostileServer, auth_root: Path, redis_url: str
) -> None:
    config = Config(gateway_url=hostile.url, api_key="k", auth_dirs=(auth_root,), redis_url=redis_url)
    targets = build_targets(config, host=False)
    bad = Exploding(hostile.url, "k", auth_roots=[auth_root], timeouts=SHORT)
    targets.monitor.gateway = bad
    try:
        snap = await targets.monitor.poll(full=True)
        assert snap.gateway.state == HealthState.ERROR and snap.gateway.failure_kind == FailureKind.INTERNAL
        assert "RecursionError" in snap.gateway.detail  # the type, so the operator can report it
        assert snap.redis is not None and snap.redis.available

        targets.monitor.gateway = targets.gateway
        targets.monitor.redis = ExplodingRedis()
        targets.monitor._gw_backoff.success()  # noqa: SLF001 - skip the backoff the first failure started
        snap = await targets.monitor.poll(full=True)
        assert snap.redis is not None and not snap.redis.available and "OverflowError" in snap.redis.error
        assert snap.gateway.state == HealthState.OK
    finally:
        await bad.aclose()
        await targets.aclose()


def run_status(url: str, env_extra: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_TUI_", "REDIS_", "ENCRYPTION_"))}
    env.update({"PULSE_TUI_GATEWAY_URL": url, "API_SECRET_KEY": "k", **env_extra})
    return subprocess.run([sys.executable, "-m", "pulse_tui", "status", "--json"], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120)


@pytest.mark.parametrize(("mode", "kinds"), [
    ("drip", ("deadline",)),
    ("nan", ("malformed",)),
    ("huge", ("too-large",)),
    # the status call finds it too deep, then /health (16 KiB cap) too large: either is the truth
    ("deep", ("malformed", "too-large")),
])
def test_status_json_returns_with_the_gateways_typed_state(
    hostile: HostileServer, auth_root: Path, redis_url: str, tmp_path: Path, mode: str, kinds: tuple[str, ...]
) -> None:
    hostile.mode = mode
    out = run_status(hostile.url, {"REDIS_URL": redis_url, "PULSE_TUI_AUTH_DIR": str(auth_root)}, tmp_path)
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    doc = json.loads(out.stdout)
    assert doc["gateway"]["health"] in ("down", "error")
    assert doc["gateway"]["failure"] in kinds
    assert doc["redis"]["available"] is True
    assert [s["id"] for s in doc["sessions"]] == [UID]


async def test_tui_leaves_waiting_for_the_first_poll_with_a_message(hostile: HostileServer, auth_root: Path,
                                                                    tmp_path: Path) -> None:
    hostile.mode = "drip"
    config = Config(gateway_url=hostile.url, api_key="k", auth_dirs=(auth_root,), poll_seconds=0.5,
                    audit_log=tmp_path / "audit.jsonl")
    targets = build_targets(config, host=False)
    app = PulseApp(config, targets.monitor, targets.gateway, host=targets.monitor, autopoll=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await asyncio.wait_for(app.poll_now().wait(), CEILING_S)
        await pilot.pause()
        text = str(app.main.query_one("#hdr-gateway").content)
        assert "waiting for the first poll" not in text
        assert "down" in text and "no answer" in text and "whole" in text
        hostile.mode = "nan"
        targets.monitor._gw_backoff.success()  # noqa: SLF001 - ask again now rather than after the backoff
        await asyncio.wait_for(app.poll_now().wait(), CEILING_S)
        await pilot.pause()
        text = str(app.main.query_one("#hdr-gateway").content)
        assert "error" in text and "not usable JSON" in text
        hostile.mode = "deep"  # `[` x100000: once "Poll failed (RecursionError)" on every poll
        targets.monitor._gw_backoff.success()  # noqa: SLF001
        await asyncio.wait_for(app.poll_now().wait(), CEILING_S)
        await pilot.pause()
        assert "error" in str(app.main.query_one("#hdr-gateway").content)
        assert not any("Poll failed" in n.message for n in app._notifications)  # noqa: SLF001
        await pilot.press("q")
    await targets.aclose()


@pytest.mark.parametrize(("fault", "kind"), [("drip", FailureKind.DEADLINE), ("deep", FailureKind.MALFORMED),
                                             ("lying-headers", None)])
async def test_simulator_fault_switches_for_hostile_answers(auth_root: Path, fault: str,
                                                            kind: FailureKind | None) -> None:
    from pulse_tui.sim.gateway import GatewaySim

    with GatewaySim(auth_root, api_key="k", start_delay_s=0.1, restore_on_boot=False) as sim:
        sim.set_fault(fault)
        g = SalesboyGateway(sim.url, "k", auth_roots=[auth_root], timeouts=SHORT)
        try:
            got = await asyncio.wait_for(g.status(UID), CEILING_S)
            if kind is None:
                assert isinstance(got, SessionStatus) and g.budget_snapshot() == (99, 100)
            else:
                assert isinstance(got, GatewayFailure) and got.kind == kind
        finally:
            await g.aclose()


async def test_qr_stream_headers_have_a_deadline(hostile: HostileServer) -> None:
    hostile.mode = "silent"
    g = SalesboyGateway(hostile.url, "k", timeouts=SHORT, sse_retry_s=0.1)
    stream = g.qr_stream(UID)
    try:
        first = await asyncio.wait_for(anext(stream), CEILING_S)
        assert isinstance(first, GatewayFailure) and first.kind == FailureKind.DEADLINE
    finally:
        await stream.aclose()
        await g.aclose()


async def test_qr_stream_that_never_finishes_an_event_is_reopened(hostile: HostileServer) -> None:
    hostile.mode = "sse-drip"
    g = SalesboyGateway(hostile.url, "k", timeouts=SHORT, sse_silence_s=1.0, sse_retry_s=0.1)
    stream = g.qr_stream(UID)
    task = asyncio.create_task(anext(stream))
    try:
        for _ in range(int(CEILING_S * 10)):
            if hostile.requests >= 2:
                break
            await asyncio.sleep(0.1)
        assert hostile.requests >= 2, "the dripping stream was never given up"
        assert not task.done()  # nothing to show: no code, and no failure either (a quiet reconnect)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await stream.aclose()
        await g.aclose()
