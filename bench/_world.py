"""What the terminal benchmarks share: a world on 127.0.0.1 (Redis seeded as the demo seeds it, a Salesboy
gateway simulator holding N linked sessions), the env file that names it, a private tmux server, a real pm2
from npm. Not a benchmark itself (`make bench` skips `_*.py`)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import psutil

from pulse_tui.demo import DEMO_API_KEY, DEMO_HASH_SALT, DEMO_KEY, DEMO_SALT
from pulse_tui.sim.engine import write_linked_profile
from pulse_tui.sim.gateway import GatewaySim
from pulse_tui.sim.redis_server import RedisServer
from pulse_tui.sim.seeder import seed_demo

BIN = Path(sys.executable).parent  # the bench runs under .venv/bin/python; pulse-tui is its console script
PULSE_TUI = BIN / "pulse-tui"
PM2_VERSION = os.environ.get("PULSE_TUI_PM2_VERSION", "7.0.4")
PM2_CACHE = Path(os.environ.get("PULSE_TUI_PM2_CACHE", "/tmp/pulse-tui-pm2"))  # shared with tests/test_pm2.py
SIZE = (150, 40)


@dataclass
class World:
    """Redis + gateway simulator; `close()` stops both and removes the temp dir."""

    root: Path
    redis: RedisServer
    sim: GatewaySim
    ids: list[str]
    variables: dict[str, str] = field(default_factory=dict)

    def env_file(self, name: str, **extra: str) -> Path:
        """An env file with the world's variables (plus `extra`), as an operator's .env would hold them."""
        path = self.root / name
        path.write_text("".join(f"{k}={v}\n" for k, v in {**self.variables, **extra}.items()))
        return path

    def close(self) -> None:
        self.sim.stop()
        self.redis.close()
        shutil.rmtree(self.root, ignore_errors=True)


def start_world(sessions: int, logs: Sequence[str] = (), *, seed: bool = True, poll_s: float = 3.0) -> World:
    """A gateway with `sessions` linked sessions, all restored (connected) before this returns, and a Redis."""
    root = Path(tempfile.mkdtemp(prefix="pulse-bench-world-"))
    auth = root / "auth"
    auth.mkdir()
    ids = [str(uuid.uuid4()) for _ in range(sessions)]
    for sid in ids:
        write_linked_profile(auth / f"session-{sid}")
    redis = RedisServer().start()
    try:
        if seed:
            seed_demo(redis.url, DEMO_KEY, DEMO_SALT, DEMO_HASH_SALT, now=time.time())
        gw_logs = root / "gateway-logs"
        sim = GatewaySim(auth, api_key=DEMO_API_KEY, log_dir=gw_logs, start_delay_s=0.0, ready_delay_s=0.0,
                         restore_interval_s=0.001, rate_limit=100_000)
        sim.start()
    except BaseException:
        redis.close()
        shutil.rmtree(root, ignore_errors=True)
        raise
    world = World(root, redis, sim, ids)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        snap = sim.engine.snapshot()
        if sum(1 for c in snap.values() if c["phase"] == "ready") >= sessions:
            break
        time.sleep(0.05)
    else:
        world.close()
        raise RuntimeError(f"the simulator did not restore its {sessions} sessions within 30 s")
    world.variables = {
        "PULSE_TUI_GATEWAY": "salesboy", "PULSE_TUI_GATEWAY_URL": sim.url, "API_SECRET_KEY": DEMO_API_KEY,
        "PULSE_TUI_AUTH_DIR": str(auth), "REDIS_URL": redis.url, "ENCRYPTION_KEY": DEMO_KEY,
        "ENCRYPTION_SALT": DEMO_SALT, "HASH_SALT": DEMO_HASH_SALT,
        "PULSE_TUI_LOGS": ",".join(logs) if logs else str(gw_logs / "*.log"),
        "PULSE_TUI_POLL_SECONDS": f"{poll_s:g}", "PULSE_TUI_AUDIT_LOG": str(root / "audit.jsonl"),
    }
    return world


class Tmux:
    """A private tmux server (its own socket), so cleanup is one `kill-server` and nothing else is touched."""

    def __init__(self, tag: str) -> None:
        if shutil.which("tmux") is None:
            raise RuntimeError("tmux is not installed (apt-get install -y tmux)")
        self.socket = f"pulse-bench-{tag}-{os.getpid()}"
        # A session that keeps the server up between measured starts, so no start pays for the server.
        self.run("new-session", "-d", "-s", "keep", "-x", str(SIZE[0]), "-y", str(SIZE[1]), "sleep 86400")
        self.run("set-option", "-g", "remain-on-exit", "on")  # a crash stays readable in the pane
        self.path = Path(self.run("display-message", "-p", "#{socket_path}").strip())

    def run(self, *args: str) -> str:
        proc = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10,
                              check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"tmux {args[0]} failed: {proc.stderr.strip()}")
        return proc.stdout

    def new(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> int:
        """Start `argv` in a new 150x40 session (exec'd, so the pane's pid is the program's); that pid."""
        assign = [f"{k}={v}" for k, v in (env or {}).items()]
        command = "exec " + shlex.join(["env", "-u", "TMUX", *assign, *argv])
        self.run("new-session", "-d", "-s", name, "-x", str(SIZE[0]), "-y", str(SIZE[1]), command)
        return self.pane_pid(name)

    def pane_pid(self, name: str) -> int:
        return int(self.run("display-message", "-p", "-t", name, "#{pane_pid}").strip())

    def capture(self, name: str) -> str:
        return self.run("capture-pane", "-p", "-t", name)

    def dead(self, name: str) -> bool:
        return self.run("display-message", "-p", "-t", name, "#{pane_dead}").strip() == "1"

    def quit(self, name: str, pid: int, keys: Iterable[str] = ("q",), timeout_s: float = 8.0) -> None:
        """Ask the program to quit with `keys` (again every 0.5 s: a key sent during start-up can be lost);
        kill it (and its children) if it has not exited within `timeout_s`; drop the session."""
        deadline = time.monotonic() + timeout_s
        try:
            proc = psutil.Process(pid)
            while time.monotonic() < deadline:
                for k in keys:
                    self.run("send-keys", "-t", name, k)
                if _exits_within(proc, 0.5):
                    break
            else:
                kill_tree(pid)
        except psutil.NoSuchProcess:
            pass
        self.run("kill-session", "-t", name)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10, check=False)
        self.path.unlink(missing_ok=True)  # tmux leaves its socket file behind


class _Closable(Protocol):
    def close(self) -> None: ...


def close_started(*parts: _Closable | None) -> None:
    """A bench's teardown: close each part it got to start (None: never started), in the order given."""
    for part in parts:
        if part is not None:
            part.close()


def load_average() -> str:
    """The 1/5/15-minute load averages and the core count: a shared machine's figures need them beside."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f}/{five:.1f}/{fifteen:.1f} on {os.cpu_count()} cores"


def _exits_within(proc: psutil.Process, seconds: float) -> bool:
    """True once the process is gone or a zombie (tmux, with remain-on-exit, reaps its panes' exits late)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def kill_tree(pid: int) -> None:
    """Kill a process and every descendant it has (the bench's own children only)."""
    try:
        root = psutil.Process(pid)
        procs = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(procs, timeout=5)


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and its descendants: the live ones, plus the exited ones their parents reaped."""
    total = 0.0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    for p in procs:
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and its live descendants."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def vm_hwm(pid: int) -> int | None:
    """The kernel's peak RSS (VmHWM) of one process, in bytes; None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def pm2_binary() -> tuple[str | None, str]:
    """A real pm2 from the npm registry (installed once per version, as tests/test_pm2.py does), or why not."""
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        return None, "node/npm are not installed"
    target = PM2_CACHE / PM2_VERSION
    binary = target / "node_modules" / ".bin" / "pm2"
    PM2_CACHE.mkdir(parents=True, exist_ok=True)
    with open(PM2_CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not binary.exists():
            work = Path(tempfile.mkdtemp(prefix=f"{PM2_VERSION}.", dir=PM2_CACHE))
            proc = subprocess.run([npm, "install", "--prefix", str(work), "--no-audit", "--no-fund",
                                   "--loglevel=error", f"pm2@{PM2_VERSION}"],
                                  capture_output=True, text=True, timeout=300, check=False)
            if proc.returncode != 0:
                shutil.rmtree(work, ignore_errors=True)
                return None, f"npm install pm2@{PM2_VERSION} failed: {proc.stderr.strip()[-200:]}"
            shutil.rmtree(target, ignore_errors=True)
            work.rename(target)
    return str(binary), f"pm2 {PM2_VERSION} from npm"
