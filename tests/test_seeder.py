"""The seeder writes Pulse-format data (checked with the crypto module directly, not with the inspector)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
import redis

from pulse_tui.crypto.pulse import (
    DEFAULT_HASH_SALTS,
    DEFAULT_KEY,
    DEFAULT_SALTS,
    DecryptError,
    KeyRing,
    decrypt,
    derive_key,
    hash_whatsapp_id,
)
from pulse_tui.model import IndexClass, ValueClass
from pulse_tui.sim.seeder import demo_session_id, iso, seed_bulk, seed_demo

KEY = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
SALT = "ffeeddccbbaa99887766554433221100"
HASH_SALT = "abad1deaabad1deaabad1deaabad1dea"
NOW = 1_790_000_000.0


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


@pytest.fixture(scope="module")
def configured_key() -> bytes:
    return derive_key(KEY, SALT)


def _json(client: redis.Redis, sid: str, key: bytes) -> dict[str, object]:
    value = client.get(f"session:{sid}")
    assert value is not None
    data = json.loads(decrypt(value, key))
    assert isinstance(data, dict)
    return data


def test_manifest_covers_every_class(redis_url: str) -> None:
    m = seed_demo(redis_url, KEY, SALT, HASH_SALT, now=NOW)
    assert {e.value_class for e in m.sessions.values()} == set(ValueClass)
    assert {e.index for e in m.sessions.values()} == {IndexClass.OK, IndexClass.ORPHAN}
    assert len(m.dangling_index) == 1
    names = [e.name for e in m.sessions.values()]
    assert len(names) == len(set(names))
    for required in ("default-key", "wrong-key", "plain", "orphan", "expiring", "unlinked", "with-token",
                     "default-hash-salt", "corrupt-not-base64", "corrupt-too-short", "corrupt-not-json"):
        assert required in names
    assert all(re.fullmatch(r"[0-9a-f]{32}", sid) for sid in m.sessions)
    assert m.by_name("good-1")[0] == demo_session_id("good-1")  # stable ids for reproducible demo screens
    assert m.fake_token not in repr(m)


def test_values_are_pulse_format(redis_url: str, client: redis.Redis, configured_key: bytes) -> None:
    m = seed_demo(redis_url, KEY, SALT, HASH_SALT, now=NOW)
    sid, exp = m.by_name("good-1")
    data = _json(client, sid, configured_key)
    assert data["sessionId"] == sid and data["whatsappId"] == exp.whatsapp_id == "18765550101@c.us"
    assert data["isVerified"] is True and data["flashUserId"]
    assert data["expiresAt"] == iso(NOW + 86400)
    # Its index is sha256(whatsappId + HASH_SALT) and holds the session id.
    assert client.get("whatsapp:" + hash_whatsapp_id("18765550101@c.us", HASH_SALT)) == sid.encode()
    assert 86000 < client.ttl(f"session:{sid}") <= 86400

    sid, _ = m.by_name("default-key")
    assert _json(client, sid, derive_key(DEFAULT_KEY, DEFAULT_SALTS[0]))["isVerified"] is True
    with pytest.raises(DecryptError):
        _json(client, sid, configured_key)

    sid, _ = m.by_name("wrong-key")
    with pytest.raises(DecryptError):
        KeyRing.for_pulse(KEY, SALT).open(client.get(f"session:{sid}") or b"")

    sid, _ = m.by_name("plain")
    assert json.loads(client.get(f"session:{sid}") or b"")["sessionId"] == sid
    assert 1700 < client.ttl(f"session:{sid}") <= 1800

    sid, _ = m.by_name("expiring")
    assert 0 < client.ttl(f"session:{sid}") <= 60

    sid, exp = m.by_name("with-token")
    assert _json(client, sid, configured_key)["flashAuthToken"] == m.fake_token and exp.has_token

    sid, exp = m.by_name("unlinked")
    data = _json(client, sid, configured_key)
    assert data["isVerified"] is False and "flashUserId" not in data and not exp.linked

    sid, exp = m.by_name("default-hash-salt")
    wid = "18765550110@c.us"
    assert client.get("whatsapp:" + hash_whatsapp_id(wid, DEFAULT_HASH_SALTS[0])) == sid.encode()
    assert not client.exists("whatsapp:" + hash_whatsapp_id(wid, HASH_SALT))

    sid, _ = m.by_name("orphan")
    assert sid.encode() not in {client.get(k) for k in client.scan_iter(match="whatsapp:*")}


def test_other_keys(redis_url: str, client: redis.Redis, configured_key: bytes) -> None:
    m = seed_demo(redis_url, KEY, SALT, HASH_SALT, now=NOW)
    for key in m.username_keys:
        assert (client.get(key) or b"").endswith(b"@c.us") and client.ttl(key) == -1
    others = [k for k in client.scan_iter(count=1000) if k.startswith((b"otp:", b"balance:", b"admin:session:"))]
    assert len(others) == m.other_encrypted
    for k in others:
        json.loads(decrypt(client.get(k) or b"", configured_key))
        assert client.ttl(k) > 0
    (dangling, missing), = m.dangling_index.items()
    assert client.get(dangling) == missing.encode() and not client.exists(f"session:{missing}")


def test_seed_adds_without_flushing(redis_url: str, client: redis.Redis) -> None:
    client.set("unrelated:app:key", "keep me")
    seed_demo(redis_url, KEY, SALT, HASH_SALT, now=NOW)
    assert client.get("unrelated:app:key") == b"keep me"


def test_seed_bulk(redis_url: str, client: redis.Redis, configured_key: bytes) -> None:
    ids = seed_bulk(redis_url, 1500, KEY, SALT, HASH_SALT, now=NOW, batch=400)
    assert len(set(ids)) == 1500
    sessions = list(client.scan_iter(match="session:*", count=1000))
    index = list(client.scan_iter(match="whatsapp:*", count=1000))
    assert len(sessions) == 1500 and len(index) == 1500
    data = _json(client, ids[777], configured_key)
    size = len(json.dumps(data, separators=(",", ":")))
    assert 350 <= size <= 480, size  # "realistic": about 400 bytes of JSON per session
    assert client.get("whatsapp:" + hash_whatsapp_id(str(data["whatsappId"]), HASH_SALT)) == ids[777].encode()
    assert 86000 < client.ttl(f"session:{ids[0]}") <= 86400


def test_iso_matches_javascript_format() -> None:
    assert iso(1_790_000_000.123) == "2026-09-21T14:13:20.123Z"  # what node prints for new Date(1790000000123)
