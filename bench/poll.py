"""Benchmark one full Redis inspection (SCAN + MGET/TTL pipelines + decrypt + classify) at 1k and 10k sessions.

Run: .venv/bin/python bench/poll.py   (not a test; starts its own redis-server on a loopback port)
Baselines measured in the same run: per-key GET (what operators do by hand, extrapolated), per-key
`redis-cli GET` processes when redis-cli is available (extrapolated), and a raw SCAN+MGET pass without decryption.
Targets for 10k sessions: under 0.5 s and under 50 round trips; the 10k/1k ratio should be about 10 (linear).
"""

from __future__ import annotations

import asyncio
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pulse_tui.crypto.pulse import KeyRing  # noqa: E402
from pulse_tui.sim.redis_server import RedisServer  # noqa: E402
from pulse_tui.sim.seeder import seed_bulk  # noqa: E402
from pulse_tui.sources.redis_store import RedisInspector  # noqa: E402

KEY = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
SALT = "00112233445566778899aabbccddeeff"
HASH_SALT = "c0ffeec0ffeec0ffeec0ffeec0ffee00"
SIZES = (1_000, 10_000)
REPEATS = 3


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


async def time_inspect(url: str, ring: KeyRing) -> tuple[float, float, int, int]:
    """(cold, warm, round trips, sessions seen). Cold: best of REPEATS first polls of a new inspector, so
    every value is decrypted; warm: best of REPEATS later polls, where unchanged values are not decrypted again.
    """
    cold, warm, trips, seen = float("inf"), float("inf"), 0, 0
    for _ in range(REPEATS):
        ins = RedisInspector(url, ring, HASH_SALT)
        try:
            for poll in range(2):
                t0 = time.perf_counter()
                report = await ins.inspect()
                took = time.perf_counter() - t0
                assert report.available, report.error
                if poll == 0:
                    cold = min(cold, took)
                else:
                    warm = min(warm, took)
                trips, seen = report.round_trips, len(report.sessions)
        finally:
            await ins.aclose()
    return cold, warm, trips, seen


def per_key_get(url: str, n: int = 1_000) -> float:
    """Seconds for n sequential GETs on one connection (a hand-written loop), sessions only."""
    client = redis.Redis.from_url(url)
    keys = [k for _, k in zip(range(n), client.scan_iter(match="session:*", count=1000), strict=False)]
    t0 = time.perf_counter()
    for k in keys:
        client.get(k)
        client.ttl(k)
    took = time.perf_counter() - t0
    client.close()
    return took * n / max(1, len(keys))


def redis_cli_per_key(server: RedisServer, n: int = 50) -> float | None:
    """Seconds for n `redis-cli GET` processes (what operators really type), or None without redis-cli."""
    cli = shutil.which("redis-cli") or str(Path(sys.executable).with_name("redis-cli"))
    if not Path(cli).exists():
        return None
    client = redis.Redis.from_url(server.url)
    keys = [k.decode() for _, k in zip(range(n), client.scan_iter(match="session:*"), strict=False)]
    client.close()
    t0 = time.perf_counter()
    for k in keys:
        subprocess.run([cli, "-p", str(server.port), "GET", k], stdout=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - t0) * n / max(1, len(keys))


def raw_mget(url: str, chunk: int = 1_000) -> tuple[float, int]:
    """SCAN + pipelined MGET/TTL with no decryption: the floor the inspector can reach."""
    client = redis.Redis.from_url(url)
    t0 = time.perf_counter()
    trips, keys = 0, []
    for k in client.scan_iter(count=1000):
        keys.append(k)
    trips += 1 + len(keys) // 1000  # scan_iter hides its pages; about one per 1000 keys
    for i in range(0, len(keys), chunk):
        pipe = client.pipeline(transaction=False)
        batch = keys[i : i + chunk]
        pipe.mget(batch)
        for k in batch:
            pipe.ttl(k)
        pipe.execute()
        trips += 1
    took = time.perf_counter() - t0
    client.close()
    return took, trips


async def main() -> None:
    ring = KeyRing.for_pulse(KEY, SALT)
    ring.key_for(ring.pairs[0])  # derive once up front: a one-off 0.1 s, not part of a poll
    results: dict[int, tuple[float, float, int, int, float]] = {}
    with RedisServer() as srv:
        admin = redis.Redis.from_url(srv.url)
        for n in SIZES:
            admin.flushall()
            seed_bulk(srv.url, n, KEY, SALT, HASH_SALT)
            cold, warm, trips, seen = await time_inspect(srv.url, ring)
            results[n] = (cold, warm, trips, seen, peak_rss_mb())
            print(f"inspect {n:>6} sessions: cold {cold:.3f} s, warm {warm:.3f} s, {trips} round trips, "
                  f"{seen} seen, peak RSS {results[n][4]:.0f} MB")
        big = max(SIZES)
        get_1k = per_key_get(srv.url)
        cli_50 = redis_cli_per_key(srv)
        mget_s, mget_trips = raw_mget(srv.url)
        admin.close()

    t_small, t_big = results[min(SIZES)][0], results[big][0]
    warm_big, trips_big = results[big][1], results[big][2]
    scale = big / 1000
    print(f"ratio {big}/{min(SIZES)} (cold): {t_big / t_small:.1f} (about {big // min(SIZES)} means linear); "
          f"warm {warm_big / results[min(SIZES)][1]:.1f}")
    print(f"baseline per-key GET+TTL loop: {get_1k:.3f} s per 1k -> {get_1k * scale:.2f} s for {big} "
          f"({get_1k * scale / t_big:.1f}x slower than inspect, {2 * big} round trips)")
    if cli_50 is not None:
        print(f"baseline redis-cli GET per key: {cli_50 / 50 * big:.1f} s for {big} (extrapolated from 50; "
              f"{cli_50 / 50 * big / t_big:.0f}x slower)")
    print(f"raw SCAN+MGET, no decryption: {mget_s:.3f} s, ~{mget_trips} round trips "
          f"(inspect = {t_big / mget_s:.1f}x that)")
    verdict = {True: "PASS", False: "MISS"}
    print(f"target {big}: cold < 0.5 s {verdict[t_big < 0.5]}, warm < 0.5 s {verdict[warm_big < 0.5]}, "
          f"round trips < 50 {verdict[trips_big < 50]}")


if __name__ == "__main__":
    asyncio.run(main())
