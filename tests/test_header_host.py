"""The header's host part says "no browser per session" for gateways that run none (Evolution, NOWEB, GOWS),
where "0 B RSS" would read as browsers that died."""

from __future__ import annotations

from pulse_tui.model import GatewayHealth, HealthState, HostSummary, KeysStatus, Snapshot
from pulse_tui.tui.rows import keys_line


def _snap(host: HostSummary) -> Snapshot:
    return Snapshot(taken_at=10.0, gateway_kind="evolution", gateway_url="http://127.0.0.1:1",
                    gateway=GatewayHealth(HealthState.OK), sessions=(), redis=None, keys=KeysStatus("ok"), host=host)


def test_a_browserless_gateway_shows_no_browser_instead_of_zero_bytes() -> None:
    line = keys_line(_snap(HostSummary(mem_available_bytes=2**30)), False, browsers=False).plain
    assert "no browser per session" in line and "0 B" not in line and "1.0 GiB free" in line


def test_a_browser_gateway_keeps_its_memory_figures() -> None:
    line = keys_line(_snap(HostSummary(browser_rss_bytes=3 * 2**20)), False).plain
    assert "Host browsers 3.0 MiB RSS" in line
    pss = keys_line(_snap(HostSummary(browser_pss_bytes=2**20, browser_uss_bytes=2**19)), False).plain
    assert "Host browsers 1.0 MiB PSS (512 KiB private)" in pss
