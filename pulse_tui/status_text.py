"""`pulse-tui status --once`: one snapshot as a plain table for a terminal or a cron mail."""

from __future__ import annotations

from pulse_tui.model import Snapshot
from pulse_tui.sanitize import visible
from pulse_tui.status_json import is_healthy
from pulse_tui.ui_words import STATE_GLYPHS, duration, in_state


def render_status(snap: Snapshot) -> str:
    """Gateway, Redis, keys, then one line per session and per finding."""
    gw = snap.gateway
    lines = [f"gateway  {snap.gateway_kind} {snap.gateway_url}: {gw.state.value}"
             + (f" ({gw.detail})" if gw.detail else "")
             + (f", {gw.latency_ms:.0f} ms" if gw.latency_ms is not None else "")
             + (f", budget {gw.budget_left}/{gw.budget_limit}" if gw.budget_left is not None else "")]
    r = snap.redis
    if r is None:
        lines.append("redis    not configured")
    elif not r.available:
        lines.append(f"redis    down ({r.error})")
    else:
        p = r.persistence
        persist = "unknown" if p is None or p.enabled is None else ("on" if p.enabled else "OFF")
        lines.append(f"redis    ok, {len(r.sessions)} session key(s), persistence {persist}")
    lines.append(f"keys     {snap.keys.state}" + (f" ({snap.keys.detail})" if snap.keys.detail else ""))
    lines.append("")
    if snap.sessions:
        lines.append(f"{'STATE':<13} {'ID':<38} {'PHONE':<15} {'IN STATE':>9}  FLAGS")
        for s in snap.sessions:
            glyph = STATE_GLYPHS.get(s.state, "?")
            stale = f" (data {duration(s.stale_s)} old)" if s.stale_s is not None else ""
            lines.append(f"{glyph} {s.state.value:<11} {s.id:<38} {s.phone or '-':<15} "
                         f"{in_state(s.seconds_in_state, s.since_first_seen):>9}  {','.join(sorted(s.flags)) or '-'}{stale}")
    else:
        lines.append("no WhatsApp sessions found (set PULSE_TUI_AUTH_DIR or PULSE_TUI_SESSIONS)")
    if r is not None and r.available and r.sessions:
        counts: dict[str, int] = {}
        for u in r.sessions:
            counts[u.value_class.value] = counts.get(u.value_class.value, 0) + 1
        lines.append("user sessions in Redis: " + ", ".join(f"{n} {c}" for c, n in sorted(counts.items())))
    if snap.findings:
        lines.append("")
        for f in snap.findings:
            lines.append(f"[{f.severity.value}] {f.message}"
                         + (f" e.g. {', '.join(f.subjects[:3])}" if f.subjects else ""))
    lines.append("")
    lines.append("healthy" if is_healthy(snap) else "NOT healthy")
    # Ids, phones, error details and findings come from peers and dir names: each line is made safe whole,
    # so a "\n" inside a value shows as \x0a instead of forging a line of its own.
    return "\n".join(visible(line) for line in lines)
