"""Writes Pulse-format data into a Redis: one session of every class for the demo and tests, or many for benches.

Values are byte-compatible with Pulse (pulse_tui.crypto.pulse). The demo manifest says what the inspector
should find for each session, so tests compare field by field. It only adds keys; it never flushes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis

from pulse_tui.crypto.pulse import (
    DEFAULT_HASH_SALTS,
    DEFAULT_KEY,
    DEFAULT_SALTS,
    KeyRing,
    derive_key,
    effective_hash_salt,
    effective_key,
    effective_salt,
    encrypt,
    hash_whatsapp_id,
)
from pulse_tui.model import IndexClass, ValueClass

SESSION_TTL = 86_400
WARMER_TTL = 1_800
EXPIRING_TTL = 60
ADMIN_TTL = 604_800
OTP_TTL = 300


@dataclass(frozen=True)
class ExpectedSession:
    """What the inspector should report for one seeded `session:<id>`."""

    name: str  # e.g. "good-1", "default-key"
    value_class: ValueClass
    index: IndexClass
    ttl: int | None
    whatsapp_id: str | None = None  # None when the value cannot be read
    phone: str | None = None
    linked: bool = False
    key_label: str | None = None
    hash_salt_mismatch: bool = False
    has_token: bool = False


@dataclass(frozen=True)
class SeedManifest:
    """session_id → expected classification, plus the other keys written."""

    sessions: dict[str, ExpectedSession]
    index_keys: dict[str, str]  # every whatsapp: key written → the session id it holds
    dangling_index: dict[str, str]  # index keys whose session was never written
    other_encrypted: int  # otp:/balance:/admin:session: keys written
    username_keys: tuple[str, ...]
    fake_token: str = field(repr=False)  # the flashAuthToken written, so tests can grep for it

    def by_name(self, name: str) -> tuple[str, ExpectedSession]:
        """(session_id, expected) of the session seeded under `name`."""
        for sid, exp in self.sessions.items():
            if exp.name == name:
                return sid, exp
        raise KeyError(name)


def demo_session_id(name: str) -> str:
    """A stable 32-hex session id per demo name, so demo screens and tests are reproducible."""
    return hashlib.sha256(f"pulse-tui-demo:{name}".encode()).hexdigest()[:32]


def iso(ts: float) -> str:
    """Epoch seconds → ISO 8601 the way JavaScript's toISOString writes it."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def session_json(
    session_id: str,
    digits: str,
    *,
    now: float,
    verified: bool = True,
    flash_user_id: str | None = "",
    token: str | None = None,
    profile_name: str | None = None,
    expires_in: float = SESSION_TTL,
) -> dict[str, Any]:
    """A Pulse session object for WhatsApp number `digits` (country code included, no '+')."""
    created = now - 3600
    data: dict[str, Any] = {
        "sessionId": session_id,
        "whatsappId": f"{digits}@c.us",
        "phoneNumber": f"+{digits}",
        "isVerified": verified,
        "createdAt": iso(created),
        "expiresAt": iso(now + expires_in),
        "lastActivity": iso(now - 300),
        "mfaVerified": False,
        "consentGiven": verified,
    }
    if verified:
        data["consentTimestamp"] = iso(created + 60)
        data["flashUserId"] = flash_user_id or f"u_{session_id[:12]}"
    if token is not None:
        data["flashAuthToken"] = token
    if profile_name:
        data["profileName"] = profile_name
    return data


@dataclass
class _Writer:
    """Collects writes for one pipeline and the manifest entries that go with them."""

    pipe: Any
    ring: KeyRing
    keys: dict[tuple[str, str], bytes]
    hash_salt: str
    sessions: dict[str, ExpectedSession] = field(default_factory=dict)
    index_keys: dict[str, str] = field(default_factory=dict)

    def key(self, password: str, salt: str) -> bytes:
        if (password, salt) not in self.keys:
            self.keys[(password, salt)] = derive_key(password, salt)
        return self.keys[(password, salt)]

    def label(self, password: str, salt: str) -> str | None:
        """The keyring label the inspector will report for a value written with this pair."""
        return next((p.label for p in self.ring.pairs if (p.password, p.salt) == (password, salt)), None)

    def index(self, digits: str, session_id: str, ttl: int, hash_salt: str | None = None) -> str:
        key = "whatsapp:" + hash_whatsapp_id(f"{digits}@c.us", hash_salt or self.hash_salt)
        self.pipe.set(key, session_id, ex=ttl)
        self.index_keys[key] = session_id
        return key


def seed_demo(
    url: str,
    encryption_key: str | None,
    encryption_salt: str | None,
    hash_salt: str | None,
    *,
    now: float,
) -> SeedManifest:
    """Write one Pulse session of every class (and index/other keys) into `url`; return what to expect."""
    key, salt = effective_key(encryption_key), effective_salt(encryption_salt)
    hsalt = effective_hash_salt(hash_salt)
    ring = KeyRing.for_pulse(encryption_key, encryption_salt)
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        w = _Writer(client.pipeline(transaction=False), ring, {}, hsalt)
        token = "fake-flash-token-" + os.urandom(12).hex()
        _seed_readable(w, key, salt, now, token)
        _seed_unreadable(w, key, salt, now)
        dangling = _seed_other_keys(w, key, salt, now)
        w.pipe.execute()
    finally:
        client.close()
    return SeedManifest(
        sessions=w.sessions,
        index_keys=w.index_keys,
        dangling_index=dangling,
        other_encrypted=5,
        username_keys=("username:alice_jm", "username:bob876"),
        fake_token=token,
    )


def _put_session(
    w: _Writer, name: str, value: str, ttl: int, expected: dict[str, Any], *, digits: str | None, index: bool = True
) -> str:
    sid = demo_session_id(name)
    w.pipe.set(f"session:{sid}", value, ex=ttl)
    if index and digits:
        w.index(digits, sid, ttl)
    w.sessions[sid] = ExpectedSession(
        name=name, ttl=ttl, index=IndexClass.OK if index else IndexClass.ORPHAN, **expected
    )
    return sid


def _seed_readable(w: _Writer, key: str, salt: str, now: float, token: str) -> None:
    """Sessions the inspector can read: ok, default-key, plain, orphan, expiring, unlinked, token, hash salt."""
    conf = w.label(key, salt)
    conf_class = ValueClass.OK if conf == "configured" else ValueClass.DEFAULT_KEY
    specs: list[tuple[str, str, dict[str, Any], int, tuple[str, str], bool]] = [
        # name, digits, extra json kwargs, ttl, (password, salt), has index
        ("good-1", "18765550101", {"profile_name": "Alice"}, SESSION_TTL, (key, salt), True),
        ("good-2", "18765550102", {}, SESSION_TTL, (key, salt), True),
        ("good-3", "447700900103", {"profile_name": "Bob"}, SESSION_TTL, (key, salt), True),
        ("default-key", "18765550104", {}, SESSION_TTL, (DEFAULT_KEY, DEFAULT_SALTS[0]), True),
        ("orphan", "18765550105", {}, SESSION_TTL, (key, salt), False),
        ("expiring", "18765550106", {"expires_in": EXPIRING_TTL}, EXPIRING_TTL, (key, salt), True),
        ("unlinked", "18765550107", {"verified": False}, SESSION_TTL, (key, salt), True),
        ("with-token", "18765550108", {"token": token}, SESSION_TTL, (key, salt), True),
    ]
    for name, digits, extra, ttl, pair, has_index in specs:
        sid = demo_session_id(name)
        data = session_json(sid, digits, now=now, **extra)
        label = w.label(*pair)
        cls = conf_class if pair == (key, salt) else (
            ValueClass.OK if label == "configured" else ValueClass.DEFAULT_KEY
        )
        value = encrypt(json.dumps(data, separators=(",", ":")), w.key(*pair))
        expected = dict(
            value_class=cls, whatsapp_id=data["whatsappId"], phone=data["phoneNumber"],
            linked=bool(data["isVerified"] and data.get("flashUserId")), key_label=label,
            has_token="flashAuthToken" in data,
        )
        _put_session(w, name, value, ttl, expected, digits=digits, index=has_index)
    _seed_plain_and_hash_salt(w, key, salt, now, conf, conf_class)


def _seed_plain_and_hash_salt(
    w: _Writer, key: str, salt: str, now: float, conf: str | None, conf_class: ValueClass
) -> None:
    # The cache warmer's plain JSON copy (Pulse itself deletes it on read, since it does not decrypt).
    sid = demo_session_id("plain")
    data = session_json(sid, "18765550109", now=now)
    expected: dict[str, Any] = dict(
        value_class=ValueClass.PLAIN, whatsapp_id=data["whatsappId"], phone=data["phoneNumber"], linked=True
    )
    _put_session(w, "plain", json.dumps(data), WARMER_TTL, expected, digits="18765550109")
    # A session whose index was written while HASH_SALT was unset: a later HASH_SALT orphans it for Pulse.
    sid = demo_session_id("default-hash-salt")
    data = session_json(sid, "18765550110", now=now)
    other = DEFAULT_HASH_SALTS[0] if w.hash_salt != DEFAULT_HASH_SALTS[0] else DEFAULT_HASH_SALTS[1]
    value = encrypt(json.dumps(data), w.key(key, salt))
    w.pipe.set(f"session:{sid}", value, ex=SESSION_TTL)
    w.index("18765550110", sid, SESSION_TTL, hash_salt=other)
    w.sessions[sid] = ExpectedSession(
        name="default-hash-salt", value_class=conf_class, index=IndexClass.OK, ttl=SESSION_TTL,
        whatsapp_id=data["whatsappId"], phone=data["phoneNumber"], linked=True, key_label=conf,
        hash_salt_mismatch=True,
    )


def _seed_unreadable(w: _Writer, key: str, salt: str, now: float) -> None:
    """Wrong-key and corrupt values: the inspector reports them, Pulse would delete them."""
    wrong = derive_key("a-key-nobody-configured-" + os.urandom(8).hex(), salt)
    sid = demo_session_id("wrong-key")
    data = json.dumps(session_json(sid, "18765550111", now=now))
    _put_session(w, "wrong-key", encrypt(data, wrong), SESSION_TTL,
                 {"value_class": ValueClass.UNDECRYPTABLE}, digits="18765550111")
    corrupt = {
        "corrupt-not-base64": ("this is !! not base64 ~~", None),
        "corrupt-too-short": (base64.b64encode(os.urandom(20)).decode(), None),
        "corrupt-not-json": (encrypt("hello, not json", w.key(key, salt)), w.label(key, salt)),
    }
    for i, (name, (value, label)) in enumerate(corrupt.items()):
        _put_session(w, name, value, SESSION_TTL, {"value_class": ValueClass.CORRUPT, "key_label": label},
                     digits=f"1876555012{i}")


def _seed_other_keys(w: _Writer, key: str, salt: str, now: float) -> dict[str, str]:
    """A dangling index, username keys, and otp:/balance:/admin:session: values (counted, not classified)."""
    missing = demo_session_id("logged-out")
    dangling_key = w.index("18765550199", missing, SESSION_TTL)
    w.pipe.set("username:alice_jm", "18765550101@c.us")
    w.pipe.set("username:bob876", "447700900103@c.us")
    k = w.key(key, salt)
    small = json.dumps({"at": iso(now)})
    for i in range(2):
        w.pipe.set(f"otp:{hashlib.sha256(f'otp{i}'.encode()).hexdigest()}", encrypt(small, k), ex=OTP_TTL)
        w.pipe.set(f"balance:u_demo{i}", encrypt(json.dumps({"btc": 0, "usd": 12.5}), k), ex=60)
    w.pipe.set(f"admin:session:{demo_session_id('admin')}", encrypt(small, k), ex=ADMIN_TTL)
    return {dangling_key: missing}


def seed_bulk(
    url: str,
    n: int,
    encryption_key: str | None,
    encryption_salt: str | None,
    hash_salt: str | None,
    *,
    now: float | None = None,
    ttl: int = SESSION_TTL,
    batch: int = 1000,
) -> list[str]:
    """Write `n` linked sessions (~400-byte JSON, encrypted) with their index keys; return their ids."""
    now = datetime.now(UTC).timestamp() if now is None else now
    k = derive_key(effective_key(encryption_key), effective_salt(encryption_salt))
    hsalt = effective_hash_salt(hash_salt)
    ids: list[str] = []
    client = redis.Redis.from_url(url, socket_timeout=30)
    try:
        for start in range(0, n, batch):
            pipe = client.pipeline(transaction=False)
            for i in range(start, min(n, start + batch)):
                sid = hashlib.md5(f"bulk-{i}".encode(), usedforsecurity=False).hexdigest()
                digits = f"1876{i:07d}"
                data = session_json(sid, digits, now=now, token=f"fake-token-{sid}", profile_name=f"User {i}")
                pipe.set(f"session:{sid}", encrypt(json.dumps(data, separators=(",", ":")), k), ex=ttl)
                pipe.set("whatsapp:" + hash_whatsapp_id(data["whatsappId"], hsalt), sid, ex=ttl)
                ids.append(sid)
            pipe.execute()
    finally:
        client.close()
    return ids
