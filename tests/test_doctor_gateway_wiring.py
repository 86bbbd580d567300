"""`pulse-tui doctor` on WAHA and Evolution: the adapters' facts reach the report (issue 16 item 5)."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

from pulse_tui.config import config_from_values
from pulse_tui.doctor import command as doctor_command
from pulse_tui.doctor import options as doctor_options
from pulse_tui.doctor.checks import CODES, GROUP_OF, findings_for
from pulse_tui.doctor.checks_gateways import CODES as GATEWAY_CODES
from pulse_tui.monitor.build import build_targets
from pulse_tui.sim.evolution import EvolutionSim
from pulse_tui.sim.waha import WahaFlavor, WahaSim


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser()
    doctor_options.add_arguments(p)
    return p.parse_args(["--json", "--timeout", "30"])


async def _doctor(values: dict[str, str], tmp_path: Path) -> tuple[int, dict[str, object], str]:
    config = config_from_values({**values, "XDG_STATE_HOME": str(tmp_path)})
    targets = build_targets(config, findings=findings_for(config), host=False)
    out = io.StringIO()
    try:
        code = await doctor_command.run(config, targets, _args(), out=out)
    finally:
        await targets.aclose()
    return code, json.loads(out.getvalue()), out.getvalue()


def test_the_gateway_codes_are_in_the_registry() -> None:
    for code, (group, _) in GATEWAY_CODES.items():
        assert code in CODES and GROUP_OF[code] == group


async def test_waha_core_2024_open_api_and_single_session(tmp_path: Path) -> None:
    sim = WahaSim(None, flavor=WahaFlavor.CORE_2024, action_delay_s=0.0)
    url = sim.start()
    try:
        code, doc, _ = await _doctor({"PULSE_TUI_GATEWAY": "waha", "PULSE_TUI_GATEWAY_URL": url}, tmp_path)
    finally:
        sim.stop()
    codes = {f["code"] for f in doc["findings"]}  # type: ignore[index, attr-defined]
    assert {"waha-no-api-key", "waha-core-single-session"} <= codes, codes
    assert code >= 1


async def test_evolution_default_key_and_del_instance_without_leaking_the_key(tmp_path: Path) -> None:
    sim = EvolutionSim("BQYHJGJHJ", create_delay_s=0.0)
    url = sim.start()
    sim.add_instance("shop")
    try:
        code, doc, text = await _doctor({"PULSE_TUI_GATEWAY": "evolution", "PULSE_TUI_GATEWAY_URL": url,
                                         "AUTHENTICATION_API_KEY": "BQYHJGJHJ", "DEL_INSTANCE": "5"}, tmp_path)
    finally:
        sim.stop()
    found = {f["code"]: f for f in doc["findings"]}  # type: ignore[index, attr-defined]
    assert {"evolution-default-key", "evolution-del-instance"} <= set(found), set(found)
    assert "shop" in found["evolution-del-instance"]["subjects"]  # closed: it would be deleted
    assert code >= 1


async def test_evolution_with_a_real_key_has_no_default_key_finding(tmp_path: Path) -> None:
    key = "a-long-random-evolution-key-42"
    sim = EvolutionSim(key, create_delay_s=0.0)
    url = sim.start()
    try:
        _, doc, text = await _doctor({"PULSE_TUI_GATEWAY": "evolution", "PULSE_TUI_GATEWAY_URL": url,
                                      "AUTHENTICATION_API_KEY": key}, tmp_path)
    finally:
        sim.stop()
    codes = {f["code"] for f in doc["findings"]}  # type: ignore[index, attr-defined]
    assert "evolution-default-key" not in codes and "gateway-unauthorized" not in codes, codes
    assert key not in text
