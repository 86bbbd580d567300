"""`?`: every key, and where the audit log is."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from pulse_tui.actions import SPECS
from pulse_tui.sanitize import visible

KEYS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Moving", (
        ("↑ ↓ / j k", "move in the table"),
        ("enter", "details of the session (QR view when it waits for a scan)"),
        ("1 / 2", "WhatsApp connections / linked users (Redis)"),
        ("tab", "next pane"),
        ("/", "filter the table (Esc clears)"),
        ("l", "focus the log (again: full screen)"),
        ("D", "doctor: every finding"),
    )),
    ("Acting (each asks first, names the session, default No)",
     tuple((spec.key, spec.help) for spec in SPECS)),  # the actions' own words (pulse_tui/actions/specs.py)
    ("Log", (
        ("f", "follow on / off (scrolling up pauses)"),
        ("w", "wrap on / off"),
        ("end", "resume following"),
        ("g", "only the selected session's lines (again: all)"),
        ("/ in the log", "filter: text, or /regex/ (Esc clears)"),
        ("e in the log", "level: all → warnings+ → errors"),
    )),
    ("Other", (
        ("W", "watchdog on / off: reconnects dropped restorable sessions by policy (off at start)"),
        ("C", "reset the watchdog's open circuit of the session (it may reconnect it again)"),
        ("ctrl+r", "poll now"),
        ("c", "copy the session id"),
        ("?", "this help"),
        ("q / ctrl+q", "quit"),
    )),
)


def help_text(audit_path: str, read_only: bool) -> str:
    """The help screen's text."""
    lines = []
    for section, rows in KEYS:
        lines.append(section)
        lines.extend(f"  {k:<12} {v}" for k, v in rows)
        lines.append("")
    lines.append(f"Audit log: {visible(audit_path)}")
    if read_only:
        lines.append("Read-only mode: every action is disabled.")
    lines.append("Glyphs: ● connected  ▣ scan QR  ◔ starting  ↻ restoring  ◐ restorable  ○ stopped  ✖ stuck  "
                 "? unknown  (* = data is stale)")
    return "\n".join(lines)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss(None)", "Close"),
    ]

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static("pulse-tui keys", id="help-title", markup=False)
            yield Static(self.text, id="help-body", markup=False)
