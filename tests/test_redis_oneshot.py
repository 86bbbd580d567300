"""The Redis read of one-shot commands (issue 15 item 3), against a real redis-server: each fetched chunk is read
while the next is on the wire, and `fields=False` leaves only the display fields out, never a fact."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Sequence
from typing import Any

import redis

from pulse_tui.crypto.pulse import KeyRing
from pulse_tui.model import UserSession
from pulse_tui.sim.seeder import seed_bulk, seed_demo
from pulse_tui.sources.redis_store import RedisInspector, ValueOpener, build_sessions

KEY = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
SALT = "00112233445566778899aabbccddeeff"
HASH_SALT = "c0ffeec0ffeec0ffeec0ffeec0ffee00"
NOW = 1_790_000_000.0


async def _inspect(url: str, **kw: Any) -> tuple[Sequence[UserSession], Sequence[object]]:
    ins = RedisInspector(url, KeyRing.for_pulse(KEY, SALT), HASH_SALT, chunk=7, scan_count=5, **kw)
    try:
        report = await ins.inspect()
    finally:
        await ins.aclose()
    assert report.available, report.error
    return report.sessions, report.index_keys


async def test_without_fields_every_fact_is_the_same(redis_url: str) -> None:
    seed_demo(redis_url, KEY, SALT, HASH_SALT, now=NOW)  # every kind: default key, no key, plain, corrupt, orphans
    seed_bulk(redis_url, 40, KEY, SALT, HASH_SALT, now=NOW)
    full_sessions, full_index = await _inspect(redis_url)
    lean_sessions, lean_index = await _inspect(redis_url, fields=False)
    assert len(full_sessions) > 40 and lean_index == full_index
    assert any(s.fields for s in full_sessions)
    assert all(s.fields == () for s in lean_sessions)
    assert _no_ttl(dataclasses.replace(s, fields=()) for s in full_sessions) == _no_ttl(lean_sessions)


def _no_ttl(rows: Iterable[Any]) -> list[Any]:
    return [dataclasses.replace(r, ttl=None) for r in rows]


async def test_chunks_read_ahead_give_what_one_read_at_the_end_gives(redis_url: str) -> None:
    seed_demo(redis_url, KEY, SALT, HASH_SALT, now=NOW)
    seed_bulk(redis_url, 30, KEY, SALT, HASH_SALT, now=NOW)
    sessions, _index = await _inspect(redis_url)  # 7 keys a chunk: each read while the next fetch is out
    client = redis.Redis.from_url(redis_url)
    try:
        sessions_raw = {k: (client.get(k), int(client.ttl(k))) for k in client.scan_iter(match=b"session:*")}
        index_raw = {k: client.get(k) for k in client.scan_iter(match=b"whatsapp:*")}
    finally:
        client.close()
    reference, _ = build_sessions(sessions_raw, index_raw, ValueOpener(KeyRing.for_pulse(KEY, SALT)),
                                  HASH_SALT, time.time())

    def facts(rows: Sequence[UserSession]) -> list[tuple[object, ...]]:
        return [(u.raw_key, u.value_class, u.key_label, u.whatsapp_id, u.linked, u.index, u.detail, u.fields)
                for u in rows]

    assert len(sessions) > 30 and facts(sessions) == facts(reference)
    assert {"ok", "default-key", "undecryptable", "plain", "corrupt"} <= {u.value_class.value for u in sessions}
