"""`pulse-tui fleet --prometheus URL [--contexts FILE]`: the fleet screen over what Prometheus scrapes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import urlsplit

EXIT_BAD_CONFIG = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the `fleet` subcommand."""
    parser.add_argument("--prometheus", required=True, metavar="URL",
                        help="Prometheus that scrapes the exporters, e.g. http://127.0.0.1:9090")
    parser.add_argument("--contexts", type=Path, metavar="FILE",
                        help="instance -> ssh target map (default ~/.config/pulse-tui/fleet.toml)")


def check_url(url: str) -> str:
    """The URL when it is http(s)://host[:port][/path], else ValueError naming --prometheus."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--prometheus {url!r}: expected http://HOST:PORT, e.g. http://127.0.0.1:9090")
    return url.strip().rstrip("/")


def run(args: argparse.Namespace) -> int:
    """Open the fleet screen; 2 on a bad URL or contexts file."""
    from pulse_tui.fleet.contexts import ContextsError, load_contexts
    from pulse_tui.fleet.query import PrometheusReader

    try:
        url = check_url(args.prometheus)
        contexts = load_contexts(getattr(args, "contexts", None))
    except (ValueError, ContextsError) as exc:
        print(f"pulse-tui: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    from pulse_tui.tui.fleet_screen import run_fleet  # Textual only from here on

    return run_fleet(PrometheusReader(url), contexts)
