"""Run the app on the configured targets (`pulse-tui`, `pulse-tui qr ID`)."""

from __future__ import annotations

from pulse_tui.config import Config


def run_app(config: Config, *, qr_session: str | None = None) -> int:
    """Build the monitor over the real sources, run the app, close connections; the app's exit code."""
    from pulse_tui.doctor.checks import findings_for
    from pulse_tui.monitor.build import build_log_follower, build_targets
    from pulse_tui.sources.logs.recent import RecentLines
    from pulse_tui.tui.app import PulseApp

    recent = RecentLines()
    targets = build_targets(config, findings=findings_for(config, log_lines=recent))
    app = PulseApp(config, targets.monitor, targets.gateway, qr_session=qr_session,
                   logs=build_log_follower(config), recent=recent, on_close=targets.aclose)
    return int(app.run() or 0)
