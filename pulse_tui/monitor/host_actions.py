"""The host actions an operator confirms in the TUI: clear a stale profile lock, kill an orphaned browser,
restart the gateway under pm2. Each re-checks at the moment of acting and refuses in read-only mode."""

from __future__ import annotations

import asyncio

from pulse_tui.model import ActionResult
from pulse_tui.monitor.host import still_orphaned
from pulse_tui.monitor.service import Monitor
from pulse_tui.sources.locks import clear_lock_left_by, clear_stale_lock
from pulse_tui.sources.pm2 import restart_app
from pulse_tui.sources.procs import Outcome, kill_orphan


async def clear_lock(monitor: Monitor, session_id: str, *, read_only: bool) -> ActionResult:
    """Remove the session's stale SingletonLock (only if its pid is dead and on this host right now)."""
    obs = monitor.host_observation
    lock = next((lk for lk in (obs.locks if obs else ()) if lk.session_id == session_id), None)
    if lock is None:
        return ActionResult(False, f"no profile lock known for {session_id}")
    host = monitor.host
    result = await asyncio.to_thread(clear_stale_lock, lock.profile_dir, read_only=read_only,
                                     hostname=host.hostname if host else None)
    return ActionResult(result.ok, result.message)


async def kill_orphans(monitor: Monitor, session_id: str, *, read_only: bool) -> ActionResult:
    """Stop each browser tree of this session still orphaned when we act (SIGINT, SIGTERM, SIGKILL), then
    remove the lock it left if it still names the killed browser; the message says what was done."""
    obs = monitor.host_observation
    host = monitor.host
    trees = [o.tree for o in (obs.orphans if obs else ()) if o.session_id == session_id]
    if host is None or not trees:
        return ActionResult(False, f"no orphaned browser known for {session_id}")
    messages, ok = [], True
    for tree in trees:
        result = await kill_orphan(tree, lambda t: still_orphaned(host, monitor.gateway, t),
                                   read_only=read_only)
        message = result.message
        if result.outcome == Outcome.DONE:
            cleared = await asyncio.to_thread(clear_lock_left_by, tree.user_data_dir, tree.root_pid,
                                              read_only=read_only, hostname=host.hostname)
            message += f"; lock: {cleared.message}"
            ok = ok and cleared.ok
        ok = ok and result.ok
        messages.append(message)
    return ActionResult(ok, "; ".join(messages))


async def restart_gateway(app_name: str, *, read_only: bool) -> ActionResult:
    """`pm2 restart <app>`: every session drops to restoring, then comes back from its auth dir."""
    result = await restart_app(app_name, read_only=read_only)
    return ActionResult(result.ok, result.message)
