"""Compare-and-set writes with WATCH/MULTI/EXEC, for a Redis that refuses scripts (an ACL without @scripting,
a renamed EVAL): the same decisions as the Lua scripts of `keys migrate` and `keys restore`.

Each batch is one optimistic transaction: WATCH every key, read them, queue the writes of those that still hold
what we expect, EXEC. A concurrent write to any watched key aborts the whole EXEC, and nothing of it is written;
the batch is then redone one key at a time, so only the key that really changed is reported as changed.
Needs Redis 6.0 or newer (SET … KEEPTTL), as every Redis with ACLs is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
from redis.exceptions import ResponseError, WatchError

WRITTEN, CHANGED, EXISTS = 1, 0, -1  # the Lua scripts' answers


@dataclass
class Trips:
    """Round trips made, for the report."""

    count: int = 0


def load_script(client: redis.Redis, script: str) -> str | None:
    """The sha of `script` once loaded, or None when this server or user refuses scripts (any refusal: NOPERM,
    an unknown or renamed command); the caller then writes with this module's functions."""
    try:
        return str(client.script_load(script))
    except ResponseError:
        return None


def set_values(client: redis.Redis, calls: Sequence[tuple[bytes, bytes, bytes]], trips: Trips) -> list[int]:
    """For each (key, expected, new): write `new` keeping the key's TTL, only if the key still holds `expected`.
    WRITTEN or CHANGED per call, in order."""

    def run(part: Sequence[tuple[bytes, bytes, bytes]]) -> list[int] | None:
        return _transaction(client, [(key, expected) for key, expected, _ in part],
                            lambda pipe, i: pipe.set(part[i][0], part[i][2], keepttl=True), lambda _: WRITTEN, trips)

    return _key_by_key_if_aborted(calls, run)


def rename_keys(client: redis.Redis, calls: Sequence[tuple[bytes, bytes, bytes]], trips: Trips) -> list[int]:
    """For each (old, new, expected): move `old` to `new` with its TTL, only if `old` still holds `expected` and
    `new` does not exist (RENAMENX checks that in the transaction). WRITTEN, CHANGED or EXISTS per call."""

    def run(part: Sequence[tuple[bytes, bytes, bytes]]) -> list[int] | None:
        return _transaction(client, [(old, expected) for old, _, expected in part],
                            lambda pipe, i: pipe.renamenx(part[i][0], part[i][1]),
                            lambda moved: WRITTEN if moved else EXISTS, trips)

    return _key_by_key_if_aborted(calls, run)


_Call = TypeVar("_Call")


def _key_by_key_if_aborted(calls: Sequence[_Call], run: Callable[[Sequence[_Call]], list[int] | None]) -> list[int]:
    got = run(calls)
    if got is not None:
        return got
    if len(calls) == 1:
        return [CHANGED]  # its own key was written meanwhile
    return [(run([call]) or [CHANGED])[0] for call in calls]  # only the key that really changed is skipped


def _transaction(client: redis.Redis, expect: Sequence[tuple[bytes, bytes]],
                 queue: Callable[[redis.client.Pipeline, int], object], answer: Callable[[Any], int],
                 trips: Trips) -> list[int] | None:
    """WATCH each key, queue the i-th write (`queue`) where key i still holds its expected value, EXEC; `answer`
    turns the write's reply into WRITTEN/EXISTS. None: a concurrent write aborted it, and nothing was written."""
    keys = [key for key, _ in expect]
    with client.pipeline(transaction=True) as pipe:
        try:
            pipe.watch(*keys)
            same = [cur == expected for cur, (_, expected) in zip(pipe.mget(keys), expect, strict=True)]
            trips.count += 2
            if not any(same):
                return [CHANGED] * len(keys)
            pipe.multi()
            for i, ok in enumerate(same):
                if ok:
                    queue(pipe, i)
            replies = iter(pipe.execute())
            trips.count += 1
            return [answer(next(replies)) if ok else CHANGED for ok in same]
        except WatchError:
            trips.count += 1
            return None


def restore_key(client: redis.Redis, key: bytes, mode: str, expect: bytes, ttl: int, dump: bytes,
                force: bool, trips: Trips) -> str:
    """One key of `keys restore`, deciding as its CAS_RESTORE script does (same arguments, same answers);
    a write by someone else between our read and our write is 'changed', and nothing is written."""
    with client.pipeline(transaction=True) as pipe:
        try:
            pipe.watch(key)
            trips.count += 1
            if not force and (word := _restore_check(pipe, key, mode, expect, dump, trips)) is not None:
                return word
            pipe.multi()
            if mode == "created":
                pipe.delete(key)
            else:
                pipe.restore(key, ttl, dump, replace=True)
            pipe.execute()
        except WatchError:
            return "changed"
        finally:
            trips.count += 1  # EXEC, or the UNWATCH of the pipeline's reset
    return "deleted" if mode == "created" else "restored"


def _restore_check(pipe: redis.client.Pipeline, key: bytes, mode: str, expect: bytes, dump: bytes,
                   trips: Trips) -> str | None:
    def ask(command: str) -> object:
        trips.count += 1
        return pipe.execute_command(command, key)  # immediate: the pipeline is watching

    kind = ask("TYPE")
    kind = kind.decode() if isinstance(kind, bytes) else kind  # redis-py answers TYPE as str or bytes by version
    if expect == b"" and mode != "deleted":
        return "unverifiable"
    if mode == "deleted":
        if kind != "none":
            return "same" if ask("DUMP") == dump else "changed"
        return None
    if kind == "none":
        return "same" if mode == "created" else "gone"  # already removed: the state the backup describes
    if kind != "string":
        return "changed"
    current = ask("GET")
    if mode == "value" and ask("DUMP") == dump:
        return "same"
    return None if current == expect[1:] else "changed"
