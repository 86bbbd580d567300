"""A DataTable kept in step with a dict of rows by row key: cells change in place, the cursor stays put.

A poll never rebuilds the table: changed cells are updated with `update_cell`, vanished rows removed and new
rows appended. Only a change of columns (terminal resized past a breakpoint) or a mass change rebuilds it,
and then the cursor is put back on the same row key (htop's trap: the list re-sorts under the cursor).

A changed cell repaints its row only, and re-renders only itself. Textual's `update_cell` bumps one counter
that keys every render cache, so any cell change re-rendered every visible cell (~12 ms at 150x40, the
largest part of the idle CPU while durations tick); here only the changed cells' cache entries (and their
rows') are dropped. (Relies on DataTable internals, pinned by tests/test_textual_contract.py rather
than replaced by a line-API widget of our own: a Textual upgrade that breaks them fails there by name.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.css.styles import RenderStyles
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowDoesNotExist, RowKey

from pulse_tui.sanitize import has_unsafe, visible
from pulse_tui.tui.rows import Column

Cell = Text | str
Rows = Mapping[str, Mapping[str, Cell]]


def safe_cell(value: Cell) -> Cell:
    """A str cell as DataTable shows it literally: it parses str cells as Rich markup (`[…]`) and emoji codes
    (`:name:`), and ids and phones come from peers; such a cell (or one holding controls) becomes a plain Text."""
    if isinstance(value, str) and ("[" in value or ":" in value or has_unsafe(value)):
        return Text(visible(value))
    return value


class _PaintStyles:
    """A component's styles as DataTable reads them during one paint: `rich_style` worked out once."""

    def __init__(self, styles: RenderStyles) -> None:
        self._styles = styles
        self.rich_style = styles.rich_style

    def __getattr__(self, name: str) -> Any:
        return getattr(self._styles, name)


class SyncedTable(DataTable[Cell]):
    """DataTable with `sync(rows)`; `selected_key` is the row key under the cursor."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=False)
        self._columns: tuple[Column, ...] = ()
        self._cells: dict[str, dict[str, Cell]] = {}
        self._given: dict[str, Mapping[str, Cell]] = {}  # the mapping each row was last synced from
        self.rebuilds = 0  # counted so tests and benchmarks can prove polls don't rebuild
        self._stale: set[tuple[RowKey, ColumnKey]] = set()  # cells whose cached renders are out of date

    @property
    def selected_key(self) -> str | None:
        if self.row_count == 0:
            return None
        try:
            return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)
        except CellDoesNotExist:
            return None

    def select_key(self, key: str) -> bool:
        """Move the cursor to the row with this key; False when there is no such row."""
        try:
            index = self.get_row_index(key)
        except RowDoesNotExist:
            return False
        if index != self.cursor_row:
            self.move_cursor(row=index, scroll=True)
        return True

    def set_columns(self, columns: tuple[Column, ...]) -> bool:
        """Use these columns; when they differ from the current ones, the table is rebuilt (True)."""
        if columns == self._columns:
            return False
        keep = self.selected_key
        rows = {k: dict(v) for k, v in self._cells.items()}
        self.clear(columns=True)
        self._columns = columns
        for c in columns:
            self.add_column(c.title, key=c.key, width=c.width)
        self._cells = {}
        self._add(rows)
        self.rebuilds += 1
        if keep:
            self.select_key(keep)
        return True

    def sync(self, rows: Rows) -> None:
        """Make the table show `rows` (in this order for new rows), touching only what changed."""
        keep = self.selected_key
        keep_index = self.cursor_row
        gone = [k for k in self._cells if k not in rows]
        if gone and len(gone) > max(50, len(self._cells) // 2):
            # remove_row is O(rows): for a mass change one clear and re-add is cheaper.
            self.clear()
            self._cells = {}
            self._given = {}
            self.rebuilds += 1
        else:
            for key in gone:
                self.remove_row(key)
                del self._cells[key]
                self._given.pop(key, None)
        new = {}
        window: tuple[Region, int, int] | None = None  # looked up at the first changed cell
        shown, given = self._cells.get, self._given.get  # bound once: this loop runs for every row of a poll
        for key, cells in rows.items():
            old = shown(key)
            if old is None:
                new[key] = cells
                continue
            if given(key) is cells:
                continue  # the caller handed the same, unchanged row again: nothing to compare
            self._given[key] = cells
            for col_key, value in cells.items():  # only the columns given: others (time) are set elsewhere
                if col_key in old and old[col_key] != value:
                    window = self._change(key, col_key, value, window)
        if new:
            self._add(new)
        if keep and not self.select_key(keep) and self.row_count:
            # The selected session is gone: stay at the same height rather than jump to the top.
            self.move_cursor(row=min(keep_index, self.row_count - 1))

    def _add(self, rows: Rows) -> None:
        batch = []
        for key, cells in rows.items():
            self._given[key] = cells
            self._cells[key] = {c.key: cells.get(c.key, "") for c in self._columns}
            batch.append((key, [safe_cell(self._cells[key][c.key]) for c in self._columns]))
        for key, values in batch:
            self.add_row(*values, key=key)

    def update_column(self, column: str, values: Mapping[str, Cell]) -> None:
        """Update one column for some rows (the ticking time-in-state), skipping unchanged cells."""
        if column not in {c.key for c in self._columns}:
            return
        window: tuple[Region, int, int] | None = None  # looked up at the first changed cell
        for key, value in values.items():
            cells = self._cells.get(key)
            if cells is not None and cells.get(column) != value:
                window = self._change(key, column, value, window)
                self._given.pop(key, None)  # the caller's mapping no longer matches what is shown

    def _change(self, key: str, column: str, value: Cell,
                window: tuple[Region, int, int] | None) -> tuple[Region, int, int]:
        """Show a changed cell and remember it; the window, looked up now if the batch had none yet."""
        window = window or self._window()
        self._set_cell(key, column, safe_cell(value), window)
        self._cells[key][column] = value
        return window

    def update_cell(
        self, row_key: RowKey | str, column_key: ColumnKey | str, value: Cell, *, update_width: bool = False
    ) -> None:
        """Set one cell and repaint its row only (Textual's own version re-renders every visible cell)."""
        value = safe_cell(value)
        if update_width:
            super().update_cell(row_key, column_key, value, update_width=True)
            return
        self._set_cell(row_key, column_key, value, self._window())

    def _window(self) -> tuple[Region, int, int]:
        """(the visible window, the header's height, a line's width), for a batch of `_set_cell` calls: each
        lookup walks the DOM to the screen, a third of the cell updates of a 10,000-row poll when made per cell."""
        return (self.window_region, self.header_height if self.show_header else 0,
                max(self.size.width, self.virtual_size.width))

    def _set_cell(self, row_key: RowKey | str, column_key: ColumnKey | str, value: Cell,
                  window: tuple[Region, int, int]) -> None:
        """`update_cell` with the table's geometry looked up by the caller (see _window)."""
        row_key = RowKey(row_key) if isinstance(row_key, str) else row_key
        column_key = ColumnKey(column_key) if isinstance(column_key, str) else column_key
        if row_key not in self._row_locations or column_key not in self._column_locations:
            raise CellDoesNotExist(f"No cell exists for row_key={row_key!r}, column_key={column_key!r}.")
        self._data[row_key][column_key] = value
        self._stale.add((row_key, column_key))
        index = self._row_locations.get(row_key)
        assert index is not None  # checked above
        visible, header, width = window
        # Our rows are one line high (add_row's default): the row's line is its index below the header.
        line = Region(0, index + header, width, 1)
        if visible.overlaps(line):  # as _refresh_region decides; a row off screen repaints when scrolled to
            self._refresh_region(line)

    def render_lines(self, crop: Region) -> list[Strip]:
        if self._stale:
            self._forget_stale()
        self._paint = {}
        try:
            return super().render_lines(crop)
        finally:
            self._paint = None

    # DataTable looks these up again for every row it renders (each a walk up the DOM, a component's styles
    # merged anew): a third of re-rendering a row whose time cell ticked. Once per paint is enough; styles
    # cannot change in the middle of one.
    _paint: dict[object, Any] | None = None

    def _once_per_paint(self, key: object, compute: Callable[[], Any]) -> Any:
        """`compute()`, kept for the rest of the paint under way (computed each time outside one)."""
        paint = self._paint
        if paint is None:
            return compute()
        if key not in paint:
            paint[key] = compute()
        return paint[key]

    @property
    def rich_style(self) -> Style:
        return cast(Style, self._once_per_paint("rich_style", lambda: super(SyncedTable, self).rich_style))

    @property
    def background_colors(self) -> tuple[Color, Color]:
        return cast("tuple[Color, Color]",
                    self._once_per_paint("background_colors", lambda: super(SyncedTable, self).background_colors))

    def get_component_styles(self, *names: str) -> RenderStyles:
        if self._paint is None:
            return super().get_component_styles(*names)
        return cast(RenderStyles, self._once_per_paint(
            names, lambda: _PaintStyles(super(SyncedTable, self).get_component_styles(*names))))

    def _forget_stale(self) -> None:
        """Drop the cached renders of the cells changed by `update_cell` and of their rows (once per frame)."""
        stale, self._stale = self._stale, set()
        rows = {row for row, _ in stale}
        indexes = {self._row_locations.get(row) for row in rows}
        for cell_key in list(self._cell_render_cache.keys()):
            if cell_key[:2] in stale:
                self._cell_render_cache.discard(cell_key)
        for renderables_key in list(self._row_renderable_cache.keys()):
            if renderables_key[1] in indexes:
                self._row_renderable_cache.discard(renderables_key)
        for row_key in list(self._row_render_cache.keys()):
            if row_key[0] in rows:
                self._row_render_cache.discard(row_key)
        self._line_cache.clear()  # keyed by screen line; rebuilt cheaply from the row caches kept above

    def visible_keys(self) -> list[str]:
        """Row keys currently on screen (the only ones worth a per-second refresh)."""
        first = int(self.scroll_offset.y)
        last = first + max(1, self.size.height)
        ordered = self.ordered_rows
        return [str(r.key.value) for r in ordered[first:last]]
