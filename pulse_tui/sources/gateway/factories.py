"""The WAHA and Evolution adapters and their event channels built from the merged configuration variables,
so `make_gateway` needs one line per gateway. A hashed WAHA key stops with one sentence naming the variable."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pulse_tui.clock import Clock, SystemClock
from pulse_tui.config import ConfigError
from pulse_tui.sources.gateway.base import DEFAULT_TIMEOUTS, Timeouts
from pulse_tui.sources.gateway.budget import RequestBudget
from pulse_tui.sources.gateway.evolution import EvolutionGateway
from pulse_tui.sources.gateway.evolution_events import EvolutionEvents
from pulse_tui.sources.gateway.keys_from_env import (
    EvolutionSettings,
    WahaSettings,
    evolution_settings,
    waha_settings,
)
from pulse_tui.sources.gateway.waha import WahaGateway
from pulse_tui.sources.gateway.waha_events import WahaEvents

DEFAULT_URLS = {"waha": "http://127.0.0.1:3000", "evolution": "http://127.0.0.1:8080"}


def _waha(env: Mapping[str, str] | WahaSettings) -> WahaSettings:
    return env if isinstance(env, WahaSettings) else waha_settings(env)


def _evolution(env: Mapping[str, str] | EvolutionSettings) -> EvolutionSettings:
    return env if isinstance(env, EvolutionSettings) else evolution_settings(env)


def waha_gateway(url: str | None, env: Mapping[str, str] | WahaSettings, *, clock: Clock | None = None,
                 timeouts: Timeouts = DEFAULT_TIMEOUTS, budget: RequestBudget | None = None) -> WahaGateway:
    """The WAHA adapter with the key from WAHA's own variables (PULSE_TUI_WAHA_API_KEY wins)."""
    settings = _waha(env)
    if settings.key_is_hashed:
        raise ConfigError(f"{settings.key_variable} holds a hashed key (sha512:…) that cannot be sent: put the plain "
                          "key in PULSE_TUI_WAHA_API_KEY.")
    return WahaGateway(url or DEFAULT_URLS["waha"], settings.api_key, clock=clock or SystemClock(),
                       timeouts=timeouts, budget=budget)


def evolution_gateway(url: str | None, env: Mapping[str, str] | EvolutionSettings, *, clock: Clock | None = None,
                      timeouts: Timeouts = DEFAULT_TIMEOUTS,
                      budget: RequestBudget | None = None) -> EvolutionGateway:
    """The Evolution adapter with AUTHENTICATION_API_KEY (or an instance token in PULSE_TUI_EVOLUTION_API_KEY)."""
    settings = _evolution(env)
    return EvolutionGateway(url or DEFAULT_URLS["evolution"], settings.api_key, clock=clock or SystemClock(),
                            timeouts=timeouts, budget=budget)


def waha_channel(gateway: WahaGateway, env: Mapping[str, str] | WahaSettings, *, clock: Clock | None = None) -> WahaEvents:
    """WAHA's websocket for this gateway (every WAHA has one)."""
    return WahaEvents(gateway.url, _waha(env).api_key, clock=clock)


def evolution_channel(gateway: EvolutionGateway, env: Mapping[str, str] | EvolutionSettings, instances: Iterable[str] = (), *,
                      clock: Clock | None = None) -> EvolutionEvents | None:
    """Evolution's socket.io, or None when WEBSOCKET_ENABLED is not true (then: polling, and the header says why)."""
    settings = _evolution(env)
    if not settings.websocket_enabled:
        return None
    return EvolutionEvents(gateway.url, settings.api_key, instances,
                           global_events=settings.websocket_global_events, clock=clock)
