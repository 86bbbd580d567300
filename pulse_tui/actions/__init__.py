"""The actions an operator (or the watchdog, or a script) takes: one spec each, and one `perform()`.

UI-free: the TUI renders the specs (bindings, footer, help and dialogs are generated from them) and calls
`perform()`, which re-checks at the moment of acting, honours read-only and writes the audit line.
"""

from __future__ import annotations

from pulse_tui.actions.perform import ActionContext, ActionOutcome, perform
from pulse_tui.actions.specs import SPECS, ActionSpec, Confirm, Scope, spec_for

__all__ = ["SPECS", "ActionContext", "ActionOutcome", "ActionSpec", "Confirm", "Scope", "perform", "spec_for"]
