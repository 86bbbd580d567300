"""A real Prometheus scraping two exporters, each on its own simulated world; a drop in one shows for it alone."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.widgets import DataTable

from pulse_tui.demo import RESTORED_IDS, DemoWorld
from pulse_tui.fleet.contexts import Context, load_contexts, ssh_command
from pulse_tui.fleet.query import FleetFailure, FleetView, HostRow, PrometheusReader, SessionRow
from pulse_tui.sim.redis_server import free_port
from pulse_tui.tui.fleet_screen import FleetApp, HostsScreen, SessionsScreen, host_cells, session_cells
from tests.test_exporter_world import ExporterProcess, both_connected, make_world, wait_for, world_env

PROMETHEUS = shutil.which("prometheus")
RULES = Path(__file__).resolve().parents[1] / "contrib" / "prometheus" / "pulse-rules.yml"


@dataclass
class PrometheusServer:
    """A Prometheus child process on 127.0.0.1 with its own config and TSDB in a temp dir."""

    proc: subprocess.Popen[bytes]
    url: str
    root: Path

    @classmethod
    def start(cls, targets: dict[str, str], *, rules: Path | None = None) -> PrometheusServer:
        root = Path(tempfile.mkdtemp(prefix="pulse-tui-prom-"))
        static = "\n".join(
            f"      - targets: ['{addr}']\n        labels: {{world: '{name}'}}" for name, addr in targets.items()
        )
        rule_files = f"rule_files: ['{rules}']\n" if rules is not None else ""
        (root / "prometheus.yml").write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s, scrape_timeout: 1s}\n"
            + rule_files
            + f"scrape_configs:\n  - job_name: pulse\n    static_configs:\n{static}\n"
        )
        port = free_port()
        proc = subprocess.Popen(
            [str(PROMETHEUS), f"--config.file={root / 'prometheus.yml'}", f"--storage.tsdb.path={root / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=(root / "prometheus.log").open("wb"),
        )
        srv = cls(proc, f"http://127.0.0.1:{port}", root)
        try:
            wait_for(lambda: httpx.get(f"{srv.url}/-/ready", timeout=2).status_code == 200, "Prometheus ready")
        except BaseException:
            srv.close()
            raise
        return srv

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant vector of `promql` as Prometheus's HTTP API returns it."""
        r = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=5)
        body = r.json()
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class Fleet:
    worlds: dict[str, DemoWorld]
    exporters: dict[str, ExporterProcess]
    prometheus: PrometheusServer

    def connected(self) -> dict[tuple[str, str], float]:
        """(world, session) -> the last scraped pulse_session_state{state="connected"}."""
        return {(r["metric"]["world"], r["metric"]["session"]): float(r["value"][1])
                for r in self.prometheus.query('pulse_session_state{state="connected"}')}


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    if PROMETHEUS is None:
        pytest.skip("prometheus not installed (apt-get install prometheus; `make test` does it as root)")
    worlds: dict[str, DemoWorld] = {}
    exporters: dict[str, ExporterProcess] = {}
    prom: PrometheusServer | None = None
    try:
        for name in ("a", "b"):
            worlds[name] = make_world()
            exporters[name] = ExporterProcess.start(world_env(worlds[name]))
        prom = PrometheusServer.start({n: e.url.removeprefix("http://") for n, e in exporters.items()}, rules=RULES)
        yield Fleet(worlds, exporters, prom)
    finally:
        if prom is not None:
            prom.close()
        for exp in exporters.values():
            exp.stop()
        for w in worlds.values():
            w.close()


DROPPED = ("a", RESTORED_IDS[0])


def drop(fleet: Fleet) -> None:
    """Drop world a's first session (once) and wait until Prometheus has scraped it."""
    for exp in fleet.exporters.values():
        wait_for(lambda exp=exp: both_connected(exp.url) or fleet.connected().get(DROPPED) == 0.0,
                 "both sessions connected in each world")
    if fleet.connected().get(DROPPED) != 0.0:
        fleet.worlds["a"].sim.disconnect(RESTORED_IDS[0], "NAVIGATION")
    wait_for(lambda: fleet.connected().get(DROPPED) == 0.0, "Prometheus to see the drop")


def test_a_drop_in_one_world_changes_only_that_session(fleet: Fleet) -> None:
    for exp in fleet.exporters.values():
        wait_for(lambda exp=exp: both_connected(exp.url), "both sessions connected in each world")
    everyone = {(w, sid) for w in ("a", "b") for sid in RESTORED_IDS}

    def all_up() -> bool:
        seen = fleet.connected()
        return all(seen.get(k) == 1.0 for k in everyone)

    wait_for(all_up, "Prometheus to scrape every session connected")
    # Both worlds use the same session ids: only Prometheus's target labels tell the hosts apart.
    targets = {r["metric"]["instance"] for r in fleet.prometheus.query("pulse_gateway_up == 1")}
    assert len(targets) == 2

    drop(fleet)
    seen = fleet.connected()
    assert {k for k in everyone if seen.get(k) != 1.0} == {DROPPED}

    # The shipped rule sees it too: PulseSessionDown is pending (its `for:` is 5 min) for that session only.
    def pending() -> set[tuple[str, str]]:
        return {(r["metric"]["world"], r["metric"]["session"])
                for r in fleet.prometheus.query('ALERTS{alertname="PulseSessionDown"}')}

    wait_for(lambda: pending() == {DROPPED}, "PulseSessionDown pending for the dropped session")


def test_the_shipped_rules_load_in_a_real_prometheus(fleet: Fleet) -> None:
    r = httpx.get(f"{fleet.prometheus.url}/api/v1/rules", timeout=5).json()
    rules = [rule for group in r["data"]["groups"] for rule in group["rules"]]
    assert len(rules) >= 12
    bad = [(rule["name"], rule.get("lastError")) for rule in rules if rule.get("health") == "err"]
    assert not bad


# --- the fleet view, read from that Prometheus ------------------------------------------------------------


async def test_fleet_reader_lists_both_hosts_and_the_drop(fleet: Fleet) -> None:
    drop(fleet)
    reader = PrometheusReader(fleet.prometheus.url)
    try:
        view = await reader.fleet()
        assert isinstance(view, FleetView), view
        assert view.refresh_s == 1.0  # the scrape interval of the generated config
        by_port = {h.instance: h for h in view.hosts}
        assert set(by_port) == {e.url.removeprefix("http://") for e in fleet.exporters.values()}
        host_a = by_port[fleet.exporters["a"].url.removeprefix("http://")]
        host_b = by_port[fleet.exporters["b"].url.removeprefix("http://")]
        for h in (host_a, host_b):
            assert h.scraped and h.gateway == "ok" and h.kind == "salesboy" and h.job == "pulse"
            assert h.redis_up is True
        assert host_a.sessions["connected"] == 1 and host_b.sessions["connected"] == 2
        rows = await reader.sessions(host_a)
        assert not isinstance(rows, FleetFailure)
        states = {r.session: r.state for r in rows}
        assert states[RESTORED_IDS[1]] == "connected" and states[RESTORED_IDS[0]] != "connected"
        assert all(r.since for r in rows if r.state == "connected")
        by_id = {r.session: r for r in rows}
        assert not by_id[RESTORED_IDS[0]].since_first_seen  # the drop is a change the exporter saw
    finally:
        await reader.aclose()


async def test_fleet_reader_turns_a_dead_prometheus_into_a_value() -> None:
    reader = PrometheusReader(f"http://127.0.0.1:{free_port()}")
    try:
        view = await reader.fleet()
    finally:
        await reader.aclose()
    assert isinstance(view, FleetFailure) and "could not be read" in view.detail


class SshRecorder(FleetApp):
    """The fleet app with a terminal that can always be handed over (the test's pilot has none)."""

    def suspend(self) -> contextlib.AbstractContextManager[None]:  # type: ignore[override]
        return contextlib.nullcontext()


async def test_fleet_screen_hosts_sessions_and_ssh(fleet: Fleet) -> None:
    drop(fleet)
    ran: list[list[str]] = []

    def runner(argv: Sequence[str]) -> int:
        ran.append(list(argv))
        return 0

    host_a = fleet.exporters["a"].url.removeprefix("http://")
    contexts = {host_a: Context("operator@gw-a", ("--read-only",))}
    reader = PrometheusReader(fleet.prometheus.url)
    app = SshRecorder(reader, contexts, runner=runner, autorefresh=False)
    try:
        async with app.run_test(size=(160, 30)) as pilot:
            await wait_until(pilot, lambda: app.view is not None and len(app.view.hosts) == 2)
            table = app.hosts_screen.query_one("#hosts", DataTable)
            assert table.row_count == 2
            rows = [" ".join(str(c) for c in table.get_row_at(i)) for i in range(2)]
            assert any("1/4 connected" in r for r in rows) and any("2/4 connected" in r for r in rows), rows
            keys = [str(k.value) for k in table.rows]
            table.move_cursor(row=keys.index(f"pulse/{host_a}"))
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, SessionsScreen)
                             and app.screen.query_one("#sessions", DataTable).row_count >= 2)
            sessions = app.screen.query_one("#sessions", DataTable)
            cells = {str(sessions.get_row_at(i)[1]): str(sessions.get_row_at(i)[0]) for i in range(sessions.row_count)}
            assert cells[RESTORED_IDS[1]] == "connected" and cells[RESTORED_IDS[0]] != "connected"
            await pilot.press("o")
            await wait_until(pilot, lambda: bool(ran))
            assert ran == [["ssh", "-t", "--", "operator@gw-a", "pulse-tui --read-only"]]
            await pilot.press("escape")
            assert isinstance(app.screen, HostsScreen)
    finally:
        await reader.aclose()


async def wait_until(pilot: Any, check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting in the fleet screen")
        await pilot.pause(0.1)


def test_ssh_command_never_turns_a_label_into_an_option() -> None:
    assert ssh_command("gw1.example.net:9464", {}) == ["ssh", "-t", "--", "gw1.example.net", "pulse-tui"]
    assert ssh_command("[::1]:9464", {}) == ["ssh", "-t", "--", "::1", "pulse-tui"]
    assert ssh_command("-oProxyCommand=evil:9464", {}) is None
    assert ssh_command("a b:1", {}) is None
    ctx = {"x:1": Context("root@x", ("--env-file", "/opt/pulse/.env; rm -rf /"))}
    assert ssh_command("x:1", ctx) == ["ssh", "-t", "--", "root@x", "pulse-tui --env-file '/opt/pulse/.env; rm -rf /'"]


def test_contexts_file_and_bad_arguments(tmp_path: Path) -> None:
    good = tmp_path / "fleet.toml"
    good.write_text('[hosts."gw1:9464"]\nssh = "root@gw1"\nargs = ["--gateway", "pulse"]\n')
    assert load_contexts(good) == {"gw1:9464": Context("root@gw1", ("--gateway", "pulse"))}
    bad = tmp_path / "bad.toml"
    bad.write_text('[hosts."gw1:9464"]\nargs = "nope"\n')
    for argv, needle in ((["--prometheus", "nonsense"], "--prometheus"),
                         (["--prometheus", "http://127.0.0.1:9090", "--contexts", str(bad)], "--contexts"),
                         (["--prometheus", "http://127.0.0.1:9090", "--contexts", str(tmp_path / "no")], "--contexts")):
        r = subprocess.run([sys.executable, "-m", "pulse_tui", "fleet", *argv], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_hostile_labels_reach_the_fleet_table_escaped() -> None:
    host = HostRow(instance="gw\x1b]0;owned\x07:9464", job="pulse\u202e", scraped=True, gateway="ok",
                   sessions={"connected": 1})
    cells = [c.plain for c in host_cells(host)]
    assert all("\x1b" not in c and "\u202e" not in c and "\x07" not in c for c in cells)
    assert "gw\\x1b]0;owned\\x07:9464" in cells


def test_a_first_sight_shows_as_a_minimum() -> None:
    first = session_cells(SessionRow("s", "connected", 1000.0, since_first_seen=True), 1075.0)
    seen = session_cells(SessionRow("s", "connected", 1000.0), 1075.0)
    assert (first[2].plain, seen[2].plain) == ("≥1m", "1m")
