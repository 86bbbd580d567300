"""A pane of rich Text drawn row by row: an update renders again only the rows whose text changed.

A `Static` renders and wraps all of its text on every `update` and the frame redraws all of its rows, although
after an idle poll only one or two of the details pane's ~19 rows (a browser's memory, an age) differ. Each
logical line is wrapped here on its own, with Textual's own `Content` wrapping, so it looks as a Static would.
"""

from __future__ import annotations

from rich.text import Text
from textual.content import Content
from textual.events import Resize
from textual.geometry import Region, Size
from textual.selection import Selection
from textual.strip import Strip
from textual.style import Style
from textual.visual import Visual
from textual.widget import Widget


class TextRows(Widget):
    """Shows a `Text`; `update` repaints only the rows that changed and asks for a layout only on a new height."""

    DEFAULT_CSS = "TextRows { height: auto; }"

    def __init__(self, text: Text, *, id: str | None = None) -> None:  # noqa: A002 - Textual's own name
        super().__init__(id=id)
        self._text = text
        self._lines = _split(text)
        self._width = -1  # the width and style `_wrapped` and `_rows` were made for
        self._style: Style | None = None
        self._wrapped: list[list[Strip]] = []  # per logical line, its rows
        self._rows: list[Strip] = []

    @property
    def text(self) -> Text:
        """The text shown."""
        return self._text

    def update(self, text: Text) -> None:
        """Show `text`: lines equal to the ones shown keep their rows; only rows that differ are painted."""
        if text == self._text:
            return
        self._text, old, self._lines = text, self._lines, _split(text)
        if self._width < 0:
            self.refresh(layout=True)
            return
        kept, style = self._wrapped, self.visual_style
        keep = style == self._style
        self._style = style
        self._wrapped = [kept[i] if keep and i < len(old) and old[i] == line else self._wrap(i, self._width)
                         for i, line in enumerate(self._lines)]
        before, self._rows = self._rows, [row for rows in self._wrapped for row in rows]
        if len(before) != len(self._rows):
            self.refresh(layout=True)
            return
        changed = [Region(0, y, self._width, 1) for y, (a, b) in enumerate(zip(before, self._rows, strict=True))
                   if a != b]
        if changed:
            self.refresh(*changed)

    def _wrap(self, index: int, width: int) -> list[Strip]:
        """One logical line's rows, with the offsets text selection reads from them (its line is `index`)."""
        content = Content.from_rich_text(self._lines[index], self.app.console)
        selection = self.text_selection
        span = selection.get_span(index) if selection is not None else None
        if span is not None:
            start, end = span
            style = Style.from_styles(self.screen.get_component_styles("screen--selection"))
            content = content.stylize(style, start, len(content.plain) if end == -1 else end)
        rows = Visual.to_strips(self, content, width, None, self.visual_style, apply_selection=False)
        # Content numbers each row's cells from the start of its line; only the line's own number is wrong here.
        return [row.apply_offsets(_first_x(row), index) for row in rows]

    def _rewrap(self, width: int) -> None:
        style = self.visual_style  # a new theme or CSS: the colours are part of each row
        if width != self._width or style != self._style:
            self._width, self._style = width, style
            self._wrapped = [self._wrap(i, width) for i in range(len(self._lines))]
            self._rows = [row for rows in self._wrapped for row in rows]

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        """The number of rows at `width`."""
        self._rewrap(width)
        return len(self._rows)

    def on_resize(self, event: Resize) -> None:
        self._rewrap(event.size.width)

    def render_line(self, y: int) -> Strip:
        """Row `y`, as wrapped at the widget's width."""
        self._rewrap(self.size.width)
        return self._rows[y] if y < len(self._rows) else Strip.blank(self.size.width, self.visual_style.rich_style)

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        """The selected part of the text (Textual's hook for widgets drawn line by line)."""
        return selection.extract(self._text.plain), "\n"

    def selection_updated(self, selection: Selection | None) -> None:
        """Every row again: the selection's highlight is part of each row's strip."""
        self._style = None
        self.refresh()


def _split(text: Text) -> list[Text]:
    return list(text.split("\n", allow_blank=True))


def _first_x(row: Strip) -> int:
    for segment in row:
        if segment.style is not None:
            offset = segment.style.meta.get("offset")
            return int(offset[0]) if offset else 0
    return 0
