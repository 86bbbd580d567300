"""The live log pane: a bounded, filterable tail of the gateways' logs on top of Textual's `Log` widget.

The app feeds it with `feed(batch)` (batches from `LogFollower`; painted at most once a second), tests and
benchmarks with `add_lines(batch)` (painted at once). Keys (on this widget): `f` follow on/off,
`end` back to the end and follow, `w` wrap, `/` filter (substring, or a regex written `/…/`), `e` level filter
(all → warn+ → error), `escape` clears the filter. Scrolling up pauses following; a counter tells how many new
lines arrived meanwhile.

Why it looks like this: `Log` is fast (plain strings, virtual rendering) but cannot wrap nor colour single
lines. So the pane keeps its own bounded buffer of LogLines (filters and re-wrapping rebuild the view from it),
wraps lines itself to the view's width when wrap is on, and marks errors and highlighted lines with a visible
`✖` (warnings `▲`) that a highlighter also colours: colour is never the only signal.
"""

from __future__ import annotations

import math
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, Self

from rich.cells import cached_cell_len, cell_len
from rich.highlighter import Highlighter
from rich.style import Style
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.filter import ANSIToTruecolor
from textual.geometry import Region
from textual.scrollbar import ScrollBar, ScrollBarRender
from textual.strip import Strip
from textual.timer import Timer
from textual.widgets import Input, Log, Static

from pulse_tui.monitor.logs import DEBUG, ERROR, WARN, LogLine
from pulse_tui.sanitize import visible

LEVEL_CYCLE = ("", WARN, ERROR)  # "" shows everything
_LEVEL_NAMES = {"": "all", WARN: "warn+", ERROR: "errors"}
TIME_WIDTH = 9  # "HH:MM:SS "
MARKS = {"error": "✖ ", "warn": "▲ ", "debug": "· ", "": "  "}
ASCII_MARKS = {"error": "E ", "warn": "W ", "debug": ". ", "": "  "}
PAINT_EVERY_S = 1.0  # feed() paints the live log at most this often (see LogPane.feed)
SYNC_MEASURE_LINES = 200  # up to this many new rows are measured on the UI thread (see _LogView._update_size)
# Rendered rows kept (Log's default is 1,024): a few screens of scrolling back, and at least two of the view's
# height (the full-height log). Each row's strip keeps its crops and offsets, ~5.5 KiB, and a followed log keeps
# rendering new rows: 1,024 of them were ~5 MiB of the TUI's RSS, 256 of them 1.4 MiB (0.5-0.9 MiB of RSS over 64).
ROW_CACHE_ROWS = 64
# Every new row of a followed log brings styles of its own (each segment's carries the row's offset for
# selection), ~15 a second with 4 logs writing, and three lru_caches keep them after the row scrolled away:
# Textual's Strip.render_ansi (16,384: ~0.6 KiB a style, ~10 MiB after ~17 minutes), its truecolor filter's
# (1,024) and rich's style sums (Style._add, 1,024), full within the first minute (~0.8 MiB of RSS at 70 s
# over a bound of 512). Each is emptied past this many. Emptying costs nearly nothing: a style keeps its
# rendered codes on itself (`Style._ansi`), and a strip keeps its filtered copy (Strip._filter_cache), so only
# new rows' styles go through them again.
ANSI_CACHE_STYLES = 512
STYLE_CACHES = (Strip.render_ansi, ANSIToTruecolor.truecolor_style, Style._add)
# Rich's cached_cell_len keeps 4,096 strings it measured, and every new row is measured (a copy with its tabs
# expanded, kept by nothing else): ~0.8 MiB once full, after ~5 minutes of 4 logs. Emptied past this many.
CELL_LEN_CACHE_TEXTS = 1024
_WRAP_MARK = "↳ "
_ASCII_WRAP_MARK = "> "


def _thumb(bar: ScrollBar) -> tuple[int, int] | None:
    """Where a vertical bar's thumb is drawn (see thumb_span)."""
    return thumb_span(bar.size.height, math.ceil(bar.window_virtual_size), math.ceil(bar.window_size), bar.position)


def thumb_span(size: int, virtual: int, window: int, position: float) -> tuple[int, int] | None:
    """A vertical scrollbar's thumb, in eighths of a cell, as `ScrollBarRender.render_bar` computes it: two
    states of a bar with the same span draw the same picture (None: no thumb)."""
    if not (window and size and virtual and size != virtual):
        return None
    eighths = len(ScrollBarRender.VERTICAL_BARS)
    thumb = max(1, window / (virtual / size))
    start = int((size - thumb) * (position / (virtual - window)) * eighths)
    return start, start + math.ceil(thumb * eighths)


def _safe(text: str) -> str:
    """`visible(text)`, with str.isprintable() (C speed) as the fast path: a printable str holds nothing
    visible() would escape (controls, bidi overrides, surrogates are all non-printable). Log lines are the
    hot path; this halves the cost of a clean line."""
    return text if text.isprintable() else visible(text)


class _MarkHighlighter(Highlighter):
    """Colours whole rows by the marker in their marker column (rows are plain strings in `Log`)."""

    def __init__(self, marks: dict[str, str]) -> None:
        self._styles = {marks["error"][0]: "bold red", marks["warn"][0]: "yellow", marks["debug"][0]: "dim"}

    def highlight(self, text: Text) -> None:
        plain = text.plain
        if len(plain) > TIME_WIDTH:
            style = self._styles.get(plain[TIME_WIDTH])
            if style is not None:
                text.stylize(style, TIME_WIDTH)
        text.stylize("dim", 0, min(len(plain), TIME_WIDTH))


class _LogView(Log):
    """`Log`, where `end` also resumes following, and where growing costs a repaint, not a screen layout.

    Textual's `virtual_size` is a layout reactive: every batch of lines would re-arrange the whole screen
    (~20 ms here, the largest part of the app's idle CPU). While the log already scrolls and only grows
    taller, the vertical scrollbar is the one thing the layout would change, so it is updated directly, and
    repainted only when its thumb moves (following a long log, it stays at the bottom).
    Painting is cheap too: rows are rendered once and cached, the style is looked up once per paint, and
    small batches are measured without a thread. (Relies on Textual internals, pinned by
    tests/test_textual_contract.py rather than replaced by a line-API widget of our own: a Textual upgrade that
    breaks them fails there by name.)
    """

    _quiet_growth = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._render_line_cache.maxsize = ROW_CACHE_ROWS

    def on_resize(self, event: events.Resize) -> None:
        rows = max(ROW_CACHE_ROWS, 2 * event.size.height)
        cache = self._render_line_cache
        if rows != cache.maxsize:
            if rows < len(cache):
                cache.clear()  # an LRUCache evicts one row per new one: it would stay this big
            cache.maxsize = rows

    def refresh(self, *regions: Any, repaint: bool = True, layout: bool = False, recompose: bool = False) -> Self:
        if self._quiet_growth:
            layout = False
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def write_lines(self, lines: Iterable[str], scroll_end: bool | None = None) -> Self:
        before = self.virtual_size
        scrolling = before.height > self.scrollable_content_region.height and self.show_vertical_scrollbar
        thumb = _thumb(self.vertical_scrollbar) if scrolling else None
        self._quiet_growth = True
        try:
            super().write_lines(lines, scroll_end)
        finally:
            self._quiet_growth = False
        for cache in STYLE_CACHES:
            if cache.cache_info().currsize > ANSI_CACHE_STYLES:
                cache.cache_clear()
        if cached_cell_len.cache_info().currsize > CELL_LEN_CACHE_TEXTS:
            cached_cell_len.cache_clear()
        after = self.virtual_size
        if scrolling:
            bar = self.vertical_scrollbar
            bar.set_reactive(ScrollBar.window_virtual_size, after.height)
            if _thumb(bar) != thumb:  # following a long log, the thumb stays at the bottom: no repaint
                bar.refresh()
        if after != before and not (scrolling and after.width == before.width):
            self.refresh(layout=True)  # a scrollbar appears or the width changed: a real layout
        return self

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        if self._quiet_growth and self.show_vertical_scrollbar:
            # Moved without a repaint: write_lines repaints the bar when its thumb moved (Widget.watch_scroll_y
            # then sets the same position, which repaints nothing).
            self.vertical_scrollbar.set_reactive(ScrollBar.position, new_value)
        super().watch_scroll_y(old_value, new_value)

    def _update_size(self, updates: int, lines: list[str]) -> None:  # type: ignore[override]
        """The widest new line, measured here for a small batch: Log starts a thread worker for every batch.

        A thread, its worker's state messages and the call back into the loop cost more than measuring a
        few lines (0.1 ms of CPU per batch, the demo's most frequent event); big batches still go to a thread.
        """
        if len(lines) > SYNC_MEASURE_LINES:
            super()._update_size(updates, lines)
        elif lines:
            process = self._process_line
            self._update_maximum_width(updates, max(cell_len(process(line)) for line in lines))

    _frame_style: Style | None = None

    def render_lines(self, crop: Region) -> list[Strip]:
        # Log looks its style up (a walk up the DOM) for every row; once per paint is enough.
        self._frame_style = self.rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._frame_style = None

    def _render_line(self, y: int, scroll_x: int, width: int) -> Strip:
        """Log's `_render_line`, with the style looked up once per paint (see render_lines)."""
        rich_style = self._frame_style if self._frame_style is not None else self.rich_style
        if y >= len(self._lines):
            return Strip.blank(width, rich_style)
        line = self._render_line_strip(y, rich_style)
        return line.crop_extend(scroll_x, scroll_x + width, rich_style).apply_offsets(scroll_x, y)

    def _render_line_strip(self, y: int, rich_style: Style) -> Strip:
        """A row's strip, cached: Textual 8.2.8's Log only keeps rows rendered while a selection exists.

        Following the log scrolls every visible row each batch, so each would be highlighted and rendered
        again (Text, highlighter, segments) for every batch. The cache is the Log's own, cleared where Log
        clears it (new text on that row, pruning, clear, style change, selection change).
        """
        if self.text_selection is not None:
            return super()._render_line_strip(y, rich_style)
        strip = self._render_line_cache.get(y)
        if strip is None:
            strip = super()._render_line_strip(y, rich_style)
            self._render_line_cache[y] = strip
        return strip

    def action_scroll_end(self) -> None:
        pane = self.parent
        if isinstance(pane, LogPane):
            pane.action_resume_follow()
        else:
            super().action_scroll_end()


class LogPane(Vertical):
    """A live, bounded, filterable log tail. Feed it with `feed` (or `add_lines`)."""

    # Styles live in pulse.tcss with the rest of the app.


    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "toggle_follow", "Follow"),
        Binding("end", "resume_follow", "End", show=False),
        Binding("w", "toggle_wrap", "Wrap"),
        Binding("slash", "open_filter", "Filter"),
        Binding("e", "cycle_level", "Level"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(
        self,
        max_lines: int = 10_000,
        *,
        ascii: bool = False,
        paint_every_s: float = PAINT_EVERY_S,
        now: Callable[[], float] = time.monotonic,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.max_lines = max_lines
        self._marks = ASCII_MARKS if ascii else MARKS
        self._wrap_mark = _ASCII_WRAP_MARK if ascii else _WRAP_MARK
        self._buffer: deque[LogLine] = deque(maxlen=max_lines)
        self._received = 0
        self._dropped = 0
        self._following = True
        self._wrap = False
        self._new_while_paused = 0
        self._filter_text = ""
        self._filter: Callable[[str], bool] | None = None
        self._filter_error = ""
        self._session: str | None = None
        self._level = ""
        self._matches = 0
        self._rebuilding = False
        self._wrap_width = 0
        self._time_cache: dict[int, str] = {}
        self.paint_every_s = paint_every_s
        self._now = now
        self._pending: list[LogLine] = []  # taken by feed(), not painted yet
        self._painted_at = -math.inf
        self._flush_timer: Timer | None = None
        self._status_line: str | None = None
        self._log = _LogView(max_lines=max_lines, auto_scroll=True, id="log-view")
        self._log.highlight = True
        self._log.highlighter = _MarkHighlighter(self._marks)
        self._status = Static("", id="log-status", markup=False)  # a plain str: cheaper to paint than a Text
        self._input = Input(placeholder="filter: text, or /regex/ — enter keeps it, escape clears", id="log-filter",
                            compact=True)

    def compose(self) -> ComposeResult:
        yield self._status
        yield self._input
        yield self._log

    def on_mount(self) -> None:
        self.watch(self._log, "scroll_y", self._scrolled, init=False)
        self._update_status()

    # --- public API ----------------------------------------------------------------

    @property
    def following(self) -> bool:
        """True while new lines scroll into view."""
        return self._following

    @property
    def wrap(self) -> bool:
        return self._wrap

    @property
    def level_floor(self) -> str:
        """"" (all), "warn" (warn and errors) or "error"."""
        return self._level

    @property
    def filter_text(self) -> str:
        return self._filter_text

    @property
    def session_filter(self) -> str | None:
        return self._session

    @property
    def match_count(self) -> int:
        """Lines in the buffer that pass the filters (all of them when no filter is set)."""
        return self._matches

    @property
    def dropped(self) -> int:
        """Lines pushed out of the bounded buffer so far."""
        return self._dropped

    @property
    def new_while_paused(self) -> int:
        """Matching lines that arrived since following was paused."""
        return self._new_while_paused

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    @property
    def held(self) -> int:
        """Lines `feed` holds back for the next paint (at most `max_lines`)."""
        return len(self._pending)

    @property
    def view(self) -> Log:
        """The inner `Log` (its `.lines` are the rows shown)."""
        return self._log

    def add_lines(self, lines: Sequence[LogLine]) -> None:
        """Append a batch from the follower: buffered, filtered, shown (or counted while paused)."""
        if not lines:
            return
        self._show(self._take(lines))
        self._update_status()

    def feed(self, lines: Sequence[LogLine]) -> None:
        """`add_lines` for a live feed: buffered and counted at once, painted at most every `paint_every_s`.

        Each batch the follower hands over (two a second while logs are written) otherwise costs a frame of its
        own, the largest part of the app's idle CPU; lines that arrive within `paint_every_s` of the last paint
        are shown together once that time is up.
        """
        if not lines:
            return
        self._pending.extend(self._take(lines))
        if len(self._pending) > self.max_lines:
            # A flood between two paints: the view keeps the newest max_lines anyway, as the buffer does, so
            # the older held lines would be formatted, measured and written only to be dropped at once.
            del self._pending[:-self.max_lines]
        if self._flush_timer is not None:
            return  # a paint is already due
        wait = self._painted_at + self.paint_every_s - self._now()
        if wait <= 0 or not self.is_mounted:
            self.flush()
        else:
            self._flush_timer = self.set_timer(wait, self.flush)

    def flush(self) -> None:
        """Show the lines `feed` is holding back, now."""
        if self._flush_timer is not None:
            self._flush_timer.stop()
            self._flush_timer = None
        pending, self._pending = self._pending, []
        self._painted_at = self._now()
        self._show(pending)
        self._update_status()

    def lines_mentioning(self, needle: str, limit: int = 5) -> list[LogLine]:
        """The newest `limit` buffered lines whose text contains `needle` (for the details pane)."""
        found: list[LogLine] = []
        for line in reversed(self._buffer):
            if needle in line.text:
                found.append(line)
                if len(found) >= limit:
                    break
        return found[::-1]

    def show_session(self, session_id: str | None) -> None:
        """Show only lines that mention this session id (None: every session again)."""
        self._session = session_id or None
        self._rebuild()

    def set_filter(self, text: str) -> None:
        """Filter by substring (case-insensitive), or by regex when written `/…/` (`/…/i` ignores case)."""
        text = text.strip()
        self._filter_error = ""
        if not text:
            self._filter_text, self._filter = "", None
        elif len(text) >= 2 and text.startswith("/") and (text.endswith("/") or text.endswith("/i")):
            body, flags = (text[1:-2], re.IGNORECASE) if text.endswith("/i") else (text[1:-1], 0)
            try:
                rx = re.compile(body, flags)
            except re.error as exc:
                self._filter_error = f"bad regex: {exc.msg}"
                self._update_status()
                return  # keep the filter that was there
            self._filter_text, self._filter = text, lambda s: rx.search(s) is not None
        else:
            needle = text.lower()
            self._filter_text, self._filter = text, lambda s: needle in s.lower()
        self._rebuild()

    def set_level(self, floor: str) -> None:
        """"" shows everything, "warn" warnings and errors, "error" errors and highlighted lines."""
        self._level = floor if floor in LEVEL_CYCLE else ""
        self._rebuild()

    def clear(self) -> None:
        """Forget every line (the counters too)."""
        self._buffer.clear()
        self._received = self._dropped = self._matches = self._new_while_paused = 0
        self._rebuild()

    # --- actions -------------------------------------------------------------------

    def action_toggle_follow(self) -> None:
        if self._following:
            self._following = False
            self._update_status()
        else:
            self.action_resume_follow()

    def action_resume_follow(self) -> None:
        self._following = True
        self._new_while_paused = 0
        self._log.scroll_end(animate=False, immediate=True, x_axis=False)
        self._update_status()

    def action_toggle_wrap(self) -> None:
        self._wrap = not self._wrap
        # wrapped rows outnumber lines: let the view hold more rows than the buffer holds lines
        self._log.max_lines = self.max_lines * 8 if self._wrap else self.max_lines
        self._rebuild()

    def action_open_filter(self) -> None:
        self._input.add_class("-open")
        self._input.value = self._filter_text
        self._input.focus()

    def action_cycle_level(self) -> None:
        i = LEVEL_CYCLE.index(self._level) if self._level in LEVEL_CYCLE else 0
        self.set_level(LEVEL_CYCLE[(i + 1) % len(LEVEL_CYCLE)])

    def action_clear_filter(self) -> None:
        self._input.remove_class("-open")
        self._input.value = ""
        if self._filter_text or self._filter_error:
            self.set_filter("")
        self._log.focus()

    @on(Input.Changed, "#log-filter")
    def _filter_typed(self, event: Input.Changed) -> None:
        event.stop()
        self.set_filter(event.value)

    @on(Input.Submitted, "#log-filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        event.stop()
        self.set_filter(event.value)
        self._input.remove_class("-open")
        self._log.focus()

    def on_resize(self, event: events.Resize) -> None:
        if self._wrap and self._width() != self._wrap_width:
            self._rebuild()

    # --- internals -----------------------------------------------------------------

    def _take(self, lines: Sequence[LogLine]) -> list[LogLine]:
        """Buffer a batch and update the counters; the lines of it that pass the filters (to be shown)."""
        if len(lines) > self.max_lines:
            self._dropped += len(lines) - self.max_lines
            self._received += len(lines) - self.max_lines
            lines = lines[-self.max_lines:]
        evict = len(self._buffer) + len(lines) - self.max_lines
        if evict > 0:
            self._dropped += evict
            if self._filtering():
                for i in range(evict):
                    if self._match(self._buffer[i]):
                        self._matches -= 1
            else:
                self._matches -= evict
        self._buffer.extend(lines)
        self._received += len(lines)
        shown = [ln for ln in lines if self._match(ln)] if self._filtering() else list(lines)
        self._matches += len(shown)
        if shown and not self._following:
            self._new_while_paused += len(shown)
        return shown

    def _show(self, shown: list[LogLine]) -> None:
        if shown:
            self._log.write_lines(self._rows(shown), scroll_end=self._following)

    def _scrolled(self, old: float, new: float) -> None:
        """Scrolling up pauses following; reaching the end again resumes it."""
        if self._rebuilding:
            return
        at_end = self._log.is_vertical_scroll_end
        if self._following and new < old and not at_end:
            self._following = False
            self._update_status()
        elif not self._following and new > old and at_end:
            self.action_resume_follow()

    def _filtering(self) -> bool:
        return self._filter is not None or self._session is not None or bool(self._level)

    def _match(self, line: LogLine) -> bool:
        if self._level == ERROR and not line.is_error:
            return False
        if self._level == WARN and not (line.level in (ERROR, WARN) or line.highlight is not None):
            return False
        if self._session is not None and self._session not in line.text:
            return False
        return self._filter is None or self._filter(line.text) or self._filter(line.source)

    def _clock(self, at: float | None) -> str:
        if at is None:
            return "--:--:--"
        sec = int(at)
        s = self._time_cache.get(sec)
        if s is None:
            if len(self._time_cache) > 4096:
                self._time_cache.clear()
            s = self._time_cache[sec] = time.strftime("%H:%M:%S", time.localtime(sec))
        return s

    def _rows(self, lines: Iterable[LogLine]) -> list[str]:
        """Display rows: `HH:MM:SS ✖ source │ text`; stack frames and wrapped parts keep the marker."""
        marks = self._marks
        rows: list[str] = []
        width = self._width() if self._wrap else 0
        for ln in lines:
            if ln.is_error:
                mark = marks["error"]
            elif ln.level == WARN:
                mark = marks["warn"]
            elif ln.level == DEBUG:
                mark = marks["debug"]
            else:
                mark = marks[""]
            text = ln.text
            if ln.highlight is not None:
                text = f"{text}  ⟨{ln.highlight}⟩"
            # Log lines are written by anyone who can reach the gateway: controls are shown, never sent raw.
            # (a stack's "\n" is split first, so frames stay rows of their own.)
            head = f"{self._clock(ln.at)} {mark}{_safe(ln.source)} │ "
            if "\n" not in text:
                text = _safe(text)
                if not width or len(head) + len(text) <= width:
                    rows.append(head + text)
                    continue
            cont = " " * TIME_WIDTH + mark
            first, *more = (_safe(part) for part in text.split("\n"))
            pieces = [(head, first)] + [(cont + "  ", frame) for frame in more]
            for prefix, body in pieces:
                if not width:
                    rows.append(prefix + body)
                    continue
                room = max(10, width - len(prefix))
                rows.append(prefix + body[:room])
                body = body[room:]
                wrap_prefix = cont + self._wrap_mark
                room = max(10, width - len(wrap_prefix))
                while body:
                    rows.append(wrap_prefix + body[:room])
                    body = body[room:]
        return rows

    def _width(self) -> int:
        width = self._log.scrollable_content_region.width
        return width if width > 20 else max(20, self.size.width - 2)

    def _rebuild(self) -> None:
        """Redraw the view from the buffer (after a filter, level, wrap or width change)."""
        self._wrap_width = self._width() if self._wrap else 0
        self._pending = []  # the view is rebuilt from the buffer, which holds them
        shown = [ln for ln in self._buffer if self._match(ln)] if self._filtering() else list(self._buffer)
        self._matches = len(shown)
        self._new_while_paused = 0
        self._following = True
        self._rebuilding = True
        try:
            self._log.clear()
            self._log.write_lines(self._rows(shown), scroll_end=True)
            self._log.scroll_end(animate=False, immediate=True, x_axis=False)
        finally:
            self._rebuilding = False
        self._update_status()

    def _update_status(self) -> None:
        parts: list[str] = []
        if self._following:
            parts.append("▶ following")
        else:
            parts.append(f"⏸ paused — {self._new_while_paused:,} new line(s) — end to follow")
        parts.append(f"{len(self._buffer):,}/{self.max_lines:,} lines")
        if self._dropped:
            parts.append(f"{self._dropped:,} dropped")
        if self._level:
            parts.append(f"level: {_LEVEL_NAMES[self._level]}")
        if self._session:
            parts.append(f"session: {visible(self._session)}")
        if self._filter_text:
            parts.append(f"filter: {visible(self._filter_text)}")
        if self._filtering():
            parts.append(f"{self._matches:,} match(es)")
        if self._filter_error:
            parts.append(self._filter_error)
        if self._wrap:
            parts.append("wrap")
        line = " · ".join(parts)
        if line != self._status_line:  # the same line again (a full buffer, a filter that matched nothing new)
            self._status_line = line
            self._status.update(line, layout=False)  # one fixed row: no re-layout needed
        self._status.set_class(not self._following, "-paused")
