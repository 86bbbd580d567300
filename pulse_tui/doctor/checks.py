"""The doctor's checks: every troubleshooting step of the seeds as a function returning `Finding`s.

`findings_for(config, log_lines=...)` is the Monitor's hook (run after each poll); `run_checks` is the same for
one snapshot. Codes are stable and kebab-case, registered in `pulse_tui.findings` with their group and description.
No finding ever holds a secret: they name variables and example ids, and a last pass redacts configured values.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence

from pulse_tui.config import Config, GatewayKind
from pulse_tui.doctor.checks_keys import EnvFileLines, check_config, pulse_in_play
from pulse_tui.doctor.checks_redis import check_redis, count_text, examples
from pulse_tui.findings import GROUPS, REGISTRY, group_of
from pulse_tui.model import ConnState, Finding, HealthState, Severity, Snapshot

# Codes, descriptions and groups live in one registry (pulse_tui/findings.py), shared with every other producer.
CODES: dict[str, str] = {code: e.description for code, e in REGISTRY.items()}
GROUP_OF: dict[str, str] = {code: e.group for code, e in REGISTRY.items()}

LogLines = Callable[[], Iterable[str]]
ExtraChecks = Callable[[Snapshot], Iterable[Finding]]


# --- gateway and sessions -------------------------------------------------------------------------


# What to do when the gateway is down or refuses the key, in each gateway's own terms (WAHA and Evolution mostly run
# in Docker and read other variables than Salesboy's API_SECRET_KEY).
_DOWN_HINTS: dict[str, str] = {
    GatewayKind.PULSE: "Check `pm2 status` and the pm2 error log; start it with `pulse restart`.",
    GatewayKind.WAHA: "Check `docker ps` and `docker logs waha`; start it with `docker start waha` (or your "
                      "compose file).",
    GatewayKind.EVOLUTION: "Check `docker ps` (or `pm2 status`) and Evolution's log; it needs its database "
                           "(DATABASE_CONNECTION_URI) up before it answers.",
}
_KEY_HINTS: dict[str, str] = {
    GatewayKind.WAHA: "Give pulse-tui WAHA's key: `--env-file` WAHA's .env (WAHA_API_KEY or WHATSAPP_API_KEY), or "
                      "PULSE_TUI_WAHA_API_KEY when the server stores it hashed (sha512:).",
    GatewayKind.EVOLUTION: "Give pulse-tui Evolution's AUTHENTICATION_API_KEY (`--env-file` its .env), or an "
                           "instance token in PULSE_TUI_EVOLUTION_API_KEY.",
}


def check_gateway(snapshot: Snapshot, config: Config) -> list[Finding]:
    """Gateway health: down, 401 (wrong API_SECRET_KEY), 429, errors."""
    gw = snapshot.gateway
    where = f"{snapshot.gateway_kind} gateway at {snapshot.gateway_url}"
    detail = f" ({gw.detail})" if gw.detail else ""
    if gw.state == HealthState.DOWN:
        hint = _DOWN_HINTS.get(snapshot.gateway_kind, "Check `pm2 status` and the pm2 error log; "
                               "start it with `pm2 restart salesboy-gateway`.")
        return [Finding(Severity.CRITICAL, "gateway-down", f"The {where} does not answer{detail}.", hint)]
    if gw.state == HealthState.UNAUTHORIZED:
        key = (config.waha.api_key if config.waha else config.evolution.api_key if config.evolution
               else config.api_key)
        sent = "an API key" if key else "no API key"
        hint = _KEY_HINTS.get(snapshot.gateway_kind, "Give pulse-tui the gateway's API_SECRET_KEY "
                              "(`--env-file /root/salesboy-gateway/.env` or the API_SECRET_KEY variable); under pm2 "
                              "NODE_ENV=production turns the check on.")
        return [Finding(Severity.CRITICAL, "gateway-unauthorized",
                        f"The {where} answers 401: pulse-tui sent {sent} and the gateway refused it.", hint)]
    if gw.state == HealthState.RATE_LIMITED:
        wait = f" for {gw.retry_after_s:.0f} s" if gw.retry_after_s else ""
        return [Finding(Severity.WARNING, "gateway-rate-limited",
                        f"The {where} answers 429 (rate limit spent){wait}.",
                        "Salesboy allows 100 requests per 15 minutes per IP, /health included: close other "
                        "dashboards polling it, or lower pulse-tui's REQUEST_BUDGET.")]
    if gw.state == HealthState.ERROR:
        return [Finding(Severity.CRITICAL, "gateway-error", f"The {where} answers with errors{detail}.",
                        "Read the gateway's pm2 error log (`pm2 logs --err`).")]
    if gw.state == HealthState.BUDGET:
        return [Finding(Severity.INFO, "gateway-budget-spent",
                        f"pulse-tui's request budget for the {where} is spent for this window: states may be stale.",
                        "Nothing to fix; raise REQUEST_BUDGET if the gateway's limit allows.")]
    if gw.state == HealthState.UNKNOWN:
        return [Finding(Severity.INFO, "gateway-unchecked", f"The {where} was not asked in this poll.",
                        "Run the doctor again.")]
    return []


_FLAG_FINDINGS: tuple[tuple[str, str, Severity, str, str], ...] = (
    # flag, code, severity, message (count + examples follow), hint
    ("will-not-survive-restart", "sessions-will-not-survive-restart", Severity.WARNING,
     "connected session(s) will not come back by themselves after a gateway restart",
     "Keep their LocalAuth dirs on disk (and not under a tmpfs); for Pulse, restart with `pulse reload` rather than "
     "a full stop, and plan a re-scan after restarts."),
    ("no-auth-dir", "sessions-no-auth-dir", Severity.WARNING,
     "connected session(s) have no LocalAuth dir on disk: a restart needs a new QR scan",
     "Point pulse-tui at the gateway's auth root (AUTH_DIRS) or check the gateway's working directory under pm2."),
    ("logout-on-shutdown", "pulse-logout-on-shutdown", Severity.INFO,
     "Pulse instance(s) are logged out when Pulse shuts down, so each restart forces a re-scan",
     "Known Pulse behaviour: schedule restarts when someone can scan the QR."),
    ("never-restored", "auth-dir-never-restored", Severity.WARNING,
     "auth dir(s) have a name the gateway never restores (not a UUID)",  # the real names: subjects
     "Orphans from the dashboard's placeholder ids: remove them once you have checked nothing uses them."),
    ("auth-dead", "sessions-auth-dead", Severity.WARNING,
     "session(s) were logged out from the phone (LOGOUT): their auth dir is dead",
     "Start the session and scan the new QR, or delete the dead auth dir."),
    ("stuck", "sessions-stuck", Severity.WARNING,
     "session(s) have been starting for a long time with no QR",
     "Often a browser that cannot start: look for a stale Chromium SingletonLock in the profile dir."),
)


def check_sessions(snapshot: Snapshot) -> list[Finding]:
    """Session flags from the monitor (will-not-survive-restart, no-auth-dir…) and auth dirs with no client."""
    out: list[Finding] = []
    for flag, code, sev, text, hint in _FLAG_FINDINGS:
        ids = [s.id for s in snapshot.sessions if flag in s.flags]
        if ids:
            out.append(Finding(sev, code, f"{count_text(ids)} {text}.", hint, examples(ids)))
    idle = [s.id for s in snapshot.sessions
            if s.has_auth_dir and s.state in (ConnState.RESTORABLE, ConnState.STOPPED) and "never-restored" not in s.flags
            and "auth-dead" not in s.flags]
    if idle:
        out.append(Finding(Severity.INFO, "auth-dir-without-session",
                           f"{count_text(idle)} auth dir(s) on disk have no running client.",
                           "Start them from pulse-tui (`s`): they reconnect without a QR scan.", examples(idle)))
    return out


# --- logs -------------------------------------------------------------------------------------------

_ELEVENLABS_401 = re.compile(r"elevenlabs.*\b401\b|\b401\b.*elevenlabs", re.IGNORECASE)
_DECRYPT_FAILED = re.compile(r"Decryption failed|Failed to get encrypted value")
_FAILED_KEY = re.compile(r"Failed to get encrypted value for key session:([0-9A-Za-z]+)")


def check_logs(lines: Iterable[str], config: Config) -> list[Finding]:
    """ElevenLabs 401s while ELEVENLABS_API_KEY is set; Pulse's 'Decryption failed' lines."""
    eleven = 0
    decrypt = 0
    failed_ids: list[str] = []
    # Runs on every snapshot over the last 2,000 lines: a substring test first (the regexes cost ~7 us a line).
    for line in lines:
        if "401" in line and _ELEVENLABS_401.search(line):
            eleven += 1
        if ("Decryption failed" in line or "Failed to get encrypted value" in line) and _DECRYPT_FAILED.search(line):
            decrypt += 1
            m = _FAILED_KEY.search(line)
            if m and m.group(1) not in failed_ids:
                failed_ids.append(m.group(1))
    out: list[Finding] = []
    if eleven and config.other_secrets.get("ELEVENLABS_API_KEY"):
        out.append(Finding(
            Severity.WARNING, "elevenlabs-unauthorized",
            f"{eleven} log line(s) show ElevenLabs answering 401 while ELEVENLABS_API_KEY is set: the key is wrong.",
            "Set a valid key from your ElevenLabs profile, or leave ELEVENLABS_API_KEY empty (`ELEVENLABS_API_KEY=`) "
            "so Pulse falls back to Google Cloud TTS or the free TTS API; then `pulse restart`.",
            ("ELEVENLABS_API_KEY",)))
    if decrypt:
        out.append(Finding(
            Severity.CRITICAL, "log-decryption-failed",
            f"{decrypt} log line(s) show Pulse failing to decrypt values: it deletes each such session.",
            "Pulse is running with other keys than the ones the sessions were written with. Stop it, then run "
            "`pulse-tui doctor` to see which keys open them and `pulse-tui keys migrate` to fix them.",
            examples(failed_ids)))
    return out


# --- aggregation -----------------------------------------------------------------------------------

_REDACTED = "«redacted»"


def redact(findings: Iterable[Finding], secrets: Sequence[str]) -> list[Finding]:
    """Replace any configured secret that slipped into a finding (belt and braces: checks never put one there)."""
    ordered = sorted({s for s in secrets if s}, key=len, reverse=True)
    if not ordered:
        return list(findings)

    def clean(text: str) -> str:
        for s in ordered:
            text = text.replace(s, _REDACTED)
        return text

    return [Finding(f.severity, f.code, clean(f.message), clean(f.hint), tuple(clean(x) for x in f.subjects))
            for f in findings]


def _sorted(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (GROUPS.index(group_of(f.code)) if group_of(f.code) in GROUPS else 99,
                                           -f.severity.rank, f.code))


def run_checks(
    config: Config,
    snapshot: Snapshot,
    log_lines: Iterable[str] = (),
    *,
    extra: Sequence[ExtraChecks] = (),
    env_lines: EnvFileLines | None = None,
) -> list[Finding]:
    """Every config-, snapshot- and log-based check for one snapshot, sorted by group then severity.

    Each group is isolated: one that raises becomes that group's `<group>-check-failed` finding and the others
    still run, so one malformed value never hides the rest of the diagnosis.
    """
    runs: list[tuple[str, Callable[[], Iterable[Finding]]]] = [
        ("keys", lambda: check_config(config, env_lines)),
        ("gateway", lambda: check_gateway(snapshot, config)),
        ("redis", lambda: check_redis(snapshot.redis, config)),
        ("sessions", lambda: check_sessions(snapshot)),
        ("logs", lambda: check_logs(log_lines, config)),
    ]
    runs += [("host", functools.partial(fn, snapshot)) for fn in extra]
    found: list[Finding] = []
    for group, run in runs:
        found += isolated(group, run)
    return _sorted(redact(found, config.secret_values()))


def isolated(group: str, run: Callable[[], Iterable[Finding]]) -> list[Finding]:
    """The findings of one check group, or one `<group>-check-failed` finding when the checks raise."""
    try:
        return list(run())
    except Exception as exc:  # noqa: BLE001 - a bug or a hostile value must cost one group, not the report
        return [check_failed(group, exc)]


def check_failed(group: str, exc: BaseException, what: str = "checks could not run") -> Finding:
    """A finding saying the `group` checks could not run, with the error's type and a short, safe reason."""
    reason = (str(exc).splitlines() or [""])[0][:160]
    reason = f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__
    code = f"{group}-check-failed" if f"{group}-check-failed" in GROUP_OF else "host-check-failed"
    return Finding(Severity.UNKNOWN, code, f"The {group} {what} ({reason}).",
                   "Run the doctor again; if it repeats, report it with `pulse-tui doctor --json`.")


def findings_for(
    config: Config,
    *,
    log_lines: LogLines = lambda: (),
    extra: Sequence[ExtraChecks] = (),
) -> Callable[[Snapshot], list[Finding]]:
    """The Monitor's `findings` hook: runs every check on each new snapshot. `extra`: e.g. lock/pm2 findings."""

    env_lines = EnvFileLines()  # the hook runs every poll: an unchanged env file is not read again

    def hook(snapshot: Snapshot) -> list[Finding]:
        return run_checks(config, snapshot, log_lines(), extra=extra, env_lines=env_lines)

    return hook


def checked_groups(config: Config, snapshot: Snapshot) -> tuple[str, ...]:
    """Groups whose checks ran for this snapshot, so a report can say `ok` for them (and not for the others)."""
    groups = []
    if pulse_in_play(config):
        groups.append("keys")
    if snapshot.redis is not None:
        groups.append("redis")
    groups += ["gateway", "sessions"]
    if config.env_files:
        groups.append("host")
    return tuple(groups)
