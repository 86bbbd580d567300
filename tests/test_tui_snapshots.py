"""Appearance: SVG snapshots of the main screen, the QR view, the disconnect modal and a failure state.

Fixed data (tests/canned.py) and a fixed clock; times are shown in UTC for the run. Update the stored
SVGs with `make test ARGS=--snapshot-update` after a deliberate change, and look at them before committing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from textual.pilot import Pilot

from pulse_tui.model import GatewayHealth, HealthState
from tests.canned import IDS, canned_app, snapshot

pytestmark = pytest.mark.usefixtures("utc")


@pytest.fixture
def utc() -> Iterator[None]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


async def _settle(pilot: Pilot[int]) -> None:
    await pilot.pause()  # run_before starts before the screen has mounted
    await pilot.app.poll_now().wait()  # type: ignore[attr-defined]
    await pilot.pause()


def test_main_screen(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(canned_app(), run_before=_settle, terminal_size=(140, 36))


def test_main_screen_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(canned_app(), run_before=_settle, terminal_size=(80, 24))


def test_linked_users_tab(snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def run(pilot: Pilot[int]) -> None:
        await _settle(pilot)
        await pilot.press("2")
        await pilot.pause()

    assert snap_compare(canned_app(), run_before=run, terminal_size=(140, 36))


def test_disconnect_modal(snap_compare) -> None:  # type: ignore[no-untyped-def]
    from pulse_tui.model import ConnState

    async def run(pilot: Pilot[int]) -> None:
        await _settle(pilot)
        pilot.app.main.conn_table.select_key(IDS[ConnState.CONNECTED])  # type: ignore[attr-defined]
        await pilot.press("d")
        await pilot.pause()

    assert snap_compare(canned_app(), run_before=run, terminal_size=(120, 30))


def test_qr_view(snap_compare) -> None:  # type: ignore[no-untyped-def]
    from pulse_tui.model import ConnState

    async def run(pilot: Pilot[int]) -> None:
        await _settle(pilot)
        pilot.app.main.conn_table.select_key(IDS[ConnState.QR])  # type: ignore[attr-defined]
        await pilot.press("enter")
        await pilot.pause(0.3)

    assert snap_compare(canned_app(), run_before=run, terminal_size=(100, 40))


def test_failure_state(snap_compare) -> None:  # type: ignore[no-untyped-def]
    down = GatewayHealth(HealthState.RATE_LIMITED, retry_after_s=42, budget_left=0, budget_limit=90,
                         detail="rate-limited by the gateway: retry in 42s")
    assert snap_compare(canned_app(snapshot(down, redis_up=False)), run_before=_settle, terminal_size=(140, 36))


async def test_a_first_snapshot_that_beats_the_screen_is_shown() -> None:
    """A source faster than Textual's mount: the first poll's snapshot must still reach the table."""
    app = canned_app()
    async with app.run_test(size=(140, 36)) as pilot:
        await pilot.pause()
        assert app.main.conn_table.row_count == len(snapshot().sessions)
