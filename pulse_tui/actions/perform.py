"""`perform()`: the one way any front end acts — re-checked at the moment of acting, read-only honoured, audited."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pulse_tui.actions.specs import Scope, spec_for
from pulse_tui.audit import AuditLog
from pulse_tui.model import ActionResult, SessionView
from pulse_tui.monitor import host_actions
from pulse_tui.monitor.service import Monitor
from pulse_tui.sources.gateway.base import Gateway
from pulse_tui.sources.gateway.capabilities import Capabilities


@dataclass(frozen=True)
class ActionContext:
    """What acting needs: the engine (its gateway, host probe and current snapshot), the audit log, the mode."""

    monitor: Monitor
    gateway: Gateway
    capabilities: Capabilities
    audit: AuditLog
    read_only: bool = False
    gateway_kind: str = ""


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
    return await host_actions.clear_lock(ctx.monitor, sid, read_only=ctx.read_only)


async def _kill_orphan(ctx: ActionContext, sid: str) -> ActionResult:
    return await host_actions.kill_orphans(ctx.monitor, sid, read_only=ctx.read_only)


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
    view = ctx.monitor.current().session(target) if spec.scope == Scope.SESSION else None
    refusal = spec.refusal(view, ctx.capabilities)
    if refusal is not None:
        error = await asyncio.to_thread(ctx.audit.record, name, target, False, f"refused: {refusal}",
                                        gateway=ctx.gateway_kind, reason=reason)
        return ActionOutcome(name, target, False, refusal, refused=True, audit_error=error, before=view)
    try:
        result = await EXECUTORS[name](ctx, target)
    except Exception as exc:  # noqa: BLE001 - sources return values; this is the last guard before the audit
        result = ActionResult(False, f"failed ({type(exc).__name__})")
    error = await asyncio.to_thread(ctx.audit.record, name, target, result.ok, result.message,
                                    gateway=ctx.gateway_kind, reason=reason)
    if spec.scope == Scope.SESSION:
        ctx.monitor.note_action(target, name, result.ok)
        if name == "start" and result.ok:
            ctx.monitor.add_session(target)
    return ActionOutcome(name, target, result.ok, result.message, audit_error=error, before=view)
