"""The app paints before its sources exist (`connect=`, as the demo runs it), then fills in; or takes the gateway's
sources built before it runs (`targets=`, as `pulse-tui` runs it) and completes them once the first rows are shown."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from dataclasses import replace
from pathlib import Path

from pulse_tui.config import Config
from pulse_tui.model import Snapshot
from pulse_tui.monitor.build import Targets
from pulse_tui.sim.gateway import GatewaySim
from pulse_tui.sim.redis_server import RedisServer
from pulse_tui.sources.logs.recent import RecentLines
from pulse_tui.tui.app import PulseApp
from pulse_tui.tui.help import HelpScreen
from pulse_tui.tui.run import connector
from tests.tui_helpers import API_KEY, UID_A, UID_B, make_sim, wait_for

SIZE = (140, 40)


def config_for(sim: GatewaySim, tmp_path: Path, redis_url: str | None, *, poll_seconds: float = 0.5) -> Config:
    return Config(gateway_url=sim.url, api_key=API_KEY, auth_dirs=(sim.auth_root,), redis_url=redis_url,
                  poll_seconds=poll_seconds, request_budget=10_000, audit_log=tmp_path / "audit.jsonl")


def header(app: PulseApp, which: str) -> str:
    return str(app.main.query_one(f"#hdr-{which}").content)


async def test_screen_is_usable_before_the_sources_exist_then_fills_in(tmp_path: Path) -> None:
    sim = make_sim(tmp_path)
    redis = RedisServer().start()
    release = threading.Event()
    built: list[Targets] = []
    real = connector(config_for(sim, tmp_path, redis.url), RecentLines())

    def connect() -> Targets:
        assert release.wait(10), "the test never released the connection"
        built.append(real())
        return built[-1]

    app = PulseApp(config_for(sim, tmp_path, redis.url), connect=connect)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause(0.2)
            # Painted and answering keys while the sources are still being built.
            assert not app.connected and app.snapshot is None
            assert "waiting for the first poll" in header(app, "gateway")
            assert sim.seen == [], "nothing asked of the gateway before the sources exist"
            await pilot.press("d")  # no rows yet: says so, asks nothing
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape")
            release.set()
            await wait_for(pilot, lambda: app.snapshot is not None and {UID_A, UID_B} <= set(app.main.conn_table.visible_keys()))
            assert app.connected and len(built) == 1
            await wait_for(pilot, lambda: "● ok" in header(app, "redis"))
            assert "● ok" in header(app, "gateway")
            await pilot.press("q")
        assert not app.is_running
        # The connection's own closer ran on the app's loop as it unmounted.
        assert app._on_close == built[0].aclose  # noqa: SLF001
    finally:
        release.set()
        redis.close()
        sim.stop()


async def test_sources_built_before_the_app_poll_as_it_loads_and_complete_after_the_rows(tmp_path: Path) -> None:
    sim = make_sim(tmp_path)
    redis = RedisServer().start()
    targets = connector(config_for(sim, tmp_path, redis.url), RecentLines())()
    assert targets.complete is not None and targets.redis is None  # the gateway's half only, as run_app builds it
    app = PulseApp(config_for(sim, tmp_path, redis.url), targets=targets, autopoll=False)
    assert app.connected and not app.sources_complete
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: {UID_A, UID_B} <= set(app.main.conn_table.visible_keys()))
            assert app.main.snap is app.snapshot  # the first poll's rows, shown by the screen it started beside
            await wait_for(pilot, lambda: app.sources_complete and "● ok" in header(app, "redis"))
            assert targets.complete is None and targets.redis is not None
            assert len(sim.seen) >= 1
            await pilot.press("q")
        assert app._on_close == targets.aclose  # noqa: SLF001
    finally:
        redis.close()
        sim.stop()


async def test_a_failed_set_up_is_shown_and_tried_again(tmp_path: Path) -> None:
    sim = make_sim(tmp_path)
    real = connector(config_for(sim, tmp_path, None), RecentLines())
    calls: list[int] = []

    def connect() -> Targets:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("first try fails")
        return real()

    app = PulseApp(config_for(sim, tmp_path, None, poll_seconds=0.3), connect=connect)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: any("Setting up the sources failed (OSError)" in str(n.message)
                                              for n in app._notifications))  # noqa: SLF001
            await wait_for(pilot, lambda: app.snapshot is not None and UID_A in set(app.main.conn_table.visible_keys()))
            assert len(calls) == 2
            await pilot.press("q")
    finally:
        sim.stop()


async def test_first_redis_report_is_shown_when_it_lands_without_another_poll(tmp_path: Path) -> None:
    sim = make_sim(tmp_path)
    redis = RedisServer().start()
    polls: list[Snapshot] = []
    real = connector(config_for(sim, tmp_path, redis.url), RecentLines())

    def connect() -> Targets:
        conn = real()
        poll = conn.engine.poll

        async def counted(*, full: bool = False) -> Snapshot:
            polls.append(await poll(full=full))
            return polls[-1]

        conn.engine.poll = counted  # type: ignore[method-assign]
        return conn

    # A long poll period: any Redis report on screen before it ends came without a new poll.
    app = PulseApp(config_for(sim, tmp_path, redis.url, poll_seconds=60), connect=connect)
    assert redis._proc is not None  # noqa: SLF001
    os.kill(redis._proc.pid, signal.SIGSTOP)  # noqa: SLF001 - Redis hangs: the first inspection outlives its poll
    try:
        async with app.run_test(size=SIZE) as pilot:
            # The first poll asks the gateway only; the second, once Redis is set up, starts its inspection.
            await wait_for(pilot, lambda: len(polls) == 2 and app.snapshot is not None)
            assert polls[0].redis_pending is True and polls[0].redis is None
            assert polls[1].redis_pending is True
            assert "checking" in header(app, "redis")
            os.kill(redis._proc.pid, signal.SIGCONT)  # noqa: SLF001
            await wait_for(pilot, lambda: "● ok" in header(app, "redis"))
            assert len(polls) == 2, "the report was shown without polling again"
            await pilot.press("q")
    finally:
        os.kill(redis._proc.pid, signal.SIGCONT)  # noqa: SLF001
        redis.close()
        sim.stop()
    await asyncio.sleep(0)


async def test_qr_command_through_connect_starts_scans_and_exits_0(tmp_path: Path) -> None:
    from pulse_tui.tui.qr_view import QrScreen
    from tests.tui_helpers import UID_C

    sim = make_sim(tmp_path)
    config = config_for(sim, tmp_path, None)
    app = PulseApp(config, connect=connector(config, RecentLines()), qr_session=UID_C)
    try:
        async with app.run_test(size=(120, 50)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, QrScreen) and app.screen.attempt >= 1)
            assert [p for m, p, _ in sim.seen if m == "POST"] == ["/session/start"]
            assert sim.scan(UID_C)
            await wait_for(pilot, lambda: not app.is_running)
        assert app.return_code == 0
    finally:
        sim.stop()


async def test_the_watchdog_waits_for_the_deferred_sources_and_checks(tmp_path: Path) -> None:
    # Its policy reads the doctor's key checks, which come with Redis once the first rows are on screen.
    sim = make_sim(tmp_path)
    config = replace(config_for(sim, tmp_path, None, poll_seconds=60), state_dir=tmp_path / "state")
    release = threading.Event()
    real = connector(config, RecentLines())

    def connect() -> Targets:
        conn = real()
        deferred = conn.complete
        assert deferred is not None

        def complete() -> None:
            assert release.wait(10), "the test never released the deferred sources"
            deferred()

        conn.complete = complete
        return conn

    app = PulseApp(config, connect=connect)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.snapshot is not None and UID_A in set(app.main.conn_table.visible_keys()))
            assert app.connected and not app.sources_complete
            assert app.snapshot.findings == ()  # the checks are not in yet: none claimed either way
            await pilot.press("W")
            await pilot.pause()
            assert app.watchdog is None
            assert any("Still connecting" in str(n.message) for n in app._notifications)  # noqa: SLF001
            release.set()
            await wait_for(pilot, lambda: app.sources_complete)
            await pilot.press("W")
            await wait_for(pilot, lambda: app.watchdog is not None and app.watchdog.enabled)
            await pilot.press("W")  # off again: releases its lock
            await pilot.press("q")
    finally:
        release.set()
        sim.stop()
