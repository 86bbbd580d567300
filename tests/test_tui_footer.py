"""The main screen's footer: built once at start-up, rebuilt when the keys it shows change, not on every signal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import Button
from textual.widgets._footer import FooterKey

from pulse_tui.tui.footer import KeysFooter


class CountingFooter(KeysFooter):
    builds = 0  # composes that produced keys

    def compose(self) -> Iterator[Widget]:
        keys = list(super().compose())
        if keys:
            CountingFooter.builds += 1
        yield from keys


class Keys(App[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "quit", "Quit"), Binding("x", "act", "Act")]
    acting = True

    def compose(self) -> ComposeResult:
        yield Button("one", id="one")
        yield Button("two", id="two")
        yield CountingFooter()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return True if action != "act" or self.acting else None  # None: shown, disabled

    def action_act(self) -> None: ...


def shown(app: Keys) -> dict[str, bool]:
    return {k.description: not k.has_class("-disabled") for k in app.query(FooterKey)}


async def test_the_footer_is_built_once_and_again_only_when_its_keys_change() -> None:
    CountingFooter.builds = 0
    app = Keys()
    async with app.run_test() as pilot:
        await pilot.pause(0.2)
        assert {"Quit": True, "Act": True}.items() <= shown(app).items()
        assert CountingFooter.builds == 1, "start-up's bindings signals rebuilt the same keys"
        app.query_one("#two", Button).focus()  # a focus move that changes no key shown
        await pilot.pause(0.2)
        assert CountingFooter.builds == 1
        app.acting = False
        app.refresh_bindings()
        await pilot.pause(0.2)
        assert CountingFooter.builds == 2
        assert shown(app)["Act"] is False
