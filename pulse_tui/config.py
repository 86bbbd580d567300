"""Configuration: flags > environment > --env-file files > ./.env > defaults.

Every setting has one variable name (Pulse's and Salesboy's own names where they have one, so their `.env`
files work as they are). Flags are mapped onto the same names before layering, so precedence is one rule.
A bad value raises `ConfigError` with one sentence naming the variable; the message never holds a secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit


class GatewayKind(StrEnum):
    SALESBOY = "salesboy"
    PULSE = "pulse"


class ConfigError(Exception):
    """Bad configuration; its message is one sentence naming the variable."""


DEFAULT_URLS = {GatewayKind.SALESBOY: "http://127.0.0.1:3001", GatewayKind.PULSE: "http://127.0.0.1:3000"}
DEFAULT_PM2_APPS = {GatewayKind.SALESBOY: "salesboy-gateway", GatewayKind.PULSE: "pulse"}
OTHER_SECRET_VARS = ("JWT_SECRET", "SESSION_SECRET", "WEBHOOK_SECRET", "ELEVENLABS_API_KEY")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off", "")


@dataclass(frozen=True)
class Config:
    gateway_kind: GatewayKind = GatewayKind.SALESBOY
    gateway_url: str = "http://127.0.0.1:3001"
    api_key: str | None = None  # secret: sent as x-api-key
    auth_dirs: tuple[Path, ...] = ()  # LocalAuth roots (".wwebjs_auth" or Pulse's "whatsapp-sessions")
    extra_sessions: tuple[str, ...] = ()
    redis_url: str | None = None  # may carry a password: never print it raw
    encryption_key: str | None = None
    encryption_salt: str | None = None
    hash_salt: str | None = None
    other_secrets: dict[str, str] = field(default_factory=dict)  # JWT_SECRET, ELEVENLABS_API_KEY…
    log_globs: tuple[str, ...] = ()
    poll_seconds: float = 3.0
    request_budget: int = 90  # gateway requests per 15 minutes
    read_only: bool = False
    ascii: bool = False
    env_files: tuple[Path, ...] = ()  # files actually read, for the doctor's mode check
    pm2_app: str | None = None
    audit_log: Path | None = None
    state_dir: Path | None = None  # $XDG_STATE_HOME: the shared budget ledger lives in <state_dir>/pulse-tui/
    oneshot_share: float = 0.1  # share of the gateway's window one `status`/`doctor` run may spend

    def secret_values(self) -> tuple[str, ...]:
        """Every configured secret value, for redaction. Short values are skipped to avoid masking noise."""
        vals = [self.api_key, self.encryption_key, self.encryption_salt, self.hash_salt]
        vals += list(self.other_secrets.values())
        if self.redis_url and "@" in self.redis_url:
            userinfo = self.redis_url.split("://", 1)[-1].rsplit("@", 1)[0]
            quoted = userinfo.split(":", 1)[-1]
            vals += [quoted, unquote(quoted)]  # logs may carry either form
        return tuple(v for v in vals if v and len(v) >= 6)


# --- layering ------------------------------------------------------------------------------------------


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE pairs of one dotenv file (Pulse's own `.env` works as is)."""
    from dotenv import dotenv_values  # lazy: keeps `import pulse_tui.config` cheap

    try:
        with open(path, encoding="utf-8") as fh:
            values = dotenv_values(stream=fh)
    except FileNotFoundError:
        raise ConfigError(f"--env-file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--env-file {path} cannot be read ({type(exc).__name__}).") from None
    return {k: v for k, v in values.items() if v is not None}


def layered(
    flags: Mapping[str, str | None],
    environ: Mapping[str, str],
    env_files: Sequence[Path] = (),
    cwd: Path | None = None,
) -> tuple[dict[str, str], tuple[Path, ...]]:
    """All variables merged by precedence, and the env files that were read (later files win over earlier)."""
    merged: dict[str, str] = {}
    read: list[Path] = []
    local = (cwd or Path.cwd()) / ".env"
    if local.is_file() and local.resolve() not in {Path(p).resolve() for p in env_files}:
        merged.update(read_env_file(local))
        read.append(local)
    for path in env_files:
        merged.update(read_env_file(Path(path)))
        read.append(Path(path))
    merged.update(environ)
    merged.update({k: v for k, v in flags.items() if v is not None})
    return merged, tuple(read)


def load_config(
    flags: Mapping[str, str | None] | None = None,
    environ: Mapping[str, str] | None = None,
    env_files: Sequence[Path] = (),
    cwd: Path | None = None,
) -> Config:
    """Build a Config from flags (already named by variable), the environment and env files."""
    values, read = layered(flags or {}, os.environ if environ is None else environ, env_files, cwd)
    return config_from_values(values, read)


def _get(values: Mapping[str, str], name: str) -> str | None:
    v = values.get(name)
    if v is None:
        return None
    v = v.strip()
    return v or None


def _choice(values: Mapping[str, str], name: str) -> GatewayKind:
    raw = (_get(values, name) or GatewayKind.SALESBOY.value).lower()
    try:
        return GatewayKind(raw)
    except ValueError:
        raise ConfigError(f"{name} must be 'salesboy' or 'pulse', not {raw!r}.") from None


def _url(values: Mapping[str, str], name: str, default: str, schemes: tuple[str, ...]) -> str:
    raw = _get(values, name) or default
    parts = urlsplit(raw)
    if parts.scheme not in schemes or not parts.hostname:
        want = " or ".join(f"{s}://" for s in schemes)
        # The value may carry a password: name the variable, never echo the value.
        raise ConfigError(f"{name} must be a URL starting with {want} and naming a host.")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ConfigError(f"{name} has an invalid port number.") from None
    return raw


def _number(values: Mapping[str, str], name: str, default: float, low: float, high: float, integer: bool) -> float:
    raw = _get(values, name)
    if raw is None:
        return default
    try:
        num = int(raw) if integer else float(raw)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise ConfigError(f"{name} must be {kind} between {low:g} and {high:g}, not {raw!r}.") from None
    if not low <= num <= high:
        raise ConfigError(f"{name} must be between {low:g} and {high:g}, not {raw!r}.")
    return num


def _flag(values: Mapping[str, str], name: str) -> bool:
    raw = (_get(values, name) or "").lower()
    if raw in TRUE_WORDS:
        return True
    if raw in FALSE_WORDS:
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}.")


def _list(values: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = _get(values, name) or ""
    return tuple(p.strip() for p in raw.split(",") if p.strip())


def _redis_url(values: Mapping[str, str], kind: GatewayKind) -> str | None:
    """REDIS_URL, or Pulse's REDIS_HOST/PORT/PASSWORD/DB; Pulse's own default when watching a Pulse gateway."""
    if _get(values, "REDIS_URL"):
        return _url(values, "REDIS_URL", "", ("redis", "rediss", "unix"))
    host = _get(values, "REDIS_HOST")
    if host is None and kind != GatewayKind.PULSE:
        return None
    host = host or "127.0.0.1"
    port = int(_number(values, "REDIS_PORT", 6379, 1, 65535, integer=True))
    db = int(_number(values, "REDIS_DB", 0, 0, 10_000, integer=True))
    password = _get(values, "REDIS_PASSWORD")
    auth = f":{quote(password, safe='')}@" if password else ""
    netloc = f"[{host}]" if ":" in host else host
    return f"redis://{auth}{netloc}:{port}/{db}"


def config_from_values(values: Mapping[str, str], env_files: tuple[Path, ...] = ()) -> Config:
    """Validate merged variables into a Config (raises ConfigError naming the first bad variable)."""
    kind = _choice(values, "PULSE_TUI_GATEWAY")
    gateway_url = _url(values, "PULSE_TUI_GATEWAY_URL", DEFAULT_URLS[kind], ("http", "https"))
    auth_dirs = tuple(Path(p).expanduser() for p in _list(values, "PULSE_TUI_AUTH_DIR"))
    sessions = _list(values, "PULSE_TUI_SESSIONS")
    for sid in sessions:
        if "/" in sid or sid in (".", ".."):
            raise ConfigError(f"PULSE_TUI_SESSIONS holds {sid!r}, which is not a session id.")
    audit = _get(values, "PULSE_TUI_AUDIT_LOG")
    return Config(
        gateway_kind=kind,
        gateway_url=gateway_url,
        api_key=_get(values, "API_SECRET_KEY"),
        auth_dirs=auth_dirs,
        extra_sessions=sessions,
        redis_url=_redis_url(values, kind),
        encryption_key=_get(values, "ENCRYPTION_KEY"),
        encryption_salt=_get(values, "ENCRYPTION_SALT"),
        hash_salt=_get(values, "HASH_SALT"),
        other_secrets={k: v for k in OTHER_SECRET_VARS if (v := _get(values, k))},
        log_globs=_list(values, "PULSE_TUI_LOGS"),
        poll_seconds=_number(values, "PULSE_TUI_POLL_SECONDS", 3.0, 0.5, 3600, integer=False),
        request_budget=int(_number(values, "PULSE_TUI_REQUEST_BUDGET", 90, 1, 100_000, integer=True)),
        read_only=_flag(values, "PULSE_TUI_READ_ONLY"),
        ascii=_flag(values, "PULSE_TUI_ASCII"),
        env_files=env_files,
        pm2_app=_get(values, "PULSE_TUI_PM2_APP") or DEFAULT_PM2_APPS[kind],
        audit_log=Path(audit).expanduser() if audit else None,
        state_dir=_state_dir(values),
        oneshot_share=_number(values, "PULSE_TUI_ONESHOT_SHARE", 0.1, 0.0, 1.0, integer=False),
    )


def _state_dir(values: Mapping[str, str]) -> Path | None:
    """$XDG_STATE_HOME, else ~/.local/state (None when neither it nor HOME is known)."""
    if xdg := _get(values, "XDG_STATE_HOME"):
        return Path(xdg).expanduser()
    home = _get(values, "HOME")
    return Path(home) / ".local" / "state" if home else None
