"""pm2 reader and restart action. The integration test runs a REAL pm2 installed from the npm registry
(cached under /tmp/pulse-tui-pm2/<version>) with a tiny Node app; it is skipped, with the reason, when node/npm
are absent or the install fails. Never a fake pm2."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from pulse_tui.clock import SystemClock
from pulse_tui.config import Config
from pulse_tui.model import GatewayHealth, HealthState, HostSummary, KeysStatus, Pm2Summary, Snapshot
from pulse_tui.monitor.host import HostObservation, HostSource, summarize
from pulse_tui.sources.pm2 import (
    Pm2Reader,
    Pm2State,
    _children,
    daemon_pid,
    memory_restarts,
    parse_jlist,
    pm2_findings,
    read_tail_lines,
    restart_app,
)

PM2_VERSION = os.environ.get("PULSE_TUI_PM2_VERSION", "7.0.4")
PM2_CACHE = Path(os.environ.get("PULSE_TUI_PM2_CACHE", "/tmp/pulse-tui-pm2"))

APP_JS = "setInterval(() => {}, 1000);\n"
# grows past its max_memory_restart within a second or two, then pm2's worker restarts it
SECRET = "pm2-test-secret-9f8e7d6c"
GROW_JS = "const k = []; setInterval(() => { if (k.length < 40) k.push(Buffer.alloc(5e6, 1)); }, 50);\n"


# --- no pm2 / no daemon --------------------------------------------------------------


async def test_pm2_absent_is_a_typed_not_available(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path), "PM2_HOME": str(tmp_path / "pm2")}
    reader = Pm2Reader(SystemClock(), env=env)
    assert not reader.available
    report = await reader.read()
    assert report.state == Pm2State.NOT_AVAILABLE and report.apps == ()
    result = await restart_app("salesboy-gateway", read_only=False, env=env)
    assert not result.ok and not result.available
    assert (await restart_app("salesboy-gateway", read_only=True, env=env)).refused


def test_parse_jlist_skips_banners_and_warnings() -> None:
    secret = "s3cr3t-api-key-value"
    entry = {"name": "salesboy-gateway", "pid": 4321, "pm_id": 0, "monit": {"memory": 123456, "cpu": 1.5},
             "pm2_env": {"status": "online", "restart_time": 3, "pm_uptime": 1_700_000_000_000,
                         "unstable_restarts": 0, "max_memory_restart": 1073741824,
                         "API_SECRET_KEY": secret, "env": {"API_SECRET_KEY": secret}}}
    out = "[PM2] Spawning PM2 daemon with pm2_home=/x\n>>>> In-memory PM2 is out-of-date\n" + json.dumps([entry])
    parsed = parse_jlist(out)
    assert parsed is not None and len(parsed) == 1
    assert parse_jlist("no json here") is None


def test_memory_restarts_read_from_the_tail_of_pm2_log(tmp_path: Path) -> None:
    log = tmp_path / "pm2.log"
    old = "2020-01-01T00:00:00: PM2 log: [PM2][WORKER] Process 3 restarted because it exceeds " \
          "--max-memory-restart value (current_memory=2 max_memory_limit=1 [octets])\n"
    filler = "2020-01-01T00:00:01: PM2 log: App [x:3] online\n" * 20000  # ~1 MB: the old line falls outside
    recent = "2030-06-01T12:00:00: PM2 log: [PM2][WORKER] Process 3 restarted because it exceeds " \
             "--max-memory-restart value (current_memory=2 max_memory_limit=1 [octets])\n" \
             "2030-06-01T12:00:05: PM2 log: [PM2][WORKER] Process 7 restarted because it exceeds " \
             "--max-memory-restart value (current_memory=2 max_memory_limit=1 [octets])\n"
    log.write_text(old + filler + recent)
    found = memory_restarts(log, tail_bytes=64 * 1024)
    assert set(found) == {3, 7} and len(found[3]) == 1  # only the recent line of pm_id 3
    assert found[7][0] - found[3][0] == 5
    lines = read_tail_lines(log, 400)
    assert lines[-1].startswith("2030-06-01T12:00:05")
    assert all(line.startswith("20") for line in lines)  # the cut first line was dropped
    assert memory_restarts(tmp_path / "missing.log") == {}


async def test_no_daemon_is_reported_and_none_is_spawned(pm2_bin: str, tmp_path: Path) -> None:
    home = tmp_path / "pm2"
    home.mkdir()
    env = {**os.environ, "PM2_HOME": str(home)}
    report = await Pm2Reader(SystemClock(), env=env, pm2_bin=pm2_bin).read()
    assert report.state == Pm2State.NOT_RUNNING
    assert not (home / "pm2.pid").exists()  # `pm2 jlist` would have spawned one
    result = await restart_app("salesboy-gateway", read_only=False, env=env, pm2_bin=pm2_bin)
    assert result.refused and not (home / "pm2.pid").exists()


# --- real pm2 ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pm2_bin() -> str:
    """A real pm2 from the npm registry, installed once per version and reused by later runs."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the pm2 tests need a real pm2 (never a fake one)")
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: cannot install pm2 from the npm registry")
    target = PM2_CACHE / PM2_VERSION
    binary = target / "node_modules" / ".bin" / "pm2"
    PM2_CACHE.mkdir(parents=True, exist_ok=True)
    with open(PM2_CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test runs install once
        if not binary.exists():
            work = Path(tempfile.mkdtemp(prefix=f"{PM2_VERSION}.", dir=PM2_CACHE))
            proc = subprocess.run(
                [npm, "install", "--prefix", str(work), "--no-audit", "--no-fund", "--loglevel=error",
                 f"pm2@{PM2_VERSION}"],
                capture_output=True, text=True, timeout=300)
            if proc.returncode != 0:
                shutil.rmtree(work, ignore_errors=True)
                tail = (proc.stderr.strip().splitlines() or ["no output"])[-1][:200]
                pytest.skip(f"npm install pm2@{PM2_VERSION} failed (no network?): {tail}")
            shutil.rmtree(target, ignore_errors=True)
            work.rename(target)
    return str(binary)


class Pm2Env:
    def __init__(self, binary: str, home: Path, apps: Path) -> None:
        self.bin = binary
        self.home = home
        self.apps = apps
        # the app inherits this environment, so `pm2 jlist` carries the "secret": it must never come out
        self.env = {**os.environ, "PM2_HOME": str(home), "PM2_WORKER_INTERVAL": "1000", "API_SECRET_KEY": SECRET}

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.bin, *args], env=self.env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def pm2(pm2_bin: str) -> Iterator[Pm2Env]:
    home = Path(tempfile.mkdtemp(prefix="pm2h-"))  # short: pm2's unix sockets live here
    apps = home / "apps"
    apps.mkdir()
    (apps / "app.js").write_text(APP_JS)
    (apps / "grow.js").write_text(GROW_JS)
    env = Pm2Env(pm2_bin, home, apps)
    try:
        yield env
    finally:
        env.run("kill")
        shutil.rmtree(home, ignore_errors=True)


async def test_real_pm2_jlist_restart_and_memory_restarts(pm2: Pm2Env) -> None:
    started = pm2.run("start", str(pm2.apps / "app.js"), "--name", "t-gw")
    assert started.returncode == 0, started.stderr[-500:]
    assert daemon_pid(pm2.home) is not None

    reader = Pm2Reader(SystemClock(), apps=("t-gw", "t-mem"), env=pm2.env, pm2_bin=pm2.bin)
    first = await reader.read()
    assert first.state == Pm2State.OK, first.detail
    gw = first.app("t-gw")
    assert gw is not None and gw.status == "online"
    assert gw.pid and psutil.pid_exists(gw.pid)
    assert gw.restarts_since_start == 0 and gw.uptime_s is not None and gw.uptime_s >= 0
    assert gw.memory_bytes is not None and gw.memory_bytes > 0
    assert HostSource(Config(pm2_app="t-gw"), SystemClock(), use_pm2=False).gateway_pids(first) == (gw.pid,)
    assert pm2_findings(first, ["t-gw"]) == ()

    refused = await restart_app("t-gw", read_only=True, env=pm2.env, pm2_bin=pm2.bin)
    assert refused.refused
    assert (await reader.read()).app("t-gw").restart_time == gw.restart_time  # type: ignore[union-attr]
    assert (await restart_app("all", read_only=False, env=pm2.env, pm2_bin=pm2.bin)).refused

    done = await restart_app("t-gw", read_only=False, env=pm2.env, pm2_bin=pm2.bin)
    assert done.ok, done.message
    after = (await reader.read()).app("t-gw")
    assert after is not None and after.restarts_since_start == 1 and after.pid != gw.pid
    missing = await restart_app("no-such-app", read_only=False, env=pm2.env, pm2_bin=pm2.bin)
    assert not missing.ok and not missing.refused

    # an app started after the reader: every restart of it counts; pm2's worker restarts it for memory
    grow = pm2.run("start", str(pm2.apps / "grow.js"), "--name", "t-mem", "--max-memory-restart", "100M")
    assert grow.returncode == 0, grow.stderr[-500:]
    deadline = time.monotonic() + 30
    mem = None
    while time.monotonic() < deadline:
        mem = (await reader.read()).app("t-mem")
        # pm2 logs the reason a moment before it counts the restart
        if mem is not None and mem.memory_restarts_since_start >= 1 and mem.restarts_since_start >= 1:
            break
        await asyncio.sleep(0.5)
    assert mem is not None and mem.memory_restarts_since_start >= 1
    assert mem.restarts_since_start >= 1 and mem.max_memory_restart == 100 * 1024 * 1024
    assert mem.last_memory_restart_at is not None
    report = await reader.read()
    codes = {f.code for f in pm2_findings(report, ["t-gw", "t-mem"])}
    assert {"pm2-memory-restart", "pm2-restarted"} <= codes
    assert SECRET in pm2.run("jlist").stdout  # pm2 itself does expose it…
    assert SECRET not in json.dumps(report.as_dict()) and SECRET not in repr(report)  # …we never do

    pm2.run("stop", "t-gw")
    stopped = await reader.read()
    assert stopped.app("t-gw").status == "stopped"  # type: ignore[union-attr]
    assert "pm2-app-down" in {f.code for f in pm2_findings(stopped, ["t-gw"])}


async def test_jlist_is_asked_again_only_when_pm2_changed(pm2: Pm2Env, tmp_path: Path) -> None:
    # A wrapper around the real pm2 that counts its runs: `pm2 jlist` is a whole Node process, the biggest idle
    # cost on a real host, so an unchanged pm2 must be read from what it keeps on disk and in /proc.
    calls = tmp_path / "calls"
    wrapper = tmp_path / "pm2"
    wrapper.write_text(f"#!/bin/sh\necho x >> {calls}\nexec {pm2.bin} \"$@\"\n")
    wrapper.chmod(0o755)
    assert pm2.run("start", str(pm2.apps / "app.js"), "--name", "t-gw").returncode == 0
    reader = Pm2Reader(SystemClock(), apps=("t-gw",), env=pm2.env, pm2_bin=str(wrapper))
    first = await reader.read()
    gw = first.app("t-gw")
    assert first.state == Pm2State.OK and gw is not None and first.read_at is not None
    for _ in range(5):
        again = await reader.read()
        assert again.app("t-gw") is not None and again.app("t-gw").pid == gw.pid  # type: ignore[union-attr]
        assert again.read_at == first.read_at  # the facts say how old they are
    assert again.app("t-gw").memory_bytes  # type: ignore[union-attr]  # memory read from /proc meanwhile
    assert calls.read_text().count("x") == 1

    assert pm2.run("restart", "t-gw").returncode == 0
    after = await reader.read()
    assert calls.read_text().count("x") == 2
    moved = after.app("t-gw")
    assert moved is not None and moved.pid != gw.pid and moved.restarts_since_start == 1

    host = summarize(HostObservation(pm2=again, pm2_app="t-gw"))
    assert host.pm2 is not None and host.pm2.read_at == first.read_at  # the header/JSON/details get the age

    short = Pm2Reader(SystemClock(), apps=("t-gw",), env=pm2.env, pm2_bin=str(wrapper), refresh_s=0.0)
    await short.read()
    await short.read()
    assert calls.read_text().count("x") == 4  # refresh_s bounds how old the facts may get


def test_children_from_proc_are_psutils_children() -> None:
    # the signature's children come from /proc/PID/task/*/children, not from a scan of every process
    kids = [subprocess.Popen(["sleep", "30"]) for _ in range(3)]
    try:
        me = psutil.Process()
        assert _children(os.getpid()) == frozenset((c.pid, c.create_time()) for c in me.children())
        assert {k.pid for k in kids} <= {pid for pid, _start in _children(os.getpid()) or ()}
    finally:
        for k in kids:
            k.kill()
            k.wait()
    assert _children(kids[0].pid) is None  # gone: nothing to tell, never an exception


def _pm2_snap(read_at: float | None, taken_at: float = 1000.0) -> Snapshot:
    pm2 = Pm2Summary(app="salesboy-gateway", status="online", restarts=3, restarts_since_start=0, memory_restarts=0,
                     uptime_s=50.0, memory_bytes=70 * 2**20, pid=4321, read_at=read_at)
    return Snapshot(taken_at=taken_at, gateway_kind="salesboy", gateway_url="http://127.0.0.1:1",
                    gateway=GatewayHealth(HealthState.OK, None, None, None), sessions=(), redis=None,
                    keys=KeysStatus("ok"), host=HostSummary(pm2=pm2, pm2_state="ok"))


def test_pm2_facts_say_how_old_they_are_in_json_and_details() -> None:
    from pulse_tui.model import ConnState, SessionView
    from pulse_tui.status_json import snapshot_to_json
    from pulse_tui.tui.details import session_details

    snap = _pm2_snap(read_at=880.0)
    block = snapshot_to_json(snap)["host"]["pm2"]
    assert block["read_at"] == 880.0 and block["age_s"] == 120.0
    view = SessionView(id="s1", state=ConnState.CONNECTED, since=0.0, seconds_in_state=1.0)
    text = session_details(view, snap).plain
    assert "salesboy-gateway online, pid 4321, 3 restart(s): pm2 asked 2m ago" in text
    unknown = snapshot_to_json(_pm2_snap(read_at=None))["host"]["pm2"]
    assert unknown["read_at"] is None and unknown["age_s"] is None
    assert "age unknown" in session_details(view, _pm2_snap(read_at=None)).plain
    down = replace(snap, host=HostSummary(pm2_state="not-running", pm2_detail="no pm2 daemon running"))
    assert "not-running: no pm2 daemon running" in session_details(view, down).plain
    off = replace(snap, host=HostSummary())
    assert "pm2" not in session_details(view, off).plain
