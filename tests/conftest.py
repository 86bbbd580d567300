"""Shared fixtures: a real redis-server on a free loopback port (one per test session)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pulse_tui.sim.redis_server import RedisServer

SPECS = Path(__file__).resolve().parents[1].parent / "shared" / "specs"
VECTOR_FILE = Path(__file__).resolve().parent / "data" / "pulse-session-vector.json"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as srv:
        yield srv


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """A clean database for each test: flushed before it runs."""
    import redis

    if not redis_server.running:
        redis_server.start()
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    yield redis_server.url
