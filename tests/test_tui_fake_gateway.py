"""A gateway the code has never heard of, defined only here: its adapter declares other capabilities (no
restart, no delete, a stop that keeps the auth, its own id rule), a tiny real HTTP server on 127.0.0.1 plays
it, and the monitor and the TUI handle it with no change outside this file (issue 19, "done when")."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncGenerator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from pulse_tui.audit import AuditLog
from pulse_tui.clock import SystemClock
from pulse_tui.config import Config
from pulse_tui.model import (
    ActionResult,
    ConnState,
    GatewayFailure,
    GatewayHealth,
    HealthState,
    QrCode,
    SessionStatus,
)
from pulse_tui.monitor.service import Monitor
from pulse_tui.sources.gateway.base import Gateway
from pulse_tui.sources.gateway.budget import RequestBudget
from pulse_tui.sources.gateway.capabilities import Capabilities, Consequences, QrForm
from pulse_tui.tui.app import PulseApp
from pulse_tui.tui.confirm import ConfirmScreen

LIVE = "aaaaaaaa-1111-4111-8111-111111111111"
IDLE = "bbbbbbbb-2222-4222-8222-222222222222"
RESERVED = "00000000-3333-4333-8333-333333333333"  # its id rule refuses ids starting with 0
STOP_WORDS = "The fake gateway pauses its client and keeps its auth: the next start needs no QR."


def fake_id_error(session_id: str) -> str | None:
    """This gateway's own id rule, unlike any real one."""
    return "ids starting with 0 are reserved" if session_id.startswith("0") else None


class _Handler(BaseHTTPRequestHandler):
    server: _FakeServer

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, code: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        ready = self.server.ready
        if self.path == "/health":
            self._send(200, {"ok": True})
        elif self.path == "/sessions":
            self._send(200, sorted(ready))
        elif self.path.startswith("/sessions/") and self.path[10:] in ready:
            self._send(200, {"ready": ready[self.path[10:]]})
        else:
            self._send(404, {"error": "no such session"})

    def do_POST(self) -> None:  # noqa: N802
        self.server.posts.append(self.path)
        parts = self.path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "sessions" and parts[1] in self.server.ready:
            self.server.ready[parts[1]] = parts[2] == "start"
            self._send(200, {"ok": True})
        else:
            self._send(404, {"error": "no such route"})


class _FakeServer(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.ready = {LIVE: True, IDLE: False, RESERVED: False}
        self.posts: list[str] = []


class FakeGateway:
    """The adapter: everything the rest of the code needs to know about this gateway is declared here."""

    kind = "fake"
    last_latency_ms = None  # it does not time its requests
    capabilities = Capabilities(
        lists_sessions=True,
        stop_deletes_auth=False,
        has_restart=False,
        has_delete=False,
        qr_form=QrForm.RAW,
        id_rule=fake_id_error,
        restores_from_auth_dir=False,
        browser_per_session=False,
        consequences=Consequences(stop=STOP_WORDS),
    )

    def __init__(self, url: str) -> None:
        self.url = url
        self.budget = RequestBudget(None)
        self._http = httpx.AsyncClient(base_url=url, timeout=2.0)

    async def health(self) -> GatewayHealth:
        resp = await self._http.get("/health")
        return GatewayHealth(HealthState.OK if resp.status_code == 200 else HealthState.ERROR, latency_ms=1.0)

    async def list_sessions(self) -> list[str] | GatewayFailure:
        return [str(s) for s in (await self._http.get("/sessions")).json()]

    async def status(self, session_id: str) -> SessionStatus | GatewayFailure:
        resp = await self._http.get(f"/sessions/{session_id}")
        if resp.status_code != 200:
            return GatewayFailure(HealthState.ERROR, f"HTTP {resp.status_code}")
        ready = bool(resp.json()["ready"])
        return SessionStatus(session_id, exists=ready, ready=ready)

    async def _post(self, session_id: str, verb: str) -> ActionResult:
        resp = await self._http.post(f"/sessions/{session_id}/{verb}")
        return ActionResult(resp.status_code == 200, f"HTTP {resp.status_code}")

    async def start(self, session_id: str) -> ActionResult:
        return await self._post(session_id, "start")

    async def stop(self, session_id: str) -> ActionResult:
        return await self._post(session_id, "stop")

    async def restart(self, session_id: str) -> ActionResult:
        return ActionResult(False, "no restart route")

    async def delete(self, session_id: str) -> ActionResult:
        return ActionResult(False, "no delete route")

    async def qr(self, session_id: str) -> QrCode | None | GatewayFailure:
        return None

    async def qr_stream(self, session_id: str) -> AsyncGenerator[QrCode | GatewayFailure, None]:
        await asyncio.Event().wait()
        yield GatewayFailure(HealthState.ERROR, "unreachable")

    def budget_snapshot(self) -> tuple[int | None, int | None]:
        return None, None

    def known_states(self) -> dict[str, tuple[SessionStatus, float]]:
        return {}

    async def request_pairing_code(self, session_id: str, phone: str) -> str | GatewayFailure:
        return GatewayFailure(HealthState.ERROR, "no linking by phone number")

    def facts(self) -> None:
        return None

    async def learn_facts(self) -> None:
        pass

    async def aclose(self) -> None:
        await self._http.aclose()


@pytest.fixture
def server() -> Iterator[_FakeServer]:
    srv = _FakeServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _audit(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_an_unknown_gateway_runs_through_the_monitor_and_the_tui(server: _FakeServer, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{server.server_address[1]}"
    gateway = FakeGateway(url)
    assert isinstance(gateway, Gateway)  # every member of the protocol, so the seams need no getattr
    config = Config(gateway_url=url, poll_seconds=0.5, audit_log=tmp_path / "audit.jsonl")
    monitor = Monitor(config, gateway, clock=SystemClock())  # type: ignore[arg-type]
    app = PulseApp(config, monitor, gateway, host=monitor, audit=AuditLog(tmp_path / "audit.jsonl"),  # type: ignore[arg-type]
                   autopoll=False)

    def state(sid: str) -> ConnState | None:
        s = app.snapshot.session(sid) if app.snapshot else None
        return s.state if s else None

    async with app.run_test(size=(140, 36), notifications=True) as pilot:
        await pilot.pause()
        await app.poll_now().wait()
        await pilot.pause()
        assert state(LIVE) == ConnState.CONNECTED and state(IDLE) is not None and state(RESERVED) is not None

        table = app.main.conn_table
        refusals = ((LIVE, "r", "no restart route"), (IDLE, "x", "cannot delete"),
                    (RESERVED, "s", "ids starting with 0 are reserved"))  # its capabilities, asked by the TUI
        for sid, key, why in refusals:
            table.select_key(sid)
            await pilot.press(key)
            await pilot.pause()
            assert not isinstance(app.screen, ConfirmScreen), (sid, key)
            assert any(why in n.message for n in app._notifications), why  # noqa: SLF001
        assert server.posts == [] and _audit(tmp_path) == []

        table.select_key(LIVE)
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and app.screen.consequence == STOP_WORDS
        await pilot.press("y")
        for _ in range(100):
            if _audit(tmp_path):
                break
            await pilot.pause(0.05)
        [entry] = _audit(tmp_path)
        assert entry["action"] == "stop" and entry["target"] == LIVE and entry["ok"] is True
        assert entry["gateway"] == "fake"
        assert server.posts == [f"/sessions/{LIVE}/stop"] and server.ready[LIVE] is False
    await gateway.aclose()
