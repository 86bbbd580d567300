"""winston-style JSON log lines, as salesboy-gateway writes them (`logs/gateway-YYYY-MM-DD.log`)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path


def iso_now() -> str:
    """`new Date().toISOString()`: UTC with milliseconds and a `Z`."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class WinstonLog:
    """Appends `{"level","message","timestamp"}` lines to the day's file; thread-safe; no-op without a dir."""

    def __init__(self, log_dir: Path | None, prefix: str = "gateway") -> None:
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.prefix = prefix
        self._lock = threading.Lock()
        self.lines: list[str] = []  # messages written, for tests and the demo (bounded below)

    def path_for_today(self) -> Path | None:
        """The file today's lines go to (winston-daily-rotate-file uses the local date)."""
        if self.log_dir is None:
            return None
        return self.log_dir / f"{self.prefix}-{datetime.now().strftime('%Y-%m-%d')}.log"

    def write(self, level: str, message: str) -> None:
        """Append one line (and remember the message)."""
        line = json.dumps({"level": level, "message": message, "timestamp": iso_now()}, ensure_ascii=False,
                          separators=(",", ":"))
        with self._lock:
            self.lines.append(message)
            if len(self.lines) > 10_000:
                del self.lines[:5_000]
            path = self.path_for_today()
            if path is None:
                return
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")

    def info(self, message: str) -> None:
        self.write("info", message)

    def warn(self, message: str) -> None:
        self.write("warn", message)

    def error(self, message: str) -> None:
        self.write("error", message)
