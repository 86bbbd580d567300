"""TextRows (tui/text_rows.py) draws what a Static draws, and repaints only the rows that changed."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.geometry import Offset, Region
from textual.selection import Selection
from textual.strip import Strip
from textual.widgets import Static

from pulse_tui.tui.details import session_details
from pulse_tui.tui.text_rows import TextRows
from tests.canned import IDS, snapshot


def _texts() -> list[Text]:
    snap = snapshot()
    texts = [session_details(s, snap) for s in snap.sessions if s.id in IDS.values()]
    wide = Text("a line much longer than the pane, with words to wrap at spaces and a_very_long_token_that_must"
                "_fold_because_it_has_no_space_at_all\n\n", style="italic")
    wide.append("  indented\ttab ", style="bold red").append("and a tail\n")
    return [*texts, wide, Text(""), Text("no newline at the end")]


class _Side(App[None]):
    """The same text in a Static and in a TextRows, each in a scrolling pane as the details pane has them."""

    CSS = "VerticalScroll { height: 1fr; padding: 0 1; }"

    def __init__(self, text: Text) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(self.text, id="static")
        with VerticalScroll():
            yield TextRows(self.text, id="rows")


def _rows(widget: Any) -> list[list[tuple[str, object, object]]]:
    """Each row's segments: text, style without its metadata, and the selection offset Textual reads."""
    strips: list[Strip] = widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))
    return [[(s.text, s.style.clear_meta_and_links() if s.style else None,
              s.style.meta.get("offset") if s.style else None) for s in strip] for strip in strips]


async def test_rows_look_like_a_static_at_every_width_and_after_updates() -> None:
    texts = _texts()
    app = _Side(texts[0])
    async with app.run_test(size=(60, 80)) as pilot:
        static, rows = app.query_one("#static", Static), app.query_one("#rows", TextRows)
        for width in (120, 60, 37, 20):
            await pilot.resize_terminal(width, 80)
            for text in texts:
                static.update(text)
                rows.update(text)
                await pilot.pause()
                assert rows.size == static.size
                assert _rows(rows) == _rows(static), (width, text.plain[:40])
        # A selection from the middle of one line to the middle of another, highlighted alike.
        static.update(texts[0])
        rows.update(texts[0])
        part = Selection(Offset(3, 1), Offset(5, 4))
        app.screen.selections = {static: part, rows: part}
        await pilot.pause()
        assert _rows(rows) == _rows(static)
        assert app.screen.get_selected_text() is not None
        assert rows.get_selection(part) == static.get_selection(part)


class _One(App[None]):
    def compose(self) -> ComposeResult:
        yield TextRows(Text("one\ntwo\nthree"), id="rows")


async def test_an_update_repaints_only_changed_rows_and_lays_out_only_on_a_new_height() -> None:
    app = _One()
    async with app.run_test(size=(40, 10)) as pilot:
        rows = app.query_one(TextRows)
        calls: list[tuple[tuple[Region, ...], bool]] = []
        refresh = rows.refresh

        def spy(*regions: Region, layout: bool = False, **kw: Any) -> Any:
            calls.append((regions, layout))
            return refresh(*regions, layout=layout, **kw)

        rows.refresh = spy  # type: ignore[method-assign]
        rows.update(Text("one\n2\nthree"))
        assert calls == [((Region(0, 1, 40, 1),), False)]
        calls.clear()
        rows.update(Text("one\n2\nthree"))
        assert calls == []  # the same text: nothing to paint
        rows.update(Text("one\n2\nthree\nfour"))
        assert calls == [((), True)]
        await pilot.pause()
        assert rows.size.height == 4
        assert [rows.render_line(y).text.rstrip() for y in range(4)] == ["one", "2", "three", "four"]


async def test_selection_reads_the_lines_shown() -> None:
    app = _One()
    async with app.run_test(size=(40, 10)) as pilot:
        rows = app.query_one(TextRows)
        rows.text_select_all()
        await pilot.pause()
        assert app.screen.get_selected_text() == "one\ntwo\nthree"
