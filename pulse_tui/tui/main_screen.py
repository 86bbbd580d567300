"""The operator's screen: header, sessions table (two tabs), details, log, footer; and every key on it.

Widgets only render snapshots. Polls, actions and the QR stream run in workers, so no key waits on I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, Static, TabbedContent, TabPane

from pulse_tui.model import ConnState, SessionView, Snapshot
from pulse_tui.sanitize import markup, visible
from pulse_tui.sources.authdirs import salesboy_id_error
from pulse_tui.tui.confirm import ConfirmScreen, TypeToConfirm
from pulse_tui.tui.details import findings_text, session_details, user_details
from pulse_tui.tui.help import HelpScreen, help_text
from pulse_tui.tui.rows import (
    CONN_COLUMNS,
    USER_COLUMNS,
    conn_cells,
    conn_key,
    fit_columns,
    gateway_line,
    keys_line,
    redis_line,
    time_cells,
    user_cells,
)
from pulse_tui.tui.synced_table import SyncedTable

if TYPE_CHECKING:
    from pulse_tui.tui.app import PulseApp

NARROW = 110  # below this width the details pane folds away (enter shows it full screen)
MEDIUM = 150  # below this width the details pane is narrower
DETAILS_WIDTHS = {"wide": 48, "medium": 36}  # as in pulse.tcss
# Below this the table shows no session row (header, tabs and log take the height; the core columns the width).
MIN_WIDTH, MIN_HEIGHT = 60, 16
RUNNING = (ConnState.CONNECTED, ConnState.QR, ConnState.STARTING, ConnState.STUCK)


def _young(s: SessionView, now: float) -> bool:
    """A time cell of this session moves every second: under 10 s (ui_words.duration), or its step to "10s"."""
    return now - s.since < 11 or (s.last_activity is not None and now - s.last_activity < 11)


class TextScreen(ModalScreen[None]):
    """A scrollable page of text (details on a narrow terminal, the doctor's findings)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,enter", "dismiss(None)", "Close")]

    def __init__(self, title: str, body: Text, kind: str = "") -> None:
        super().__init__(classes="text-page")
        self.title_text = title
        self.body = body
        self.kind = kind  # "doctor": refreshed with every poll

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="page-box"):
            yield Static(self.title_text, id="page-title", markup=False)
            yield Static(self.body, id="page-body")

    def update_body(self, body: Text) -> None:
        self.body = body
        self.query_one("#page-body", Static).update(body)


class MainScreen(Screen[None]):
    """Sessions, details, log; actions behind confirmations bound to the id captured when they opened."""

    AUTO_FOCUS = "#conn-table"  # focused as the screen first shows: no second focus change after mount
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "app.quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("s", "start", "Start"),
        Binding("d", "disconnect", "Disconnect"),
        Binding("r", "restart", "Restart", show=False),
        Binding("x", "delete", "Delete", show=False),
        Binding("L", "clear_lock", "Clear lock", show=False),
        Binding("K", "kill_orphan", "Kill orphan", show=False),
        Binding("R", "restart_gateway", "Restart gateway", show=False),
        Binding("slash", "filter", "Filter"),
        Binding("1", "tab('conns')", "Connections", show=False),
        Binding("2", "tab('users')", "Users", show=False),
        Binding("l", "focus_log", "Log"),
        Binding("g", "log_of_session", "Its log", show=False),
        Binding("f", "log_follow", "Follow", show=False),
        Binding("w", "log_wrap", "Wrap", show=False),
        Binding("D", "doctor", "Doctor"),
        Binding("ctrl+r", "poll_now", "Poll", show=False),
        Binding("c", "copy_id", "Copy id", show=False),
        Binding("j", "cursor('down')", "Down", show=False),
        Binding("k", "cursor('up')", "Up", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(id="main")
        self.snap: Snapshot | None = None
        self.filter_text = ""
        self._width = 0
        # Kept as attributes: TabbedContent mounts its panes late, so a query in on_mount may miss them.
        self.conn_table = SyncedTable(id="conn-table")
        self.user_table = SyncedTable(id="user-table")
        self._by_id: dict[str, SessionView] = {}
        self._header: dict[str, Text] = {}
        self._details: Text | None = None
        self._details_rows = -1
        self._aged_at = 0.0
        self._conn_cache: dict[str, tuple[tuple[object, ...], dict[str, Text | str]]] = {}
        self._user_cache: dict[str, tuple[object, dict[str, Text | str]]] = {}
        self._conn_layout = fit_columns(CONN_COLUMNS, 200)
        self._user_layout = fit_columns(USER_COLUMNS, 200)

    @property
    def papp(self) -> PulseApp:
        return self.app  # type: ignore[return-value]

    # --- layout --------------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(id="header"):
            yield Static(Text("Gateway  waiting for the first poll…"), id="hdr-gateway")
            yield Static(Text("Redis"), id="hdr-redis")
            yield Static(Text("Keys"), id="hdr-keys")
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield Input(placeholder="filter: id, phone, state or flag (Esc clears)", id="filter")
                with TabbedContent(id="tabs", initial="conns"):
                    with TabPane("1 Connections", id="conns"):
                        yield self.conn_table
                    with TabPane("2 Linked users (Redis)", id="users"):
                        yield self.user_table
            with VerticalScroll(id="details"):
                yield Static(Text("Select a session."), id="details-body")
        yield self.papp.make_log_widget()
        yield Static("", id="too-small", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self._fit_terminal()
        self._layout(self.size.width)
        self.papp.start()

    def on_resize(self) -> None:
        self._fit_terminal()
        self._layout(self.size.width)

    def _fit_terminal(self) -> None:
        """Below the smallest usable size, say which size is needed instead of a screen with no session row."""
        width, height = self.size
        small = 0 < width < MIN_WIDTH or 0 < height < MIN_HEIGHT
        self.set_class(small, "-too-small")
        if small:
            self.query_one("#too-small", Static).update(
                f"Terminal too small for pulse-tui: need {MIN_WIDTH}x{MIN_HEIGHT}, have {width}x{height}. "
                "Enlarge the window (q quits).")

    def _layout(self, width: int) -> None:
        if width <= 0 or width == self._width:
            return
        self._width = width
        self.set_class(width < NARROW, "-narrow")
        self.set_class(NARROW <= width < MEDIUM, "-medium")
        details = 0 if width < NARROW else DETAILS_WIDTHS["medium" if width < MEDIUM else "wide"] + 1
        table_width = width - details - 2  # the details pane and its border, the scrollbar
        self._conn_layout = fit_columns(CONN_COLUMNS, table_width)
        self._user_layout = fit_columns(USER_COLUMNS, table_width)
        self.conn_table.set_columns(self._conn_layout.columns)
        self.user_table.set_columns(self._user_layout.columns)
        if self.snap is not None:
            self.show(self.snap)

    @property
    def active_tab(self) -> str:
        return self.query_one("#tabs", TabbedContent).active or "conns"

    # --- rendering snapshots ---------------------------------------------------------------------------------

    def show(self, snap: Snapshot) -> None:
        """Render one snapshot: header, both tables (in place, by row key), details."""
        self.snap = snap
        self.refresh_header()
        short = self._conn_layout.short_ids
        self._by_id = {s.id: s for s in snap.sessions}
        # Rows whose data did not change keep their cells object, and the table skips them: a poll of
        # 10,000 sessions costs what its changes cost. Time columns age in tick(), for the rows on screen.
        conns: dict[str, dict[str, Text | str]] = {}
        cache: dict[str, tuple[tuple[object, ...], dict[str, Text | str]]] = {}
        for s in snap.sessions:
            if not self._matches(s.id, s.phone, s.state.value, s.flags):
                continue
            key = conn_key(s, short)
            hit = self._conn_cache.get(s.id)
            cells = hit[1] if hit is not None and hit[0] == key else conn_cells(s, short)
            cache[s.id] = (key, cells)
            conns[s.id] = cells
        self._conn_cache = cache
        self.conn_table.sync(conns)
        self.age_rows(self.papp.clock.now())
        users: dict[str, dict[str, Text | str]] = {}
        user_cache: dict[str, tuple[object, dict[str, Text | str]]] = {}
        if snap.redis is not None:
            ushort = self._user_layout.short_ids
            for u in snap.redis.sessions:
                if self._matches(u.session_id, u.phone, u.value_class.value, (u.index.value,)):
                    old = self._user_cache.get(u.session_id)
                    cells = old[1] if old is not None and old[0] == (u, ushort) else user_cells(u, ushort)
                    user_cache[u.session_id] = ((u, ushort), cells)
                    users[u.session_id] = cells
        self._user_cache = user_cache
        self.user_table.sync(users)
        self.refresh_details()

    def refresh_header(self) -> None:
        snap = self.snap
        if snap is None:
            return
        lines = {
            "#hdr-gateway": gateway_line(snap.gateway_kind, snap.gateway_url, snap.gateway, self.papp.polling),
            "#hdr-redis": redis_line(snap.redis, bool(snap.extra.get("redis_pending"))),
            "#hdr-keys": keys_line(snap, self.papp.config.read_only),
        }
        for selector, text in lines.items():
            if self._header.get(selector) != text:  # an unchanged line costs no repaint
                self._header[selector] = text
                self.query_one(selector, Static).update(text, layout=False)  # fixed one-row lines

    def _matches(self, *fields: object) -> bool:
        if not self.filter_text:
            return True
        needle = self.filter_text.lower()
        for f in fields:
            if f is None:
                continue
            if isinstance(f, (set, frozenset, tuple)):
                if any(needle in str(x).lower() for x in f):
                    return True
            elif needle in str(f).lower():
                return True
        return False

    def tick(self) -> None:
        """Once a second: the time columns of the rows on screen, when they can have changed.

        Durations move in 1 s steps under 10 s and in 5 s steps above, so rows with a duration under 10 s are
        aged every second and the others every 5 s: a row that changes costs its own repaint, and while one
        session is young the other rows need not be looked at each second.
        """
        if self.snap is None:
            return
        now = self.papp.clock.now()
        if now - self._aged_at >= 5:
            self.age_rows(now)
            return
        young = [key for key in self.conn_table.visible_keys()
                 if (s := self._by_id.get(key)) is not None and _young(s, now)]
        if young:
            self._age(young, now)

    def age_rows(self, now: float) -> None:
        """Time in state and last seen, for the rows on screen (a cell that did not change is not touched)."""
        self._aged_at = now
        self._age(self.conn_table.visible_keys(), now)

    def _age(self, keys: Iterable[str], now: float) -> None:
        table = self.conn_table
        columns: dict[str, dict[str, Text | str]] = {"in_state": {}, "activity": {}}
        for key in keys:
            s = self._by_id.get(key)
            if s is not None:
                for column, value in time_cells(s, now).items():
                    columns[column][key] = value
        for column, values in columns.items():
            table.update_column(column, values)

    def refresh_details(self) -> None:
        text = self.details_for_selection()
        if text == self._details:
            return  # nothing changed: no repaint
        body = self.query_one("#details-body", Static)
        width = max(1, body.content_size.width)
        rows = len(text.wrap(self.app.console, width))
        # Same height (a duration ticked): repaint only; a re-layout of the whole screen costs ~20 ms.
        body.update(text, layout=rows != self._details_rows)
        self._details, self._details_rows = text, rows

    def details_for_selection(self) -> Text:
        snap = self.snap
        if snap is None:
            return Text("Waiting for the first poll…")
        if self.active_tab == "users":
            key = self.user_table.selected_key
            if snap.redis is not None:
                for u in snap.redis.sessions:
                    if u.session_id == key:
                        return user_details(u)
            return Text("Select a linked user.")
        sid = self.conn_table.selected_key
        s = snap.session(sid) if sid else None
        if s is None and not snap.sessions:
            return Text("No WhatsApp sessions found yet.\n\nSalesboy has no route that lists sessions: point "
                        "PULSE_TUI_AUTH_DIR (--auth-dir) at the gateway's .wwebjs_auth, or name ids in "
                        "PULSE_TUI_SESSIONS (--session).")
        if s is None:
            return Text("Select a session.")
        text = session_details(s, snap)
        lines = self.papp.log_pane.lines_mentioning(s.id)
        if lines:
            text.append("\nIn the log (g: only its lines)\n", style="bold")
            for line in lines:
                text.append(f"  {visible(line.text[:200])}\n", style="red" if line.is_error else "dim")
        return text

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "conn-table":
            self.papp.source.watch(self.conn_table.selected_key)
        self.refresh_details()

    @on(TabbedContent.TabActivated)
    def _tab_changed(self, event: TabbedContent.TabActivated) -> None:
        self.refresh_details()

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        """Enter: the QR view for a session waiting for a scan, else its details (full screen when narrow)."""
        event.stop()
        sid = self.conn_table.selected_key if event.data_table.id == "conn-table" else None
        s = self.snap.session(sid) if (self.snap and sid) else None
        if s is not None and s.state == ConnState.QR:
            self.papp.open_qr(s.id)
        elif self.has_class("-narrow"):
            self.app.push_screen(TextScreen("Details", self.details_for_selection()))

    # --- keys ------------------------------------------------------------------------------------------------

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(help_text(str(self.papp.audit.path), self.papp.config.read_only)))

    def action_tab(self, tab: str) -> None:
        self.query_one("#tabs", TabbedContent).active = tab
        (self.conn_table if tab == "conns" else self.user_table).focus()

    def action_cursor(self, direction: str) -> None:
        table = self.user_table if self.active_tab == "users" else self.conn_table
        if direction == "down":
            table.action_cursor_down()
        else:
            table.action_cursor_up()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        if self.snap is not None:
            self.show(self.snap)

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        (self.user_table if self.active_tab == "users" else self.conn_table).focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if box.display or self.filter_text:
            box.value = ""
            box.display = False
            self.filter_text = ""
            if self.snap is not None:
                self.show(self.snap)
            self.conn_table.focus()

    def action_focus_log(self) -> None:
        self.papp.focus_log()

    def action_log_of_session(self) -> None:
        """Show only the selected session's log lines (again: all lines)."""
        key = (self.user_table if self.active_tab == "users" else self.conn_table).selected_key
        pane = self.papp.log_pane
        pane.show_session(None if pane.session_filter == key else key)

    def action_log_follow(self) -> None:
        self.papp.log_action("toggle_follow")

    def action_log_wrap(self) -> None:
        self.papp.log_action("toggle_wrap")

    def action_doctor(self) -> None:
        if self.snap is not None:
            self.app.push_screen(TextScreen("Doctor (refreshed with each poll; Esc closes)",
                                            findings_text(self.snap), kind="doctor"))

    def action_poll_now(self) -> None:
        self.papp.poll_now()

    def action_copy_id(self) -> None:
        key = (self.user_table if self.active_tab == "users" else self.conn_table).selected_key
        if key:
            self.app.copy_to_clipboard(key)
            self.notify(f"Copied {key}")

    # --- actions (each confirmed, bound to the id captured now) ------------------------------------------------

    def _target(self, verb: str) -> str | None:
        """The session under the cursor on the connections tab, or None with a notice why."""
        if self.papp.config.read_only:
            self.notify(f"Read-only mode: {verb} is disabled.", severity="warning")
            return None
        if self.active_tab != "conns":
            self.notify("Actions work on WhatsApp connections (tab 1); Redis is only read here.",
                        severity="warning")
            return None
        sid = self.conn_table.selected_key
        if not sid:
            self.notify("No session selected.", severity="warning")
        return sid

    def action_start(self) -> None:
        sid = self._target("start")
        if sid is None:
            return
        s = self.snap.session(sid) if self.snap else None
        if s is not None and s.state == ConnState.QR:
            self.papp.open_qr(sid)
            return
        if s is not None and s.state == ConnState.CONNECTED:
            self.notify(f"{sid} is already connected.")
            return
        if self.papp.gateway.kind == "salesboy" and (why := salesboy_id_error(sid)):
            self.notify(f"The gateway answers \"{why}\" for {sid}: only UUID user ids can start (and only "
                        "their auth dirs are restored).", severity="warning")
            return
        restore = s is not None and s.restorable
        what = ("Its auth is on disk: it should reconnect without a QR." if restore
                else "It has no usable auth: a QR code will be shown to scan.")
        self._confirm("start", sid, ConfirmScreen(sid, f"Start {sid}?", f"Starts a WhatsApp client for {sid}. {what}",
                                                  "Start"))

    def action_disconnect(self) -> None:
        sid = self._target("disconnect")
        if sid is None:
            return
        s = self.snap.session(sid) if self.snap else None
        if s is not None and s.state not in (*RUNNING, ConnState.UNKNOWN):
            self.notify(f"{sid} has no running client: nothing to disconnect (x deletes its auth dir).",
                        severity="warning")
            return
        if self.papp.gateway.kind == "salesboy":
            consequence = ("The gateway destroys its WhatsApp client and DELETES its auth files; "
                           "the next start needs a new QR scan on the phone.")
        else:
            consequence = "Pulse logs it out: WhatsApp unlinks this device; the next start needs a new QR scan."
        self._confirm("stop", sid, ConfirmScreen(sid, f"Disconnect {sid}?", consequence, "Disconnect"))

    def action_restart(self) -> None:
        sid = self._target("restart")
        if sid is None:
            return
        if not self.papp.gateway.supports_restart:
            self.notify(f"The {self.papp.gateway.kind} gateway has no restart route.", severity="warning")
            return
        self._confirm("restart", sid, ConfirmScreen(
            sid, f"Restart {sid}?", f"Restarts the WhatsApp client of {sid}; it is offline for a moment.", "Restart"))

    def action_delete(self) -> None:
        sid = self._target("delete")
        if sid is None:
            return
        s = self.snap.session(sid) if self.snap else None
        if s is not None and s.state in RUNNING:
            self.notify(f"{sid} has a running client: disconnect it first (d).", severity="warning")
            return
        self._confirm("delete", sid, TypeToConfirm(
            sid, f"Delete the auth of {sid}?",
            f"Removes {s.auth_dir if s and s.auth_dir else 'its auth dir'}. It cannot be restored: "
            "the next start needs a new QR scan."))

    def action_clear_lock(self) -> None:
        sid = self._target("clear lock")
        s = self.snap.session(sid) if (self.snap and sid) else None
        if sid is None or s is None:
            return
        if s.lock == "foreign":
            host = s.lock_info.host if s.lock_info and s.lock_info.host else "another host"  # from the symlink
            self.notify(f"{markup(sid)}: the lock was written on {markup(host)}; the next start fails (exit 21). "
                        "Clear it by hand, only if no browser on that host uses this profile.", severity="error")
            return
        if s.lock != "stale":
            self.notify(f"{sid} has no stale profile lock (lock: {s.lock}).", severity="warning")
            return
        where = s.lock_info.profile_dir if s.lock_info else "its profile dir"
        pid = s.lock_info.pid if s.lock_info else "?"
        self._confirm("clear-lock", sid, ConfirmScreen(
            sid, f"Clear the old lock of {sid}?",
            f"Removes SingletonLock/SingletonSocket/SingletonCookie in {where}. Their browser (pid {pid}, this "
            "host) is dead; this is checked again at the moment of removing. Optional: Chromium clears a lock "
            "like this itself at the next start.", "Clear lock"))

    def offer_start(self, sid: str) -> None:
        """After a cleared lock: the session can start again."""
        self._confirm("start", sid, ConfirmScreen(sid, f"Start {sid} now?",
                                                  "The old lock is gone: its browser can start again.", "Start"))

    def action_kill_orphan(self) -> None:
        sid = self._target("kill orphan")
        s = self.snap.session(sid) if (self.snap and sid) else None
        if sid is None or s is None:
            return
        if not s.orphans:
            self.notify(f"{sid} has no orphaned browser.", severity="warning")
            return
        pids = [p for o in s.orphans for p in o.pids]
        pss = [o.pss_bytes for o in s.orphans if o.pss_bytes is not None]
        size = (f"{sum(pss) / 2**20:.0f} MiB PSS" if pss
                else f"{sum(o.rss_bytes for o in s.orphans) / 2**20:.0f} MiB RSS")
        self._confirm("kill-orphan", sid, ConfirmScreen(
            sid, f"Kill the orphaned browser of {sid}?",
            f"Asks Chromium to exit (SIGHUP, so it removes its lock; SIGTERM after 5 s, SIGKILL after 5 more) "
            f"for {len(pids)} process(es) ({size}): "
            f"{', '.join(map(str, pids[:12]))}. Checked again at the moment of acting: if the gateway owns "
            "the browser again, nothing is killed.", "Kill"))

    def action_restart_gateway(self) -> None:
        if self.papp.config.read_only:
            self.notify("Read-only mode: restart gateway is disabled.", severity="warning")
            return
        from pulse_tui.monitor.host import pm2_app_for

        app_name = pm2_app_for(self.papp.config)
        self._confirm("restart-gateway", app_name, ConfirmScreen(
            app_name, f"Restart the gateway (pm2 restart {app_name})?",
            "Every WhatsApp client stops; the gateway then restores each auth dir, one every 5 s. "
            "Sessions without a usable auth dir will need a QR scan.", "Restart gateway"))

    def _confirm(self, action: str, sid: str, modal: ModalScreen[bool]) -> None:
        # The callback carries `sid` as captured now, never the row under the cursor later.
        self.app.push_screen(modal, callback=partial(self._answered, action, sid))

    def _answered(self, action: str, sid: str, yes: bool | None) -> None:
        if yes:
            self.perform_confirmed(action, sid)
        else:
            self.notify(f"Cancelled: nothing was done to {sid}.")

    @work(group="actions")
    async def perform_confirmed(self, action: str, sid: str) -> None:
        await self.papp.perform(action, sid)
