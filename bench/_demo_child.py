"""What the start-up and idle benchmarks share: the demo world handed to a child process, and the app built
in that child exactly as `pulse-tui demo` builds it. Not a benchmark itself (`make bench` skips `_*.py`)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pulse_tui.config import Config
    from pulse_tui.model import Snapshot
    from pulse_tui.monitor.build import Targets

VARIABLES = "PULSE_BENCH_VARIABLES"


def variables(world: Any, audit: Path) -> dict[str, str]:
    """The world's Config as the variables an env file would hold."""
    c = world.config
    return {
        "PULSE_TUI_GATEWAY": c.gateway_kind.value, "PULSE_TUI_GATEWAY_URL": c.gateway_url,
        "API_SECRET_KEY": c.api_key, "PULSE_TUI_AUTH_DIR": ",".join(str(p) for p in c.auth_dirs),
        "REDIS_URL": c.redis_url, "ENCRYPTION_KEY": c.encryption_key, "ENCRYPTION_SALT": c.encryption_salt,
        "HASH_SALT": c.hash_salt, "PULSE_TUI_LOGS": ",".join(c.log_globs),
        "PULSE_TUI_POLL_SECONDS": str(c.poll_seconds), "PULSE_TUI_REQUEST_BUDGET": str(c.request_budget),
        "PULSE_TUI_PM2_APP": c.pm2_app or "", "PULSE_TUI_AUDIT_LOG": str(audit),
        "XDG_STATE_HOME": str(c.state_dir or ""),
    }


def child_config() -> Config:
    """In the child: the Config built from the variables the parent passed, as from an env file."""
    from pulse_tui.config import config_from_values

    return config_from_values(json.loads(os.environ[VARIABLES]))


def app_css_path() -> str:
    """PulseApp's stylesheet by absolute path: a subclass defined here would look for it beside this file."""
    from pulse_tui.tui.app import PulseApp

    return str(Path(sys.modules[PulseApp.__module__].__file__ or "").with_name(PulseApp.CSS_PATH))


def watched(connect: Callable[[], Targets], on_snapshot: Callable[[Snapshot], None]) -> Callable[[], Targets]:
    """`connect`, with every snapshot its monitor polls also passed to `on_snapshot` (the bench's eyes)."""

    def connect_watched() -> Targets:
        conn = connect()
        poll = conn.engine.poll

        async def watched_poll(*, full: bool = False) -> Snapshot:
            snap = await poll(full=full)
            on_snapshot(snap)
            return snap

        conn.engine.poll = watched_poll  # type: ignore[method-assign]
        return conn

    return connect_watched
