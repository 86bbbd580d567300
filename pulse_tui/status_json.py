"""The stable JSON shape of a snapshot (`status --json`) and the health rule behind its exit code.

Schema version 1 (documented in the README). Built only from model types, which never hold secrets.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from itertools import chain
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from operator import attrgetter
from typing import Any

from pulse_tui.model import (
    BudgetUse,
    ConnState,
    HealthState,
    HostSummary,
    Severity,
    Snapshot,
    UserSession,
    ValueClass,
)

SCHEMA_VERSION = 1
UNHEALTHY_STATES = (ConnState.STUCK, ConnState.UNKNOWN)
UNHEALTHY_VALUES = (ValueClass.UNDECRYPTABLE, ValueClass.CORRUPT, ValueClass.DEFAULT_KEY)
_UNHEALTHY_VALUE_SET = frozenset(UNHEALTHY_VALUES)
_VALUE_CLASS = attrgetter("value_class")


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class UserSessionRows:
    """`user_sessions` left as the model's sessions, for write_indented to write straight from them: the same text
    as a list of user_session_json() dicts, without building and type-checking 10,000 dicts first."""

    sessions: Sequence[UserSession]


def snapshot_to_json(snap: Snapshot, watchdog: dict[str, Any] | None = None, *,
                     model_rows: bool = False) -> dict[str, Any]:
    """The documented JSON object for one snapshot (`watchdog`: the watchdog block, see pulse_tui/watch/state.py).
    `model_rows`: `user_sessions` is a UserSessionRows, which only write_indented/dumps_indented can write."""
    gw = snap.gateway
    redis = snap.redis
    persistence = redis.persistence if redis else None
    return {
        "schema": SCHEMA_VERSION,
        "taken_at": iso(snap.taken_at),
        "gateway": {
            "kind": snap.gateway_kind,
            "url": snap.gateway_url,
            "health": gw.state.value,
            "latency_ms": None if gw.latency_ms is None else round(gw.latency_ms, 1),
            "budget_left": gw.budget_left,
            "budget_limit": gw.budget_limit,
            "retry_after_s": gw.retry_after_s,
            "detail": gw.detail,
            "failure": None if gw.failure_kind is None or gw.state == HealthState.OK else gw.failure_kind.value,
            "budget_use": budget_use_to_json(gw.budget_use),
        },
        "sessions": [
            {
                "id": s.id,
                "state": s.state.value,
                "last_known": s.last_known.value if s.last_known else None,
                "seconds_in_state": round(s.seconds_in_state, 1),
                "seconds_in_state_at_least": s.since_first_seen,  # counted from pulse-tui's first sight of it
                "phone": s.phone,
                "restorable": s.restorable,
                "has_auth_dir": s.has_auth_dir,
                "stale_seconds": None if s.stale_s is None else round(s.stale_s, 1),
                "flags": sorted(s.flags),
                "detail": s.detail,
                "rss_bytes": s.rss_bytes,
                "pss_bytes": s.pss_bytes,
                "uss_bytes": s.uss_bytes,
                "cpu_percent": None if s.cpu_percent is None else round(s.cpu_percent, 1),
                "browser_pids": list(s.browser_pids),
                "no_browser": s.no_browser or None,  # why the memory figures are null (not 0): no browser runs
                "lock": s.lock,
            }
            for s in snap.sessions
        ],
        "redis": None
        if redis is None
        else {
            "available": redis.available,
            "error": redis.error,
            "round_trips": redis.round_trips,
            "persistence": None
            if persistence is None
            else {
                "save": persistence.save,
                "appendonly": persistence.appendonly,
                "enabled": persistence.enabled,
                "config_available": persistence.config_available,
                "basis": persistence.basis,
                "last_save_failed": persistence.last_save_failed,
            },
        },
        "keys": {"state": snap.keys.state, "detail": snap.keys.detail},
        "host": host_to_json(snap.host, snap.taken_at),
        "user_sessions": []
        if redis is None
        else UserSessionRows(redis.sessions)
        if model_rows
        else [
            user_session_json(u)
            for u in redis.sessions
        ],
        "findings": [
            {
                "severity": f.severity.value,
                "code": f.code,
                "message": f.message,
                "hint": f.hint,
                "subjects": list(f.subjects),
            }
            for f in snap.findings
        ],
        "watchdog": watchdog,
        "healthy": is_healthy(snap),
    }


def user_session_json(u: UserSession) -> dict[str, Any]:
    """One `user_sessions` entry; every field has its documented type or is null, whatever Redis held."""
    # The type tests are inline, not a helper: this runs 10,000 times in one status --json. str() of a StrEnum is
    # its value as a plain str, in C: `.value` is a Python-level enum property in 3.11 (~1 us each, 20,000 a run).
    wid, phone, label, expires, ttl = u.whatsapp_id, u.phone, u.key_label, u.expires_at, u.ttl
    return {
        "session_id": u.session_id,
        "whatsapp_id": wid if isinstance(wid, str) else None,
        "phone": phone if isinstance(phone, str) else None,
        "class": str(u.value_class),
        "redis_type": u.redis_type,
        "key": label if isinstance(label, str) else None,
        "ttl": ttl if type(ttl) is int else None,
        "expires_at": expires if isinstance(expires, str) else None,
        "linked": u.linked is True,
        "index": str(u.index),
        "detail": u.detail,
    }


def _user_session_text(u: UserSession, deeper: str, close: str) -> str:
    """user_session_json(u) as json.dumps(indent=2) writes it at this depth: same fields, order and null rules."""
    wid, phone, label, expires, ttl = u.whatsapp_id, u.phone, u.key_label, u.expires_at, u.ttl
    return (f'{{{deeper}"session_id": {_text(u.session_id)},{deeper}"whatsapp_id": {_text_or_null(wid)},'
            f'{deeper}"phone": {_text_or_null(phone)},{deeper}"class": {_text(str(u.value_class))},'
            f'{deeper}"redis_type": {_text(u.redis_type)},{deeper}"key": {_text_or_null(label)},'
            f'{deeper}"ttl": {int.__repr__(ttl) if type(ttl) is int else "null"},'
            f'{deeper}"expires_at": {_text_or_null(expires)},{deeper}"linked": {"true" if u.linked is True else "false"},'
            f'{deeper}"index": {_text(str(u.index))},{deeper}"detail": {_text(u.detail)}{close}}}')


def _text_or_null(value: object) -> str:
    return _text(value) if isinstance(value, str) else "null"


_text = encode_basestring_ascii  # json.dumps's own string writer (ensure_ascii)


def budget_use_to_json(use: BudgetUse | None) -> dict[str, Any] | None:
    """Who spent the gateway's current window (null when it has no limit)."""
    if use is None:
        return None
    return {"this_process": use.this_process, "other_pulse_tui": use.other_pulse_tui,
            "someone_else": use.someone_else, "server_used": use.server_used}


def host_to_json(host: HostSummary | None, now: float | None = None) -> dict[str, Any] | None:
    """The `host` object: browser memory, free memory and the gateway's pm2 app (null without a host source).

    `pm2.read_at`/`age_s`: when pm2 itself was last asked (`pm2 jlist` runs only when pm2 changed); its memory
    and CPU are read from /proc each poll."""
    if host is None:
        return None
    pm2 = host.pm2
    return {
        "browser_rss_bytes": host.browser_rss_bytes,
        "browser_pss_bytes": host.browser_pss_bytes,
        "browser_uss_bytes": host.browser_uss_bytes,
        "memory_age_s": None if host.memory_age_s is None else round(host.memory_age_s, 1),
        "mem_available_bytes": host.mem_available_bytes,
        "mem_total_bytes": host.mem_total_bytes,
        "browsers": host.browsers,
        "orphans": host.orphans,
        "stale_locks": host.stale_locks,
        "foreign_locks": host.foreign_locks,
        "pm2_state": host.pm2_state,
        "pm2": None
        if pm2 is None
        else {
            "app": pm2.app,
            "status": pm2.status,
            "restarts": pm2.restarts,
            "restarts_since_start": pm2.restarts_since_start,
            "memory_restarts": pm2.memory_restarts,
            "uptime_s": None if pm2.uptime_s is None else round(pm2.uptime_s, 1),
            "memory_bytes": pm2.memory_bytes,
            "read_at": None if pm2.read_at is None else round(pm2.read_at, 3),
            "age_s": None if pm2.read_at is None or now is None else round(max(0.0, now - pm2.read_at), 1),
        },
        "error": host.error,
    }


def is_healthy(snap: Snapshot) -> bool:
    """Healthy: the gateway answers, Redis (if configured) answers, nothing stuck, unknown or unreadable."""
    if snap.gateway.state not in (HealthState.OK, HealthState.BUDGET):
        return False
    if snap.redis is not None and not snap.redis.available:
        return False
    if any(s.state in UNHEALTHY_STATES for s in snap.sessions):
        return False
    # In C (a StrEnum hashes as its str value): asked twice per status --json, 10,000 sessions each.
    if snap.redis is not None and not _UNHEALTHY_VALUE_SET.isdisjoint(map(_VALUE_CLASS, snap.redis.sessions)):
        return False
    return not any(f.severity in (Severity.WARNING, Severity.CRITICAL) for f in snap.findings)


_CONTAINERS = (dict, list, tuple)
_INDENT = "  "


def dumps_indented(doc: Any) -> str:
    """Exactly `json.dumps(doc, indent=2)`, several times faster on 10,000 user sessions.

    With an indent, json falls back to its pure-Python encoder (~30 us per session here); a container holding only
    scalars is instead written by the C encoder, whose item separator carries the newline and the indentation."""
    out: list[str] = []
    write_indented(doc, out.append)
    return "".join(out)


def write_indented(doc: Any, write: Callable[[str], object]) -> None:
    """Write `dumps_indented(doc)` through `write` in pieces of at most ~ROWS_PER_PIECE objects: the 3.5 MB of
    10,000 sessions are never one string (each copy of it was fresh memory, and first touches cost here)."""
    _write(doc, "\n", write)


ROWS_PER_PIECE = 1000


def _write(value: Any, newline: str, write: Callable[[str], object]) -> None:
    if isinstance(value, UserSessionRows):
        _write_user_sessions(value.sessions, newline, write)
        return
    if not isinstance(value, _CONTAINERS) or not value:
        write(json.dumps(value))
        return
    inner = newline + _INDENT
    if _flat(value):
        flat = _flat_encoder(inner)(value)  # '{"a": 1,<inner>"b": 2}': only the first and last break are missing
        write(f"{flat[0]}{inner}{flat[1:-1]}{newline}{flat[-1]}")
        return
    if isinstance(value, list) and _flat_dicts(value):
        # A list of flat objects (user_sessions) in one C call per piece, separators at the objects' depth: between
        # two objects that gives '},<deeper>{', which a scalar cannot end with nor an escaped string hold.
        deeper = inner + _INDENT
        between = inner + "}," + inner + "{" + deeper
        encode = _flat_encoder(deeper)
        write(f"[{inner}{{{deeper}")
        for start in range(0, len(value), ROWS_PER_PIECE):
            if start:
                write(between)
            write(encode(value[start : start + ROWS_PER_PIECE])[2:-2].replace("}," + deeper + "{", between))
        write(f"{inner}}}{newline}]")
        return
    if isinstance(value, dict):
        write("{")
        for i, (name, item) in enumerate(value.items()):
            write(f"{',' if i else ''}{inner}{_key_json(name)}: ")
            _write(item, inner, write)
        write(newline + "}")
    else:
        write("[")
        for i, item in enumerate(value):
            write(f"{',' if i else ''}{inner}")
            _write(item, inner, write)
        write(newline + "]")


def _write_user_sessions(sessions: Sequence[UserSession], newline: str, write: Callable[[str], object]) -> None:
    if not sessions:
        write("[]")
        return
    inner = newline + _INDENT
    between = "," + inner
    write("[" + inner)
    for start in range(0, len(sessions), ROWS_PER_PIECE):
        if start:
            write(between)
        write(between.join([_user_session_text(u, inner + _INDENT, inner)
                            for u in sessions[start : start + ROWS_PER_PIECE]]))
    write(newline + "]")


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _flat(value: dict[Any, Any] | list[Any] | tuple[Any, ...]) -> bool:
    """Only plain scalars inside (checked in C: one set operation over the items' types)."""
    return _SCALARS.issuperset(map(type, value.values() if isinstance(value, dict) else value))


def _flat_dicts(items: list[Any]) -> bool:
    """Only non-empty flat objects inside (checked in C too: 10,000 user sessions, no Python call per item)."""
    return (_DICT.issuperset(map(type, items)) and all(items)
            and _SCALARS.issuperset(map(type, chain.from_iterable(map(dict.values, items)))))


_DICT = frozenset({dict})
_ENCODERS: dict[str, Any] = {}


def _flat_encoder(inner: str) -> Any:
    encoder = _ENCODERS.get(inner)
    if encoder is None:
        if c_make_encoder is None:  # a Python without json's C speedups: the same text, at the Python speed
            encoder = json.JSONEncoder(separators=("," + inner, ": ")).encode
        else:
            # JSONEncoder.encode builds this object anew on every call: built once, it writes a session in ~2 us.
            one = c_make_encoder(None, None, encode_basestring_ascii, None, ": ", "," + inner, False, False, True)
            encoder = partial(_joined, one)
        _ENCODERS[inner] = encoder
    return encoder


def _joined(encoder: Any, value: Any) -> str:
    return "".join(encoder(value, 0))


def _key_json(name: Any) -> str:
    # json writes a non-string key its own way (True -> "true", 1.5 -> "1.5"): let it, from a one-key object.
    return json.dumps({name: 0})[1:-4]
