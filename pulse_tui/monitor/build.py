"""Build the monitor and its sources from a Config: the one place that wires gateway, Redis and disk."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, cast

from pulse_tui.clock import Clock, SystemClock
from pulse_tui.config import Config
from pulse_tui.sources.logs.follower import LogFollower, default_log_globs
from pulse_tui.sources.logs.redact import Redactor

if TYPE_CHECKING:
    # Imported where they are built: the app paints before it builds them (HTTP, Redis, crypto stacks).
    from pulse_tui.monitor.engine import Engine, EventChannel
    from pulse_tui.monitor.host import HostSource
    from pulse_tui.monitor.service import AuthDirFact, FindingsFn, Monitor
    from pulse_tui.sources.authdirs import EntryCounts
    from pulse_tui.sources.gateway import Gateway
    from pulse_tui.sources.redis_store import RedisInspector

LOG_BATCH_EVERY_S = 1.0
ONE_SHOT_PAGE = 2000  # keys per SCAN page and per fetch for status/doctor (see _redis_inspector)


@dataclass
class Targets:
    """What one configuration watches: the engine, its monitor and the sources it owns (closed together)."""

    config: Config
    monitor: Monitor
    gateway: Gateway
    redis: RedisInspector | None
    engine: Engine
    # Built with `defer_slow`: builds the Redis inspector and the host probe and hands them to the monitor (call it
    # in a thread once the first gateway snapshot is on screen); None once done, or when nothing was deferred.
    complete: Callable[[], None] | None = None

    async def aclose(self) -> None:
        """Stop the event channel, close HTTP and Redis connections."""
        await self.engine.aclose()
        if self.redis is not None:
            await self.redis.aclose()


def make_event_channel(config: Config, gateway: Gateway) -> EventChannel | None:
    """The gateway's push channel when its adapter declares one (else None: the engine polls)."""
    if not gateway.capabilities.event_stream:
        return None
    from pulse_tui.sources.gateway import make_event_channel as adapter_channel

    return cast("EventChannel | None", adapter_channel(config, gateway))


def auth_discovery(config: Config, counts: EntryCounts | None = None) -> Sequence[AuthDirFact]:
    """Every LocalAuth dir under the configured roots, as monitor facts (cheap: a directory listing)."""
    from pulse_tui.monitor.service import Monitor
    from pulse_tui.sources.authdirs import discover

    return Monitor.auth_facts(discover(config.auth_dirs, counts=counts)) if config.auth_dirs else ()


def build_targets(
    config: Config, clock: Clock | None = None, *, findings: FindingsFn | None = None, host: bool = True,
    channel: bool = True, one_shot: bool = False, defer_slow: bool = False,
) -> Targets:
    """Gateway adapter, Redis inspector (when Redis is configured), host probe, the monitor over them and the
    engine that feeds it events (`channel`: the gateway's event channel when it has one). `one_shot` (status,
    doctor): CPU is sampled twice, 0.5 s apart, the first time here (so the wait overlaps the poll); a running front
    end compares its polls instead. `defer_slow` (the TUI): Redis and the host probe are left to
    `Targets.complete`, so the first snapshot needs only the gateway (their imports and first reads cost ~0.3 s)."""
    from pulse_tui.monitor.engine import Engine
    from pulse_tui.monitor.service import Monitor
    from pulse_tui.sources.authdirs import EntryCounts
    from pulse_tui.sources.gateway import make_gateway

    clock = clock or SystemClock()
    # The monitor reads the auth dirs every poll (auth_discovery): the adapter need not list them a second time.
    gateway = make_gateway(config, clock, auth_dirs_read_elsewhere=bool(config.auth_dirs))
    monitor = Monitor(
        config, gateway, None, clock=clock, auth_discovery=partial(auth_discovery, config, EntryCounts()),
        findings=findings, redis_expected=bool(config.redis_url),
    )
    events = make_event_channel(config, gateway) if channel else None
    engine = Engine(monitor, channel=events, clock=clock, closers=(gateway.aclose,))
    targets = Targets(config, monitor, gateway, None, engine)

    def complete() -> None:
        targets.complete = None
        targets.redis = _redis_inspector(config, clock, one_shot)
        host_source = _host_source(config, clock, one_shot) if host else None
        if host_source is not None and one_shot:
            host_source.start_cpu_sample(gateway.capabilities)  # the 0.5 s to the second sample runs beside the poll
        monitor.attach(redis=targets.redis, host=host_source)

    if defer_slow:
        targets.complete = complete
    else:
        complete()
    return targets


def _redis_inspector(config: Config, clock: Clock, one_shot: bool) -> RedisInspector | None:
    if not config.redis_url:
        return None
    from pulse_tui.crypto.pulse import KeyRing
    from pulse_tui.sources.redis_store import RedisInspector

    keyring = KeyRing.for_pulse(config.encryption_key, config.encryption_salt)
    # ~12 ms of PBKDF2 per pair: derive the configured one while the screen starts, not in the poll. The 19
    # default/placeholder pairs are derived lazily, only when a value does not open with it (KeyRing.open).
    threading.Thread(target=keyring.key_for, args=(keyring.pairs[0],), name="keyring-prewarm", daemon=True).start()
    # One-shot commands print facts, never the details pane's redacted fields: not computed for 10,000 values. They
    # also fetch in pages of ONE_SHOT_PAGE keys: half the round trips of the TUI's 1,000, each holding redis-server
    # ~2x longer (the TUI keeps its shorter ones: Pulse serves its users from that Redis meanwhile).
    if one_shot:
        return RedisInspector(config.redis_url, keyring, config.hash_salt, clock=clock, fields=False,
                              scan_count=ONE_SHOT_PAGE, chunk=ONE_SHOT_PAGE)
    return RedisInspector(config.redis_url, keyring, config.hash_salt, clock=clock)


def _host_source(config: Config, clock: Clock, one_shot: bool) -> HostSource:
    from pulse_tui.monitor.host import CPU_SAMPLE_S, HostSource

    return HostSource(config, clock, cpu_sample_s=CPU_SAMPLE_S if one_shot else 0.0)


def build_log_follower(config: Config) -> LogFollower | None:
    """A follower of PULSE_TUI_LOGS, else of the Pulse/Salesboy default logs that exist; None when none do."""
    globs = list(config.log_globs) or default_log_globs(config.auth_dirs)
    if not globs:
        return None
    # At most one batch a second: the log pane paints at most once a second anyway (LogPane.feed), each batch is
    # a thread round trip, and a busy log arrives in fewer, larger batches. State events still land within 1 s.
    return LogFollower(globs, redactor=Redactor(config.secret_values()), min_interval_s=LOG_BATCH_EVERY_S)
