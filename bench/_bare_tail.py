"""The floor of a live log tail in Textual: a bare app shaped like pulse-tui's screen (a header line, a DataTable
of 100 rows, an 8-row `Log` at the bottom, a Footer) that reads the new lines of the given log files once a
second and writes them to the Log, nothing else. Run beside pulse-tui by bench/_idle_spy.py (`bare tail`): what
a once-a-second tail costs Textual itself. Not a benchmark (`make bench` skips `_*.py`); quits on q."""

from __future__ import annotations

import sys
from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import DataTable, Footer, Log, Static

CSS = "DataTable { height: 1fr; } Log { height: 8; }"


class BareTail(App[None]):
    CSS = CSS
    BINDINGS = [("q", "quit", "Quit")]

    def __init__(self, logs: list[Path]) -> None:
        super().__init__()
        self.files = [path.open("rb") for path in logs]
        for f in self.files:
            f.seek(0, 2)  # from the end, as a tail does

    def compose(self) -> ComposeResult:
        yield Static("Gateway salesboy · Redis ok")
        yield DataTable()
        yield Log(max_lines=10_000)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("STATE", "SESSION", "PHONE", "IN STATE")
        for i in range(100):
            table.add_row("● connected", f"bare-session-{i:04d}", "18765551234", "≥3m")
        self.set_interval(1.0, self.tail)

    def tail(self) -> None:
        lines = [line for f in self.files for line in f.read().decode("utf-8", "replace").splitlines()]
        if lines:
            self.query_one(Log).write_lines(lines)


if __name__ == "__main__":
    BareTail([Path(p) for p in sys.argv[1:]]).run()
