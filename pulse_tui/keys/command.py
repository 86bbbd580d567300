"""`pulse-tui keys generate | migrate | restore`: argument parsing and output (sync: redis-py's sync client).

Exit codes: 0 done; 1 finished but something was left for a rerun (keys changed under us); 2 bad usage or
configuration; 3 Redis unreachable, or the run was interrupted. Nothing printed ever holds a secret or a value.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from dotenv import dotenv_values
from redis.exceptions import RedisError

from pulse_tui.config import Config
from pulse_tui.keys.backup import BackupError, BackupWriter, default_backup_path, restore
from pulse_tui.keys.generate import env_block, generate, write_env
from pulse_tui.keys.migrate import (
    KeySide,
    MigrateError,
    MigrationReport,
    Migrator,
    Outcome,
    connect,
    default_side,
    merge_sides,
    side_from_config,
    side_from_values,
    validate,
)

EXIT_OK, EXIT_LEFT, EXIT_USAGE, EXIT_REDIS = 0, 1, 2, 3


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
    mig.add_argument("--to-env", type=Path, metavar="NEW", help="env file with the new keys (default: the configured ones)")
    how = mig.add_mutually_exclusive_group()
    how.add_argument("--dry-run", action="store_true", help="report what would change (the default)")
    how.add_argument("--apply", action="store_true", help="write the changes (after a backup)")
    mig.add_argument("--backup", type=Path, metavar="FILE", help="backup file to create (default: ./pulse-keys-backup-<time>.jsonl)")
    mig.add_argument("--batch", type=int, default=1000, metavar="N", help="keys per SCAN page and pipeline")
    res = subparsers.add_parser("restore", parents=list(parents), help="put back the keys saved by `migrate --apply`")
    res.add_argument("backup_file", type=Path, metavar="BACKUP")


def run(args: argparse.Namespace, config: Config, *, out: TextIO | None = None) -> int:
    """Dispatch one `keys` action; returns the exit code. Synchronous."""
    out = out if out is not None else sys.stdout
    action = getattr(args, "keys_command", None)
    try:
        if action == "generate":
            return _generate(args, out)
        if action == "migrate":
            return _migrate(args, config, out)
        if action == "restore":
            return _restore(args, config, out)
    except (MigrateError, BackupError) as exc:
        print(f"pulse-tui keys: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"pulse-tui keys: unknown action {action!r}", file=sys.stderr)
    return EXIT_USAGE


# --- generate ----------------------------------------------------------------------------------------


def _generate(args: argparse.Namespace, out: TextIO) -> int:
    target: Path | None = getattr(args, "write", None)
    if target is None:
        out.write(env_block(generate()))
        return EXIT_OK
    result = write_env(target)
    if result.added:
        out.write(f"{target}: added {', '.join(result.added)} (mode 600)\n")
    if result.kept:
        out.write(f"{target}: kept {', '.join(result.kept)} as they were (never changed: changing ENCRYPTION_KEY "
                  "orphans every session)\n")
    for note in result.notes:
        out.write(f"  note: {note}\n")
    return EXIT_OK


# --- migrate -----------------------------------------------------------------------------------------


def _env(path: Path) -> dict[str, str | None]:
    if not path.is_file():
        raise MigrateError(f"env file {path} does not exist")
    return dict(dotenv_values(path))


def _sides(args: argparse.Namespace, config: Config) -> tuple[KeySide, KeySide, dict[str, str | None]]:
    to_env: Path | None = getattr(args, "to_env", None)
    if to_env is not None:
        new_values = _env(to_env)
        new = side_from_values(new_values, "new")
    else:
        new_values = {"ENCRYPTION_KEY": config.encryption_key, "ENCRYPTION_SALT": config.encryption_salt,
                      "HASH_SALT": config.hash_salt}
        new = side_from_config(config)
    olds: list[KeySide] = []
    from_env: Path | None = getattr(args, "from_env", None)
    if from_env is not None:
        olds.append(side_from_values(_env(from_env), "old"))
    if getattr(args, "from_default", False):
        olds.append(default_side(new))
    if not olds:
        raise MigrateError("say where the values come from: --from-env OLD.env and/or --from-default")
    old = merge_sides(olds)
    validate(old, new, new_values)
    return old, new, new_values


def _migrate(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    if not config.redis_url:
        raise MigrateError("REDIS_URL (or REDIS_HOST/REDIS_PORT) is not set: no Redis to migrate")
    apply = bool(getattr(args, "apply", False))
    if apply and config.read_only:
        raise MigrateError("read-only mode: --apply is disabled")
    old, new, _ = _sides(args, config)
    client = connect(config.redis_url)
    backup: BackupWriter | None = None
    migrator: Migrator | None = None
    try:
        if apply:
            backup = BackupWriter(getattr(args, "backup", None) or default_backup_path())
        migrator = Migrator(client, old, new, dry_run=not apply, backup=backup,
                            batch=max(1, int(getattr(args, "batch", 1000) or 1000)))
        report = migrator.run()
    except RedisError as exc:
        if migrator is None or migrator.report.round_trips == 0:
            print(f"pulse-tui keys: cannot reach Redis ({type(exc).__name__}): nothing was read or changed",
                  file=sys.stderr)
            return EXIT_REDIS
        _print_report(migrator.report, out)
        print(f"pulse-tui keys: Redis error: {type(exc).__name__}; every key holds its old or its new value — "
              "rerun to finish", file=sys.stderr)
        return EXIT_REDIS
    except KeyboardInterrupt:
        if migrator is not None:
            _print_report(migrator.report, out)
        print("pulse-tui keys: interrupted; every key holds its old or its new value — rerun to finish",
              file=sys.stderr)
        return EXIT_REDIS
    finally:
        if backup is not None:
            backup.close()
        client.close()
    _print_report(report, out)
    return EXIT_OK if report.complete else EXIT_LEFT


_WORDS = {
    Outcome.MIGRATED: "re-encrypted with the new keys",
    Outcome.WOULD_MIGRATE: "would be re-encrypted with the new keys",
    Outcome.ALREADY_NEW: "already open with the new keys (left as is)",
    Outcome.PLAIN: "plain JSON from the cache warmer (left as is)",
    Outcome.UNOPENABLE: "open with neither the old nor the new keys (left as is)",
    Outcome.SKIPPED_CHANGED: "changed by someone else during the run (not touched; rerun)",
    Outcome.GONE: "expired or deleted during the run",
}
_INDEX_WORDS = {
    "renamed": "index keys re-hashed with the new HASH_SALT",
    "would-rename": "index keys would be re-hashed with the new HASH_SALT",
    "skipped-changed": "index keys changed during the run (not touched; rerun)",
    "new-exists": "index keys left: the new-salt key already exists",
    "left-unknown-session": "index keys left: their session is gone or unreadable",
}


def _print_report(report: MigrationReport, out: TextIO) -> None:
    mode = "DRY RUN (nothing changed; add --apply to write)" if report.dry_run else "APPLIED"
    out.write(f"keys migrate: {mode}\n")
    for outcome in Outcome:
        n = report.values[outcome]
        if not n:
            continue
        prefixes = ", ".join(f"{p} {c}" for (p, o), c in sorted(report.by_prefix.items()) if o == outcome)
        out.write(f"  {n:>7}  values {_WORDS[outcome]}  [{prefixes}]\n")
        if outcome in (Outcome.UNOPENABLE, Outcome.SKIPPED_CHANGED):
            out.write(f"           e.g. {', '.join(report.examples.get(outcome, []))}\n")
    for what, words in _INDEX_WORDS.items():
        if report.index[what]:
            out.write(f"  {report.index[what]:>7}  {words}\n")
    if report.opened_by:
        out.write("  old values opened with: " + ", ".join(f"{k} ({n})" for k, n in report.opened_by.items()) + "\n")
    if report.backup_path:
        out.write(f"  backup: {report.backup_path} (undo with `pulse-tui keys restore {report.backup_path}`)\n")
    out.write(f"  {report.seconds:.2f} s, {report.round_trips} Redis round trips\n")
    if not report.dry_run and report.values[Outcome.MIGRATED]:
        out.write("  next: put the new keys in Pulse's .env and restart it (`pulse restart`).\n")


# --- restore -----------------------------------------------------------------------------------------


def _restore(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    if not config.redis_url:
        raise MigrateError("REDIS_URL (or REDIS_HOST/REDIS_PORT) is not set: no Redis to restore into")
    if config.read_only:
        raise MigrateError("read-only mode: restore is disabled")
    client = connect(config.redis_url)
    try:
        rep = restore(client, args.backup_file)
    except RedisError as exc:
        print(f"pulse-tui keys: Redis error during restore: {type(exc).__name__}; rerun it (it is idempotent)",
              file=sys.stderr)
        return EXIT_REDIS
    finally:
        client.close()
    out.write(f"keys restore: {rep.restored} key(s) restored, {rep.deleted} created key(s) removed, "
              f"{rep.expired} expired since the backup (not restored), {len(rep.failed)} failed\n")
    if rep.failed:
        out.write(f"  failed: {', '.join(rep.failed[:5])}\n")
    return EXIT_OK if not rep.failed else EXIT_LEFT
