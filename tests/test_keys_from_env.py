"""The WAHA and Evolution settings read from the servers' own .env variable names."""

from __future__ import annotations

import pytest

from pulse_tui.config import ConfigError
from pulse_tui.sources.gateway.keys_from_env import evolution_settings, waha_settings


def test_waha_key_names_and_precedence() -> None:
    assert waha_settings({}).api_key is None
    assert waha_settings({"WHATSAPP_API_KEY": "old"}).key_variable == "WHATSAPP_API_KEY"
    both = waha_settings({"WHATSAPP_API_KEY": "old", "WAHA_API_KEY": "new"})
    assert (both.api_key, both.key_variable) == ("new", "WAHA_API_KEY")
    assert waha_settings({"WAHA_API_KEY": "new", "PULSE_TUI_WAHA_API_KEY": "mine"}).api_key == "mine"


def test_a_hashed_waha_key_is_not_sent() -> None:
    got = waha_settings({"WAHA_API_KEY": "sha512:abcdef"})
    assert got.api_key is None and got.key_is_hashed and got.key_variable == "WAHA_API_KEY"


def test_evolution_defaults() -> None:
    got = evolution_settings({})
    assert got.key_is_default and got.api_key is None and got.qrcode_limit == 30
    assert got.del_instance_min is None and not got.websocket_enabled
    assert evolution_settings({"AUTHENTICATION_API_KEY": "BQYHJGJHJ"}).key_is_default
    assert not evolution_settings({"AUTHENTICATION_API_KEY": "long-random"}).key_is_default


def test_evolution_server_settings() -> None:
    got = evolution_settings({"DEL_INSTANCE": "5", "QRCODE_LIMIT": "10", "WEBSOCKET_ENABLED": "true",
                              "WEBSOCKET_GLOBAL_EVENTS": "false"})
    assert (got.del_instance_min, got.qrcode_limit, got.websocket_enabled, got.websocket_global_events) == (
        5.0, 10, True, False)
    assert evolution_settings({"DEL_INSTANCE": "false"}).del_instance_min is None


@pytest.mark.parametrize(("env", "variable"), [
    ({"DEL_INSTANCE": "soon"}, "DEL_INSTANCE"),
    ({"QRCODE_LIMIT": "many"}, "QRCODE_LIMIT"),
    ({"QRCODE_LIMIT": "0"}, "QRCODE_LIMIT"),
    ({"WEBSOCKET_ENABLED": "maybe"}, "WEBSOCKET_ENABLED"),
])
def test_bad_values_name_their_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as err:
        evolution_settings(env)
    assert str(err.value).startswith(variable) and str(err.value).count(".") <= 1
