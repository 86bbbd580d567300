"""A real Prometheus scraping two exporters, each on its own simulated world; a drop in one shows for it alone."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from pulse_tui.demo import RESTORED_IDS, DemoWorld
from pulse_tui.sim.redis_server import free_port
from tests.test_exporter_world import ExporterProcess, both_connected, make_world, wait_for, world_env

PROMETHEUS = shutil.which("prometheus")
RULES = Path(__file__).resolve().parents[1] / "contrib" / "prometheus" / "pulse-rules.yml"
pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not installed (apt-get install prometheus)")


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

    dropped = ("a", RESTORED_IDS[0])
    fleet.worlds["a"].sim.disconnect(RESTORED_IDS[0], "NAVIGATION")
    wait_for(lambda: fleet.connected().get(dropped) == 0.0, "Prometheus to see the drop")
    seen = fleet.connected()
    assert {k for k in everyone if seen.get(k) != 1.0} == {dropped}

    # The shipped rule sees it too: PulseSessionDown is pending (its `for:` is 5 min) for that session only.
    def pending() -> set[tuple[str, str]]:
        return {(r["metric"]["world"], r["metric"]["session"])
                for r in fleet.prometheus.query('ALERTS{alertname="PulseSessionDown"}')}

    wait_for(lambda: pending() == {dropped}, "PulseSessionDown pending for the dropped session")


def test_the_shipped_rules_load_in_a_real_prometheus(fleet: Fleet) -> None:
    r = httpx.get(f"{fleet.prometheus.url}/api/v1/rules", timeout=5).json()
    rules = [rule for group in r["data"]["groups"] for rule in group["rules"]]
    assert len(rules) >= 12
    bad = [(rule["name"], rule.get("lastError")) for rule in rules if rule.get("health") == "err"]
    assert not bad
