"""RedisInspector against a real redis-server seeded with Pulse-format data (no mocks)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import subprocess
import time
from collections.abc import AsyncIterator

import pytest
import redis

from pulse_tui.crypto.pulse import KeyRing, derive_key, encrypt
from pulse_tui.model import IndexClass, IndexKey, Persistence, UserSession, ValueClass
from pulse_tui.sim.redis_server import RedisServer, find_redis_server
from pulse_tui.sim.seeder import SeedManifest, seed_bulk, seed_demo
from pulse_tui.sources.redis_store import (
    REDACTED,
    RedisInspector,
    classify_value,
    display_fields,
    has_hash_salt_mismatch,
)
from tests.conftest import VECTOR_FILE

KEY = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
SALT = "00112233445566778899aabbccddeeff"
HASH_SALT = "c0ffeec0ffeec0ffeec0ffeec0ffee00"
NOW = 1_790_000_000.0  # a fixed wall clock; the seeder writes ISO dates around it


@pytest.fixture(scope="module")
def keyring() -> KeyRing:
    """One keyring for the module: each (key, salt) pair is derived once (~0.1 s each), not per test."""
    return KeyRing.for_pulse(KEY, SALT)


@pytest.fixture
async def inspector(redis_url: str, keyring: KeyRing) -> AsyncIterator[RedisInspector]:
    ins = RedisInspector(redis_url, keyring, HASH_SALT)
    yield ins
    await ins.aclose()


@pytest.fixture
def seeded(redis_url: str) -> SeedManifest:
    return seed_demo(redis_url, KEY, SALT, HASH_SALT, now=NOW)


def _assert_matches_manifest(report: object, manifest: SeedManifest) -> None:
    from pulse_tui.model import RedisReport

    assert isinstance(report, RedisReport)
    assert report.available, report.error
    got = {s.session_id: s for s in report.sessions}
    assert set(got) == set(manifest.sessions)
    for sid, exp in manifest.sessions.items():
        s = got[sid]
        where = f"{exp.name} ({sid})"
        assert s.key == f"session:{sid}", where
        assert s.value_class == exp.value_class, where
        assert s.index == exp.index, where
        assert s.whatsapp_id == exp.whatsapp_id, where
        assert s.phone == exp.phone, where
        assert s.linked == exp.linked, where
        assert s.key_label == exp.key_label, where
        assert has_hash_salt_mismatch(s) == exp.hash_salt_mismatch, where
        assert s.ttl is not None and exp.ttl is not None and exp.ttl - 30 <= s.ttl <= exp.ttl, where
    dangling = {k.key: k.session_id for k in report.index_keys if k.index_class == IndexClass.DANGLING}
    assert dangling == manifest.dangling_index
    assert {k.key: k.session_id for k in report.index_keys} == manifest.index_keys
    assert report.other_encrypted == manifest.other_encrypted


async def test_every_class_matches_the_manifest(seeded: SeedManifest, inspector: RedisInspector) -> None:
    report = await inspector.inspect()
    _assert_matches_manifest(report, seeded)
    assert {s.value_class for s in report.sessions} == set(ValueClass)
    assert {s.index for s in report.sessions} == {IndexClass.OK, IndexClass.ORPHAN}
    assert not any(s.key.startswith("admin:") for s in report.sessions)
    # Classes carry a reason an operator can read.
    by_name = {seeded.sessions[s.session_id].name: s for s in report.sessions}
    assert "not base64" in by_name["corrupt-not-base64"].detail
    assert "too short" in by_name["corrupt-too-short"].detail
    assert "not JSON after decrypt" in by_name["corrupt-not-json"].detail
    assert "no known key" in by_name["wrong-key"].detail
    assert "default HASH_SALT" in by_name["default-hash-salt"].detail
    assert by_name["good-1"].expires_at is not None and by_name["good-1"].last_activity is not None
    assert dict(by_name["good-1"].fields)["profileName"] == "Alice"


async def test_short_configured_key_means_default_key(redis_url: str) -> None:
    """A 20-char ENCRYPTION_KEY makes Pulse use its default key: every readable session is default-key."""
    manifest = seed_demo(redis_url, "twenty-chars-key-xxx", SALT, None, now=NOW)
    ring = KeyRing.for_pulse("twenty-chars-key-xxx", SALT)
    ins = RedisInspector(redis_url, ring, None)
    try:
        report = await ins.inspect()
    finally:
        await ins.aclose()
    _assert_matches_manifest(report, manifest)
    _, good = manifest.by_name("good-1")
    assert good.value_class == ValueClass.DEFAULT_KEY
    assert not any(s.value_class == ValueClass.OK for s in report.sessions)
    # With HASH_SALT unset the effective salt is the default; the odd index used the older default.
    _, odd = manifest.by_name("default-hash-salt")
    assert odd.hash_salt_mismatch


async def test_pulse_vector_value_opens_as_ok(redis_url: str) -> None:
    vector = json.loads(VECTOR_FILE.read_text())
    plain = json.loads(vector["plaintext"])
    client = redis.Redis.from_url(redis_url)
    client.set(f"session:{plain['sessionId']}", vector["redis_value"], ex=86400)
    client.close()
    ins = RedisInspector(redis_url, KeyRing.for_pulse(vector["ENCRYPTION_KEY"], vector["ENCRYPTION_SALT"]), None)
    try:
        report = await ins.inspect()
    finally:
        await ins.aclose()
    (s,) = report.sessions
    assert (s.value_class, s.key_label, s.whatsapp_id, s.linked) == (
        ValueClass.OK, "configured", "18765551234@c.us", True
    )
    assert s.index == IndexClass.ORPHAN  # no whatsapp: key was written


async def test_no_secret_in_report(seeded: SeedManifest, inspector: RedisInspector) -> None:
    report = await inspector.inspect()
    text = repr(report) + repr(inspector)
    secrets = [seeded.fake_token, KEY, SALT, HASH_SALT, derive_key(KEY, SALT).hex()]
    for secret in secrets:
        assert secret not in text
    sid, _ = seeded.by_name("with-token")
    (s,) = [s for s in report.sessions if s.session_id == sid]
    assert dict(s.fields)["flashAuthToken"] == REDACTED


async def test_read_only(seeded: SeedManifest, redis_url: str, inspector: RedisInspector) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        keys = sorted(client.scan_iter(count=1000))
        before = {k: client.dump(k) for k in keys}
        config_before = client.config_get("*")
        dirty_before = client.info("persistence")["rdb_changes_since_last_save"]
        client.config_resetstat()
        await inspector.inspect()
        await inspector.persistence()
        stats = client.info("commandstats")
        dirty_after = client.info("persistence")["rdb_changes_since_last_save"]
        config_after = client.config_get("*")
        after = {k: client.dump(k) for k in sorted(client.scan_iter(count=1000))}
        called = {name.removeprefix("cmdstat_").split("|")[0] for name in stats}
        table = client.command()
        flags = {name: table[name]["flags"] for name in called}
    finally:
        client.close()
    assert after == before
    assert dirty_after == dirty_before  # Redis counts every write here, whatever the command
    assert config_after == config_before  # CONFIG (allowed for GET) was not used to SET anything
    assert {"scan", "mget", "ttl"} <= called
    writers = {name for name, f in flags.items() if "write" in f}
    assert not writers, writers


async def test_round_trips_bounded(redis_url: str, keyring: KeyRing) -> None:
    """3000 sessions + 3000 index keys: one SCAN page per round trip (~1000 keys each) and the fetch of the
    previous page rides along, so about keys/1000 + 2 round trips; 10 leaves room for uneven pages."""
    ids = seed_bulk(redis_url, 3000, KEY, SALT, HASH_SALT, now=NOW)
    ins = RedisInspector(redis_url, keyring, HASH_SALT)
    small = RedisInspector(redis_url, keyring, HASH_SALT, scan_count=100, chunk=100)
    try:
        report = await ins.inspect()
        report_small = await small.inspect()
    finally:
        await ins.aclose()
        await small.aclose()
    assert len(report.sessions) == 3000 and {s.session_id for s in report.sessions} == set(ids)
    assert all(s.value_class == ValueClass.OK and s.index == IndexClass.OK for s in report.sessions)
    assert all(dict(s.fields).get("flashAuthToken") == REDACTED for s in report.sessions)
    assert 6 <= report.round_trips <= 10
    # Counting is real: pages of 100 need ~10x as many round trips for the same answer.
    assert report_small.round_trips >= 60
    assert {s.session_id for s in report_small.sessions} == set(ids)


async def test_persistence_off_on_fixture_server(redis_url: str, inspector: RedisInspector) -> None:
    p = await inspector.persistence()
    assert (p.save, p.appendonly, p.config_available, p.enabled) == ("", "no", True, False)
    assert p.rdb_last_bgsave_status == "ok" and p.rdb_last_save_time is not None
    report = await inspector.inspect()
    assert report.persistence == p or (report.persistence is not None and report.persistence.enabled is False)


async def test_persistence_on_persistent_server(keyring: KeyRing) -> None:
    with RedisServer(persistent=True) as srv:
        ins = RedisInspector(srv.url, keyring, None)
        try:
            p = await ins.persistence()
        finally:
            await ins.aclose()
    # RedisServer(persistent=True) turns the AOF on (its RDB `save` line is not honoured by redis 6.2).
    assert p.appendonly == "yes" and p.enabled is True
    assert p.config_available and p.aof_last_write_status == "ok"


class RenamedCommandsRedis(RedisServer):
    """A managed-style Redis with commands renamed away (CONFIG by default), as many providers do."""

    def __init__(self, persistent: bool = False, renamed: tuple[str, ...] = ("CONFIG",), save: str = "") -> None:
        super().__init__(persistent=persistent)
        self.renamed = renamed
        self.save = save

    def start(self) -> RenamedCommandsRedis:
        args = [
            find_redis_server(), "--port", str(self.port), "--bind", self.host, "--dir", str(self.dir),
            "--daemonize", "no", "--logfile", str(self.dir / "redis.log"),
            "--appendonly", "yes" if self.persistent else "no", "--save", self.save,
        ]
        for command in self.renamed:
            args += ["--rename-command", command, ""]
        self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_ready()
        return self


@pytest.mark.parametrize("persistent", [True, False])
async def test_config_renamed(keyring: KeyRing, persistent: bool) -> None:
    with RenamedCommandsRedis(persistent=persistent) as srv:
        seed_bulk(srv.url, 5, KEY, SALT, HASH_SALT, now=NOW)
        ins = RedisInspector(srv.url, keyring, HASH_SALT)
        try:
            report = await ins.inspect()
        finally:
            await ins.aclose()
    assert report.available and len(report.sessions) == 5
    p = report.persistence
    assert p is not None and not p.config_available and p.save is None
    assert p.appendonly == ("yes" if persistent else "no")
    assert p.rdb_last_bgsave_status == "ok"
    # Without CONFIG an AOF that is off proves nothing about RDB snapshots: unknown, never "off".
    assert p.enabled is (True if persistent else None)


async def test_config_renamed_with_rdb_snapshots_is_not_off(keyring: KeyRing) -> None:
    """`save 900 1` and a good BGSAVE on a Redis with CONFIG renamed: INFO shows the snapshot, so it persists."""
    with RenamedCommandsRedis(save="900 1") as srv:
        client = redis.Redis.from_url(srv.url)
        try:
            before = await _persistence_now(srv.url, keyring)
            client.set("unrelated", "1")
            client.bgsave()
            deadline = time.monotonic() + 10
            while client.info("persistence")["rdb_bgsave_in_progress"] and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            client.close()
        after = await _persistence_now(srv.url, keyring)
    assert before.enabled is None and before.basis == "CONFIG unavailable, INFO inconclusive"
    assert not before.config_available and before.save is None
    assert after.enabled is True and after.rdb_last_bgsave_status == "ok" and not after.last_save_failed
    assert after.basis.startswith("INFO") and after.rdb_last_bgsave_time_sec is not None
    from pulse_tui.doctor.checks_redis import check_persistence
    from pulse_tui.model import RedisReport

    codes = {f.code for f in check_persistence(RedisReport(available=True, persistence=before))}
    assert codes == {"redis-persistence-unknown"}  # never "redis-persistence-off"
    assert check_persistence(RedisReport(available=True, persistence=after)) == []


async def _persistence_now(url: str, keyring: KeyRing) -> Persistence:
    ins = RedisInspector(url, keyring, None)
    try:
        return await ins.persistence()
    finally:
        await ins.aclose()


async def test_scripting_disabled_falls_back_to_plain_ttl(keyring: KeyRing) -> None:
    """TTLs come from one read-only script per chunk; where EVAL is refused, from per-key TTL instead."""
    with RenamedCommandsRedis(renamed=("EVAL", "CONFIG")) as srv:
        seed_bulk(srv.url, 30, KEY, SALT, HASH_SALT, now=NOW, ttl=5000)
        ins = RedisInspector(srv.url, keyring, HASH_SALT)
        try:
            first = await ins.inspect()
            second = await ins.inspect()
        finally:
            await ins.aclose()
    for report in (first, second):
        assert report.available, report.error
        assert len(report.sessions) == 30
        assert all(s.ttl is not None and 4900 < s.ttl <= 5000 for s in report.sessions)
        assert len(report.index_keys) == 30  # values only: an index key's TTL is not asked
    assert first.round_trips == second.round_trips + 1  # one extra trip the first time, then it knows


async def test_changed_value_is_reclassified(seeded: SeedManifest, redis_url: str, keyring: KeyRing) -> None:
    """Readings are reused between polls only while the bytes are the same."""
    ins = RedisInspector(redis_url, keyring, HASH_SALT)
    sid, _ = seeded.by_name("good-2")
    try:
        before = {s.session_id: s for s in (await ins.inspect()).sessions}
        client = redis.Redis.from_url(redis_url)
        client.set(f"session:{sid}", json.dumps({"sessionId": sid, "whatsappId": "1@c.us"}), ex=100)
        client.close()
        after = {s.session_id: s for s in (await ins.inspect()).sessions}
    finally:
        await ins.aclose()
    assert before[sid].value_class == ValueClass.OK
    assert after[sid].value_class == ValueClass.PLAIN and after[sid].whatsapp_id == "1@c.us"
    unchanged = [k for k in before if k != sid]
    assert all(before[k].value_class == after[k].value_class for k in unchanged)
    assert all(before[k].fields == after[k].fields for k in unchanged)


async def test_kill_and_restart_reconnects(redis_server: RedisServer, redis_url: str, keyring: KeyRing) -> None:
    seed_bulk(redis_url, 3, KEY, SALT, HASH_SALT, now=NOW)
    ins = RedisInspector(redis_url, keyring, HASH_SALT, socket_timeout=1.0)
    try:
        assert (await ins.inspect()).available
        redis_server.kill()
        down = await ins.inspect()
        assert not down.available and down.error and down.sessions == ()
        assert (await ins.persistence()).enabled is None
        redis_server.start()
        up = await ins.inspect()
        assert up.available, up.error
        assert up.sessions == ()  # the fixture Redis has no persistence: the restart lost everything
        # A restart between two polls (no failed poll in between) is absorbed by one reconnect.
        seed_bulk(redis_url, 2, KEY, SALT, HASH_SALT, now=NOW)
        redis_server.restart()
        again = await ins.inspect()
        assert again.available, again.error
    finally:
        await ins.aclose()
        if not redis_server.running:
            redis_server.start()


async def test_cancelled_poll_leaves_inspector_usable(seeded: SeedManifest, inspector: RedisInspector) -> None:
    """The TUI cancels a slow poll (exclusive worker); the next poll must still be complete and correct."""
    task = asyncio.create_task(inspector.inspect())
    await asyncio.sleep(0.002)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    _assert_matches_manifest(await inspector.inspect(), seeded)


async def test_auth_failure_hides_password(keyring: KeyRing) -> None:
    password = "right-pa55word-k9q"
    wrong = "wrong-pa55word-z7x"
    with RedisServer(password=password) as srv:
        urls = {
            "wrong": srv.url.replace(password, wrong),
            "none": srv.url.replace(f":{password}@", ""),
            "right": srv.url,
        }
        reports = {}
        for name, url in urls.items():
            ins = RedisInspector(url, keyring, None)
            try:
                reports[name] = await ins.inspect()
            finally:
                await ins.aclose()
    for name in ("wrong", "none"):
        r = reports[name]
        assert not r.available and "authentication" in r.error
        assert password not in repr(r) and wrong not in repr(r)
    assert reports["right"].available


async def test_hung_server_times_out() -> None:
    """A Redis that accepts connections but never answers must not hang a poll."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(-1)
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    ins = RedisInspector(f"redis://127.0.0.1:{port}/0", KeyRing.for_pulse(KEY, SALT, include_known=False), None,
                         socket_timeout=0.3)
    started = time.monotonic()
    try:
        report = await asyncio.wait_for(ins.inspect(), timeout=10)
    finally:
        await ins.aclose()
        server.close()
    assert not report.available and "timed out" in report.error
    assert time.monotonic() - started < 10  # generous: the point is that it returned at all


@pytest.mark.parametrize("reply", [b"*2\r\n$3\r\nabc\r\n*0\r\n", b"+OK\r\n", b":12\r\n", b"$-1\r\n", b"*-1\r\n",
                                   b"*1\r\n*1\r\n*1\r\n:1\r\n"])
async def test_a_lying_peer_is_a_typed_state(reply: bytes, keyring: KeyRing) -> None:
    """Something on the Redis port that answers every command with the same well-formed but wrong reply."""

    async def liar(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                commands = data.count(b"\r\n*") + data.startswith(b"*")
                writer.write(reply * max(commands, 1))
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(liar, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    ins = RedisInspector(f"redis://127.0.0.1:{port}/0", keyring, None, socket_timeout=0.5)
    try:
        report = await asyncio.wait_for(ins.inspect(), timeout=10)
        p = await ins.persistence()
    finally:
        await ins.aclose()
        server.close()
    assert not report.available and report.error.startswith("unreadable reply from Redis"), report.error
    assert p.enabled is None


_OTHER_TYPES = {
    "hash": lambda c, k: c.hset(k, mapping={"x": "1"}),
    "list": lambda c, k: c.rpush(k, "a"),
    "set": lambda c, k: c.sadd(k, "a"),
    "zset": lambda c, k: c.zadd(k, {"a": 1.0}),
    "stream": lambda c, k: c.xadd(k, {"a": "1"}),
}


async def test_non_string_keys_are_named_by_their_type(redis_url: str, inspector: RedisInspector) -> None:
    client = redis.Redis.from_url(redis_url)
    for i, (kind, write) in enumerate(_OTHER_TYPES.items()):
        write(client, f"session:{i}{kind}")
        write(client, f"whatsapp:{i}{kind}")
    client.set("session:" + "b" * 32, b"\xff\xfe not utf8")
    client.expire("session:0hash", 500)
    client.close()
    report = await inspector.inspect()
    got = {s.session_id: s for s in report.sessions}
    for i, kind in enumerate(_OTHER_TYPES):
        s = got[f"{i}{kind}"]
        assert s.redis_type == kind and s.value_class == ValueClass.CORRUPT
        assert f"a Redis {kind}, not a string value" == s.detail
    assert got["0hash"].ttl is not None and 400 < got["0hash"].ttl <= 500
    assert got["1list"].ttl is None  # no expiry
    assert got["b" * 32].redis_type == "string" and "UTF-8" in got["b" * 32].detail
    index = {k.key: k for k in report.index_keys}
    for i, kind in enumerate(_OTHER_TYPES):
        k = index[f"whatsapp:{i}{kind}"]
        assert k.index_class == IndexClass.WRONG_TYPE and k.redis_type == kind  # not "dangling"
    from pulse_tui.config import Config
    from pulse_tui.doctor.checks_redis import check_redis

    findings = {f.code: f for f in check_redis(report, Config(encryption_key=KEY, encryption_salt=SALT))}
    assert "1 hash, 1 list, 1 set, 1 stream, 1 zset" in findings["sessions-wrong-type"].message
    assert "1 hash, 1 list, 1 set, 1 stream, 1 zset" in findings["index-wrong-type"].message
    assert "index-dangling" not in findings
    assert findings["sessions-corrupt"].subjects == ("b" * 32,)  # only the real string value is "corrupt"


async def test_binary_keys_stay_apart(redis_url: str, inspector: RedisInspector, keyring: KeyRing) -> None:
    client = redis.Redis.from_url(redis_url)
    k = derive_key(KEY, SALT)
    client.set(b"session:\xff\xfe", encrypt('{"whatsappId":"1@c.us"}', k))
    client.set(b"session:\xff\xfd", encrypt('{"whatsappId":"2@c.us"}', k))
    client.set(b"session:\\xff\\xfe", encrypt('{"whatsappId":"3@c.us"}', k))  # the same text, other bytes
    client.set(b"whatsapp:\xff\x01", b"\xff\xfd")
    client.close()
    report = await inspector.inspect()
    assert len(report.sessions) == 3
    by_raw = {s.raw_key: s for s in report.sessions}
    assert set(by_raw) == {b"session:\xff\xfe", b"session:\xff\xfd", b"session:\\xff\\xfe"}
    assert by_raw[b"session:\xff\xfe"].whatsapp_id == "1@c.us"
    assert by_raw[b"session:\xff\xfd"].whatsapp_id == "2@c.us"
    assert by_raw[b"session:\xff\xfd"].session_id == "\\xff\\xfd"  # shown with escapes, never U+FFFD
    assert by_raw[b"session:\xff\xfd"].index == IndexClass.OK  # the index value is matched as bytes
    assert by_raw[b"session:\xff\xfe"].index == IndexClass.ORPHAN
    assert [k.index_class for k in report.index_keys] == [IndexClass.OK]
    assert all("\ufffd" not in s.session_id for s in report.sessions)


async def test_fields_of_the_wrong_type_are_null(redis_url: str, inspector: RedisInspector) -> None:
    client = redis.Redis.from_url(redis_url)
    bad = {"sessionId": 7, "whatsappId": {"a": 1}, "phoneNumber": ["a"], "expiresAt": {"when": "soon"},
           "lastActivity": 12, "isVerified": "true", "flashUserId": {"x": 1}}
    client.set("session:bad1", json.dumps(bad))
    client.set("session:bad2", json.dumps({"expiresAt": "not a date", "phoneNumber": "+1876"}))
    client.set("session:good", json.dumps({"expiresAt": "2031-01-01T00:00:00Z", "isVerified": True,
                                           "flashUserId": "u1"}))
    client.close()
    got = {s.session_id: s for s in (await inspector.inspect()).sessions}
    b = got["bad1"]
    assert (b.whatsapp_id, b.phone, b.expires_at, b.last_activity, b.linked) == (None, None, None, None, False)
    assert "expiresAt is not an ISO 8601 date" in b.detail
    assert got["bad2"].expires_at is None and got["bad2"].phone == "+1876"
    assert got["good"].expires_at == "2031-01-01T00:00:00Z" and got["good"].linked is True
    assert dict(b.fields)["phoneNumber"] == "«list of 1»" and dict(b.fields)["whatsappId"] == "«object»"


def test_classify_value_pure(keyring: KeyRing) -> None:
    k = derive_key(KEY, SALT)
    assert classify_value(encrypt('{"a":1}', k), keyring).value_class == ValueClass.OK
    assert classify_value(encrypt("[1,2]", k), keyring).value_class == ValueClass.CORRUPT
    assert classify_value('{"whatsappId":"1@c.us"}', keyring).value_class == ValueClass.PLAIN
    assert classify_value("{not json", keyring).value_class == ValueClass.CORRUPT


def test_display_fields_redact_and_summarise() -> None:
    fields = dict(
        display_fields(
            {
                "whatsappId": "1@c.us",
                "flashAuthToken": "tok-secret-value",
                "refreshToken": "another-secret",
                "someNote": "free text that could be anything",
                "retries": 3,
                "tags": ["a", "b"],
                "isVerified": True,
            }
        )
    )
    assert fields["whatsappId"] == "1@c.us"
    assert fields["flashAuthToken"] == REDACTED and fields["refreshToken"] == REDACTED
    assert fields["someNote"] == "«32 chars»"
    assert fields["retries"] == "3" and fields["tags"] == "«list of 2»" and fields["isVerified"] == "true"
    assert "secret" not in repr(fields)


def test_model_field_order_matches_the_positional_builders() -> None:
    """build_sessions builds UserSession and IndexKey positionally (keywords cost 3.5x, 10,000 times a poll): a
    field added or moved in the model must be added or moved in redis_store._user_session and build_sessions too."""
    assert [f.name for f in dataclasses.fields(UserSession)] == [
        "key", "session_id", "value_class", "ttl", "whatsapp_id", "phone", "linked", "expires_at", "last_activity",
        "key_label", "index", "detail", "fields", "redis_type", "raw_key",
    ]
    assert [f.name for f in dataclasses.fields(IndexKey)] == [
        "key", "session_id", "index_class", "redis_type", "raw_key",
    ]


@pytest.mark.parametrize("url", ["redis://127.0.0.1:1/0", "rediss://127.0.0.1:1/0", "unix:///tmp/no-such.sock"])
def test_commands_are_packed_in_c_into_the_same_bytes(url: str) -> None:
    """The inspector's connections pack with hiredis (not argument by argument in Python), whichever connection
    class the URL chose, and put the very bytes redis-py's own packing would on the wire."""
    from redis.asyncio.connection import AbstractConnection

    from pulse_tui.sources.redis_store import _PackedInC

    client = RedisInspector(url, KeyRing.for_pulse("k", "s"), None)._ensure_client()
    cls = client.connection_pool.connection_class
    assert issubclass(cls, _PackedInC)
    plain_cls = next(c for c in cls.__mro__[1:] if c is not _PackedInC and issubclass(c, AbstractConnection))
    kwargs = client.connection_pool.connection_kwargs
    packed, plain = cls(**kwargs), plain_cls(**kwargs)
    for command in [(b"MGET", b"session:\xff\xfe", b"session:a"), ("EVAL", "return 1", 2, b"k1", b"k2"),
                    ("SCAN", 0, "MATCH", "[abgopsw]*", "COUNT", 1000), ("CONFIG GET", "save"), ("TTL", "caf\u00e9"),
                    ("SET", b"k", memoryview(b"v")), (b"CLIENT SETNAME", bytearray(b"x"))]:
        assert b"".join(packed.pack_command(*command)) == b"".join(plain.pack_command(*command))
    assert b"".join(packed.pack_commands([("CONFIG GET", "save"), ("TTL", b"k")])) == (
        b"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$4\r\nsave\r\n*2\r\n$3\r\nTTL\r\n$1\r\nk\r\n")
