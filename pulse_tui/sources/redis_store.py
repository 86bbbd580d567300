"""Read-only inspector of Pulse's Redis: user sessions, `whatsapp:` index keys and persistence facts.

It never writes or deletes (Pulse's own failure mode is deleting what it cannot decrypt). One SCAN pass walks
the keyspace; values are fetched in one pipeline per ~1000 keys (MGET beside one read-only script doing the session keys'
TTLs, or MGET and per-key TTL where EVAL is refused), and each fetch pipeline also carries the next SCAN call, so a poll costs
about one round trip per SCAN page: ~21 for 10,000 sessions and their 10,000 index keys. Keys another program
wrote with another type (hash, list…) cost one TYPE round trip more, only when there are any. Each fetched chunk of
session values is decrypted and parsed, a slice at a time on the event loop, while the next chunk is on the wire
(the cross-check of all of them runs in a thread at the end). Keys stay bytes:
they are the identity, and their text (invalid UTF-8 as `\\xNN`) is for display.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import hashlib
import json
import re
from binascii import a2b_base64
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

import hiredis
import redis.asyncio as aioredis
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from redis.asyncio.client import Pipeline
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.connection import HiredisRespSerializer
from redis.exceptions import AuthenticationError, NoPermissionError, RedisError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from pulse_tui.clock import Clock, SystemClock
from pulse_tui.crypto.pulse import (
    DEFAULT_HASH_SALTS,
    IV_LEN,
    PLACEHOLDER_HASH_SALTS,
    TAG_LEN,
    DecryptError,
    KeyPair,
    KeyRing,
    effective_hash_salt,
    hash_whatsapp_id,
    split_value,
)
from pulse_tui.model import IndexClass, IndexKey, Persistence, RedisReport, UserSession, ValueClass

SESSION_PREFIX = "session:"
INDEX_PREFIX = "whatsapp:"
OTHER_ENCRYPTED_PREFIXES = ("otp:", "group_link_code:", "pending_request:", "balance:", "admin:session:")
# Every prefix above starts with one of these letters: narrowing SCAN's reply to them keeps unrelated keys
# (queues, caches of other apps) off the wire without a second pass over the keyspace.
SCAN_MATCH = "[abgopsw]*"
_SESSION_B, _INDEX_B = SESSION_PREFIX.encode(), INDEX_PREFIX.encode()
_OTHER_B = tuple(p.encode() for p in OTHER_ENCRYPTED_PREFIXES)

# The TTLs of one chunk's session keys in one reply (a TTL command per key cost redis-py ~4 us each to pack and parse,
# 10,000 a poll). Read-only. The values come from a plain MGET beside it: through the script they were copied into Lua
# strings and back, which cost the server as much as the MGET and TTLs themselves (10,000 sessions: 45 -> 32 ms).
# Index keys' TTLs are not asked: nothing shows or checks them, and asking cost the server ~1.5 us a key (10,000
# sessions: the script 44-65 -> 21-24 ms of redis-server a poll, and a third fewer bytes sent).
_FETCH_SCRIPT = "local t = {} for i, k in ipairs(KEYS) do t[i] = redis.call('TTL', k) end return t"
MAX_CHUNK = 5000  # unpack() in Redis's Lua takes at most ~8000 arguments
READ_SLICE = 100  # session values read between two turns of the event loop (~1 ms)

REDACTED = "«redacted»"
HASH_SALT_MISMATCH = "hash-salt-mismatch"  # stable marker at the start of UserSession.detail parts

_SECRET_FIELDS = frozenset({"flashAuthToken"})
_SAFE_FIELDS = frozenset(
    {
        "sessionId", "whatsappId", "phoneNumber", "isVerified", "createdAt", "expiresAt", "lastActivity",
        "mfaVerified", "consentGiven", "flashUserId", "mfaExpiresAt", "consentTimestamp", "profileName",
    }
)
# Unknown fields whose name looks like a credential are redacted outright, not just summarised.
_SECRETISH_NAME = re.compile(r"token|secret|pass|key|auth|otp|pin|cookie|jwt|sig", re.IGNORECASE)
_MAX_SHOWN = 64
# A Pulse session is well under 2 kB: a value this large is not one, and decoding it would stall the poll.
MAX_VALUE_BYTES = 1 << 20
_PLAIN_NOTE = "plain JSON (cache warmer): Pulse deletes it"
_JSON_WORDS = {True: "true", False: "false", None: "null"}


# --- value classification (pure, no I/O) ---------------------------------------------------------


class ValueReading(NamedTuple):
    """Everything one session value tells, independent of its key, TTL and index keys (a tuple: one per value)."""

    value_class: ValueClass
    key_label: str | None = None
    details: tuple[str, ...] = ()
    whatsapp_id: str | None = None
    phone: str | None = None
    linked: bool = False
    expires_at: str | None = None
    last_activity: str | None = None
    fields: tuple[tuple[str, str], ...] = ()
    data_session_id: str | None = None  # the JSON's own sessionId
    expires_ts: float | None = None
    # `whatsapp:` + sha256(whatsappId + the opener's HASH_SALT): the index key Pulse writes for it, hashed while the
    # next chunk is on the wire (and once per value, not per poll); None when the opener has no salt or it fails.
    index_key: str | None = None


def _reading(cls: ValueClass, data: dict[str, Any] | None, label: str | None, *details: str,
             fields: bool = True, hash_salt: str | None = None) -> ValueReading:
    if data is None:
        return ValueReading(cls, label, details)
    get = data.get
    # Only the documented types pass: a field of the wrong type is None, never the repr of a list or object.
    expires_raw = get("expiresAt")
    expires_ts = _parse_iso(expires_raw) if type(expires_raw) is str else None
    if expires_ts is None and expires_raw is not None:
        details = (*details, "expiresAt is not an ISO 8601 date")
    flash_user = get("flashUserId")
    wid, phone, last, sid = get("whatsappId"), get("phoneNumber"), get("lastActivity"), get("sessionId")
    if type(wid) is not str:
        wid = None
    index_key = None
    if wid and hash_salt is not None:
        try:  # noqa: SIM105 - contextlib.suppress's object and two calls cost ~0.35 us, 10,000 values a poll
            index_key = INDEX_PREFIX + hashlib.sha256((wid + hash_salt).encode()).hexdigest()
        except UnicodeEncodeError:
            pass  # a lone surrogate: _hash_salt_note hashes it as Node does
    return ValueReading(
        cls,
        label,
        details,
        wid,
        phone if type(phone) is str else None,
        get("isVerified") is True and type(flash_user) is str and bool(flash_user),
        expires_raw if expires_ts is not None else None,
        last if type(last) is str else None,
        display_fields(data) if fields else (),
        sid if type(sid) is str else None,
        expires_ts,
        index_key,
    )


class ValueOpener:
    """Classifies `session:*` values with a KeyRing, remembering the previous poll's readings.

    Same decryption as crypto.pulse.decrypt, but each value is base64-decoded once and each key's AES-GCM
    context is built once. Values rarely change between polls, so a value seen in the previous poll is not
    decrypted again; the memory is bounded to one poll's values. `fields=False` (one-shot commands, which never
    show them) skips the redacted display fields. `hash_salt` (the effective HASH_SALT): each reading carries the index
    key Pulse writes for its whatsappId.
    """

    def __init__(self, keyring: KeyRing, *, fields: bool = True, hash_salt: str | None = None) -> None:
        self.keyring = keyring
        self.fields = fields
        self.hash_salt = hash_salt
        self._ciphers: dict[bytes, AESGCM] = {}
        self._first: tuple[KeyPair, AESGCM] | None = None  # the configured pair and its cipher, once one is needed
        self._previous: dict[bytes, ValueReading] = {}
        self._current: dict[bytes, ValueReading] = {}

    def read(self, raw: bytes) -> ValueReading:
        """The reading of one value, from the previous poll when the bytes are unchanged."""
        found = self._current.get(raw)  # primed while the next chunk was on the wire: nearly every value
        if found is None:
            found = self._current[raw] = self._previous.get(raw) or self.classify(raw)
        return found

    def prime(self, values: Iterable[bytes]) -> None:
        """Read these values now (while the next chunk is on the wire), so the poll's build_sessions finds them
        read; a value that trips the classifier is left for build_sessions to report."""
        read = self.read
        for raw in values:
            try:  # noqa: SIM105 - not contextlib.suppress: ~0.35 us a value (see _reading)
                read(raw)
            except Exception:  # noqa: BLE001, S110 - build_sessions reads it again and reports it
                pass

    def end_poll(self) -> None:
        """Forget readings of values not seen in the poll that just ended."""
        self._previous, self._current = self._current, {}

    def _cipher(self, key: bytes) -> AESGCM:
        cipher = self._ciphers.get(key)
        if cipher is None:
            cipher = self._ciphers[key] = AESGCM(key)
        return cipher

    def classify(self, raw: bytes | str) -> ValueReading:
        """plain / ok / default-key / undecryptable / corrupt, with the opening pair's label."""
        # Nearly every value is base64 bytes that open with the configured pair: straight there, without the text
        # copy, the '{' test and the candidates' generator (strict base64 holds neither whitespace nor '{', so
        # such a value takes the same branch below). Anything else, or a value the pair does not open: the full way.
        if type(raw) is bytes and len(raw) <= MAX_VALUE_BYTES:
            try:
                blob = a2b_base64(raw, strict_mode=True)
            except (binascii.Error, ValueError):
                blob = b""
            if len(blob) > IV_LEN + TAG_LEN:
                first = self._first or self._first_cipher()
                try:
                    plain = first[1].decrypt(blob[:IV_LEN], blob[IV_LEN + TAG_LEN :] + blob[IV_LEN : IV_LEN + TAG_LEN],
                                             None)
                except InvalidTag:
                    pass
                else:
                    return _opened(plain, first[0], self.fields, self.hash_salt)
        return self._classify(raw)

    def _first_cipher(self) -> tuple[KeyPair, AESGCM]:
        pair = self.keyring.pairs[0]
        self._first = (pair, self._cipher(self.keyring.key_for(pair)))
        return self._first

    def _classify(self, raw: bytes | str) -> ValueReading:
        if len(raw) > MAX_VALUE_BYTES:
            return _reading(ValueClass.CORRUPT, None, None, f"{len(raw)} bytes: too large for a session, not decoded")
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError:
            return _reading(ValueClass.CORRUPT, None, None, "not UTF-8 text")
        if text.lstrip().startswith("{"):
            data = _json_object(text)
            if data is None:
                return _reading(ValueClass.CORRUPT, None, None, "starts with '{' but is not a JSON object")
            return _reading(ValueClass.PLAIN, data, None, _PLAIN_NOTE, fields=self.fields, hash_salt=self.hash_salt)
        try:
            iv, tag, ciphertext = split_value(text)
        except DecryptError as exc:
            return _reading(ValueClass.CORRUPT, None, None, str(exc))
        sealed = ciphertext + tag
        for pair, key in self.keyring.candidates():
            try:
                plain = self._cipher(key).decrypt(iv, sealed, None)
            except InvalidTag:
                continue
            return _opened(plain, pair, self.fields, self.hash_salt)
        return _reading(ValueClass.UNDECRYPTABLE, None, None, "no known key opens it")


def _opened(plain: bytes, pair: KeyPair, fields: bool = True, hash_salt: str | None = None) -> ValueReading:
    try:
        data = _json_object(plain.decode("utf-8"))
    except UnicodeDecodeError:
        data = None
    if data is None:
        return _reading(ValueClass.CORRUPT, None, pair.label, "not JSON after decrypt")
    return _reading(ValueClass.OK if pair.is_configured else ValueClass.DEFAULT_KEY, data, pair.label, fields=fields,
                    hash_salt=hash_salt)


def classify_value(raw: bytes | str, keyring: KeyRing) -> ValueReading:
    """Classify one `session:*` value: plain / ok / default-key / undecryptable / corrupt."""
    return ValueOpener(keyring).classify(raw)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # JSON.parse in Pulse refuses NaN and Infinity too


_DECODER = json.JSONDecoder(parse_constant=_no_constant)  # built once: json.loads builds one per call with options


def _json_object(text: str) -> dict[str, Any] | None:
    """The JSON object in `text`, or None for anything else (bad JSON, NaN, nesting deep enough to recurse)."""
    # Pulse writes JSON.stringify's text, nothing around it: raw_decode() reading it to its end is what decode()
    # does, without decode()'s two whitespace matches (a tenth of reading a value). Anything else: decode() decides.
    try:
        data, end = _DECODER.raw_decode(text)
    except (ValueError, RecursionError):
        end = -1
    if end != len(text):
        try:
            data = _DECODER.decode(text)
        except (ValueError, RecursionError):
            return None
    return data if isinstance(data, dict) else None


def display_fields(data: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """(name, value) pairs safe to show: secrets redacted, unknown fields reduced to their shape."""
    return tuple([
        # Fast path first: a known field holding a short string (most of them) is shown as is. A list, not a
        # generator: tuple() of a generator costs a frame switch per field (4.2 -> 3.2 us a value).
        (name, value)
        if name in _SAFE_FIELDS and type(value) is str and len(value) <= _MAX_SHOWN
        else (name[:_MAX_SHOWN], _field_text(name, value))
        for name, value in data.items()
    ])


def _field_text(name: str, value: Any) -> str:
    if name in _SAFE_FIELDS:
        return _scalar_text(value)
    if name in _SECRET_FIELDS or _SECRETISH_NAME.search(name):
        return REDACTED
    return _opaque_text(value)


def _scalar_text(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return value if len(value) <= _MAX_SHOWN else value[: _MAX_SHOWN - 1] + "…"
    if kind is bool or value is None:
        return _JSON_WORDS[value]
    if kind is int:
        return _int_text(value)
    if kind is float:
        return repr(value)
    return _opaque_text(value)


def _int_text(value: int) -> str:
    # A 4,000-digit number would fill the pane (and past 4,300 digits str() raises): show its size instead.
    if -(10**_MAX_SHOWN) < value < 10**_MAX_SHOWN:
        return str(value)
    return f"«{value.bit_length()}-bit number»"


def _opaque_text(value: Any) -> str:
    # Unknown strings may hold anything (tokens under innocent names), so only their length is shown.
    if isinstance(value, str):
        return f"«{len(value)} chars»"
    if isinstance(value, list):
        return f"«list of {len(value)}»"
    if isinstance(value, dict):
        return "«object»"
    return _scalar_text(value)


def _parse_iso(text: str | None) -> float | None:
    if not text or len(text) > _MAX_SHOWN:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


# --- raw data of one poll -----------------------------------------------------------------------


RawValues = dict[bytes, tuple[bytes | None, int]]  # exact key bytes -> (value, ttl); None: not a string
RawIndex = dict[bytes, bytes | None]  # exact key bytes -> value; None: not a string (or gone since SCAN)


@dataclass
class _Raw:
    """Everything one poll fetched, before classification. Keys stay bytes: they are the identity."""

    sessions: RawValues = field(default_factory=dict)
    index: RawIndex = field(default_factory=dict)
    types: dict[bytes, str] = field(default_factory=dict)  # non-string keys -> their Redis type
    other_encrypted: int = 0
    persistence: Persistence | None = None
    round_trips: int = 0


# --- persistence ----------------------------------------------------------------------------------


def _queue_persistence(pipe: Pipeline) -> None:
    pipe.config_get("save")
    pipe.config_get("appendonly")
    pipe.info("persistence")


def _config_value(reply: Any, name: str) -> str | None:
    if not isinstance(reply, dict):
        return None
    for k, v in reply.items():
        key = k.decode() if isinstance(k, bytes) else str(k)
        if key == name:
            return v.decode() if isinstance(v, bytes) else str(v)
    return None


def _info_str(info: dict[str, Any], name: str) -> str | None:
    value = info.get(name)
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _info_int(info: dict[str, Any], name: str) -> int | None:
    value = info.get(name)
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _parse_persistence(save_r: Any, aof_r: Any, info_r: Any) -> Persistence:
    """Build Persistence from CONFIG GET save / appendonly and INFO persistence replies (or their errors)."""
    for reply in (save_r, aof_r, info_r):
        if isinstance(reply, Exception) and _is_auth_error(reply):
            raise reply
    config_available = not isinstance(save_r, Exception) and not isinstance(aof_r, Exception)
    info: dict[str, Any] = info_r if isinstance(info_r, dict) else {}
    save = _config_value(save_r, "save") if config_available else None
    appendonly = _config_value(aof_r, "appendonly") if config_available else None
    if appendonly is None and "aof_enabled" in info:
        # Managed Redis often disables CONFIG; INFO still says whether the AOF is on.
        appendonly = "yes" if _info_int(info, "aof_enabled") == 1 else "no"
    return Persistence(
        save=save,
        appendonly=appendonly,
        config_available=config_available,
        rdb_last_bgsave_status=_info_str(info, "rdb_last_bgsave_status"),
        aof_last_write_status=_info_str(info, "aof_last_write_status"),
        rdb_changes_since_last_save=_info_int(info, "rdb_changes_since_last_save"),
        rdb_last_save_time=_info_int(info, "rdb_last_save_time"),
        rdb_saves=_info_int(info, "rdb_saves"),
        rdb_last_bgsave_time_sec=_info_int(info, "rdb_last_bgsave_time_sec"),
    )


# --- errors ---------------------------------------------------------------------------------------


def _is_auth_error(exc: BaseException) -> bool:
    if isinstance(exc, AuthenticationError):
        return True
    text = str(exc).upper()
    return isinstance(exc, ResponseError) and text.startswith(("NOAUTH", "WRONGPASS"))


def _url_secrets(url: str) -> list[str]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    return [s for s in (parts.password, unquote(parts.password or "")) if s]


def _short_reason(exc: BaseException, url: str, timeout: float) -> str:
    """A one-line reason for the header; never carries the password."""
    if _is_auth_error(exc):
        reason = "authentication failed (check REDIS_PASSWORD)"
    elif isinstance(exc, NoPermissionError):
        reason = "permission denied: the Redis user may not read these keys"
    elif isinstance(exc, RedisTimeoutError | TimeoutError):
        reason = f"timed out after {timeout:g} s"
    elif isinstance(exc, RedisConnectionError | OSError):
        reason = "cannot connect: " + (str(exc).strip() or type(exc).__name__)
    else:
        reason = f"{type(exc).__name__}: {exc}"
    for secret in _url_secrets(url):
        reason = reason.replace(secret, "***")
    return reason[:200]


# --- the inspector ----------------------------------------------------------------------------------

# What redis-py and our parsing raise on a reply no real Redis sends (a proxy, an impostor on the port).
_BAD_REPLY = (ValueError, TypeError, IndexError, KeyError, AttributeError, RecursionError)


_SERIALIZER = HiredisRespSerializer()


class _PackedInC:
    """Packs each command with hiredis, as redis-py's own sync connection does: its asyncio connection packs every
    argument in Python (~0.4 us each), and a 10,000-session poll sends 40,000 keys (MGET and the TTL script). Not
    through HiredisRespSerializer.pack itself: its bytearray/memoryview test is a Python step per argument too."""

    def pack_command(self, *args: Any) -> list[bytes]:
        name = args[0]
        # A multi-word name ('CONFIG GET') split as redis-py splits it; then one C call for every argument.
        words = name.encode().split() if isinstance(name, str) else name.split() if b" " in name else None
        try:
            return [hiredis.pack_command(args if words is None else (*words, *args[1:]))]
        except TypeError:  # a bytearray or memoryview (which hiredis refuses): redis-py's pack converts it
            return _SERIALIZER.pack(*args)


def _packed_in_c(cls: type[AbstractConnection]) -> type[AbstractConnection]:
    """`cls` (TCP, TLS or unix socket, whichever the URL chose) with its commands packed in C."""
    return type(cls.__name__, (_PackedInC, cls), {})


@dataclass(slots=True)
class _Batch:
    """One fetch's keys: session keys (value and TTL) and index keys (value only)."""

    sessions: list[bytes]
    index: list[bytes]

    @classmethod
    def of(cls, keys: Iterable[bytes]) -> _Batch:
        batch = cls([], [])
        for key in keys:
            (batch.sessions if key.startswith(_SESSION_B) else batch.index).append(key)
        return batch


class RedisInspector:
    """Polls Pulse's Redis without writing to it; one instance per Redis, reconnects by itself."""

    def __init__(
        self,
        url: str,
        keyring: KeyRing,
        hash_salt: str | None,
        *,
        clock: Clock | None = None,
        scan_count: int = 1000,
        chunk: int = 1000,
        socket_timeout: float = 2.0,
        fields: bool = True,
    ) -> None:
        self._url = url
        # fields=False: no UserSession.fields (one-shot commands)
        self._opener = ValueOpener(keyring, fields=fields, hash_salt=effective_hash_salt(hash_salt))
        self._hash_salt = hash_salt
        self._clock: Clock = clock or SystemClock()
        self._scan_count = scan_count
        self._chunk = min(chunk, MAX_CHUNK)
        self._timeout = socket_timeout
        self._client: aioredis.Redis | None = None
        self._fetch_script = True  # cleared for good once the server refuses EVAL
        self._lock = asyncio.Lock()  # polls never overlap: the opener's caches are not shared safely

    def __repr__(self) -> str:
        return f"RedisInspector(host={urlsplit(self._url).hostname!r})"

    def _ensure_client(self) -> aioredis.Redis:
        if self._client is None:
            # No library retries: a down Redis must answer "unavailable" at once, not after backoffs.
            self._client = aioredis.Redis.from_url(
                self._url,
                socket_timeout=self._timeout,
                socket_connect_timeout=self._timeout,
                retry=Retry(NoBackoff(), 0),
                decode_responses=False,
            )
            pool = self._client.connection_pool  # hiredis is a dependency (redis[hiredis]): always there
            pool.connection_class = _packed_in_c(pool.connection_class)
        return self._client

    async def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()

    async def aclose(self) -> None:
        """Close the connection pool; a later inspect() opens a new one."""
        await self._drop_client()

    async def persistence(self) -> Persistence:
        """Persistence facts alone (one round trip); raises nothing: unknowns become None."""
        async with self._lock:
            try:
                pipe = self._ensure_client().pipeline(transaction=False)
                _queue_persistence(pipe)
                save_r, aof_r, info_r = await pipe.execute(raise_on_error=False)
                return _parse_persistence(save_r, aof_r, info_r)
            except (RedisError, OSError, *_BAD_REPLY):
                await self._drop_client()
                return Persistence(save=None, appendonly=None, config_available=False)

    async def inspect(self) -> RedisReport:
        """One full read-only poll; an unreachable Redis gives RedisReport(available=False, error=...)."""
        async with self._lock:
            started = self._clock.monotonic()
            raw: _Raw | None = None
            with_persistence = True
            for attempt in (0, 1):
                reused = self._client is not None
                try:
                    raw = await self._collect(self._ensure_client(), with_persistence)
                    break
                except _BAD_REPLY as exc:
                    # A proxy or an impostor answering in a shape Redis never uses: a typed state, not a crash.
                    await self._drop_client()
                    if attempt == 0:
                        # Proxies often answer CONFIG/INFO their own way: try once more without them.
                        with_persistence = False
                        continue
                    return RedisReport(available=False, error=f"unreadable reply from Redis ({type(exc).__name__})",
                                       took_s=self._clock.monotonic() - started)
                except (RedisError, OSError) as exc:
                    await self._drop_client()
                    # A pooled connection dies when Redis restarts between polls: retry once on a fresh one.
                    stale = reused and isinstance(exc, RedisConnectionError) and not _is_auth_error(exc)
                    if attempt == 0 and stale and not isinstance(exc, RedisTimeoutError):
                        continue
                    return RedisReport(
                        available=False,
                        error=_short_reason(exc, self._url, self._timeout),
                        took_s=self._clock.monotonic() - started,
                    )
            assert raw is not None
            sessions, index_keys = await asyncio.to_thread(
                build_sessions, raw.sessions, raw.index, self._opener, self._hash_salt, self._clock.now(), raw.types
            )
            return RedisReport(
                available=True,
                sessions=sessions,
                index_keys=index_keys,
                persistence=raw.persistence,
                round_trips=raw.round_trips,
                took_s=self._clock.monotonic() - started,
                other_encrypted=raw.other_encrypted,
            )

    async def _collect(self, client: aioredis.Redis, with_persistence: bool = True) -> _Raw:
        """SCAN the keyspace once; each pipeline fetches up to `chunk` found keys AND asks for the next page."""
        raw = _Raw()
        if not with_persistence:
            raw.persistence = Persistence(save=None, appendonly=None, config_available=False)
        pending: list[bytes] = []
        cursor: int | None = 0  # None once SCAN has wrapped around
        first = with_persistence
        unread: list[bytes] = []  # session values fetched and not read yet: read while the next reply is awaited
        while cursor is not None or pending:
            pipe = client.pipeline(transaction=False)
            if first:
                _queue_persistence(pipe)
            keys, pending = pending[: self._chunk], pending[self._chunk :]
            batch = _Batch.of(keys) if keys else None
            if batch is not None:
                self._queue_fetch(pipe, batch)
            if cursor is not None:
                pipe.scan(cursor, match=SCAN_MATCH, count=self._scan_count)
            fetch = asyncio.ensure_future(pipe.execute(raise_on_error=False))
            try:
                unread = await self._read_until(fetch, unread)
                results = list(await fetch)
            finally:
                fetch.cancel()  # a no-op once answered; else (this poll cancelled) the request is dropped too
            raw.round_trips += 1
            if first:
                raw.persistence = _parse_persistence(*results[:3])
                results = results[3:]
                first = False
            if cursor is not None:
                scan_reply = results.pop()
                if isinstance(scan_reply, Exception):
                    raise scan_reply
                cursor = int(scan_reply[0]) or None
                pending.extend(self._route(raw, scan_reply[1]))
            if batch is not None:
                values, ttls = await self._fetched(client, raw, batch, results)
                wrong = self._store(raw, batch, values, ttls, unread)
                if wrong:
                    await self._types(client, raw, wrong)
        return raw  # values still unread are read by build_sessions

    async def _read_until(self, fetch: asyncio.Future[Any], values: list[bytes]) -> list[bytes]:
        """Decrypt and parse fetched values, a slice at a time, until `fetch` is answered; returns the rest.

        On the event loop, not in a thread: a thread decrypting beside it made the loop's socket calls wait for the
        GIL (up to the 5 ms switch interval each; 0.2 s of send() in a 10,000-session read under cProfile). A slice
        is ~1-2 ms, so the loop still answers keys and sends the request between two."""
        done = 0
        while done < len(values):
            await asyncio.sleep(0)  # first, let the fetch go out: the server works on it while this reads
            if fetch.done():
                break
            self._opener.prime(values[done : done + READ_SLICE])
            done += READ_SLICE
        return values[done:]

    @staticmethod
    async def _types(client: aioredis.Redis, raw: _Raw, keys: list[bytes]) -> None:
        """Name the Redis type of keys MGET could not read as strings (one extra round trip, only when any)."""
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.type(key)
        replies = await pipe.execute(raise_on_error=False)
        raw.round_trips += 1
        for key, reply in zip(keys, replies, strict=True):
            if isinstance(reply, Exception):
                if _is_auth_error(reply):
                    raise reply
                name = "non-string"  # TYPE denied by an ACL: still not a string
            else:
                name = reply.decode("ascii", "replace") if isinstance(reply, bytes) else str(reply)
            if name == "none":  # deleted between MGET and TYPE
                raw.sessions.pop(key, None)
                raw.index.pop(key, None)
            elif name == "string":
                continue  # written between MGET and TYPE: read again next poll
            else:
                raw.types[key] = name

    def _queue_fetch(self, pipe: Pipeline, batch: _Batch) -> None:
        pipe.mget(batch.sessions + batch.index)  # MGET answers nil for a non-string key
        if self._fetch_script:
            pipe.eval(_FETCH_SCRIPT, len(batch.sessions), *batch.sessions)
        else:
            self._queue_ttls(pipe, batch.sessions)

    @staticmethod
    def _queue_ttls(pipe: Pipeline, batch: list[bytes]) -> None:
        for key in batch:
            pipe.ttl(key)

    async def _fetched(
        self, client: aioredis.Redis, raw: _Raw, batch: _Batch, results: list[Any]
    ) -> tuple[Sequence[Any], Sequence[Any]]:
        """(values, ttls) from a fetch's replies; falls back to MGET and per-key TTL where scripts are not allowed."""
        if not self._fetch_script:
            for reply in results:
                if isinstance(reply, Exception):
                    raise reply
            return results[0], results[1:]
        values, reply = results
        if isinstance(values, Exception):
            raise values
        if not isinstance(values, list):
            raise ValueError("the MGET reply is not a list")
        if not isinstance(reply, Exception):
            if not isinstance(reply, list):
                raise ValueError("the TTL script's reply is not a list")
            return values, reply
        if _is_auth_error(reply):
            raise reply
        # EVAL renamed, denied by an ACL or unsupported by a proxy: plain TTLs from now on (these values are in).
        self._fetch_script = False
        if not batch.sessions:
            return values, []
        pipe = client.pipeline(transaction=False)
        self._queue_ttls(pipe, batch.sessions)
        ttls = await pipe.execute()
        raw.round_trips += 1
        return values, ttls

    @staticmethod
    def _route(raw: _Raw, keys: Iterable[bytes]) -> list[bytes]:
        """Keys worth fetching (sessions, index keys); other encrypted prefixes are only counted."""
        wanted: list[bytes] = []
        for key in keys:
            # Keys stay bytes until stored: re-encoding 20,000 str keys per poll is measurable.
            if key.startswith((_SESSION_B, _INDEX_B)):
                wanted.append(key)
            elif key.startswith(_OTHER_B):
                raw.other_encrypted += 1
        return wanted

    @staticmethod
    def _store(raw: _Raw, batch: _Batch, values: Sequence[Any], ttls: Sequence[Any],
               unread: list[bytes]) -> list[bytes]:
        """Store one fetched batch (`values` in MGET's order: its session keys, then its index keys; `ttls`: its session
        keys'), adding its session values to `unread`; returns the keys MGET gave nil for that may exist as another
        type (TYPE tells, and drops those deleted since SCAN)."""
        if len(values) != len(batch.sessions) + len(batch.index):
            raise ValueError("the MGET reply does not have one value per key")
        wrong: list[bytes] = []
        sessions, index, fresh = raw.sessions, raw.index, unread.append
        cut = len(batch.sessions)
        for key, value, ttl in zip(batch.sessions, values[:cut], ttls, strict=True):
            ttl = int(ttl)
            if value is None:
                if ttl == -2:
                    continue  # expired or deleted between SCAN and MGET
                wrong.append(key)
            else:
                fresh(value)
            sessions[key] = (value, ttl)
        for key, value in zip(batch.index, values[cut:], strict=True):
            if value is None:
                wrong.append(key)
            index[key] = value
        return wrong


# --- merging sessions and index keys -------------------------------------------------------------------


def _hash_salt_candidates(configured: str | None) -> list[tuple[str, str]]:
    """(label, salt) for every HASH_SALT Pulse may have used, the effective one first."""
    effective = effective_hash_salt(configured)
    out = [("configured" if effective == configured else "default", effective)]
    for label, salts in (("default", DEFAULT_HASH_SALTS), ("placeholder", PLACEHOLDER_HASH_SALTS)):
        out += [(label, s) for s in salts if s != effective]
    return out


def key_text(raw: bytes) -> str:
    """A key's exact text when it is UTF-8, else with `\\xNN` for each invalid byte (display only, not identity)."""
    return raw.decode("utf-8", "backslashreplace")


def wrong_type_note(redis_type: str) -> str:
    """The detail for a key that is not a string, naming its real type."""
    return f"a Redis {redis_type}, not a string value"


def build_sessions(
    sessions: RawValues,
    index: RawIndex,
    opener: ValueOpener | KeyRing,
    hash_salt: str | None,
    now: float,
    types: dict[bytes, str] | None = None,
) -> tuple[tuple[UserSession, ...], tuple[IndexKey, ...]]:
    """Classify fetched values and cross-check sessions against index keys (CPU only: run in a thread).

    Keys are bytes and stay the identity: `session:\\xff\\xfe` and `session:\\xff\\xfd` are two sessions.
    """
    if isinstance(opener, KeyRing):
        opener = ValueOpener(opener)
    types = types or {}
    cut = len(_SESSION_B)
    # Each session id's text, decoded once and shared by its UserSession and the IndexKey pointing at it (10,000
    # decodes and strings fewer a poll); the index loop's membership test is a lookup in it.
    sids = [key[cut:] for key in sessions]
    sid_texts = [sid.decode("utf-8", "backslashreplace") for sid in sids]
    texts = dict(zip(sids, sid_texts, strict=True))
    # An index key pointing at a key that is not a string dangles: that is no session Pulse can read.
    not_strings = ({key[cut:] for key in types if key in sessions} - {key[cut:] for key in sessions if key not in types}
                   if types else set())
    pointers: dict[bytes, list[str]] = defaultdict(list)  # session id -> index keys pointing at it
    index_keys: list[IndexKey] = []
    ok_cls, dangling = IndexClass.OK, IndexClass.DANGLING
    for key, value in index.items():
        text = key.decode("utf-8", "backslashreplace")  # key_text, inlined: 20,000 calls a poll
        if key in types:
            index_keys.append(IndexKey(key=text, session_id="", index_class=IndexClass.WRONG_TYPE,
                                       redis_type=types[key], raw_key=key))
            continue
        target = value.strip() if isinstance(value, bytes) else b""
        target_text = texts.get(target)
        ok = target_text is not None and not (not_strings and target in not_strings)
        if target_text is None:
            target_text = target.decode("utf-8", "backslashreplace")
        if ok:
            pointers[target].append(text)
        index_keys.append(IndexKey(text, target_text[:_MAX_SHOWN],  # positional: see _user_session
                                   ok_cls if ok else dangling, "string", key))
    salts = _hash_salt_candidates(hash_salt)
    precomputed = opener.hash_salt == salts[0][1]  # the readings' index_key was hashed with the effective salt
    users = []
    read = opener.read
    for (key, (value, ttl)), sid, session_id in zip(sessions.items(), sids, sid_texts, strict=True):
        redis_type = types.get(key, "string") if types else "string"
        if redis_type != "string":
            reading = ValueReading(ValueClass.CORRUPT, details=(wrong_type_note(redis_type),))
        elif value is None:
            reading = _NOT_A_STRING
        else:
            try:
                reading = read(value)
            except Exception as exc:  # noqa: BLE001 - one value the classifier trips on costs its row only
                reading = ValueReading(ValueClass.CORRUPT, details=(f"could not be classified ({type(exc).__name__})",))
        users.append(_user_session(key, session_id, reading, ttl, pointers.get(sid), salts, now, redis_type,
                                   precomputed))
    opener.end_poll()
    # Sorted once built, not walked in key order: the fetched values lie in memory in the order they came, and
    # walking 20,000 of them in key order was a cache miss per touch (a third of this function's time).
    users.sort(key=_RAW_KEY)
    index_keys.sort(key=_RAW_KEY)
    return tuple(users), tuple(index_keys)


_NOT_A_STRING = ValueReading(ValueClass.CORRUPT, details=("not a string value",))
_RAW_KEY = attrgetter("raw_key")


def _user_session(
    key: bytes,
    session_id: str,
    r: ValueReading,
    ttl: int,
    pointed_by: list[str] | None,
    salts: list[tuple[str, str]],
    now: float,
    redis_type: str = "string",
    precomputed: bool = False,
) -> UserSession:
    details = r.details
    if r.data_session_id is not None and r.data_session_id != session_id:
        details = (*details, "sessionId field differs from the key")
    if r.expires_ts is not None and r.expires_ts < now:
        details = (*details, "expiresAt is in the past")
    if r.whatsapp_id and pointed_by and not (precomputed and r.index_key in pointed_by):
        note = _hash_salt_note(r.whatsapp_id, pointed_by, salts)
        if note:
            details = (*details, note)
    # Positional, in the model's field order (tests/test_redis_store.py pins it): keywords made this call 3.5x
    # slower (1.05 -> 0.30 us), 10,000 times a poll.
    return UserSession(
        SESSION_PREFIX + session_id if key.startswith(_SESSION_B) else key_text(key),  # the prefix is ASCII
        session_id,
        r.value_class,
        None if ttl < 0 else ttl,
        r.whatsapp_id,
        r.phone,
        r.linked,
        r.expires_at,
        r.last_activity,
        r.key_label,
        IndexClass.OK if pointed_by else IndexClass.ORPHAN,
        "; ".join(details) if details else "",
        r.fields,
        redis_type,
        key,
    )


def _hash_salt_note(whatsapp_id: str, pointed_by: list[str], salts: list[tuple[str, str]]) -> str:
    """Empty when an index key is sha256(wid + effective HASH_SALT); else which salt the index was made with."""
    try:  # nearly every session: its index key is the one Pulse writes with the effective HASH_SALT
        if INDEX_PREFIX + hashlib.sha256((whatsapp_id + salts[0][1]).encode()).hexdigest() in pointed_by:
            return ""
    except UnicodeEncodeError:
        pass  # a lone surrogate: the loop below hashes it as Node does
    pointing = set(pointed_by)
    # Node's Buffer.from(text, "utf8") writes a lone surrogate as U+FFFD: hash what Pulse hashed.
    whatsapp_id = _LONE_SURROGATE.sub("\ufffd", whatsapp_id)
    for i, (label, salt) in enumerate(salts):
        if INDEX_PREFIX + hash_whatsapp_id(whatsapp_id, salt) in pointing:
            return "" if i == 0 else f"{HASH_SALT_MISMATCH}: index hashed with the {label} HASH_SALT"
    return f"{HASH_SALT_MISMATCH}: index key is not sha256(whatsappId + HASH_SALT) for any known salt"


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def has_hash_salt_mismatch(session: UserSession) -> bool:
    """True when the session's index key was made with another HASH_SALT than the effective one."""
    return HASH_SALT_MISMATCH in session.detail
