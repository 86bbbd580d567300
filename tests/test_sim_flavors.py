"""`python -m pulse_tui.sim.flavors`: each flavour starts on loopback and answers as its spec says."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from pulse_tui.sim.evolution import EvolutionSim
from pulse_tui.sim.flavors import build_parser, build_sim, main
from pulse_tui.sim.waha import WahaSim


@pytest.mark.parametrize(("flavor", "path", "expect"), [
    ("waha", "/api/server/version", "2026"),
    ("waha-core-2024", "/api/server/version", "2024.10.8"),
    ("evolution", "/", "Welcome to the Evolution API"),
])
def test_each_flavour_answers(flavor: str, path: str, expect: str) -> None:
    sim = build_sim(build_parser().parse_args(["--flavor", flavor, "--api-key", "k"]))
    url = sim.start()
    try:
        resp = httpx.get(url + path, headers={"X-Api-Key": "k", "apikey": "k"}, trust_env=False)
        assert resp.status_code == 200 and expect in resp.text
    finally:
        sim.stop()


def test_options_reach_the_simulator() -> None:
    waha = build_sim(build_parser().parse_args(["--flavor", "waha", "--session", "s1", "--action-delay", "0.1"]))
    assert isinstance(waha, WahaSim) and list(waha.sessions) == ["s1"] and waha.action_delay_s == 0.1
    evo = build_sim(build_parser().parse_args(["--flavor", "evolution", "--qrcode-limit", "4", "--fault", "401"]))
    assert isinstance(evo, EvolutionSim) and evo.qrcode_limit == 4 and evo.fault.value == "401"


def test_refuses_a_non_loopback_host(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--flavor", "waha", "--host", "0.0.0.0"]) == 2
    assert "loopback" in capsys.readouterr().err


def test_runs_as_a_module_and_prints_its_url() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "pulse_tui.sim.flavors", "--flavor", "waha-core-2024"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(url + "/ping", trust_env=False).json() == {"message": "pong"}
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_the_main_simulator_command_takes_the_new_flavours() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "pulse_tui.sim", "--flavor=evolution", "--api-key", "k-flv-1"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        body = httpx.get(url + "/", trust_env=False).json()
        assert body["message"].startswith("Welcome to the Evolution API")
        assert httpx.get(url + "/instance/fetchInstances", trust_env=False).status_code == 401  # no apikey sent
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
