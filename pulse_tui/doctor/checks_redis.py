"""Redis checks on the inspector's report: reachability, persistence, session values, index keys."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import compress
from operator import attrgetter

from pulse_tui.config import Config
from pulse_tui.crypto.pulse import effective_key
from pulse_tui.doctor.checks_keys import pulse_env_name, switch_keys_hint
from pulse_tui.model import (
    Finding,
    IndexClass,
    IndexKey,
    Persistence,
    RedisReport,
    Severity,
    UserSession,
    ValueClass,
)

MAX_EXAMPLES = 3
_STOP_PULSE = "Stop Pulse before changing keys: it deletes every session it cannot decrypt as it reads it."


def examples(ids: Sequence[str]) -> tuple[str, ...]:
    """Up to three example ids for a finding's subjects."""
    return tuple(ids[:MAX_EXAMPLES])


def count_text(ids: Sequence[str]) -> str:
    """The count for a message; the examples go in the finding's subjects (shown once, as `e.g.`)."""
    return str(len(ids))


def check_redis_available(report: RedisReport | None) -> list[Finding]:
    """Redis down or refusing our credentials."""
    if report is None or report.available:
        return []
    if "authentication failed" in report.error or "NOAUTH" in report.error.upper():
        return [Finding(Severity.CRITICAL, "redis-auth-failed", f"Redis refused the credentials: {report.error}.",
                        "Use Pulse's REDIS_PASSWORD (pulse-tui reads it from `--env-file /opt/pulse/.env`).")]
    return [Finding(Severity.CRITICAL, "redis-unreachable", f"Redis is unreachable: {report.error}.",
                    "Is redis-server running (`systemctl status redis-server`)? Check REDIS_HOST/REDIS_PORT; Pulse "
                    "logs ECONNREFUSED while Redis is down and every user looks logged out.")]


def check_persistence(report: RedisReport | None) -> list[Finding]:
    """Persistence off (a Redis restart loses every session) or the last save failed."""
    if report is None or not report.available:
        return []
    p = report.persistence
    out: list[Finding] = []
    if p is None or p.enabled is None:
        out.append(Finding(Severity.INFO, "redis-persistence-unknown",
                           "Could not tell whether Redis persists data: " + _unknown_reason(p) + ".",
                           "On the server run `redis-cli CONFIG GET save` and `CONFIG GET appendonly` (CONFIG may be "
                           "renamed on managed Redis: ask the provider whether snapshots or AOF are on)."))
        if p is not None and p.last_save_failed:
            out.append(_save_failed())
        return out
    if p.enabled is False:
        out.append(Finding(
            Severity.WARNING, "redis-persistence-off",
            "Redis persistence is off (`save` is empty and `appendonly no`): a Redis restart loses every session.",
            "redis-cli CONFIG SET appendonly yes && redis-cli CONFIG REWRITE (Pulse's setup script enables "
            "appendonly); or set `save 900 1 300 10` in redis.conf."))
    if p.last_save_failed:
        out.append(_save_failed())
    return out


def _save_failed() -> Finding:
    return Finding(
        Severity.CRITICAL, "redis-last-save-failed",
        "Redis's last save failed (rdb_last_bgsave_status or aof_last_write_status is err): "
        "data is not reaching disk, and Redis may refuse writes.",
        "Check the Redis log, free disk space and the `dir` permissions; then `redis-cli BGSAVE`.")


def _unknown_reason(p: Persistence | None) -> str:
    """What CONFIG and INFO did and did not say, for the unknown-persistence finding."""
    if p is None:
        return "neither CONFIG nor INFO answered"
    said = ["CONFIG is unavailable (renamed or denied)" if not p.config_available else "CONFIG gave no value"]
    if p.appendonly is not None:
        said.append(f"INFO says the AOF is {'on' if p.appendonly == 'yes' else 'off'}")
    if p.rdb_changes_since_last_save is not None:
        said.append(f"no RDB snapshot since start, {p.rdb_changes_since_last_save} change(s) not yet saved")
    return "; ".join(said)


def _ids(sessions: Sequence[UserSession]) -> list[str]:
    return [s.session_id for s in sessions]


def check_session_values(report: RedisReport | None, config: Config) -> list[Finding]:
    """Sessions that do not open with the configured keys, were written with a default key, or are plain JSON."""
    if report is None or not report.available:
        return []
    if _OK_STRING.issuperset(map(_TYPE_AND_CLASS, report.sessions)):
        return []  # every value a string that opens with the configured keys: one pass in C, no Python per session
    by_class: dict[ValueClass, list[UserSession]] = {}
    wrong_type: list[UserSession] = []
    for s in report.sessions:
        if s.redis_type != "string":
            wrong_type.append(s)  # its own finding, naming the type: not "not base64"
        else:
            by_class.setdefault(s.value_class, []).append(s)
    out: list[Finding] = []
    if wrong_type:
        out.append(Finding(
            Severity.WARNING, "sessions-wrong-type",
            f"{count_text(_ids(wrong_type))} `session:` key(s) are not strings ({_type_counts(wrong_type)}): "
            "Pulse cannot read them.",
            "Another program is writing under Pulse's `session:` prefix (a shared Redis database?): give it its own "
            "database or prefix; pulse-tui leaves these keys as they are.",
            examples(_ids(wrong_type))))
    if bad := by_class.get(ValueClass.UNDECRYPTABLE):
        out.append(Finding(
            Severity.CRITICAL, "sessions-undecryptable",
            f"{count_text(_ids(bad))} session(s) open with neither the configured keys nor any known default: "
            "Pulse will delete each one the next time it reads it.",
            _STOP_PULSE + " Put back the ENCRYPTION_KEY/ENCRYPTION_SALT they were written with, or re-encrypt them "
            f"from OLD.env (the keys they were written with): `pulse-tui --env-file {pulse_env_name(config)} keys "
            "migrate --from-env OLD.env` (a dry run; read it), then the same with --apply; otherwise those users "
            "re-link once.",
            examples(_ids(bad))))
    if dk := by_class.get(ValueClass.DEFAULT_KEY):
        labels = sorted({s.key_label or "default" for s in dk})
        configured_in_use = effective_key(config.encryption_key) == config.encryption_key
        if configured_in_use:
            out.append(Finding(
                Severity.CRITICAL, "sessions-default-key",
                f"{count_text(_ids(dk))} session(s) were written with a publicly known key "
                f"({'; '.join(labels)}), not the configured one: Pulse cannot read them and will delete them.",
                _STOP_PULSE + " Migrate them to the configured keys: "
                f"`pulse-tui --env-file {pulse_env_name(config)} keys migrate --from-default` (a dry run; read it), "
                "then the same with --apply.",
                examples(_ids(dk))))
        else:
            out.append(Finding(
                Severity.WARNING, "sessions-default-key",
                f"{count_text(_ids(dk))} session(s) are encrypted with Pulse's public default key "
                f"({'; '.join(labels)}): anyone with a copy of Redis can read them.",
                "Setting ENCRYPTION_KEY by hand now would orphan them. " + switch_keys_hint(config),
                examples(_ids(dk))))
    if plain := by_class.get(ValueClass.PLAIN):
        out.append(Finding(
            Severity.WARNING, "sessions-plain-json",
            f"{count_text(_ids(plain))} session value(s) are plain JSON (Pulse's cache warmer): Pulse fails to "
            "decrypt them and deletes them, logging 'Decryption failed'.",
            "Harmless copies with a 30-minute TTL, but they explain 'Decryption failed' lines; they are left as is.",
            examples(_ids(plain))))
    if corrupt := by_class.get(ValueClass.CORRUPT):
        out.append(Finding(
            Severity.WARNING, "sessions-corrupt",
            f"{count_text(_ids(corrupt))} session value(s) are not Pulse's format (not base64, too short, or "
            "not JSON once decrypted).",
            "Pulse deletes them on read; those users re-link. Look for another program writing `session:` keys.",
            examples(_ids(corrupt))))
    return out


# The doctor runs on every poll, 10,000 sessions each: the common case (nothing to report) is told by passes in C.
_TYPE_AND_CLASS = attrgetter("redis_type", "value_class")
_OK_STRING = frozenset({("string", ValueClass.OK)})
_INDEX_AND_CLASS = attrgetter("index", "value_class")
_ORPHAN_READABLE = frozenset({(IndexClass.ORPHAN, ValueClass.OK), (IndexClass.ORPHAN, ValueClass.DEFAULT_KEY)})
_INDEX_CLASS = attrgetter("index_class")
_DETAIL = attrgetter("detail")


def _type_counts(items: Sequence[UserSession | IndexKey]) -> str:
    counts: dict[str, int] = {}
    for item in items:
        counts[item.redis_type] = counts.get(item.redis_type, 0) + 1
    return ", ".join(f"{n} {t}" for t, n in sorted(counts.items()))


def check_index(report: RedisReport | None, config: Config) -> list[Finding]:
    """Orphan sessions (no `whatsapp:` key), dangling index keys, and index keys hashed with another HASH_SALT."""
    if report is None or not report.available:
        return []
    out: list[Finding] = []
    readable = (ValueClass.OK, ValueClass.DEFAULT_KEY)
    sessions = report.sessions
    orphans = ([s.session_id for s in sessions if s.index == IndexClass.ORPHAN and s.value_class in readable]
               if not _ORPHAN_READABLE.isdisjoint(map(_INDEX_AND_CLASS, sessions)) else [])
    if orphans:
        out.append(Finding(
            Severity.WARNING, "sessions-orphan",
            f"{count_text(orphans)} session(s) have no `whatsapp:` index key: Pulse cannot find them from the "
            "user's number, so those users must link again.",
            "Usually left by an interrupted link or a HASH_SALT change; they expire with their TTL.",
            examples(orphans)))
    index_classes = set(map(_INDEX_CLASS, report.index_keys))
    dangling = ([k.key for k in report.index_keys if k.index_class == IndexClass.DANGLING]
                if IndexClass.DANGLING in index_classes else [])
    if dangling:
        out.append(Finding(
            Severity.INFO, "index-dangling",
            f"{count_text(dangling)} `whatsapp:` index key(s) point at a session that no longer exists.",
            "Normal after logouts (Pulse deletes the raw-id key, not the hashed one); they expire with their TTL.",
            examples(dangling)))
    wrong = ([k for k in report.index_keys if k.index_class == IndexClass.WRONG_TYPE]
             if IndexClass.WRONG_TYPE in index_classes else [])
    if wrong:
        out.append(Finding(
            Severity.WARNING, "index-wrong-type",
            f"{count_text([k.key for k in wrong])} `whatsapp:` key(s) are not strings ({_type_counts(wrong)}), so they are no index "
            "Pulse can follow.",
            "Another program is writing under Pulse's `whatsapp:` prefix: give it its own database or prefix; "
            "pulse-tui leaves these keys as they are.",
            examples([k.key for k in wrong])))
    # redis-py (~6 MiB resident) comes with the store: imported here, a TUI without Redis never loads it.
    from pulse_tui.sources.redis_store import has_hash_salt_mismatch

    # Only a session with a detail can be one (compress picks them in C; nearly every detail is empty).
    mismatch = [s.session_id for s in compress(sessions, map(_DETAIL, sessions)) if has_hash_salt_mismatch(s)]
    if mismatch:
        out.append(Finding(
            Severity.WARNING, "index-hash-salt-mismatch",
            f"{count_text(mismatch)} session(s) are indexed with a different HASH_SALT than the configured one: "
            "Pulse looks them up under another key and finds nothing.",
            _STOP_PULSE + " Rewrite the index keys: `pulse-tui --env-file "
            f"{pulse_env_name(config)} keys migrate --from-env OLD.env` (OLD.env holding the HASH_SALT they were "
            "written with; --from-default when it used to be unset), a dry run; then the same with --apply.",
            examples(mismatch)))
    return out


def check_redis(report: RedisReport | None, config: Config) -> list[Finding]:
    """Every Redis check on one report."""
    return (check_redis_available(report) + check_persistence(report) + check_session_values(report, config)
            + check_index(report, config))
