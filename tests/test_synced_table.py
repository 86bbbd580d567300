"""SyncedTable: a changed cell shows at once, repaints only its row, and leaves every other row's renders cached."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.geometry import Region

from pulse_tui.tui.rows import Column
from pulse_tui.tui.synced_table import SyncedTable

COLUMNS = (Column("state", "STATE", 0, 12), Column("id", "ID", 0, 10), Column("age", "AGE", 1, 6))


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield SyncedTable(id="t")

    def on_mount(self) -> None:
        table = self.query_one(SyncedTable)
        table.set_columns(COLUMNS)
        table.sync(rows(30))


def rows(n: int, state: str = "connected") -> dict[str, dict[str, str]]:
    return {f"s{i:02d}": {"state": state, "id": f"s{i:02d}", "age": f"{i}s"} for i in range(n)}


def screen_lines(table: SyncedTable) -> list[str]:
    """What the table paints now, one string per line on screen (as the compositor asks for it)."""
    return [strip.text for strip in table.render_lines(Region(0, 0, table.size.width, table.size.height))]


def line_of(table: SyncedTable, key: str) -> str:
    return next(line for line in screen_lines(table) if f" {key} " in line)


async def test_changed_cell_is_painted_and_only_its_row_rerendered() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(SyncedTable)
        await pilot.pause()
        screen_lines(table)  # everything on screen rendered and cached
        count = table._update_count  # Textual keys every render cache with it: unchanged = no full re-render
        changed = rows(30)
        changed["s03"] = {**changed["s03"], "state": "qr"}
        table.sync(changed)
        table.update_column("age", {"s05": "1m"})
        assert table._update_count == count
        regions = table._repaint_regions
        assert {r.y for r in regions} == {3 + 1, 5 + 1} and all(r.height == 1 for r in regions)  # under the header
        await pilot.pause()
        assert "qr" in line_of(table, "s03") and "connected" not in line_of(table, "s03")
        assert "1m" in line_of(table, "s05") and "5s" not in line_of(table, "s05")
        assert "connected" in line_of(table, "s04") and "4s" in line_of(table, "s04")
        assert table.get_row("s03")[0] == "qr"


async def test_cursor_row_and_offscreen_rows_show_new_values() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(SyncedTable)
        await pilot.pause()
        assert table.select_key("s02")
        await pilot.pause()
        screen_lines(table)
        table.update_column("age", {"s02": "9s", "s28": "2h00m"})  # s28 is below the screen
        await pilot.pause()
        assert "9s" in line_of(table, "s02")
        assert table.select_key("s28")  # scrolls it into view
        await pilot.pause()
        assert "2h00m" in line_of(table, "s28")
        table.update_column("age", {"s28": "3h00m"})  # under the cursor now
        await pilot.pause()
        assert "3h00m" in line_of(table, "s28")
        assert table.select_key("s02")  # back up: the row changed while on screen keeps its new value
        await pilot.pause()
        assert "9s" in line_of(table, "s02")


async def test_one_sync_repaints_the_rows_on_screen_and_sets_the_others() -> None:
    """A poll's changes: the table's geometry is looked up once for the sync; a row below the window is set
    (its row data is new) without a repaint of its own, one on screen repaints its line."""
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(SyncedTable)
        await pilot.pause()
        screen_lines(table)
        changed = rows(30)
        for key in ("s01", "s28"):
            changed[key] = {**changed[key], "state": "qr"}
        table.sync(changed)
        assert {r.y for r in table._repaint_regions} == {1 + 1}  # s01, under the header; s28 is off screen
        assert table.get_row("s28")[0] == "qr" and table.get_row("s01")[0] == "qr"
        await pilot.pause()
        assert "qr" in line_of(table, "s01")


async def test_a_paint_looks_styles_up_once_and_the_next_paint_sees_new_ones() -> None:
    from textual.dom import DOMNode

    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(SyncedTable)
        await pilot.pause()
        walks: list[DOMNode] = []
        real = DOMNode.rich_style.fget
        assert real is not None

        def counted(node: DOMNode) -> object:
            walks.append(node)
            return real(node)

        DOMNode.rich_style = property(counted)  # type: ignore[assignment,method-assign]
        try:
            table.update_column("age", {f"s{i:02d}": "1m" for i in range(10)})  # ten rows render again
            screen_lines(table)
        finally:
            DOMNode.rich_style = property(real)  # type: ignore[assignment,method-assign]
        assert 0 < sum(1 for node in walks if node is table) <= 1  # not once per row
        assert all("1m" in line_of(table, f"s{i:02d}") for i in range(10))
        before = table.render_lines(Region(0, 3, table.size.width, 1))[0]
        table.styles.background = "red"  # a style change between paints shows in the next one
        table.refresh()
        after = table.render_lines(Region(0, 3, table.size.width, 1))[0]
        assert before.text == after.text and list(before) != list(after)
