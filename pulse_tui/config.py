"""Configuration: flags > environment > --env-file files > ./.env > defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class GatewayKind(StrEnum):
    SALESBOY = "salesboy"
    PULSE = "pulse"


class ConfigError(Exception):
    """Bad configuration; its message is one sentence naming the variable."""


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

    def secret_values(self) -> tuple[str, ...]:
        """Every configured secret value, for redaction. Short values are skipped to avoid masking noise."""
        vals = [self.api_key, self.encryption_key, self.encryption_salt, self.hash_salt]
        vals += list(self.other_secrets.values())
        if self.redis_url and "@" in self.redis_url:
            userinfo = self.redis_url.split("://", 1)[-1].rsplit("@", 1)[0]
            vals.append(userinfo.split(":", 1)[-1])
        return tuple(v for v in vals if v and len(v) >= 6)
