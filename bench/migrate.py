"""Benchmark `keys migrate` on 10,000 Pulse sessions (and their 10,000 index keys) against its own redis-server.

Run: .venv/bin/python bench/migrate.py [N]   (not a test; spawns a redis-server on a loopback port)
The migration changes ENCRYPTION_KEY, ENCRYPTION_SALT and HASH_SALT, so every session value is re-encrypted AND
every `whatsapp:` index key is re-hashed, with a backup of each touched key. Round trips are counted twice: by the
migrator itself and by a connection class that counts every write to the socket (handshakes included).
Baseline, measured in the same run on the same keys: a plain SCAN + pipelined MGET of every session value.
Target: under 5 s for 10,000 sessions.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pulse_tui.crypto.pulse import decrypt, derive_key  # noqa: E402
from pulse_tui.keys.backup import BackupWriter  # noqa: E402
from pulse_tui.keys.migrate import Migrator, Outcome, side_from_values  # noqa: E402
from pulse_tui.sim.redis_server import RedisServer  # noqa: E402
from pulse_tui.sim.seeder import seed_bulk  # noqa: E402

OLD = {"ENCRYPTION_KEY": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
       "ENCRYPTION_SALT": "00112233445566778899aabbccddeeff",
       "HASH_SALT": "c0ffeec0ffeec0ffeec0ffeec0ffee00"}
NEW = {"ENCRYPTION_KEY": "9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0",
       "ENCRYPTION_SALT": "aabbccddeeff00112233445566778899",
       "HASH_SALT": "feedfacefeedfacefeedfacefeedface"}
TARGET_S = 5.0


class CountingConnection(redis.Connection):
    """Counts every packet sent: one per command or per pipeline, i.e. one per round trip."""

    sends = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.sends += 1
        super().send_packed_command(command, check_health)


def counting_client(url: str) -> redis.Redis:
    pool = redis.ConnectionPool.from_url(url, connection_class=CountingConnection, socket_timeout=60)
    return redis.Redis(connection_pool=pool)


def baseline(client: redis.Redis, chunk: int = 1000) -> tuple[float, int, int]:
    """(seconds, round trips, values) of SCAN + pipelined MGET of every session value."""
    start_sends = CountingConnection.sends
    t0 = time.perf_counter()
    keys = list(client.scan_iter(match="session:*", count=chunk))
    got = 0
    for i in range(0, len(keys), chunk):
        got += sum(v is not None for v in client.mget(keys[i : i + chunk]))
    return time.perf_counter() - t0, CountingConnection.sends - start_sends, got


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    with RedisServer() as srv, tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        ids = seed_bulk(srv.url, n, OLD["ENCRYPTION_KEY"], OLD["ENCRYPTION_SALT"], OLD["HASH_SALT"])
        print(f"seeded {n} sessions + {n} index keys in {time.perf_counter() - t0:.2f} s (not measured)")
        client = counting_client(srv.url)
        client.ping()

        base_s, base_rt, base_n = baseline(client)
        print(f"baseline  SCAN + pipelined MGET of {base_n} session values: {base_s:.3f} s, {base_rt} round trips")

        old, new = side_from_values(OLD, "old"), side_from_values(NEW, "new")
        sends = CountingConnection.sends
        dry = Migrator(client, old, new, dry_run=True).run()
        print(f"dry run   {dry.values[Outcome.WOULD_MIGRATE]} values, {dry.index['would-rename']} index keys: "
              f"{dry.seconds:.3f} s, {dry.round_trips} round trips (socket writes: {CountingConnection.sends - sends})")

        sends = CountingConnection.sends
        with BackupWriter(Path(tmp) / "backup.jsonl") as bw:
            rep = Migrator(client, old, new, dry_run=False, backup=bw).run()
        socket_rt = CountingConnection.sends - sends
        print(f"apply     {rep.values[Outcome.MIGRATED]} values re-encrypted, {rep.index['renamed']} index keys "
              f"re-hashed, backup {bw.entries} entries: {rep.seconds:.3f} s, {rep.round_trips} round trips "
              f"(socket writes: {socket_rt})")
        t0 = time.perf_counter()
        derive_key(OLD["ENCRYPTION_KEY"], OLD["ENCRYPTION_SALT"])
        kdf_s = time.perf_counter() - t0
        print(f"note      each run derives 2 keys (PBKDF2, 100000 iterations): about {2 * kdf_s:.2f} s of each figure")
        print(f"ratio     apply / baseline: {rep.seconds / base_s:.1f}x time, {rep.round_trips / base_rt:.1f}x "
              f"round trips; dry run / baseline: {dry.seconds / base_s:.1f}x")
        # Correctness, not timed: every value opens with the new key.
        key = derive_key(NEW["ENCRYPTION_KEY"], NEW["ENCRYPTION_SALT"])
        values = [v for i in range(0, n, 1000) for v in client.mget([f"session:{s}" for s in ids[i : i + 1000]])]
        ok = sum(1 for v in values if v is not None and decrypt(v, key))
        print(f"check     {ok}/{n} values open with the new key")
        verdict = "PASS" if rep.seconds < TARGET_S and ok == n else "FAIL"
        print(f"target    < {TARGET_S:.0f} s for {n}: {verdict} ({rep.seconds:.2f} s)")
        client.close()
        return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
