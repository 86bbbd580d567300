"""`pulse-tui status` and configuration, run as a subprocess against the real simulator and a real Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pulse_tui.config import ConfigError, load_config
from pulse_tui.sim.gateway import GatewaySim
from pulse_tui.sim.seeder import seed_demo

KEY = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
SALT = "00112233445566778899aabbccddeeff"
HSALT = "feedfacefeedfacefeedfacefeedface"
API_KEY = "sim-api-key-0f3a9c71d2"
UID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_TUI_", "REDIS_", "ENCRYPTION_"))}
    base.update(env or {})
    return subprocess.run([sys.executable, "-m", "pulse_tui", *args], capture_output=True, text=True,
                          env=base, cwd=cwd, timeout=60)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[GatewaySim]:
    root = tmp_path / ".wwebjs_auth"
    root.mkdir()
    (root / f"session-{UID}").mkdir()
    with GatewaySim(root, api_key=API_KEY, start_delay_s=0.1, restore_on_boot=False) as s:
        yield s


def test_status_json_end_to_end(sim: GatewaySim, redis_url: str, tmp_path: Path) -> None:
    manifest = seed_demo(redis_url, KEY, SALT, HSALT, now=time.time())
    env_file = tmp_path / "pulse.env"
    env_file.write_text(f"ENCRYPTION_KEY={KEY}\nENCRYPTION_SALT={SALT}\nHASH_SALT={HSALT}\n")
    env = {"PULSE_TUI_GATEWAY_URL": sim.url, "API_SECRET_KEY": API_KEY, "REDIS_URL": redis_url,
           "PULSE_TUI_AUTH_DIR": str(sim.auth_root)}
    out = run_cli("status", "--json", "--env-file", str(env_file), env=env, cwd=tmp_path)
    assert out.returncode in (0, 1), out.stderr
    doc = json.loads(out.stdout)
    assert doc["schema"] == 1
    assert doc["gateway"]["kind"] == "salesboy"
    assert doc["gateway"]["url"] == sim.url
    assert doc["gateway"]["health"] == "ok"
    assert isinstance(doc["gateway"]["budget_left"], int)
    by_id = {s["id"]: s for s in doc["sessions"]}
    assert by_id[UID]["state"] == "restorable"  # auth dir on disk, no client running
    assert by_id[UID]["seconds_in_state_at_least"] is True  # one poll: in that state since before it, how long unknown
    assert by_id[UID]["restorable"] is True
    assert doc["redis"]["available"] is True
    assert set(doc["redis"]["persistence"]) >= {"save", "appendonly"}
    users = {u["session_id"]: u for u in doc["user_sessions"]}
    for sid, exp in manifest.sessions.items():
        assert users[sid]["class"] == exp.value_class.value, exp.name
        assert users[sid]["linked"] == exp.linked, exp.name
    assert doc["keys"]["state"] in ("default", "mismatch")  # the seed holds default-key and unreadable values
    assert doc["healthy"] is False and out.returncode == 1
    for secret in (KEY, SALT, HSALT, API_KEY, manifest.fake_token):
        assert secret not in out.stdout and secret not in out.stderr


def test_status_once_human_table(sim: GatewaySim, tmp_path: Path) -> None:
    env = {"PULSE_TUI_GATEWAY_URL": sim.url, "API_SECRET_KEY": API_KEY, "PULSE_TUI_AUTH_DIR": str(sim.auth_root)}
    out = run_cli("status", "--once", env=env, cwd=tmp_path)
    assert "gateway  salesboy" in out.stdout and ": ok" in out.stdout
    assert UID in out.stdout and "restorable" in out.stdout
    assert API_KEY not in out.stdout


def test_status_gateway_unauthorized_is_unhealthy(sim: GatewaySim, tmp_path: Path) -> None:
    env = {"PULSE_TUI_GATEWAY_URL": sim.url, "API_SECRET_KEY": "wrong-key-123456"}
    out = run_cli("status", "--json", env=env, cwd=tmp_path)
    doc = json.loads(out.stdout)
    assert doc["gateway"]["health"] == "unauthorized"
    assert out.returncode == 1
    assert "wrong-key-123456" not in out.stdout


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"PULSE_TUI_GATEWAY": "wppconnect"}, "PULSE_TUI_GATEWAY"),
        ({"PULSE_TUI_GATEWAY_URL": "ftp://x"}, "PULSE_TUI_GATEWAY_URL"),
        ({"PULSE_TUI_POLL_SECONDS": "soon"}, "PULSE_TUI_POLL_SECONDS"),
        ({"PULSE_TUI_REQUEST_BUDGET": "-4"}, "PULSE_TUI_REQUEST_BUDGET"),
        ({"REDIS_HOST": "127.0.0.1", "REDIS_PORT": "99999"}, "REDIS_PORT"),
        ({"REDIS_URL": "http://user:hunter2secret@127.0.0.1"}, "REDIS_URL"),
        ({"PULSE_TUI_READ_ONLY": "maybe"}, "PULSE_TUI_READ_ONLY"),
    ],
)
def test_bad_config_one_sentence_exit_2(env: dict[str, str], variable: str, tmp_path: Path) -> None:
    out = run_cli("status", "--json", env=env, cwd=tmp_path)
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0]
    assert "Traceback" not in out.stderr and "hunter2secret" not in out.stderr


def test_missing_env_file_names_the_flag(tmp_path: Path) -> None:
    out = run_cli("status", "--env-file", str(tmp_path / "nope.env"), cwd=tmp_path)
    assert out.returncode == 2 and "--env-file" in out.stderr and "Traceback" not in out.stderr


def test_precedence_flags_env_envfile_dotenv_defaults(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PULSE_TUI_POLL_SECONDS=7\nPULSE_TUI_REQUEST_BUDGET=11\nHASH_SALT=dotenv\n"
                                   "PULSE_TUI_SESSIONS=a\n")
    f1 = tmp_path / "one.env"
    f1.write_text("PULSE_TUI_REQUEST_BUDGET=22\nHASH_SALT=file1\nENCRYPTION_SALT=file1salt\n")
    f2 = tmp_path / "two.env"
    f2.write_text("HASH_SALT=file2\n")
    cfg = load_config({"PULSE_TUI_SESSIONS": "flag-id"}, {"PULSE_TUI_REQUEST_BUDGET": "33"}, [f1, f2], tmp_path)
    assert cfg.poll_seconds == 7.0  # only ./.env sets it
    assert cfg.request_budget == 33  # environment beats env files and ./.env
    assert cfg.hash_salt == "file2"  # a later --env-file beats an earlier one, both beat ./.env
    assert cfg.encryption_salt == "file1salt"
    assert cfg.extra_sessions == ("flag-id",)  # a flag beats everything
    assert cfg.env_files == (tmp_path / ".env", f1, f2)
    bare = load_config({}, {}, [], tmp_path / "empty-dir-without-dotenv")
    assert bare.poll_seconds == 3.0 and bare.request_budget == 90 and bare.gateway_url == "http://127.0.0.1:3001"


def test_pulse_env_file_as_is(tmp_path: Path) -> None:
    env = tmp_path / ".env.pulse"
    env.write_text('# Pulse production\nREDIS_HOST=127.0.0.1\nREDIS_PORT=6380\nREDIS_PASSWORD="p@ss word"\n'
                   "REDIS_DB=2\nENCRYPTION_KEY=abc\nELEVENLABS_API_KEY=sk_live_x\n")
    cfg = load_config({"PULSE_TUI_GATEWAY": "pulse"}, {}, [env], tmp_path)
    assert cfg.redis_url == "redis://:p%40ss%20word@127.0.0.1:6380/2"
    assert cfg.gateway_url == "http://127.0.0.1:3000"
    assert cfg.other_secrets == {"ELEVENLABS_API_KEY": "sk_live_x"}
    assert "p@ss word" in cfg.secret_values()
    with pytest.raises(ConfigError, match="REDIS_DB"):
        load_config({"REDIS_DB": "x"}, {"REDIS_HOST": "h"}, [], tmp_path)


def test_status_json_latency_is_set_once_sessions_are_polled(sim: GatewaySim, tmp_path: Path) -> None:
    env = {"PULSE_TUI_GATEWAY_URL": sim.url, "API_SECRET_KEY": API_KEY, "PULSE_TUI_AUTH_DIR": str(sim.auth_root)}
    out = run_cli("status", "--json", env=env, cwd=tmp_path)
    doc = json.loads(out.stdout)
    assert doc["gateway"]["health"] == "ok" and doc["sessions"], out.stderr
    assert isinstance(doc["gateway"]["latency_ms"], float) and doc["gateway"]["latency_ms"] >= 0


def test_negative_rate_limit_header_does_not_zero_the_budget() -> None:
    from pulse_tui.sources.gateway.budget import RequestBudget

    budget = RequestBudget(100)
    budget.observe({"RateLimit-Limit": "-1", "RateLimit-Remaining": "-1"}, 200)
    left, limit = budget.snapshot()
    assert limit is not None and limit > 0 and left is not None and left > 0


def test_status_json_types_with_wrong_field_types(sim: GatewaySim, redis_url: str, tmp_path: Path) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    client.set("session:" + "a" * 32, json.dumps({"expiresAt": {"$date": 1}, "phoneNumber": ["a"],
                                                   "whatsappId": 5, "isVerified": True, "flashUserId": []}))
    client.set("session:" + "b" * 32, json.dumps({"expiresAt": "2031-01-01T00:00:00+00:00", "phoneNumber": "1876"}))
    client.hset("session:" + "c" * 32, mapping={"x": "1"})
    client.close()
    env = {"PULSE_TUI_GATEWAY_URL": sim.url, "API_SECRET_KEY": API_KEY, "REDIS_URL": redis_url}
    out = run_cli("status", "--json", env=env, cwd=tmp_path)
    assert "Traceback" not in out.stderr
    users = {u["session_id"][0]: u for u in json.loads(out.stdout)["user_sessions"]}
    assert (users["a"]["expires_at"], users["a"]["phone"], users["a"]["whatsapp_id"]) == (None, None, None)
    assert users["a"]["linked"] is False
    assert (users["b"]["expires_at"], users["b"]["phone"]) == ("2031-01-01T00:00:00+00:00", "1876")
    assert users["c"]["redis_type"] == "hash" and users["c"]["class"] == "corrupt"
    assert users["c"]["detail"] == "a Redis hash, not a string value"
