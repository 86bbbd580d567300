"""Doctor checks for WAHA and Evolution: pure functions of the adapters' facts, and once from a real adapter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pulse_tui.doctor.checks_gateways import CODES, check_evolution, check_waha
from pulse_tui.events import EventKind, SessionEvent
from pulse_tui.model import ConnState, Severity
from pulse_tui.sim.waha import WahaFlavor, WahaSim
from pulse_tui.sources.gateway.evolution import EvolutionFacts, InstanceRow
from pulse_tui.sources.gateway.keys_from_env import evolution_settings
from pulse_tui.sources.gateway.waha import WahaFacts, WahaGateway, WahaServer, WahaSessionFacts

NOW = 1_790_000_000.0
CORE = WahaServer("2024.10.8", "WEBJS", "CORE", True, False, key_enforced=False, environment_shows_keys=True)
CURRENT = WahaServer("2026.7.1", "WEBJS", "CORE", False, True, key_enforced=True, environment_shows_keys=False)


def codes(findings: list) -> dict[str, Severity]:  # type: ignore[type-arg]
    return {f.code: f.severity for f in findings}


def test_every_code_is_documented() -> None:
    facts = WahaFacts("http://10.0.0.5:3000", False, False, CORE,
                      (WahaSessionFacts("default", "FAILED", None),), {"x": 6})
    evo = EvolutionFacts("http://127.0.0.1:8080", True, None, (InstanceRow("i", "connecting", memory_state="close"),))
    for f in check_waha(facts, NOW) + check_evolution(evo, evolution_settings({"DEL_INSTANCE": "5"})):
        assert f.code in CODES, f.code


def test_core_2024_open_beyond_loopback_is_critical() -> None:
    found = codes(check_waha(WahaFacts("http://203.0.113.7:3000", False, False, CORE), NOW))
    assert found["waha-no-api-key"] == Severity.CRITICAL
    assert found["waha-environment-exposes-keys"] == Severity.CRITICAL
    assert found["waha-core-single-session"] == Severity.INFO


def test_core_2024_on_loopback_is_a_warning() -> None:
    found = codes(check_waha(WahaFacts("http://127.0.0.1:3000", True, False, CORE), NOW))
    assert found["waha-no-api-key"] == Severity.WARNING


def test_current_server_with_a_key_is_quiet() -> None:
    assert check_waha(WahaFacts("http://127.0.0.1:3000", True, True, CURRENT,
                                (WahaSessionFacts("a", "WORKING", int(NOW * 1000)),)), NOW) == []


def test_waha_sessions_failed_qr_running_out_and_silent() -> None:
    sessions = (WahaSessionFacts("f", "FAILED", None), WahaSessionFacts("q", "SCAN_QR_CODE", None),
                WahaSessionFacts("w", "WORKING", int((NOW - 3600) * 1000)),
                WahaSessionFacts("ok", "WORKING", int((NOW - 60) * 1000)))
    found = check_waha(WahaFacts("http://127.0.0.1:3000", True, True, CURRENT, sessions, {"q": 5, "f": 6}), NOW)
    by = {f.code: f for f in found}
    assert by["waha-session-failed"].subjects == ("f",)
    assert by["waha-qr-running-out"].subjects == ("q",)  # the FAILED one is reported once, as FAILED
    assert by["waha-working-silent"].subjects == ("w",)
    assert "60+ minutes" not in by["waha-working-silent"].message and "30+" in by["waha-working-silent"].message


@pytest.fixture
def core_sim() -> Iterator[WahaSim]:
    sim = WahaSim(None, flavor=WahaFlavor.CORE_2024, action_delay_s=0.05, start_delay_s=0.05, qr_wait_s=0.2)
    sim.start()
    yield sim
    sim.stop()


async def test_from_a_real_core_2024_adapter(core_sim: WahaSim) -> None:
    gw = WahaGateway(core_sim.url, None)
    try:
        await gw.probe()
        await gw.list_sessions()
        found = codes(check_waha(gw.facts(), NOW))
    finally:
        await gw.aclose()
    assert found == {"waha-no-api-key": Severity.WARNING, "waha-environment-exposes-keys": Severity.WARNING,
                     "waha-core-single-session": Severity.INFO}


def test_evolution_default_key_and_del_instance() -> None:
    facts = EvolutionFacts("http://127.0.0.1:8080", True, None,
                           (InstanceRow("a", "open", memory_state="open"), InstanceRow("b", "close", memory_state="close")))
    found = check_evolution(facts, evolution_settings({"DEL_INSTANCE": "5"}), loopback=False)
    by = {f.code: f for f in found}
    assert by["evolution-default-key"].severity == Severity.CRITICAL
    assert by["evolution-del-instance"].subjects == ("b",) and "DEL_INSTANCE=5" in by["evolution-del-instance"].message
    assert "BQYHJGJHJ" in by["evolution-default-key"].message  # the public value, named so it can be recognised
    assert check_evolution(EvolutionFacts("u", False, None), evolution_settings({"DEL_INSTANCE": "false",
                                                                                "AUTHENTICATION_API_KEY": "k"})) == []


def test_evolution_qr_limit_mismatch_and_close_codes() -> None:
    rows = (InstanceRow("limit", "connecting", memory_state="close"),
            InstanceRow("drift", "open", memory_state="close"),
            InstanceRow("out", "close", disconnection_code=401, memory_state="close"),
            InstanceRow("blip", "close", disconnection_code=408, memory_state="close"))
    by = {f.code: f for f in check_evolution(EvolutionFacts("u", False, None, rows),
                                             evolution_settings({"QRCODE_LIMIT": "10"}))}
    assert by["evolution-qr-limit-reached"].subjects == ("limit",) and "10 codes" in by["evolution-qr-limit-reached"].message
    assert by["evolution-state-mismatch"].subjects == ("drift",)
    assert by["evolution-logged-out"].subjects == ("out",)
    assert by["evolution-transient-close"].subjects == ("blip",) and by["evolution-transient-close"].severity == Severity.INFO


def _update(name: str, at: float) -> SessionEvent:
    return SessionEvent(name, EventKind.STATE, at, "", "connection.update connecting", ConnState.STARTING, 200)


def test_evolution_reconnect_loop_from_events() -> None:
    flood = [_update("loop", NOW - i) for i in range(25)] + [_update("calm", NOW - i * 100) for i in range(5)]
    flood.append(SessionEvent("q", EventKind.QR_LIMIT, NOW, "", "connection.update refused", ConnState.STOPPED, 428))
    by = {f.code: f for f in check_evolution(EvolutionFacts("u", False, None), None, flood, NOW)}
    assert by["evolution-reconnect-loop"].subjects == ("loop",)
    assert by["evolution-qr-limit-reached"].subjects == ("q",)
    old = [_update("loop", NOW - 1000 - i) for i in range(25)]
    assert check_evolution(EvolutionFacts("u", False, None), None, old, NOW) == []
