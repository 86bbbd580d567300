"""Command line: `pulse-tui [options] [demo | status | qr ID | doctor | keys …]`.

Textual is imported only by the commands that open the app, so `status` and `doctor` start fast.
Bad configuration is one sentence on stderr naming the variable, and exit code 2 — never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pulse_tui.config import Config, ConfigError, GatewayKind, load_config
from pulse_tui.doctor import options as doctor_options
from pulse_tui.keys import options as keys_options
from pulse_tui.sanitize import visible

if TYPE_CHECKING:
    # The checks, Redis and the gateways are imported by the commands that use them: the TUI's first frame
    # does not wait for them.
    from pulse_tui.doctor.checks import ExtraChecks
    from pulse_tui.model import Finding, Snapshot
    from pulse_tui.sources.logs.recent import RecentLines

EXIT_BAD_CONFIG = 2

# Flag dest → the variable it sets, so flags and the environment share one precedence rule.
FLAG_VARS = {
    "gateway": "PULSE_TUI_GATEWAY",
    "url": "PULSE_TUI_GATEWAY_URL",
    "auth_dir": "PULSE_TUI_AUTH_DIR",
    "session": "PULSE_TUI_SESSIONS",
    "redis_url": "REDIS_URL",
    "logs": "PULSE_TUI_LOGS",
    "poll": "PULSE_TUI_POLL_SECONDS",
    "log_lines": "PULSE_TUI_LOG_LINES",
    "budget": "PULSE_TUI_REQUEST_BUDGET",
    "read_only": "PULSE_TUI_READ_ONLY",
    "ascii": "PULSE_TUI_ASCII",
    "pm2_app": "PULSE_TUI_PM2_APP",
}


def common_options() -> argparse.ArgumentParser:
    """Options accepted before or after the command (defaults suppressed so a later one never erases them)."""
    p = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    g = p.add_argument_group("targets (each also settable in the environment or an env file)")
    g.add_argument("--env-file", action="append", type=Path, metavar="FILE",
                   help="read variables from FILE (repeatable; Pulse's own .env works as is)")
    g.add_argument("--gateway", choices=tuple(k.value for k in GatewayKind), help="PULSE_TUI_GATEWAY")
    g.add_argument("--url", help="PULSE_TUI_GATEWAY_URL, e.g. http://127.0.0.1:3001")
    g.add_argument("--auth-dir", action="append", metavar="DIR", help="PULSE_TUI_AUTH_DIR (repeatable)")
    g.add_argument("--session", action="append", metavar="ID", help="PULSE_TUI_SESSIONS (repeatable)")
    g.add_argument("--redis-url", help="REDIS_URL (or REDIS_HOST/REDIS_PORT/REDIS_PASSWORD/REDIS_DB)")
    g.add_argument("--logs", action="append", metavar="GLOB", help="PULSE_TUI_LOGS (repeatable)")
    g.add_argument("--poll", metavar="SECONDS", help="PULSE_TUI_POLL_SECONDS (default 3)")
    g.add_argument("--log-lines", metavar="N", help="PULSE_TUI_LOG_LINES: log lines the TUI keeps (default 10000)")
    g.add_argument("--budget", metavar="N", help="PULSE_TUI_REQUEST_BUDGET: gateway requests per 15 min")
    g.add_argument("--pm2-app", metavar="NAME", help="PULSE_TUI_PM2_APP")
    g.add_argument("--read-only", action="store_const", const="true", help="disable every action")
    g.add_argument("--ascii", action="store_const", const="true", help="draw QR codes with ASCII only")
    return p


def build_parser() -> argparse.ArgumentParser:
    common = common_options()
    p = argparse.ArgumentParser(
        prog="pulse-tui",
        description="Terminal console for WhatsApp gateways (Salesboy, Pulse, WAHA, Evolution API) "
                    "and Pulse's Redis.",
        parents=[common],
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("demo", parents=[common], help="the app against an embedded Redis and gateway simulator")
    st = sub.add_parser("status", parents=[common], help="one snapshot, then exit (0 healthy, 1 not)")
    how = st.add_mutually_exclusive_group()
    how.add_argument("--json", action="store_true", help="machine-readable JSON (schema in the README)")
    how.add_argument("--once", action="store_true", help="a human-readable table (the default)")
    qr = sub.add_parser("qr", parents=[common], help="open straight on one session's QR; exit 0 once linked")
    qr.add_argument("session_id", metavar="ID")
    doc = sub.add_parser("doctor", parents=[common], help="diagnose keys, Redis, gateway, sessions, logs")
    doctor_options.add_arguments(doc)
    from pulse_tui.exporter import command as exporter_command  # light: prometheus_client loads on run
    from pulse_tui.fleet import command as fleet_command

    exporter_command.add_arguments(sub.add_parser("exporter", parents=[common], help="serve /metrics for Prometheus"))
    from pulse_tui.watch import command as watch_command

    watch_command.add_arguments(sub.add_parser("watch", parents=[common], help="the headless watchdog: reconnect "
                                               "dropped sessions by policy, warn before anything expires"))
    fleet_command.add_arguments(sub.add_parser("fleet", parents=[common], help="every host Prometheus scrapes"))
    keys = sub.add_parser("keys", parents=[common], help="generate keys; migrate sessions to new keys")
    keys_options.add_arguments(keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True),
                               parents=[common])
    return p


def config_from_args(args: argparse.Namespace, environ: dict[str, str] | None = None) -> Config:
    """The Config these arguments select, layered over the environment and env files."""
    flags: dict[str, str | None] = {}
    for dest, var in FLAG_VARS.items():
        value = getattr(args, dest, None)
        if isinstance(value, list):
            value = ",".join(value)
        flags[var] = value
    return load_config(flags, os.environ if environ is None else environ, getattr(args, "env_file", None) or ())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `pulse-tui` console script and `python -m pulse_tui`."""
    args = build_parser().parse_args(argv)
    command = args.command
    try:
        if command == "demo":
            from pulse_tui.demo import run_demo

            return run_demo(args)
        if command == "keys":
            config = config_from_args(args)
            from pulse_tui.keys import command as keys_command

            return _maybe_async(keys_command.run(args, config))
        config = config_from_args(args)
    except ConfigError as exc:
        print(f"pulse-tui: {visible(str(exc))}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    if command == "qr" and (why := qr_id_error(config, args.session_id)):
        print(f"pulse-tui: {visible(why)}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    if command == "status":
        # argv None: this is the process itself (console script, `python -m`), not a caller that goes on living.
        return asyncio.run(status(config, as_json=args.json, exit_when_done=argv is None))
    if command == "doctor":
        return asyncio.run(doctor(config, args))
    if command == "exporter":
        from pulse_tui.exporter import command as exporter_command

        return exporter_command.run(config, args)
    if command == "watch":
        from pulse_tui.watch import command as watch_command

        return watch_command.run(config, args)
    if command == "fleet":
        from pulse_tui.fleet import command as fleet_command

        return fleet_command.run(args)
    if (why := watch_policy_error(config)) is not None:
        print(f"pulse-tui: {visible(why)}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    from pulse_tui.tui.run import run_app  # Textual only from here on

    return run_app(config, qr_session=getattr(args, "session_id", None))


def watch_policy_error(config: Config) -> str | None:
    """Why the `PULSE_TUI_WATCH_*` variables are refused, checked before the TUI starts (not when `W` is
    pressed); None when they are fine or unset."""
    from pulse_tui.watch.command import policy_for

    try:
        policy_for(config)
    except ConfigError as exc:
        return str(exc)
    return None


def qr_id_error(config: Config, session_id: str) -> str | None:
    """Why the gateway would refuse this id (one sentence), or None: `qr ../../etc` must not open the app."""
    from pulse_tui.sources.authdirs import PHONE_RE, salesboy_id_error

    shown = session_id if len(session_id) <= 40 else session_id[:40] + "…"
    if config.gateway_kind == GatewayKind.PULSE:
        if not PHONE_RE.match(session_id):
            return f"qr {shown!r}: a Pulse session id is the phone number, 6 to 20 digits."
        return None
    if config.gateway_kind in (GatewayKind.WAHA, GatewayKind.EVOLUTION):
        from pulse_tui.sources.gateway import evolution, waha

        caps = waha.CAPABILITIES if config.gateway_kind == GatewayKind.WAHA else evolution.CAPABILITIES
        if (why := caps.id_error(session_id)) is not None:
            return f"qr {shown!r}: {why}."
        return None
    why = salesboy_id_error(session_id)
    if why is not None:
        return f"qr {shown!r}: the Salesboy gateway answers \"{why}\" for it; a session id is a user's UUID."
    return None


def _maybe_async(result: Any) -> int:
    if asyncio.iscoroutine(result):
        return int(asyncio.run(result))
    return int(result)


async def status(config: Config, *, as_json: bool, exit_when_done: bool = False) -> int:
    """Poll every source once through the monitor; print JSON or a table; 0 when healthy. `exit_when_done`: end
    the process as soon as the answer is out (see `_exit_now`)."""
    # A one-shot run imports the sources' modules, then builds ~100,000 objects (rows, readings, JSON) that live
    # until it prints: each automatic collection walks all of them again (a fifth of a 10,000-session run's CPU,
    # and ~10 % of the imports') and finds no cycle worth it. Back on after, for a caller that goes on living (tests
    # call this in-process).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return await _status(config, as_json=as_json, exit_when_done=exit_when_done)
    finally:
        if collecting:
            gc.enable()


async def _status(config: Config, *, as_json: bool, exit_when_done: bool = False) -> int:
    from pulse_tui.doctor.checks import findings_for
    from pulse_tui.monitor.build import build_targets
    from pulse_tui.status_json import is_healthy, snapshot_to_json, write_indented

    recent = await recent_logs(config)
    targets = build_targets(config, findings=findings_for(config, log_lines=recent, extra=path_checks(config)),
                            one_shot=True)
    targets.engine.take_log_events(recent.events())  # free facts: fewer gateway requests to spend
    try:
        snap = await targets.engine.poll(full=True)
    finally:
        await targets.aclose()
    if as_json:
        from pulse_tui.watch.state import watchdog_block

        write_indented(snapshot_to_json(snap, watchdog=watchdog_block(config), model_rows=True), sys.stdout.write)
        sys.stdout.write("\n")
    else:
        from pulse_tui.status_text import render_status

        print(render_status(snap))
    code = 0 if is_healthy(snap) else 1
    if exit_when_done:
        _exit_now(code)
    return code


def _exit_now(code: int) -> None:
    """End a one-shot process once its answer is flushed, skipping the interpreter's teardown.

    Freeing the snapshot's ~40,000 objects and then every imported module cost 0.1-0.15 s of CPU in a
    10,000-session `status --json`, longer than its JSON step. Nothing is lost: the sources are closed (Redis and
    HTTP connections by `Targets.aclose`, subprocesses awaited), every file this process writes is closed where it
    is written, and the threads left are idle pool workers or the key prewarm. A stream that cannot be flushed
    (a closed pipe) returns to the normal exit, which reports it as before."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    os._exit(code)


async def doctor(config: Config, args: argparse.Namespace) -> int:
    """`pulse-tui doctor`: the doctor's own report over one full poll."""
    from pulse_tui.doctor import command as doctor_command
    from pulse_tui.doctor.checks import findings_for
    from pulse_tui.monitor.build import build_targets

    recent = await recent_logs(config)
    targets = build_targets(config, findings=findings_for(config, log_lines=recent, extra=path_checks(config)),
                            one_shot=True)
    targets.engine.take_log_events(recent.events())
    try:
        return int(await doctor_command.run(config, targets, args))
    finally:
        await targets.aclose()


def path_checks(config: Config) -> tuple[ExtraChecks, ...]:
    """Findings for configured auth roots and log paths that give nothing (missing, a file, a FIFO, unreadable)."""
    from pulse_tui.sources.authdirs import root_findings
    from pulse_tui.sources.logs.follower import log_path_findings

    def check(_snapshot: Snapshot) -> list[Finding]:
        return root_findings(config.auth_dirs) + log_path_findings(config.log_globs)

    return (check,)


async def recent_logs(config: Config) -> RecentLines:
    """The last lines of the configured (or default) logs, for the checks that read logs."""
    from pulse_tui.monitor.build import build_log_follower
    from pulse_tui.sources.logs.recent import RecentLines

    recent = RecentLines()
    follower = build_log_follower(config)
    if follower is not None:
        try:
            recent.add(await follower.poll())
        finally:
            await follower.aclose()
    return recent
