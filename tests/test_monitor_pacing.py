"""The monitor spreads the gateway's request budget over its window instead of spending it in minutes."""

from __future__ import annotations

from pathlib import Path

from pulse_tui.clock import FakeClock
from pulse_tui.config import Config
from pulse_tui.model import HealthState
from pulse_tui.monitor.build import build_targets
from tests.tui_helpers import API_KEY, make_sim


async def test_polls_spend_the_budget_evenly(tmp_path: Path) -> None:
    sim = make_sim(tmp_path, rate_limit=100)
    clock = FakeClock()
    config = Config(gateway_url=sim.url, api_key=API_KEY, auth_dirs=(sim.auth_root,), request_budget=90)
    targets = build_targets(config, clock, host=False)
    try:
        for _ in range(100):  # 300 s of 3 s polls: a third of the 15-minute window
            snap = await targets.monitor.poll()
            clock.advance(3.0)
        spent = sim.requests_seen()
        # A third of the window may spend about a third of the budget, plus the first poll's burst.
        assert 20 <= spent <= 90 // 3 + 5, spent
        assert snap.gateway.state == HealthState.OK
        assert snap.gateway.budget_left is not None and snap.gateway.budget_left > 50
        assert all(s.stale_s is None or s.stale_s < 60 for s in snap.sessions)
    finally:
        await targets.aclose()
        sim.stop()
