"""The TUI side of bench/events.py (not a benchmark itself: `make bench` skips `_*.py`).

`python bench/_events_tui.py URL KEY ROWS`: the real app (PulseApp built as `pulse-tui --gateway waha` builds
it: the real connector, event channel and 3 s polls) headless under Textual's pilot at 150x40, in a process of
its own so its CPU seconds are its own. After every snapshot the app applies, once the screen has refreshed
(`call_after_refresh`), it reads the connections table's STATE cells through DataTable's public API and notes
`time.monotonic()` for each cell whose text changed. One JSON object a line on stdout: `{"ready": ...}` once
the table holds ROWS rows and the header says the event channel is in use; then, after `stop` on stdin,
`{"seen": [[t, row, text], ...], "unknown": n, "probe_s": cpu_s_of_the_reads}`, and it exits.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from pathlib import Path

from textual.widgets import DataTable

from pulse_tui.config import Config, config_from_values
from pulse_tui.model import ConnState, Snapshot
from pulse_tui.monitor.build import build_log_follower
from pulse_tui.monitor.logs import RecentLines
from pulse_tui.tui import app as app_module
from pulse_tui.tui.app import PulseApp
from pulse_tui.tui.run import connector
from pulse_tui.ui_words import STATE_WORDS

SIZE = (150, 40)
UNKNOWN = STATE_WORDS[ConnState.UNKNOWN]
READY_TIMEOUT_S = 120.0


class ProbedApp(PulseApp):
    """PulseApp that, after each applied snapshot is on screen, notes which STATE cells changed and when."""

    CSS_PATH = str(Path(app_module.__file__).with_name("pulse.tcss"))  # Textual resolves it by the subclass's file

    def __init__(self, config: Config, recent: RecentLines) -> None:
        super().__init__(config, connect=connector(config, recent), logs=build_log_follower(config), recent=recent)
        self.shown: dict[str, str] = {}  # row key -> the STATE cell's text last read
        self.seen: list[tuple[float, str, str]] = []
        self.probe_s = 0.0  # CPU time of the reads below: the bench's own cost inside the measured process
        self._probe_due = False

    def apply(self, snap: Snapshot) -> None:
        super().apply(snap)
        if not self._probe_due:  # several snapshots before one refresh: one read after it
            self._probe_due = True
            self.call_after_refresh(self._probe)

    def _probe(self) -> None:
        self._probe_due = False
        now = time.monotonic()
        cpu = time.thread_time()
        table: DataTable[object] = self.main.conn_table
        for row_key in table.rows:
            text = str(table.get_cell(row_key, "state"))
            key = str(row_key.value)
            if self.shown.get(key) != text:
                self.shown[key] = text
                self.seen.append((now, key, text))
        self.probe_s += time.thread_time() - cpu

    def unknown(self) -> int:
        """Rows whose STATE cell says unknown (the gateway has not been asked about them yet)."""
        return sum(1 for text in self.shown.values() if UNKNOWN in text)

    def header(self) -> str:
        return str(self.main.query_one("#hdr-gateway").content)


def say(obj: object) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def run(url: str, key: str, rows: int) -> int:
    root = Path.cwd()  # the bench starts this process in a temp dir of its own (HOME and XDG_STATE_HOME too)
    config = config_from_values({"PULSE_TUI_GATEWAY": "waha", "PULSE_TUI_GATEWAY_URL": url, "WAHA_API_KEY": key,
                                 "PULSE_TUI_AUDIT_LOG": str(root / "audit.jsonl")})
    app = ProbedApp(config, RecentLines())
    gc.freeze()  # as run_frozen() does for the console script
    async with app.run_test(size=SIZE) as pilot:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while len(app.shown) < rows or "· events" not in app.header():
            if time.monotonic() > deadline:
                say({"error": f"not ready after {READY_TIMEOUT_S:g} s: {len(app.shown)} of {rows} rows, "
                              f"header {app.header()!r}"})
                return 1
            await pilot.pause(0.2)
        say({"ready": {"rows": len(app.shown), "unknown": app.unknown(), "header": app.header()}})
        await asyncio.to_thread(sys.stdin.readline)  # a blocked thread: no CPU while measured
        say({"seen": app.seen, "unknown": app.unknown(), "probe_s": app.probe_s})
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(run(sys.argv[1], sys.argv[2], int(sys.argv[3]))))
