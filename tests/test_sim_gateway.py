"""The gateway simulator over real HTTP: routes, bodies, statuses, limiter, lifecycle, SSE, logs, faults."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import zxingcpp
from PIL import Image

from pulse_tui.sim.gateway import GatewaySim, PulseSim
from pulse_tui.sim.qrpayload import make_payload, png_data_url

UID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
UID2 = "0b9e8f1c-1111-4222-8333-444455556666"
KEY = "sim-test-api-key-123"
PAYLOAD_RE = re.compile(r"^2@[A-Za-z0-9+/=]+,[A-Za-z0-9+/]{43}=,[A-Za-z0-9+/]{43}=,[A-Za-z0-9+/]{22}==$")

FAST = dict(start_delay_s=0.05, qr_interval_s=0.4, ready_delay_s=0.05, restore_interval_s=0.05)


def decode_png(data_url: str) -> str:
    """Payload of a PNG data URL, read back with a real QR decoder."""
    assert data_url.startswith("data:image/png;base64,")
    img = Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1])))
    found = zxingcpp.read_barcodes(img)
    assert found, "no QR code found in the PNG"
    return found[0].text


def wait_until(cond: Callable[[], object], timeout: float = 5.0, step: float = 0.02) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(step)
    raise AssertionError("condition not reached in time")


@pytest.fixture
def make_sim(tmp_path: Path) -> Iterator[Callable[..., GatewaySim]]:
    sims: list[GatewaySim] = []

    def make(cls: type[GatewaySim] = GatewaySim, **kw: object) -> GatewaySim:
        opts: dict[str, object] = {**FAST, "log_dir": tmp_path / "logs"}
        opts.update(kw)
        sim = cls(tmp_path / "auth", **opts)  # type: ignore[arg-type]
        sims.append(sim)
        sim.start()
        return sim

    yield make
    for s in sims:
        s.stop()


@pytest.fixture
def sim(make_sim: Callable[..., GatewaySim]) -> GatewaySim:
    return make_sim(api_key=KEY)


@pytest.fixture
def http(sim: GatewaySim) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, headers={"x-api-key": KEY}, timeout=10, trust_env=False) as c:
        yield c


def ctl(sim: GatewaySim, route: str, body: dict[str, object] | None = None) -> httpx.Response:
    return httpx.post(f"{sim.url}/__sim/{route}", json=body or {}, timeout=5, trust_env=False)


# --- QR payloads ---------------------------------------------------------------------------


def test_payload_looks_like_whatsapp_web_and_png_decodes_to_it() -> None:
    payload = make_payload()
    assert PAYLOAD_RE.match(payload) and len(payload) == 225
    url = png_data_url(payload)
    assert decode_png(url) == payload
    img = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    # npm qrcode defaults: version 11 at level M is 61 modules + 2*4 quiet zone, 4 px per module
    assert img.size == (69 * 4, 69 * 4)
    assert img.convert("L").getpixel((0, 0)) == 255  # white quiet zone
    assert img.convert("L").getpixel((4 * 4, 4 * 4)) == 0  # top-left finder pattern is black


# --- health, auth, errors --------------------------------------------------------------------


def test_health_body_and_rate_limit_headers(sim: GatewaySim, http: httpx.Client) -> None:
    r = http.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and set(body) == {"status", "timestamp"}
    assert datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert r.headers["x-ratelimit-limit"] == "100"
    assert r.headers["x-ratelimit-remaining"] == "99"
    reset = int(r.headers["x-ratelimit-reset"])
    assert time.time() + 800 < reset <= time.time() + 901  # epoch seconds, 15 min window
    assert "retry-after" not in r.headers
    assert http.get("/health/").status_code == 200  # Express is not strict about a trailing slash


def test_api_key_checked_before_the_limiter(make_sim: Callable[..., GatewaySim]) -> None:
    sim = make_sim(api_key=KEY, rate_limit=2)
    for key in (None, "wrong"):
        for _ in range(4):
            r = httpx.get(f"{sim.url}/health", headers={"x-api-key": key} if key else {}, trust_env=False)
            assert r.status_code == 401
            assert r.json() == {"error": "Unauthorized"}
            assert "x-ratelimit-remaining" not in r.headers
    good = [httpx.get(f"{sim.url}/health", headers={"x-api-key": KEY}, trust_env=False) for _ in range(3)]
    assert [g.status_code for g in good] == [200, 200, 429]  # the eight 401s used none of the budget


def test_development_mode_needs_no_key(make_sim: Callable[..., GatewaySim]) -> None:
    sim = make_sim()
    assert httpx.get(f"{sim.url}/health", trust_env=False).status_code == 200


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "userId is required"),
        ({"userId": ""}, "userId is required"),
        ({"userId": "current-user"}, "invalid userId"),
        ({"userId": "test-user-1"}, "invalid userId"),
        ({"userId": "test-user"}, "invalid userId"),
        ({"userId": "not-a-uuid"}, "invalid userId format"),
        ({"userId": UID + "x"}, "invalid userId format"),
    ],
)
def test_start_and_stop_refuse_bad_ids(http: httpx.Client, body: dict[str, str], error: str) -> None:
    for route in ("/session/start", "/session/stop"):
        r = http.post(route, json=body)
        assert r.status_code == 400
        assert r.json() == {"error": error}


def test_status_refuses_bad_ids(http: httpx.Client) -> None:
    assert http.get("/session/status/current-user").json() == {"error": "invalid userId"}
    assert http.get("/session/status/test-user42").status_code == 400
    r = http.get("/session/status/abc")
    assert r.status_code == 400 and r.json() == {"error": "invalid userId format"}
    r = http.get("/session/status")
    assert r.status_code == 400 and r.json() == {"error": "userId parameter is required"}
    r = http.get("/session/status", params={"user_id": "current-user"})
    assert r.status_code == 400 and r.json() == {"error": "invalid userId"}


def test_qr_stream_refuses_non_uuid_with_empty_400(http: httpx.Client) -> None:
    for bad in ("current-user", "abc"):
        r = http.get(f"/session/qr/{bad}")
        assert r.status_code == 400 and r.content == b""


def test_malformed_json_is_a_500(http: httpx.Client) -> None:
    r = http.post("/session/start", content=b'{"userId": ', headers={"content-type": "application/json"})
    assert r.status_code == 500
    assert r.json() == {"error": "Internal server error"}


def test_unknown_route_is_express_404(http: httpx.Client) -> None:
    r = http.get("/nope")
    assert r.status_code == 404
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert "<pre>Cannot GET /nope</pre>" in r.text and r.text.startswith("<!DOCTYPE html>")
    assert "x-ratelimit-remaining" in r.headers  # the limiter runs on every route
    assert http.post("/message/whatever").status_code == 404


# --- rate limiter ---------------------------------------------------------------------------


def test_rate_limiter_headers_429_and_window_reset(make_sim: Callable[..., GatewaySim]) -> None:
    sim = make_sim(rate_limit=3, rate_window_s=2.0)
    with httpx.Client(base_url=sim.url, trust_env=False) as c:
        rs = [c.get("/health"), c.get(f"/session/status/{UID}"), c.get("/nope")]
        assert [r.headers["x-ratelimit-remaining"] for r in rs] == ["2", "1", "0"]
        ctl(sim, "state")  # control routes are not counted
        over = c.get("/health")
        assert over.status_code == 429
        assert over.text == "Too many requests, please try again later."
        assert over.headers["content-type"] == "text/html; charset=utf-8"
        assert over.headers["x-ratelimit-remaining"] == "0"
        retry = int(over.headers["retry-after"])
        assert 0 <= retry <= 2
        assert int(over.headers["x-ratelimit-reset"]) >= int(time.time())
        assert c.post("/session/start", json={"userId": UID}).status_code == 429  # every route
        wait_until(lambda: c.get("/health").status_code == 200, timeout=5, step=0.3)
        assert ctl(sim, "reset_rate_limit").json() == {"ok": True}
        assert c.get("/health").headers["x-ratelimit-remaining"] == "2"
    assert sim.statuses[429] >= 2


# --- lifecycle --------------------------------------------------------------------------------


def test_start_qr_scan_ready_stop(sim: GatewaySim, http: httpx.Client) -> None:
    auth_dir = sim.auth_root / f"session-{UID}"
    assert http.get(f"/session/status/{UID}").json() == {"exists": False, "ready": False, "qr": None}
    r = http.post("/session/start", json={"userId": UID})
    assert r.json() == {"success": True, "message": "Session initialized"}
    wait_until(lambda: http.get(f"/session/status/{UID}").json()["qr"])
    st = http.get("/session/status", params={"user_id": UID}).json()
    assert st["exists"] is True and st["ready"] is False
    first = decode_png(st["qr"])
    assert PAYLOAD_RE.match(first)
    assert first == sim.state()["clients"][UID]["qr_payload"]
    assert http.post("/session/start", json={"userId": UID}).json() == {"success": True, "message": "Session connecting"}
    # WhatsApp issues a new code after qr_interval_s
    wait_until(lambda: sim.state()["clients"][UID]["qr_count"] >= 2)
    second = decode_png(http.get(f"/session/status/{UID}").json()["qr"])
    assert second != first and second.split(",")[1:] == first.split(",")[1:]  # new ref, same keys
    assert not auth_dir.exists()
    assert ctl(sim, f"scan/{UID}").json() == {"ok": True}
    wait_until(lambda: http.get(f"/session/status/{UID}").json()["ready"])
    assert http.get(f"/session/status/{UID}").json() == {"exists": True, "ready": True, "qr": None}
    assert auth_dir.is_dir() and any(auth_dir.iterdir())
    assert http.post("/session/start", json={"userId": UID}).json()["message"] == "Session already active"
    assert http.post("/session/stop", json={"userId": UID}).json() == {"success": True, "message": "Session stopped"}
    assert not auth_dir.exists()
    assert http.post("/session/stop", json={"userId": UID}).json() == {"success": False, "message": "Session not found"}
    msgs = sim.log.lines
    for m in (f"QR code generated for user {UID}", f"User {UID} authenticated",
              f"✅ WhatsApp client ready for user {UID}", f"Session stopped for {UID}", f"Deleted auth for {UID}"):
        assert m in msgs


def test_session_not_found_keeps_the_auth_dir(make_sim: Callable[..., GatewaySim], tmp_path: Path) -> None:
    auth_dir = tmp_path / "auth" / f"session-{UID}"
    (auth_dir / "Default").mkdir(parents=True)
    sim = make_sim(restore_on_boot=False)
    r = httpx.post(f"{sim.url}/session/stop", json={"userId": UID}, trust_env=False)
    assert r.json() == {"success": False, "message": "Session not found"}
    assert auth_dir.is_dir()


def test_start_on_existing_auth_dir_restores_without_qr(make_sim: Callable[..., GatewaySim], tmp_path: Path) -> None:
    (tmp_path / "auth" / f"session-{UID}").mkdir(parents=True)
    sim = make_sim(restore_on_boot=False)
    r = httpx.post(f"{sim.url}/session/start", json={"userId": UID}, trust_env=False)
    assert r.json()["success"] is True
    wait_until(lambda: sim.state()["clients"].get(UID, {}).get("phase") == "ready")
    assert sim.state()["clients"][UID]["qr_count"] == 0


def test_client_gives_up_after_qr_max(make_sim: Callable[..., GatewaySim]) -> None:
    sim = make_sim(qr_interval_s=0.1, qr_max=3)
    httpx.post(f"{sim.url}/session/start", json={"userId": UID}, trust_env=False)
    wait_until(lambda: f"User {UID} disconnected: Max qrcode retries reached" in sim.log.lines)
    assert sim.log.lines.count(f"QR code generated for user {UID}") == 3
    st = httpx.get(f"{sim.url}/session/status/{UID}", trust_env=False).json()
    assert st == {"exists": False, "ready": False, "qr": None}


def test_auto_scan(make_sim: Callable[..., GatewaySim]) -> None:
    sim = make_sim(auto_scan_s=0.1)
    httpx.post(f"{sim.url}/session/start", json={"userId": UID}, trust_env=False)
    wait_until(lambda: httpx.get(f"{sim.url}/session/status/{UID}", trust_env=False).json()["ready"])
    assert (sim.auth_root / f"session-{UID}").is_dir()


def test_browser_failing_to_start(make_sim: Callable[..., GatewaySim]) -> None:
    sim = make_sim()
    assert ctl(sim, "fail_start", {"message": "Failed to launch the browser process!"}).json() == {"ok": True}
    r = httpx.post(f"{sim.url}/session/start", json={"userId": UID}, trust_env=False)
    assert r.status_code == 200
    assert r.json() == {"success": False, "message": "Failed to launch the browser process!"}
    assert f"Failed to initialize session for {UID}: Failed to launch the browser process!" in sim.log.lines
    assert httpx.get(f"{sim.url}/session/status/{UID}", trust_env=False).json()["exists"] is False


def test_disconnect_keeps_dir_and_logout_makes_it_dead(make_sim: Callable[..., GatewaySim]) -> None:
    sim = make_sim(auto_scan_s=0.05)
    url = sim.url
    for uid in (UID, UID2):
        httpx.post(f"{url}/session/start", json={"userId": uid}, trust_env=False)
    wait_until(lambda: all(sim.state()["clients"].get(u, {}).get("phase") == "ready" for u in (UID, UID2)))
    assert ctl(sim, f"disconnect/{UID}", {"reason": "NAVIGATION"}).json() == {"ok": True}
    assert ctl(sim, f"disconnect/{UID2}", {"reason": "LOGOUT"}).json() == {"ok": True}
    assert ctl(sim, f"disconnect/{UID2}", {"reason": "LOGOUT"}).status_code == 404  # no client any more
    assert (sim.auth_root / f"session-{UID}").is_dir() and (sim.auth_root / f"session-{UID2}").is_dir()
    assert sim.state()["dead"] == [UID2]
    assert f"User {UID2} disconnected: LOGOUT" in sim.log.lines
    for uid in (UID, UID2):
        assert httpx.get(f"{url}/session/status/{uid}", trust_env=False).json()["exists"] is False
        httpx.post(f"{url}/session/start", json={"userId": uid}, trust_env=False)
    state = sim.state()["clients"]
    assert state[UID]["restoring"] is True  # reconnects without a QR
    assert state[UID2]["restoring"] is False  # the dead dir needs a new scan


def test_auth_failure_drops_client_keeps_dir(make_sim: Callable[..., GatewaySim], tmp_path: Path) -> None:
    (tmp_path / "auth" / f"session-{UID}").mkdir(parents=True)
    sim = make_sim(restore_on_boot=False)
    httpx.post(f"{sim.url}/session/start", json={"userId": UID}, trust_env=False)
    assert ctl(sim, f"auth_failure/{UID}", {"message": "bad session"}).json() == {"ok": True}
    assert f"Auth failure for user {UID}: bad session" in sim.log.lines
    assert httpx.get(f"{sim.url}/session/status/{UID}", trust_env=False).json()["exists"] is False
    assert (sim.auth_root / f"session-{UID}").is_dir()


def test_boot_restore_queue_order_and_pacing(make_sim: Callable[..., GatewaySim], tmp_path: Path) -> None:
    root = tmp_path / "auth"
    ids = sorted([UID, UID2, "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"])
    for sid in ids + ["current-user", "test-user-7"]:
        (root / f"session-{sid}").mkdir(parents=True)
    (root / "not-a-session").mkdir()
    sim = make_sim(restore_interval_s=0.8, start_delay_s=0.05)
    # Right after boot the first is being restored; the others are queued and have no client yet.
    pending = sim.state()["restore_pending"]
    assert pending in (ids[1:], ids[2:])
    st = httpx.get(f"{sim.url}/session/status/{ids[2]}", trust_env=False).json()
    assert st == {"exists": False, "ready": False, "qr": None}
    wait_until(lambda: len(sim.state()["clients"]) == 3 and all(
        c["phase"] == "ready" for c in sim.state()["clients"].values()), timeout=8)
    assert all(c["qr_count"] == 0 and c["restoring"] for c in sim.state()["clients"].values())
    lines = sim.log.lines
    assert "Found 3 session(s) to restore" in lines
    restoring = [m for m in lines if m.startswith("Restoring session")]
    assert restoring == [f"Restoring session {i}/3 for user {sid}" for i, sid in enumerate(ids, 1)]
    assert not any("current-user" in m or "test-user" in m for m in lines)
    # pacing: read the winston timestamps of the restore lines
    log_file = next((tmp_path / "logs").glob("gateway-*.log"))
    stamps = [
        datetime.fromisoformat(json.loads(line)["timestamp"].replace("Z", "+00:00"))
        for line in log_file.read_text(encoding="utf-8").splitlines()
        if json.loads(line)["message"].startswith("Restoring session")
    ]
    gaps = [(b - a).total_seconds() for a, b in zip(stamps, stamps[1:], strict=False)]
    assert len(gaps) == 2 and all(g >= 0.79 for g in gaps), gaps


def test_restart_drops_sessions_to_restoring(make_sim: Callable[..., GatewaySim]) -> None:
    sim = make_sim(auto_scan_s=0.05, restore_interval_s=0.3)
    httpx.post(f"{sim.url}/session/start", json={"userId": UID}, trust_env=False)
    wait_until(lambda: sim.state()["clients"].get(UID, {}).get("phase") == "ready")
    port = sim.port
    sim.restart()
    assert sim.port == port
    assert sim.log.lines.count("Found 1 session(s) to restore") == 1
    wait_until(lambda: sim.state()["clients"].get(UID, {}).get("phase") == "ready")
    assert sim.state()["clients"][UID]["restoring"] is True
    assert ctl(sim, "restart").json() == {"ok": True}  # the same over HTTP (for a sim run as a process)
    wait_until(lambda: sim.log.lines.count("Found 1 session(s) to restore") == 2)
    wait_until(lambda: httpx.get(f"{sim.url}/session/status/{UID}", trust_env=False).json()["ready"])


# --- SSE ----------------------------------------------------------------------------------------


def test_sse_delivers_successive_codes(sim: GatewaySim, http: httpx.Client) -> None:
    http.post("/session/start", json={"userId": UID})
    wait_until(lambda: http.get(f"/session/status/{UID}").json()["qr"])
    payloads: list[str] = []
    with http.stream("GET", f"/session/qr/{UID}", timeout=10) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "text/event-stream"
        assert resp.headers["cache-control"] == "no-cache"
        for line in resp.iter_lines():
            if line.startswith("data: "):
                qr = json.loads(line[6:])["qr"]
                payloads.append(decode_png(qr))
                if len(payloads) == 3:
                    break
    assert len(set(payloads)) == 3  # the one at once, then each new code
    assert all(PAYLOAD_RE.match(p) for p in payloads)


def test_sse_stream_ends_when_sim_stops(make_sim: Callable[..., GatewaySim]) -> None:
    sim = make_sim()
    with httpx.Client(base_url=sim.url, trust_env=False) as c, c.stream("GET", f"/session/qr/{UID}") as resp:
        assert resp.status_code == 200
        sim.stop()
        assert list(resp.iter_lines()) == []  # closed cleanly, nothing was sent for a session with no client


# --- faults ---------------------------------------------------------------------------------------


def test_fault_switches_over_http(make_sim: Callable[..., GatewaySim]) -> None:
    sim = make_sim(api_key=KEY)
    h = {"x-api-key": KEY}
    with httpx.Client(base_url=sim.url, headers=h, timeout=5, trust_env=False) as c:
        ctl(sim, "fault", {"fault": "down"})
        with pytest.raises(httpx.RemoteProtocolError):
            c.get("/health")
        ctl(sim, "fault", {"fault": "slow", "slow_s": 3})
        with pytest.raises(httpx.ReadTimeout):
            c.get("/health", timeout=0.3)
        ctl(sim, "fault", {"fault": "500"})
        assert c.get("/health").status_code == 500
        ctl(sim, "fault", {"fault": "401"})
        r = c.get("/health")
        assert r.status_code == 401 and r.json() == {"error": "Unauthorized"}
        ctl(sim, "fault", {"fault": "429", "retry_after_s": 7})
        r = c.get("/health")
        assert r.status_code == 429 and r.headers["retry-after"] == "7"
        ctl(sim, "fault", {"fault": "garbage"})
        r = c.get("/health")
        assert r.status_code == 200
        with pytest.raises(ValueError):
            r.json()
        ctl(sim, "fault", {"fault": "shape"})
        assert isinstance(c.get("/health").json(), list)
        assert ctl(sim, "fault", {"fault": "bogus"}).status_code == 400
        ctl(sim, "fault", {"fault": "none"})
        assert c.get("/health").json()["status"] == "ok"


def test_stopped_sim_refuses_then_restarts_on_same_port(make_sim: Callable[..., GatewaySim]) -> None:
    sim = make_sim()
    url = sim.url
    sim.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health", trust_env=False)
    assert sim.start() == url
    assert httpx.get(f"{url}/health", trust_env=False).status_code == 200


# --- logs ------------------------------------------------------------------------------------------


def test_winston_log_lines(make_sim: Callable[..., GatewaySim], tmp_path: Path) -> None:
    sim = make_sim(auto_scan_s=0.05)
    httpx.post(f"{sim.url}/session/start", json={"userId": UID}, trust_env=False)
    wait_until(lambda: f"✅ WhatsApp client ready for user {UID}" in sim.log.lines)
    log_file = tmp_path / "logs" / f"gateway-{datetime.now().strftime('%Y-%m-%d')}.log"
    raw = log_file.read_text(encoding="utf-8").splitlines()
    assert raw[0].startswith('{"level":"info","message":"')
    objs = [json.loads(line) for line in raw]
    assert all(list(o) == ["level", "message", "timestamp"] for o in objs)
    assert all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", o["timestamp"]) for o in objs)
    assert any(o["message"] == f"✅ WhatsApp client ready for user {UID}" for o in objs)
    assert any(o["message"].startswith(f"User {UID} connected with number: 1876") for o in objs)


# --- Pulse flavour ------------------------------------------------------------------------------------


def test_pulse_flavour_routes(make_sim: Callable[..., GatewaySim]) -> None:
    phone, other = "18765550001", "18765550002"
    sim = make_sim(PulseSim, phones=(phone, other))
    with httpx.Client(base_url=sim.url, timeout=10, trust_env=False) as c:
        assert c.get("/health").json()["status"] == "ok"
        assert c.get("/whatsapp-web/health").json()["status"] == "ok"
        wait_until(lambda: c.get(f"/whatsapp-web/instances/{phone}/qr").json()["status"] == "pending_authentication")
        st = c.get("/whatsapp-web/status").json()
        assert st["status"] == "disconnected" and st["ready"] is False
        assert [i["phoneNumber"] for i in st["instances"]] == [phone, other]
        assert st["service"] and st["metrics"]["total"] == 2
        qr = c.get(f"/whatsapp-web/instances/{phone}/qr").json()
        assert qr["phoneNumber"] == phone and PAYLOAD_RE.match(qr["qrCode"])
        assert "qrImageUrl" in qr and qr["qrCode"] not in qr["qrImageUrl"]
        assert ".invalid/" in qr["qrImageUrl"]
        assert c.get("/whatsapp-web/qr").json()["status"] == "pending_authentication"
        assert c.get(f"/whatsapp-web/instances/{phone}/status").json() == {"phoneNumber": phone, "connected": False}
        assert sim.scan(phone)
        wait_until(lambda: c.get(f"/whatsapp-web/instances/{phone}/status").json()["connected"])
        ist = c.get(f"/whatsapp-web/instances/{phone}/status").json()
        assert ist["number"] == phone and ist["name"]
        assert c.get(f"/whatsapp-web/instances/{phone}/qr").json()["status"] == "already_authenticated"
        auth = sim.auth_root / phone / f"session-pulse-bot-{phone}"
        assert auth.is_dir()
        r = c.post(f"/whatsapp-web/instances/{phone}/restart")
        assert r.status_code == 200 and r.json()["status"] == "success"
        wait_until(lambda: c.get(f"/whatsapp-web/instances/{phone}/status").json()["connected"])  # no QR needed
        r = c.post(f"/whatsapp-web/instances/{phone}/logout")
        assert r.json() == {"status": "success", "message": f"Instance {phone} logged out successfully"}
        assert not auth.exists()
        assert c.get(f"/whatsapp-web/instances/{phone}/status").json()["connected"] is False
        r = c.delete(f"/whatsapp-web/instances/{other}/session")
        assert r.json() == {"status": "success", "message": f"Session cleared for instance {other}"}
        for method, op in (("POST", "restart"), ("POST", "logout"), ("DELETE", "session")):
            r = c.request(method, f"/whatsapp-web/instances/1999/{op}")
            assert r.status_code == 200 and r.json()["status"] == "error"
        r = c.get("/nope")
        assert r.status_code == 404 and r.json()["statusCode"] == 404


def test_pulse_restores_instances_from_disk(make_sim: Callable[..., GatewaySim], tmp_path: Path) -> None:
    phone = "447700900123"
    (tmp_path / "auth" / phone / f"session-pulse-bot-{phone}").mkdir(parents=True)
    sim = make_sim(PulseSim)
    wait_until(lambda: sim.state()["clients"].get(phone, {}).get("phase") == "ready")
    st = httpx.get(f"{sim.url}/whatsapp-web/status", trust_env=False).json()
    assert st["ready"] is True and st["instances"][0]["phoneNumber"] == phone


# --- standalone process ---------------------------------------------------------------------------------


def test_module_runs_standalone(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pulse_tui.sim", "--port", "0", "--auth-root", str(tmp_path / "auth"),
         "--api-key", KEY, "--log-dir", str(tmp_path / "logs"), "--start-delay", "0.05"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert re.match(r"^http://127\.0\.0\.1:\d+$", url), url
        assert httpx.get(f"{url}/health", headers={"x-api-key": KEY}, trust_env=False).json()["status"] == "ok"
        assert httpx.get(f"{url}/health", trust_env=False).status_code == 401
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    assert KEY not in (proc.stderr.read() if proc.stderr else "")
    assert list((tmp_path / "logs").glob("gateway-*.log"))
