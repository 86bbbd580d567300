"""Gateway adapters behind one `Gateway` protocol, `make_gateway(config, clock)` and `make_event_channel`."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from pulse_tui.clock import Clock, SystemClock
from pulse_tui.config import Config, GatewayKind
from pulse_tui.sources.gateway.base import DEFAULT_TIMEOUTS, Gateway, Timeouts
from pulse_tui.sources.gateway.budget import RequestBudget, Spend
from pulse_tui.sources.gateway.event_channel import EventChannel
from pulse_tui.sources.gateway.keys_from_env import EvolutionSettings, WahaSettings, evolution_settings
from pulse_tui.sources.gateway.ledger import Ledger

if TYPE_CHECKING:
    from pulse_tui.sources.gateway.evolution import EvolutionGateway
    from pulse_tui.sources.gateway.pulse import PulseGateway
    from pulse_tui.sources.gateway.salesboy import SalesboyGateway
    from pulse_tui.sources.gateway.waha import WahaGateway

# The adapter classes load with their module when first asked for (PEP 562): a host runs one gateway, and the
# TUI's first request waited for the other three adapters' imports (issue 15).
_ADAPTER_MODULES = {"EvolutionGateway": "evolution", "PulseGateway": "pulse", "SalesboyGateway": "salesboy",
                    "WahaGateway": "waha"}

__all__ = [
    "EventChannel",
    "EvolutionGateway",
    "Gateway",
    "PulseGateway",
    "RequestBudget",
    "SalesboyGateway",
    "Spend",
    "Timeouts",
    "WahaGateway",
    "make_event_channel",
    "make_gateway",
]


def __getattr__(name: str) -> object:
    """`EvolutionGateway`, `PulseGateway`, `SalesboyGateway`, `WahaGateway`: imported on first use."""
    module = _ADAPTER_MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return vars(importlib.import_module(f"{__name__}.{module}"))[name]


def make_gateway(config: Config, clock: Clock | None = None, *, timeouts: Timeouts = DEFAULT_TIMEOUTS,
                 auth_dirs_read_elsewhere: bool = False) -> Gateway:
    """The adapter for `config.gateway_kind`, with its request budget (Salesboy: `request_budget` / 15 min).

    With `config.state_dir` the budget is the host-wide ledger of that gateway URL. `auth_dirs_read_elsewhere`:
    the caller reads `config.auth_dirs` each poll itself, so an adapter that would list them for its sessions
    does not list them again.
    """
    clock = clock or SystemClock()
    store = Ledger.for_url(config.state_dir, config.gateway_url) if config.state_dir is not None else None
    if config.gateway_kind in (GatewayKind.WAHA, GatewayKind.EVOLUTION):
        from pulse_tui.sources.gateway.factories import evolution_gateway, waha_gateway
    if config.gateway_kind == GatewayKind.WAHA:
        # Neither WAHA nor Evolution rate-limits: the budget only counts (and shares the host-wide ledger).
        return waha_gateway(config.gateway_url, config.waha or WahaSettings(None, None), clock=clock,
                            timeouts=timeouts, budget=RequestBudget(None, clock=clock, store=store))
    if config.gateway_kind == GatewayKind.EVOLUTION:
        return evolution_gateway(config.gateway_url, config.evolution or _no_evolution_settings(), clock=clock,
                                 timeouts=timeouts, budget=RequestBudget(None, clock=clock, store=store))
    if config.gateway_kind == GatewayKind.PULSE:
        from pulse_tui.sources.gateway.pulse import PulseGateway

        return PulseGateway(config.gateway_url, config.api_key, clock=clock, timeouts=timeouts,
                            budget=RequestBudget(None, clock=clock, store=store))
    from pulse_tui.sources.gateway.salesboy import WINDOW_S, SalesboyGateway

    return SalesboyGateway(
        config.gateway_url,
        config.api_key,
        auth_roots=config.auth_dirs,
        extra_sessions=config.extra_sessions,
        list_auth_dirs=not auth_dirs_read_elsewhere,
        budget=RequestBudget(config.request_budget, WINDOW_S, clock, store=store),
        clock=clock,
        timeouts=timeouts,
    )


def _no_evolution_settings() -> EvolutionSettings:
    return evolution_settings({})


def make_event_channel(config: Config, gateway: Gateway, clock: Clock | None = None) -> EventChannel | None:
    """The push channel of this gateway (WAHA's websocket, Evolution's socket.io when WEBSOCKET_ENABLED), or None
    when it has none and the monitor polls. Evolution's channel learns its instances through `watch(names)`."""
    if config.gateway_kind not in (GatewayKind.WAHA, GatewayKind.EVOLUTION):
        return None  # Salesboy and Pulse have no push channel
    # Imported here: websockets and python-socketio load only for the gateways that push.
    from pulse_tui.sources.gateway.evolution import EvolutionGateway
    from pulse_tui.sources.gateway.factories import evolution_channel, waha_channel
    from pulse_tui.sources.gateway.waha import WahaGateway

    if isinstance(gateway, WahaGateway):
        return waha_channel(gateway, config.waha or WahaSettings(None, None), clock=clock)
    if isinstance(gateway, EvolutionGateway):
        return evolution_channel(gateway, config.evolution or _no_evolution_settings(), clock=clock)
    return None
