"""The watchdog's journal: one JSON line per decision, bounded by rotation; also how an operator's reset arrives.

Lives beside the shared budget ledger (`<state_dir>/pulse-tui/watch-<hash of the gateway URL>.jsonl`). It never
holds a phone number or a secret: session ids, action names and reasons only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pulse_tui.sources.gateway.base import display_url

RESET = "reset"  # the entry kind `pulse-tui watch --reset ID` appends
TAIL_BYTES = 256_000  # how much of the journal `last()` reads


@dataclass(frozen=True)
class Entry:
    """One decision: acted, failed, would-act, skipped, needs-qr, circuit-open, paused, resumed, warning, reset."""

    at: float  # wall-clock epoch seconds
    kind: str
    session: str = ""
    action: str = ""
    reason: str = ""
    ok: bool | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in ("", None)}


def watch_paths(state_dir: Path, url: str) -> tuple[Path, Path, Path]:
    """(journal, state file, lock file) for the gateway at `url`, named like its budget ledger."""
    digest = hashlib.sha256(display_url(url).encode("utf-8", "surrogatepass")).hexdigest()[:32]
    base = state_dir / "pulse-tui" / f"watch-{digest}"
    return base.with_suffix(".jsonl"), base.with_suffix(".state.json"), base.with_suffix(".lock")


def _entry(raw: Any) -> Entry | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("kind"), str):
        return None
    at = raw.get("at")
    ok = raw.get("ok")
    return Entry(at=float(at) if isinstance(at, int | float) and not isinstance(at, bool) else 0.0,
                 kind=str(raw["kind"])[:40], session=str(raw.get("session", ""))[:200],
                 action=str(raw.get("action", ""))[:40], reason=str(raw.get("reason", ""))[:500],
                 ok=ok if isinstance(ok, bool) else None)


class Journal:
    """Append-only JSONL with rotation at `max_bytes`; a failed write is remembered, never raised."""

    def __init__(self, path: Path, max_bytes: int = 1_000_000) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.error = ""
        self._offset: int | None = None  # how far `new_entries()` has read

    def append(self, entry: Entry) -> None:
        line = json.dumps(entry.to_json(), ensure_ascii=False) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with contextlib.suppress(FileNotFoundError):
                if self.path.stat().st_size + len(line) > self.max_bytes:
                    os.replace(self.path, self.path.with_name(self.path.name + ".1"))
                    self._offset = 0
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as fh:
                fh.write(line)
            self.error = ""
        except OSError as exc:
            self.error = f"journal {self.path} not written ({exc.strerror or type(exc).__name__})"

    def last(self, n: int = 20) -> list[Entry]:
        """The newest `n` entries (reads only the file's tail)."""
        out: deque[Entry] = deque(maxlen=n)
        for entry in self._read(tail=True):
            out.append(entry)
        return list(out)

    def new_entries(self) -> list[Entry]:
        """Entries appended (by anyone) since the last call; the first call starts at the end of the file."""
        try:
            size = self.path.stat().st_size
        except OSError:
            self._offset = 0
            return []
        if self._offset is None or size < self._offset:  # first call, or rotated under us
            start = size if self._offset is None else 0
            self._offset = start
        if size == self._offset:
            return []
        try:
            with self.path.open("rb") as fh:
                fh.seek(self._offset)
                data = fh.read(size - self._offset)
        except OSError:
            return []
        complete = data[: data.rfind(b"\n") + 1]
        self._offset += len(complete)
        return [e for e in map(_parse, complete.splitlines()) if e is not None]

    def _read(self, *, tail: bool) -> list[Entry]:
        try:
            with self.path.open("rb") as fh:
                size = fh.seek(0, os.SEEK_END)
                fh.seek(max(0, size - TAIL_BYTES) if tail else 0)
                data = fh.read()
        except OSError:
            return []
        lines = data.splitlines()
        if tail and size > TAIL_BYTES:
            lines = lines[1:]  # the first one is cut
        return [e for e in map(_parse, lines) if e is not None]


def _parse(line: bytes) -> Entry | None:
    try:
        return _entry(json.loads(line))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
