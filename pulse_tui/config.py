"""Configuration: flags > environment > --env-file files > ./.env > defaults.

Every setting has one variable name (Pulse's and Salesboy's own names where they have one, so their `.env`
files work as they are). Flags are mapped onto the same names before layering, so precedence is one rule.
A bad value raises `ConfigError` with one sentence naming the variable; the message never holds a secret.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from pulse_tui.url_host import url_host

if TYPE_CHECKING:
    from pulse_tui.sources.gateway.keys_from_env import EvolutionSettings, WahaSettings


class GatewayKind(StrEnum):
    SALESBOY = "salesboy"
    PULSE = "pulse"
    WAHA = "waha"
    EVOLUTION = "evolution"


class ConfigError(Exception):
    """Bad configuration; its message is one sentence naming the variable."""


DEFAULT_URLS = {GatewayKind.SALESBOY: "http://127.0.0.1:3001", GatewayKind.PULSE: "http://127.0.0.1:3000",
                GatewayKind.WAHA: "http://127.0.0.1:3000", GatewayKind.EVOLUTION: "http://127.0.0.1:8080"}
# WAHA and Evolution mostly run in Docker: no pm2 app unless PULSE_TUI_PM2_APP names one.
DEFAULT_PM2_APPS = {GatewayKind.SALESBOY: "salesboy-gateway", GatewayKind.PULSE: "pulse"}
OTHER_SECRET_VARS = ("JWT_SECRET", "SESSION_SECRET", "WEBHOOK_SECRET", "ELEVENLABS_API_KEY")
# The WAHA and Evolution key variables: redacted whichever gateway is watched (one .env may hold several).
GATEWAY_KEY_VARS = ("PULSE_TUI_WAHA_API_KEY", "WAHA_API_KEY", "WHATSAPP_API_KEY", "PULSE_TUI_EVOLUTION_API_KEY",
                    "AUTHENTICATION_API_KEY")
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
    log_lines: int = 10_000  # the log pane's buffer: ~0.8 KiB of RSS a line once full
    poll_seconds: float = 3.0
    request_budget: int = 90  # gateway requests per 15 minutes
    read_only: bool = False
    ascii: bool = False
    env_files: tuple[Path, ...] = ()  # files actually read, for the doctor's mode check
    pm2_app: str | None = None
    audit_log: Path | None = None
    encryption_key_empty: bool = False  # `ENCRYPTION_KEY=` present but empty: Pulse's Joi schema refuses to start
    node_env: str | None = None  # Pulse's NODE_ENV: under "production" a short key stops Pulse too
    state_dir: Path | None = None  # $XDG_STATE_HOME: the shared budget ledger lives in <state_dir>/pulse-tui/
    oneshot_share: float = 0.1  # share of the gateway's window one `status`/`doctor` run may spend
    waha: WahaSettings | None = None  # read from WAHA's own variables when PULSE_TUI_GATEWAY=waha
    evolution: EvolutionSettings | None = None  # read from Evolution's own variables when PULSE_TUI_GATEWAY=evolution
    gateway_keys: tuple[str, ...] = ()  # values of GATEWAY_KEY_VARS, for redaction only

    def pm2_app_name(self) -> str:
        """The pm2 app to watch and restart: PULSE_TUI_PM2_APP, else the usual name for the gateway kind."""
        return self.pm2_app or DEFAULT_PM2_APPS.get(self.gateway_kind, "salesboy-gateway")

    def secret_values(self) -> tuple[str, ...]:
        """Every configured secret value, for redaction. Short values are skipped to avoid masking noise."""
        vals = [self.api_key, self.encryption_key, self.encryption_salt, self.hash_salt]
        vals += list(self.other_secrets.values()) + list(self.gateway_keys)
        if self.redis_url and "@" in self.redis_url:
            userinfo = self.redis_url.split("://", 1)[-1].rsplit("@", 1)[0]
            quoted = userinfo.split(":", 1)[-1]
            vals += [quoted, unquote(quoted)]  # logs may carry either form
        return tuple(v for v in vals if v and len(v) >= 6)


# --- layering ------------------------------------------------------------------------------------------


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE pairs of one dotenv file, read exactly as Pulse's Node dotenv 16 reads it."""
    from pulse_tui.envfile import EnvFileError, read

    try:
        return read(path, "--env-file").values
    except EnvFileError as exc:
        raise ConfigError(str(exc)) from None


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


MAX_URL_LEN = 2048
ECHO_LEN = 24  # a value quoted in an error is cut to this many characters
_HOST_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?$")
_REDIS_QUERY = {"db", "ssl_cert_reqs"}  # the URL options REDIS_URL may carry (redis-py raises on bad others)


def _echo(raw: str) -> str:
    """A non-secret value for an error message: a short, safe prefix (a 5,000-digit value echoes 5 kB)."""
    from pulse_tui.sanitize import visible

    if len(raw) <= ECHO_LEN:
        return repr(visible(raw))
    return f"{visible(raw[:ECHO_LEN])!r}… ({len(raw)} characters)"


def _exact(values: Mapping[str, str], name: str) -> str | None:
    """A secret exactly as Pulse gets it (dotenv already trimmed unquoted values; quoted ones keep their spaces)."""
    return values.get(name) or None


def _get(values: Mapping[str, str], name: str) -> str | None:
    v = values.get(name)
    if v is None:
        return None
    v = v.strip()
    if "\x00" in v:
        raise ConfigError(f"{name} holds a NUL character.")
    return v or None


def _choice(values: Mapping[str, str], name: str) -> GatewayKind:
    raw = (_get(values, name) or GatewayKind.SALESBOY.value).lower()
    try:
        return GatewayKind(raw)
    except ValueError:
        words = ", ".join(f"'{k.value}'" for k in GatewayKind)
        raise ConfigError(f"{name} must be one of {words}, not {_echo(raw)}.") from None


def _host_error(host: str) -> str | None:
    """Why `host` (as urlsplit gives it, brackets removed) is no host name or IP address; None when it is one."""
    if not host:
        return "names no host"
    if ":" in host:
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return "has an invalid IPv6 address"
        return None
    if not _HOST_RE.match(host):
        return "has an invalid host name"
    return None


def _url(values: Mapping[str, str], name: str, default: str, schemes: tuple[str, ...]) -> str:
    """A URL of one of `schemes` naming a host and a valid port; errors name the variable, never echo the value."""
    raw = _get(values, name) or default
    want = " or ".join(f"{s}://" for s in schemes)
    # The value may carry a password: every message names the variable, never the value.
    if len(raw) > MAX_URL_LEN:
        raise ConfigError(f"{name} is too long ({len(raw):,} characters; a URL has at most {MAX_URL_LEN:,}).")
    if not raw.isascii():
        raise ConfigError(f"{name} holds non-ASCII characters; write an international host name in its xn-- form "
                          "and percent-encode the rest.")
    if any(c.isspace() or not c.isprintable() for c in raw):
        raise ConfigError(f"{name} holds a space or a control character.")
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        why = "an unclosed [ in its IPv6 address" if "IPv6" in str(exc) else "an invalid port number"
        raise ConfigError(f"{name} has {why}.") from None
    if parts.scheme not in schemes:
        raise ConfigError(f"{name} must be a URL starting with {want}.")
    if port is not None and not 1 <= port <= 65535:
        raise ConfigError(f"{name} has port {port}; a port is between 1 and 65535.")
    problem = _host_error(parts.hostname or "")
    if problem is not None:
        raise ConfigError(f"{name} {problem}; it must be a URL like {schemes[0]}://127.0.0.1:PORT.")
    return raw


def _number(values: Mapping[str, str], name: str, default: float, low: float, high: float, integer: bool) -> float:
    raw = _get(values, name)
    if raw is None:
        return default
    try:
        num = int(raw) if integer else float(raw)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise ConfigError(f"{name} must be {kind} between {low:g} and {high:g}, not {_echo(raw)}.") from None
    if not low <= num <= high:
        raise ConfigError(f"{name} must be between {low:g} and {high:g}, not {_echo(raw)}.")
    return num


def _flag(values: Mapping[str, str], name: str) -> bool:
    raw = (_get(values, name) or "").lower()
    if raw in TRUE_WORDS:
        return True
    if raw in FALSE_WORDS:
        return False
    raise ConfigError(f"{name} must be true or false, not {_echo(raw)}.")


def _list(values: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = _get(values, name) or ""
    return tuple(p.strip() for p in raw.split(",") if p.strip())


def _expand(name: str, raw: str) -> Path:
    try:
        return Path(raw).expanduser()
    except (RuntimeError, ValueError):  # "~nosuchuser/…": no home dir to expand to
        raise ConfigError(f"{name} names a home dir (~user) that does not exist.") from None


def _paths(values: Mapping[str, str], name: str) -> tuple[Path, ...]:
    return tuple(_expand(name, p) for p in _list(values, name))


def _redis_query(query: str) -> str | None:
    """Why REDIS_URL's options are refused (redis-py would raise on them, or read a wrong db); None when fine."""
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in _REDIS_QUERY:
            return f"has the option {_echo(key)}, which pulse-tui does not pass on (only db=N)"
        if key == "db" and not (value.isdigit() and value.isascii()):
            return "has a database (?db=) that is not a number"
        if key == "ssl_cert_reqs" and value.lower() not in ("none", "optional", "required"):
            return "has ssl_cert_reqs other than none, optional or required"
    return None


def _check_redis_url(raw: str) -> str:
    """REDIS_URL validated: redis[s]://host[:port][/db][?db=N], or unix:///path/to.sock[?db=N]."""
    name = "REDIS_URL"
    if len(raw) > MAX_URL_LEN:
        raise ConfigError(f"{name} is too long ({len(raw):,} characters; a URL has at most {MAX_URL_LEN:,}).")
    if raw.lower().startswith("unix:"):
        if not raw.isascii() or any(c.isspace() or not c.isprintable() for c in raw):
            raise ConfigError(f"{name} holds a space, a control or a non-ASCII character (percent-encode them).")
        parts = urlsplit(raw)
        path = unquote(parts.path)
        if parts.hostname:  # redis-py would ignore it and open the path: say so rather than guess
            raise ConfigError(f"{name} names a host in a unix:// URL; write unix:///path/to/redis.sock.")
        if not path.startswith("/") or path == "/":
            raise ConfigError(f"{name} must name the socket's absolute path, e.g. unix:///run/redis/redis.sock.")
    else:
        _url({name: raw}, name, "", ("redis", "rediss"))
        parts = urlsplit(raw)
        db = parts.path.lstrip("/")
        if db and not (db.isdigit() and db.isascii()):
            raise ConfigError(f"{name} has a database (the path after the host) that is not a number, e.g. /0.")
    problem = _redis_query(parts.query)
    if problem is not None:
        raise ConfigError(f"{name} {problem}.")
    return raw


def _redis_url(values: Mapping[str, str], kind: GatewayKind) -> str | None:
    """REDIS_URL, or Pulse's REDIS_HOST/PORT/PASSWORD/DB; Pulse's own default when watching a Pulse gateway."""
    url = _get(values, "REDIS_URL")
    if url:
        return _check_redis_url(url)
    host = _get(values, "REDIS_HOST")
    if host is None and kind != GatewayKind.PULSE:
        return None
    host = host or "127.0.0.1"
    if not host.isascii() or _host_error(host.strip("[]")) is not None:
        hint = "; put the port in REDIS_PORT" if host.count(":") == 1 else ""
        raise ConfigError(f"REDIS_HOST must be a host name or an IP address alone{hint}.")
    host = host.strip("[]")
    port = int(_number(values, "REDIS_PORT", 6379, 1, 65535, integer=True))
    db = int(_number(values, "REDIS_DB", 0, 0, 10_000, integer=True))
    password = _get(values, "REDIS_PASSWORD")
    if password is not None and not _utf8(password):
        raise ConfigError("REDIS_PASSWORD is not valid UTF-8.")
    auth = f":{quote(password, safe='')}@" if password else ""
    return f"redis://{auth}{url_host(host)}:{port}/{db}"


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (undecodable bytes in the environment)
        return False
    return True


def _api_key(values: Mapping[str, str]) -> str | None:
    key = _get(values, "API_SECRET_KEY")
    if key is not None and not all(" " <= c <= "~" for c in key):
        # It is sent as an HTTP header: a header is ASCII, and CR/LF would end it. Never echo a secret.
        raise ConfigError("API_SECRET_KEY must be printable ASCII (it is sent as the x-api-key header); "
                          "it holds a non-ASCII or control character.")
    return key


def config_from_values(values: Mapping[str, str], env_files: tuple[Path, ...] = ()) -> Config:
    """Validate merged variables into a Config (raises ConfigError naming the first bad variable)."""
    kind = _choice(values, "PULSE_TUI_GATEWAY")
    gateway_url = _url(values, "PULSE_TUI_GATEWAY_URL", DEFAULT_URLS[kind], ("http", "https"))
    auth_dirs = _paths(values, "PULSE_TUI_AUTH_DIR")
    sessions = _list(values, "PULSE_TUI_SESSIONS")
    for sid in sessions:
        if "/" in sid or sid in (".", ".."):
            raise ConfigError(f"PULSE_TUI_SESSIONS holds {_echo(sid)}, which is not a session id.")
    audit = _get(values, "PULSE_TUI_AUDIT_LOG")
    return Config(
        gateway_kind=kind,
        gateway_url=gateway_url,
        api_key=_api_key(values),
        auth_dirs=auth_dirs,
        extra_sessions=sessions,
        redis_url=_redis_url(values, kind),
        encryption_key=_exact(values, "ENCRYPTION_KEY"),
        encryption_salt=_exact(values, "ENCRYPTION_SALT"),
        hash_salt=_exact(values, "HASH_SALT"),
        encryption_key_empty="ENCRYPTION_KEY" in values and not values["ENCRYPTION_KEY"],
        node_env=_get(values, "NODE_ENV"),
        other_secrets={k: v for k in OTHER_SECRET_VARS if (v := _get(values, k))},
        log_globs=_list(values, "PULSE_TUI_LOGS"),
        log_lines=int(_number(values, "PULSE_TUI_LOG_LINES", 10_000, 100, 1_000_000, integer=True)),
        poll_seconds=_number(values, "PULSE_TUI_POLL_SECONDS", 3.0, 0.5, 3600, integer=False),
        request_budget=int(_number(values, "PULSE_TUI_REQUEST_BUDGET", 90, 1, 100_000, integer=True)),
        read_only=_flag(values, "PULSE_TUI_READ_ONLY"),
        ascii=_flag(values, "PULSE_TUI_ASCII"),
        env_files=env_files,
        pm2_app=_get(values, "PULSE_TUI_PM2_APP") or None,  # None: watch the usual name, never miss it loudly
        audit_log=_expand("PULSE_TUI_AUDIT_LOG", audit) if audit else None,
        state_dir=_state_dir(values),
        oneshot_share=_number(values, "PULSE_TUI_ONESHOT_SHARE", 0.1, 0.0, 1.0, integer=False),
        **_gateway_settings(values, kind),
    )


def _gateway_settings(values: Mapping[str, str], kind: GatewayKind) -> dict[str, Any]:
    """WAHA's or Evolution's own settings (only for the watched gateway), and every gateway key for redaction."""
    out: dict[str, Any] = {"gateway_keys": tuple(v for n in GATEWAY_KEY_VARS if (v := _exact(values, n)))}
    if kind == GatewayKind.WAHA:
        from pulse_tui.sources.gateway.keys_from_env import waha_settings

        waha = waha_settings(values)
        if waha.key_is_hashed:
            raise ConfigError(f"{waha.key_variable} holds a hashed key (sha512:…) that cannot be sent: put the "
                              "plain key in PULSE_TUI_WAHA_API_KEY.")
        out["waha"] = waha
    elif kind == GatewayKind.EVOLUTION:
        from pulse_tui.sources.gateway.keys_from_env import evolution_settings

        out["evolution"] = evolution_settings(values)
    return out


def _state_dir(values: Mapping[str, str]) -> Path | None:
    """$XDG_STATE_HOME, else ~/.local/state (None when neither it nor HOME is known)."""
    if xdg := _get(values, "XDG_STATE_HOME"):
        return Path(xdg).expanduser()
    home = _get(values, "HOME")
    return Path(home) / ".local" / "state" if home else None
