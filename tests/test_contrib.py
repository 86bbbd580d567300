"""contrib/: the Grafana dashboard names only served metrics, the rules pass promtool, the units run the exporter."""

from __future__ import annotations

import configparser
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pulse_tui.demo import RESTORED_IDS
from pulse_tui.exporter.metrics import served_names
from tests.test_exporter_world import ExporterProcess, both_connected, make_world, scrape, wait_for, world_env

CONTRIB = Path(__file__).resolve().parents[1] / "contrib"
RULES = CONTRIB / "prometheus" / "pulse-rules.yml"
RULE_TESTS = CONTRIB / "prometheus" / "pulse-rules.test.yml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (apt-get install prometheus)")
METRIC_RE = re.compile(r"\bpulse_[a-z_]+\b")
# Shown only once the gateway's /health has been asked (every 30 s at most, to save the rate limit).
LATE = {"pulse_gateway_latency_seconds"}


def queries(node: Any) -> Iterator[str]:
    """Every PromQL string in a dashboard: panel targets and template variable queries."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and (key in ("expr", "definition") or (key == "query" and "(" in value)):
                yield value
            else:
                yield from queries(value)
    elif isinstance(node, list):
        for item in node:
            yield from queries(item)


@pytest.fixture(scope="module")
def served() -> Iterator[set[str]]:
    """The sample names a real exporter serves once its world has settled."""
    world = make_world()
    exp = ExporterProcess.start(world_env(world))
    try:
        wait_for(lambda: both_connected(exp.url), "both restored sessions connected")
        world.sim.disconnect(RESTORED_IDS[0], "NAVIGATION")  # a transition, for the counters' series
        # PSS is read by the host scan, which may land a poll after the gateway's first answers
        wait_for(lambda: {"pulse_user_sessions", "pulse_session_transitions_total",
                          "pulse_session_browser_pss_bytes"} <= set(scrape(exp.url)),
                 "a Redis inspection, a host scan and a first transition", timeout=60)
        yield set(scrape(exp.url))
    finally:
        exp.stop()
        world.close()


def test_every_dashboard_query_names_served_metrics(served: set[str]) -> None:
    dash = json.loads((CONTRIB / "grafana" / "pulse.json").read_text())
    exprs = list(queries(dash))
    assert len(exprs) >= 10
    named: set[str] = set()
    for expr in exprs:
        names = set(METRIC_RE.findall(expr))
        assert names, f"query names no pulse metric: {expr}"
        named |= names
    assert named <= served_names(), named - served_names()
    assert named - LATE <= served, (named - LATE) - served
    titles = " ".join(p["title"].lower() for p in dash["panels"])
    for needed in ("sessions by state", "timeline", "browser memory", "findings", "budget"):
        assert needed in titles


def test_every_rule_names_served_metrics() -> None:
    text = RULES.read_text()
    exprs = re.findall(r"expr: (?:\|\n((?:\s{10}.*\n)+)|(.*))", text)
    assert len(exprs) >= 12
    for block, line in exprs:
        expr = block or line
        names = set(METRIC_RE.findall(expr))
        if not names:  # the one rule on Prometheus's own series: the exporter cannot be scraped at all
            assert expr.strip().startswith("up{"), expr
        assert names <= served_names(), (expr, names - served_names())
    for alert in re.findall(r"- alert: (\w+)", text):
        body = text.split(f"- alert: {alert}", 1)[1].split("- alert:", 1)[0]
        assert "summary:" in body and "runbook:" in body and "pulse-tui" in body.split("runbook:", 1)[1], alert


@needs_promtool
def test_promtool_checks_the_rules() -> None:
    r = subprocess.run([str(PROMTOOL), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


@needs_promtool
def test_promtool_unit_tests_pass_and_would_catch_a_wrong_rule(tmp_path: Path) -> None:
    r = subprocess.run([str(PROMTOOL), "test", "rules", str(RULE_TESTS)], capture_output=True, text=True,
                       timeout=120, cwd=RULE_TESTS.parent)
    assert r.returncode == 0, r.stdout + r.stderr
    # The same tests against rules that wait far longer must fail: the expectations really bind the rules.
    (tmp_path / RULES.name).write_text(RULES.read_text().replace("for: 10m", "for: 59m"))
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    bad = subprocess.run([str(PROMTOOL), "test", "rules", RULE_TESTS.name], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert bad.returncode != 0 and "PulseSessionWaitingForQr" in bad.stdout + bad.stderr


def test_systemd_unit_runs_the_exporter_on_loopback() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(CONTRIB / "systemd" / "pulse-tui-exporter.service")
    start = unit["Service"]["ExecStart"]
    assert re.search(r"pulse-tui exporter --listen 127\.0\.0\.1:9464\b", start)
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    assert unit["Service"]["Restart"] == "on-failure"


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
def test_pm2_ecosystem_entry_runs_the_exporter() -> None:
    js = CONTRIB / "pm2" / "ecosystem.config.js"
    out = subprocess.run(["node", "-e", f"console.log(JSON.stringify(require({json.dumps(str(js))})))"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    apps = json.loads(out)["apps"]
    (app,) = [a for a in apps if a["name"] == "pulse-tui-exporter"]  # the watchdog's entry sits beside it
    assert app["script"] == "pulse-tui"
    assert app["args"][:3] == ["exporter", "--listen", "127.0.0.1:9464"]
