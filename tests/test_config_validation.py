"""Configuration values: one sentence and exit 2 for each bad one, never a traceback, never the wrong target."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pulse_tui.config import ConfigError, config_from_values
from pulse_tui.sanitize import has_unsafe
from pulse_tui.sim.redis_server import find_redis_server

SECRET_KEY_NON_ASCII = "clé-secrète-très-longue"
SECRET_KEY_CRLF = "abc123\r\nX-Evil: 1"

# (variables, a word the sentence must hold)
BAD: list[tuple[dict[str, str], str]] = [
    ({"PULSE_TUI_GATEWAY_URL": "http://exämple.com:3001"}, "PULSE_TUI_GATEWAY_URL"),
    ({"PULSE_TUI_GATEWAY_URL": "http://[::1:3001"}, "PULSE_TUI_GATEWAY_URL"),
    ({"PULSE_TUI_GATEWAY_URL": "http://127.0.0.1:0"}, "port"),
    ({"PULSE_TUI_GATEWAY_URL": "http://127.0.0.1:3001/a b"}, "space"),
    ({"PULSE_TUI_GATEWAY_URL": "http://127.0.0.1:3001/" + "a" * 100_000}, "too long"),
    ({"PULSE_TUI_GATEWAY_URL": "ftp://127.0.0.1"}, "http://"),
    ({"REDIS_URL": "http://[::1:6379"}, "REDIS_URL"),
    ({"REDIS_URL": "redis://[::1:6379"}, "REDIS_URL"),
    ({"REDIS_URL": "redis://127.0.0.1:6379?db=x"}, "REDIS_URL"),
    ({"REDIS_URL": "redis://127.0.0.1:6379/0?socket_timeout=abc"}, "REDIS_URL"),
    ({"REDIS_URL": "redis://127.0.0.1:0"}, "port"),
    ({"REDIS_URL": "redis://127.0.0.1:6379/abc"}, "database"),
    ({"REDIS_URL": "redis://127.0.0.1:99999"}, "REDIS_URL"),
    ({"REDIS_URL": "unix://"}, "socket"),
    ({"REDIS_URL": "unix://localhost/tmp/redis.sock"}, "unix:///"),
    ({"REDIS_URL": "redis://" + "h" * 100_000}, "too long"),
    ({"REDIS_HOST": "127.0.0.1:6399"}, "REDIS_PORT"),
    ({"REDIS_HOST": "127.0.0.1/evil"}, "REDIS_HOST"),
    ({"REDIS_HOST": "user@127.0.0.1"}, "REDIS_HOST"),
    ({"REDIS_HOST": "127.0.0.1", "REDIS_PORT": "0"}, "REDIS_PORT"),
    ({"REDIS_HOST": "127.0.0.1", "REDIS_DB": "5" * 5000}, "REDIS_DB"),
    ({"API_SECRET_KEY": SECRET_KEY_NON_ASCII}, "API_SECRET_KEY"),
    ({"API_SECRET_KEY": SECRET_KEY_CRLF}, "API_SECRET_KEY"),
    ({"PULSE_TUI_POLL_SECONDS": "9" * 5000}, "PULSE_TUI_POLL_SECONDS"),
    ({"PULSE_TUI_LOG_LINES": "lots"}, "PULSE_TUI_LOG_LINES"),
    ({"PULSE_TUI_LOG_LINES": "5"}, "PULSE_TUI_LOG_LINES"),  # below 100: a pane that could not scroll back
    ({"PULSE_TUI_GATEWAY": "\x1b]0;pwned\x07"}, "PULSE_TUI_GATEWAY"),
    ({"PULSE_TUI_SESSIONS": "a/\x1b[2J\x9b"}, "PULSE_TUI_SESSIONS"),
]


def run_status(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("PULSE_TUI_", "REDIS_", "ENCRYPTION_", "API_SECRET"))}
    # A gateway that is surely not there: a config that slips through must not hang on a real one.
    base.update({"PULSE_TUI_GATEWAY_URL": "http://127.0.0.1:9", "XDG_STATE_HOME": str(cwd)})
    base.update(env)
    return subprocess.run([sys.executable, "-m", "pulse_tui", "status", "--json"], capture_output=True,
                          text=True, env=base, cwd=cwd, timeout=60)


@pytest.mark.parametrize(("env", "word"), BAD, ids=[f"{next(iter(e))}-{i}" for i, (e, _) in enumerate(BAD)])
def test_bad_value_is_one_sentence_and_exit_2(env: dict[str, str], word: str, tmp_path: Path) -> None:
    out = run_status(env, tmp_path)
    assert out.returncode == 2, (out.stdout[:500], out.stderr[:2000])
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr[:2000]
    assert lines[0].startswith("pulse-tui: ") and word in lines[0]
    assert not has_unsafe(lines[0]) and "\x1b" not in out.stderr
    assert len(lines[0]) < 300  # an echoed value is cut short
    assert out.stdout == ""
    for value in env.values():
        if len(value) > 30 or "API_SECRET_KEY" in env:
            assert value not in out.stderr  # never the (long or secret) value itself


@pytest.mark.parametrize("value", ["redis://127.0.0.1:0", "redis://127.0.0.1:6379/abc", "redis://127.0.0.1/1?db=x"])
def test_wrong_redis_target_is_refused_not_defaulted(value: str) -> None:
    with pytest.raises(ConfigError, match="REDIS_URL"):
        config_from_values({"REDIS_URL": value})


def test_good_values_still_pass() -> None:
    cfg = config_from_values({"PULSE_TUI_GATEWAY_URL": "http://[::1]:3001", "API_SECRET_KEY": "abc 123-~",
                              "REDIS_HOST": "::1", "REDIS_PORT": "6380", "REDIS_DB": "2",
                              "REDIS_PASSWORD": "pä ss/@:word"})
    assert cfg.gateway_url == "http://[::1]:3001"
    assert cfg.redis_url is not None and cfg.redis_url.startswith("redis://:") and cfg.redis_url.endswith("@[::1]:6380/2")
    assert config_from_values({"REDIS_URL": "unix:///run/redis.sock?db=3"}).redis_url == "unix:///run/redis.sock?db=3"
    assert config_from_values({}).log_lines == 10_000
    assert config_from_values({"PULSE_TUI_LOG_LINES": "2000"}).log_lines == 2000
    assert config_from_values({"REDIS_URL": "rediss://h.example:6380/1"}).redis_url == "rediss://h.example:6380/1"


_VARS = ("PULSE_TUI_GATEWAY", "PULSE_TUI_GATEWAY_URL", "API_SECRET_KEY", "PULSE_TUI_AUTH_DIR", "PULSE_TUI_SESSIONS",
         "REDIS_URL", "REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD", "REDIS_DB", "PULSE_TUI_LOGS",
         "PULSE_TUI_POLL_SECONDS", "PULSE_TUI_REQUEST_BUDGET", "PULSE_TUI_READ_ONLY", "PULSE_TUI_ASCII",
         "PULSE_TUI_PM2_APP", "PULSE_TUI_AUDIT_LOG", "PULSE_TUI_LOG_LINES")
_URLISH = st.builds(lambda scheme, rest: scheme + rest,
                    st.sampled_from(["", "http://", "https://", "redis://", "rediss://", "unix://", "unix:///"]),
                    st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(list("[]:@/?#=%.0123456789")),
                             max_size=40))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(_VARS), _URLISH | st.text(max_size=30), max_size=6))
def test_config_from_values_raises_only_config_error(values: dict[str, str]) -> None:
    try:
        cfg = config_from_values(values)
    except ConfigError as exc:
        msg = str(exc)
        assert msg and "\n" not in msg
        secret = values.get("API_SECRET_KEY", "").strip()
        others = [v for k, v in values.items() if k != "API_SECRET_KEY"]
        if len(secret) >= 6 and not any(secret in v for v in others):  # else another value may echo it
            assert secret not in msg
    else:
        # Whatever passes, httpx and redis-py take without raising.
        httpx.Request("GET", cfg.gateway_url, headers={"x-api-key": cfg.api_key or ""})
        if cfg.redis_url is not None:
            redis.Redis.from_url(cfg.redis_url).close()


@pytest.fixture
def unix_redis(tmp_path: Path) -> Iterator[Path]:
    sock = tmp_path / "redis.sock"
    proc = subprocess.Popen([find_redis_server(), "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
                             "--dir", str(tmp_path), "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(500):
            if sock.exists():
                break
            time.sleep(0.02)
        yield sock
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_unix_socket_redis_end_to_end(unix_redis: Path, tmp_path: Path) -> None:
    client = redis.Redis(unix_socket_path=str(unix_redis), db=2)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    client.set("session:abc", b"not-pulse-format")
    client.close()
    out = run_status({"REDIS_URL": f"unix://{unix_redis}?db=2"}, tmp_path)
    assert out.returncode in (0, 1), out.stderr
    doc = json.loads(out.stdout)
    assert doc["redis"]["available"] is True
    assert [u["session_id"] for u in doc["user_sessions"]] == ["abc"]


def test_a_bad_watchdog_variable_stops_the_tui_before_it_starts(tmp_path: Path) -> None:
    env = {**os.environ, "PULSE_TUI_WATCH_MAX_PER_HOUR": "lots", "PULSE_TUI_GATEWAY_URL": "http://127.0.0.1:9"}
    out = subprocess.run([sys.executable, "-m", "pulse_tui"], env=env, cwd=tmp_path, capture_output=True,
                         text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert out.returncode == 2, (out.stdout[:500], out.stderr[:2000])
    assert "PULSE_TUI_WATCH_MAX_PER_HOUR" in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
