"""Configuration checks: Pulse's secrets (set, long enough, not public, not reused), env-file modes, API keys.

Every finding names variables, never their values: a doctor report is meant to be pasted into a ticket.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pulse_tui import envfile
from pulse_tui.config import Config, GatewayKind
from pulse_tui.crypto.pulse import (
    DEFAULT_HASH_SALTS,
    DEFAULT_KEY,
    DEFAULT_SALTS,
    MIN_KEY_LEN,
    PLACEHOLDER_HASH_SALTS,
    PLACEHOLDER_KEYS,
    PLACEHOLDER_SALTS,
    js_length,
    key_too_short,
)
from pulse_tui.model import Finding, Severity
from pulse_tui.stat_memo import StatMemo

OTHER_SECRET_NAMES = ("JWT_SECRET", "SESSION_SECRET", "WEBHOOK_SECRET")
# Minimum lengths: Pulse's own rule for the key; the `.env.example` text ("min_16_chars") for salts; the
# generator's 64 hex chars for the rest, with 32 as the floor below which we call it weak.
MIN_LEN = {"ENCRYPTION_KEY": MIN_KEY_LEN, "ENCRYPTION_SALT": 16, "HASH_SALT": 16,
           "JWT_SECRET": 32, "SESSION_SECRET": 32, "WEBHOOK_SECRET": 32}

# Publicly known values: Pulse's built-in defaults, its `.env.example`, the seed guide's template.
SEED_PLACEHOLDERS = (
    "<your-generated-key>", "<your-generated-salt>", "<your-generated-hash-salt>",
    "<your-generated-jwt-secret>", "<your-generated-session-secret>", "<your-generated-webhook-secret>",
)
KNOWN_DEFAULTS = frozenset({DEFAULT_KEY, *DEFAULT_SALTS, *DEFAULT_HASH_SALTS})
KNOWN_PLACEHOLDERS = frozenset({*PLACEHOLDER_KEYS, *PLACEHOLDER_SALTS, *PLACEHOLDER_HASH_SALTS, *SEED_PLACEHOLDERS})
# Shapes of values nobody generated: `<...>`, `your_..._here`, `change-me`.
_PLACEHOLDER_SHAPE = re.compile(r"^<.*>$|^your[-_]|[-_]here([-_]|$)|change[-_]?me", re.IGNORECASE)
SALESBOY_PLACEHOLDER_API_KEY = "your-secret-key"
PULSE_EXAMPLE_REDIS_PASSWORD = "flash_redis_secure_pass"
ENV_FILE_MAX_MODE = 0o600


def pulse_in_play(config: Config) -> bool:
    """Pulse's secrets matter when its gateway, its Redis or any of its secrets is configured."""
    return (
        config.gateway_kind == GatewayKind.PULSE
        or bool(config.redis_url)
        or any((config.encryption_key, config.encryption_salt, config.hash_salt))
        or any(config.other_secrets.get(n) for n in OTHER_SECRET_NAMES)
    )


def secret_values_by_name(config: Config) -> dict[str, str | None]:
    """The six Pulse secrets by variable name (None when unset or empty)."""
    out: dict[str, str | None] = {
        "ENCRYPTION_KEY": config.encryption_key or None,
        "ENCRYPTION_SALT": config.encryption_salt or None,
        "HASH_SALT": config.hash_salt or None,
    }
    for name in OTHER_SECRET_NAMES:
        out[name] = config.other_secrets.get(name) or None
    return out


def is_known_value(value: str) -> str | None:
    """'default' or 'placeholder' when the value is publicly known, else None."""
    if value in KNOWN_DEFAULTS:
        return "default"
    if value in KNOWN_PLACEHOLDERS or _PLACEHOLDER_SHAPE.search(value):
        return "placeholder"
    return None


_UNSET_EFFECT = {
    "ENCRYPTION_KEY": (Severity.WARNING, "Pulse encrypts every session with its public built-in default key. At start "
                       "it prints a random key to 'add to .env': pasting it switches keys and orphans every session "
                       "written so far."),
    "ENCRYPTION_SALT": (Severity.WARNING, "Pulse uses its public default salt."),
    "HASH_SALT": (Severity.WARNING, "Pulse hashes WhatsApp ids with its public default salt."),
}
_GENERATE_HINT = "Generate values with `pulse-tui keys generate --write <your .env>` (it never changes a set variable)."


def pulse_env_name(config: Config) -> str:
    """The Pulse .env the operator pointed us at (for hints), or a placeholder naming it."""
    return str(config.env_files[-1]) if config.env_files else "<Pulse's .env>"


def switch_keys_hint(config: Config) -> str:
    """The only safe way to new keys: generate into a new file, migrate with Pulse stopped, then copy them in."""
    env = pulse_env_name(config)
    return ("Set no key by hand: with Pulse stopped (`pulse stop`), run `pulse-tui keys generate --write NEW.env` (a "
            f"new file), `pulse-tui --env-file {env} keys migrate --from-default --to-env NEW.env` (a dry run), the "
            "same with --apply, then copy NEW.env's ENCRYPTION_KEY, ENCRYPTION_SALT and HASH_SALT into "
            f"{env} and `pulse start`.")


def _production(config: Config) -> bool:
    return (config.node_env or "").strip().lower() == "production"


def check_encryption_key(config: Config) -> list[Finding]:
    """What Pulse really does with this ENCRYPTION_KEY: refuse to start, silently use its default, or use it."""
    key = config.encryption_key
    hint = switch_keys_hint(config)
    if config.encryption_key_empty and not key:
        return [Finding(Severity.CRITICAL, "secret-key-empty",
                        "ENCRYPTION_KEY= is present but empty: Pulse refuses to start (its schema says "
                        "'\"ENCRYPTION_KEY\" is not allowed to be empty'), whatever NODE_ENV is.",
                        "Delete the empty ENCRYPTION_KEY= line to start Pulse on the default key it used while the "
                        "line was absent; then, to move to a real key: " + hint, ("ENCRYPTION_KEY",))]
    if key is not None and not key_too_short(key):
        return []
    what = "is not set" if key is None else f"has {js_length(key)} characters (< {MIN_KEY_LEN})"
    if _production(config):
        return [Finding(Severity.CRITICAL, "secret-key-refused-production",
                        f"ENCRYPTION_KEY {what} and NODE_ENV=production: Pulse's schema requires 32 or more "
                        "characters there, so Pulse will not start.",
                        "Sessions were written with the default key (outside production) if at all: " + hint,
                        ("ENCRYPTION_KEY", "NODE_ENV"))]
    unsure = "" if config.node_env else (" (under NODE_ENV=production, which pm2's production config sets, Pulse "
                                         "refuses to start instead)")
    if key is None:
        return [Finding(Severity.WARNING, "secret-unset", "ENCRYPTION_KEY is not set: "
                        + _UNSET_EFFECT["ENCRYPTION_KEY"][1] + unsure, hint, ("ENCRYPTION_KEY",))]
    return [Finding(Severity.WARNING, "encryption-key-too-short",
                    f"ENCRYPTION_KEY {what}: Pulse silently ignores it and uses its public default key{unsure}.",
                    "Do not lengthen it in place (that orphans the sessions): " + hint, ("ENCRYPTION_KEY",))]


def check_secrets(config: Config) -> list[Finding]:
    """Each Pulse secret: set, long enough, not a known default/placeholder, not shared with another variable."""
    if not pulse_in_play(config):
        return []
    values = secret_values_by_name(config)
    out: list[Finding] = []
    unset_others = [n for n in OTHER_SECRET_NAMES if values[n] is None]
    if unset_others:
        # One finding for the three non-crypto secrets: same cause, same fix.
        out.append(Finding(Severity.WARNING, "secret-unset",
                           f"{', '.join(unset_others)} {'is' if len(unset_others) == 1 else 'are'} not set.",
                           _GENERATE_HINT, tuple(unset_others)))
    key = values["ENCRYPTION_KEY"]
    if key is None or key_too_short(key):
        out += check_encryption_key(config)
    for name, value in values.items():
        if value is None:
            if name in _UNSET_EFFECT and name != "ENCRYPTION_KEY":
                sev, effect = _UNSET_EFFECT[name]
                out.append(Finding(sev, "secret-unset", f"{name} is not set: {effect}", switch_keys_hint(config),
                                   (name,)))
            continue
        known = is_known_value(value)
        if known is not None:
            sev = Severity.CRITICAL if name in ("ENCRYPTION_KEY", "JWT_SECRET", "SESSION_SECRET",
                                                "WEBHOOK_SECRET") else Severity.WARNING
            out.append(Finding(sev, "secret-known-value",
                               f"{name} holds a publicly known {known} value: anyone can use it.",
                               switch_keys_hint(config) if name in _UNSET_EFFECT else
                               "Replace it by hand with `openssl rand -hex 32` output, then restart Pulse.", (name,)))
            continue
        if name == "ENCRYPTION_KEY":
            continue  # its length is check_encryption_key's
        if len(value) < MIN_LEN[name]:
            out.append(Finding(Severity.WARNING, "secret-too-short",
                               f"{name} has {len(value)} characters (< {MIN_LEN[name]}): easy to guess.",
                               switch_keys_hint(config) if name in _UNSET_EFFECT else
                               "Replace it by hand with `openssl rand -hex 32` output, then restart Pulse.", (name,)))
    out += _duplicates(values)
    return out


class EnvFileLines:
    """Each env file's ignored line numbers, read again only when the file changed (pulse_tui/stat_memo.py): the
    monitor runs the checks every poll, and the files hardly ever change."""

    def __init__(self) -> None:
        self._seen: StatMemo[tuple[int, ...]] = StatMemo()

    def ignored(self, path: Path) -> tuple[int, ...]:
        """The file's ignored line numbers (EnvFileError as `envfile.read` raises it)."""
        key = str(path)
        try:
            st: os.stat_result | None = os.stat(key)
        except OSError:
            st = None
        if st is not None and not stat.S_ISREG(st.st_mode):
            st = None
        hit = self._seen.get(key, st) if st is not None else None
        if hit is not None:
            return hit
        self._seen.drop(key)
        ignored = envfile.read(path).ignored_lines  # stat before the read: a change in between is read next poll
        if st is not None:
            self._seen.put(key, st, ignored)
        return ignored


def check_env_file_lines(paths: Iterable[Path], memo: EnvFileLines | None = None) -> list[Finding]:
    """Lines of an env file that Node's dotenv (so Pulse) silently skips, by number only (a line may hold a secret)."""
    out: list[Finding] = []
    for path in paths:
        try:
            ignored = memo.ignored(path) if memo is not None else envfile.read(path).ignored_lines
        except envfile.EnvFileError:
            continue  # the loader already refused it
        if not ignored:
            continue
        shown = ", ".join(str(n) for n in ignored[:10]) + (f" and {len(ignored) - 10} more" if len(ignored) > 10 else "")
        # INFO: Pulse starts with the file; what a skipped line fails to set is flagged by the check of that variable.
        out.append(Finding(Severity.INFO, "env-file-ignored-lines",
                           f"{path}: line(s) {shown} are not KEY=VALUE to Node's dotenv, so Pulse ignores them "
                           "(the rest of the file is read as Pulse reads it).",
                           "Write them as KEY=VALUE; quote a value holding '#' or spaces (KEY=\"a#b\").", (str(path),)))
    return out


def _duplicates(values: dict[str, str | None]) -> list[Finding]:
    by_value: dict[str, list[str]] = {}
    for name, value in values.items():
        if value:
            by_value.setdefault(value, []).append(name)
    return [
        Finding(Severity.WARNING, "secret-duplicated", f"{' and '.join(names)} hold the same value: "
                "one leak exposes both.", "Give each variable its own random value (`pulse-tui keys generate`).",
                tuple(names))
        for names in by_value.values()
        if len(names) > 1
    ]


def check_api_key(config: Config) -> list[Finding]:
    """A Salesboy gateway key left at its `.env.example` placeholder leaves the gateway effectively open."""
    if config.api_key and config.api_key == SALESBOY_PLACEHOLDER_API_KEY:
        return [Finding(
            Severity.CRITICAL, "gateway-api-key-placeholder",
            "API_SECRET_KEY is the `.env.example` placeholder: anyone who can reach the gateway can drive it.",
            "Set a random API_SECRET_KEY in the gateway's .env (e.g. `openssl rand -hex 32`), restart it with "
            "`pm2 restart salesboy-gateway --update-env`, and give pulse-tui the same value.",
            ("API_SECRET_KEY",))]
    return []


def check_redis_password(config: Config) -> list[Finding]:
    """Pulse's `.env.example` Redis password is public: a Redis using it is open to anyone who reaches it."""
    if not config.redis_url:
        return []
    try:
        password = urlsplit(config.redis_url).password
    except ValueError:
        return []
    if password and unquote(password) == PULSE_EXAMPLE_REDIS_PASSWORD:
        return [Finding(Severity.WARNING, "redis-password-placeholder",
                        "REDIS_PASSWORD is the `.env.example` value: it is public.",
                        "Set a random `requirepass` in redis.conf and the same REDIS_PASSWORD in Pulse's .env.",
                        ("REDIS_PASSWORD",))]
    return []


def check_env_files(paths: Iterable[Path]) -> list[Finding]:
    """Env files readable or writable by other users (mode wider than 600) leak every secret on the host."""
    wide: list[tuple[str, int]] = []
    for path in paths:
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except OSError:
            continue  # the loader already said if a file could not be read
        if mode & ~ENV_FILE_MAX_MODE & 0o777:
            wide.append((str(path), mode))
    if not wide:
        return []
    shown = ", ".join(f"{p} ({m:03o})" for p, m in wide[:3])
    return [Finding(Severity.WARNING, "env-file-permissions",
                    f"{len(wide)} env file(s) readable or writable by other users: {shown}.",
                    "chmod 600 " + " ".join(p for p, _ in wide[:3]) + " (and chown them to the app's user).",
                    tuple(p for p, _ in wide[:3]))]


def check_config(config: Config, env_lines: EnvFileLines | None = None) -> list[Finding]:
    """Every check that needs only the configuration (`env_lines`: a poller's memo of the env files' lines)."""
    return check_secrets(config) + check_api_key(config) + check_redis_password(config) \
        + check_env_files(config.env_files) + check_env_file_lines(config.env_files, env_lines)
