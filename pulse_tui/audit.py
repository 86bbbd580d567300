"""The audit log: every confirmed action and its outcome, one JSON line each, appended (never rewritten)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from pulse_tui.clock import Clock, SystemClock


def default_audit_path(environ: dict[str, str] | None = None) -> Path:
    """$XDG_STATE_HOME/pulse-tui/audit.jsonl (~/.local/state when unset)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".local" / "state")
    return Path(base) / "pulse-tui" / "audit.jsonl"


@dataclass
class AuditLog:
    """Appends one JSON object per line; a failed write is reported, never raised into the UI."""

    path: Path
    clock: Clock = SystemClock()  # noqa: RUF009 - stateless

    def record(self, action: str, target: str, ok: bool, message: str, **extra: object) -> str | None:
        """Append one entry; returns an error text when the file could not be written."""
        entry = {"at": round(self.clock.now(), 3), "user": _user(), "action": action, "target": target,
                 "ok": ok, "message": message, **extra}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
        except OSError as exc:
            return f"audit log {self.path} not written ({exc.strerror or type(exc).__name__})"
        return None


def _user() -> str:
    try:
        return os.getlogin()
    except OSError:
        return os.environ.get("USER", "?")
