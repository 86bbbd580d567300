"""The actions an operator (or the watchdog, or a script) takes: one spec each, and one `perform()`.

UI-free: the TUI renders the specs (bindings, footer, help and dialogs are generated from them) and calls
`pulse_tui.actions.perform.perform()`, which re-checks at the moment of acting, honours read-only and writes the
audit line. This package imports only the specs: `perform` (gateway, monitor, HTTP stacks) is imported where it
acts, so a screen that shows keys pays nothing for it at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pulse_tui.actions.specs import SPECS, ActionSpec, Confirm, Scope, spec_for

if TYPE_CHECKING:
    # Types front ends need without importing sources/ themselves (tests/test_layers.py).
    from pulse_tui.sources.gateway.base import Gateway as Gateway
    from pulse_tui.sources.gateway.capabilities import Capabilities as Capabilities

__all__ = ["SPECS", "ActionSpec", "Confirm", "Scope", "spec_for"]
