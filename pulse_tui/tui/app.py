"""The Textual app: owns the poll loop, the actions, the QR view and the log feed; screens only render.

The main screen is given what it shows (the log pane, the clock, snapshots through `show`) and asks for
everything else with messages (`MainScreen.ActionRequested`…): it never calls the app. Actions run through
`pulse_tui.actions.perform`, the same path a script or the watchdog takes.

Built by `PulseApp(config, source, gateway, …)` with every dependency passed in (clock, audit log, log
feed), so tests build it against the simulator and a real Redis, or with canned snapshots for screenshots.
`PulseApp(config, targets=…)` takes the gateway's sources built before the app runs (`pulse-tui` and the demo:
their first poll's I/O overlaps Textual's start-up and its rows come in the first frame), Redis and the host probe
after the first rows; `PulseApp(config, connect=…)` paints first and builds them in a thread (when building them
before the app failed, and in tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, ClassVar, Protocol

from rich.text import Text
from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.notifications import SeverityLevel
from textual.timer import Timer
from textual.worker import Worker

from pulse_tui.actions import spec_for
from pulse_tui.audit import AuditLog, default_audit_path
from pulse_tui.clock import Clock, SystemClock
from pulse_tui.config import Config, ConfigError
from pulse_tui.model import ActionResult, ConnState, SessionView, Snapshot
from pulse_tui.monitor.logs import LogLine, RecentLines
from pulse_tui.sanitize import visible
from pulse_tui.tui.details import findings_page
from pulse_tui.tui.log_pane import LogPane
from pulse_tui.tui.main_screen import MainScreen, TextScreen
from pulse_tui.tui.rows import watch_line

if TYPE_CHECKING:
    # Imported when used: the QR stack (PNG decode, QR encode) and httpx cost start-up time for nothing.
    from pulse_tui.actions import Gateway
    from pulse_tui.monitor.build import Targets  # only types: their imports wait for the sources
    from pulse_tui.monitor.engine import SnapshotSource
    from pulse_tui.monitor.service import Monitor
    from pulse_tui.tui.qr_view import QrScreen
    from pulse_tui.watch.journal import Entry, Journal
    from pulse_tui.watch.policy import Policy
    from pulse_tui.watch.watchdog import Watchdog

WATCH_SHOWN = 8  # watchdog decisions shown in a session's details
WATCH_READ = 400  # journal entries read for them


class LogFeed(Protocol):
    """Batches of log lines, forever (the rotation-aware follower); closed when the app ends."""

    def __aiter__(self) -> AsyncIterator[list[LogLine]]: ...
    async def aclose(self) -> None: ...


class PulseApp(App[int]):
    CSS_PATH = "pulse.tcss"
    TITLE = "pulse-tui"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+q", "quit", "Quit", show=False, priority=True)]

    def __init__(
        self,
        config: Config,
        source: SnapshotSource | None = None,
        gateway: Gateway | None = None,
        *,
        connect: Callable[[], Targets] | None = None,
        targets: Targets | None = None,
        clock: Clock | None = None,
        audit: AuditLog | None = None,
        logs: LogFeed | None = None,
        recent: RecentLines | None = None,
        qr_session: str | None = None,
        autopoll: bool = True,
        on_close: Callable[[], Awaitable[None]] | None = None,
        watch_policy: Policy | None = None,
        host: Monitor | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        if connect is None and targets is None:
            if source is None or gateway is None:
                raise TypeError("PulseApp needs a source and a gateway, targets= or connect=")
            self.source: SnapshotSource = source
            self.gateway: Gateway = gateway
        # Until `connect` has run there is no snapshot, hence no row to act on: nothing reads source/gateway.
        self._connect = connect if targets is None else None
        self._connecting: asyncio.Future[Targets] | None = None
        self._complete: Callable[[], None] | None = None
        self._completing = False  # `_complete` runs in a thread
        self._on_close = on_close  # closes HTTP/Redis clients inside this app's event loop
        self._host = host  # the host probe (locks, orphans): given, or the connection's monitor; None in canned views
        if targets is not None:
            self._adopt(targets)
        self.clock = clock or SystemClock()
        self.audit = audit or AuditLog(config.audit_log or default_audit_path(), self.clock)
        self.logs = logs
        self.recent = recent
        self.qr_session = qr_session
        self.autopoll = autopoll
        self.polling = False
        self.snapshot: Snapshot | None = None
        log_pane = LogPane(config.log_lines, id="log", ascii=config.ascii)
        self.main = MainScreen(log_pane, clock=self.clock, read_only=config.read_only,
                               audit_path=str(self.audit.path), pm2_app=config.pm2_app_name())
        if config.state_dir is not None:
            # The header's watchdog line from the first frame: set at the first apply, the class restyled the
            # whole screen and moved the layout between the first poll and its rows.
            self.main.add_class("-watch")
        self.qr_screen: QrScreen | None = None
        self._poll_timer: Timer | None = None
        self._qr_mode_started = False
        self._screen_ready = False
        self._ui_loop: asyncio.AbstractEventLoop | None = None  # for exit_from_thread
        # The watchdog (`W`): built at the first press, off until then; its policy from the environment unless given.
        self.watch_policy = watch_policy
        self.watchdog: Watchdog | None = None
        self._watch_next: Snapshot | None = None  # the newest snapshot not yet stepped
        self._watch_busy = False  # a step is under way: never two at once
        self._journal: Journal | None = None
        self._journal_seen: tuple[int, int] | None = None  # (size, mtime) of the journal last read

    # --- lifecycle ------------------------------------------------------------------------------------------

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Every toast, plain: they quote session ids and gateway answers (markup and controls shown as text)."""
        super().notify(visible(message), title=visible(title), severity=severity, timeout=timeout, markup=False)

    def get_default_screen(self) -> MainScreen:
        return self.main

    @property
    def connected(self) -> bool:
        """True once the sources exist (at once when they were passed in)."""
        return self._connect is None

    @property
    def sources_complete(self) -> bool:
        """True once every source and the doctor's checks exist (the first snapshot may come before: gateway only)."""
        return self.connected and self._complete is None and not self._completing

    def on_load(self) -> None:
        """With sources given, the first poll starts before the screen is built: its I/O overlaps start-up."""
        if self.connected:
            self._connected()
            self.poll_now()

    def on_main_screen_ready(self, event: MainScreen.Ready) -> None:
        self.start()

    def on_main_screen_action_requested(self, event: MainScreen.ActionRequested) -> None:
        self.run_worker(self.perform(event.name, event.target), group="actions")

    def on_main_screen_qr_requested(self, event: MainScreen.QrRequested) -> None:
        self.open_qr(event.session_id)

    def on_main_screen_watched(self, event: MainScreen.Watched) -> None:
        if self.connected:
            self.source.watch(event.session_id)

    def on_main_screen_poll_requested(self, event: MainScreen.PollRequested) -> None:
        self.poll_now()

    def on_main_screen_watchdog_toggled(self, event: MainScreen.WatchdogToggled) -> None:
        self.toggle_watchdog()

    def on_main_screen_circuit_reset_requested(self, event: MainScreen.CircuitResetRequested) -> None:
        self.run_worker(self.reset_circuit(event.session_id), group="actions")

    async def reset_circuit(self, sid: str) -> None:
        """Close the watchdog's circuit of `sid`: a reset entry in its journal, which every watchdog on this gateway
        (ours, or `pulse-tui watch`) applies, as `pulse-tui watch --reset` writes it; audited."""
        if self.config.read_only:
            self.notify("Read-only mode: the circuit stays open.", severity="warning")
            return
        self._show_journal()
        if self._journal is None:
            self.notify("XDG_STATE_HOME (or HOME) must be set: the watchdog's journal lives there.", severity="warning")
            return
        from pulse_tui.watch.journal import RESET, Entry

        journal = self._journal
        await asyncio.to_thread(journal.append, Entry(self.clock.now(), RESET, sid, reason="operator reset (TUI)"))
        if journal.error:
            self.notify(f"The reset was not written: {journal.error}", severity="error")
            return
        if self.watchdog is not None:
            self.watchdog.reset(sid)  # ours applies it at once; a headless one at its next step
        await asyncio.to_thread(self.audit.record, "reset-circuit", sid, True, "watchdog circuit closed",
                                gateway=self.gateway.kind, reason="operator")
        self._show_journal()
        self.notify(f"Circuit of {sid} reset: the watchdog may reconnect it again.", title="Done")

    def start(self) -> None:
        """Once the main screen is mounted: the 1 s tick, the log feed, signal handling."""
        self._screen_ready = True
        self._show_watch()  # "off" until `W`, connected or not
        if self.snapshot is not None:
            self.apply(self.snapshot)
        loop = self._ui_loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            # A closed ssh session or a kill ends the app cleanly, so the demo removes what it started.
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.exit)
        self.set_interval(1.0, self._tick)
        if self.connected and self.logs is not None:
            self._follow_logs()

    def exit_from_thread(self, code: int) -> None:
        """Ask the app to exit with `code`, from any thread, without waiting (its loop may be blocked)."""
        loop = self._ui_loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed: the app has ended
                loop.call_soon_threadsafe(self.exit, code)

    def on_ready(self) -> None:
        """The first frame is on the terminal (Textual's Ready): build the sources now, beside the footer's
        keys and the frames that follow, not after them."""
        if not self.connected:
            # `connect=`: paint first, then build in a thread. A thread from launch or from on_load was
            # measured for issue 15: the first frame came 0.2-0.9 s later and the session row no sooner in 2 of 3
            # runs (those imports hold the GIL). run_app builds them before the app instead (`targets=`).
            self.poll_now()

    async def on_unmount(self) -> None:
        """Close connections and the log follower while our event loop still runs."""
        closers: list[Callable[[], Awaitable[object]]] = []
        if self._on_close is not None:
            closers.append(self._on_close)
        if self.logs is not None:
            closers.append(self.logs.aclose)
        if self.watchdog is not None:
            self.watchdog.stopping = True
            if self.watchdog.lock is not None:
                self.watchdog.lock.release()  # a headless watchdog may act from now on
        for close in closers:
            with contextlib.suppress(Exception):  # quitting must never end in a traceback
                await close()

    def _tick(self) -> None:
        with contextlib.suppress(NoMatches):  # a tick that lands while the app closes
            self.main.tick()
            if self.watchdog is not None and self.watchdog.enabled:
                self._show_watch()  # the countdown to its next action; an observer retries the lock

    @property
    def log_pane(self) -> LogPane:
        return self.main.log_pane

    # --- the log feed ---------------------------------------------------------------------------------------

    @work(group="logs", exit_on_error=False)
    async def _follow_logs(self) -> None:
        """Each batch, once the engine has applied its state messages (no request spent), goes to the log pane
        (which paints at most once a second: each paint of a batch was a frame of its own)."""
        assert self.logs is not None
        async for batch in self.source.follow(self.logs):
            self.log_pane.feed(batch.lines)
            if self.recent is not None:
                self.recent.add(batch.lines)
            if batch.snapshot is not None:
                self.apply(batch.snapshot)

    # --- connecting (`connect=`: the sources are built in a thread once the screen is painted) -----------------

    async def _ensure_connected(self) -> None:
        """Build the sources once; a poll replaced while they are being built waits for the same build."""
        if self._connect is None:
            return
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(asyncio.to_thread(self._connect))
        try:
            conn = await asyncio.shield(self._connecting)
        except Exception:
            self._connecting = None  # the next poll tries again
            raise
        if self._connect is None:
            return  # another poll took this connection already
        self._connect = None
        self._adopt(conn)
        self._connected()
        if self._screen_ready and self.logs is not None:
            self._follow_logs()

    def _adopt(self, conn: Targets) -> None:
        """Read and act through these sources from now on."""
        # The engine is what the app reads and acts through; the monitor behind it is the host actions' probe.
        self.source, self.gateway = conn.engine, conn.gateway
        self._on_close = conn.aclose
        self._host = conn.monitor
        self._complete = conn.complete  # Redis and the host probe: built once the first snapshot is on screen
        conn.engine.on_change = self._pushed

    def _pushed(self, snap: Snapshot) -> None:
        """A snapshot an event channel produced (no request spent): shown at once, like a poll's."""
        if not self.polling:  # a poll under way shows it anyway
            with contextlib.suppress(NoMatches):
                self.apply(snap)

    def _connected(self) -> None:
        self.main.capabilities = self.gateway.capabilities
        if self.qr_session:
            self.source.add_session(self.qr_session)

    # --- polling (never two at once: the next poll is armed when this one ends) -------------------------------

    def poll_now(self) -> Worker[None]:
        """Poll at once (ctrl+r, after an action); a running poll is replaced, not stacked."""
        if self._poll_timer is not None:
            self._poll_timer.stop()
            self._poll_timer = None
        return self._poll()

    @work(exclusive=True, group="poll", exit_on_error=False)
    async def _poll(self) -> None:
        self.polling = True
        # The header's "polling" mark only for a slow poll: a quick one would cost two repaints for nothing.
        slow = self.set_timer(1.0, self._show_polling)
        snap: Snapshot | None = None
        replaced = False
        try:
            try:
                await self._ensure_connected()
            except Exception as exc:  # noqa: BLE001 - shown, and tried again at the next poll
                self.notify(f"Setting up the sources failed ({type(exc).__name__}); retrying.", severity="error")
                return
            snap = await self.source.poll()
        except asyncio.CancelledError:
            replaced = True  # poll_now() started a newer poll: that one arms the next timer
            raise
        except Exception as exc:  # noqa: BLE001 - a source bug must not kill the UI; show it and go on
            self.notify(f"Poll failed ({type(exc).__name__}); retrying.", severity="error")
        finally:
            self.polling = self.main.polling = False
            slow.stop()
            # A first Redis inspection that outlived its poll (key derivation, a slow Redis) is shown the
            # moment it lands, without another poll.
            if snap is not None and snap.redis_pending:
                self._apply_when_settled()
            if self.autopoll and not replaced:
                if self._poll_timer is not None:
                    self._poll_timer.stop()  # one chain of polls, never two
                self._poll_timer = self.set_timer(self.config.poll_seconds, self._poll)
        if snap is not None:
            with contextlib.suppress(NoMatches):
                self.apply(snap)
            if self._complete is not None:
                # After the rows are painted: the Redis, crypto and host stacks' imports hold the GIL for ~0.2 s,
                # and in a thread beside the paint they made the rows' frame wait for them.
                self.call_after_refresh(self._complete_sources)

    @work(group="complete", exit_on_error=False)
    async def _complete_sources(self) -> None:
        """After the first gateway snapshot: build Redis and the host probe off the UI thread, then poll at once."""
        complete, self._complete = self._complete, None
        if complete is not None:
            self._completing = True
            try:
                await asyncio.to_thread(complete)
            finally:
                self._completing = False
            self.poll_now()

    @work(exclusive=True, group="redis-settled", exit_on_error=False)
    async def _apply_when_settled(self) -> None:
        """The first Redis inspection outlived its poll: show its report as soon as it is in (no request)."""
        if await self.source.redis_settled() and not self.polling:  # a poll under way shows it anyway
            with contextlib.suppress(NoMatches):
                self.apply(self.source.current())

    def _show_polling(self) -> None:
        self.main.polling = self.polling
        with contextlib.suppress(NoMatches):  # the app may be closing while a poll is under way
            self.main.refresh_header()

    def apply(self, snap: Snapshot) -> None:
        """Show a snapshot everywhere it matters (table, header, details, an open QR view, `qr` mode)."""
        self.snapshot = snap
        if not self._screen_ready:
            self.main.show_first(snap)  # the first poll beat the screen: its rows in the first frame, the rest at start()
            return
        self.main.show(snap)
        self._show_watch()
        self._show_journal()
        self._step_watchdog(snap)
        if isinstance(self.screen, TextScreen) and self.screen.kind == "doctor":
            self.screen.update_body(findings_page(snap))
        if self.qr_screen is not None:
            s = snap.session(self.qr_screen.session_id)
            if s is not None and s.state == ConnState.CONNECTED:
                self.qr_screen.mark_connected()
        if self.qr_session and not self._qr_mode_started:
            self._qr_mode(snap)

    # --- `pulse-tui qr ID` ----------------------------------------------------------------------------------

    def _qr_mode(self, snap: Snapshot) -> None:
        sid = self.qr_session
        assert sid is not None
        s = snap.session(sid)
        if s is None or s.state == ConnState.UNKNOWN:
            return  # not asked yet, or the gateway is away: wait for a poll that knows
        self._qr_mode_started = True
        if s.state == ConnState.CONNECTED:
            self.exit(0, message=Text(f"{visible(sid)} is already connected."))
            return
        if s.state in (ConnState.STOPPED, ConnState.RESTORABLE) and not self.config.read_only:
            self.run_worker(self.perform("start", sid), group="actions")
            return
        self.open_qr(sid)

    # --- the QR view ----------------------------------------------------------------------------------------

    def open_qr(self, sid: str) -> None:
        if self.qr_screen is not None:
            return
        from pulse_tui.tui.qr_view import QrScreen

        caps = self.gateway.capabilities
        # Linking by phone number starts a connection on some gateways (Evolution's connect): an action.
        pair = self.gateway.request_pairing_code if caps.pairing_code and not self.config.read_only else None
        self.qr_screen = QrScreen(sid, self.gateway.qr_stream(sid), ascii=self.config.ascii, clock=self.clock,
                                  pair=pair, capabilities=caps)
        self.push_screen(self.qr_screen, callback=self._qr_closed)

    def _qr_closed(self, result: str | None) -> None:
        sid = self.qr_screen.session_id if self.qr_screen else None
        self.qr_screen = None
        if self.qr_session and sid == self.qr_session:
            from pulse_tui.tui.qr_view import RESULT_CONNECTED

            self.exit(0 if result == RESULT_CONNECTED else 1)
        else:
            self.poll_now()

    # --- actions --------------------------------------------------------------------------------------------

    async def perform(self, action: str, sid: str) -> ActionResult:
        """Run one confirmed action through `actions.perform` (re-check, audit), then tell the operator and poll."""
        if self.config.read_only:
            return ActionResult(False, "read-only mode")
        if not self.connected:
            return ActionResult(False, "still connecting")
        from pulse_tui.actions.perform import ActionContext
        from pulse_tui.actions.perform import perform as act

        verb = spec_for(action).verb
        # The session as the confirmation described it: while the call is under way, the gateway creates the
        # new client's LocalAuth dir and a poll or log line may already show it as restorable.
        before = self.snapshot.session(sid) if self.snapshot else None
        ctx = ActionContext(self.source, self.gateway, self.audit, host=self._host, read_only=self.config.read_only)
        self.notify(f"{verb} {sid}…", timeout=2)
        outcome = await act(action, sid, ctx)
        if outcome.ok:
            self.notify(f"{verb} {sid}: {outcome.message or 'done'}", title="Done")
        elif outcome.refused:
            self.notify(f"{verb} {sid}: not done. {outcome.message}", title="Not done", severity="warning",
                        timeout=8)
        else:
            self.notify(f"{verb} {sid} failed: {outcome.message}", title="Failed", severity="error", timeout=8)
        if outcome.audit_error:
            self.notify(outcome.audit_error, severity="warning")
        if action == "start" and outcome.ok:
            self.open_qr_when_needed(sid, before)
        if action == "clear-lock" and outcome.ok:
            self.main.offer_start(sid)
        self.poll_now()
        return ActionResult(outcome.ok, outcome.message)

    def open_qr_when_needed(self, sid: str, before: SessionView | None) -> None:
        """After a start: show the QR view unless the session had auth to restore (`before`: as confirmed).

        The view closes by itself at once if the session reconnects after all.
        """
        if before is None or not before.restorable or (self.qr_session == sid):
            self.open_qr(sid)

    # --- the watchdog (`W`): the same policy, lock, journal and actions as `pulse-tui watch` ---------------------

    def toggle_watchdog(self) -> None:
        """`W`: switch the watchdog on or off; refused in read-only mode (`pulse-tui watch --read-only` says what
        it would do) and without a state dir for its journal and lock."""
        if self.config.read_only:
            self.notify("Read-only mode: the watchdog stays off (`pulse-tui watch --read-only` shows what it would "
                        "do).", severity="warning")
            return
        if self.config.state_dir is None:
            self.notify("XDG_STATE_HOME (or HOME) must be set: the watchdog keeps its journal and lock there.",
                        severity="warning")
            return
        if not self.sources_complete:
            # Its policy reads the doctor's key checks, which come with Redis, a moment after the first rows.
            self.notify("Still connecting to the gateway and Redis.", severity="warning")
            return
        dog = self.watchdog
        if dog is None:
            try:
                dog = self.watchdog = self._build_watchdog()
            except ConfigError as exc:
                self.notify(str(exc), title="Watchdog not started", severity="error", timeout=10)
                return
        dog.enabled = not dog.enabled
        if not dog.enabled and dog.lock is not None:
            dog.lock.release()  # off: a headless watchdog may take over
        mode = dog.mode.value
        self.notify({"off": "Watchdog off.", "observer": "Watchdog on as an observer: another watchdog acts on "
                     "this gateway."}.get(mode, "Watchdog on: dropped restorable sessions are reconnected by "
                                              "policy."), timeout=4)
        self._show_watch()
        if dog.enabled and self.snapshot is not None:
            self._step_watchdog(self.snapshot)

    def _build_watchdog(self) -> Watchdog:
        from pulse_tui.watch.command import policy_for, watchdog_over

        policy = self.watch_policy if self.watch_policy is not None else policy_for(self.config)
        return watchdog_over(self.config, self.source, self.gateway, self.audit, policy, host=self._host,
                             clock=self.clock, enabled=False)

    def _step_watchdog(self, snap: Snapshot) -> None:
        """Hand the newest snapshot to the watchdog; a step under way takes it when it ends (never two at once)."""
        if self.watchdog is None:
            return
        self._watch_next = snap
        if not self._watch_busy:
            self._watch_busy = True
            self.run_worker(self._watch_steps(), group="watchdog", exit_on_error=False)

    async def _watch_steps(self) -> None:
        dog = self.watchdog
        assert dog is not None
        try:
            while (snap := self._watch_next) is not None:
                self._watch_next = None
                try:
                    entries = await dog.step(snap)
                except Exception as exc:  # noqa: BLE001 - a policy bug must not take the screen down
                    self.notify(f"Watchdog step failed ({type(exc).__name__}); tried again at the next poll.",
                                severity="error")
                    continue
                acted = [e for e in entries if e.kind in ("acted", "failed")]
                for e in acted:
                    self.notify(f"Watchdog: {e.action} {e.session}: {e.reason}", title="Watchdog",
                                severity="information" if e.ok else "error", timeout=6)
                with contextlib.suppress(NoMatches):
                    self._show_watch()
                    self._show_journal()
                if acted:
                    self.poll_now()  # show what the action did
        finally:
            self._watch_busy = False

    def _show_watch(self) -> None:
        """The header's watchdog line: only where a watchdog can run (a state dir)."""
        if self.config.state_dir is None or not self._screen_ready:
            return
        dog = self.watchdog
        if dog is None:
            text = watch_line("off", "", None, self.clock.now())
        else:
            mode = dog.mode.value
            error = dog.lock.error if dog.lock is not None else ""
            text = watch_line(mode, dog.paused, dog.next_action(), self.clock.now(), len(dog.circuits()),
                              lock_error="" if error.startswith("another watchdog") else error)
        self.main.show_watch(text)

    def _show_journal(self) -> None:
        """Each session's last decisions from the journal (ours or a headless watchdog's), read when it changed."""
        if self.config.state_dir is None or not self._screen_ready:
            return
        if self._journal is None:
            from pulse_tui.watch.journal import Journal, watch_paths

            self._journal = Journal(watch_paths(self.config.state_dir, self.config.gateway_url)[0])
        try:
            st = self._journal.path.stat()
        except OSError:
            return
        seen = (st.st_size, st.st_mtime_ns)
        if seen == self._journal_seen:
            return
        self._journal_seen = seen
        decisions: dict[str, list[Entry]] = {}
        for e in self._journal.last(WATCH_READ):
            if e.session:
                decisions.setdefault(e.session, []).append(e)
        self.main.show_watch_journal({sid: es[-WATCH_SHOWN:] for sid, es in decisions.items()})
