"""One request-budget ledger per gateway URL, shared by every pulse-tui process on the host.

A small JSON file under `$XDG_STATE_HOME/pulse-tui/`, named by a hash of the URL (no credentials, no
secrets inside), read and rewritten under an advisory `fcntl.flock` on a side lock file. A ledger that
cannot be locked quickly or written (read-only home, a stuck process) falls back to this process's
memory: budgeting alone is worse than sharing, but never a hang or a crash.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pulse_tui.sources.gateway.base import display_url
from pulse_tui.sources.gateway.budget import MAX_COUNT, BudgetState

LOCK_WAIT_S = 1.0  # the lock is held for microseconds; longer means a stuck holder
VERSION = 1


def ledger_path(state_dir: Path, url: str) -> Path:
    """`<state_dir>/pulse-tui/gateway-<sha256 of the URL without credentials>.json`."""
    digest = hashlib.sha256(display_url(url).encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return state_dir / "pulse-tui" / f"gateway-{digest}.json"


def _num(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
    return float(value) if ok else None


def _count(value: Any) -> int | None:
    n = _num(value)
    return int(n) if n is not None and n <= MAX_COUNT else None


def _state_of(raw: Any) -> BudgetState:
    """A BudgetState from the file's JSON, each field checked; anything odd is dropped, not trusted."""
    st = BudgetState()
    data = raw.get("state") if isinstance(raw, dict) and raw.get("version") == VERSION else None
    if not isinstance(data, dict):
        return st
    st.spent = _count(data.get("spent")) or 0
    st.window_end = _num(data.get("window_end"))
    st.server_limit = _count(data.get("server_limit")) or None
    st.blocked_until = _num(data.get("blocked_until")) or 0.0
    st.rate_limited = data.get("rate_limited") is True
    st.server_used = _count(data.get("server_used"))
    procs = data.get("by_process")
    if isinstance(procs, dict):
        st.by_process = {str(k): n for k, v in procs.items() if (n := _count(v)) is not None}
    sessions = data.get("sessions")
    if isinstance(sessions, dict):
        st.sessions = {str(k): v for k, v in sessions.items() if isinstance(v, dict)}
    return st


def _encoded(st: BudgetState) -> bytes:
    """The file's bytes for `st`, as it is now. Also how a transaction tells whether its caller changed the state:
    one pass of the C encoder, where comparing `dataclasses.asdict` copies cost ~3 ms with 100 sessions in it,
    about a third of each poll's CPU (issue 15)."""
    return json.dumps({"version": VERSION, "state": vars(st)}, separators=(",", ":")).encode("utf-8", "surrogatepass")


class Ledger:
    """The shared store of a `RequestBudget` (see `budget.Store`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.error = ""  # why the last transaction fell back to memory ("" when it used the file)
        self._fallback = BudgetState()
        # The file's bytes as last read, the state parsed from them and its encoding, kept while no transaction
        # changed it: an unchanged file (most of a poll's ~5 transactions) costs a read and a byte compare, not a
        # JSON parse, a field-by-field check and an encode. Always read under the lock, so what another process
        # wrote is never missed.
        self._cached: tuple[bytes, BudgetState, bytes] | None = None

    @classmethod
    def for_url(cls, state_dir: Path, url: str) -> Ledger:
        return cls(ledger_path(state_dir, url))

    @contextmanager
    def transaction(self) -> Iterator[BudgetState]:
        """The state, locked against the other processes; written back if the caller changed it."""
        fd = self._lock()
        if fd is None:
            self._cached = None  # the fallback may be the cached state: changed now, the file is not
            yield self._fallback
            return
        try:
            raw = self._read_bytes()
            cached = self._cached
            if raw is not None and cached is not None and cached[0] == raw:
                st, before = cached[1], cached[2]
            else:
                self._cached = None
                st = self._parse(raw)
                before = _encoded(st)
            yield st
            after = _encoded(st)
            if after != before:
                self._cached = None  # the next read parses what was written (or what is still there)
                self._write(after)
            elif raw is not None:
                self._cached = (raw, st, before)
            self._fallback = st
        except BaseException:
            self._cached = None  # the caller failed halfway: `st` may hold part of a change never written
            raise
        finally:
            os.close(fd)  # closing releases the flock

    def _lock(self) -> int | None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            self.error = f"budget ledger {self.path.parent} not usable ({exc.strerror or type(exc).__name__})"
            return None
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self.error = ""
                return fd
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    self.error = f"budget ledger {self.path.name} locked by another process for over {LOCK_WAIT_S:g}s"
                    return None
                time.sleep(0.005)
            except OSError as exc:
                os.close(fd)
                self.error = f"budget ledger not lockable ({exc.strerror or type(exc).__name__})"
                return None

    def _read_bytes(self) -> bytes | None:
        try:
            with open(self.path, "rb") as fh:
                return fh.read(4 * 1024 * 1024)
        except OSError:
            return None

    @staticmethod
    def _parse(raw: bytes | None) -> BudgetState:
        if raw is None:
            return BudgetState()  # missing: start a fresh window; the server's headers correct it
        try:
            return _state_of(json.loads(raw))
        except (ValueError, RecursionError):
            return BudgetState()  # damaged: the same

    def _write(self, encoded: bytes) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(encoded)
            os.replace(tmp, self.path)  # readers see the old file or the new one, never half of one
        except OSError as exc:
            self.error = f"budget ledger {self.path.name} not written ({exc.strerror or type(exc).__name__})"
            with contextlib.suppress(OSError):
                tmp.unlink()
