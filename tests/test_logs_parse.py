"""Parsing (pm2 prefix, winston JSON, NestJS, plain), highlights, and redaction of each kind of secret."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pulse_tui.sources.logs import MASK, LogFollower, Redactor, highlight_reason, parse_line
from pulse_tui.sources.logs.line import at_least
from pulse_tui.sources.logs.parse import _json_value

VECTOR = Path(__file__).resolve().parent / "data" / "pulse-session-vector.json"


def test_pm2_prefix_gives_time_and_strips_it() -> None:
    ln = parse_line("2026-11-25 08:01:02 +00:00: User 42 authenticated", "pm2-out.log")
    assert ln.text == "User 42 authenticated"
    assert ln.at == datetime(2026, 11, 25, 8, 1, 2, tzinfo=UTC).timestamp()
    other_tz = parse_line("2026-11-25 10:01:02 +02:00: x", "pm2-out.log")
    assert other_tz.at == ln.at


def test_pm2_logs_app_prefix_and_ansi_are_stripped() -> None:
    ln = parse_line("0|salesboy-gateway  | 2026-11-25 08:01:02 +00:00: \x1b[31mboom\x1b[39m", "out")
    assert ln.text == "boom" and ln.at is not None


def test_winston_json_line() -> None:
    raw = json.dumps({"level": "warn", "message": "User abc disconnected: LOGOUT",
                      "timestamp": "2026-11-25T08:01:02.500Z"})
    ln = parse_line(raw, "gateway-2026-11-25.log")
    assert (ln.level, ln.text) == ("warn", "User abc disconnected: LOGOUT")
    assert ln.at == datetime(2026, 11, 25, 8, 1, 2, 500000, tzinfo=UTC).timestamp()
    assert ln.source == "gateway-2026-11-25.log"


def test_winston_json_with_stack_and_meta() -> None:
    raw = json.dumps({"level": "error", "message": "Failed to start", "timestamp": "2026-11-25T08:01:02Z",
                      "stack": "Error: Failed to start\n    at launch (browser.js:10:5)", "userId": "u1"})
    ln = parse_line(raw, "g.log")
    first, *frames = ln.text.split("\n")
    assert first == "Failed to start {userId=u1}"
    assert frames == ["    at launch (browser.js:10:5)"]
    assert ln.level == "error"


def test_pm2_prefixed_json_keeps_the_json_time() -> None:
    raw = '2026-11-25 08:01:02 +00:00: {"level":"info","message":"hi","timestamp":"2026-11-25T08:01:01.000Z"}'
    ln = parse_line(raw, "pm2-out.log")
    assert ln.text == "hi" and ln.level == "info"
    assert ln.at == datetime(2026, 11, 25, 8, 1, 1, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("raw", "level"),
    [
        ("[Nest] 4121  - 11/25/2026, 8:01:02 AM   ERROR [RedisService] boom", "error"),
        ("[Nest] 4121  - 11/25/2026, 8:01:02 AM     LOG [NestApplication] started", "info"),
        ("[Nest] 4121  - 11/25/2026, 8:01:02 AM    WARN [Config] hmm", "warn"),
        ("error: something", "error"),
        ("[WARN] careful", "warn"),
        ("TypeError: x is undefined", "error"),
        ("just words", ""),
    ],
)
def test_levels(raw: str, level: str) -> None:
    assert parse_line(raw, "a.log").level == level


def test_plain_lines_in_pm2_error_files_default_to_error() -> None:
    assert parse_line("something odd", "pm2-error.log", default_level="error").level == "error"
    assert parse_line("[INFO] fine", "pm2-error.log", default_level="error").level == "info"


def test_level_filter_helper() -> None:
    assert at_least("error", "warn") and at_least("warn", "warn")
    assert not at_least("info", "warn") and not at_least("", "error")
    assert at_least("", "")


@pytest.mark.parametrize(
    "text",
    [
        "Failed to get encrypted value for key session:0123456789abcdef0123456789abcdef:",
        "Error: Decryption failed: Unsupported state or unable to authenticate data",
        "ElevenLabs TTS error: Request failed with status code 401",
        "Error: connect ECONNREFUSED 127.0.0.1:6379",
        "Session expired for 18765551234",
        "auth_failure: restore failed",
        "Auth failure for user 1f0e: bad",
        "User 1f0e disconnected: LOGOUT",
    ],
)
def test_highlights(text: str) -> None:
    assert highlight_reason(text)
    assert parse_line(text, "a.log").highlight == highlight_reason(text)


def test_not_highlighted() -> None:
    assert highlight_reason("ElevenLabs voice generated in 401 ms") is not None  # 401 + ElevenLabs: flagged
    assert highlight_reason("ElevenLabs voice generated") is None
    assert highlight_reason("HTTP 401 from Flash API") is None
    assert highlight_reason("User 1f0e connected with number: 1876") is None


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_JSON_TAILS = st.text(alphabet=" \t\n\r\x0b\x0c\u00a0\u2028}{],\"x0", max_size=6)


def _loads_or_error(text: str) -> str:
    try:
        return repr(json.loads(text))
    except ValueError as exc:
        return f"error {type(exc).__name__}: {exc}"


def _fast_or_error(text: str) -> str:
    try:
        return repr(_json_value(text))
    except ValueError as exc:
        return f"error {type(exc).__name__}: {exc}"


@given(st.dictionaries(st.text(max_size=10), _JSON_VALUES, max_size=5), st.booleans(), _JSON_TAILS)
def test_json_fast_path_reads_what_json_loads_reads(obj: dict[str, object], compact: bool, tail: str) -> None:
    """The winston fast path (the scanner, then only JSON whitespace allowed after the value) agrees with
    json.loads on every object line, followed by whitespace, other spaces or extra data."""
    text = json.dumps(obj, separators=(",", ":") if compact else None, ensure_ascii=compact) + tail
    assert _fast_or_error(text) == _loads_or_error(text)


@given(st.text(max_size=40))
def test_json_fast_path_agrees_on_any_text_after_a_brace(rest: str) -> None:
    text = "{" + rest
    assert _fast_or_error(text) == _loads_or_error(text)


def test_long_line_is_cut_and_marked() -> None:
    ln = parse_line("z" * 10_000, "a.log", max_chars=100)
    assert ln.truncated and ln.text.startswith("z" * 100) and len(ln.text) < 120


# --- redaction -------------------------------------------------------------------------


def r(text: str, *secrets: str) -> str:
    return Redactor(secrets).redact(text)


def test_configured_secret_values_are_masked() -> None:
    out = r("key is my-long-api-key-123 and salt pepper-salt-value", "my-long-api-key-123", "pepper-salt-value")
    assert "my-long-api-key-123" not in out and "pepper-salt-value" not in out
    assert out.count(MASK) == 2


def test_short_configured_values_are_ignored() -> None:
    assert r("abc is a word", "abc") == "abc is a word"


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        ("Authorization: Bearer eyabc.def-ghi_jkl", "eyabc.def-ghi_jkl", "Bearer "),
        ("headers: {'x-api-key': 'supersecret1'}", "supersecret1", "x-api-key"),
        ("x-api-key: supersecret1", "supersecret1", "x-api-key: "),
        ("GET /v1/voices xi-api-key=abcdef123456", "abcdef123456", "xi-api-key="),
        ("url?apikey=zzz999zzz&x=1", "zzz999zzz", "apikey="),
        ('{"api_key":"k-123456"}', "k-123456", '"api_key":"'),
        ("ELEVENLABS_API_KEY=abcd1234efgh", "abcd1234efgh", "ELEVENLABS_API_KEY="),
        ("JWT_SECRET=0badc0de0badc0de", "0badc0de0badc0de", "JWT_SECRET="),
        ("using key sk_0123456789abcdef0123456789abcdef0123456789abcdef", "sk_0123456789abcdef", ""),
        ("redis://:flash_redis_secure_pass@127.0.0.1:6379", "flash_redis_secure_pass", "redis://:"),
        ('{"flashUserId":"u1","flashAuthToken":"ory_st_abc123","x":1}', "ory_st_abc123", '"flashAuthToken":"'),
        ("flashAuthToken=ory_st_abc123 next", "ory_st_abc123", "flashAuthToken="),
        ("{ flashAuthToken: 'ory_st_abc123' }", "ory_st_abc123", "flashAuthToken: '"),
        ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlc2ln", "eyJhbGciOiJIUzI1NiJ9", ""),
    ],
)
def test_secret_kinds_are_masked(text: str, secret: str, kept: str) -> None:
    out = r(text)
    assert secret not in out
    assert MASK in out
    assert kept in out  # the key stays readable, only the value goes


def test_pulse_encrypted_blob_is_masked() -> None:
    vector = json.loads(VECTOR.read_text())
    value = vector["redis_value"]  # a real Pulse value: base64(IV16 + tag16 + ciphertext)
    assert len(base64.b64decode(value)) >= 48
    out = r(f"GET session:abc -> {value}")
    assert value not in out and out == f"GET session:abc -> {MASK}"
    key = vector["ENCRYPTION_KEY"]  # generated keys are 64 hex chars: masked too, even when not configured
    assert key not in r(f"ENCRYPTION key {key}")
    fresh = base64.b64encode(os.urandom(16 + 16 + 40)).decode()
    assert fresh not in r(f"value={fresh}") and fresh not in r(f"stored {fresh} ok")


def test_ordinary_text_is_left_alone() -> None:
    texts = [
        "User 6f1c2a4e-1b2c-4d3e-8f90-123456789abc connected with number: 18765551234",
        "Failed to get encrypted value for key session:0123456789abcdef0123456789abcdef:",
        "at Object.<anonymous> (/opt/pulse/dist/modules/whatsapp/services/whatsappwebservicehandler.js:1:2)",
        "WARNING: ENCRYPTION_KEY not set or too short. Using default key - DO NOT USE IN PRODUCTION!",
        "token refreshed",
    ]
    for t in texts:
        assert r(t) == t


def test_masking_is_consistent_and_idempotent() -> None:
    red = Redactor(["s3cr3t-value"])
    once = red.redact("a s3cr3t-value b x-api-key: s3cr3t-value")
    assert red.redact(once) == once
    assert once == f"a {MASK} b x-api-key: {MASK}"


async def test_follower_redacts_before_lines_leave_it(tmp_path: Path) -> None:
    blob = base64.b64encode(os.urandom(80)).decode()
    (tmp_path / "pm2-out.log").write_text(
        f'2026-11-25 08:01:02 +00:00: stored {{"flashAuthToken":"tok-abc-123"}} as {blob}\n'
        "2026-11-25 08:01:03 +00:00: key the-configured-secret\n"
    )
    f = LogFollower(["pm2-out.log"], base_dir=tmp_path, redactor=Redactor(["the-configured-secret"]))
    try:
        lines = await f.poll()
    finally:
        await f.aclose()
    joined = "\n".join(ln.text for ln in lines)
    assert "tok-abc-123" not in joined and blob not in joined and "the-configured-secret" not in joined
    assert joined.count(MASK) == 3
