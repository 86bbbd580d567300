"""The baseline of the terminal benchmarks: a bare Textual app (Header + DataTable + RichLog + Footer) with one
row, run as a program in tmux like pulse-tui. Its first frame shows MARKER. Not a benchmark (`make bench` skips
`_*.py`); quits on q."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import DataTable, Footer, Header, RichLog

MARKER = "bare-session-0001"


class Bare(App[None]):
    BINDINGS = [("q", "quit", "Quit")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable()
        yield RichLog()
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("STATE", "SESSION", "PHONE", "IN STATE")
        table.add_row("● connected", MARKER, "18765551234", "3m02s")
        self.query_one(RichLog).write("gateway up")


if __name__ == "__main__":
    Bare().run()
