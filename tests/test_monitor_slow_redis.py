"""A Redis that hangs must not hold the gateway view back: the poll shows what it has and Redis lands later."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from pulse_tui.config import Config
from pulse_tui.model import HealthState
from pulse_tui.monitor.build import build_targets
from pulse_tui.sim.redis_server import RedisServer
from tests.tui_helpers import API_KEY, UID_A, make_sim


async def test_hung_redis_does_not_delay_the_gateway(tmp_path: Path) -> None:
    sim = make_sim(tmp_path)
    redis = RedisServer().start()
    config = Config(gateway_url=sim.url, api_key=API_KEY, auth_dirs=(sim.auth_root,), redis_url=redis.url,
                    request_budget=10_000)
    targets = build_targets(config, host=False)
    monitor = targets.monitor
    try:
        first = await monitor.poll(full=True)
        assert first.redis is not None and first.redis.available
        assert first.redis_pending is False
        assert redis._proc is not None  # noqa: SLF001
        os.kill(redis._proc.pid, signal.SIGSTOP)  # noqa: SLF001 - Redis hangs, as under swap or a long save
        try:
            sim.engine.start(UID_A)
            snap = await monitor.poll()
            assert snap.gateway.state == HealthState.OK
            assert snap.redis is first.redis, "the last Redis report stands while the new one is under way"
            assert monitor._redis_task is not None and not monitor._redis_task.done()  # noqa: SLF001
        finally:
            os.kill(redis._proc.pid, signal.SIGCONT)  # noqa: SLF001
        done = await monitor.poll(full=True)
        assert done.redis is not None and done.redis.available
    finally:
        await targets.aclose()
        redis.close()
        sim.stop()
