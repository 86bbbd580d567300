"""One acting watchdog per gateway URL on a host: an advisory `fcntl.flock` beside the budget ledger."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path


class WatchLock:
    """Held for the life of the acting watchdog; `acquire()` never blocks (the loser becomes an observer)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self.error = ""

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        """True when this process now holds the lock; False when another watchdog does (or it cannot be made)."""
        if self._fd is not None:
            return True
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            self.error = f"watchdog lock {self.path} not usable ({exc.strerror or type(exc).__name__})"
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            self.error = "another watchdog acts on this gateway"
            return False
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        self._fd, self.error = fd, ""
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def lock_is_held(path: Path) -> bool:
    """Whether some process holds the lock now (for `status --json`), without keeping it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
