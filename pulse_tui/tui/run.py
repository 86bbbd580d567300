"""Run the app on the configured targets (`pulse-tui`, `pulse-tui qr ID`, `pulse-tui demo`)."""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pulse_tui.config import Config

if TYPE_CHECKING:
    from pulse_tui.monitor.build import Targets
    from pulse_tui.monitor.logs import RecentLines
    from pulse_tui.tui.app import PulseApp


def run_frozen(app: PulseApp, **options: Any) -> int:
    """Run the app (`options` go to `App.run`); its exit code. What is loaded by now is never collected again."""
    # A full collection during start-up walks every module, class and function just imported (~13 ms, in
    # the middle of the first frame); frozen, they are never walked again, at start-up or while idle.
    gc.freeze()
    try:
        return int(app.run(**options) or 0)
    finally:
        # Frozen objects outlive the interpreter's last collection: zxing-cpp's nanobind objects (held by
        # cycles) would then print "nanobind: leaked …" over the operator's terminal at exit.
        gc.unfreeze()
        gc.collect()


def connector(config: Config, recent: RecentLines, *, freeze: bool = False) -> Callable[[], Targets]:
    """The app's `connect`: builds the monitor over the real sources when called (after the first frame).
    `freeze` (for an app under `run_frozen`, which unfreezes at exit): what the build loaded is frozen too."""

    def connect() -> Targets:
        from pulse_tui.cli import path_checks
        from pulse_tui.doctor.checks import ExtraChecks, findings_for
        from pulse_tui.doctor.checks_gateways import gateway_checks
        from pulse_tui.monitor.build import build_targets

        # The gateway's own checks (WAHA, Evolution) need the adapter, which build_targets makes: the hook reads
        # `extra` on every snapshot, so they join it once the targets exist, before the first poll.
        extra: list[ExtraChecks] = list(path_checks(config))
        targets = build_targets(config, findings=findings_for(config, log_lines=recent, extra=extra),
                                defer_slow=True)
        extra.append(gateway_checks(targets.gateway, config.evolution, targets.engine.recent_events))
        if freeze:
            # The sources bring ~200 modules after run_frozen's freeze: frozen too, the full collections their
            # objects would trigger (50-150 ms each, between the first poll and its row) never walk them.
            gc.freeze()
        return targets

    return connect


def run_app(config: Config, *, qr_session: str | None = None) -> int:
    """Run the app on the real sources (built once the screen is painted); the app's exit code."""
    from pulse_tui.monitor.build import build_log_follower
    from pulse_tui.monitor.logs import RecentLines
    from pulse_tui.tui.app import PulseApp

    recent = RecentLines()
    app = PulseApp(config, connect=connector(config, recent, freeze=True), qr_session=qr_session,
                   logs=build_log_follower(config), recent=recent)
    return run_frozen(app)
