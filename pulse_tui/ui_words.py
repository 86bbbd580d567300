"""Words and glyphs shared by every renderer (TUI, `status --once`): colour is never the only signal."""

from __future__ import annotations

from pulse_tui.model import ConnState, Severity, ValueClass

STATE_GLYPHS = {
    ConnState.CONNECTED: "●",
    ConnState.QR: "▣",
    ConnState.STARTING: "◔",
    ConnState.RESTORING: "↻",
    ConnState.RESTORABLE: "◐",
    ConnState.STOPPED: "○",
    ConnState.STUCK: "✖",
    ConnState.UNKNOWN: "?",
}

STATE_WORDS = {
    ConnState.CONNECTED: "connected",
    ConnState.QR: "scan QR",
    ConnState.STARTING: "starting",
    ConnState.RESTORING: "restoring",
    ConnState.RESTORABLE: "restorable",
    ConnState.STOPPED: "stopped",
    ConnState.STUCK: "stuck",
    ConnState.UNKNOWN: "unknown",
}

VALUE_GLYPHS = {
    ValueClass.OK: "●",
    ValueClass.DEFAULT_KEY: "▲",
    ValueClass.UNDECRYPTABLE: "✖",
    ValueClass.PLAIN: "◌",
    ValueClass.CORRUPT: "✖",
}

SEVERITY_GLYPHS = {
    Severity.CRITICAL: "✖",
    Severity.WARNING: "▲",
    Severity.INFO: "●",
    Severity.OK: "✔",
    Severity.UNKNOWN: "?",
}


def in_state(seconds: float, first_seen: bool) -> str:
    """Time in state; "≥" when it counts from pulse-tui's first sight of the session (it may be much longer)."""
    return ("≥" if first_seen else "") + duration(seconds)


def duration(seconds: float | None) -> str:
    """Compact human duration: 7s, 45s, 5m, 3h12m, 2d04h.

    Every second under 10 s, then in 5 s steps, then minutes: a table of sessions then repaints a few times
    a minute instead of every second, and nobody needs "47s" rather than "45s" at a glance.
    """
    if seconds is None:
        return "-"
    s = int(max(0, seconds))
    if s < 10:
        return f"{s}s"
    if s < 60:
        return f"{s - s % 5}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"
