"""The exporter's loop on an engine that fails or hangs: the last snapshot stays served, /healthz tells."""

from __future__ import annotations

import asyncio
import io

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from pulse_tui.clock import FakeClock
from pulse_tui.exporter.metrics import SnapshotCollector
from pulse_tui.exporter.serve import Exporter, Exposition, ListenError, PollHealth, parse_listen
from pulse_tui.model import GatewayHealth, HealthState, KeysStatus, Snapshot
from pulse_tui.sources.logs.line import LogLine

SNAP = Snapshot(taken_at=1_790_000_000.0, gateway_kind="pulse", gateway_url="http://127.0.0.1:3000",
                gateway=GatewayHealth(HealthState.OK), sessions=(), redis=None, keys=KeysStatus("unknown"))


class Engine:
    """A stand-in for the monitor whose polls succeed once, then fail or hang, as told."""

    def __init__(self, then: str) -> None:
        self.then = then
        self.polls = 0

    async def poll(self, *, full: bool = False) -> Snapshot:
        self.polls += 1
        if self.polls == 1:
            return SNAP
        if self.then == "raise":
            raise RuntimeError("engine broke")
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    def take_lines(self, lines: list[LogLine]) -> bool:
        return False

    def current(self) -> Snapshot:
        return SNAP


def served(exposition: Exposition) -> dict[str, float]:
    text = exposition.body(gzipped=False).decode()
    return {s.name: s.value for fam in text_string_to_metric_families(text) for s in fam.samples if not s.labels}


async def run_two_polls(then: str) -> tuple[Exporter, Exposition, str]:
    collector = SnapshotCollector()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    exposition = Exposition(registry)
    err = io.StringIO()
    exp = Exporter(Engine(then), collector, exposition, interval_s=1.0, err=err, poll_timeout_s=0.2)
    await exp.poll_once()
    await exp.poll_once()
    await exp.publish()
    return exp, exposition, err.getvalue()


async def test_a_failing_poll_keeps_the_last_snapshot_and_counts() -> None:
    exp, exposition, err = await run_two_polls("raise")
    got = served(exposition)
    assert got["pulse_gateway_up"] == 1.0  # from the first, good poll
    assert got["pulse_exporter_poll_errors_total"] == 1.0
    assert "RuntimeError" in err and "Traceback" not in err
    ok, why = exp.health()
    assert ok and "RuntimeError" in why


async def test_a_hung_poll_is_abandoned_not_waited_for() -> None:
    exp, exposition, err = await run_two_polls("hang")
    assert served(exposition)["pulse_exporter_poll_errors_total"] == 1.0
    assert "TimeoutError" in err
    assert exp.polls == 2


def test_healthz_turns_red_when_polls_stop() -> None:
    clock = FakeClock()
    health = PollHealth(15.0, clock)
    assert health()[0] is False  # nothing polled yet
    health.mark()
    assert health() == (True, "ok")
    clock.advance(3 * 15.0 + 61)
    ok, why = health()
    assert not ok and "ago" in why


def test_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:9464").url == "http://127.0.0.1:9464"
    assert parse_listen("[::1]:9464").url == "http://[::1]:9464"
    assert parse_listen(":9464").host == "127.0.0.1"  # loopback unless told otherwise
    for bad in ("9464", "127.0.0.1:", "127.0.0.1:70000", "gw.example.net:9464"):
        try:
            parse_listen(bad)
        except ListenError as exc:
            assert "--listen" in str(exc)
        else:
            raise AssertionError(f"{bad!r} accepted")
