"""Build the monitor and its sources from a Config: the one place that wires gateway, Redis and disk."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from pulse_tui.clock import Clock, SystemClock
from pulse_tui.config import Config
from pulse_tui.sources.logs.follower import LogFollower, default_log_globs
from pulse_tui.sources.logs.redact import Redactor

if TYPE_CHECKING:
    # Imported where they are built: the app paints before it builds them (HTTP, Redis, crypto stacks).
    from pulse_tui.monitor.service import AuthDirFact, FindingsFn, Monitor
    from pulse_tui.sources.authdirs import EntryCounts
    from pulse_tui.sources.gateway import Gateway
    from pulse_tui.sources.redis_store import RedisInspector

LOG_BATCH_EVERY_S = 0.5


@dataclass
class Targets:
    """What one configuration watches: the monitor and the sources it owns (closed together)."""

    config: Config
    monitor: Monitor
    gateway: Gateway
    redis: RedisInspector | None

    async def aclose(self) -> None:
        """Close HTTP and Redis connections."""
        await self.monitor.aclose()
        await self.gateway.aclose()
        if self.redis is not None:
            await self.redis.aclose()


def auth_discovery(config: Config, counts: EntryCounts | None = None) -> Sequence[AuthDirFact]:
    """Every LocalAuth dir under the configured roots, as monitor facts (cheap: a directory listing)."""
    from pulse_tui.monitor.service import Monitor
    from pulse_tui.sources.authdirs import discover

    return Monitor.auth_facts(discover(config.auth_dirs, counts=counts)) if config.auth_dirs else ()


def build_targets(
    config: Config, clock: Clock | None = None, *, findings: FindingsFn | None = None, host: bool = True
) -> Targets:
    """Gateway adapter, Redis inspector (when Redis is configured), host probe, and the monitor over them."""
    from pulse_tui.crypto.pulse import KeyRing
    from pulse_tui.monitor.host import HostSource
    from pulse_tui.monitor.service import Monitor
    from pulse_tui.sources.authdirs import EntryCounts
    from pulse_tui.sources.gateway import make_gateway
    from pulse_tui.sources.redis_store import RedisInspector

    clock = clock or SystemClock()
    gateway = make_gateway(config, clock)
    redis = None
    if config.redis_url:
        keyring = KeyRing.for_pulse(config.encryption_key, config.encryption_salt)
        # ~12 ms of PBKDF2 per candidate pair, 20 pairs: derive them while the screen starts, not in the poll.
        threading.Thread(target=keyring.prewarm, name="keyring-prewarm", daemon=True).start()
        redis = RedisInspector(config.redis_url, keyring, config.hash_salt, clock=clock)
    monitor = Monitor(
        config, gateway, redis, clock=clock, auth_discovery=partial(auth_discovery, config, EntryCounts()),
        findings=findings,
        host=HostSource(config, clock) if host else None,
    )
    return Targets(config, monitor, gateway, redis)


def build_log_follower(config: Config) -> LogFollower | None:
    """A follower of PULSE_TUI_LOGS, else of the Pulse/Salesboy default logs that exist; None when none do."""
    globs = list(config.log_globs) or default_log_globs(config.auth_dirs)
    if not globs:
        return None
    # At most two batches a second: each batch re-lays the screen out (the log grows), a person reads no
    # faster, and a busy log arrives in fewer, larger batches. State events still land within half a second.
    return LogFollower(globs, redactor=Redactor(config.secret_values()), min_interval_s=LOG_BATCH_EVERY_S)
