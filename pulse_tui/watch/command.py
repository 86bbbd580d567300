"""`pulse-tui watch`: the headless watchdog. Polls through the monitor, follows the logs, steps the policy.

SIGTERM/SIGINT finish the action in flight, write the state, release the lock and exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

from pulse_tui.config import Config, ConfigError, layered
from pulse_tui.sanitize import visible

if TYPE_CHECKING:
    from pulse_tui.actions.perform import ActionEngine
    from pulse_tui.audit import AuditLog
    from pulse_tui.clock import Clock
    from pulse_tui.monitor.build import Targets
    from pulse_tui.monitor.service import Monitor
    from pulse_tui.sources.gateway import Gateway
    from pulse_tui.watch.journal import Entry
    from pulse_tui.watch.policy import Policy
    from pulse_tui.watch.watchdog import Watchdog

EXIT_BAD_CONFIG = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the `watch` subcommand (each overrides its PULSE_TUI_WATCH_* variable)."""
    parser.add_argument("--dry-run", action="store_true",
                        help="plan and journal what would be done; act on nothing")
    parser.add_argument("--interval", type=float, metavar="SECONDS",
                        help="poll every SECONDS (PULSE_TUI_WATCH_INTERVAL_S, default 15)")
    parser.add_argument("--backoff", type=float, metavar="SECONDS",
                        help="first wait after a drop, doubling (PULSE_TUI_WATCH_BACKOFF_S, default 30)")
    parser.add_argument("--max-per-hour", type=int, metavar="N",
                        help="reconnects of one session per hour (PULSE_TUI_WATCH_MAX_PER_HOUR, default 6)")
    parser.add_argument("--reset", metavar="ID",
                        help="close the circuit of session ID (the running watchdog reads it from the journal)")
    parser.add_argument("--once", action="store_true", help="one poll and one step, then exit")


def run(config: Config, args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    """Validate the policy, then watch until SIGTERM; 2 on a bad variable or flag."""
    from pulse_tui.watch.policy import policy_from_env

    env = os.environ if environ is None else environ
    try:
        # The same layers as every other variable: flags > environment > --env-file files > ./.env.
        values, _ = layered({}, env, getattr(args, "env_file", None) or ())
        policy = policy_from_env(values, interval_s=getattr(args, "interval", None),
                                 backoff_base_s=getattr(args, "backoff", None),
                                 max_per_hour=getattr(args, "max_per_hour", None))
    except ConfigError as exc:
        print(f"pulse-tui: {visible(str(exc))}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    if config.state_dir is None:
        print("pulse-tui: XDG_STATE_HOME (or HOME) must be set: the watchdog keeps its journal and lock there.",
              file=sys.stderr)
        return EXIT_BAD_CONFIG
    if reset := getattr(args, "reset", None):
        return _reset(config, reset)
    return asyncio.run(_watch(config, policy, dry_run=bool(getattr(args, "dry_run", False)),
                              once=bool(getattr(args, "once", False))))


def _reset(config: Config, session_id: str) -> int:
    from pulse_tui.watch.journal import RESET, Entry, Journal, watch_paths

    assert config.state_dir is not None
    journal = Journal(watch_paths(config.state_dir, config.gateway_url)[0])
    journal.append(Entry(time.time(), RESET, session_id, reason="operator reset (pulse-tui watch --reset)"))
    if journal.error:
        print(f"pulse-tui: {journal.error}", file=sys.stderr)
        return 1
    print(f"pulse-tui watch: reset of {visible(session_id)} written; the running watchdog applies it at its next "
          "step", file=sys.stderr)
    return 0


def build_watchdog(config: Config, targets: Targets, policy: Any, *, dry_run: bool = False,
                   say: Any = None, clock: Any = None) -> Watchdog:
    """A Watchdog over built targets: its journal and lock beside the budget ledger, audit in the audit log."""
    from pulse_tui.audit import AuditLog, default_audit_path

    audit = AuditLog(config.audit_log or default_audit_path(), **({"clock": clock} if clock else {}))
    return watchdog_over(config, targets.monitor, targets.gateway, audit, policy, host=targets.monitor,
                         dry_run=dry_run, say=say, clock=clock)


def watchdog_over(config: Config, source: ActionEngine, gateway: Gateway, audit: AuditLog, policy: Policy, *,
                  host: Monitor | None = None, dry_run: bool = False, say: Any = None, clock: Clock | None = None,
                  enabled: bool = True) -> Watchdog:
    """A Watchdog over a source and gateway already built (the TUI's connection): same journal, lock and audit."""
    from pulse_tui.actions.perform import ActionContext
    from pulse_tui.watch.journal import Journal, watch_paths
    from pulse_tui.watch.lock import WatchLock
    from pulse_tui.watch.watchdog import Watchdog

    assert config.state_dir is not None
    journal_path, _, lock_path = watch_paths(config.state_dir, config.gateway_url)
    ctx = ActionContext(source, gateway, audit, host=host, read_only=config.read_only)
    return Watchdog(policy, ctx, Journal(journal_path, policy.journal_max_bytes), clock=clock,
                    lock=WatchLock(lock_path), dry_run=dry_run, say=say, enabled=enabled)


def policy_for(config: Config, environ: Mapping[str, str] | None = None) -> Any:
    """The policy `pulse-tui watch` would run with (no flags): environment > the config's env files > ./.env."""
    from pulse_tui.watch.policy import policy_from_env

    values, _ = layered({}, os.environ if environ is None else environ, config.env_files)
    return policy_from_env(values)


def printer(out: TextIO) -> Any:
    """One stderr line per decision: session ids and reasons, never a phone number or a secret."""

    def say(entry: Entry) -> None:
        what = " ".join(x for x in (entry.kind, entry.action, entry.session) if x)
        print(f"pulse-tui watch: {visible(what)}: {visible(entry.reason)}", file=out, flush=True)

    return say


async def _watch(config: Config, policy: Any, *, dry_run: bool, once: bool) -> int:
    from pulse_tui.doctor.checks import findings_for
    from pulse_tui.monitor.build import build_log_follower, build_targets
    from pulse_tui.sources.logs.recent import RecentLines
    from pulse_tui.watch.journal import watch_paths
    from pulse_tui.watch.state import write_state

    assert config.state_dir is not None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    recent = RecentLines()
    targets = build_targets(config, findings=findings_for(config, log_lines=recent))
    follower = build_log_follower(config)
    dog = build_watchdog(config, targets, policy, dry_run=dry_run, say=printer(sys.stderr))

    def on_signal() -> None:
        dog.stopping = True  # the action in flight finishes; no other starts
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, on_signal)
    state_path = watch_paths(config.state_dir, config.gateway_url)[1]
    mode = dog.mode
    print(f"pulse-tui watch: {mode.value}" + (" (another watchdog acts on this gateway; watching only)"
                                              if mode.value == "observer" else ""), file=sys.stderr, flush=True)
    if dog.lock is not None and dog.lock.held:
        write_state(state_path, dog.status(), time.time())  # `status --json` sees it from the start
    try:
        while not stop.is_set():
            try:
                if follower is not None:
                    lines = await follower.poll()
                    recent.add(lines)
                    targets.engine.take_lines(lines)  # free facts: fewer requests to spend
                snap = await asyncio.wait_for(targets.engine.poll(), max(60.0, 10 * policy.interval_s))
            except Exception as exc:  # noqa: BLE001 - one bad poll must never end the watchdog
                print(f"pulse-tui watch: poll failed ({type(exc).__name__}); no step this time", file=sys.stderr)
            else:
                await dog.step(snap)
                if dog.lock is not None and dog.lock.held:
                    write_state(state_path, dog.status(), time.time())
            mode = dog.mode
            if once:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), policy.interval_s)
    finally:
        if dog.lock is not None:
            dog.lock.release()
        if follower is not None:
            with contextlib.suppress(Exception):
                await follower.aclose()
        with contextlib.suppress(Exception):
            await targets.aclose()
    return 0
