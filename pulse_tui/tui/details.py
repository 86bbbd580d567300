"""The details pane's text for the selected session (secrets never reach a view: models hold none)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from pulse_tui.model import SessionView, Snapshot, UserSession
from pulse_tui.sanitize import visible
from pulse_tui.tui.rows import state_cell
from pulse_tui.ui_words import SEVERITY_GLYPHS, duration, in_state

if TYPE_CHECKING:
    from pulse_tui.watch.journal import Entry

LOCK_NOTES = {
    "stale": " (harmless: Chromium clears it at the next start; L clears it now)",
    "conflict": " (a reused pid: Chromium may refuse this profile)",
    "foreign": " (the next start fails with exit 21; clear it by hand only if the other host does not use it)",
}


def clock_time(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%H:%M:%S")


def _field(t: Text, name: str, value: object) -> None:
    t.append(f"{name:<13}", style="bold")
    t.append(visible(str(value)) + "\n")  # every value may come from a peer: shown, never acted on


def session_details(s: SessionView, snap: Snapshot) -> Text:
    """Fields, flags explained, state history with timestamps."""
    now = snap.taken_at
    t = Text()
    t.append(visible(s.id) + "\n", style="bold")
    t.append_text(state_cell(s.state, s.stale_s))
    t.append(f" for {in_state(now - s.since, s.since_first_seen)}")
    if s.since_first_seen:
        t.append(" (since pulse-tui first saw it)", style="dim")
    if s.last_known is not None:
        t.append(f" (last known: {s.last_known.value})", style="magenta")
    t.append("\n")
    if s.detail:
        t.append(visible(s.detail) + "\n", style="italic")
    t.append("\n")
    _field(t, "phone", s.phone or "-")
    if s.name:
        _field(t, "name", s.name)
    _field(t, "auth dir", s.auth_dir or "none on disk")
    _field(t, "restorable", "yes: a gateway restart reconnects it without a QR" if s.restorable else "no")
    if s.last_fresh is not None:
        _field(t, "data age", f"{duration(now - s.last_fresh)} (last first-hand fact)")
    if s.last_activity is not None:
        _field(t, "last seen", f"{duration(now - s.last_activity)} ago in the log")
    rss, pids = s.rss_bytes, s.browser_pids
    host = snap.host
    unmapped = host.unmapped_browsers if host is not None else 0
    matched = dict(host.browser_matches) if host is not None else {}
    if s.no_browser:
        _field(t, "browser", f"no browser: {s.no_browser}")
    elif unmapped and not rss:
        why = _unmapped_why(host.unmapped_why if host is not None else ())
        _field(t, "browser", f"not mapped: {unmapped} gateway browser(s) run on a temporary profile that names no "
               "session (WAHA passes no profile dir), so none can be tied to this one" + (f": {why}" if why else ""))
    elif rss:
        mem = (f"{s.pss_bytes / 2**20:.0f} MiB PSS" + (f", {s.uss_bytes / 2**20:.0f} MiB private"
                                                         if s.uss_bytes is not None else "")
               if s.pss_bytes is not None else "PSS unreadable")
        _field(t, "browser", f"{mem} ({rss / 2**20:.0f} MiB RSS), {len(pids)} process(es): "
               f"{', '.join(map(str, pids[:6]))}" + (f"; {matched[s.id]}" if s.id in matched else ""))
    _pm2_line(t, snap)
    if s.lock != "none":
        info = s.lock_info
        where = f" in {info.profile_dir}" if info else ""
        who = f", pid {info.pid} on {info.host}" if info and info.pid else ""
        _field(t, "profile lock", f"{s.lock}{who}{where}" + LOCK_NOTES.get(s.lock, ""))
    for o in s.orphans:
        size = f"{o.pss_bytes / 2**20:.0f} MiB PSS" if o.pss_bytes is not None else f"{o.rss_bytes / 2**20:.0f} MiB RSS"
        _field(t, "orphan", f"pids {', '.join(map(str, o.pids[:8]))}, {size}: {o.reason} (K stops it)")
    if s.flags:
        # Here, not at the top: monitor.state loads the gateway adapters and httpx, which the first frame can
        # do without (the connect thread imports them).
        from pulse_tui.monitor.state import FLAG_EXPLANATIONS

        t.append("\nFlags\n", style="bold")
        for f in sorted(s.flags):
            t.append(f"  ▲ {visible(f)}", style="yellow")
            t.append(f": {FLAG_EXPLANATIONS.get(f, '')}\n")
    if s.history:
        t.append("\nHistory\n", style="bold")
        for h in reversed(s.history[-12:]):
            t.append(f"  {clock_time(h.at)}  ")
            t.append_text(state_cell(h.state))
            if h.reason:
                t.append(f"  {visible(h.reason)}", style="dim")
            t.append("\n")
    return t


def _unmapped_why(reasons: Sequence[str]) -> str:
    """Each distinct reason once, with how many browsers it applies to."""
    counts: dict[str, int] = {}
    for r in reasons:
        counts[r] = counts.get(r, 0) + 1
    return "; ".join(f"{n} browser(s): {r}" if len(reasons) > 1 else r for r, n in counts.items())


def _pm2_line(t: Text, snap: Snapshot) -> None:
    """The gateway's pm2 app, and how old pm2's own word is (`pm2 jlist` runs only when pm2 changed)."""
    host = snap.host
    if host is None or host.pm2_state == "off":
        return
    pm2 = host.pm2
    if pm2 is None:
        _field(t, "pm2", f"{host.pm2_state}" + (f": {host.pm2_detail}" if host.pm2_detail else ""))
        return
    pid = f" pid {pm2.pid}," if pm2.pid else ""
    age = (f"pm2 asked {duration(snap.taken_at - pm2.read_at)} ago (again when it changes), memory read now"
           if pm2.read_at is not None else "age unknown")
    _field(t, "pm2", f"{pm2.app} {pm2.status},{pid} {pm2.restarts} restart(s): {age}")


def user_details(u: UserSession) -> Text:
    """A Redis `session:` key: how it opens, its index, its TTL and its (redacted) fields."""
    t = Text()
    t.append(visible(u.key) + "\n", style="bold")
    _field(t, "value", u.value_class.value)
    _field(t, "opened by", u.key_label or "no known key")
    _field(t, "index", u.index.value)
    _field(t, "ttl", "none" if u.ttl is None else f"{u.ttl} s ({duration(u.ttl)})")
    _field(t, "whatsapp id", u.whatsapp_id or "-")
    _field(t, "phone", u.phone or "-")
    _field(t, "linked", "yes" if u.linked else "no")
    if u.expires_at:
        _field(t, "expires at", u.expires_at)
    if u.detail:
        t.append(f"\n{visible(u.detail)}\n", style="italic")
    if u.fields:
        t.append("\nFields (secrets redacted)\n", style="bold")
        for name, value in u.fields:
            t.append(f"  {visible(name):<18}", style="dim")
            t.append(visible(str(value)) + "\n")
    return t


def findings_page(snap: Snapshot) -> Table:
    """The doctor page: every finding, worst first, glyph and word, then its fix and examples; a long message,
    fix or example wraps within its own column, so the severity column stays clear."""
    page = Table.grid(padding=(0, 1, 0, 0))
    page.add_column(width=10, no_wrap=True)  # "✖ critical"
    page.add_column(ratio=1)
    if not snap.findings:
        page.add_row(Text("✔ ok", style="green"), Text("no findings in the last poll"))  # Text: a str is markup
        return page
    styles = {"critical": "bold red", "warning": "yellow", "info": "cyan", "unknown": "magenta"}
    for f in sorted(snap.findings, key=lambda f: -f.severity.rank):
        head = f"{SEVERITY_GLYPHS.get(f.severity, '?')} {f.severity.value}"
        page.add_row(Text(head, style=styles.get(f.severity.value, "")), Text(visible(f.message)))
        if f.hint:
            page.add_row(Text("fix:", style="dim", justify="right"), Text(visible(f.hint), style="dim"))
        if f.subjects:
            page.add_row(Text("e.g.", style="dim", justify="right"),
                         Text(visible(", ".join(f.subjects[:3])), style="dim"))
    return page


WATCH_STYLES = {"acted": "green", "failed": "red", "circuit-open": "bold yellow", "needs-qr": "yellow"}


def watch_decisions(entries: Sequence[Entry]) -> Text:
    """The session's last watchdog decisions (from its journal), newest first; empty when there are none."""
    t = Text()
    if not entries:
        return t
    t.append("\nWatchdog (its journal)\n", style="bold")
    for e in reversed(entries):
        t.append(f"  {clock_time(e.at)}  ")
        t.append(visible(" ".join(x for x in (e.kind, e.action) if x)), style=WATCH_STYLES.get(e.kind, ""))
        if e.reason:
            t.append(f"  {visible(e.reason[:160])}", style="dim")
        t.append("\n")
    return t
