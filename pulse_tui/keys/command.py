"""`pulse-tui keys generate | migrate | restore`: argument parsing and output (sync: redis-py's sync client).

Exit codes: 0 done; 1 finished but something was left for a rerun (keys changed under us); 2 bad usage or
configuration; 3 Redis unreachable, or the run was interrupted. Nothing printed ever holds a secret or a value.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from redis.exceptions import RedisError

from pulse_tui import envfile
from pulse_tui.config import Config, ConfigError, config_from_values
from pulse_tui.keys.backup import (
    BackupError,
    BackupWriter,
    RestoreReport,
    default_backup_path,
    read_backup,
    restore,
)
from pulse_tui.keys.generate import GenerateError, env_block, generate, write_env
from pulse_tui.keys.migrate import (
    KeySide,
    MigrateError,
    MigrationReport,
    Migrator,
    Outcome,
    can_write,
    connect,
    old_side,
    side_from_values,
    validate,
)
from pulse_tui.sanitize import visible, visible_bytes
from pulse_tui.url_host import url_host

EXIT_OK, EXIT_LEFT, EXIT_USAGE, EXIT_REDIS = 0, 1, 2, 3
NOT_WRITABLE = "this Redis user may read but not write, or the server is a replica (point REDIS_URL at the primary)"


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
    except (MigrateError, BackupError, GenerateError, ConfigError) as exc:
        print(f"pulse-tui keys: {visible(str(exc))}", file=sys.stderr)
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
    shown = visible(str(target))
    if result.added:
        out.write(f"{shown}: added {', '.join(result.added)} (mode 600)\n")
    if result.kept:
        out.write(f"{shown}: kept {', '.join(result.kept)} as they were (never changed: changing ENCRYPTION_KEY "
                  "orphans every session)\n")
    for note in result.notes:
        out.write(f"  note: {note}\n")
    return EXIT_OK


# --- migrate -----------------------------------------------------------------------------------------


def _env(path: Path, what: str) -> dict[str, str]:
    """An env file's values exactly as Pulse's Node dotenv reads them."""
    try:
        return envfile.read(path, what).values
    except envfile.EnvFileError as exc:
        raise MigrateError(str(exc).rstrip(".")) from None


def _config_values(config: Config) -> dict[str, str | None]:
    return {"ENCRYPTION_KEY": config.encryption_key, "ENCRYPTION_SALT": config.encryption_salt,
            "HASH_SALT": config.hash_salt}


def _sides(args: argparse.Namespace, config: Config) -> tuple[KeySide, KeySide, dict[str, str | None]]:
    to_env: Path | None = getattr(args, "to_env", None)
    current = _config_values(config)
    new_values: dict[str, str | None] = dict(_env(to_env, "--to-env")) if to_env is not None else current
    new = side_from_values(new_values, "new")
    named: list[tuple[str, dict[str, str | None]]] = []
    from_env: Path | None = getattr(args, "from_env", None)
    if from_env is not None:
        named.append(("old", dict(_env(from_env, "--from-env"))))
    from_default = bool(getattr(args, "from_default", False))
    if from_env is None and not from_default:
        raise MigrateError("say where the values come from: --from-env OLD.env and/or --from-default")
    if named and not from_default and side_from_values(named[0][1], "old") == side_from_values(new_values, "old"):
        raise MigrateError("the old and new keys are the same: nothing to migrate")
    if to_env is not None:
        # The configured keys (--env-file, environment) are what Pulse runs with now: an old side too.
        named.append(("current", current))
    old = old_side(named, new, known=from_default)
    validate(old, new, new_values)
    return old, new, new_values


def _redis_target(config: Config, new_values: dict[str, str | None], to_env: Path | None,
                  flag: bool = False) -> tuple[str, str]:
    """(url, where it came from): --redis-url; else the configured Redis if --to-env names none or the same one;
    else the one --to-env names (Pulse's own .env)."""
    names = ("REDIS_URL", "REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD", "REDIS_DB")
    picked = {k: v for k in names if (v := new_values.get(k))}
    from_new: str | None = None
    if to_env is not None and (picked.get("REDIS_URL") or picked.get("REDIS_HOST")):
        from_new = config_from_values({**picked, "PULSE_TUI_GATEWAY": "pulse"}).redis_url
    if config.redis_url and flag:
        return config.redis_url, "--redis-url"
    if config.redis_url:
        if from_new is not None and _where(from_new) != _where(config.redis_url):
            # Pulse will use NEW's Redis after the switch: migrating another one would leave its sessions unopenable.
            raise MigrateError(f"the configured Redis ({redis_shown(config.redis_url)}) is not the one {to_env} names "
                               f"({redis_shown(from_new)}): pass --redis-url with the Redis Pulse uses")
        return config.redis_url, "the configuration (environment or --env-file)"
    if from_new:
        return from_new, f"{to_env} (REDIS_HOST/REDIS_PORT/REDIS_PASSWORD/REDIS_DB)"
    raise MigrateError("no Redis named: set REDIS_URL or REDIS_HOST/REDIS_PORT (or put them in the --to-env file)")


def _where(url: str) -> tuple[str, int, str]:
    """Host, port and database of a Redis URL (no password), with `localhost` spelled as Pulse's default host."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return ("unix:" + parts.path, 0, parts.query)
    try:
        port = parts.port or 6379
    except ValueError:
        port = -1
    host = (parts.hostname or "").lower()
    host = "127.0.0.1" if host in ("localhost", "::1", "127.0.0.1") else host
    return (host, port, (parts.path or "/0").strip("/") or "0")


def redis_shown(url: str) -> str:
    """The Redis target without its password, safe to print."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return visible(f"unix://{parts.path}")
    try:
        host, port = parts.hostname or "?", parts.port or 6379
    except ValueError:
        return "(unparsable URL)"
    user = f"{parts.username}@" if parts.username else ""
    return visible(f"{parts.scheme}://{user}{url_host(host)}:{port}{parts.path or '/0'}")


def _migrate(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    apply = bool(getattr(args, "apply", False))
    if apply and config.read_only:
        raise MigrateError("read-only mode: --apply is disabled")
    old, new, new_values = _sides(args, config)
    url, source = _redis_target(config, new_values, getattr(args, "to_env", None),
                                flag=getattr(args, "redis_url", None) is not None)
    out.write(f"keys migrate: Redis {redis_shown(url)} (from {visible(source)})\n")
    to_env = getattr(args, "to_env", None)
    # restore must reach the same Redis: name the file it came from when the configuration did not name it
    undo = f"pulse-tui --env-file {to_env} keys restore" if url != config.redis_url else "pulse-tui keys restore"
    out.flush()
    client = connect(url)
    backup: BackupWriter | None = None
    migrator: Migrator | None = None
    try:
        writable = can_write(client, probe=apply)
        if writable is False:
            print(f"pulse-tui keys: {NOT_WRITABLE}: nothing was changed", file=sys.stderr)
            return EXIT_USAGE
        if writable is None:
            out.write("  could not check whether this Redis user may write (checked before --apply writes)\n")
        if apply:
            backup = BackupWriter(getattr(args, "backup", None) or default_backup_path())
        migrator = Migrator(client, old, new, dry_run=not apply, backup=backup,
                            batch=max(1, int(getattr(args, "batch", 1000) or 1000)))
        report = migrator.run()
    except RedisError as exc:
        if migrator is None or migrator.report.round_trips == 0:
            print(f"pulse-tui keys: cannot reach Redis at {redis_shown(url)} ({type(exc).__name__}): nothing was "
                  "read or changed", file=sys.stderr)
            return EXIT_REDIS
        _print_report(migrator.report, out, undo)
        print(f"pulse-tui keys: Redis error: {type(exc).__name__}; every key holds its old or its new value; "
              "rerun to finish", file=sys.stderr)
        return EXIT_REDIS
    except KeyboardInterrupt:
        if migrator is not None:
            _print_report(migrator.report, out, undo)
        print("pulse-tui keys: interrupted; every key holds its old or its new value; rerun to finish",
              file=sys.stderr)
        return EXIT_REDIS
    finally:
        if backup is not None:
            backup.close()
        client.close()
    _print_report(report, out, undo)
    return EXIT_OK if report.safe else EXIT_LEFT


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


def _print_report(report: MigrationReport, out: TextIO, undo: str = "pulse-tui keys restore") -> None:
    mode = "DRY RUN (nothing changed; add --apply to write)" if report.dry_run else "APPLIED"
    out.write(f"keys migrate: {mode}\n")
    for outcome in Outcome:
        n = report.values[outcome]
        if not n:
            continue
        prefixes = ", ".join(f"{p} {c}" for (p, o), c in sorted(report.by_prefix.items()) if o == outcome)
        out.write(f"  {n:>7}  values {_WORDS[outcome]}  [{prefixes}]\n")
        if outcome in (Outcome.UNOPENABLE, Outcome.SKIPPED_CHANGED):
            out.write(f"           e.g. {', '.join(visible(k) for k in report.examples.get(outcome, []))}\n")
    for what, words in _INDEX_WORDS.items():
        if report.index[what]:
            out.write(f"  {report.index[what]:>7}  {words}\n")
    if report.opened_by:
        out.write("  old values opened with: " + ", ".join(f"{k} ({n})" for k, n in report.opened_by.items()) + "\n")
    if report.backup_path:
        shown = visible(report.backup_path)
        out.write(f"  backup: {shown} (undo with `{visible(undo)} {shown}`; it only puts back keys "
                  "nobody wrote since)\n")
    out.write(f"  {report.seconds:.2f} s, {report.round_trips} Redis round trips\n")
    if not report.scripted:
        out.write("  this Redis refuses scripts: each write was a WATCH/MULTI/EXEC compare-and-set\n")
    if n := report.values[Outcome.UNOPENABLE]:
        out.write(f"  WARNING: {n} encrypted value(s) open with none of the old or new keys: Pulse DELETES each one "
                  "when it reads it. Find the keys they were written with and rerun with --from-env THAT.env "
                  "before restarting Pulse.\n")
    if not report.dry_run and report.values[Outcome.MIGRATED]:
        out.write("  next: put the new keys in Pulse's .env and restart it (`pulse restart`).\n")


# --- restore -----------------------------------------------------------------------------------------


def _restore(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    if not config.redis_url:
        raise MigrateError("REDIS_URL (or REDIS_HOST/REDIS_PORT) is not set: no Redis to restore into")
    if config.read_only:
        raise MigrateError("read-only mode: restore is disabled")
    entries = read_backup(args.backup_file)  # before connecting: a bad file is a usage error, not a Redis one
    out.write(f"keys restore: Redis {redis_shown(config.redis_url)}\n")
    client = connect(config.redis_url)
    try:
        if can_write(client, probe=True) is False:
            print(f"pulse-tui keys: {NOT_WRITABLE}: nothing was restored", file=sys.stderr)
            return EXIT_USAGE
        rep = restore(client, entries=entries)
        _print_restore(rep, out)
        forced: RestoreReport | None = None
        if getattr(args, "force", False) and rep.forceable:
            keys = set(rep.forceable)
            if not _confirm(len(keys), out):
                out.write("  --force not confirmed: nothing more was changed\n")
                return EXIT_LEFT
            forced = restore(client, entries=[e for e in entries if e.key in keys], force=True)
            out.write(f"  forced: {forced.restored} restored, {forced.deleted} removed, {len(forced.failed)} failed\n")
    except RedisError as exc:
        print(f"pulse-tui keys: Redis error during restore: {type(exc).__name__}; rerun it (it only puts back keys "
              "that still hold what the migration wrote)", file=sys.stderr)
        return EXIT_REDIS
    finally:
        client.close()
    left = (forced.failed if forced is not None else rep.failed + rep.forceable)
    return EXIT_OK if not left else EXIT_LEFT


def _print_restore(rep: RestoreReport, out: TextIO) -> None:
    out.write(f"keys restore: {rep.restored} key(s) restored, {rep.deleted} created key(s) removed, "
              f"{rep.unchanged} already as backed up, {len(rep.skipped)} skipped, "
              f"{len(rep.failed)} failed\n")
    for key, why in rep.skipped:
        out.write(f"  skipped {visible_bytes(key)}: {why.value}\n")
    for key in rep.failed:
        out.write(f"  failed {visible_bytes(key)}\n")
    if rep.forceable:
        out.write(f"  {len(rep.forceable)} skipped key(s) can be overwritten with `--force` (it asks first): that "
                  "loses what was written since\n")


def _confirm(count: int, out: TextIO) -> bool:
    """The operator types the count of keys to overwrite; anything else (or no terminal input) is a no."""
    out.write(f"  overwrite {count} key(s) written or deleted since the migration? Type {count} to confirm: ")
    out.flush()
    try:
        answer = sys.stdin.readline()
    except (OSError, ValueError):
        answer = ""
    out.write("\n")
    return answer.strip() == str(count)
