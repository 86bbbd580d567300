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


@pytest.fixture(autouse=True)
def private_state_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test its own $XDG_STATE_HOME: the shared budget ledger never leaks between tests or into ~."""
    state = tmp_path_factory.mktemp("xdg-state")
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    return state
