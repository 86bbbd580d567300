"""`perform()`: the one way any front end acts — re-checked at the moment of acting, read-only honoured, audited."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from pulse_tui.actions.specs import Scope, spec_for
from pulse_tui.audit import AuditLog
from pulse_tui.model import ActionResult, SessionView, Snapshot
from pulse_tui.monitor import host_actions
from pulse_tui.monitor.service import Monitor
from pulse_tui.sources.gateway.base import Gateway
from pulse_tui.sources.gateway.capabilities import Capabilities


class ActionEngine(Protocol):
    """What acting needs of the engine: the state now (for the re-check) and where to note what was done."""

    def current(self) -> Snapshot: ...
    def note_action(self, session_id: str, action: str, ok: bool) -> None: ...
    def add_session(self, session_id: str) -> None: ...


@dataclass(frozen=True)
class ActionContext:
    """What acting needs: the engine, its gateway, the host probe (None where there is none), the audit log."""

    engine: ActionEngine
    gateway: Gateway
    audit: AuditLog
    host: Monitor | None = None  # the Monitor that probes this host (locks, orphans); None in canned views
    read_only: bool = False
    capabilities_override: Capabilities | None = None  # tests of a policy under other capabilities

    @property
    def capabilities(self) -> Capabilities:
        """What the gateway can do (its adapter's declaration unless overridden)."""
        return self.capabilities_override or self.gateway.capabilities


@dataclass(frozen=True)
class ActionOutcome:
    """What happened: `refused` when nothing was attempted (read-only, or the re-check said no)."""

    action: str
    target: str
    ok: bool
    message: str
    refused: bool = False
    audit_error: str | None = None
    before: SessionView | None = None  # the session as it was when the action was checked


Executor = Callable[[ActionContext, str], Awaitable[ActionResult]]


async def _start(ctx: ActionContext, sid: str) -> ActionResult:
    return await ctx.gateway.start(sid)


async def _stop(ctx: ActionContext, sid: str) -> ActionResult:
    return await ctx.gateway.stop(sid)


async def _restart(ctx: ActionContext, sid: str) -> ActionResult:
    return await ctx.gateway.restart(sid)


async def _delete(ctx: ActionContext, sid: str) -> ActionResult:
    return await ctx.gateway.delete(sid)


async def _clear_lock(ctx: ActionContext, sid: str) -> ActionResult:
    if ctx.host is None:
        return ActionResult(False, "no host probe in this view")
    return await host_actions.clear_lock(ctx.host, sid, read_only=ctx.read_only)


async def _kill_orphan(ctx: ActionContext, sid: str) -> ActionResult:
    if ctx.host is None:
        return ActionResult(False, "no host probe in this view")
    return await host_actions.kill_orphans(ctx.host, sid, read_only=ctx.read_only)


async def _restart_gateway(ctx: ActionContext, app: str) -> ActionResult:
    return await host_actions.restart_gateway(app, read_only=ctx.read_only)


EXECUTORS: dict[str, Executor] = {
    "start": _start, "stop": _stop, "restart": _restart, "delete": _delete,
    "clear-lock": _clear_lock, "kill-orphan": _kill_orphan, "restart-gateway": _restart_gateway,
}


async def perform(name: str, target: str, ctx: ActionContext, *, reason: str = "operator") -> ActionOutcome:
    """Run action `name` on `target` (a session id, or the pm2 app for gateway actions) and audit it."""
    spec = spec_for(name)
    if ctx.read_only:
        return ActionOutcome(name, target, False, "read-only mode: nothing was done", refused=True)
    view = ctx.engine.current().session(target) if spec.scope == Scope.SESSION else None
    refusal = spec.refusal(view, ctx.capabilities)
    if refusal is not None:
        error = await asyncio.to_thread(ctx.audit.record, name, target, False, f"refused: {refusal}",
                                        gateway=ctx.gateway.kind, reason=reason)
        return ActionOutcome(name, target, False, refusal, refused=True, audit_error=error, before=view)
    try:
        result = await EXECUTORS[name](ctx, target)
    except Exception as exc:  # noqa: BLE001 - sources return values; this is the last guard before the audit
        result = ActionResult(False, f"failed ({type(exc).__name__})")
    error = await asyncio.to_thread(ctx.audit.record, name, target, result.ok, result.message,
                                    gateway=ctx.gateway.kind, reason=reason)
    if spec.scope == Scope.SESSION:
        ctx.engine.note_action(target, name, result.ok)
        if name == "start" and result.ok:
            ctx.engine.add_session(target)
    return ActionOutcome(name, target, result.ok, result.message, audit_error=error, before=view)
