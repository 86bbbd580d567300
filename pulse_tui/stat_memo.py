"""What was read from a file or dir, reused while its stat says it did not change (polls re-read the same
auth dirs, profile dirs and env files every few seconds, and they hardly ever change)."""

from __future__ import annotations

import os
import time
from typing import Generic, TypeVar

T = TypeVar("T")

Signature = tuple[int, int, int, int]  # (device, inode, size, mtime ns)


def signature(st: os.stat_result) -> Signature:
    """What must stay the same for a remembered reading to hold."""
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


class StatMemo(Generic[T]):
    """Readings by path, each valid while the path's (device, inode, size, mtime) stay as they were.

    A reading taken within RACY_NS of the path's last change is not kept: a second change in the same timestamp
    tick would leave the mtime as it was. Bounded: past MAX_PATHS it starts again. Each poller owns its own.
    """

    RACY_NS = 2_000_000_000
    MAX_PATHS = 100_000

    def __init__(self) -> None:
        self._seen: dict[str, tuple[Signature, T]] = {}

    def get(self, path: str, st: os.stat_result) -> T | None:
        """The reading kept for `path`, when `st` shows the path unchanged since; else None."""
        hit = self._seen.get(path)
        return hit[1] if hit is not None and hit[0] == signature(st) else None

    def put(self, path: str, st: os.stat_result, reading: T) -> None:
        """Keep `reading` of `path`, taken after `st` was (not when the path changed within RACY_NS)."""
        if time.time_ns() - st.st_mtime_ns <= self.RACY_NS:
            self._seen.pop(path, None)
            return
        if len(self._seen) >= self.MAX_PATHS:
            self._seen.clear()
        self._seen[path] = (signature(st), reading)

    def drop(self, path: str) -> None:
        """Forget `path` (its reading is no longer one to reuse)."""
        self._seen.pop(path, None)
