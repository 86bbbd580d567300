"""Host actions from the keyboard, with real stand-in browser processes and real lock symlinks."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
from textual.pilot import Pilot

from pulse_tui.model import ConnState
from pulse_tui.sim.browsers import make_foreign_lock
from pulse_tui.sim.gateway import GatewaySim
from pulse_tui.tui.app import PulseApp
from pulse_tui.tui.confirm import ConfirmScreen
from tests.tui_helpers import UID_A, UID_B, make_app, make_sim, wait_for

SIZE = (140, 40)


def view(app, sid):  # type: ignore[no-untyped-def]
    return app.snapshot.session(sid) if app.snapshot else None


@contextlib.asynccontextmanager
async def connected(tmp_path: Path, sid: str, *, read_only: bool = False,
                    ) -> AsyncIterator[tuple[GatewaySim, PulseApp, Pilot[int]]]:
    """A simulator with real stand-in browsers, `sid` started, and the app running once `sid` shows connected."""
    sim = make_sim(tmp_path, browsers=True)
    try:
        sim.engine.start(sid)
        app, targets = make_app(sim, tmp_path, read_only=read_only)
        try:
            async with app.run_test(size=SIZE) as pilot:
                await wait_for(pilot, lambda: view(app, sid) is not None
                               and view(app, sid).state == ConnState.CONNECTED, app=app)
                yield sim, app, pilot
        finally:
            await targets.aclose()
    finally:
        sim.stop()


async def test_clear_stale_lock_then_start(tmp_path: Path) -> None:
    async with connected(tmp_path, UID_A) as (sim, app, pilot):
        dead = sim.leave_stale_lock(UID_A)
        lock = sim.auth_root / f"session-{UID_A}" / "SingletonLock"
        assert os.path.islink(lock) and not psutil.pid_exists(dead)
        await wait_for(pilot, lambda: view(app, UID_A).lock == "stale", app=app)
        assert "stale-lock" in view(app, UID_A).flags
        app.main.conn_table.select_key(UID_A)
        await pilot.press("L")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and app.screen.target == UID_A
        await pilot.press("escape")
        await pilot.pause()
        assert os.path.islink(lock), "cancel must leave the lock"
        await pilot.press("L")
        await pilot.pause()
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and "now?" in app.screen.title_text)
        assert not os.path.lexists(lock)
        await pilot.press("y")  # the offered start
        await wait_for(pilot, lambda: view(app, UID_A).state == ConnState.CONNECTED, app=app)


async def test_kill_orphaned_browser(tmp_path: Path) -> None:
    async with connected(tmp_path, UID_B) as (sim, app, pilot):
        pid = sim.leave_orphan(UID_B)
        assert pid is not None and psutil.pid_exists(pid)
        await wait_for(pilot, lambda: bool(view(app, UID_B).orphans), timeout=20, app=app)
        app.main.conn_table.select_key(UID_B)
        await pilot.press("K")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and str(pid) in app.screen.consequence
        assert "SIGHUP" in app.screen.consequence and "PSS" in app.screen.consequence
        await pilot.press("y")
        await wait_for(pilot, lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie",
                       timeout=20)
        # asked to exit with SIGHUP, the browser removed its own lock: the session is not left stale-locked
        assert not os.path.lexists(sim.auth_root / f"session-{UID_B}" / "SingletonLock")


async def test_a_foreign_lock_is_never_cleared_from_the_tui(tmp_path: Path) -> None:
    async with connected(tmp_path, UID_A) as (sim, app, pilot):
        sim.leave_stale_lock(UID_A)
        lock = sim.auth_root / f"session-{UID_A}" / "SingletonLock"
        make_foreign_lock(lock.parent, host="old-container")  # a container restarted with a new hostname
        await wait_for(pilot, lambda: view(app, UID_A).lock == "foreign", app=app)
        assert "foreign-lock" in view(app, UID_A).flags
        assert app.snapshot is not None and app.snapshot.host is not None
        assert app.snapshot.host.foreign_locks == 1
        app.main.conn_table.select_key(UID_A)
        await pilot.press("L")
        await pilot.pause()
        assert app.screen is app.main  # no dialog: only the operator, by hand, knows the other host is idle
        assert os.readlink(lock).startswith("old-container-")


async def test_read_only_refuses_host_actions(tmp_path: Path) -> None:
    async with connected(tmp_path, UID_A, read_only=True) as (sim, app, pilot):
        sim.leave_stale_lock(UID_A)
        await wait_for(pilot, lambda: view(app, UID_A).lock == "stale", app=app)
        app.main.conn_table.select_key(UID_A)
        for key in ("L", "K", "R"):
            await pilot.press(key)
            await pilot.pause()
            assert app.screen is app.main
        assert os.path.lexists(sim.auth_root / f"session-{UID_A}" / "SingletonLock")
