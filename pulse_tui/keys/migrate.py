"""`pulse-tui keys migrate`: re-encrypt Pulse's values from old keys to new ones, and re-hash the index keys.

Reading: one SCAN pass (never KEYS); each page's values fetched with one MGET. Writing, per key, with a Lua
compare-and-set: the script writes only when the value is still the one we read, keeps the key's PTTL, and is
atomic, so a value Pulse wrote meanwhile is never overwritten (it is reported as skipped-changed) and a
migration killed at any moment leaves each key holding either its old or its new value. A Redis that refuses
scripts gets the same compare-and-set as WATCH/MULTI/EXEC transactions (keys/watched.py). Each batch is backed up
(DUMP + PTTL, fsynced) before its writes. Values that open with neither side, and the cache warmer's plain
JSON, are left untouched and reported. Never prints a value or a key.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, cast

import redis
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, ResponseError
from redis.retry import Retry

from pulse_tui.crypto.pulse import (
    DEFAULT_HASH_SALTS,
    DEFAULT_KEY,
    DEFAULT_SALTS,
    PLACEHOLDER_HASH_SALTS,
    PLACEHOLDER_KEYS,
    PLACEHOLDER_SALTS,
    DecryptError,
    KeyPair,
    KeyRing,
    effective_hash_salt,
    effective_key,
    effective_salt,
    encrypt,
    hash_whatsapp_id,
    key_too_short,
    split_value,
)
from pulse_tui.doctor.checks_keys import is_known_value
from pulse_tui.keys.backup import BackupWriter
from pulse_tui.keys.watched import Trips, rename_keys, set_values

ENCRYPTED_PREFIXES = ("session:", "otp:", "group_link_code:", "pending_request:", "balance:", "admin:session:")
INDEX_PREFIX = "whatsapp:"
SCAN_MATCH = "[abgopsw]*"  # first letters of every prefix above: unrelated keys stay off the wire
_ENC_B = tuple(p.encode() for p in ENCRYPTED_PREFIXES)
_INDEX_B = INDEX_PREFIX.encode()
_SESSION_B = b"session:"
MAX_EXAMPLES = 5

# Compare-and-set: write ARGV[2] only if the key still holds ARGV[1]; keep the remaining PTTL exactly.
CAS_VALUE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local t = redis.call('PTTL', KEYS[1])
if t > 0 then redis.call('SET', KEYS[1], ARGV[2], 'PX', t) else redis.call('SET', KEYS[1], ARGV[2]) end
return 1
"""
# Rename an index key: only if the old one still points at ARGV[1] and the new one does not exist yet.
CAS_RENAME = """
local v = redis.call('GET', KEYS[1])
if v ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local t = redis.call('PTTL', KEYS[1])
if t > 0 then redis.call('SET', KEYS[2], v, 'PX', t) else redis.call('SET', KEYS[2], v) end
redis.call('DEL', KEYS[1])
return 1
"""


class MigrateError(Exception):
    """A migration that must not start (bad keys, no Redis URL…); one sentence, never a secret."""


class Outcome(StrEnum):
    MIGRATED = "migrated"
    WOULD_MIGRATE = "would-migrate"
    ALREADY_NEW = "already-new"  # opens with the new keys (migrated before, or written by Pulse since)
    PLAIN = "plain-json"  # cache warmer: not encrypted, left untouched
    UNOPENABLE = "unopenable"  # opens with neither side: left untouched
    SKIPPED_CHANGED = "skipped-changed"  # changed between our read and our write: not touched
    GONE = "gone"  # expired or deleted between SCAN and MGET, or not a string


@dataclass(frozen=True)
class KeySide:
    """One side of a migration: candidate (key, salt) pairs and HASH_SALTs. Its repr never shows a secret."""

    label: str
    pairs: tuple[KeyPair, ...] = field(repr=False)
    hash_salts: tuple[str, ...] = field(repr=False)


def side_from_values(values: Mapping[str, str | None], label: str) -> KeySide:
    """The keys Pulse really uses with these variables (a short or unset key means its default key)."""
    key = effective_key(values.get("ENCRYPTION_KEY"))
    salt = effective_salt(values.get("ENCRYPTION_SALT"))
    return KeySide(label, (KeyPair(label, key, salt),), (effective_hash_salt(values.get("HASH_SALT")),))


def old_side(
    named: Sequence[tuple[str, Mapping[str, str | None]]], new: KeySide, *, known: bool, label: str = "old"
) -> KeySide:
    """Every pair Pulse could have written with: {given keys, default key} x {given salts, new salt, defaults}.

    Pulse picks the key and the salt independently (a short or unset key means the default key, whatever the
    salt), so each key is tried with each salt. Extra candidates are safe: AES-GCM never opens with a wrong key.
    `known` adds the `.env.example` placeholders. Labels name where a value came from, never the value.
    """
    keys: list[tuple[str, str]] = []
    salts: list[tuple[str, str]] = []
    hashes: list[str] = []

    def add(into: list[tuple[str, str]], what: str, value: str | None) -> None:
        if value and all(value != v for _, v in into):
            into.append((what, value))

    for name, values in named:
        key = values.get("ENCRYPTION_KEY")
        if key and not key_too_short(key):
            add(keys, f"{name} key", key)
        add(salts, f"{name} salt", values.get("ENCRYPTION_SALT"))
        hashes.append(effective_hash_salt(values.get("HASH_SALT")))
    add(keys, "default key", DEFAULT_KEY)
    new_pair = new.pairs[0]
    add(salts, "new salt", new_pair.salt)
    for salt in DEFAULT_SALTS:
        add(salts, "default salt", salt)
    hashes += DEFAULT_HASH_SALTS
    if known:
        for key in PLACEHOLDER_KEYS:
            add(keys, "placeholder key", key)
        for salt in PLACEHOLDER_SALTS:
            add(salts, "placeholder salt", salt)
        hashes += PLACEHOLDER_HASH_SALTS
    pairs = tuple(KeyPair(f"{kl} + {sl}", k, s) for kl, k in keys for sl, s in salts
                  if (k, s) != (new_pair.password, new_pair.salt))
    hash_salts = tuple(dict.fromkeys(h for h in hashes if h not in new.hash_salts))
    return KeySide(label, pairs, hash_salts)


def validate(old: KeySide, new: KeySide, new_values: Mapping[str, str | None]) -> None:
    """Refuse a new side Pulse would not use as given, or a migration that changes nothing."""
    raw_key = new_values.get("ENCRYPTION_KEY") or ""
    if key_too_short(raw_key):
        raise MigrateError("the new ENCRYPTION_KEY is unset or shorter than 32 characters: Pulse would ignore it "
                           "and use its default key (generate one with `pulse-tui keys generate`)")
    for name in ("ENCRYPTION_KEY", "ENCRYPTION_SALT", "HASH_SALT"):
        value = new_values.get(name)
        if value and is_known_value(value):
            raise MigrateError(f"the new {name} is a publicly known default or placeholder value")
    new_pair = new.pairs[0]
    old_pairs = [(p.password, p.salt) for p in old.pairs if (p.password, p.salt) != (new_pair.password, new_pair.salt)]
    if not old_pairs and set(old.hash_salts) <= set(new.hash_salts):
        raise MigrateError("the old and new keys are the same: nothing to migrate")


@dataclass
class MigrationReport:
    """Counts, a few example key names per outcome, and the cost. Never a value."""

    dry_run: bool
    values: Counter[str] = field(default_factory=Counter)  # Outcome -> count
    by_prefix: Counter[tuple[str, str]] = field(default_factory=Counter)  # (prefix, outcome) -> count
    index: Counter[str] = field(default_factory=Counter)  # renamed / would-rename / skipped-changed / ...
    examples: dict[str, list[str]] = field(default_factory=dict)
    round_trips: int = 0
    seconds: float = 0.0
    backup_path: str | None = None
    scripted: bool = True  # False: this Redis refuses scripts, the writes were WATCH/MULTI/EXEC transactions
    opened_by: Counter[str] = field(default_factory=Counter)  # old pair label -> values it opened

    def note(self, outcome: str, key: bytes, prefix: str | None = None) -> None:
        self.values[outcome] += 1
        if prefix is not None:
            self.by_prefix[(prefix, outcome)] += 1
        ex = self.examples.setdefault(outcome, [])
        if len(ex) < MAX_EXAMPLES:
            ex.append(key.decode("utf-8", "replace"))

    def note_index(self, outcome: str, key: bytes) -> None:
        self.index[outcome] += 1
        ex = self.examples.setdefault("index-" + outcome, [])
        if len(ex) < MAX_EXAMPLES:
            ex.append(key.decode("utf-8", "replace"))

    @property
    def complete(self) -> bool:
        """Nothing left that a rerun could still migrate."""
        return not (self.values[Outcome.SKIPPED_CHANGED] or self.index["skipped-changed"])

    @property
    def safe(self) -> bool:
        """Complete, and no encrypted value left that no side opens (Pulse would delete those on read)."""
        return self.complete and not self.values[Outcome.UNOPENABLE]


BeforeWrite = Callable[[list[bytes]], None]


@dataclass
class _Planned:
    key: bytes
    old_value: bytes
    new_value: bytes


class _Opener:
    """AES-GCM contexts for each pair, derived once (PBKDF2 costs ~0.1 s) and only when first needed."""

    def __init__(self, side: KeySide) -> None:
        self.ring = KeyRing(list(side.pairs))
        self._ciphers: dict[int, AESGCM] = {}

    def open(self, raw: bytes) -> tuple[bytes, KeyPair] | None:
        try:
            iv, tag, ct = split_value(raw)
        except DecryptError:
            return None
        for i, pair in enumerate(self.ring.pairs):
            cipher = self._ciphers.get(i)
            if cipher is None:
                cipher = self._ciphers[i] = AESGCM(self.ring.key_for(pair))
            try:
                return cipher.decrypt(iv, ct + tag, None), pair
            except InvalidTag:
                continue
        return None


def _prefix_of(key: bytes) -> str | None:
    for p, pb in zip(ENCRYPTED_PREFIXES, _ENC_B, strict=True):
        if key.startswith(pb):
            # `admin:session:` before `session:` does not matter: a key matches at most one of them
            return p
    return None


class Migrator:
    """Runs one migration against a sync redis client; `dry_run` reads only."""

    def __init__(
        self,
        client: redis.Redis,
        old: KeySide,
        new: KeySide,
        *,
        dry_run: bool = True,
        backup: BackupWriter | None = None,
        batch: int = 1000,
        before_write: BeforeWrite | None = None,
    ) -> None:
        if not dry_run and backup is None:
            raise MigrateError("an applied migration needs a backup file")
        self.client = client
        self.old = _Opener(old)
        self.new_side = new
        self.new = _Opener(new)
        self.new_key = self.new.ring.key_for(new.pairs[0])
        self.old_hash_salts = tuple(h for h in old.hash_salts if h not in new.hash_salts)
        self.new_hash_salt = new.hash_salts[0]
        self.dry_run = dry_run
        self.backup = backup
        self.batch = batch
        self.before_write = before_write
        self.report = MigrationReport(dry_run=dry_run, backup_path=str(backup.path) if backup else None)
        self._wid_by_sid: dict[bytes, str] = {}  # session id -> whatsappId, for re-hashing index keys
        self._index: dict[bytes, bytes] = {}  # whatsapp:<hash> -> session id
        self._sha: dict[str, str] = {}
        self._seen: set[bytes] = set()

    # --- entry point ---------------------------------------------------------------------------------

    def run(self) -> MigrationReport:
        """Both passes: values, then index keys. Exceptions (including a hook's) propagate; keys stay consistent."""
        started = time.perf_counter()
        try:
            if not self.dry_run:
                self._load_scripts()
            cursor = 0
            while True:
                cursor, keys = self.client.scan(cursor, match=SCAN_MATCH, count=self.batch)
                self.report.round_trips += 1
                self._page(cast(list[bytes], keys))
                if cursor == 0:
                    break
            if self.old_hash_salts:
                self._index_pass()
        finally:
            self.report.seconds = time.perf_counter() - started
        return self.report

    def _load_scripts(self) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.script_load(CAS_VALUE)
        pipe.script_load(CAS_RENAME)
        shas = pipe.execute(raise_on_error=False)
        self.report.round_trips += 1
        if any(isinstance(sha, ResponseError) for sha in shas):
            # NOPERM (an ACL without @scripting) or a renamed EVAL: the same compare-and-set, as transactions
            self._sha.clear()
            self.report.scripted = False
            return
        self._sha["value"], self._sha["rename"] = shas

    # --- pass 1: values ------------------------------------------------------------------------------

    def _page(self, keys: list[bytes]) -> None:
        # SCAN may return a key twice (rehashing): look at each once, so counts stay honest.
        keys = [k for k in keys if k not in self._seen]
        self._seen.update(keys)
        enc = [k for k in keys if k.startswith(_ENC_B)]
        idx = [k for k in keys if k.startswith(_INDEX_B)] if self.old_hash_salts else []
        wanted = enc + idx
        if not wanted:
            return
        values = cast(list[bytes | None], self.client.mget(wanted))
        self.report.round_trips += 1
        for k, v in zip(idx, values[len(enc):], strict=True):
            if v is not None:
                self._index[k] = v.strip()
        planned: list[_Planned] = []
        for k, v in zip(enc, values[: len(enc)], strict=True):
            p = self._classify(k, v)
            if p is not None:
                planned.append(p)
        if not planned:
            return
        if self.dry_run:
            for p in planned:
                self.report.note(Outcome.WOULD_MIGRATE, p.key, _prefix_of(p.key))
            return
        self._apply_values(planned)

    def _classify(self, key: bytes, value: bytes | None) -> _Planned | None:
        prefix = _prefix_of(key)
        if value is None:
            self.report.note(Outcome.GONE, key, prefix)
            return None
        is_session = key.startswith(_SESSION_B)
        if value.lstrip().startswith(b"{"):
            if is_session:
                self._remember(key, value)
            self.report.note(Outcome.PLAIN, key, prefix)
            return None
        opened = self.new.open(value)
        if opened is not None:
            if is_session:
                self._remember(key, opened[0])
            self.report.note(Outcome.ALREADY_NEW, key, prefix)
            return None
        opened = self.old.open(value)
        if opened is None:
            self.report.note(Outcome.UNOPENABLE, key, prefix)
            return None
        plain, pair = opened
        self.report.opened_by[pair.label] += 1
        if is_session:
            self._remember(key, plain)
        try:
            text = plain.decode("utf-8")
        except UnicodeDecodeError:
            self.report.note(Outcome.UNOPENABLE, key, prefix)
            return None
        return _Planned(key, value, encrypt(text, self.new_key).encode("ascii"))

    def _remember(self, key: bytes, plain: bytes) -> None:
        """Keep the session's whatsappId: the index pass re-hashes it with the new HASH_SALT."""
        if not self.old_hash_salts:
            return
        try:
            data = json.loads(plain)
        except ValueError:
            return
        wid = data.get("whatsappId") if isinstance(data, dict) else None
        if isinstance(wid, str) and wid:
            self._wid_by_sid[key[len(_SESSION_B):]] = wid

    def _snapshot(self, items: list[tuple[bytes, bytes, bytes | None]]) -> list[tuple[Any, Any, Any, Any]]:
        """Atomically (MULTI) read value, DUMP and PTTL of each (key, expected, other-key-to-check-absent)."""
        pipe = self.client.pipeline(transaction=True)
        for key, _, other in items:
            pipe.get(key)
            pipe.dump(key)
            pipe.pttl(key)
            if other is not None:
                pipe.exists(other)
            else:
                pipe.echo(b"")
        res = pipe.execute()
        self.report.round_trips += 1
        return [tuple(res[i : i + 4]) for i in range(0, len(res), 4)]  # type: ignore[misc]

    def _apply_values(self, planned: list[_Planned]) -> None:
        assert self.backup is not None
        snaps = self._snapshot([(p.key, p.old_value, None) for p in planned])
        taken = int(time.time() * 1000)
        to_write: list[_Planned] = []
        for p, (cur, dump, pttl, _) in zip(planned, snaps, strict=True):
            if cur != p.old_value or dump is None:
                self.report.note(Outcome.SKIPPED_CHANGED, p.key, _prefix_of(p.key))
                continue
            self.backup.add(p.key, dump, int(pttl), taken_ms=taken, expect=p.new_value)
            to_write.append(p)
        self.backup.flush()  # on disk before the first write of this batch
        if not to_write:
            return
        if self.before_write is not None:
            self.before_write([p.key for p in to_write])
        if self.report.scripted:
            results = self._evalsha_all("value", [((p.key,), (p.old_value, p.new_value)) for p in to_write])
        else:
            results = self._transactions(set_values, [(p.key, p.old_value, p.new_value) for p in to_write])
        for p, res in zip(to_write, results, strict=True):
            if res == 1:
                self.report.note(Outcome.MIGRATED, p.key, _prefix_of(p.key))
            else:
                self.backup.skipped(p.key)
                self.report.note(Outcome.SKIPPED_CHANGED, p.key, _prefix_of(p.key))
        self.backup.flush()

    def _evalsha_all(self, script: str, calls: list[tuple[tuple[bytes, ...], tuple[bytes, ...]]]) -> list[Any]:
        """One pipeline of EVALSHA calls; reloads the scripts once if Redis lost them (SCRIPT FLUSH, restart)."""
        results: list[Any] = []
        for attempt in (0, 1):
            pipe = self.client.pipeline(transaction=False)
            for keys, args in calls:
                pipe.evalsha(self._sha[script], len(keys), *keys, *args)
            results = pipe.execute(raise_on_error=False)
            self.report.round_trips += 1
            if attempt == 0 and any(isinstance(r, NoScriptError) for r in results):
                # Nothing was written by a NOSCRIPT call: retrying the whole batch is safe (the others are CAS).
                self._load_scripts()
                if not self.report.scripted:
                    return self._transactions(set_values if script == "value" else rename_keys,
                                              [(*keys, *args) for keys, args in calls])
                continue
            break
        return results

    def _transactions(self, write: Callable[..., list[int]], calls: Sequence[tuple[bytes, ...]]) -> list[int]:
        trips = Trips()
        try:
            return write(self.client, calls, trips)
        finally:
            self.report.round_trips += trips.count

    # --- pass 2: index keys ----------------------------------------------------------------------------

    def _index_pass(self) -> None:
        """Rename whatsapp:sha256(wid + old HASH_SALT) to whatsapp:sha256(wid + new HASH_SALT), per session."""
        renames: list[tuple[bytes, bytes, bytes]] = []  # (old key, new key, session id)
        covered: set[bytes] = set()
        for sid, wid in self._wid_by_sid.items():
            new_key = (INDEX_PREFIX + hash_whatsapp_id(wid, self.new_hash_salt)).encode()
            for salt in self.old_hash_salts:
                old_key = (INDEX_PREFIX + hash_whatsapp_id(wid, salt)).encode()
                if self._index.get(old_key) != sid:
                    continue
                covered.add(old_key)
                if new_key in self._index:
                    self.report.note_index("new-exists", old_key)
                    continue
                renames.append((old_key, new_key, sid))
                break  # one index key per session is enough; other stale ones expire on their own
        for key, sid in self._index.items():
            if key in covered:
                continue
            if sid in self._wid_by_sid:
                continue  # already under the new HASH_SALT, or a raw-id key Pulse manages itself
            self.report.note_index("left-unknown-session", key)  # its session is gone or unreadable
        for i in range(0, len(renames), self.batch):
            chunk = renames[i : i + self.batch]
            if self.dry_run:
                for old_key, _, _ in chunk:
                    self.report.note_index("would-rename", old_key)
                continue
            self._apply_renames(chunk)

    def _apply_renames(self, chunk: list[tuple[bytes, bytes, bytes]]) -> None:
        assert self.backup is not None
        snaps = self._snapshot([(old, sid, new) for old, new, sid in chunk])
        taken = int(time.time() * 1000)
        todo: list[tuple[bytes, bytes, bytes]] = []
        for (old, new, sid), (cur, dump, pttl, new_exists) in zip(chunk, snaps, strict=True):
            if cur is None or cur.strip() != sid or dump is None or new_exists:
                self.report.note_index("skipped-changed", old)
                continue
            self.backup.add(old, dump, int(pttl), taken_ms=taken, deleted=True)
            self.backup.add(new, None, -1, expect=cur)
            todo.append((old, new, cur))
        self.backup.flush()
        if not todo:
            return
        if self.before_write is not None:
            self.before_write([old for old, _, _ in todo])
        if self.report.scripted:
            results = self._evalsha_all("rename", [((old, new), (cur,)) for old, new, cur in todo])
        else:
            results = self._transactions(rename_keys, todo)
        for (old, new, _), res in zip(todo, results, strict=True):
            if res == 1:
                self.report.note_index("renamed", old)
            else:
                self.backup.skipped(old)
                self.backup.skipped(new)
                self.report.note_index("skipped-changed", old)
        self.backup.flush()


WRITE_PROBE = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', 5000)
redis.call('DEL', KEYS[1])
return 1
"""


_CHECK_KEY = "session:pulse-tui-write-check"
_WRITES = [("SET", _CHECK_KEY, "x"), ("DEL", "whatsapp:pulse-tui-write-check")]
_SCRIPTED = [("EVALSHA", "0" * 40, "1", _CHECK_KEY)]
_WATCHED = [("WATCH", _CHECK_KEY), ("MULTI",), ("EXEC",), ("RENAMENX", _CHECK_KEY, "whatsapp:pulse-tui-write-check")]


def can_write(client: redis.Redis, *, probe: bool) -> bool | None:
    """Whether this Redis user may write, by scripts or by transactions, on a primary: ACL DRYRUN where the server
    allows it, else (only when `probe`) a SET+DEL of a key of our own. None: could not tell (dry runs never write)."""
    if is_replica(client):
        return False
    try:
        user = client.execute_command("ACL", "WHOAMI")

        def allowed(commands: Sequence[tuple[str, ...]]) -> bool:
            return all(client.execute_command("ACL", "DRYRUN", user, *c) in (b"OK", "OK", True) for c in commands)

        return allowed(_WRITES) and (allowed(_SCRIPTED) or allowed(_WATCHED))
    except redis.ResponseError:
        pass  # no ACL DRYRUN (Redis < 7) or not allowed to run it
    if not probe:
        return None
    key = f"pulse-tui:write-check:{os.urandom(8).hex()}"
    try:
        client.eval(WRITE_PROBE, 1, key, "1")
        return True
    except redis.ResponseError:
        pass  # NOPERM, a READONLY replica, or scripts refused: the transactions' way tells which
    try:
        with client.pipeline(transaction=True) as pipe:
            pipe.set(key, "1", px=5000)
            pipe.delete(key)
            pipe.execute()
    except redis.ResponseError:
        return False  # NOPERM or a READONLY replica: any refusal means the writes would fail
    return True


def is_replica(client: redis.Redis) -> bool:
    """True when INFO says this server replicates another. A read-only replica refuses the writes, and one that
    takes them loses them at its next resync, while Pulse reads the primary; ACL DRYRUN checks only permissions.
    False also when this user may not run INFO: the probe then meets a read-only replica's refusal."""
    try:
        return bool(client.info("replication").get("role") == "slave")
    except redis.ResponseError:
        return False


SOCKET_TIMEOUT = 10.0  # a 1000-key pipeline answers in milliseconds; a silent Redis must not hang the command
CONNECT_TIMEOUT = 3.0


def connect(url: str) -> redis.Redis:
    """A sync client for `keys` (bytes in, bytes out): bounded socket timeouts, no silent retries."""
    return redis.Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=CONNECT_TIMEOUT,
                                decode_responses=False, retry=Retry(NoBackoff(), 0), retry_on_timeout=False)
