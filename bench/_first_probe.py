"""bench/_start_probe.py's timeline with Textual's frame work stamped too (layout+paint passes, the footer's
recompose, style updates): `python bench/_first_probe.py [RUNS]` prints the median run's timeline against a
one-session world. Wraps library functions at run time in the probe process only, to see where the start-up's
main-thread time goes; no production code is changed. Not a benchmark (`make bench` skips `_*.py`)."""

from __future__ import annotations

import os
import sys

import _start_probe


def _textual_stamps() -> None:
    """Stamp each layout/paint pass, footer recompose and style update of the running app."""
    from textual.app import App
    from textual.screen import Screen
    from textual.widgets import Footer

    _start_probe.wrap(Screen, "_refresh_layout", "textual Screen._refresh_layout (layout + paint)")
    _start_probe.wrap(Footer, "recompose", "textual Footer.recompose")
    _start_probe.wrap(App, "update_styles", "textual App.update_styles")
    _start_probe.wrap(Screen, "_on_screen_resume", "textual Screen._on_screen_resume")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--env-file"]:
        # The probe itself, with the extra stamps, as timeline() below runs it in tmux.
        import pulse_tui.tui.app  # noqa: F401 - textual loaded, so its classes can be wrapped before the app runs

        _textual_stamps()
        raise SystemExit(_start_probe.main())
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    _start_probe.__file__ = __file__  # timeline() spawns `python <__file__> --env-file …`: this file, in child mode
    raise SystemExit(_start_probe.timeline(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
