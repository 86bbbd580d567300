"""The Textual internals `tui/synced_table.py` and `tui/log_pane.py` rely on, pinned: a Textual upgrade that
renames or reshapes one fails here, by name, instead of as a wrong paint or a slow screen.

We chose this contract over line-API widgets of our own (toolong's `LogLines(ScrollView)`): the two subclasses
are ~100 lines of cache surgery on top of widgets that work; a rewrite would cost more than re-checking these
names on an upgrade. Each assertion below names the line of ours that needs it.
"""

from __future__ import annotations

import inspect

from rich.style import Style
from textual.app import App, ComposeResult
from textual.cache import LRUCache
from textual.strip import Strip
from textual.widgets import DataTable, Log
from textual.widgets.data_table import ColumnKey, RowKey


def _params(fn: object) -> list[str]:
    return list(inspect.signature(fn).parameters)  # type: ignore[arg-type]


class _Plain(App[None]):
    """Textual's own widgets, untouched by our subclasses."""

    def compose(self) -> ComposeResult:
        yield DataTable[str](id="t")
        yield Log(id="log")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("a", "b")
        for i in range(5):
            table.add_row(f"r{i}", str(i), key=f"k{i}")
        self.query_one(Log).write_lines([f"line {i}" for i in range(5)])


async def test_data_table_caches_and_their_key_shapes() -> None:
    """SyncedTable.update_cell/_forget_stale: the cell, row-renderable, row and line caches, keyed as below."""
    app = _Plain()
    async with app.run_test(size=(40, 12)) as pilot:
        await pilot.pause()
        table = app.query_one(DataTable)
        table.render_lines(table.region.reset_offset)  # fill the caches as a paint does
        for name in ("_cell_render_cache", "_row_renderable_cache", "_row_render_cache", "_line_cache"):
            cache = getattr(table, name)
            assert isinstance(cache, LRUCache), name
            assert callable(cache.discard) and callable(cache.clear) and callable(cache.keys), name
        cell_keys = list(table._cell_render_cache.keys())
        assert cell_keys, "painting a table filled no cell cache"
        # _forget_stale: cell_key[:2] == (RowKey, ColumnKey)
        assert all(isinstance(k[0], RowKey) and isinstance(k[1], ColumnKey) for k in cell_keys)
        # _forget_stale: renderables_key[1] is the row index (the header is row -1)
        renderable_keys = list(table._row_renderable_cache.keys())
        assert renderable_keys and all(isinstance(k[1], int) for k in renderable_keys)
        assert {k[1] for k in renderable_keys} >= {0, 1}
        # _forget_stale: row_key[0] is the RowKey
        row_keys = list(table._row_render_cache.keys())
        assert row_keys and any(isinstance(k[0], RowKey) and k[0].value == "k0" for k in row_keys)
        # update_cell: rows and columns by key, the data by row then column, the region refresh
        assert table._row_locations.get(RowKey("k0")) == 0
        assert next(iter(table.columns)) in table._column_locations
        assert list(table._data[RowKey("k0")].values()) == ["r0", "0"]
        assert _params(table._refresh_region) == ["region"]
        assert isinstance(table.header_height, int) and isinstance(table.show_header, bool)
        assert "update_width" in _params(DataTable.update_cell)


async def test_log_internals_we_override_or_call() -> None:
    """_LogView: _update_size/_update_maximum_width/_process_line, _render_line(_strip) and its line cache."""
    app = _Plain()
    async with app.run_test(size=(40, 12)) as pilot:
        await pilot.pause()
        log = app.query_one(Log)
        assert _params(Log._update_size) == ["self", "updates", "lines"]
        assert _params(Log._update_maximum_width) == ["self", "updates", "size"]
        assert log._process_line("a\tb") == Log._process_line("a\tb")  # a classmethod taking the raw line
        assert _params(Log._render_line) == ["self", "y", "scroll_x", "width"]
        assert _params(Log._render_line_strip) == ["self", "y", "rich_style"]
        assert _params(Log.refresh)[:4] == ["self", "regions", "repaint", "layout"]
        assert "recompose" in _params(Log.refresh)
        assert log._lines[:2] == ["line 0", "line 1"]
        assert isinstance(log._render_line_cache, LRUCache)
        strip = log._render_line_strip(0, Style())
        assert isinstance(strip, Strip) and strip.text.startswith("line 0")
        log._render_line_cache[0] = strip
        assert log._render_line_cache.get(0) is strip
        cache = log._render_line_cache
        cache.maxsize = 2  # a public setter: ROW_CACHE_ROWS relies on Log honouring it
        for y in range(1, 4):
            cache[y] = strip
        assert len(cache) == 2 and cache.get(0) is None
        cache.clear()
        assert log.text_selection is None  # _render_line_strip caches only without a selection
        assert hasattr(log, "vertical_scrollbar") and hasattr(log.vertical_scrollbar, "window_virtual_size")


async def test_style_lookups_and_scrollbar_reactives_we_memoise_or_set_quietly() -> None:
    """SyncedTable's per-paint memo of rich_style/background_colors/get_component_styles; _LogView.watch_scroll_y
    and write_lines setting the bar's position and virtual size without a repaint (thumb_span decides)."""
    from textual.css.styles import RenderStyles
    from textual.dom import DOMNode
    from textual.reactive import Reactive
    from textual.scrollbar import ScrollBar, ScrollBarRender
    from textual.widget import Widget

    assert isinstance(DOMNode.rich_style, property) and isinstance(DOMNode.background_colors, property)
    assert _params(DOMNode.get_component_styles) == ["self", "names"]
    assert _params(Widget.watch_scroll_y) == ["self", "old_value", "new_value"]
    assert isinstance(ScrollBar.position, Reactive) and isinstance(ScrollBar.window_virtual_size, Reactive)
    assert len(ScrollBarRender.VERTICAL_BARS) == 8
    assert _params(ScrollBarRender.render_bar)[:4] == ["size", "virtual_size", "window_size", "position"]
    app = _Plain()
    async with app.run_test(size=(40, 12)) as pilot:
        await pilot.pause()
        table = app.query_one(DataTable)
        styles = table.get_component_styles("datatable--header")
        assert isinstance(styles, RenderStyles) and isinstance(styles.rich_style, Style)


def test_strip_render_ansi_is_an_lru_cache_a_style_does_not_need() -> None:
    """_LogView.write_lines empties Strip.render_ansi's lru_cache past ANSI_CACHE_STYLES: a style keeps its codes
    on itself (`_ansi`), so a strip renders the same after the cache is emptied."""
    from rich.console import Console
    from rich.segment import Segment

    info = Strip.render_ansi.cache_info  # type: ignore[attr-defined]
    assert info().maxsize == 16384
    style = Style(color="red", bold=True, meta={"offset": (0, 7)})
    strip = Strip([Segment("hi", style)])
    console = Console(color_system="truecolor", force_terminal=True)
    first = strip.render(console)
    assert style._ansi and info().currsize >= 1
    Strip.render_ansi.cache_clear()  # type: ignore[attr-defined]
    assert info().currsize == 0
    assert Strip([Segment("hi", style)]).render(console) == first
    assert info().currsize == 0  # the style's own codes were used: nothing rendered again


def test_the_truecolor_filter_and_richs_style_sums_are_lru_caches_a_rendered_strip_does_not_need() -> None:
    """_LogView.write_lines empties these past ANSI_CACHE_STYLES too (tui/log_pane.py STYLE_CACHES): a strip
    keeps its filtered copy in Strip._filter_cache, so emptying the filter's cache filters nothing again, and a
    style sum is the same style after rich's Style._add cache is emptied."""
    from rich.segment import Segment
    from rich.terminal_theme import DEFAULT_TERMINAL_THEME
    from textual.color import Color
    from textual.filter import ANSIToTruecolor
    from textual.strip import Strip

    truecolor, add = ANSIToTruecolor.truecolor_style, Style._add
    assert truecolor.cache_info().maxsize == 1024 and add.cache_info().maxsize == 1024
    style = Style(color="red", meta={"offset": (0, 3)})
    ansi = ANSIToTruecolor(DEFAULT_TERMINAL_THEME)
    strip = Strip([Segment("hi", style)])
    background = Color(0, 0, 0)
    filtered = strip.apply_filter(ansi, background)
    assert truecolor.cache_info().currsize >= 1 and filtered.text == "hi"
    assert list(filtered)[0].style.color.triplet is not None  # type: ignore[union-attr]  # red became RGB
    truecolor.cache_clear()
    assert strip.apply_filter(ansi, background) is filtered  # the strip's own cache: the filter is not asked
    assert truecolor.cache_info().currsize == 0
    bold = Style(bold=True)
    total = style + bold
    add.cache_clear()
    assert add.cache_info().currsize == 0
    assert style + bold == total and add.cache_info().currsize == 1


def test_rich_cell_len_caches_in_cached_cell_len() -> None:
    """_LogView.write_lines empties rich.cells.cached_cell_len past CELL_LEN_CACHE_TEXTS: cell_len goes through
    it (short texts) and measures the same after it is emptied."""
    from rich.cells import cached_cell_len, cell_len

    cached_cell_len.cache_clear()
    assert cell_len("héllo wörld") == 11 and cached_cell_len.cache_info().currsize == 1
    cached_cell_len.cache_clear()
    assert cell_len("héllo wörld") == 11
