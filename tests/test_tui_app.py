"""Pilot tests of the app against the real gateway simulator over HTTP (and a real Redis where it matters)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pulse_tui.model import ActionResult, ConnState, HealthState
from pulse_tui.sim.gateway import GatewaySim
from pulse_tui.sim.redis_server import RedisServer
from pulse_tui.sources.logs.line import LogLine
from pulse_tui.tui.app import PulseApp
from pulse_tui.tui.confirm import ConfirmScreen, TypeToConfirm
from pulse_tui.tui.help import HelpScreen
from pulse_tui.tui.qr_view import QrScreen
from pulse_tui.tui.text_rows import TextRows
from tests.tui_helpers import UID_A, UID_B, UID_C, make_app, make_sim, poll, rendered, wait_for

SIZE = (140, 40)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[GatewaySim]:
    s = make_sim(tmp_path)
    yield s
    s.stop()


def header(app: PulseApp, which: str = "gateway") -> str:
    return str(app.main.query_one(f"#hdr-{which}").content)


def state_of(app: PulseApp, sid: str) -> ConnState | None:
    s = app.snapshot.session(sid) if app.snapshot else None
    return s.state if s else None


def audit_lines(tmp_path: Path) -> list[dict[str, object]]:
    path = tmp_path / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def posts(sim: GatewaySim) -> list[str]:
    return [path for method, path, _ in sim.seen if method == "POST"]


async def test_rows_update_in_place_and_cursor_stays(sim: GatewaySim, tmp_path: Path) -> None:
    app, targets = make_app(sim, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await poll(app, pilot)
        table = app.main.conn_table
        assert table.row_count == 2
        assert table.select_key(UID_B) and table.selected_key == UID_B
        rebuilds = table.rebuilds
        # A new session appears (a new auth dir) and another one starts: rows added and changed.
        (sim.auth_root / f"session-{UID_C}").mkdir()
        sim.engine.start(UID_A)
        await wait_for(pilot, lambda: state_of(app, UID_A) == ConnState.CONNECTED, app=app)
        assert table.row_count == 3
        assert table.selected_key == UID_B
        assert table.rebuilds == rebuilds, "a poll must update cells, not rebuild the table"
        # Filtering removes rows; the cursor stays on its session while it is shown.
        await pilot.press("slash")
        await pilot.press(*"2222")
        await pilot.pause()
        assert table.row_count == 1 and table.selected_key == UID_B
        await pilot.press("escape")
        await pilot.pause()
        assert table.row_count == 3 and table.selected_key == UID_B
    await targets.aclose()


async def test_start_shows_qr_then_scan_connects_and_closes_it(sim: GatewaySim, tmp_path: Path) -> None:
    app, targets = make_app(sim, tmp_path)
    app.source.add_session(UID_C)  # no auth dir: a start needs a QR scan
    async with app.run_test(size=SIZE) as pilot:
        await poll(app, pilot)
        assert app.main.conn_table.select_key(UID_C)
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and app.screen.target == UID_C
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, QrScreen) and app.screen.attempt >= 1, app=app)
        qr = app.screen
        assert isinstance(qr, QrScreen) and qr.session_id == UID_C
        assert not app._notifications, "no toast over the code"  # noqa: SLF001
        assert sim.scan(UID_C)
        await wait_for(pilot, lambda: not isinstance(app.screen, QrScreen), app=app)
        assert state_of(app, UID_C) == ConnState.CONNECTED
        entries = audit_lines(tmp_path)
        assert [(e["action"], e["target"], e["ok"]) for e in entries] == [("start", UID_C, True)]
    await targets.aclose()


async def test_start_shows_qr_even_if_its_new_auth_dir_is_seen_during_the_call(sim: GatewaySim,
                                                                               tmp_path: Path) -> None:
    """The gateway creates the new client's LocalAuth dir at once: a poll during the start call sees it as
    restorable, yet the session had nothing to restore when the operator confirmed, so it needs a QR."""
    from pulse_tui.sim.engine import write_linked_profile

    app, targets = make_app(sim, tmp_path)
    app.source.add_session(UID_C)
    real_start = app.gateway.start

    async def start_while_the_dir_appears(sid: str) -> ActionResult:
        result = await real_start(sid)
        write_linked_profile(sim.auth_root / f"session-{sid}")
        app.apply(app.source.current())  # a log line / poll landing before the call returns
        return result

    app.gateway.start = start_while_the_dir_appears  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await poll(app, pilot)
        assert app.main.conn_table.select_key(UID_C)
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, QrScreen))
        assert app.screen.session_id == UID_C  # type: ignore[attr-defined]
    await targets.aclose()


async def test_disconnect_cancel_escape_then_confirm(sim: GatewaySim, tmp_path: Path) -> None:
    sim.engine.start(UID_B)  # has an auth dir: restores without a QR
    app, targets = make_app(sim, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: state_of(app, UID_B) == ConnState.CONNECTED, app=app)
        app.main.conn_table.select_key(UID_B)
        for cancel in ("escape", "n"):
            await pilot.press("d")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            assert UID_B in app.screen.title_text and "DELETES its auth files" in app.screen.consequence
            await pilot.press(cancel)
            await pilot.pause()
            assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("enter")  # the default button is No
        await pilot.pause()
        assert posts(sim) == [] and sim.engine.client(UID_B) is not None
        assert audit_lines(tmp_path) == []
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await wait_for(pilot, lambda: bool(audit_lines(tmp_path)))
        assert posts(sim) == ["/session/stop"]
        assert sim.engine.client(UID_B) is None
        assert not (sim.auth_root / f"session-{UID_B}").exists()
        assert audit_lines(tmp_path)[0]["action"] == "stop" and audit_lines(tmp_path)[0]["ok"] is True
    await targets.aclose()


async def test_modal_keeps_its_target_when_rows_reorder(sim: GatewaySim, tmp_path: Path) -> None:
    sim.engine.start(UID_A)
    sim.engine.start(UID_B)
    app, targets = make_app(sim, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: state_of(app, UID_B) == ConnState.CONNECTED
                       and state_of(app, UID_A) == ConnState.CONNECTED, app=app)
        table = app.main.conn_table
        table.select_key(UID_B)
        await pilot.press("d")
        await pilot.pause()
        # Under the modal, the rows change: UID_B is filtered away and UID_A is now under the cursor.
        app.main.filter_text = "1111"
        app.main.show(app.snapshot)
        await poll(app, pilot)
        assert table.selected_key == UID_A
        await pilot.press("y")
        await wait_for(pilot, lambda: bool(audit_lines(tmp_path)))
        assert audit_lines(tmp_path)[0]["target"] == UID_B
        assert sim.engine.client(UID_B) is None
        assert sim.engine.client(UID_A) is not None
    await targets.aclose()


async def test_delete_needs_the_typed_id(sim: GatewaySim, tmp_path: Path) -> None:
    app, targets = make_app(sim, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await poll(app, pilot)
        app.main.conn_table.select_key(UID_A)
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, TypeToConfirm)
        await pilot.press(*"11111111", "enter")  # only part of the id: refused
        await pilot.pause()
        assert isinstance(app.screen, TypeToConfirm)
        assert (sim.auth_root / f"session-{UID_A}").exists()
        app.screen.query_one("#confirm-input").value = UID_A  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(audit_lines(tmp_path)))
        assert not (sim.auth_root / f"session-{UID_A}").exists()
        assert (sim.auth_root / f"session-{UID_B}").exists()
    await targets.aclose()


async def test_read_only_refuses_every_action(sim: GatewaySim, tmp_path: Path) -> None:
    sim.engine.start(UID_B)
    app, targets = make_app(sim, tmp_path, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: state_of(app, UID_B) == ConnState.CONNECTED, app=app)
        app.main.conn_table.select_key(UID_B)
        for key in ("s", "d", "r", "x"):
            await pilot.press(key)
            await pilot.pause()
            assert app.screen is app.main, f"{key} opened a dialog in read-only mode"
        assert "READ-ONLY" in header(app, "keys")
        assert any("Read-only" in n.message for n in app._notifications)
        assert posts(sim) == [] and audit_lines(tmp_path) == []
        assert (sim.auth_root / f"session-{UID_B}").exists()
    await targets.aclose()


@pytest.mark.parametrize(
    ("fault", "word"),
    [("401", "unauthorized"), ("429", "rate-limited"), ("500", "error"), ("garbage", "error"), ("down", "down")],
)
async def test_header_shows_gateway_fault_and_recovers(sim: GatewaySim, tmp_path: Path, fault: str,
                                                       word: str) -> None:
    app, targets = make_app(sim, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await poll(app, pilot)
        assert "● ok" in header(app)
        sim.set_fault(fault, retry_after_s=1)
        await wait_for(pilot, lambda: word in header(app), app=app)
        assert app.snapshot is not None and app.snapshot.gateway.state != HealthState.OK
        await pilot.press("question_mark")  # the UI still answers keys
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        sim.set_fault("none")
        await wait_for(pilot, lambda: "● ok" in header(app), timeout=15, app=app)
    await targets.aclose()


async def test_slow_gateway_never_blocks_keys(sim: GatewaySim, tmp_path: Path) -> None:
    app, targets = make_app(sim, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await poll(app, pilot)
        sim.set_fault("slow", slow_s=10)
        worker = app.poll_now()
        await pilot.pause(0.2)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen) and not worker.is_finished
        await pilot.press("escape")
        await worker.wait()
        assert "down" in header(app) and "no answer" in header(app)
        sim.set_fault("none")
        await wait_for(pilot, lambda: "● ok" in header(app), timeout=15, app=app)
    await targets.aclose()


async def test_redis_killed_and_restarted_reconnects(sim: GatewaySim, tmp_path: Path) -> None:
    redis = RedisServer().start()
    try:
        app, targets = make_app(sim, tmp_path, redis_url=redis.url)
        async with app.run_test(size=SIZE) as pilot:
            await poll(app, pilot)
            assert "● ok" in header(app, "redis")
            redis.kill()
            await wait_for(pilot, lambda: "down" in header(app, "redis"), app=app)
            await pilot.press("2")
            await pilot.pause()
            assert app.main.active_tab == "users"
            redis.start()
            await wait_for(pilot, lambda: "● ok" in header(app, "redis"), timeout=20, app=app)
        await targets.aclose()
    finally:
        redis.close()


async def test_quit_leaves_nothing_running(sim: GatewaySim, tmp_path: Path) -> None:
    app, targets = make_app(sim, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await poll(app, pilot)
        await pilot.press("q")
        await pilot.pause()
    assert not app.is_running
    assert all(w.is_finished for w in app.workers)
    await targets.aclose()


async def test_narrow_terminal_drops_columns_not_sessions(sim: GatewaySim, tmp_path: Path) -> None:
    app, targets = make_app(sim, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await poll(app, pilot)
        table = app.main.conn_table
        keys = [c.key.value for c in table.columns.values()]
        assert keys[:2] == ["state", "id"] and "in_state" in keys and "mem" not in keys
        assert table.row_count == 2
        assert app.main.has_class("-narrow")
        assert sum(c.get_render_width(table) for c in table.columns.values()) <= 80
    await targets.aclose()


async def test_qr_command_starts_shows_code_and_exits_0_when_linked(sim: GatewaySim, tmp_path: Path) -> None:
    app, targets = make_app(sim, tmp_path, qr_session=UID_C)
    async with app.run_test(size=(120, 50)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, QrScreen) and app.screen.attempt >= 1, app=app)
        assert app.screen.session_id == UID_C  # type: ignore[attr-defined]
        assert posts(sim) == ["/session/start"]
        assert sim.scan(UID_C)
        await wait_for(pilot, lambda: not app.is_running, app=app)
    assert app.return_code == 0
    await targets.aclose()


async def test_qr_command_on_a_connected_session_exits_at_once(sim: GatewaySim, tmp_path: Path) -> None:
    sim.engine.start(UID_A)
    app, targets = make_app(sim, tmp_path, qr_session=UID_A)
    async with app.run_test(size=(120, 50)) as pilot:
        await wait_for(pilot, lambda: not app.is_running, app=app)
    assert app.return_code == 0 and posts(sim) == []
    await targets.aclose()


async def test_gateway_log_lines_move_the_table_without_requests(tmp_path: Path) -> None:
    from pulse_tui.sources.logs.follower import LogFollower

    logs = tmp_path / "logs"
    logs.mkdir()
    sim = make_sim(tmp_path, log_dir=logs)
    try:
        app, targets = make_app(sim, tmp_path)
        app.logs = LogFollower([str(logs / "*.log")], start_lines=0, min_interval_s=0.05, max_interval_s=0.2)
        async with app.run_test(size=SIZE) as pilot:
            await poll(app, pilot)
            assert state_of(app, UID_B) == ConnState.RESTORABLE
            asked = sim.requests_seen()
            sim.engine.start(UID_B)  # restores from its auth dir; the gateway logs "ready for user …"
            await wait_for(pilot, lambda: state_of(app, UID_B) == ConnState.CONNECTED)  # no polls here
            assert sim.requests_seen() == asked, "log events must not spend gateway requests"
            row = app.main.conn_table.get_row(UID_B)
            assert "connected" in str(row[0])
            assert app.log_pane.buffered > 0
            assert app.log_pane.lines_mentioning(UID_B)
    finally:
        sim.stop()
    await targets.aclose()


async def test_doctor_pane_lists_findings_and_refreshes(sim: GatewaySim, tmp_path: Path) -> None:
    from pulse_tui.tui.main_screen import TextScreen

    app, targets = make_app(sim, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await poll(app, pilot)
        await pilot.press("D")
        await pilot.pause()
        assert isinstance(app.screen, TextScreen) and app.screen.kind == "doctor"
        sim.set_fault("401")
        await wait_for(pilot, lambda: "unauthorized" in rendered(app.screen.body).lower()  # type: ignore[attr-defined]
                       or "api key" in rendered(app.screen.body).lower(), app=app)  # type: ignore[attr-defined]
    await targets.aclose()


def test_doctor_page_wraps_each_finding_within_its_column() -> None:
    """On a narrow terminal a long message, fix or example wraps under itself, never under the severity word."""
    from dataclasses import replace

    from pulse_tui.model import Finding, Severity
    from pulse_tui.tui.details import findings_page
    from tests.canned import snapshot

    message = "Redis saves nothing, so a restart of the Redis server loses every session of every linked user."
    hint = "Turn on appendonly with CONFIG SET appendonly yes, then write it to redis.conf so it survives."
    snap = replace(snapshot(), findings=(Finding(Severity.CRITICAL, "redis-persistence-off", message, hint,
                                                 ("a" * 32, "b" * 32)),))
    lines = rendered(findings_page(snap), width=60).splitlines()
    assert len(lines) > 4  # it did wrap
    assert lines[0].startswith("✖ critical ")
    assert [ln[:11].strip() for ln in lines[1:]].count("fix:") == 1
    assert all(ln[:11].strip() in ("", "fix:", "e.g.") for ln in lines[1:]), lines
    body = " ".join(ln[11:].strip() for ln in lines)
    assert message in body and hint in body and "a" * 32 + ", " + "b" * 32 in body
    assert " ".join(rendered(findings_page(replace(snap, findings=()))).split()) == "✔ ok no findings in the last poll"


async def test_each_gateway_state_message_reaches_the_table(tmp_path: Path) -> None:
    """QR generated, ready, disconnected, restoring, auth failure, stopped: each moves the row, with no poll."""
    from pulse_tui.sources.logs.follower import LogFollower

    logs = tmp_path / "logs"
    logs.mkdir()
    sim = make_sim(tmp_path, log_dir=logs)
    try:
        app, targets = make_app(sim, tmp_path)
        app.logs = LogFollower([str(logs / "*.log")], start_lines=0, min_interval_s=0.05, max_interval_s=0.2)
        app.source.add_session(UID_C)
        async with app.run_test(size=SIZE) as pilot:
            await poll(app, pilot)
            asked = sim.requests_seen()

            async def reaches(state: ConnState) -> None:
                await wait_for(pilot, lambda: state_of(app, UID_C) == state)
                assert state.value.split()[0] in str(app.main.conn_table.get_row(UID_C)[0]).replace("scan QR", "qr")

            sim.engine.start(UID_C)  # no auth dir: "QR code generated for user …"
            await reaches(ConnState.QR)
            sim.scan(UID_C)  # "authenticated", "✅ WhatsApp client ready", "connected with number"
            await reaches(ConnState.CONNECTED)
            sim.disconnect(UID_C, "NAVIGATION")  # "User … disconnected: NAVIGATION": auth kept
            await reaches(ConnState.RESTORABLE)
            sim.engine.start(UID_C)  # restores from its dir, then "ready"
            await reaches(ConnState.CONNECTED)
            sim.auth_failure(UID_C)  # "Auth failure for user …": the client is dropped, the dir kept
            await reaches(ConnState.RESTORABLE)
            sim.engine.start(UID_C)
            await reaches(ConnState.CONNECTED)
            sim.engine.stop(UID_C)  # "Session stopped for …", "Deleted auth for …"
            await reaches(ConnState.STOPPED)
            assert sim.requests_seen() == asked, "log events must not spend gateway requests"
            history = iter(h.state for h in app.snapshot.session(UID_C).history)  # type: ignore[union-attr]
            expected = [ConnState.QR, ConnState.CONNECTED, ConnState.RESTORABLE, ConnState.CONNECTED,
                        ConnState.RESTORABLE, ConnState.CONNECTED, ConnState.STOPPED]
            assert all(state in history for state in expected), "history must hold each step, in order"
    finally:
        sim.stop()
    await targets.aclose()


async def test_disconnect_without_a_client_says_so_and_asks_nothing(sim: GatewaySim, tmp_path: Path) -> None:
    app, targets = make_app(sim, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await poll(app, pilot)
        assert state_of(app, UID_A) == ConnState.RESTORABLE
        app.main.conn_table.select_key(UID_A)
        await pilot.press("d")
        await pilot.pause()
        assert app.screen is app.main
        assert any("no running client" in n.message for n in app._notifications)
        assert posts(sim) == [] and (sim.auth_root / f"session-{UID_A}").exists()
    await targets.aclose()


async def test_log_lines_setting_bounds_the_pane(sim: GatewaySim, tmp_path: Path) -> None:
    """PULSE_TUI_LOG_LINES is what the log pane keeps: its buffer and its view drop the oldest lines past it."""
    app, targets = make_app(sim, tmp_path, log_lines=150)
    async with app.run_test(size=SIZE) as pilot:
        pane = app.main.log_pane
        assert pane.max_lines == 150
        pane.add_lines([LogLine(float(i), "info", "app.log", f"line {i}") for i in range(400)])
        await pilot.pause()
        assert pane.buffered == 150 and pane.dropped == 250
        assert len(pane.view.lines) == 150 and pane.view.lines[0].endswith("line 250")
    await targets.aclose()


async def test_start_refuses_an_id_the_gateway_rejects(tmp_path: Path) -> None:
    sim = make_sim(tmp_path)
    (sim.auth_root / "session-current-user").mkdir()
    try:
        app, targets = make_app(sim, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await poll(app, pilot)
            assert state_of(app, "current-user") == ConnState.STOPPED
            assert "never-restored" in app.snapshot.session("current-user").flags  # type: ignore[union-attr]
            app.main.conn_table.select_key("current-user")
            await pilot.press("s")
            await pilot.pause()
            assert app.screen is app.main and posts(sim) == []
            assert any("invalid userId" in n.message for n in app._notifications)
        await targets.aclose()
    finally:
        sim.stop()


async def test_no_sessions_says_where_to_point_the_app(tmp_path: Path) -> None:
    sim = make_sim(tmp_path, ids=())
    try:
        app, targets = make_app(sim, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await poll(app, pilot)
            assert app.main.conn_table.row_count == 0
            assert "PULSE_TUI_AUTH_DIR" in str(app.main.query_one("#details-body", TextRows).text)
        await targets.aclose()
    finally:
        sim.stop()


async def test_pulse_gateway_restart_shows_the_raw_qr_and_connects(tmp_path: Path) -> None:
    """The same screen on Pulse's gateway: instances listed by the gateway, QR as a raw payload."""
    from pulse_tui.audit import AuditLog
    from pulse_tui.config import Config, GatewayKind
    from pulse_tui.doctor.checks import findings_for
    from pulse_tui.monitor.build import build_targets
    from pulse_tui.sim.gateway import PulseSim

    phone = "18765550101"
    root = tmp_path / "whatsapp-sessions"
    root.mkdir()
    sim = PulseSim(root, phones=(phone,), start_delay_s=0.1)
    sim.start()
    try:
        config = Config(gateway_kind=GatewayKind.PULSE, gateway_url=sim.url, auth_dirs=(root,), poll_seconds=0.5,
                        audit_log=tmp_path / "audit.jsonl")
        targets = build_targets(config, findings=findings_for(config))
        app = PulseApp(config, targets.monitor, targets.gateway, host=targets.monitor, audit=AuditLog(tmp_path / "audit.jsonl"),
                       autopoll=False)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: state_of(app, phone) is not None, app=app)
            if state_of(app, phone) != ConnState.QR:
                app.main.conn_table.select_key(phone)
                await pilot.press("r")
                await pilot.pause()
                assert isinstance(app.screen, ConfirmScreen)
                await pilot.press("y")
            await wait_for(pilot, lambda: state_of(app, phone) == ConnState.QR, app=app)
            app.main.conn_table.select_key(phone)
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, QrScreen) and app.screen.attempt >= 1, app=app)
            assert sim.scan(phone)
            await wait_for(pilot, lambda: not isinstance(app.screen, QrScreen), app=app)
            assert state_of(app, phone) == ConnState.CONNECTED
            assert "logout-on-shutdown" in app.snapshot.session(phone).flags  # type: ignore[union-attr]
        await targets.aclose()
    finally:
        sim.stop()
