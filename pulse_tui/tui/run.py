"""Run the app on the configured targets (`pulse-tui`, `pulse-tui qr ID`)."""

from __future__ import annotations

import asyncio

from pulse_tui.config import Config


def run_app(config: Config, *, qr_session: str | None = None) -> int:
    """Build the monitor over the real sources, run the app, close connections; the app's exit code."""
    from pulse_tui.doctor.checks import findings_for
    from pulse_tui.monitor.build import build_targets
    from pulse_tui.tui.app import PulseApp

    targets = build_targets(config, findings=findings_for(config))
    app = PulseApp(config, targets.monitor, targets.gateway, qr_session=qr_session)
    try:
        code = app.run()
    finally:
        asyncio.run(targets.aclose())
    return int(code or 0)
