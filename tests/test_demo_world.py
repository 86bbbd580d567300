"""The demo world starts real parts on loopback and leaves nothing behind when closed."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import httpx
import psutil

from pulse_tui.demo import DEMO_API_KEY, RESTORED_IDS, start_world


def test_demo_world_starts_on_loopback_and_cleans_up() -> None:
    world = start_world(drive=True)
    try:
        assert urlsplit(world.config.gateway_url).hostname == "127.0.0.1"
        assert urlsplit(world.config.redis_url or "").hostname == "127.0.0.1"
        r = httpx.get(world.config.gateway_url + "/health", headers={"x-api-key": DEMO_API_KEY}, timeout=5)
        assert r.status_code == 200
        assert httpx.get(world.config.gateway_url + "/health", timeout=5).status_code == 401  # API key is on
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(world.sim.browser_pids()) < len(RESTORED_IDS):
            time.sleep(0.2)
        pids = list(world.sim.browser_pids().values())
        assert len(pids) == len(RESTORED_IDS)
        redis_pid = world.redis._proc.pid if world.redis._proc else None  # noqa: SLF001 - checking cleanup
        assert redis_pid is not None and psutil.pid_exists(redis_pid)
    finally:
        world.close()
    assert not world.root.exists()
    assert not psutil.pid_exists(redis_pid) or psutil.Process(redis_pid).status() == psutil.STATUS_ZOMBIE
    time.sleep(0.5)
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
