"""`pulse-tui keys generate`: fresh Pulse secrets as a `.env` block, optionally appended to an env file.

Same shapes as Pulse's `scripts/generate-encryption-keys.js`: ENCRYPTION_KEY 32 random bytes (64 hex),
ENCRYPTION_SALT and HASH_SALT 16 bytes (32 hex), JWT/SESSION/WEBHOOK secrets 32 bytes (64 hex). Writing never
changes a variable that is already in the file (changing ENCRYPTION_KEY orphans every session): it appends only
the missing ones, atomically, and leaves the file at mode 600.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from dotenv import dotenv_values

from pulse_tui.doctor.checks_keys import is_known_value

# (variable, random bytes): hex text is twice as long.
SPEC: tuple[tuple[str, int], ...] = (
    ("ENCRYPTION_KEY", 32),
    ("ENCRYPTION_SALT", 16),
    ("HASH_SALT", 16),
    ("JWT_SECRET", 32),
    ("SESSION_SECRET", 32),
    ("WEBHOOK_SECRET", 32),
)
NAMES = tuple(name for name, _ in SPEC)


def generate() -> dict[str, str]:
    """A fresh value for each Pulse secret, from `secrets.token_hex`."""
    return {name: secrets.token_hex(nbytes) for name, nbytes in SPEC}


def env_block(values: dict[str, str], *, now: datetime | None = None) -> str:
    """The `.env` lines for `values`, under a comment saying where they came from."""
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# Security Configuration (pulse-tui keys generate, {stamp}). Back these up; never change them",
             "# once sessions exist: migrate with `pulse-tui keys migrate` instead."]
    lines += [f"{name}={value}" for name, value in values.items()]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class WriteResult:
    """What `write_env` did: variables added, and variables kept as they were (with why they deserve a look)."""

    path: Path
    added: tuple[str, ...]
    kept: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())  # e.g. "ENCRYPTION_KEY is empty": never a value


def write_env(path: Path, values: dict[str, str] | None = None) -> WriteResult:
    """Append the variables missing from `path` (created if absent), atomically, mode 600; never change one."""
    values = values if values is not None else generate()
    path = Path(path)
    try:
        original = path.read_bytes()
        st: os.stat_result | None = path.stat()
    except FileNotFoundError:
        original, st = b"", None
    existing = dotenv_values(path) if st is not None else {}
    kept = tuple(n for n in values if n in existing)
    notes = []
    for name in kept:
        current = existing.get(name)
        if not current:
            notes.append(f"{name} is present but empty: set it by hand (Pulse falls back to a default)")
        elif (kind := is_known_value(current)) is not None:
            notes.append(f"{name} holds a {kind} value: replace it by hand, then migrate existing sessions")
    added = {n: v for n, v in values.items() if n not in existing}
    if added:
        text = original
        if text and not text.endswith(b"\n"):
            text += b"\n"
        if text:
            text += b"\n"
        text += env_block(added).encode("utf-8")
        _atomic_write(path, text, st)
    else:
        _tighten(path, st)
    return WriteResult(path, tuple(added), kept, tuple(notes))


def _atomic_write(path: Path, data: bytes, st: os.stat_result | None) -> None:
    """Temp file in the same directory, fsync, os.replace: a reader sees the old file or the new one, never half."""
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        if st is not None:
            # Keep the owner (the app's user reads this file); only root can give a file away, so best effort.
            with contextlib.suppress(PermissionError):
                os.fchown(fd, st.st_uid, st.st_gid)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _tighten(path: Path, st: os.stat_result | None) -> None:
    """Nothing to add: still leave the file at mode 600 (it holds secrets)."""
    if st is not None and st.st_mode & 0o077:
        os.chmod(path, 0o600)
