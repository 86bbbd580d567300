"""`pulse-tui keys generate`: fresh Pulse secrets as a `.env` block, optionally appended to an env file.

Same shapes as Pulse's `scripts/generate-encryption-keys.js`: ENCRYPTION_KEY 32 random bytes (64 hex),
ENCRYPTION_SALT and HASH_SALT 16 bytes (32 hex), JWT/SESSION/WEBHOOK secrets 32 bytes (64 hex). Writing never
changes a variable that is already in the file (changing ENCRYPTION_KEY orphans every session): it appends only
the missing ones, atomically, and leaves the file at mode 600 (or stricter). Into an existing file it never adds
ENCRYPTION_KEY/ENCRYPTION_SALT/HASH_SALT: Pulse runs on its defaults for those, so adding one orphans sessions.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pulse_tui import envfile
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
CRYPTO_NAMES = ("ENCRYPTION_KEY", "ENCRYPTION_SALT", "HASH_SALT")


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


class GenerateError(Exception):
    """`--write` onto something that is not a writable regular file; one sentence naming the path."""


def _target(path: Path) -> tuple[Path, os.stat_result | None]:
    """The file to write (a symlink is written through, to its target) and its stat, or None when absent."""
    real = Path(os.path.realpath(path))
    try:
        st = os.stat(real)
    except FileNotFoundError:
        if not real.parent.is_dir():
            raise GenerateError(f"cannot write {path}: directory {real.parent} does not exist") from None
        return real, None
    except OSError as exc:
        raise GenerateError(f"cannot write {path}: {exc.strerror or type(exc).__name__}") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode) else (
            "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "not a regular file")
        raise GenerateError(f"cannot write {path}: it is {kind}, not a regular file")
    return real, st


def write_env(path: Path, values: dict[str, str] | None = None) -> WriteResult:
    """Append the variables missing from `path` (created if absent), atomically, mode 600 or stricter; never change
    one. A symlinked `.env` is written through the link; GenerateError for a directory, FIFO, device, missing dir."""
    values = values if values is not None else generate()
    path = Path(path)
    real, st = _target(path)
    if st is not None:
        try:
            original_text = envfile.read_text(real, "--write file")
        except envfile.EnvFileError as exc:
            raise GenerateError(str(exc).rstrip(".")) from None
        original = original_text.encode("utf-8")
        existing: dict[str, str] = envfile.parse(original_text).values
    else:
        original, existing = b"", {}
    kept = tuple(n for n in values if n in existing)
    notes = []
    for name in kept:
        current = existing.get(name)
        if not current:
            notes.append(f"{name} is present but empty: set it by hand (Pulse refuses to start with an empty "
                         "ENCRYPTION_KEY)" if name == "ENCRYPTION_KEY" else
                         f"{name} is present but empty: set it by hand (Pulse falls back to a default)")
        elif (kind := is_known_value(current)) is not None:
            notes.append(f"{name} holds a {kind} value: replace it by hand, then migrate existing sessions")
    added = {n: v for n, v in values.items() if n not in existing}
    if st is not None:
        # In an existing .env a missing crypto variable means Pulse runs on its default: adding one switches keys
        # and orphans every session written so far. Only a new file gets them; the note says how to migrate.
        held = [n for n in CRYPTO_NAMES if n in added]
        for name in held:
            del added[name]
        if held:
            notes.append(f"{', '.join(held)} not added: Pulse uses its default for a missing one, and a new value "
                         "orphans every session written with it. Write new keys to a new file "
                         "(`pulse-tui keys generate --write NEW.env`), migrate (`pulse-tui keys migrate "
                         "--from-default --to-env NEW.env`, then again with --apply), and only then copy them in")
    try:
        if added:
            text = original
            if text and not text.endswith(b"\n"):
                text += b"\n"
            if text:
                text += b"\n"
            text += env_block(added).encode("utf-8")
            _atomic_write(real, text, st)
        else:
            _tighten(real, st)
    except OSError as exc:
        raise GenerateError(f"cannot write {path}: {exc.strerror or type(exc).__name__}") from None
    return WriteResult(path, tuple(added), kept, tuple(notes))


def _mode(st: os.stat_result | None) -> int:
    """600, or the file's own mode when it is stricter (e.g. 400)."""
    return 0o600 if st is None else stat.S_IMODE(st.st_mode) & 0o600


def _atomic_write(path: Path, data: bytes, st: os.stat_result | None) -> None:
    """Temp file in the same directory, fsync, os.replace: a reader sees the old file or the new one, never half."""
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, _mode(st))
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
    if st is not None and stat.S_IMODE(st.st_mode) != _mode(st):
        os.chmod(path, _mode(st))
