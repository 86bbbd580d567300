"""The `doctor` command's options: apart from the checks, so building the CLI parser loads none of them."""

from __future__ import annotations

import argparse

DEFAULT_TIMEOUT_S = 120.0

__all__ = ["DEFAULT_TIMEOUT_S", "add_arguments"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the `doctor` subcommand."""
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                        help="stop waiting for the full poll after this; Redis and the keys are then "
                             "checked on their own (exit 3 only when nothing could be read)")
