"""The running watchdog's last `status()`, in a small file other processes read (`status --json`, the exporter)."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pulse_tui.config import Config
from pulse_tui.watch.journal import Journal, watch_paths
from pulse_tui.watch.lock import lock_is_held


def write_state(path: Path, state: dict[str, Any], now: float) -> str | None:
    """Replace the state file atomically; an error text when it could not be written."""
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({**state, "updated_at": round(now, 1), "pid": os.getpid()}, fh)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        return f"watchdog state {path} not written ({exc.strerror or type(exc).__name__})"
    return None


def read_state(path: Path) -> dict[str, Any] | None:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return raw if isinstance(raw, dict) else None


def watchdog_block(config: Config) -> dict[str, Any]:
    """The `watchdog` block of `status --json`: the running watchdog's last state, and its journal's tail."""
    if config.state_dir is None:
        return {"running": False, "mode": "off", "detail": "no state directory (XDG_STATE_HOME/HOME unset)"}
    journal_path, state_path, lock_path = watch_paths(config.state_dir, config.gateway_url)
    running = lock_is_held(lock_path)
    state = (read_state(state_path) or {}) if running else {}
    block: dict[str, Any] = {"running": running, "mode": state.get("mode", "off")}
    if running:
        for key in ("acting", "paused", "next_action", "circuits_open", "counts", "warnings", "warnings_total",
                    "updated_at"):
            block[key] = state.get(key)
    block["last"] = [e.to_json() for e in Journal(journal_path).last(10)]
    return block


def watchdog_reader(config: Config) -> Callable[[], dict[str, Any] | None]:
    """For the exporter: the running watchdog's last state (None when none runs), read at each render."""

    def read() -> dict[str, Any] | None:
        if config.state_dir is None:
            return None
        _, state_path, lock_path = watch_paths(config.state_dir, config.gateway_url)
        if not lock_is_held(lock_path):
            return None
        state = read_state(state_path)
        return None if state is None else {**state, "running": True}

    return read
