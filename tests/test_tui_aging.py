"""The 1 s tick: durations under 10 s move every second, the others every 5 s, and only changed cells repaint."""

from __future__ import annotations

from dataclasses import replace

from pulse_tui.model import ConnState
from tests.canned import IDS, canned_app, snapshot

SIZE = (150, 40)
YOUNG, OLDER = IDS[ConnState.STARTING], IDS[ConnState.QR]  # 6 s and 14 s in their state at T0


def in_state(app: object, sid: str) -> str:
    return str(app.main.conn_table.get_cell(sid, "in_state"))  # type: ignore[attr-defined]


async def test_young_rows_every_second_others_every_five() -> None:
    app = canned_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await app.poll_now().wait()
        await pilot.pause()
        assert (in_state(app, YOUNG), in_state(app, OLDER)) == ("6s", "10s")
        for second in range(1, 5):
            app.clock.advance(1)
            app.main.tick()
            # the young row each second; the older one may lag its 5 s step until the 5 s aging
            expected = f"{6 + second}s" if 6 + second < 10 else "10s"
            assert in_state(app, YOUNG) == expected
            assert in_state(app, OLDER) == "10s"
        app.clock.advance(1)  # 5 s since the poll: every row on screen is aged
        app.main.tick()
        assert (in_state(app, YOUNG), in_state(app, OLDER)) == ("10s", "15s")


async def test_tick_without_young_rows_touches_nothing_until_five_seconds() -> None:
    snap = snapshot()
    old = tuple(replace(s, since=s.since - 60, last_activity=None) for s in snap.sessions)  # all over a minute
    app = canned_app(replace(snap, sessions=old))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await app.poll_now().wait()
        await pilot.pause()
        table = app.main.conn_table
        updates = []
        table.update_column = lambda column, values: updates.append((column, dict(values)))  # type: ignore[method-assign]
        for _ in range(4):
            app.clock.advance(1)
            app.main.tick()
        assert updates == []
        app.clock.advance(1)
        app.main.tick()
        assert {column for column, _ in updates} == {"in_state", "activity"}
