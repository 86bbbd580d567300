"""The `keys` command's options: apart from migrate and backup, so building the CLI parser loads neither."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

__all__ = ["add_arguments"]


def add_arguments(subparsers: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser] = ()) -> None:  # type: ignore[type-arg]
    """Register `generate`, `migrate` and `restore` under the `keys` command's subparsers."""
    gen = subparsers.add_parser("generate", parents=list(parents), help="print fresh Pulse secrets as .env lines")
    gen.add_argument("--write", type=Path, metavar="FILE",
                     help="append the missing variables to FILE (never changes a set one; mode 600)")
    mig = subparsers.add_parser("migrate", parents=list(parents),
                                help="re-encrypt Pulse's Redis values from old keys to new (dry run by default)")
    mig.add_argument("--from-env", type=Path, metavar="OLD", help="env file with the keys the values were written with")
    mig.add_argument("--from-default", action="store_true",
                     help="the values were written with Pulse's default (or .env.example placeholder) keys")
    mig.add_argument("--to-env", type=Path, metavar="NEW",
                     help="env file with the new keys (default: the configured ones); normally Pulse's own .env. "
                     "Redis: --redis-url; else REDIS_URL or REDIS_HOST/PORT/PASSWORD/DB from the environment or "
                     "--env-file (refused if NEW names another Redis); else NEW's REDIS_HOST/PORT/PASSWORD/DB. "
                     "The target is printed (without password) before anything is read.")
    how = mig.add_mutually_exclusive_group()
    how.add_argument("--dry-run", action="store_true", help="report what would change (the default)")
    how.add_argument("--apply", action="store_true", help="write the changes (after a backup)")
    mig.add_argument("--backup", type=Path, metavar="FILE", help="backup file to create (default: ./pulse-keys-backup-<time>.jsonl)")
    mig.add_argument("--batch", type=int, default=1000, metavar="N", help="keys per SCAN page and pipeline")
    res = subparsers.add_parser("restore", parents=list(parents),
                                help="put back the keys saved by `migrate --apply` (only those nobody wrote since)")
    res.add_argument("backup_file", type=Path, metavar="BACKUP")
    res.add_argument("--force", action="store_true",
                     help="also put back keys written or deleted since the migration (asks to confirm the count)")
