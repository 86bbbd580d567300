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


async def test_polls_yield_to_someone_else_spending_the_same_window(tmp_path: Path) -> None:
    import httpx

    sim = make_sim(tmp_path, rate_limit=100)
    for _ in range(60):  # the dashboard, on the same IP, before pulse-tui starts
        assert httpx.get(f"{sim.url}/health", headers={"x-api-key": API_KEY}, trust_env=False).status_code == 200
    clock = FakeClock()
    config = Config(gateway_url=sim.url, api_key=API_KEY, auth_dirs=(sim.auth_root,), request_budget=90,
                    state_dir=tmp_path / "state")
    targets = build_targets(config, clock, host=False)
    try:
        for _ in range(100):  # the same 300 s as above
            snap = await targets.monitor.poll()
            clock.advance(3.0)
        ours = sim.requests_seen() - 60
        # Alone it spends 20-35 here; with 60 of 90 gone it spreads the rest (the first burst, a status now and
        # then, a /health every 30 s), and keeps the reserve for the operator's actions.
        assert 1 <= ours <= 16, ours
        assert snap.gateway.budget_left is not None and snap.gateway.budget_left >= 10
        use = snap.gateway.budget_use
        assert use is not None and use.this_process == ours and use.someone_else == 60
        assert snap.gateway.state == HealthState.OK
    finally:
        await targets.aclose()
        sim.stop()
