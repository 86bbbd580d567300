"""The watchdog's policy: every knob, from `PULSE_TUI_WATCH_*` variables, validated into one frozen value."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from pulse_tui.config import ConfigError


@dataclass(frozen=True)
class Policy:
    """How eagerly the watchdog acts, and when it stops acting."""

    backoff_base_s: float = 30.0  # the first reconnect waits this long after the drop
    backoff_max_s: float = 900.0  # doubling stops here (15 min)
    jitter: float = 0.3  # each wait is shortened by up to this share, at random: 20 drops do not start together
    max_per_hour: int = 6  # reconnects of one session per hour
    flap_transitions: int = 6  # N state changes…
    flap_window_s: float = 600.0  # …within M seconds open the circuit
    max_failures: int = 3  # K reconnects in a row that did not end connected open the circuit
    budget_reserve: int = 10  # pause when fewer requests than this are left in the gateway's window
    max_actions_per_step: int = 3  # never spend more than this many requests on actions in one step
    expiry_window_s: float = 86_400.0  # Pulse user sessions whose TTL ends within this become warnings
    qr_give_up_s: float = 120.0  # a QR waiting this long has used its attempts (Salesboy: 5 codes, ~20 s apart)
    restore_interval_s: float = 5.0  # the gateway's boot-time restore starts one session this often
    restore_slack_s: float = 20.0  # and the last one needs this long to connect
    interval_s: float = 15.0  # the headless loop polls this often
    journal_max_bytes: int = 1_000_000  # the journal rotates to journal.jsonl.1 past this


# variable -> (field, lowest, highest, integer)
VARIABLES: dict[str, tuple[str, float, float, bool]] = {
    "PULSE_TUI_WATCH_BACKOFF_S": ("backoff_base_s", 1, 86_400, False),
    "PULSE_TUI_WATCH_BACKOFF_MAX_S": ("backoff_max_s", 1, 86_400, False),
    "PULSE_TUI_WATCH_JITTER": ("jitter", 0, 0.9, False),
    "PULSE_TUI_WATCH_MAX_PER_HOUR": ("max_per_hour", 1, 1000, True),
    "PULSE_TUI_WATCH_FLAP_TRANSITIONS": ("flap_transitions", 2, 1000, True),
    "PULSE_TUI_WATCH_FLAP_WINDOW_S": ("flap_window_s", 10, 86_400, False),
    "PULSE_TUI_WATCH_MAX_FAILURES": ("max_failures", 1, 100, True),
    "PULSE_TUI_WATCH_BUDGET_RESERVE": ("budget_reserve", 0, 100_000, True),
    "PULSE_TUI_WATCH_MAX_ACTIONS_PER_STEP": ("max_actions_per_step", 1, 100, True),
    "PULSE_TUI_WATCH_EXPIRY_WINDOW_S": ("expiry_window_s", 0, 90 * 86_400, False),
    "PULSE_TUI_WATCH_QR_GIVE_UP_S": ("qr_give_up_s", 1, 86_400, False),
    "PULSE_TUI_WATCH_RESTORE_INTERVAL_S": ("restore_interval_s", 0, 600, False),
    "PULSE_TUI_WATCH_RESTORE_SLACK_S": ("restore_slack_s", 0, 3600, False),
    "PULSE_TUI_WATCH_INTERVAL_S": ("interval_s", 0.5, 3600, False),
    "PULSE_TUI_WATCH_JOURNAL_MAX_BYTES": ("journal_max_bytes", 10_000, 1_000_000_000, True),
}


def policy_from_env(values: Mapping[str, str], **overrides: float | int | None) -> Policy:
    """A Policy from the variables in `values` (flags in `overrides` win); ConfigError names the bad variable."""
    fields: dict[str, float | int] = {}
    for var, (name, low, high, integer) in VARIABLES.items():
        raw = values.get(var, "").strip()
        if not raw:
            continue
        try:
            number = float(raw)
        except ValueError:
            raise ConfigError(f"{var} must be a number; it is {raw[:40]!r}.") from None
        if not math.isfinite(number) or not low <= number <= high or (integer and number != int(number)):
            kind = "a whole number" if integer else "a number"
            raise ConfigError(f"{var} must be {kind} from {low:g} to {high:g}; it is {raw[:40]!r}.")
        fields[name] = int(number) if integer else number
    fields.update({k: v for k, v in overrides.items() if v is not None})
    policy = Policy(**fields)  # type: ignore[arg-type]
    if policy.backoff_max_s < policy.backoff_base_s:
        raise ConfigError("PULSE_TUI_WATCH_BACKOFF_MAX_S must not be below PULSE_TUI_WATCH_BACKOFF_S.")
    return policy
