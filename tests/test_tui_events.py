"""The TUI on a gateway that pushes events (WAHA's websocket on 127.0.0.1): the header says events are in use and
a state change reaches the table without a poll."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.worker import WorkerCancelled

from pulse_tui.config import config_from_values
from pulse_tui.model import ConnState
from pulse_tui.monitor.logs import RecentLines
from pulse_tui.sim.waha import WahaSim
from pulse_tui.tui.app import PulseApp
from pulse_tui.tui.run import connector

KEY = "waha-tui-key-0b1c"


@pytest.fixture
def sim() -> Iterator[WahaSim]:
    s = WahaSim(KEY, sessions=("alpha",), action_delay_s=0.05, start_delay_s=0.05, ready_delay_s=0.05,
                qr_wait_s=0.3, auto_scan_s=0.2)
    s.start()
    yield s
    s.stop()


async def test_events_move_the_table_without_a_poll(sim: WahaSim, tmp_path: Path) -> None:
    config = config_from_values({"PULSE_TUI_GATEWAY": "waha", "PULSE_TUI_GATEWAY_URL": sim.url,
                                 "WAHA_API_KEY": KEY, "PULSE_TUI_AUDIT_LOG": str(tmp_path / "audit.jsonl"),
                                 "XDG_STATE_HOME": str(tmp_path / "state")})
    app = PulseApp(config, connect=connector(config, RecentLines()), autopoll=False)
    async with app.run_test(size=(140, 40)) as pilot:
        with contextlib.suppress(WorkerCancelled):  # the app's own first poll may replace this one: fine
            await app.poll_now().wait()
        loop = asyncio.get_running_loop()

        async def until(cond: object, what: str) -> None:
            deadline = loop.time() + 10.0  # generous: the machine is shared; the latency is in bench/events.py
            while not cond():  # type: ignore[operator]
                assert loop.time() < deadline, what
                await pilot.pause(0.05)

        def header() -> str:
            return str(app.main.query_one("#hdr-gateway").content)

        def state() -> ConnState | None:
            s = app.snapshot.session("alpha") if app.snapshot else None
            return s.state if s else None

        await until(lambda: "· events" in header(), "the header says the event channel is in use")
        # autopoll is off: from here on nothing polls, so only the channel can move the table
        await until(lambda: state() is not None, "alpha listed")
        started = await app.gateway.start("alpha")  # the phone "scans" by itself (auto_scan_s)
        assert started.ok, started.message
        await until(lambda: state() == ConnState.CONNECTED, "alpha connected (announced by the channel)")
        assert sim.unlink("alpha")
        await until(lambda: state() == ConnState.STOPPED, "the unlink reached the table without a poll")
        s = app.snapshot.session("alpha") if app.snapshot else None
        assert s is not None and s.gateway_word == "FAILED"
