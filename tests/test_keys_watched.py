"""The WATCH/MULTI/EXEC compare-and-set (keys/watched.py), against a real redis-server, with another writer let
in between a transaction's reads and its MULTI: that writer's value always survives."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import redis

from pulse_tui.keys.watched import CHANGED, EXISTS, WRITTEN, Trips, rename_keys, restore_key, set_values


class Interleaved(redis.Redis):
    """A real client whose transactions run `between` (once) after their reads, just before MULTI."""

    between: Callable[[], None] | None = None

    def pipeline(self, transaction: bool = True, shard_hint: object = None) -> redis.client.Pipeline:
        pipe = super().pipeline(transaction, shard_hint)  # type: ignore[arg-type]
        multi = pipe.multi

        def interleaved_multi() -> None:
            if self.between is not None:
                between, self.between = self.between, None
                between()
            multi()

        pipe.multi = interleaved_multi  # type: ignore[method-assign]
        return pipe


@pytest.fixture
def clients(redis_url: str) -> Iterator[tuple[Interleaved, redis.Redis]]:
    ours, other = Interleaved.from_url(redis_url), redis.Redis.from_url(redis_url)
    yield ours, other  # type: ignore[misc]
    ours.close()
    other.close()


def test_a_write_between_read_and_exec_survives_and_only_its_key_is_skipped(
        clients: tuple[Interleaved, redis.Redis]) -> None:
    ours, other = clients
    other.set(b"session:a", b"old-a", px=600_000)
    other.set(b"session:b", b"old-b")
    other.set(b"session:c", b"old-c")
    ours.between = lambda: other.set(b"session:b", b"pulse-wrote-this", keepttl=True)
    trips = Trips()
    got = set_values(ours, [(b"session:a", b"old-a", b"new-a"), (b"session:b", b"old-b", b"new-b"),
                            (b"session:c", b"old-c", b"new-c")], trips)
    assert got == [WRITTEN, CHANGED, WRITTEN]
    assert other.mget([b"session:a", b"session:b", b"session:c"]) == [b"new-a", b"pulse-wrote-this", b"new-c"]
    assert 590_000 < int(other.pttl(b"session:a")) <= 600_000  # the TTL kept, not reset
    assert other.pttl(b"session:c") == -1
    assert trips.count >= 6  # the aborted batch, then one transaction per key


def test_a_value_already_changed_is_not_written(clients: tuple[Interleaved, redis.Redis]) -> None:
    ours, other = clients
    other.set(b"session:a", b"someone-else")
    assert set_values(ours, [(b"session:a", b"old-a", b"new-a")], Trips()) == [CHANGED]
    assert other.get(b"session:a") == b"someone-else"


def test_rename_keeps_the_ttl_and_never_overwrites(clients: tuple[Interleaved, redis.Redis]) -> None:
    ours, other = clients
    other.set(b"whatsapp:old1", b"s1", px=600_000)
    other.set(b"whatsapp:old2", b"s2")
    other.hset(b"whatsapp:new2", "field", "someone's hash")  # exists, and not a string
    other.set(b"whatsapp:old3", b"s3")
    ours.between = lambda: other.set(b"whatsapp:old3", b"pulse-moved-it")
    got = rename_keys(ours, [(b"whatsapp:old1", b"whatsapp:new1", b"s1"), (b"whatsapp:old2", b"whatsapp:new2", b"s2"),
                             (b"whatsapp:old3", b"whatsapp:new3", b"s3")], Trips())
    assert got == [WRITTEN, EXISTS, CHANGED]
    assert other.get(b"whatsapp:new1") == b"s1" and not other.exists(b"whatsapp:old1")
    assert 590_000 < int(other.pttl(b"whatsapp:new1")) <= 600_000
    assert other.hget(b"whatsapp:new2", "field") == b"someone's hash" and other.get(b"whatsapp:old2") == b"s2"
    assert other.get(b"whatsapp:old3") == b"pulse-moved-it" and not other.exists(b"whatsapp:new3")


def test_restore_puts_back_only_what_the_migration_left(clients: tuple[Interleaved, redis.Redis]) -> None:
    ours, other = clients
    other.set(b"session:a", b"before")
    dump = other.dump(b"session:a")
    assert isinstance(dump, bytes)
    other.set(b"session:a", b"migrated")
    trips = Trips()
    ours.between = lambda: other.set(b"session:a", b"pulse-wrote-this")
    assert restore_key(ours, b"session:a", "value", b"=migrated", 0, dump, False, trips) == "changed"
    assert other.get(b"session:a") == b"pulse-wrote-this"
    assert restore_key(ours, b"session:a", "value", b"=migrated", 0, dump, False, trips) == "changed"
    other.set(b"session:a", b"migrated")
    assert restore_key(ours, b"session:a", "value", b"=migrated", 60_000, dump, False, trips) == "restored"
    assert other.get(b"session:a") == b"before" and 0 < int(other.pttl(b"session:a")) <= 60_000
    assert restore_key(ours, b"session:a", "value", b"=migrated", 0, dump, False, trips) == "same"
    other.set(b"session:new", b"created-by-migration")
    assert restore_key(ours, b"session:new", "created", b"=created-by-migration", 0, b"", False, trips) == "deleted"
    assert not other.exists(b"session:new")
    assert restore_key(ours, b"session:gone", "value", b"=x", 0, dump, False, trips) == "gone"
