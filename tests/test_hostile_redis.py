"""A hostile Redis (tests/hostile/redis_values.py) through status --json, status --once and doctor, as subprocesses
against a real redis-server; and property tests for the value classifier, display_fields and the JSON shape.

The invariants: no traceback, exact JSON with only the documented types, no raw control byte on a terminal, and
nothing written (DBSIZE and a DUMP of every key equal before and after).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pulse_tui.crypto.pulse import KeyRing, derive_key, encrypt
from pulse_tui.model import IndexClass, ValueClass
from pulse_tui.sanitize import has_unsafe
from pulse_tui.sim.redis_server import free_port
from pulse_tui.sources.redis_store import (
    MAX_VALUE_BYTES,
    REDACTED,
    ValueOpener,
    build_sessions,
    classify_value,
    display_fields,
    key_text,
)
from pulse_tui.status_json import user_session_json
from tests.hostile.redis_values import ENTRIES, seed

KEY = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
SALT = "00112233445566778899aabbccddeeff"
HASH_SALT = "c0ffeec0ffeec0ffeec0ffeec0ffee00"
DERIVED = derive_key(KEY, SALT)
KEYRING = KeyRing.for_pulse(KEY, SALT, include_known=False)
DOCUMENTED_CLASSES = {c.value for c in ValueClass}
DOCUMENTED_INDEX = {c.value for c in IndexClass}


def _dump_all(url: str) -> tuple[int, dict[bytes, bytes | None]]:
    client = redis.Redis.from_url(url)
    try:
        return int(client.dbsize()), {k: client.dump(k) for k in client.scan_iter(count=1000)}
    finally:
        client.close()


@pytest.fixture
def hostile_redis(redis_url: str) -> Iterator[str]:
    client = redis.Redis.from_url(redis_url)
    seed(client, DERIVED)
    client.close()
    before = _dump_all(redis_url)
    yield redis_url
    assert _dump_all(redis_url) == before, "a read-only command wrote to Redis"


def _cli(*args: str, redis_url: str, tmp_path: Path) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_TUI_", "REDIS_", "ENCRYPTION_"))}
    env.update({"REDIS_URL": redis_url, "ENCRYPTION_KEY": KEY, "ENCRYPTION_SALT": SALT, "HASH_SALT": HASH_SALT,
                # nothing listens there: the gateway is down, which is not what this test is about
                "PULSE_TUI_GATEWAY_URL": f"http://127.0.0.1:{free_port()}", "PULSE_TUI_LOGS": str(tmp_path / "none.log"),
                "PYTHONIOENCODING": "utf-8"})
    return subprocess.run([sys.executable, "-m", "pulse_tui", *args], capture_output=True, env=env, cwd=tmp_path,
                          timeout=120)


def _strict_json(raw: bytes) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} in the JSON output")

    return json.loads(raw.decode("utf-8"), parse_constant=refuse)


def _assert_terminal_safe(raw: bytes) -> None:
    text = raw.decode("utf-8")
    for line in text.split("\n"):
        assert not has_unsafe(line), repr(line[:200])


def _assert_user_session_types(u: dict[str, Any]) -> None:
    assert isinstance(u["session_id"], str)
    for name in ("whatsapp_id", "phone", "key", "expires_at"):
        assert u[name] is None or isinstance(u[name], str), (name, u[name])
    if u["expires_at"] is not None:
        datetime.fromisoformat(u["expires_at"])
    assert u["phone"] is None or not u["phone"].startswith("[")
    assert u["ttl"] is None or type(u["ttl"]) is int
    assert type(u["linked"]) is bool
    assert u["class"] in DOCUMENTED_CLASSES and u["index"] in DOCUMENTED_INDEX
    assert u["redis_type"] in ("string", "hash", "list", "set", "zset", "stream")


def test_status_json_on_hostile_redis(hostile_redis: str, tmp_path: Path) -> None:
    out = _cli("status", "--json", redis_url=hostile_redis, tmp_path=tmp_path)
    assert out.returncode == 1, out.stderr  # not healthy (gateway down, corrupt values), but it answered
    assert b"Traceback" not in out.stderr
    doc = _strict_json(out.stdout)
    assert doc["redis"]["available"] is True
    users = doc["user_sessions"]
    for u in users:
        _assert_user_session_types(u)
    expected = {key_text(e.key[len(b"session:"):]) for e in ENTRIES if e.key.startswith(b"session:")}
    assert sorted(u["session_id"] for u in users) == sorted(expected)  # one row per key, binary keys apart
    by_id = {u["session_id"]: u for u in users}
    assert by_id["\\xff\\xfe"] != by_id["\\xff\\xfd"]
    assert by_id["\x1b]0;pwned\x07"]["class"] == "plain"  # exact: the key's own text, escaped by JSON only
    assert by_id["hash"]["redis_type"] == "hash" and "a Redis hash" in by_id["hash"]["detail"]
    assert by_id["wrong-types"]["phone"] is None and by_id["wrong-types"]["expires_at"] is None
    assert by_id["deep-plain"]["class"] == "corrupt" and by_id["deep-encrypted"]["class"] == "corrupt"
    assert by_id["nan"]["class"] == "corrupt" and by_id["huge-value"]["class"] == "corrupt"
    assert by_id[f"{0:032x}"]["class"] == "ok" and by_id[f"{0:032x}"]["whatsapp_id"] == "\x1b]0;pwned\x07@c.us"
    assert KEY not in out.stdout.decode() and SALT not in out.stdout.decode()


def test_status_once_on_hostile_redis(hostile_redis: str, tmp_path: Path) -> None:
    out = _cli("status", "--once", redis_url=hostile_redis, tmp_path=tmp_path)
    assert out.returncode == 1, out.stderr
    assert b"Traceback" not in out.stderr and b"user sessions in Redis" in out.stdout
    _assert_terminal_safe(out.stdout)
    _assert_terminal_safe(out.stderr)


@pytest.mark.parametrize("as_json", [False, True])
def test_doctor_on_hostile_redis(hostile_redis: str, tmp_path: Path, as_json: bool) -> None:
    out = _cli("doctor", *(["--json"] if as_json else []), redis_url=hostile_redis, tmp_path=tmp_path)
    assert out.returncode == 2, out.stderr  # critical (gateway down), never 3: the Redis checks ran
    assert b"Traceback" not in out.stderr
    if as_json:
        doc = _strict_json(out.stdout)
        codes = {f["code"] for f in doc["findings"]}
        assert {"sessions-wrong-type", "index-wrong-type", "sessions-corrupt", "sessions-plain-json"} <= codes
        assert not any(c.endswith("-check-failed") for c in codes), codes
    else:
        _assert_terminal_safe(out.stdout)
        text = out.stdout.decode()
        assert "Redis reachable" in text and "sessions-wrong-type" in text and "index-wrong-type" in text
    _assert_terminal_safe(out.stderr)


# --- properties ------------------------------------------------------------------------------------

_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=80)
_json_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                            | st.dictionaries(st.text(max_size=20), inner, max_size=4), max_leaves=20)
_field_names = st.sampled_from(["sessionId", "whatsappId", "phoneNumber", "isVerified", "expiresAt", "lastActivity",
                                "flashUserId", "flashAuthToken", "profileName", "refreshToken", "note"]) \
    | st.text(max_size=30)
_objects = st.dictionaries(_field_names, _json_values, max_size=8)
_SECRET_NAMES = ("flashAuthToken", "refreshToken")


def _assert_reading(r: Any) -> None:
    assert r.value_class in ValueClass
    for v in (r.whatsapp_id, r.phone, r.expires_at, r.last_activity, r.data_session_id, r.key_label):
        assert v is None or isinstance(v, str)
    if r.expires_at is not None:
        datetime.fromisoformat(r.expires_at)
    assert all(isinstance(n, str) and isinstance(v, str) for n, v in r.fields)
    assert type(r.linked) is bool


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_objects, encrypted=st.booleans())
def test_classifier_on_any_json_object(data: dict[str, Any], encrypted: bool) -> None:
    text = json.dumps(data)
    r = classify_value(encrypt(text, DERIVED) if encrypted else text, KEYRING)
    assert r.value_class == (ValueClass.OK if encrypted else ValueClass.PLAIN)
    _assert_reading(r)
    shown = dict(r.fields)
    for name in _SECRET_NAMES:
        if name in data:
            assert shown[name] == REDACTED


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_classifier_on_any_bytes(raw: bytes) -> None:
    _assert_reading(classify_value(raw, KEYRING))


@settings(max_examples=30, deadline=None)
@given(depth=st.integers(min_value=1, max_value=200_000), prefix=st.sampled_from(['{"a":', "[", '{"a":{"b":']))
def test_classifier_on_deep_json(depth: int, prefix: str) -> None:
    r = classify_value(prefix + "[" * depth + "]" * depth + "}" * prefix.count("{"), KEYRING)
    _assert_reading(r)


def test_classifier_on_a_value_too_large() -> None:
    r = classify_value(b"{" + b" " * MAX_VALUE_BYTES + b"}", KEYRING)
    assert r.value_class == ValueClass.CORRUPT and "too large" in r.details[0]


@settings(max_examples=300, deadline=None)
@given(data=_objects)
def test_display_fields_are_short_text_and_never_secrets(data: dict[str, Any]) -> None:
    fields = display_fields(data)
    assert [n for n, _ in fields] == [n[:64] for n in data]
    for (name, value), original in zip(fields, data.values(), strict=True):
        assert isinstance(value, str) and len(value) <= 64, (name, value)
        if name in _SECRET_NAMES or "token" in name.lower() or "secret" in name.lower():
            assert value == REDACTED
        elif isinstance(original, str) and len(original) > 0 and name not in (
                "sessionId", "whatsappId", "phoneNumber", "isVerified", "expiresAt", "lastActivity", "flashUserId",
                "profileName", "createdAt", "mfaVerified", "consentGiven", "mfaExpiresAt", "consentTimestamp"):
            assert original not in value or len(original) < 3 or value.startswith("«")


@settings(max_examples=100, deadline=None)
@given(sessions=st.dictionaries(st.binary(max_size=12).map(lambda b: b"session:" + b),
                                st.one_of(st.none(), st.binary(max_size=60), _objects.map(lambda d: json.dumps(d).encode())),
                                max_size=6),
       index=st.dictionaries(st.binary(max_size=8).map(lambda b: b"whatsapp:" + b),
                             st.one_of(st.none(), st.binary(max_size=20)), max_size=4),
       types=st.sampled_from(["hash", "list", "set", "zset", "stream"]))
def test_build_sessions_keeps_keys_apart_and_json_exact(
    sessions: dict[bytes, bytes | None], index: dict[bytes, bytes | None], types: str
) -> None:
    wrong = {k: types for k, v in {**sessions, **index}.items() if v is None}
    users, keys = build_sessions({k: (v, -1) for k, v in sessions.items()}, index,
                                 ValueOpener(KEYRING), HASH_SALT, 1_790_000_000.0, wrong)
    assert sorted(u.raw_key for u in users) == sorted(sessions)  # one row per key, however they display
    assert sorted(k.raw_key for k in keys) == sorted(index)
    for u in users:
        entry = user_session_json(u)
        _assert_user_session_types(json.loads(json.dumps(entry, allow_nan=False)))
        assert u.redis_type == wrong.get(u.raw_key, "string")
    for k in keys:
        assert (k.index_class == IndexClass.WRONG_TYPE) == (k.raw_key in wrong)
