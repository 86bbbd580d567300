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
from pathlib import Path
from typing import IO, Any

import redis

FORMAT = "pulse-tui-keys-backup"
VERSION = 1


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

    def add(self, key: bytes, dump: bytes | None, pttl: int, *, taken_ms: int | None = None) -> None:
        """Record a key's DUMP and PTTL (dump None: the key did not exist and the migration creates it)."""
        rec: dict[str, Any] = {"key": key.decode("utf-8", "replace"), "key_b64": base64.b64encode(key).decode()}
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
    key: bytes = field(repr=False)
    dump: bytes | None = field(repr=False)  # None: delete the key on restore
    pttl: int = -1
    taken_ms: int = 0


def read_backup(path: Path) -> list[BackupEntry]:
    """Entries to restore, in file order, without those cancelled by a `skipped` line."""
    entries: dict[bytes, BackupEntry] = {}
    try:
        with open(path, encoding="utf-8") as fh:
            header = json.loads(fh.readline() or "{}")
            if header.get("format") != FORMAT:
                raise BackupError(f"{path} is not a pulse-tui keys backup")
            for n, line in enumerate(fh, start=2):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                    if "skipped" in rec:
                        entries.pop(base64.b64decode(rec["skipped"]), None)
                        continue
                    key = base64.b64decode(rec["key_b64"])
                    if rec.get("absent"):
                        entries[key] = BackupEntry(key, None)
                    else:
                        entries[key] = BackupEntry(key, base64.b64decode(rec["dump"]), int(rec["pttl"]),
                                                   int(rec["taken_ms"]))
                except (ValueError, KeyError, TypeError) as exc:
                    # A line cut short by a kill is the only expected damage: say where, keep the rest.
                    raise BackupError(f"{path}: line {n} is damaged ({type(exc).__name__})") from exc
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror}") from exc
    return list(entries.values())


@dataclass
class RestoreReport:
    restored: int = 0
    deleted: int = 0  # keys the migration had created
    expired: int = 0  # their TTL ran out since the backup: not restored
    failed: list[str] = field(default_factory=list)  # key names
    round_trips: int = 0


def _chunks(items: list[BackupEntry], size: int) -> Iterator[list[BackupEntry]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def restore(client: redis.Redis, path: Path, *, batch: int = 500, now_ms: int | None = None) -> RestoreReport:
    """Put every backed-up key back (RESTORE … REPLACE with its remaining TTL); delete keys the migration created."""
    entries = read_backup(path)
    report = RestoreReport()
    now = now_ms if now_ms is not None else _now_ms()
    for chunk in _chunks(entries, batch):
        pipe = client.pipeline(transaction=False)
        queued: list[tuple[BackupEntry, str]] = []
        for e in chunk:
            if e.dump is None:
                pipe.delete(e.key)
                queued.append((e, "deleted"))
                continue
            ttl = 0
            if e.pttl > 0:
                # The key would have expired at taken + pttl: keep that deadline, not a fresh full TTL.
                ttl = e.pttl - max(0, now - e.taken_ms)
                if ttl <= 0:
                    report.expired += 1
                    continue
            pipe.restore(e.key, ttl, e.dump, replace=True)
            queued.append((e, "restored"))
        if not queued:
            continue
        results = pipe.execute(raise_on_error=False)
        report.round_trips += 1
        for (e, what), res in zip(queued, results, strict=True):
            if isinstance(res, Exception):
                report.failed.append(e.key.decode("utf-8", "replace"))
            elif what == "deleted":
                report.deleted += 1
            else:
                report.restored += 1
    return report
