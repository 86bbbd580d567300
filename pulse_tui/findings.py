"""Every finding code pulse-tui can report, in one registry: usual severity, report group, description, hint.

Producers (doctor checks, host probes, the monitor) build findings through `finding()`, which refuses a code that is
not registered here; the README's "Finding codes" section is generated from this table (`codes_markdown`).
"""

from __future__ import annotations

from dataclasses import dataclass

from pulse_tui.model import Finding, Severity

GROUPS = ("keys", "redis", "gateway", "sessions", "host", "logs")


@dataclass(frozen=True)
class FindingCode:
    """One stable, kebab-case code: its usual severity (a producer may raise or lower it), group and description."""

    code: str
    severity: Severity
    group: str
    description: str
    hint: str = ""  # the general remedy; a finding's own hint, when it has one, is more specific


C, W, I, U = Severity.CRITICAL, Severity.WARNING, Severity.INFO, Severity.UNKNOWN  # noqa: E741 - short table cells

_ENTRIES = (
    FindingCode("secret-unset", W, "keys",
                "A Pulse secret (ENCRYPTION_KEY, ENCRYPTION_SALT, HASH_SALT, JWT/SESSION/WEBHOOK_SECRET) is unset."),
    FindingCode("secret-key-empty", C, "keys",
                "ENCRYPTION_KEY= is present but empty: Pulse's config check refuses to start."),
    FindingCode("secret-key-refused-production", C, "keys",
                "NODE_ENV=production with an ENCRYPTION_KEY under 32 characters: Pulse refuses to start."),
    FindingCode("env-file-ignored-lines", I, "keys",
                "Lines of a .env file that Node's dotenv ignores (reported by number, never by value)."),
    FindingCode("secret-known-value", C, "keys", "A secret holds a public default or placeholder value."),
    FindingCode("encryption-key-too-short", W, "keys",
                "ENCRYPTION_KEY is under 32 characters, so Pulse silently uses its default key."),
    FindingCode("secret-too-short", W, "keys", "A secret is shorter than its minimum length."),
    FindingCode("secret-duplicated", W, "keys", "Two secret variables hold the same value."),
    FindingCode("sessions-undecryptable", C, "keys",
                "Sessions in Redis open with no configured or known key (Pulse deletes them)."),
    FindingCode("sessions-default-key", C, "keys",
                "Sessions in Redis were written with a public default or placeholder key."),
    FindingCode("index-hash-salt-mismatch", W, "keys",
                "Index keys were hashed with another HASH_SALT than the configured one."),
    FindingCode("redis-unreachable", C, "redis", "Redis does not answer."),
    FindingCode("redis-auth-failed", C, "redis", "Redis refused the password."),
    FindingCode("redis-persistence-off", W, "redis", "Redis saves nothing to disk: a restart loses every session."),
    FindingCode("redis-persistence-unknown", I, "redis", "Could not tell whether Redis persists data."),
    FindingCode("redis-last-save-failed", C, "redis", "Redis's last RDB/AOF write failed."),
    FindingCode("redis-password-placeholder", W, "redis", "REDIS_PASSWORD is the public `.env.example` value."),
    FindingCode("sessions-plain-json", W, "redis",
                "Plain-JSON session values (cache warmer) that Pulse deletes on read."),
    FindingCode("sessions-corrupt", W, "redis", "Session values that are not Pulse's format."),
    FindingCode("sessions-orphan", W, "redis", "Sessions with no `whatsapp:` index key pointing at them."),
    FindingCode("index-dangling", I, "redis", "`whatsapp:` index keys whose session is gone (normal after logouts)."),
    FindingCode("sessions-wrong-type", W, "redis",
                "`session:` keys that are hashes, lists, sets… instead of Pulse's strings."),
    FindingCode("index-wrong-type", W, "redis",
                "`whatsapp:` keys that are hashes, lists, sets… instead of index strings."),
    FindingCode("redis-check-failed", U, "redis",
                "The Redis checks could not run (an unexpected error in the checks)."),
    FindingCode("redis-could-not-check", U, "redis", "Redis could not be read in this run."),
    FindingCode("keys-check-failed", U, "keys", "The key checks could not run (an unexpected error in the checks)."),
    FindingCode("gateway-check-failed", U, "gateway",
                "The gateway checks could not run (an unexpected error in the checks)."),
    FindingCode("gateway-could-not-check", U, "gateway",
                "The gateway could not be polled in this run (its poll failed)."),
    FindingCode("sessions-check-failed", U, "sessions",
                "The session checks could not run (an unexpected error in the checks)."),
    FindingCode("host-check-failed", U, "host", "A host check could not run (an unexpected error in the checks)."),
    FindingCode("logs-check-failed", U, "logs", "The log checks could not run (an unexpected error in the checks)."),
    FindingCode("gateway-down", C, "gateway", "The gateway does not answer."),
    FindingCode("gateway-unauthorized", C, "gateway", "The gateway answers 401: wrong or missing API_SECRET_KEY."),
    FindingCode("gateway-rate-limited", W, "gateway", "The gateway answers 429: its rate limit is spent."),
    FindingCode("gateway-error", C, "gateway", "The gateway answers 5xx or bodies we cannot read."),
    FindingCode("gateway-budget-spent", I, "gateway", "pulse-tui's own request budget is spent for this window."),
    FindingCode("gateway-unchecked", I, "gateway", "The gateway could not be asked in this poll."),
    FindingCode("gateway-api-key-placeholder", C, "gateway", "Salesboy's API_SECRET_KEY is still `your-secret-key`."),
    FindingCode("sessions-will-not-survive-restart", W, "sessions",
                "Connected sessions that a gateway restart will lose."),
    FindingCode("sessions-no-auth-dir", W, "sessions", "Connected sessions with no LocalAuth dir on disk."),
    FindingCode("pulse-logout-on-shutdown", I, "sessions",
                "Pulse logs every instance out on shutdown (re-scan after restart)."),
    FindingCode("auth-dir-never-restored", W, "sessions",
                "Auth dirs whose name the gateway never restores (not a UUID)."),
    FindingCode("auth-dir-without-session", I, "sessions", "Auth dirs on disk with no running client."),
    FindingCode("sessions-auth-dead", W, "sessions",
                "Sessions logged out from the phone: their auth dir needs a new QR."),
    FindingCode("sessions-stuck", W, "sessions", "Sessions starting for too long with no QR."),
    FindingCode("env-file-permissions", W, "host", "An env file is readable or writable by other users."),
    FindingCode("elevenlabs-unauthorized", W, "logs", "ElevenLabs answers 401 while ELEVENLABS_API_KEY is set."),
    FindingCode("log-decryption-failed", C, "logs",
                "Pulse logged 'Decryption failed': it is deleting sessions it cannot read."),
    FindingCode("waha-no-api-key", C, "gateway",
                "WAHA enforces no API key (Core 2024.10.8 never does, or WAHA_API_KEY is unset)."),
    FindingCode("waha-environment-exposes-keys", C, "gateway",
                "WAHA's /api/server/environment hands out its API key variables."),
    FindingCode("waha-core-single-session", I, "gateway", "WAHA Core before 2026.6.1 runs only the 'default' session."),
    FindingCode("waha-session-failed", W, "sessions",
                "A WAHA session is FAILED (unlinked, auth failure or the QR codes ran out)."),
    FindingCode("waha-qr-running-out", W, "sessions",
                "A WAHA session has used most of its 6 QR codes: it goes FAILED next."),
    FindingCode("waha-working-silent", W, "sessions",
                "A WAHA session is WORKING but has had no activity for a long time."),
    FindingCode("evolution-default-key", C, "gateway",
                "Evolution runs with its public default key BQYHJGJHJ (or none set)."),
    FindingCode("evolution-del-instance", W, "gateway",
                "DEL_INSTANCE is set: Evolution deletes instances that are not open."),
    FindingCode("evolution-qr-limit-reached", W, "sessions",
                "An Evolution instance reached QRCODE_LIMIT and was refused."),
    FindingCode("evolution-state-mismatch", W, "sessions",
                "Evolution's database and memory disagree on an instance's state."),
    FindingCode("evolution-reconnect-loop", W, "sessions",
                "An Evolution instance reconnects over and over (connection.update flood)."),
    FindingCode("evolution-logged-out", W, "sessions",
                "An Evolution instance was closed with 401 (logged out): it needs a new QR."),
    FindingCode("evolution-transient-close", I, "sessions",
                "An Evolution instance closed with a transient code (408/515...)."),
    FindingCode("auth-dirs-unreadable", W, "sessions",
                "The auth roots could not be listed in this poll (the last listing is kept)."),
    FindingCode("checks-failed", U, "host",
                "The doctor's checks could not run over this snapshot (an unexpected error)."),
    FindingCode("sessions-auth-root-unusable", W, "sessions",
                "A configured auth root is missing, a file, a FIFO or unreadable."),
    FindingCode("log-path-unusable", W, "logs",
                "A configured log path matches nothing usable (missing, a directory, a FIFO, unreadable)."),
    FindingCode("browser-stale-lock", I, "host",
                "A profile's Chromium SingletonLock names a dead process on this host (Chromium clears it)."),
    FindingCode("browser-lock-conflict", W, "host",
                "A profile's SingletonLock names a live process that is not its Chromium (a reused pid)."),
    FindingCode("browser-lock-foreign", C, "host",
                "A profile's SingletonLock was written on another host: the next start fails (exit 21)."),
    FindingCode("browser-lock-unreadable", U, "host", "A profile's SingletonLock could not be read."),
    FindingCode("browser-orphaned", W, "host",
                "A browser holds a session's profile although its gateway no longer owns it."),
    FindingCode("pm2-app-down", C, "host", "The configured pm2 app is not online."),
    FindingCode("pm2-app-missing", W, "host", "The configured pm2 app (PULSE_TUI_PM2_APP) is not in pm2's list."),
    FindingCode("pm2-memory-restart", W, "host", "pm2 restarted the gateway for exceeding max_memory_restart."),
    FindingCode("pm2-restarted", W, "host", "pm2 restarted the gateway since pulse-tui started watching."),
)
REGISTRY: dict[str, FindingCode] = {e.code: e for e in _ENTRIES}


def finding(code: str, message: str, hint: str = "", subjects: tuple[str, ...] = (),
            severity: Severity | None = None) -> Finding:
    """A finding of a registered code (KeyError for an unregistered one), at its usual severity unless given."""
    entry = REGISTRY[code]
    return Finding(severity or entry.severity, code, message, hint or entry.hint, subjects)


def group_of(code: str) -> str:
    """The report group of a code ('host' for one that is not registered)."""
    entry = REGISTRY.get(code)
    return entry.group if entry is not None else "host"


def describe(code: str) -> str:
    """The one-line description of a code ("" when it is not registered)."""
    entry = REGISTRY.get(code)
    return entry.description if entry is not None else ""


def codes_markdown() -> str:
    """The README's table of finding codes, by group."""
    rows = ["| Code | Group | Usual severity | What it means |", "|---|---|---|---|"]
    for group in GROUPS:
        for e in sorted((e for e in _ENTRIES if e.group == group), key=lambda e: e.code):
            rows.append(f"| `{e.code}` | {e.group} | {e.severity.value} | {e.description.replace('|', '/')} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(codes_markdown(), end="")
