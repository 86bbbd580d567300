"""`pulse-tui fleet`: one read-only screen over every host Prometheus scrapes; enter lists a host's sessions, `o`
suspends the app and runs `ssh HOST pulse-tui` (from the contexts file), and the app resumes when it exits.

Everything shown comes from Prometheus labels, which any scraped target can set: it passes through `visible()`.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Static

from pulse_tui.fleet.contexts import Context, ssh_command
from pulse_tui.fleet.query import FleetFailure, FleetView, HostRow, PrometheusReader, SessionRow
from pulse_tui.sanitize import markup, visible
from pulse_tui.ui_words import in_state

Runner = Callable[[Sequence[str]], int]
HOST_COLUMNS = ("STATUS", "HOST", "JOB", "GATEWAY", "SESSIONS", "FINDINGS", "REDIS")
SESSION_COLUMNS = ("STATE", "SESSION", "IN STATE")
STATE_ORDER = ("connected", "qr", "starting", "restoring", "restorable", "stuck", "stopped", "unknown")


def _run(argv: Sequence[str]) -> int:
    return subprocess.run(list(argv), check=False).returncode


def host_cells(h: HostRow) -> tuple[Text, ...]:
    """One hosts-table row: words first (colour is never the only signal)."""
    if not h.scraped:
        status = Text("✗ not scraped", style="bold red")
    elif h.gateway not in ("ok", "out-of-budget", "rate-limited") or h.findings.get("critical"):
        status = Text("! attention", style="bold yellow")
    else:
        status = Text("● ok", style="green")
    total = sum(h.sessions.values())
    parts = [f"{h.sessions.get('connected', 0)}/{total} connected"]
    parts += [f"{n} {s}" for s in STATE_ORDER[1:] if (n := h.sessions.get(s, 0))]
    findings = ", ".join(f"{n} {sev}" for sev in ("critical", "warning", "unknown", "info")
                         if (n := h.findings.get(sev, 0))) or "none"
    redis = "—" if h.redis_up is None else ("down" if not h.redis_up else
                                             "ok" if h.persistence is not False else "ok, NOT persisting")
    gateway = f"{h.kind} {h.gateway}".strip() or "—"
    if h.budget_left is not None:
        gateway += f" · {h.budget_left:.0f} req left"
    return (status, *(Text(visible(v)) for v in (h.instance, h.job, gateway, "; ".join(parts), findings, redis)))


def session_cells(s: SessionRow, now: float) -> tuple[Text, ...]:
    shown = in_state(now - s.since, s.since_first_seen) if s.since is not None and s.since > 0 else "—"
    return (Text(visible(s.state)), Text(visible(s.session)), Text(shown))


class SessionsScreen(Screen[None]):
    """One host's WhatsApp connections as its exporter last reported them."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("o", "app.open_host", "Open pulse-tui on host"),
    ]

    def __init__(self, host: HostRow) -> None:
        super().__init__()
        self.host = host

    def compose(self) -> ComposeResult:
        yield Static(Text(f"{visible(self.host.instance)} ({visible(self.host.job)}): loading sessions…"),
                     id="fleet-title")
        yield DataTable(id="sessions", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*SESSION_COLUMNS)
        self.load()

    @work(exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        app = self.app
        assert isinstance(app, FleetApp)
        rows = await app.reader.sessions(self.host)
        title = self.query_one("#fleet-title", Static)
        if isinstance(rows, FleetFailure):
            title.update(Text(visible(rows.detail), style="red"))
            return
        table = self.query_one(DataTable)
        table.clear()
        now = time.time()
        for s in rows:
            table.add_row(*session_cells(s, now), key=s.session)
        title.update(Text(f"{visible(self.host.instance)} ({visible(self.host.job)}): {len(rows)} session(s)"))


class HostsScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "sessions", "Sessions"),
        Binding("o", "app.open_host", "Open pulse-tui on host"),
        Binding("ctrl+r", "app.refresh_now", "Refresh"),
        Binding("q", "app.quit", "Quit"),
    ]

    def compose(self) -> ComposeResult:
        yield Static(Text("asking Prometheus…"), id="fleet-title")
        yield DataTable(id="hosts", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*HOST_COLUMNS)

    def show(self, view: FleetView | FleetFailure, url: str) -> None:
        title = self.query_one("#fleet-title", Static)
        if isinstance(view, FleetFailure):
            title.update(Text(visible(view.detail) + " (showing the last answer)", style="red"))
            return
        table = self.query_one(DataTable)
        selected = self.selected_key()
        table.clear()
        for h in view.hosts:
            table.add_row(*host_cells(h), key=h.key)
        if selected is not None:
            keys = [h.key for h in view.hosts]
            if selected in keys:
                table.move_cursor(row=keys.index(selected))
        title.update(Text(f"{visible(url)} · {len(view.hosts)} host(s) · refreshed every {view.refresh_s:g} s · "
                          "read-only"))

    def selected_key(self) -> str | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a row (the table takes the key itself)."""
        event.stop()
        self.action_sessions()

    def action_sessions(self) -> None:
        app = self.app
        assert isinstance(app, FleetApp)
        host = app.host(self.selected_key())
        if host is not None:
            app.push_screen(SessionsScreen(host))


class FleetApp(App[int]):
    """Reads Prometheus on the scrape interval; never writes anything anywhere."""

    CSS = """
    #fleet-title { height: 1; padding: 0 1; background: $panel; }
    DataTable { height: 1fr; }
    """
    TITLE = "pulse-tui fleet"

    def __init__(self, reader: PrometheusReader, contexts: dict[str, Context], *, runner: Runner | None = None,
                 autorefresh: bool = True) -> None:
        super().__init__()
        self.reader = reader
        self.contexts = contexts
        self.runner = runner or _run
        self.autorefresh = autorefresh
        self.view: FleetView | None = None
        self.hosts_screen = HostsScreen()
        self._timer: Timer | None = None
        self.refreshes = 0

    def get_default_screen(self) -> HostsScreen:
        return self.hosts_screen

    def on_mount(self) -> None:
        self.refresh_now()

    def host(self, key: str | None) -> HostRow | None:
        if self.view is None or key is None:
            return None
        return next((h for h in self.view.hosts if h.key == key), None)

    def action_refresh_now(self) -> None:
        self.refresh_now()

    def refresh_now(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._refresh()

    @work(exclusive=True, group="fleet", exit_on_error=False)
    async def _refresh(self) -> None:
        view = await self.reader.fleet()
        if isinstance(view, FleetView):
            self.view = view
        self.hosts_screen.show(view, self.reader.url)
        self.refreshes += 1
        if self.autorefresh:
            every = view.refresh_s if isinstance(view, FleetView) else (self.view.refresh_s if self.view else 15.0)
            self._timer = self.set_timer(every, self._refresh)

    def current_host(self) -> HostRow | None:
        screen = self.screen
        if isinstance(screen, SessionsScreen):
            return screen.host
        return self.host(self.hosts_screen.selected_key())

    def action_open_host(self) -> None:
        """Suspend, run `ssh HOST pulse-tui`, resume: the remote app has the terminal meanwhile."""
        host = self.current_host()
        if host is None:
            return
        argv = ssh_command(host.instance, self.contexts)
        if argv is None:
            self.notify(f"{markup(host.instance)} is not a host ssh can reach; add it to the contexts file",
                        severity="warning")
            return
        try:
            with self.suspend():
                code = self.runner(argv)
        except Exception as exc:  # noqa: BLE001 - ssh missing, or no terminal to suspend: say so, keep running
            self.notify(f"could not run ssh: {type(exc).__name__}: {markup(str(exc))}", severity="error")
            return
        if code != 0:
            self.notify(f"ssh {markup(argv[3])} ended with exit code {code}", severity="warning")
        self.refresh_now()


def run_fleet(reader: PrometheusReader, contexts: dict[str, Context]) -> int:
    """Run the fleet screen until the operator quits."""
    return int(FleetApp(reader, contexts).run() or 0)
