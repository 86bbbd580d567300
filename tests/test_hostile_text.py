"""Hostile text never reaches the terminal raw: every renderer, fed the corpus through the real sources.

Session ids come from auth-dir names (the real simulator's root), Redis keys and profile names from the real
redis-server, log lines from a real file through the follower, and the pm2 app name from the configuration;
gateway error details and pm2 names that need a live pm2 come in a canned snapshot. The screen is read as the
terminal would get it (the compositor's full update, as `export_screenshot` renders it) and `status --once`
as a subprocess's stdout.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import redis
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from textual.pilot import Pilot

from pulse_tui.audit import AuditLog
from pulse_tui.cli import path_checks
from pulse_tui.config import Config
from pulse_tui.doctor.checks import findings_for
from pulse_tui.model import Finding, GatewayHealth, HealthState, Pm2Summary, Severity
from pulse_tui.monitor.build import build_targets
from pulse_tui.sanitize import has_unsafe, visible
from pulse_tui.sources.logs.follower import LogFollower
from pulse_tui.tui.app import PulseApp
from pulse_tui.tui.confirm import ConfirmScreen, TypeToConfirm
from pulse_tui.tui.main_screen import MIN_HEIGHT, MIN_WIDTH
from tests.canned import canned_app, snapshot
from tests.hostile.strings import ALL, MARKUP_BOLD, MARKUP_COLOUR, MARKUP_LINK, SAFE_NAMES, raw_control
from tests.tui_helpers import API_KEY, UID_A, make_sim, poll, wait_for

SIZE = (170, 50)


def screen_text(app: PulseApp) -> str:
    """What the terminal is sent for the whole screen, as plain text (the way export_screenshot renders it)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True, color_system="truecolor",
                      record=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))  # noqa: SLF001
    return console.export_text(styles=False)


def assert_clean(text: str, where: str) -> None:
    bad = [line for line in text.split("\n") if has_unsafe(line) or raw_control(line)]
    assert not bad, f"{where}: raw control characters reached the terminal: {bad[:3]!r}"
    assert "\x1b]" not in text and "\x9d" not in text


def _hostile_world(tmp_path: Path, redis_url: str) -> tuple[Path, Path]:
    """Auth dirs, Redis keys and a log file holding every hostile string; (auth root, log file)."""
    sim_root = tmp_path / ".wwebjs_auth"
    sim_root.mkdir()
    for name in SAFE_NAMES:
        (sim_root / f"session-{name}").mkdir()
    client = redis.Redis.from_url(redis_url)
    for i, s in enumerate(ALL):
        raw = s.encode("utf-8", "surrogatepass")
        doc = {"sessionId": s, "whatsappId": f"{s}@c.us", "phoneNumber": s, "profileName": s, "isVerified": True}
        client.set(b"session:" + raw, json.dumps(doc), ex=3600 + i)
    client.close()
    log = tmp_path / "pm2-out.log"
    log.write_text("".join(f"2026-12-01 10:00:0{i % 10} +00:00: user said {s}\n" for i, s in enumerate(ALL))
                   + "2026-12-01 10:00:00 +00:00: Error: boom \x1b]0;pwned\x07\n    at frame [bold]x[/bold]\n",
                   encoding="utf-8", errors="surrogatepass")
    return sim_root, log


async def test_hostile_strings_through_the_real_sources_reach_no_terminal(tmp_path: Path, redis_url: str) -> None:
    sim_root, log = _hostile_world(tmp_path, redis_url)
    sim = make_sim(tmp_path, ids=(UID_A,))
    assert sim.auth_root == sim_root
    hostile_app = "pm2 \x1b]0;pwned\x07 [bold]app[/bold]"
    config = Config(gateway_url=sim.url, api_key=API_KEY, auth_dirs=(sim_root,), redis_url=redis_url,
                    log_globs=(str(log),), poll_seconds=0.5, request_budget=10_000, pm2_app=hostile_app,
                    audit_log=tmp_path / "audit.jsonl")
    targets = build_targets(config, findings=findings_for(config, extra=path_checks(config)), host=False)
    app = PulseApp(config, targets.monitor, targets.gateway, host=targets.monitor, audit=AuditLog(tmp_path / "audit.jsonl"),
                   logs=LogFollower([str(log)]), autopoll=False)
    try:
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await poll(app, pilot)
            await wait_for(pilot, lambda: app.log_pane.buffered >= len(ALL))
            table = app.main.conn_table
            assert table.row_count >= len(SAFE_NAMES)
            seen = ""
            for row in range(table.row_count):  # each session's details pane and its row
                table.move_cursor(row=row)
                await pilot.pause()
                text = screen_text(app)
                assert_clean(text, f"connections row {row}")
                seen += text
            assert "\\x1b]0;pwned\\x07" in seen  # the escape is shown, visibly
            assert "$accent $text-muted" in seen and MARKUP_COLOUR in seen  # log pane: markup as typed
            assert "smile:thumbs_up:please" in seen  # an auth-dir name: no emoji code applied
            await pilot.press("2")
            await pilot.pause()
            users = app.main.user_table
            assert users.row_count == len(ALL)
            seen = ""
            for row in range(users.row_count):
                users.move_cursor(row=row)
                await pilot.pause()
                text = screen_text(app)
                assert_clean(text, f"users row {row}")
                seen += text
            assert MARKUP_BOLD in seen and MARKUP_LINK[:30] in seen  # Redis ids and profile names as typed
            await pilot.press("1")
            await _through_dialogs(app, pilot)
            # A gateway error body, quoted in the action's toast and the details' history.
            sim.fail_next_start("\x1b]0;pwned\x07 [bold]body[/bold]")
            result = await app.perform("start", UID_A)
            await pilot.pause(0.5)
            text = screen_text(app)
            assert_clean(text, "failed start toast")
            assert not result.ok and "\\x1b]0;pwned\\x07 [bold]body[/bold]" in text  # the toast, as sent
    finally:
        await targets.aclose()
        sim.stop()


async def _through_dialogs(app: PulseApp, pilot: Pilot[int]) -> None:
    """Toasts, confirmations, help and doctor for a hostile session id."""
    table = app.main.conn_table
    hostile = next(k for k in app.main._by_id if "\x1b]" in k)  # noqa: SLF001
    assert table.select_key(hostile)
    await pilot.pause()
    await pilot.press("s")  # not a UUID: a toast quoting the id
    await pilot.pause()
    assert_clean(screen_text(app), "start toast")
    await pilot.press("x")  # type-to-confirm names the id
    await pilot.pause()
    assert isinstance(app.screen, TypeToConfirm)
    assert_clean(screen_text(app), "delete confirmation")
    await pilot.press("escape")
    await pilot.pause()
    assert_clean(screen_text(app), "cancel toast")
    await pilot.press("R")  # names the (hostile) pm2 app
    await pilot.pause()
    assert isinstance(app.screen, ConfirmScreen)
    text = screen_text(app)
    assert_clean(text, "restart-gateway confirmation")
    assert "[bold]app[/bold]" in text
    await pilot.press("escape")
    await pilot.press("D")
    await pilot.pause()
    assert_clean(screen_text(app), "doctor page")
    await pilot.press("escape")
    await pilot.press("question_mark")
    await pilot.pause()
    assert_clean(screen_text(app), "help")
    await pilot.press("escape")
    await pilot.press("l")
    await pilot.press("w")  # wrapped rows are made from the same lines
    await pilot.pause()
    assert_clean(screen_text(app), "log pane, wrapped")


async def test_hostile_gateway_detail_pm2_name_and_findings_in_a_canned_snapshot() -> None:
    evil = "\x1b]0;pwned\x07 [link=https://evil.example]x[/link] \x9b2J"
    base = snapshot(gateway=GatewayHealth(HealthState.ERROR, detail=f"HTTP 500: {evil}"), redis_up=False)
    assert base.host is not None
    host = replace(base.host, pm2=Pm2Summary(app=evil, status=evil, restarts=1, restarts_since_start=0,
                                             memory_restarts=0, uptime_s=10.0, memory_bytes=None))
    snap = replace(base, host=host, findings=(Finding(Severity.WARNING, "x-evil", f"found {evil}", evil, (evil,)),))
    app = canned_app(snap)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        await app.poll_now().wait()
        await pilot.pause()
        text = screen_text(app)
        assert_clean(text, "header")
        assert "HTTP 500" in text and "[link=https://evil.example]" in text
        await pilot.press("D")
        await pilot.pause()
        assert_clean(screen_text(app), "doctor")
        app.notify(f"toast {evil}", title="title [b]t[/b]")
        await pilot.pause(0.3)
        text = screen_text(app)
        assert_clean(text, "toast")
        assert "toast \\x1b]0;pwned\\x07" in text and "title [b]t[/b]" in text


async def test_too_small_terminal_says_the_size_needed() -> None:
    app = canned_app()
    async with app.run_test(size=(40, 12)) as pilot:
        await pilot.pause()
        await app.poll_now().wait()
        await pilot.pause()
        text = screen_text(app)
        assert f"need {MIN_WIDTH}x{MIN_HEIGHT}, have 40x12" in " ".join(text.split())
        assert not app.main.query_one("#body").display or not app.main.conn_table.visible_keys()
        await pilot.resize_terminal(MIN_WIDTH, MIN_HEIGHT)
        await pilot.pause()
        assert "Terminal too small" not in screen_text(app)
        assert app.main.conn_table.visible_keys(), "at the smallest usable size a session row is visible"


def test_status_once_stdout_has_no_raw_control(tmp_path: Path, redis_url: str) -> None:
    sim_root, log = _hostile_world(tmp_path, redis_url)
    sim = make_sim(tmp_path, ids=(UID_A,))
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_TUI_", "REDIS_", "ENCRYPTION_"))}
        env.update({"PULSE_TUI_GATEWAY_URL": sim.url, "API_SECRET_KEY": API_KEY, "REDIS_URL": redis_url,
                    "PULSE_TUI_AUTH_DIR": str(sim_root), "PULSE_TUI_LOGS": str(log),
                    "PULSE_TUI_PM2_APP": "\x1b]0;pwned\x07", "XDG_STATE_HOME": str(tmp_path)})
        out = subprocess.run([sys.executable, "-m", "pulse_tui", "status", "--once"], env=env, capture_output=True,
                             timeout=60)
    finally:
        sim.stop()
    stdout = out.stdout.decode("utf-8", "surrogateescape")
    assert out.returncode in (0, 1), out.stderr[-2000:]
    assert_clean(stdout, "status --once")
    assert out.stderr == b""
    assert "\\x1b]0;pwned\\x07" in stdout


async def test_qr_view_shows_hostile_ids_and_gateway_bodies_literally() -> None:
    import asyncio
    from collections.abc import AsyncIterator

    from textual.app import App

    from pulse_tui.model import GatewayFailure, QrCode
    from pulse_tui.tui.qr_view import QrScreen

    evil = "\x1b]0;pwned\x07[bold]b[/bold]\x9b2J"

    async def codes() -> AsyncIterator[QrCode | GatewayFailure]:
        yield QrCode(png_data_url="data:image/png;base64,\x1b]0;x\x07")  # undecodable: its error is shown
        yield GatewayFailure(HealthState.ERROR, f"HTTP 500: {evil}", 500)
        await asyncio.Event().wait()

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(QrScreen(evil, codes()))

    app = Host()
    async with app.run_test(size=(120, 45)) as pilot:
        for _ in range(100):
            await pilot.pause(0.05)
            text = screen_text(app)  # type: ignore[arg-type]
            if "HTTP 500" in text:
                break
        assert "HTTP 500" in text and "[bold]b[/bold]" in text
        assert_clean(text, "QR view")


@settings(max_examples=2000, deadline=None)
@given(st.text())
def test_log_pane_fast_path_is_visible(text: str) -> None:
    from pulse_tui.tui.log_pane import _safe

    assert _safe(text) == visible(text)
