"""One-shot commands take their first CPU sample as they start, and wait only for what is left of CPU_SAMPLE_S
before the second (issue 15 item 2): the wait overlaps the command's own work instead of coming after it. With
no browser in the first sample there is nothing to compare, so there is no wait at all."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from pulse_tui.clock import FakeClock
from pulse_tui.config import Config, GatewayKind, config_from_values
from pulse_tui.monitor.build import build_targets
from pulse_tui.monitor.host import CPU_SAMPLE_S, HostSource
from pulse_tui.sim.browsers import BrowserSpec, StandInGateway
from pulse_tui.sim.gateway import GatewaySim
from pulse_tui.sources.pm2 import Pm2Reader


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[GatewaySim]:
    s = GatewaySim(tmp_path / "auth", api_key="one-shot-sample-key")
    s.start()
    yield s
    s.stop()


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every asyncio.sleep the host source asks for (then a zero sleep: the test needs no real wait)."""
    asked: list[float] = []
    real_sleep = asyncio.sleep

    async def recording_sleep(seconds: float) -> None:
        asked.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr("pulse_tui.monitor.host.asyncio.sleep", recording_sleep)
    return asked


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[StandInGateway]:
    """A real stand-in browser tree on a Salesboy profile: a process whose CPU% the second sample tells."""
    gw = StandInGateway([BrowserSpec(tmp_path / ".wwebjs_auth" / "session-cpu-sample", children=1)]).start()
    yield gw
    gw.close()


def _host(tmp_path: Path, clock: FakeClock) -> HostSource:
    config = Config(gateway_kind=GatewayKind.SALESBOY, gateway_url="http://127.0.0.1:9", auth_dirs=(tmp_path,))
    no_pm2 = Pm2Reader(clock, ("salesboy-gateway",), env={"PATH": str(tmp_path / "empty-bin"), "HOME": str(tmp_path)})
    return HostSource(config, clock, pm2=no_pm2, cpu_sample_s=CPU_SAMPLE_S)


async def test_the_wait_is_only_what_is_left_of_the_sample(tmp_path: Path, waits: list[float],
                                                            browser: StandInGateway) -> None:
    clock = FakeClock()
    host = _host(tmp_path, clock)
    host.start_cpu_sample()
    assert host.mapper.has_cpu_baseline  # the first sample is taken at once, not in the poll
    clock.advance(0.2)  # the command's imports, gateway and Redis took 0.2 s meanwhile
    report = await host.scan()
    assert report.error == ""
    assert [s.session_id for s in report.sessions] == ["cpu-sample"]
    assert waits == [pytest.approx(CPU_SAMPLE_S - 0.2)]
    await host.scan()  # a later scan compares against the previous one: no wait at all
    assert len(waits) == 1


async def test_no_wait_when_the_work_outlasted_the_sample(tmp_path: Path, waits: list[float],
                                                          browser: StandInGateway) -> None:
    clock = FakeClock()
    host = _host(tmp_path, clock)
    host.start_cpu_sample()
    clock.advance(CPU_SAMPLE_S + 0.3)  # 10,000 Redis sessions: the poll itself was longer than the sample
    await host.scan()
    assert waits == []


async def test_without_an_early_sample_the_first_scan_waits_the_whole_sample(tmp_path: Path, waits: list[float],
                                                                             browser: StandInGateway) -> None:
    host = _host(tmp_path, FakeClock())
    await host.scan()
    assert waits == [pytest.approx(CPU_SAMPLE_S)]


async def test_no_browser_no_wait(tmp_path: Path, waits: list[float]) -> None:
    clock = FakeClock()
    host = _host(tmp_path, clock)
    host.start_cpu_sample()
    report = await host.scan()
    assert report.error == "" and report.sessions == ()
    assert waits == []  # nothing to compare: the command answers without waiting for a second sample


async def test_one_shot_targets_start_sampling_when_built(sim: GatewaySim, tmp_path: Path) -> None:
    config = config_from_values({"PULSE_TUI_GATEWAY": "salesboy", "PULSE_TUI_GATEWAY_URL": sim.url,
                                 "API_SECRET_KEY": "one-shot-sample-key", "XDG_STATE_HOME": str(tmp_path)})
    one_shot = build_targets(config, host=True, one_shot=True)
    running = build_targets(config, host=True, one_shot=False)
    try:
        assert one_shot.monitor.host is not None and one_shot.monitor.host.mapper.has_cpu_baseline
        assert running.monitor.host is not None and not running.monitor.host.mapper.has_cpu_baseline
    finally:
        await one_shot.aclose()
        await running.aclose()
