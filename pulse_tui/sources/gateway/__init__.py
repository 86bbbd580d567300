"""Gateway adapters behind one `Gateway` protocol, and `make_gateway(config, clock)`."""

from __future__ import annotations

from pulse_tui.clock import Clock, SystemClock
from pulse_tui.config import Config, GatewayKind
from pulse_tui.sources.gateway.base import DEFAULT_TIMEOUTS, Gateway, Timeouts
from pulse_tui.sources.gateway.budget import RequestBudget, Spend
from pulse_tui.sources.gateway.ledger import Ledger
from pulse_tui.sources.gateway.pulse import PulseGateway
from pulse_tui.sources.gateway.salesboy import WINDOW_S, SalesboyGateway

__all__ = [
    "Gateway",
    "PulseGateway",
    "RequestBudget",
    "SalesboyGateway",
    "Spend",
    "Timeouts",
    "make_gateway",
]


def make_gateway(config: Config, clock: Clock | None = None, *, timeouts: Timeouts = DEFAULT_TIMEOUTS) -> Gateway:
    """The adapter for `config.gateway_kind`, with its request budget (Salesboy: `request_budget` / 15 min).

    With `config.state_dir` the budget is the host-wide ledger of that gateway URL.
    """
    clock = clock or SystemClock()
    store = Ledger.for_url(config.state_dir, config.gateway_url) if config.state_dir is not None else None
    if config.gateway_kind == GatewayKind.PULSE:
        return PulseGateway(config.gateway_url, config.api_key, clock=clock, timeouts=timeouts,
                            budget=RequestBudget(None, clock=clock, store=store))
    return SalesboyGateway(
        config.gateway_url,
        config.api_key,
        auth_roots=config.auth_dirs,
        extra_sessions=config.extra_sessions,
        budget=RequestBudget(config.request_budget, WINDOW_S, clock, store=store),
        clock=clock,
        timeouts=timeouts,
    )
