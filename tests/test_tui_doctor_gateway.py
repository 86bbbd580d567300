"""The TUI's doctor pane runs the gateway's own checks too (issue 16): WAHA Core 2024.10.8 over HTTP on
127.0.0.1, through the real `connector()` the app uses."""

from __future__ import annotations

import contextlib
from pathlib import Path

from textual.worker import WorkerCancelled

from pulse_tui.config import config_from_values
from pulse_tui.events import ChannelState
from pulse_tui.monitor.logs import RecentLines
from pulse_tui.sim.waha import WahaFlavor, WahaSim
from pulse_tui.tui.app import PulseApp
from pulse_tui.tui.details import findings_page
from pulse_tui.tui.run import connector
from tests.tui_helpers import rendered


async def test_doctor_pane_has_the_waha_checks(tmp_path: Path) -> None:
    sim = WahaSim(None, flavor=WahaFlavor.CORE_2024, action_delay_s=0.0)
    url = sim.start()
    try:
        config = config_from_values({"PULSE_TUI_GATEWAY": "waha", "PULSE_TUI_GATEWAY_URL": url,
                                     "PULSE_TUI_AUDIT_LOG": str(tmp_path / "audit.jsonl"),
                                     "XDG_STATE_HOME": str(tmp_path / "state")})
        app = PulseApp(config, connect=connector(config, RecentLines()), autopoll=False)
        async with app.run_test(size=(140, 40)) as pilot:
            snap = None
            for _ in range(50):  # the connection is built off the UI thread; its first poll probes the server
                with contextlib.suppress(WorkerCancelled):
                    await app.poll_now().wait()
                await pilot.pause(0.05)
                snap = app.snapshot
                if snap is not None and "waha-core-single-session" in {f.code for f in snap.findings}:
                    break
            assert snap is not None
            codes = {f.code for f in snap.findings}
            assert {"waha-no-api-key", "waha-core-single-session"} <= codes, codes
            assert "only the 'default' session can run" in rendered(findings_page(snap))
    finally:
        sim.stop()


def _evolution_app(url: str, tmp_path: Path, **env: str) -> PulseApp:
    """The app on an Evolution simulator through the real `connector()`, with Evolution's own variables."""
    config = config_from_values({"PULSE_TUI_GATEWAY": "evolution", "PULSE_TUI_GATEWAY_URL": url,
                                 "PULSE_TUI_AUDIT_LOG": str(tmp_path / "audit.jsonl"),
                                 "XDG_STATE_HOME": str(tmp_path / "state"), **env})
    return PulseApp(config, connect=connector(config, RecentLines()), autopoll=False)


async def test_doctor_pane_has_the_evolution_checks(tmp_path: Path) -> None:
    from pulse_tui.sim.evolution import EvolutionSim

    sim = EvolutionSim("BQYHJGJHJ", create_delay_s=0.0)
    url = sim.start()
    sim.add_instance("shop")
    try:
        app = _evolution_app(url, tmp_path, AUTHENTICATION_API_KEY="BQYHJGJHJ", DEL_INSTANCE="5")
        async with app.run_test(size=(140, 40)) as pilot:
            snap = None
            for _ in range(50):  # the connection is built off the UI thread: poll once it is there
                with contextlib.suppress(WorkerCancelled):
                    await app.poll_now().wait()
                snap = app.snapshot
                if snap is not None and snap.findings:
                    break
                await pilot.pause(0.05)
            assert snap is not None
            codes = {f.code for f in snap.findings}
            assert {"evolution-default-key", "evolution-del-instance"} <= codes, codes
            assert "BQYHJGJHJ" not in rendered(findings_page(snap))  # the key itself never on screen
    finally:
        sim.stop()


async def test_doctor_pane_sees_an_evolution_reconnect_loop_from_the_event_channel(tmp_path: Path) -> None:
    """The loop check counts `connection.update` events: the engine keeps the recent ones for the findings hook."""
    from pulse_tui.sim.evolution import EvolutionSim

    sim = EvolutionSim("k3y-for-the-loop-test", create_delay_s=0.0, qr_delay_s=0.02, step_s=0.02)
    url = sim.start()
    sim.add_instance("flappy", connect=True, paired=True)
    try:
        app = _evolution_app(url, tmp_path, AUTHENTICATION_API_KEY="k3y-for-the-loop-test", WEBSOCKET_ENABLED="true")
        async with app.run_test(size=(140, 40)) as pilot:
            for _ in range(100):  # connected, and the socket.io channel up
                with contextlib.suppress(WorkerCancelled):
                    await app.poll_now().wait()
                snap = app.snapshot
                if snap is not None and snap.events is not None and snap.events.state == ChannelState.CONNECTED:
                    break
                await pilot.pause(0.05)
            assert "evolution-reconnect-loop" not in {f.code for f in (app.snapshot.findings if app.snapshot else ())}
            for _ in range(12):  # each drop: connecting, then open again (two connection.update events)
                for _ in range(100):
                    if (sim.states("flappy") or ("",))[0] == "open":
                        break
                    await pilot.pause(0.02)
                assert sim.lose_connection("flappy")
            codes: set[str] = set()
            for _ in range(100):
                with contextlib.suppress(WorkerCancelled):
                    await app.poll_now().wait()
                codes = {f.code for f in (app.snapshot.findings if app.snapshot else ())}
                if "evolution-reconnect-loop" in codes:
                    break
                await pilot.pause(0.05)
            assert "evolution-reconnect-loop" in codes, codes
    finally:
        sim.stop()
