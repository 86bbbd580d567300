"""LogPane in a tiny host app: lines shown, follow and pause, filters with counts, level filter, wrap."""

from __future__ import annotations

from rich.color import ColorSystem
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult

from pulse_tui.sources.logs import LogLine
from pulse_tui.tui.log_pane import LogPane

SID = "6f1c2a4e-1b2c-4d3e-8f90-123456789abc"


class Host(App[None]):
    def __init__(self, max_lines: int = 10_000) -> None:
        super().__init__()
        self.max_lines = max_lines

    def compose(self) -> ComposeResult:
        yield LogPane(max_lines=self.max_lines, id="logs")

    def on_mount(self) -> None:
        self.query_one(LogPane).view.focus()


def info(i: int, text: str = "line") -> LogLine:
    return LogLine(at=1_795_593_662.0 + i, level="info", source="gateway.log", text=f"{text} {i}")


def pane_of(app: App[None]) -> LogPane:
    return app.query_one(LogPane)


def status(app: App[None]) -> str:
    return str(app.query_one("#log-status").render())


async def test_lines_are_shown_and_errors_marked() -> None:
    async with Host().run_test(size=(100, 30)) as pilot:
        pane = pane_of(pilot.app)
        pane.add_lines([info(1), LogLine(None, "error", "pm2-error.log", "boom"),
                        LogLine(None, "warn", "g.log", "careful"),
                        LogLine(None, "info", "g.log", "Redis ECONNREFUSED", highlight="connection refused")])
        await pilot.pause()
        rows = list(pane.view.lines)
        assert len(rows) == 4
        assert rows[0].endswith("gateway.log │ line 1")
        assert "✖ pm2-error.log │ boom" in rows[1]
        assert "▲ g.log │ careful" in rows[2]
        assert "✖ g.log │ Redis ECONNREFUSED  ⟨connection refused⟩" in rows[3]  # highlighted: marked too
        assert rows[1].startswith("--:--:-- ")


async def test_scrolling_up_pauses_and_counts_new_lines_end_resumes() -> None:
    async with Host().run_test(size=(100, 30)) as pilot:
        pane = pane_of(pilot.app)
        pane.add_lines([info(i) for i in range(200)])
        await pilot.pause()
        assert pane.following and pane.view.is_vertical_scroll_end
        await pilot.press("pageup")
        await pilot.pause()
        assert not pane.following
        y = pane.view.scroll_y
        pane.add_lines([info(i, "new") for i in range(200, 215)])
        await pilot.pause()
        assert pane.new_while_paused == 15
        assert pane.view.scroll_y == y  # the view stayed where the operator put it
        assert "15 new line(s)" in status(pilot.app)
        await pilot.press("end")
        await pilot.pause()
        assert pane.following and pane.new_while_paused == 0
        assert pane.view.is_vertical_scroll_end
        pane.add_lines([info(300)])
        await pilot.pause()
        assert pane.view.is_vertical_scroll_end and pane.view.lines[-1].endswith("line 300")


async def test_f_toggles_follow() -> None:
    async with Host().run_test(size=(100, 30)) as pilot:
        pane = pane_of(pilot.app)
        pane.add_lines([info(i) for i in range(100)])
        await pilot.press("f")
        assert not pane.following
        pane.add_lines([info(i) for i in range(100, 150)])
        await pilot.pause()
        assert pane.new_while_paused == 50 and not pane.view.is_vertical_scroll_end
        await pilot.press("f")
        await pilot.pause()
        assert pane.following and pane.view.is_vertical_scroll_end


async def test_filter_substring_and_regex_with_counts() -> None:
    async with Host().run_test(size=(100, 30)) as pilot:
        pane = pane_of(pilot.app)
        pane.add_lines([info(i, "apple" if i % 3 == 0 else "pear") for i in range(30)])
        await pilot.press("slash")
        await pilot.press(*"APPLE")  # substring: case-insensitive
        await pilot.press("enter")
        await pilot.pause()
        assert pane.filter_text == "APPLE" and pane.match_count == 10
        assert len(pane.view.lines) == 10 and all("apple" in r for r in pane.view.lines)
        assert "10 match(es)" in status(pilot.app)
        pane.add_lines([info(100, "apple"), info(101, "pear")])  # new lines go through the filter too
        await pilot.pause()
        assert pane.match_count == 11 and len(pane.view.lines) == 11
        pane.set_filter(r"/pear (1|2)\d$/")
        await pilot.pause()
        assert pane.match_count == 14  # pear 10..29 (20) minus the apples (12, 15, 18, 21, 24, 27)
        pane.set_filter("/[unclosed/")  # a bad regex keeps the previous filter and says why
        await pilot.pause()
        assert pane.match_count == 14 and "bad regex" in status(pilot.app)
        await pilot.press("slash")
        await pilot.press("escape")
        await pilot.pause()
        assert pane.filter_text == "" and len(pane.view.lines) == 32


async def test_level_filter_cycles_all_warn_error() -> None:
    async with Host().run_test(size=(100, 30)) as pilot:
        pane = pane_of(pilot.app)
        pane.add_lines([info(1), LogLine(None, "warn", "g", "w"), LogLine(None, "error", "g", "e"),
                        LogLine(None, "", "g", "User x disconnected", highlight="disconnected")])
        await pilot.press("e")
        await pilot.pause()
        assert pane.level_floor == "warn" and pane.match_count == 3
        await pilot.press("e")
        await pilot.pause()
        assert pane.level_floor == "error" and pane.match_count == 2
        assert all("✖" in r for r in pane.view.lines)
        await pilot.press("e")
        await pilot.pause()
        assert pane.level_floor == "" and len(pane.view.lines) == 4


async def test_show_session_filters_to_its_lines() -> None:
    async with Host().run_test(size=(100, 30)) as pilot:
        pane = pane_of(pilot.app)
        pane.add_lines([info(1, f"QR code generated for user {SID}"), info(2, "other"),
                        info(3, f"User {SID} authenticated")])
        pane.show_session(SID)
        await pilot.pause()
        assert pane.match_count == 2 and all(SID in r for r in pane.view.lines)
        assert f"session: {SID}" in status(pilot.app)
        pane.show_session(None)
        await pilot.pause()
        assert len(pane.view.lines) == 3


async def test_buffer_is_bounded_and_drops_are_counted() -> None:
    async with Host(max_lines=100).run_test(size=(100, 30)) as pilot:
        pane = pane_of(pilot.app)
        for start in range(0, 250, 50):
            pane.add_lines([info(i) for i in range(start, start + 50)])
        await pilot.pause()
        assert pane.buffered == 100 and pane.dropped == 150
        assert len(pane.view.lines) == 100 and pane.view.lines[0].endswith("line 150")
        assert "150 dropped" in status(pilot.app)
        pane.set_filter("line 24")  # counts follow the buffer, not what was ever seen
        await pilot.pause()
        assert pane.match_count == 10


async def test_wrap_splits_long_lines_to_the_width_and_keeps_the_marker() -> None:
    async with Host().run_test(size=(60, 20)) as pilot:
        pane = pane_of(pilot.app)
        pane.add_lines([LogLine(None, "error", "g.log", "x" * 150),
                        LogLine(None, "error", "g.log", "Error: boom\n    at f (a.js:1:2)")])
        await pilot.pause()
        assert len(pane.view.lines) == 3  # no wrap: one row per line, one per stack frame
        await pilot.press("w")
        await pilot.pause()
        rows = list(pane.view.lines)
        assert pane.wrap and len(rows) > 3
        width = pane.view.scrollable_content_region.width
        assert all(len(r) <= width for r in rows)
        assert all(r[9] == "✖" for r in rows)  # every wrapped part still says "error" without colour
        assert "".join(r.split("│ ", 1)[1] if "│ " in r else r[13:] for r in rows[:-2]).count("x") == 150


async def test_typing_in_the_filter_does_not_trigger_pane_keys() -> None:
    async with Host().run_test(size=(100, 30)) as pilot:
        pane = pane_of(pilot.app)
        pane.add_lines([info(1, "wifey feed"), info(2, "other")])
        await pilot.press("slash", *"wife", "space", *"feed", "enter")
        await pilot.pause()
        assert pane.filter_text == "wife feed"
        assert pane.following and not pane.wrap and pane.level_floor == ""
        assert pane.match_count == 0  # "wife feed" is not in "wifey feed": the filter is what was typed


async def test_error_rows_are_coloured_as_well_as_marked() -> None:
    async with Host().run_test(size=(100, 30)) as pilot:
        pane = pane_of(pilot.app)
        pane.add_lines([LogLine(None, "error", "g.log", "boom"), info(1)])
        await pilot.pause()
        err = pane.view.render_line(0)
        ok = pane.view.render_line(1)
        err_colors = {s.style.color.name for s in err if s.style and s.style.color and s.text.strip()}
        ok_colors = {s.style.color.name for s in ok if s.style and s.style.color and s.text.strip()}
        assert "red" in err_colors and "red" not in ok_colors


async def test_view_width_follows_the_widest_row() -> None:
    """Small batches are measured at once (no thread per batch); a big one still in a thread, then shown."""
    async with Host().run_test(size=(100, 30)) as pilot:
        pane = pane_of(pilot.app)
        pane.add_lines([info(1, "x" * 300)])
        assert pane.view.virtual_size.width == max(len(r) for r in pane.view.lines) > 300
        assert len(pilot.app.workers) == 0  # no thread worker started for it
        pane.add_lines([info(i, "y" * (400 + i)) for i in range(2, 500)])
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert pane.view.virtual_size.width == max(len(r) for r in pane.view.lines) > 800


async def test_rows_are_rendered_once_and_never_stale() -> None:
    """Following re-paints every visible row per batch: each is highlighted once, and shows what it holds now."""
    async with Host(max_lines=5).run_test(size=(100, 30)) as pilot:
        pane = pane_of(pilot.app)
        view = pane.view
        calls: list[str] = []
        highlight = view.highlighter.highlight

        def counting(text: Text) -> None:
            calls.append(text.plain)
            highlight(text)

        view.highlighter.highlight = counting  # type: ignore[method-assign]

        def shown() -> list[str]:
            return [view.render_line(y).text.strip() for y in range(len(view.lines))]

        pane.add_lines([info(i) for i in range(3)])
        await pilot.pause()
        shown()
        shown()
        assert len(calls) == 3  # painted twice, highlighted once
        for i in range(3, 9):  # past max_lines: the Log drops its oldest rows and re-keys its cache
            pane.add_lines([info(i)])
            await pilot.pause()
            assert [r.split()[-1] for r in shown()] == [str(n) for n in range(max(0, i - 4), i + 1)]
        pane.set_filter("line 7")  # a rebuild: every row is new
        await pilot.pause()
        assert [r.split()[-1] for r in shown()] == ["7"]


class FeedHost(Host):
    def __init__(self, paint_every_s: float, max_lines: int = 10_000) -> None:
        super().__init__(max_lines)
        self.paint_every_s = paint_every_s

    def compose(self) -> ComposeResult:
        yield LogPane(paint_every_s=self.paint_every_s, max_lines=self.max_lines, id="logs")


async def test_feed_buffers_at_once_and_paints_batches_together() -> None:
    """The live feed: a batch soon after a paint is counted and searchable at once, and shown with the next paint."""
    async with FeedHost(paint_every_s=3600).run_test(size=(100, 30)) as pilot:
        pane = pane_of(pilot.app)
        pane.feed([info(1)])  # nothing painted yet: shown at once
        await pilot.pause()
        assert [r.split()[-1] for r in pane.view.lines] == ["1"]
        pane.feed([info(2), info(3, f"about {SID}")])
        pane.feed([info(4)])
        await pilot.pause()
        assert [r.split()[-1] for r in pane.view.lines] == ["1"]  # held back until the paint is due
        assert pane.buffered == 4 and pane.match_count == 4
        assert [ln.text for ln in pane.lines_mentioning(SID)] == [f"about {SID} 3"]
        assert "1/10,000 lines" in status(pilot.app)
        pane.flush()
        await pilot.pause()
        assert [r.split()[-1] for r in pane.view.lines] == ["1", "2", "3", "4"]
        assert "4/10,000 lines" in status(pilot.app)
        pane.flush()  # nothing held: no row twice
        assert len(pane.view.lines) == 4


async def test_feed_paints_held_lines_when_their_time_comes() -> None:
    async with FeedHost(paint_every_s=0.05).run_test(size=(100, 30)) as pilot:
        pane = pane_of(pilot.app)
        pane.feed([info(1)])
        pane.feed([info(2)])
        for _ in range(200):  # the pane's own timer shows line 2; no flush() called
            if len(pane.view.lines) == 2:
                break
            await pilot.pause(0.02)
        assert [r.split()[-1] for r in pane.view.lines] == ["1", "2"]


async def test_a_flood_between_paints_holds_only_what_the_view_keeps() -> None:
    """Thousands of lines within one paint interval: only the newest max_lines are held and written; the rest
    are counted as dropped, and the view ends as it would have had each batch been painted."""
    async with FeedHost(paint_every_s=3600, max_lines=100).run_test(size=(100, 30)) as pilot:
        pane = pane_of(pilot.app)
        pane.feed([info(0)])  # painted at once; the flood below is held
        for start in range(1, 2_001, 250):
            pane.feed([info(i) for i in range(start, start + 250)])
        assert pane.held == 100
        pane.flush()
        await pilot.pause()
        assert [r.split()[-1] for r in pane.view.lines] == [str(i) for i in range(1901, 2001)]
        assert pane.buffered == 100 and "1,901 dropped" in status(pilot.app)


async def test_a_rebuild_shows_held_lines_once() -> None:
    async with FeedHost(paint_every_s=3600).run_test(size=(100, 30)) as pilot:
        pane = pane_of(pilot.app)
        pane.feed([info(1)])
        pane.feed([info(2)])
        pane.set_level("")  # a rebuild from the buffer, which holds line 2 already
        pane.flush()
        await pilot.pause()
        assert [r.split()[-1] for r in pane.view.lines] == ["1", "2"]


def test_thumb_span_says_when_textual_draws_the_same_scrollbar() -> None:
    """The log repaints its scrollbar only when the span changes: equal spans must mean equal pictures."""
    from textual.scrollbar import ScrollBarRender

    from pulse_tui.tui.log_pane import thumb_span

    pictures: dict[tuple[int, tuple[int, int] | None], object] = {}
    for size in (3, 7, 20):
        for virtual in (size + 1, 50, 997, 10_000):
            for window in (size, size - 1):
                for position in sorted({0, 1, virtual // 3, virtual - window - 1, virtual - window}):
                    if position < 0:
                        continue
                    picture = list(ScrollBarRender.render_bar(size, virtual, window, position).segments)
                    key = (size, thumb_span(size, virtual, window, position))
                    assert pictures.setdefault(key, picture) == picture, (size, virtual, window, position)
    assert len({k[1] for k in pictures}) > 10  # the spans do tell states apart


async def test_following_a_long_log_repaints_its_scrollbar_only_when_the_thumb_moves() -> None:
    async with Host().run_test(size=(100, 20)) as pilot:
        pane = pane_of(pilot.app)
        pane.add_lines([info(i) for i in range(3000)])
        await pilot.pause()
        bar = pane.view.vertical_scrollbar
        painted: list[int] = []
        refresh = bar.refresh

        def counting(*args: object, **kwargs: object) -> object:
            painted.append(1)
            return refresh(*args, **kwargs)  # type: ignore[arg-type]

        bar.refresh = counting  # type: ignore[method-assign]
        for i in range(3000, 3010):
            pane.add_lines([info(i)])
            await pilot.pause()
        assert painted == []  # at the bottom, the thumb stays at the bottom
        assert bar.position == pane.view.max_scroll_y and bar.window_virtual_size == 3010
        pane.action_toggle_follow()  # paused: the log grows under a still view, the thumb moves up
        pane.add_lines([info(i) for i in range(3010, 9000)])
        await pilot.pause()
        assert painted


async def test_a_long_followed_log_keeps_only_a_few_screens_of_rendered_rows() -> None:
    """Each cached row holds its strip and its crops: a followed log must not keep 1,024 of them (RSS)."""
    from pulse_tui.tui.log_pane import ROW_CACHE_ROWS

    async with Host().run_test(size=(100, 30)) as pilot:
        pane = pane_of(pilot.app)
        for start in range(0, ROW_CACHE_ROWS * 3, 50):
            pane.add_lines([info(i) for i in range(start, start + 50)])
            await pilot.pause()
            for y in range(start, start + 50):
                pane.view.render_line(y - int(pane.view.scroll_y))  # paint the new rows as following does
        cached = pane.view._render_line_cache
        assert 0 < len(cached) <= ROW_CACHE_ROWS < 1024


async def test_a_full_height_log_keeps_two_screens_of_rendered_rows_and_shrinks_back() -> None:
    """The row cache covers twice the view (the full-height log repaints every row as it follows), and no more
    than ROW_CACHE_ROWS once the view is small again."""
    from pulse_tui.tui.log_pane import ROW_CACHE_ROWS

    async with Host().run_test(size=(100, 90)) as pilot:
        pane = pane_of(pilot.app)
        pane.add_lines([info(i) for i in range(400)])
        await pilot.pause()
        cache = pane.view._render_line_cache
        height = pane.view.size.height
        assert 2 * height > ROW_CACHE_ROWS and cache.maxsize == 2 * height
        for y in range(2 * height):
            pane.view.render_line(y % height)
        await pilot.resize_terminal(100, 20)
        await pilot.pause()
        assert cache.maxsize == ROW_CACHE_ROWS and len(cache) <= ROW_CACHE_ROWS


async def test_a_followed_log_empties_textuals_and_richs_style_caches_past_their_bound() -> None:
    """Each new row's styles carry its offset: Strip.render_ansi's cache (16,384), the truecolor filter's and
    rich's style sums (1,024 each) would keep them long after their rows scrolled away."""
    from rich.color import Color as RichColor
    from rich.terminal_theme import DEFAULT_TERMINAL_THEME
    from textual.filter import ANSIToTruecolor
    from textual.strip import Strip

    from pulse_tui.tui.log_pane import ANSI_CACHE_STYLES, STYLE_CACHES

    async with Host().run_test(size=(100, 30)) as pilot:
        pane = pane_of(pilot.app)
        ansi, black, bold = ANSIToTruecolor(DEFAULT_TERMINAL_THEME), RichColor.parse("black"), Style(bold=True)
        for i in range(ANSI_CACHE_STYLES + 10):
            style = Style(color="red", meta={"offset": (0, i)})
            Strip.render_ansi(style, ColorSystem.TRUECOLOR)
            ansi.truecolor_style(style, black)
            _ = style + bold
        assert all(cache.cache_info().currsize > ANSI_CACHE_STYLES for cache in STYLE_CACHES)
        pane.add_lines([info(1)])
        pane.flush()
        await pilot.pause()
        assert all(cache.cache_info().currsize <= ANSI_CACHE_STYLES for cache in STYLE_CACHES)


async def test_a_followed_log_empties_richs_cell_length_cache_past_its_bound() -> None:
    """Every new row is measured: rich's cached_cell_len (4,096 texts) would keep a copy of each."""
    from rich.cells import cached_cell_len

    from pulse_tui.tui.log_pane import CELL_LEN_CACHE_TEXTS

    async with Host().run_test(size=(100, 30)) as pilot:
        pane = pane_of(pilot.app)
        for i in range(CELL_LEN_CACHE_TEXTS + 10):
            cached_cell_len(f"measured {i}")
        assert cached_cell_len.cache_info().currsize > CELL_LEN_CACHE_TEXTS
        pane.add_lines([info(1)])
        pane.flush()
        await pilot.pause()
        assert cached_cell_len.cache_info().currsize <= CELL_LEN_CACHE_TEXTS
