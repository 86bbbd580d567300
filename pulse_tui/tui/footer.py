"""The footer of the main screen: Textual's, recomposed only when the keys it shows change."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from textual.widgets import Footer

if TYPE_CHECKING:
    from textual.binding import Binding
    from textual.screen import Screen
    from textual.widget import Widget

Shown = tuple[tuple["Binding", bool, str], ...]


def shown_bindings(screen: Screen[object]) -> Shown:
    """What a footer shows for `screen`: each displayed binding (and the command palette's), enabled or not, its
    tooltip."""
    palette = screen.app.COMMAND_PALETTE_BINDING
    return tuple((binding, enabled, tooltip) for key, (_node, binding, enabled, tooltip)
                 in screen.active_bindings.items() if binding.show or key == palette)


class KeysFooter(Footer):
    """Textual's footer rebuilds every key (a widget and a restyle each) on every bindings signal: the screen's
    stack, its focus and the terminal's focus each send one as the app starts, three rebuilds of ~20 ms in the
    first 0.1 s. This one skips a rebuild that would show the keys it already shows (its style options, such as
    `compact`, are never changed here)."""

    _composed: Shown | None = None

    def compose(self) -> Iterator[Widget]:
        keys = list(super().compose())
        # An empty compose is Footer's own placeholder before its first signal: never taken for the keys.
        self._composed = shown_bindings(self.screen) if keys else None
        yield from keys

    async def recompose(self) -> None:
        if self._composed is not None and shown_bindings(self.screen) == self._composed:
            return  # a second signal of the same start, or a focus move that changes no key
        await super().recompose()
