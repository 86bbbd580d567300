"""`keys migrate --apply` and `keys restore` pointed at a replica: refused before anything is written.

A read-only replica refuses the writes; a writable one (replica-read-only no) takes them and drops them at its
next resync, while Pulse reads the primary. Either way the operator meant the primary. Real redis-servers: a
primary of this module's own and a replica of it (not the suite's server: a full sync leaves a dump.rdb in the
primary's dir, which a later restart would load).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from pulse_tui.keys.migrate import can_write, is_replica
from pulse_tui.sim.redis_server import RedisServer
from tests.test_keys_bad_input import EXIT_USAGE, assert_one_sentence, cli
from tests.test_keys_parity import ENVS, seed, write_env
from tests.test_keys_restore import migrate


def synced(replica: redis.Redis, limit_s: float = 15.0) -> bool:
    """Wait until the replica's link to its primary is up (its first full sync done)."""
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        if replica.info("replication").get("master_link_status") == "up":
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def primary() -> Iterator[RedisServer]:
    with RedisServer() as srv:
        yield srv


@pytest.fixture
def primary_url(primary: RedisServer) -> str:
    """The module's primary, emptied for each test."""
    c = redis.Redis.from_url(primary.url)
    c.flushall()
    c.close()
    return primary.url


def replica_of(srv: RedisServer, primary: RedisServer, *, writable: bool = False) -> None:
    c = redis.Redis.from_url(srv.url)
    try:
        if writable:
            c.config_set("replica-read-only", "no")
        c.execute_command("REPLICAOF", primary.host, str(primary.port))
        assert synced(c)
    finally:
        c.close()


@pytest.fixture(params=["read-only", "writable"])
def replica_url(request: pytest.FixtureRequest, primary: RedisServer, primary_url: str) -> Iterator[str]:
    seed(primary_url, "from-env-and-default")
    with RedisServer() as srv:
        replica_of(srv, primary, writable=request.param == "writable")
        yield srv.url


def dumps(url: str) -> dict[bytes, bytes | None]:
    c = redis.Redis.from_url(url)
    try:
        return {k: c.dump(k) for k in c.scan_iter()}
    finally:
        c.close()


def test_a_replica_is_never_called_writable(replica_url: str, primary_url: str) -> None:
    rep, prim = redis.Redis.from_url(replica_url), redis.Redis.from_url(primary_url)
    try:
        assert is_replica(rep) and not is_replica(prim)
        assert can_write(rep, probe=True) is False
        assert can_write(rep, probe=False) is False
        assert can_write(prim, probe=True) is True
    finally:
        rep.close()
        prim.close()


def test_migrate_apply_on_a_replica_stops_before_writing(replica_url: str, primary_url: str, tmp_path: Path) -> None:
    before = dumps(replica_url)
    assert before and before == dumps(primary_url)
    old, new = write_env(tmp_path / "old.env", ENVS["OLD"]), write_env(tmp_path / "new.env", ENVS["NEW"])
    backup = tmp_path / "b.jsonl"
    res = cli(tmp_path, "--redis-url", replica_url, "keys", "migrate", "--from-env", str(old), "--to-env", str(new),
              "--apply", "--backup", str(backup))
    assert_one_sentence(res, EXIT_USAGE, "replica", "primary", "nothing was changed")
    assert not backup.exists()
    assert dumps(replica_url) == before == dumps(primary_url)


def test_restore_on_a_replica_stops_before_writing(primary: RedisServer, primary_url: str, tmp_path: Path) -> None:
    seed(primary_url, "from-env-and-default")
    backup = tmp_path / "b.jsonl"
    migrate(primary_url, backup)  # on the primary, so that the backup has something to put back
    with RedisServer() as srv:
        replica_of(srv, primary)
        before = dumps(srv.url)
        res = cli(tmp_path, "--redis-url", srv.url, "keys", "restore", str(backup))
        assert_one_sentence(res, EXIT_USAGE, "replica", "nothing was restored")
        assert dumps(srv.url) == before == dumps(primary_url)
