"""Snapshot → table rows and header lines: pure functions, so what the screen shows is testable without a screen.

Every state is shown as a glyph AND a word; colour (via Rich styles) only repeats what the text says.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from rich.text import Text

from pulse_tui.events import ChannelState, ChannelStatus
from pulse_tui.model import (
    ConnState,
    GatewayHealth,
    HealthState,
    IndexClass,
    RedisReport,
    SessionView,
    Snapshot,
    UserSession,
    ValueClass,
)
from pulse_tui.sanitize import visible
from pulse_tui.ui_words import STATE_GLYPHS, STATE_WORDS, VALUE_GLYPHS, duration, in_state

if TYPE_CHECKING:
    from pulse_tui.watch.watchdog import Planned

STATE_STYLES = {
    ConnState.CONNECTED: "green",
    ConnState.QR: "bold yellow",
    ConnState.STARTING: "cyan",
    ConnState.RESTORING: "cyan",
    ConnState.RESTORABLE: "blue",
    ConnState.STOPPED: "dim",
    ConnState.STUCK: "bold red",
    ConnState.UNKNOWN: "magenta",
}
VALUE_STYLES = {
    ValueClass.OK: "green",
    ValueClass.DEFAULT_KEY: "bold yellow",
    ValueClass.UNDECRYPTABLE: "bold red",
    ValueClass.PLAIN: "cyan",
    ValueClass.CORRUPT: "bold red",
}
HEALTH_STYLES = {
    HealthState.OK: "green",
    HealthState.BUDGET: "yellow",
    HealthState.RATE_LIMITED: "bold yellow",
    HealthState.UNAUTHORIZED: "bold red",
    HealthState.DOWN: "bold red",
    HealthState.ERROR: "bold red",
    HealthState.UNKNOWN: "magenta",
}
HEALTH_GLYPHS = {
    HealthState.OK: "●",
    HealthState.BUDGET: "◔",
    HealthState.RATE_LIMITED: "◔",
    HealthState.UNAUTHORIZED: "✖",
    HealthState.DOWN: "✖",
    HealthState.ERROR: "✖",
    HealthState.UNKNOWN: "?",
}


@dataclass(frozen=True)
class Column:
    """One table column: key, title, width (None: as wide as its content) and priority (0 kept longest)."""

    key: str
    title: str
    priority: int
    width: int | None = None


ID_FULL, ID_SHORT, FLAGS_MIN = 36, 13, 14
CELL_PAD = 2  # DataTable pads each cell by one column on each side

CONN_COLUMNS = (
    Column("state", "STATE", 0, 12),
    Column("id", "SESSION", 0, None),
    Column("phone", "PHONE", 3, 14),
    Column("in_state", "IN STATE", 1, 8),
    Column("activity", "LAST SEEN", 4, 9),
    Column("mem", "PSS", 5, 9),  # the session's share of host memory; RSS (dim) only when smaps is unreadable
    Column("cpu", "CPU", 6, 6),
    Column("flags", "FLAGS", 1, None),
)
USER_COLUMNS = (
    Column("class", "VALUE", 0, 15),
    Column("id", "SESSION", 0, None),
    Column("phone", "PHONE", 2, 14),
    Column("linked", "LINKED", 1, 6),
    Column("ttl", "TTL", 1, 7),
    Column("activity", "LAST ACTIVITY", 4, 16),
    Column("index", "INDEX", 3, 8),
    Column("key", "OPENED BY", 5, 26),
)


@dataclass(frozen=True)
class TableLayout:
    columns: tuple[Column, ...]
    short_ids: bool


def fit_columns(columns: tuple[Column, ...], table_width: int) -> TableLayout:
    """The columns that fit `table_width`, dropped by priority; ids shortened before anything else drops."""

    def width_of(c: Column, short: bool) -> int:
        if c.key == "id":
            return (ID_SHORT if short else ID_FULL) + CELL_PAD
        if c.width is None:
            return FLAGS_MIN + CELL_PAD
        return c.width + CELL_PAD

    for short in (False, True):
        core = [c for c in columns if c.priority <= 1]
        used = sum(width_of(c, short) for c in core)
        if used > table_width and not short:
            continue
        keep = set(core)
        for c in sorted((c for c in columns if c.priority > 1), key=lambda c: c.priority):
            if used + width_of(c, short) <= table_width:
                keep.add(c)
                used += width_of(c, short)
        id_width = ID_SHORT if short else ID_FULL
        return TableLayout(tuple(replace(c, width=id_width) if c.key == "id" else c
                                 for c in columns if c in keep), short)
    raise AssertionError("unreachable")


def short_id(session_id: str, short: bool) -> str:
    """The id, shortened with an ellipsis when space is short (the details pane shows it whole)."""
    shown = session_id[:12] + "…" if short and len(session_id) > ID_SHORT else session_id
    return visible(shown)


def state_cell(state: ConnState, stale_s: float | None = None) -> Text:
    text = Text(f"{STATE_GLYPHS[state]} {STATE_WORDS[state]}", style=STATE_STYLES[state])
    if stale_s is not None and state != ConnState.UNKNOWN:
        text.append("*", style="magenta")  # marked stale; the legend and details say how old
    return text


def conn_key(s: SessionView, short: bool) -> tuple[object, ...]:
    """What the non-time cells of a session's row depend on: an unchanged key means an unchanged row."""
    stale = None if s.stale_s is None else duration(s.stale_s)
    return (s.state, stale, s.phone, s.flags, s.rss_bytes, s.pss_bytes, s.cpu_percent is None or round(s.cpu_percent),
            short, s.no_browser)


def time_cells(s: SessionView, now: float) -> dict[str, Text | str]:
    """The cells that age with the clock (refreshed once a second for the rows on screen)."""
    return {
        "in_state": in_state_text(s, now),
        "activity": duration(now - s.last_activity) if s.last_activity else "-",
    }


def conn_cells(s: SessionView, short: bool) -> dict[str, Text | str]:
    """A session's cells but the time ones (see time_cells); the table picks the visible columns."""
    flags = sorted(s.flags - {"stale"})
    flag_text = Text(visible(", ".join(flags)), style="yellow" if flags else "")
    if s.stale_s is not None:
        flag_text.append((", " if flags else "") + f"data {duration(s.stale_s)} old", style="magenta")
    rss, pss = s.rss_bytes, s.pss_bytes
    mem: Text | str = Text("no browser", style="dim") if s.no_browser else (
        _bytes(pss) if pss else (Text(_bytes(rss), style="dim") if rss else "-"))
    return {
        "state": state_cell(s.state, s.stale_s),
        "id": short_id(s.id, short),  # made safe there; SyncedTable never parses a cell as markup
        "phone": visible(s.phone or "-"),
        "mem": mem,
        "cpu": "-" if s.cpu_percent is None else f"{s.cpu_percent:.0f}%",
        "flags": flag_text,
    }


def in_state_text(s: SessionView, now: float) -> str:
    return in_state(now - s.since, s.since_first_seen)


def user_cells(u: UserSession, short: bool) -> dict[str, Text | str]:
    """Every linked-user column's cell for one Redis session."""
    cls = Text(f"{VALUE_GLYPHS[u.value_class]} {u.value_class.value}", style=VALUE_STYLES[u.value_class])
    index = Text(u.index.value, style="" if u.index == IndexClass.OK else "yellow")
    return {
        "class": cls,
        "id": short_id(u.session_id, short),
        "phone": visible(u.phone or "-"),
        "linked": "yes" if u.linked else "no",
        "ttl": "none" if u.ttl is None else duration(u.ttl),
        "activity": visible((u.last_activity or "-")[:16].replace("T", " ")),
        "index": index,
        "key": visible(u.key_label or "-"),
    }


def _bytes(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit in ("B", "KiB") else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


# --- header --------------------------------------------------------------------------------------------


def gateway_line(kind: str, url: str, gw: GatewayHealth, polling: bool, events: ChannelStatus | None = None) -> Text:
    """`Gateway salesboy http://… ● ok 12 ms · budget 84/90`, with the failure and its countdown, and for a
    gateway that pushes events whether they arrive (`· events`) or it is polled meanwhile (`· polling: why`)."""
    t = Text("Gateway ", style="bold")
    t.append(visible(f"{kind} {url}  "))
    t.append(f"{HEALTH_GLYPHS[gw.state]} {gw.state.value}", style=HEALTH_STYLES[gw.state])
    if gw.state == HealthState.OK and gw.latency_ms is not None:
        t.append(f" {gw.latency_ms:.0f} ms")
    if gw.retry_after_s is not None and gw.state in (HealthState.RATE_LIMITED, HealthState.BUDGET):
        t.append(f" {gw.retry_after_s:.0f} s", style=HEALTH_STYLES[gw.state])
    if gw.detail and gw.state != HealthState.OK:
        t.append(visible(f" ({gw.detail})"), style="dim" if gw.state == HealthState.UNKNOWN else "")
    if gw.budget_left is not None and gw.budget_limit is not None:
        low = gw.budget_left < max(5, gw.budget_limit // 10)
        t.append(" · budget ")
        t.append(f"{gw.budget_left}/{gw.budget_limit}", style="bold yellow" if low else "")
        if (use := gw.budget_use) is not None and (use.other_pulse_tui or use.someone_else):
            # Only when someone besides us spends: then the operator needs to know who.
            t.append(f" (spent: us {use.this_process}, other pulse-tui {use.other_pulse_tui}, "
                     f"someone else {use.someone_else})", style="dim")
    if events is not None:
        if events.state == ChannelState.CONNECTED:
            t.append(" · events", style="green")
            if events.uncovered:
                t.append(f" ({len(events.uncovered)} polled: not on the channel yet)", style="dim")
        else:
            why = f": {events.reason}" if events.reason else ""
            t.append(visible(f" · polling ({events.state.value}{why})"), style="yellow")
    if polling:
        t.append(" ⟳", style="dim")
    return t


def redis_line(report: RedisReport | None, pending: bool = False) -> Text:
    t = Text("Redis   ", style="bold")
    if report is None:
        t.append("checking…" if pending else "not configured", style="dim")
        return t
    if not report.available:
        t.append("✖ down", style="bold red")
        t.append(visible(f" ({report.error})") + " · reconnecting each poll")
        return t
    t.append("● ok", style="green")
    p = report.persistence
    t.append(" · persistence ")
    if p is None or p.enabled is None:
        t.append("unknown (CONFIG unavailable)", style="magenta")
    elif p.enabled:
        t.append("on", style="green")
        t.append(visible(f" (save '{p.save or ''}', appendonly {p.appendonly or '?'})"), style="dim")
    else:
        t.append("✖ OFF: a Redis restart loses every session", style="bold red")
    if p is not None and p.last_save_failed:
        t.append(" · ✖ last save FAILED", style="bold red")
    t.append(f" · {len(report.sessions)} session key(s)")
    return t


KEY_WORDS = {
    "ok": ("● ok", "green"),
    "mismatch": ("✖ mismatch", "bold red"),
    "default": ("▲ default key in use", "bold yellow"),
    "unknown": ("? unknown", "magenta"),
}


def keys_line(snap: Snapshot, read_only: bool, *, browsers: bool = True) -> Text:
    """Keys state, then the host: browser memory (or that this gateway runs none), free memory, orphans, pm2."""
    t = Text("Keys    ", style="bold")
    word, style = KEY_WORDS.get(snap.keys.state, ("? " + snap.keys.state, "magenta"))
    t.append(visible(word), style=style)
    if snap.keys.detail:
        t.append(visible(f" ({snap.keys.detail})"), style="dim")
    host = snap.host
    if host is not None:
        t.append(" · Host ")
        if not browsers and not host.browser_rss_bytes:
            t.append("no browser per session", style="dim")  # Baileys, NOWEB, GOWS: 0 B would read as a fault
        elif host.browser_pss_bytes is not None:
            t.append("browsers ")
            t.append(f"{_bytes(host.browser_pss_bytes)} PSS")
            if host.browser_uss_bytes is not None:
                t.append(f" ({_bytes(host.browser_uss_bytes)} private)", style="dim")
        else:
            t.append(f"browsers {_bytes(host.browser_rss_bytes)} RSS")
        if host.mem_available_bytes is not None:
            t.append(f", {_bytes(host.mem_available_bytes)} free")
        if host.orphans:
            t.append(f" · {host.orphans} orphaned browser(s)", style="bold yellow")
        if host.foreign_locks:
            t.append(f" · {host.foreign_locks} lock(s) from another host", style="bold red")
        pm2 = host.pm2
        if pm2 is not None:
            t.append(visible(f" · pm2 {pm2.app} "))
            t.append(visible(pm2.status), style="green" if pm2.status == "online" else "bold red")
            t.append(f" ↻{pm2.restarts}")
            if pm2.restarts_since_start:
                t.append(f" (+{pm2.restarts_since_start} since pulse-tui started)", style="bold yellow")
    if read_only:
        t.append("  READ-ONLY", style="bold reverse")
    return t


def watch_line(mode: str, paused: str, planned: Planned | None, now: float, circuits: int = 0,
               lock_error: str = "") -> Text:
    """`Watch   on · next: start ID in 20 s`, `off (W turns it on)`, `observer (another watchdog acts)`, `paused: why`.

    `lock_error`: why the lock was not taken, when it is not another watchdog (an unusable state dir)."""
    t = Text("Watch   ", style="bold")
    if mode == "off":
        t.append("watchdog off", style="dim")
        t.append(" (W turns it on)", style="dim")
        return t
    if mode == "observer":
        t.append(visible(f"watchdog observer ({lock_error or 'another watchdog acts on this gateway'})"),
                 style="yellow")
    elif paused:
        t.append("watchdog paused: ", style="bold yellow")
        t.append(visible(paused))
    else:
        t.append("● watchdog on", style="green")
        if mode != "acting":
            t.append(f" ({mode}: acts on nothing)", style="yellow")
    if planned is not None:
        wait = max(0, round(planned.at - now))
        t.append(visible(f" · next: {planned.action} {planned.session} " + ("now" if wait == 0 else f"in {wait} s")))
    elif mode != "observer" and not paused:
        t.append(" · nothing planned", style="dim")
    if circuits:
        t.append(f" · {circuits} circuit(s) open", style="bold yellow")
    return t
