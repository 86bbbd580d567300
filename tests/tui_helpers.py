"""Shared pieces of the TUI tests: the real simulator, a real Redis, and an app built on them."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from textual.pilot import Pilot
from textual.worker import WorkerCancelled

from pulse_tui.audit import AuditLog
from pulse_tui.config import Config
from pulse_tui.doctor.checks import findings_for
from pulse_tui.monitor.build import Targets, build_targets
from pulse_tui.sim.engine import write_linked_profile
from pulse_tui.sim.gateway import GatewaySim
from pulse_tui.tui.app import PulseApp

API_KEY = "tui-test-key-5e1d07a2"
UID_A = "11111111-1111-4111-8111-111111111111"
UID_B = "22222222-2222-4222-8222-222222222222"
UID_C = "33333333-3333-4333-8333-333333333333"


def make_sim(tmp_path: Path, ids: tuple[str, ...] = (UID_A, UID_B), **opts: object) -> GatewaySim:
    root = tmp_path / ".wwebjs_auth"
    root.mkdir(exist_ok=True)
    for sid in ids:
        write_linked_profile(root / f"session-{sid}")
    opts.setdefault("start_delay_s", 0.1)
    opts.setdefault("restore_on_boot", False)
    opts.setdefault("rate_limit", 10_000)
    sim = GatewaySim(root, api_key=API_KEY, **opts)  # type: ignore[arg-type]
    sim.start()
    return sim


def make_app(sim: GatewaySim, tmp_path: Path, *, redis_url: str | None = None, read_only: bool = False,
             qr_session: str | None = None, budget: int = 10_000, log_lines: int = 10_000) -> tuple[PulseApp, Targets]:
    config = Config(gateway_url=sim.url, api_key=API_KEY, auth_dirs=(sim.auth_root,), redis_url=redis_url,
                    read_only=read_only, poll_seconds=0.5, request_budget=budget,
                    audit_log=tmp_path / "audit.jsonl", log_lines=log_lines)
    targets = build_targets(config, findings=findings_for(config))
    app = PulseApp(config, targets.monitor, targets.gateway, host=targets.monitor, audit=AuditLog(tmp_path / "audit.jsonl"),
                   qr_session=qr_session, autopoll=False)
    return app, targets


async def poll(app: PulseApp, pilot: Pilot[int]) -> None:
    """One poll, waited for, and its snapshot on screen."""
    with contextlib.suppress(WorkerCancelled):  # a newer poll (after an action) replaced it: fine
        await app.poll_now().wait()
    await pilot.pause()


async def wait_for(pilot: Pilot[int], cond: Callable[[], bool], timeout: float = 10.0,
                   app: PulseApp | None = None) -> None:
    """Poll (when an app is given) until `cond` holds; fails the test on timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        if app is not None:
            await poll(app, pilot)
        await pilot.pause(0.1)


def rendered(renderable: object, width: int = 400) -> str:
    """What a rich renderable shows at this width, as plain text (trailing spaces stripped)."""
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return "\n".join(line.rstrip() for line in console.export_text().splitlines())
