"""WAHA/Evolution adapters and channels built from configuration variables, against the simulators."""

from __future__ import annotations

import pytest

from pulse_tui.config import ConfigError
from pulse_tui.model import HealthState
from pulse_tui.sim.evolution import EvolutionSim
from pulse_tui.sim.waha import WahaSim
from pulse_tui.sources.gateway.factories import (
    DEFAULT_URLS,
    evolution_channel,
    evolution_gateway,
    waha_channel,
    waha_gateway,
)


def test_a_hashed_waha_key_names_its_variable() -> None:
    with pytest.raises(ConfigError) as err:
        waha_gateway(None, {"WAHA_API_KEY": "sha512:00ff"})
    assert str(err.value).startswith("WAHA_API_KEY") and "00ff" not in str(err.value)


async def test_waha_from_its_own_env_answers() -> None:
    sim = WahaSim("k1", sessions=("a",), action_delay_s=0.0)
    url = sim.start()
    try:
        gw = waha_gateway(url, {"WHATSAPP_API_KEY": "k1"})
        assert await gw.list_sessions() == ["a"]
        assert waha_channel(gw, {"WHATSAPP_API_KEY": "k1"}).status.state.value == "down"  # not started yet
        await gw.aclose()
        assert waha_gateway(None, {}).url == DEFAULT_URLS["waha"]
    finally:
        sim.stop()


async def test_evolution_from_its_own_env_answers() -> None:
    sim = EvolutionSim("k2", create_delay_s=0.0)
    url = sim.start()
    try:
        gw = evolution_gateway(url, {"AUTHENTICATION_API_KEY": "k2"})
        assert await gw.list_sessions() == []
        assert evolution_channel(gw, {"AUTHENTICATION_API_KEY": "k2"}) is None  # WEBSOCKET_ENABLED unset
        channel = evolution_channel(gw, {"WEBSOCKET_ENABLED": "true", "WEBSOCKET_GLOBAL_EVENTS": "true"})
        assert channel is not None and channel.global_events
        await gw.aclose()
        wrong = evolution_gateway(url, {"AUTHENTICATION_API_KEY": "nope"})
        got = await wrong.list_sessions()
        assert not isinstance(got, list) and got.state == HealthState.UNAUTHORIZED
        await wrong.aclose()
    finally:
        sim.stop()
