"""Run the app on the configured targets (`pulse-tui`, `pulse-tui qr ID`, `pulse-tui demo`)."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from pulse_tui.config import Config
from pulse_tui.tui.terminal_watch import TerminalWatch, terminal_fds

if TYPE_CHECKING:
    from pulse_tui.model import Finding, Snapshot
    from pulse_tui.monitor.build import Targets
    from pulse_tui.monitor.logs import RecentLines
    from pulse_tui.tui.app import PulseApp


def run_frozen(app: PulseApp, *, abandon: Callable[[], object] | None = None, **options: Any) -> int:
    """Run the app (`options` go to `App.run`); its exit code. What is loaded by now is never collected again.
    `abandon`: run before the process is ended because its terminal is gone and the app could not exit."""
    # A full collection during start-up walks every module, class and function just imported (~13 ms, in
    # the middle of the first frame); frozen, they are never walked again, at start-up or while idle.
    gc.freeze()
    # Textual reads stdin and draws on stderr: the app ends when either terminal is gone (see terminal_watch).
    watch = TerminalWatch(terminal_fds(0, 2) if not options.get("headless") else [], app.exit_from_thread,
                          exit_now=partial(_end_abandoned, abandon))
    watch.start()
    try:
        return int(app.run(**options) or 0)
    finally:
        watch.stop()
        # Frozen objects outlive the interpreter's last collection: zxing-cpp's nanobind objects (held by
        # cycles) would then print "nanobind: leaked …" over the operator's terminal at exit.
        gc.unfreeze()
        gc.collect()


def _end_abandoned(abandon: Callable[[], object] | None, code: int) -> None:
    try:
        if abandon is not None:
            abandon()
    finally:
        os._exit(code)


STARTUP_GEN0 = 50_000  # the collector's first threshold from launch to the first rows (Python's default: 700)


class LateChecks:
    """The monitor's findings hook, empty until the doctor's checks are given (`hook`): the checks import the
    Redis and crypto stacks (~0.1 s of CPU), which the first snapshot (the gateway's rows) does not need."""

    def __init__(self) -> None:
        self.hook: Callable[[Snapshot], Sequence[Finding]] | None = None

    def __call__(self, snapshot: Snapshot) -> Sequence[Finding]:
        return self.hook(snapshot) if self.hook is not None else ()


def connector(config: Config, recent: RecentLines, *, freeze: bool = False,
              thresholds: tuple[int, int, int] | None = None) -> Callable[[], Targets]:
    """The app's `connect`: builds the monitor over the gateway when called; Redis, the host probe and the doctor's
    checks come with `Targets.complete`, once the first snapshot is on screen. `freeze` (for an app under
    `run_frozen`, which unfreezes at exit): what the build loaded is frozen too. `thresholds`: the collector's own,
    set back by `complete` (run_app slows it down until the first rows are painted)."""

    def connect() -> Targets:
        from pulse_tui.monitor.build import build_targets

        checks = LateChecks()
        targets = build_targets(config, findings=checks, defer_slow=True)
        deferred = targets.complete

        def complete() -> None:
            checks.hook = doctor_checks(config, recent, targets)  # first: they need no source that may fail
            if deferred is not None:
                deferred()
            if freeze:
                gc.freeze()  # the Redis, crypto and host stacks just loaded: see below
            if thresholds is not None:
                gc.set_threshold(*thresholds)

        targets.complete = complete
        if freeze:
            # The sources bring ~200 modules after run_frozen's freeze: frozen too, the full collections their
            # objects would trigger (50-150 ms each, between the first poll and its row) never walk them.
            gc.freeze()
        return targets

    return connect


def doctor_checks(config: Config, recent: RecentLines, targets: Targets) -> Callable[[Snapshot], list[Finding]]:
    """The doctor's checks over each snapshot, with the configured paths' and the gateway's own (WAHA, Evolution)."""
    from pulse_tui.cli import path_checks
    from pulse_tui.doctor.checks import ExtraChecks, findings_for
    from pulse_tui.doctor.checks_gateways import gateway_checks

    extra: list[ExtraChecks] = [*path_checks(config),
                                gateway_checks(targets.gateway, config.evolution, targets.engine.recent_events)]
    return findings_for(config, log_lines=recent, extra=extra)


def run_app(config: Config, *, qr_session: str | None = None, abandon: Callable[[], object] | None = None) -> int:
    """Run the app on the real sources (the gateway's built before the app runs, so that their first poll overlaps
    Textual's start-up; Redis and the host probe once its rows are painted); the app's exit code. `abandon`: see
    `run_frozen` (the demo removes its world)."""
    thresholds, collecting = gc.get_threshold(), gc.isenabled()
    # What start-up allocates lives on (modules, classes, widgets), and walking it cost 30-40 ms before the first
    # rows: no collection while the app's modules load and the gateway's sources are built (all frozen after),
    # then rarer young collections until `complete` sets the thresholds back once the rows are painted (until
    # then, say a gateway that never answers, the collector still runs, every STARTUP_GEN0 allocations).
    gc.disable()
    gc.set_threshold(STARTUP_GEN0, *thresholds[1:])
    try:
        from pulse_tui.monitor.build import build_log_follower
        from pulse_tui.monitor.logs import RecentLines
        from pulse_tui.tui.app import PulseApp

        recent = RecentLines()
        connect = connector(config, recent, freeze=True, thresholds=thresholds)
        try:
            # Built here, not in a thread once the screen is painted: the first poll then starts as the app loads
            # and its rows come with the first frames (in the thread the build and Textual's start-up shared one
            # GIL, and the rows waited for both). No request is made here: a dead gateway holds nothing back.
            targets: Targets | None = connect()
        except Exception:  # noqa: BLE001 - the app builds them again at its first poll, and says why it failed
            targets = None
        gc.freeze()
        if collecting:
            gc.enable()
        app = PulseApp(config, connect=connect if targets is None else None, targets=targets,
                       qr_session=qr_session, logs=build_log_follower(config), recent=recent)
        return run_frozen(app, abandon=abandon)
    finally:
        gc.set_threshold(*thresholds)
        if collecting:
            gc.enable()
