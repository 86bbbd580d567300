"""Backups taken by `keys migrate --apply` and `keys restore`, which puts them back.

JSON lines, mode 600, created exclusively (never overwriting an older backup). The first line is a header; then
one line per touched key: its DUMP payload (base64) and PTTL at backup time, or `absent` for a key the migration
creates (restore deletes it). A `skipped` line cancels an earlier entry whose write did not happen (a concurrent
writer changed the key), so a restore never puts an old value over someone else's newer one.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

import redis

from pulse_tui.keys.watched import Trips, load_script, restore_key

FORMAT = "pulse-tui-keys-backup"
VERSION = 2  # 2: entries carry `expect` (what the migration wrote) for restore's compare-and-set


class BackupError(Exception):
    """A backup file that cannot be created or read; the message names the file, never a value."""


def default_backup_path(directory: Path | None = None) -> Path:
    """`pulse-keys-backup-<UTC timestamp>.jsonl` in `directory` (default: the current directory)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return (directory or Path(".")) / f"pulse-keys-backup-{stamp}.jsonl"


def _now_ms() -> int:
    return int(time.time() * 1000)


class BackupWriter:
    """Append-only writer; `flush()` fsyncs, and the migrator calls it before each batch of writes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        except FileExistsError as exc:
            raise BackupError(f"backup file {self.path} already exists: choose another with --backup") from exc
        except OSError as exc:
            raise BackupError(f"cannot create backup file {self.path}: {exc.strerror}") from exc
        os.fchmod(fd, 0o600)  # O_CREAT's mode is filtered by the umask; be explicit
        self._fh: IO[str] = os.fdopen(fd, "w", encoding="utf-8")
        self.entries = 0
        self._write({"format": FORMAT, "version": VERSION, "created_ms": _now_ms()})
        self.flush()

    def _write(self, obj: dict[str, Any]) -> None:
        self._fh.write(json.dumps(obj, separators=(",", ":")) + "\n")

    def add(self, key: bytes, dump: bytes | None, pttl: int, *, taken_ms: int | None = None,
            expect: bytes | None = None, deleted: bool = False) -> None:
        """Record a key's DUMP and PTTL before a write (dump None: the migration creates the key).

        `expect`: the value the migration is about to leave there, so restore can tell a later write apart;
        `deleted`: the migration removes this key (index rename).
        """
        rec: dict[str, Any] = {"key": key.decode("utf-8", "replace"), "key_b64": base64.b64encode(key).decode()}
        if expect is not None:
            rec["expect"] = base64.b64encode(expect).decode()
        if deleted:
            rec["deleted"] = True
        if dump is None:
            rec["absent"] = True
        else:
            rec["dump"] = base64.b64encode(dump).decode()
            rec["pttl"] = int(pttl)
            rec["taken_ms"] = taken_ms if taken_ms is not None else _now_ms()
        self._write(rec)
        self.entries += 1

    def skipped(self, key: bytes) -> None:
        """The write of `key` did not happen: restore must leave it alone."""
        self._write({"skipped": base64.b64encode(key).decode()})

    def flush(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if not self._fh.closed:
            self.flush()
            self._fh.close()

    def __enter__(self) -> BackupWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class BackupEntry:
    """One key to put back. `mode`: 'value' (the migration overwrote it with `expect`), 'deleted' (it removed the
    key), 'created' (it created the key holding `expect`); `expect` None: an old backup that cannot be checked."""

    key: bytes = field(repr=False)
    dump: bytes | None = field(repr=False)  # None: delete the key on restore
    pttl: int = -1
    taken_ms: int = 0
    mode: str = "value"
    expect: bytes | None = field(default=None, repr=False)


def _b64(rec: dict[str, Any], name: str) -> bytes:
    raw = rec[name]
    if not isinstance(raw, str):
        raise TypeError(name)
    return base64.b64decode(raw, validate=True)


def _entry(rec: object) -> tuple[str, bytes, BackupEntry | None]:
    if not isinstance(rec, dict):
        raise TypeError("not an object")
    if "skipped" in rec:
        return "skipped", _b64(rec, "skipped"), None
    key = _b64(rec, "key_b64")
    expect = _b64(rec, "expect") if "expect" in rec else None
    if rec.get("absent"):
        return "entry", key, BackupEntry(key, None, mode="created", expect=expect)
    pttl, taken = rec["pttl"], rec["taken_ms"]
    if not isinstance(pttl, int) or not isinstance(taken, int) or isinstance(pttl, bool):
        raise TypeError("pttl")
    mode = "deleted" if rec.get("deleted") else "value"
    return "entry", key, BackupEntry(key, _b64(rec, "dump"), pttl, taken, mode, expect)


def read_backup(path: Path) -> list[BackupEntry]:
    """Entries to restore, in file order, without those cancelled by a `skipped` line."""
    from pulse_tui.envfile import EnvFileError, check_regular

    try:
        check_regular(path, "backup file")
    except EnvFileError as exc:
        raise BackupError(str(exc).rstrip(".")) from None
    entries: dict[bytes, BackupEntry] = {}
    n = 1
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # never wait on a FIFO swapped in after the check
        with os.fdopen(fd, "rb") as fh:
            try:
                header = json.loads(fh.readline(1 << 16).decode("utf-8"))
            except ValueError:
                header = None
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                raise BackupError(f"{path} is not a pulse-tui keys backup")
            for n, raw in enumerate(fh, start=2):
                if not raw.strip():
                    continue
                try:
                    kind, key, entry = _entry(json.loads(raw.decode("utf-8")))
                except (ValueError, KeyError, TypeError) as exc:
                    # A line cut short by a kill is the only expected damage: say where, restore nothing.
                    raise BackupError(f"{path}: line {n} is damaged ({type(exc).__name__})") from exc
                if kind == "skipped":
                    entries.pop(key, None)
                elif entry is not None:
                    entries[key] = entry
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from exc
    return list(entries.values())


class Skip(StrEnum):
    """Why restore left a key alone."""

    CHANGED = "changed since the migration (someone wrote it)"
    GONE = "deleted or expired since the migration"
    UNVERIFIABLE = "backup too old to check what the migration wrote"
    EXPIRED = "its TTL ran out since the backup"


@dataclass
class RestoreReport:
    restored: int = 0
    deleted: int = 0  # keys the migration had created
    unchanged: int = 0  # still held the backed-up value (the migration's write never happened)
    skipped: list[tuple[bytes, Skip]] = field(default_factory=list)
    failed: list[bytes] = field(default_factory=list)
    round_trips: int = 0

    @property
    def forceable(self) -> list[bytes]:
        """Keys a `--force` would overwrite (changed, gone, unverifiable; never the expired ones)."""
        return [k for k, why in self.skipped if why is not Skip.EXPIRED]


# Put one key back only if it still holds what the migration left there (ARGV[5]=='1': --force, confirmed).
# ARGV: mode, expected value, ttl ms, DUMP payload, force.
CAS_RESTORE = """
local t = redis.call('TYPE', KEYS[1])['ok']
local mode, force = ARGV[1], ARGV[5] == '1'
if not force then
  if ARGV[2] == '' and mode ~= 'deleted' then return 'unverifiable' end
  if mode == 'deleted' then
    if t ~= 'none' then
      if redis.call('DUMP', KEYS[1]) == ARGV[4] then return 'same' end
      return 'changed'
    end
  else
    if t == 'none' then
      if mode == 'created' then return 'same' end  -- already removed: the state the backup describes
      return 'gone'
    end
    if t ~= 'string' then return 'changed' end
    local cur = redis.call('GET', KEYS[1])
    if mode == 'value' and redis.call('DUMP', KEYS[1]) == ARGV[4] then return 'same' end
    if cur ~= string.sub(ARGV[2], 2) then return 'changed' end
  end
end
if mode == 'created' then redis.call('DEL', KEYS[1]) return 'deleted' end
redis.call('RESTORE', KEYS[1], ARGV[3], ARGV[4], 'REPLACE')
return 'restored'
"""
_SKIPS = {"changed": Skip.CHANGED, "gone": Skip.GONE, "unverifiable": Skip.UNVERIFIABLE}


def _chunks(items: list[BackupEntry], size: int) -> Iterator[list[BackupEntry]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def restore(
    client: redis.Redis,
    path: Path | None = None,
    *,
    entries: list[BackupEntry] | None = None,
    force: bool = False,
    batch: int = 500,
    now_ms: int | None = None,
) -> RestoreReport:
    """Put back each key that still holds exactly what the migration wrote (compare-and-set, one Lua call per key,
    or one WATCH/MULTI/EXEC transaction where the server refuses scripts).

    A key written since (by Pulse), deleted since, or from a backup too old to check is skipped and reported;
    `force` (after the operator confirmed the count) puts those back too. The original TTL deadline is kept.
    """
    if entries is None:
        if path is None:
            raise ValueError("restore needs a backup path or entries")
        entries = read_backup(path)
    report = RestoreReport()
    now = now_ms if now_ms is not None else _now_ms()
    scripted = load_script(client, CAS_RESTORE) is not None
    report.round_trips += 1
    for chunk in _chunks(entries, batch):
        queued: list[tuple[BackupEntry, bytes, int]] = []  # (entry, tagged expected value, ttl ms)
        for e in chunk:
            ttl = 0
            if e.dump is not None and e.pttl > 0:
                # The key would have expired at taken + pttl: keep that deadline, not a fresh full TTL.
                ttl = e.pttl - max(0, now - e.taken_ms)
                if ttl <= 0:
                    report.skipped.append((e.key, Skip.EXPIRED))
                    continue
            # The expected value is sent with a 1-byte tag so that "" means "unknown" and b"" stays checkable.
            queued.append((e, b"" if e.expect is None else b"=" + e.expect, ttl))
        if not queued:
            continue
        results: list[Any]
        if scripted:
            pipe = client.pipeline(transaction=False)
            for e, expect, ttl in queued:
                pipe.eval(CAS_RESTORE, 1, e.key, e.mode, expect, ttl, e.dump or b"", "1" if force else "0")
            results = pipe.execute(raise_on_error=False)
            report.round_trips += 1
        else:  # this Redis refuses scripts
            trips = Trips()
            results = [_restore_watched(client, e.key, e.mode, expect, ttl, e.dump or b"", force, trips)
                       for e, expect, ttl in queued]
            report.round_trips += trips.count
        for (e, _, _), res in zip(queued, results, strict=True):
            word = res.decode() if isinstance(res, bytes) else res
            if isinstance(res, Exception):
                report.failed.append(e.key)
            elif word == "deleted":
                report.deleted += 1
            elif word == "restored":
                report.restored += 1
            elif word == "same":
                report.unchanged += 1
            elif word in _SKIPS:
                report.skipped.append((e.key, _SKIPS[word]))
            else:
                report.failed.append(e.key)
    return report


def _restore_watched(client: redis.Redis, key: bytes, mode: str, expect: bytes, ttl: int, dump: bytes,
                     force: bool, trips: Trips) -> str | Exception:
    try:
        return restore_key(client, key, mode, expect, ttl, dump, force, trips)
    except redis.ResponseError as exc:
        return exc  # as the scripted pipeline reports one key's error: that key failed, the others go on
