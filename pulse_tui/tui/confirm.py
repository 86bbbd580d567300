"""Confirmations for destructive actions: they name the exact session, fixed when the modal opened.

`ConfirmScreen` defaults to No (the No button has focus; Escape and `n` cancel). `TypeToConfirm` asks the
operator to type the session id itself, for actions that cannot be undone by a re-scan alone.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from pulse_tui.sanitize import visible


class ConfirmScreen(ModalScreen[bool]):
    """Yes/No about one action on one target; dismisses with True only on an explicit Yes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "answer(False)", "Cancel"),
        Binding("n", "answer(False)", "No", show=False),
        Binding("y", "answer(True)", "Yes", show=False),
        Binding("left,right,tab", "app.focus_next", "Switch", show=False),
    ]

    def __init__(self, target: str, title: str, consequence: str, yes_label: str = "Yes") -> None:
        super().__init__(classes="confirm")
        self.target = target  # captured now: a poll that reorders rows cannot change it
        self.title_text = visible(title)  # they name the session, whose id came from a peer or a dir name
        self.consequence = visible(consequence)
        self.yes_label = yes_label

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Label(self.title_text, id="confirm-title", markup=False)
            yield Static(self.consequence, id="confirm-body", markup=False)
            with Horizontal(id="confirm-buttons"):
                yield Button("No (Esc)", id="no", variant="primary")
                yield Button(f"{self.yes_label} (y)", id="yes", variant="error")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class TypeToConfirm(ModalScreen[bool]):
    """The operator must type the target id exactly; Escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, target: str, title: str, consequence: str) -> None:
        super().__init__(classes="confirm")
        self.target = target
        self.title_text = visible(title)
        self.consequence = visible(consequence)

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Label(self.title_text, id="confirm-title", markup=False)
            yield Static(self.consequence, id="confirm-body", markup=False)
            yield Static(f"Type the session id to confirm:\n{visible(self.target)}", id="confirm-prompt", markup=False)
            yield Input(placeholder="session id", id="confirm-input")
            yield Static("", id="confirm-error", markup=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip() == self.target:
            self.dismiss(True)
        else:
            self.query_one("#confirm-error", Static).update("That is not the session id. Esc cancels.")

    def action_cancel(self) -> None:
        self.dismiss(False)
