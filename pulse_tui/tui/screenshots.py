"""`make screenshots`: SVGs of the demo (main screen, QR view, disconnect modal, a failure, 80x24).

Runs the real demo world headless (embedded Redis, gateway simulator, log writers) and saves what an
operator would see; the README shows them.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from pulse_tui.demo import RESTORED_IDS, follower, start_world
from pulse_tui.model import ConnState
from pulse_tui.monitor.build import build_targets
from pulse_tui.tui.app import PulseApp
from pulse_tui.tui.qr_view import QrScreen

NEW_USER = "5b2e9d40-7c1a-4f3e-9a8b-6d5c4b3a2f10"


async def _until(pilot: object, cond: object, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():  # type: ignore[operator]
        if loop.time() > end:
            raise TimeoutError("the demo did not reach the expected state")
        await pilot.pause(0.2)  # type: ignore[attr-defined]


async def shoot(out: Path) -> None:
    """Drive the demo like an operator and save each screen."""
    world = start_world(auto_scan_s=None, drive=False, restore_interval_s=1.0)
    try:
        config = world.config
        targets = build_targets(config)
        app = PulseApp(config, targets.monitor, targets.gateway, host=targets.monitor, logs=follower(config))

        def state(sid: str) -> ConnState | None:
            s = app.snapshot.session(sid) if app.snapshot else None
            return s.state if s else None

        async with app.run_test(size=(150, 40)) as pilot:
            await _until(pilot, lambda: all(state(s) == ConnState.CONNECTED for s in RESTORED_IDS))
            await pilot.pause(2)
            app.main.conn_table.select_key(RESTORED_IDS[0])
            await pilot.pause(0.5)
            app.save_screenshot(str(out / "main.svg"))
            await pilot.press("d")
            await pilot.pause(0.5)
            app.save_screenshot(str(out / "disconnect-modal.svg"))
            await pilot.press("escape")
            targets.monitor.add_session(NEW_USER)
            app.poll_now()
            await _until(pilot, lambda: state(NEW_USER) is not None)
            app.main.conn_table.select_key(NEW_USER)
            await pilot.press("s")
            await pilot.pause(0.3)
            await pilot.press("y")
            await _until(pilot, lambda: isinstance(app.screen, QrScreen) and app.screen.attempt >= 1)
            await pilot.pause(0.5)
            app.save_screenshot(str(out / "qr.svg"))
            world.sim.scan(NEW_USER)
            await _until(pilot, lambda: not isinstance(app.screen, QrScreen))
            world.sim.set_fault("429", retry_after_s=600)
            world.redis.kill()
            await _until(pilot, lambda: app.snapshot is not None and app.snapshot.redis is not None
                         and not app.snapshot.redis.available and app.snapshot.gateway.state.value != "ok")
            await pilot.pause(1)
            app.save_screenshot(str(out / "failure.svg"))
        await targets.aclose()
    finally:
        world.close()
    world = start_world(auto_scan_s=None, drive=False, restore_interval_s=1.0)
    try:
        targets = build_targets(world.config)
        app = PulseApp(world.config, targets.monitor, targets.gateway, host=targets.monitor, logs=follower(world.config))
        async with app.run_test(size=(80, 24)) as pilot:
            await _until(pilot, lambda: state(RESTORED_IDS[1]) == ConnState.CONNECTED)
            await pilot.pause(1)
            app.save_screenshot(str(out / "main-80x24.svg"))
        await targets.aclose()
    finally:
        world.close()


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    asyncio.run(shoot(out))
    for f in sorted(out.glob("*.svg")):
        print(f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
