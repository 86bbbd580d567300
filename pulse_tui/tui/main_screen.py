"""The operator's screen: header, sessions table (two tabs), details, log, footer; and every key on it.

Widgets only render snapshots. The screen never calls the app: what it shows comes down as attributes and
`show(snapshot)`; what the operator asks for goes up as messages (`ActionRequested`, `QrRequested`, …), which
the app handles in workers, so no key waits on I/O. The action keys, footer and dialogs come from
`pulse_tui.actions.SPECS`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, ClassVar

from rich.console import RenderableType
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Input, Static, TabbedContent, TabPane

from pulse_tui.actions import SPECS, ActionSpec, Confirm, Scope, spec_for
from pulse_tui.clock import Clock
from pulse_tui.model import ConnState, SessionView, Snapshot
from pulse_tui.sanitize import visible
from pulse_tui.tui.confirm import ConfirmScreen, TypeToConfirm
from pulse_tui.tui.details import findings_page, session_details, user_details, watch_decisions
from pulse_tui.tui.footer import KeysFooter
from pulse_tui.tui.help import HelpScreen, help_text
from pulse_tui.tui.log_pane import LogPane
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
from pulse_tui.tui.text_rows import TextRows

if TYPE_CHECKING:
    from pulse_tui.actions import Capabilities
    from pulse_tui.watch.journal import Entry

NARROW = 110  # below this width the details pane folds away (enter shows it full screen)
MEDIUM = 150  # below this width the details pane is narrower
DETAILS_WIDTHS = {"wide": 48, "medium": 36}  # as in pulse.tcss
# Below this the table shows no session row (header, tabs and log take the height; the core columns the width).
MIN_WIDTH, MIN_HEIGHT = 60, 16


def action_bindings(specs: Iterable[ActionSpec] = SPECS) -> list[BindingType]:
    """One binding per action spec: its key, its verb in the footer when the spec says so."""
    return [Binding(spec.key, f"act({spec.name!r})", spec.verb, show=spec.show) for spec in specs]


def _young(s: SessionView, now: float) -> bool:
    """A time cell of this session moves every second: under 10 s (ui_words.duration), or its step to "10s"."""
    return now - s.since < 11 or (s.last_activity is not None and now - s.last_activity < 11)


class TextScreen(ModalScreen[None]):
    """A scrollable page of text (details on a narrow terminal, the doctor's findings)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,enter", "dismiss(None)", "Close")]

    def __init__(self, title: str, body: RenderableType, kind: str = "") -> None:
        super().__init__(classes="text-page")
        self.title_text = title
        self.body = body
        self.kind = kind  # "doctor": refreshed with every poll

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="page-box"):
            yield Static(self.title_text, id="page-title", markup=False)
            yield Static(self.body, id="page-body")

    def update_body(self, body: RenderableType) -> None:
        self.body = body
        self.query_one("#page-body", Static).update(body)


class MainScreen(Screen[None]):
    """Sessions, details, log; actions behind confirmations bound to the id captured when they opened."""

    AUTO_FOCUS = "#conn-table"  # focused as the screen first shows: no second focus change after mount
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "app.quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        *action_bindings(),
        Binding("slash", "filter", "Filter"),
        Binding("1", "tab('conns')", "Connections", show=False),
        Binding("2", "tab('users')", "Users", show=False),
        Binding("l", "focus_log", "Log"),
        Binding("g", "log_of_session", "Its log", show=False),
        Binding("f", "log_follow", "Follow", show=False),
        Binding("w", "log_wrap", "Wrap", show=False),
        Binding("D", "doctor", "Doctor"),
        Binding("W", "watchdog", "Watchdog", show=False),
        Binding("C", "reset_circuit", "Reset circuit", show=False),
        Binding("ctrl+r", "poll_now", "Poll", show=False),
        Binding("c", "copy_id", "Copy id", show=False),
        Binding("j", "cursor('down')", "Down", show=False),
        Binding("k", "cursor('up')", "Up", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    @dataclass
    class Ready(Message):
        """Mounted: the app may start its tick, its log feed and show what it has."""

    @dataclass
    class ActionRequested(Message):
        """The operator confirmed action `name` on `target` (a session id, or the pm2 app)."""

        name: str
        target: str

    @dataclass
    class QrRequested(Message):
        """Show the QR view of this session."""

        session_id: str

    @dataclass
    class Watched(Message):
        """The cursor is on this session (None: on none): the monitor polls it more often."""

        session_id: str | None

    @dataclass
    class PollRequested(Message):
        """ctrl+r: poll now."""

    @dataclass
    class WatchdogToggled(Message):
        """`W`: switch the TUI's watchdog on or off (the app decides whether it may)."""

    @dataclass
    class CircuitResetRequested(Message):
        """`C`, confirmed: close the watchdog's open circuit of this session (it reconnects it by policy again)."""

        session_id: str

    def __init__(self, log_pane: LogPane, *, clock: Clock, read_only: bool = False, audit_path: str = "",
                 pm2_app: str = "") -> None:
        super().__init__(id="main")
        self.log_pane = log_pane  # given by the app, which feeds it
        self.clock = clock
        self.read_only = read_only
        self.audit_path = audit_path
        self.pm2_app = pm2_app
        self.capabilities: Capabilities | None = None  # set by the app once its gateway exists
        self.polling = False  # set by the app: the header says so during a slow poll
        self.snap: Snapshot | None = None
        self.filter_text = ""
        self._width = 0
        # Kept as attributes: TabbedContent mounts its panes late, so a query in on_mount may miss them.
        self.conn_table = SyncedTable(id="conn-table")
        self.user_table = SyncedTable(id="user-table")
        self._by_id: dict[str, SessionView] = {}
        self._header: dict[str, Text] = {}
        self.watch_journal: dict[str, list[Entry]] = {}  # set by the app: each session's last watchdog decisions
        self._aged_at = 0.0
        self._conn_cache: dict[str, tuple[tuple[object, ...], dict[str, Text | str]]] = {}
        self._user_cache: dict[str, tuple[object, dict[str, Text | str]]] = {}
        self._conn_layout = fit_columns(CONN_COLUMNS, 200)
        self._user_layout = fit_columns(USER_COLUMNS, 200)

    # --- layout --------------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(id="header"):
            yield Static(Text("Gateway  waiting for the first poll…"), id="hdr-gateway")
            yield Static(Text("Redis"), id="hdr-redis")
            yield Static(Text("Keys"), id="hdr-keys")
            yield Static(Text("Watch"), id="hdr-watch")  # shown once the app has a watchdog to offer
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield Input(placeholder="filter: id, phone, state or flag (Esc clears)", id="filter")
                with TabbedContent(id="tabs", initial="conns"):
                    with TabPane("1 Connections", id="conns"):
                        yield self.conn_table
                    with TabPane("2 Linked users (Redis)", id="users"):
                        yield self.user_table
            with VerticalScroll(id="details"):
                yield TextRows(Text("Select a session."), id="details-body")
        yield self.log_pane
        yield Static("", id="too-small", markup=False)
        yield KeysFooter()

    def on_mount(self) -> None:
        self._fit_terminal()
        self._layout(self.size.width)
        self.post_message(self.Ready())

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
        filtering = bool(self.filter_text)  # asked once: 10,000 calls (and `state.value`s) were ~10 ms a poll
        cached = self._conn_cache.get
        for s in snap.sessions:
            sid = s.id
            if filtering and not self._matches(sid, s.phone, s.state.value, s.flags):
                continue
            key = conn_key(s, short)
            hit = cached(sid)
            cells = hit[1] if hit is not None and hit[0] == key else conn_cells(s, short)
            cache[sid] = (key, cells)
            conns[sid] = cells
        self._conn_cache = cache
        self.conn_table.sync(conns)
        self.age_rows(self.clock.now())
        users: dict[str, dict[str, Text | str]] = {}
        user_cache: dict[str, tuple[object, dict[str, Text | str]]] = {}
        if snap.redis is not None:
            ushort = self._user_layout.short_ids
            for u in snap.redis.sessions:
                if not filtering or self._matches(u.session_id, u.phone, u.value_class.value, (u.index.value,)):
                    old = self._user_cache.get(u.session_id)
                    cells = old[1] if old is not None and old[0] == (u, ushort) else user_cells(u, ushort)
                    user_cache[u.session_id] = ((u, ushort), cells)
                    users[u.session_id] = cells
        self._user_cache = user_cache
        self.user_table.sync(users)
        self.refresh_details()

    def show_first(self, snap: Snapshot) -> None:
        """A snapshot that came before the app started on this screen (its first poll is under way as the app loads):
        shown now if mounted, else as it mounts, so that its rows are in the screen's first frame."""
        self.snap = snap
        if self.is_mounted:  # else on_mount's layout shows it
            self.show(snap)

    def refresh_header(self) -> None:
        snap = self.snap
        if snap is None:
            return
        lines = {
            "#hdr-gateway": gateway_line(snap.gateway_kind, snap.gateway_url, snap.gateway, self.polling,
                                         snap.events),
            "#hdr-redis": redis_line(snap.redis, snap.redis_pending),
            "#hdr-keys": keys_line(snap, self.read_only,
                                   browsers=self.capabilities is None or self.capabilities.browser_per_session),
        }
        for selector, text in lines.items():
            if self._header.get(selector) != text:  # an unchanged line costs no repaint
                self._header[selector] = text
                self.query_one(selector, Static).update(text, layout=False)  # fixed one-row lines

    def show_watch(self, text: Text) -> None:
        """The watchdog's header line (its first call shows the line: only an app that can watch calls it)."""
        self.add_class("-watch")
        if self._header.get("#hdr-watch") != text:
            self._header["#hdr-watch"] = text
            self.query_one("#hdr-watch", Static).update(text, layout=False)

    def show_watch_journal(self, decisions: dict[str, list[Entry]]) -> None:
        """Each session's last watchdog decisions, for its details."""
        if decisions != self.watch_journal:
            self.watch_journal = decisions
            self.refresh_details()

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
        now = self.clock.now()
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
        # TextRows repaints only the rows that changed (an age, a browser's memory), and lays out only on a new height.
        self.query_one("#details-body", TextRows).update(self.details_for_selection())

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
            if self.capabilities is not None and self.capabilities.lists_sessions:
                return Text("No WhatsApp sessions found yet: the gateway lists none.")
            return Text("No WhatsApp sessions found yet.\n\nThis gateway has no route that lists sessions: point "
                        "PULSE_TUI_AUTH_DIR (--auth-dir) at the gateway's .wwebjs_auth, or name ids in "
                        "PULSE_TUI_SESSIONS (--session).")
        if s is None:
            return Text("Select a session.")
        text = session_details(s, snap)
        text.append_text(watch_decisions(self.watch_journal.get(s.id, [])))
        lines = self.log_pane.lines_mentioning(s.id)
        if lines:
            text.append("\nIn the log (g: only its lines)\n", style="bold")
            for line in lines:
                text.append(f"  {visible(line.text[:200])}\n", style="red" if line.is_error else "dim")
        return text

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "conn-table":
            self.post_message(self.Watched(self.conn_table.selected_key))
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
            self.post_message(self.QrRequested(s.id))
        elif self.has_class("-narrow"):
            self.app.push_screen(TextScreen("Details", self.details_for_selection()))

    # --- keys ------------------------------------------------------------------------------------------------

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(help_text(self.audit_path, self.read_only)))

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
        """`l`: focus the log; pressed again, the log takes the whole screen (and back)."""
        if self.log_pane.has_focus_within:
            self.toggle_class("-log-full")
        self.log_pane.view.focus()

    def action_log_of_session(self) -> None:
        """Show only the selected session's log lines (again: all lines)."""
        key = (self.user_table if self.active_tab == "users" else self.conn_table).selected_key
        pane = self.log_pane
        pane.show_session(None if pane.session_filter == key else key)

    def action_log_follow(self) -> None:
        self.log_pane.action_toggle_follow()

    def action_log_wrap(self) -> None:
        self.log_pane.action_toggle_wrap()

    def action_doctor(self) -> None:
        if self.snap is not None:
            self.app.push_screen(TextScreen("Doctor (refreshed with each poll; Esc closes)",
                                            findings_page(self.snap), kind="doctor"))

    def action_watchdog(self) -> None:
        self.post_message(self.WatchdogToggled())

    def action_poll_now(self) -> None:
        self.post_message(self.PollRequested())

    def action_reset_circuit(self) -> None:
        """`C`: after a confirmation, close the circuit the watchdog (ours or a headless one) opened for the
        selected session; refused when its journal shows none open."""
        sid = self.conn_table.selected_key
        if not sid:
            self.notify("No session selected.", severity="warning")
            return
        last = self.watch_journal.get(sid, [])
        if not last or last[-1].kind != "circuit-open":
            self.notify(f"The watchdog has no open circuit for {sid}.", severity="warning")
            return
        modal = ConfirmScreen(sid, f"Reset the watchdog's circuit for {sid}?",
                              f"It was opened because: {last[-1].reason or 'the session kept failing'}. The watchdog "
                              "reconnects the session by policy again, its backoff starting over; nothing is sent "
                              "to the gateway now.", "Reset")
        self.app.push_screen(modal, callback=partial(self._reset_answered, sid))

    def _reset_answered(self, sid: str, yes: bool | None) -> None:
        if yes:
            self.post_message(self.CircuitResetRequested(sid))
        else:
            self.notify(f"Cancelled: the circuit of {sid} stays open.")

    def action_copy_id(self) -> None:
        key = (self.user_table if self.active_tab == "users" else self.conn_table).selected_key
        if key:
            self.app.copy_to_clipboard(key)
            self.notify(f"Copied {key}")

    # --- actions (generated from the specs; each confirmed, bound to the id captured now) ---------------------

    def _target(self, spec: ActionSpec) -> str | None:
        """What `spec` acts on now (the session under the cursor on tab 1, or the pm2 app), or None with a notice."""
        if self.read_only:
            self.notify(f"Read-only mode: {spec.verb.lower()} is disabled.", severity="warning")
            return None
        if spec.scope == Scope.GATEWAY:
            return self.pm2_app
        if self.active_tab != "conns":
            self.notify("Actions work on WhatsApp connections (tab 1); Redis is only read here.",
                        severity="warning")
            return None
        sid = self.conn_table.selected_key
        if not sid:
            self.notify("No session selected.", severity="warning")
        return sid

    def action_act(self, name: str) -> None:
        """Any action key: check it against the session as shown, then ask in the dialog its spec describes."""
        spec = spec_for(name)
        target = self._target(spec)
        if target is None:
            return
        caps = self.capabilities
        if caps is None:
            self.notify("Still connecting to the gateway.", severity="warning")
            return
        s = self.snap.session(target) if (self.snap and spec.scope == Scope.SESSION) else None
        if name == "start" and s is not None and s.state == ConnState.QR:
            self.post_message(self.QrRequested(target))  # it is waiting for a scan: show the scan
            return
        if (why := spec.refusal(s, caps)) is not None:
            self.notify(why, severity="warning")
            return
        title, body = spec.title(target, s, caps), spec.consequence(target, s, caps)
        modal: ModalScreen[bool] = (TypeToConfirm(target, title, body) if spec.confirm == Confirm.TYPE_ID
                                    else ConfirmScreen(target, title, body, spec.button_label))
        self._confirm(name, target, modal)

    def offer_start(self, sid: str) -> None:
        """After a cleared lock: the session can start again."""
        self._confirm("start", sid, ConfirmScreen(sid, f"Start {sid} now?",
                                                  "The old lock is gone: its browser can start again.", "Start"))

    def _confirm(self, action: str, sid: str, modal: ModalScreen[bool]) -> None:
        # The callback carries `sid` as captured now, never the row under the cursor later.
        self.app.push_screen(modal, callback=partial(self._answered, action, sid))

    def _answered(self, action: str, sid: str, yes: bool | None) -> None:
        if yes:
            self.post_message(self.ActionRequested(action, sid))
        else:
            self.notify(f"Cancelled: nothing was done to {sid}.")
