"""The WAHA and Evolution settings pulse-tui reads from the servers' own `.env` variables (names are theirs)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pulse_tui.config import ConfigError

EVOLUTION_DEFAULT_KEY = "BQYHJGJHJ"  # Evolution's code default: public, so as good as no key
EVOLUTION_QRCODE_LIMIT = 30  # its default when QRCODE_LIMIT is unset
_FALSE = ("", "0", "false", "no", "off")
_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class WahaSettings:
    api_key: str | None  # what we send as X-Api-Key
    key_variable: str | None  # which variable it came from (WAHA_API_KEY or the older WHATSAPP_API_KEY)
    key_is_hashed: bool = False  # the server stores `sha512:<hex>`: we cannot send it, the operator must give the key


@dataclass(frozen=True)
class EvolutionSettings:
    api_key: str | None  # AUTHENTICATION_API_KEY (or an instance token), sent as `apikey`
    key_is_default: bool
    del_instance_min: float | None  # DEL_INSTANCE minutes; None when disabled
    qrcode_limit: int
    websocket_enabled: bool
    websocket_global_events: bool


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    return value.strip() if value is not None and value.strip() else None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, not {raw.strip()[:20]!r}.")


def _header_safe(name: str, value: str) -> str:
    """A key sent as an HTTP header: printable ASCII only (CR/LF would end the header). Never echoes the value."""
    if not all(" " <= c <= "~" for c in value):
        raise ConfigError(f"{name} must be printable ASCII (it is sent as an HTTP header); it holds a non-ASCII or "
                          "control character.")
    return value


def waha_settings(env: Mapping[str, str]) -> WahaSettings:
    """WAHA's key from `WAHA_API_KEY`, else `WHATSAPP_API_KEY`; `PULSE_TUI_WAHA_API_KEY` wins over both."""
    for name in ("PULSE_TUI_WAHA_API_KEY", "WAHA_API_KEY", "WHATSAPP_API_KEY"):
        if (value := _get(env, name)) is not None:
            _header_safe(name, value)
            hashed = value.lower().startswith("sha512:")
            return WahaSettings(None if hashed else value, name, hashed)
    return WahaSettings(None, None)


def evolution_settings(env: Mapping[str, str]) -> EvolutionSettings:
    """Evolution's key and the server settings its doctor checks read; a bad number names its variable."""
    key_var = next((n for n in ("PULSE_TUI_EVOLUTION_API_KEY", "AUTHENTICATION_API_KEY") if _get(env, n)), None)
    key = _header_safe(key_var, _get(env, key_var) or "") if key_var else None
    raw_del = _get(env, "DEL_INSTANCE")
    del_min: float | None = None
    if raw_del is not None and raw_del.lower() not in _FALSE:
        try:
            del_min = float(raw_del)
        except ValueError:
            raise ConfigError(f"DEL_INSTANCE must be a number of minutes or false, not {raw_del[:20]!r}.") from None
        if del_min <= 0:
            del_min = None
    raw_limit = _get(env, "QRCODE_LIMIT")
    limit = EVOLUTION_QRCODE_LIMIT
    if raw_limit is not None:
        try:
            limit = int(raw_limit)
        except ValueError:
            raise ConfigError(f"QRCODE_LIMIT must be a whole number, not {raw_limit[:20]!r}.") from None
        if limit < 1:
            raise ConfigError(f"QRCODE_LIMIT must be at least 1, not {limit}.")
    return EvolutionSettings(
        api_key=key,
        key_is_default=(key or EVOLUTION_DEFAULT_KEY) == EVOLUTION_DEFAULT_KEY,
        del_instance_min=del_min,
        qrcode_limit=limit,
        websocket_enabled=_bool(env, "WEBSOCKET_ENABLED", False),
        websocket_global_events=_bool(env, "WEBSOCKET_GLOBAL_EVENTS", False),
    )
