"""Turns one raw log line into a LogLine: pm2 prefixes, winston JSON, NestJS and plain lines; level, time,
and why the line deserves a highlight."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime

from pulse_tui.sources.logs.line import DEBUG, ERROR, INFO, MAX_LINE_CHARS, TRUNCATION_MARK, WARN, LogLine

_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# `pm2 logs` output: "0|salesboy-gateway  | …"
_PM2_APP_RE = re.compile(r"^\d+\|[\w.@-]+\s*\|\s?")
# pm2 log_date_format, default "YYYY-MM-DD HH:mm:ss Z" ("2026-11-25 08:01:02 +00:00: "), and ISO variants
_PM2_TS_RE = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:[.,]\d{1,6})?) ?(Z|[+-]\d{2}:?\d{2})?: ?"
)
# NestJS ConsoleLogger: "[Nest] 1234  - 11/25/2026, 8:01:02 AM   ERROR [WhatsappService] message"
_NEST_RE = re.compile(r"^\[Nest\]\s+\d+\s+-\s+.*?\s(LOG|ERROR|WARN|DEBUG|VERBOSE|FATAL)\s+")
# a leading level word: "error: …", "[WARN] …", "INFO …"
_WORD_LEVEL_RE = re.compile(r"^\[?(error|err|fatal|warn|warning|info|debug|verbose|trace)\]?[:\s]", re.IGNORECASE)

_LEVEL_WORDS = {
    "error": ERROR, "err": ERROR, "fatal": ERROR, "crit": ERROR, "critical": ERROR, "emerg": ERROR, "alert": ERROR,
    "warn": WARN, "warning": WARN,
    "info": INFO, "log": INFO, "notice": INFO, "http": INFO,
    "debug": DEBUG, "verbose": DEBUG, "silly": DEBUG, "trace": DEBUG,
}
_JSON_KNOWN = frozenset(("level", "message", "msg", "timestamp", "time", "stack"))
# `json.loads` is this decoder's `decode`: two whitespace regexes and its checks around the C scanner, ~60 % of
# its time on a winston line. `_json_value` calls the scanner through `raw_decode` and checks the end itself.
_JSON = json.JSONDecoder()
_JSON_SPACE = " \t\n\r"  # what json.loads allows after the value

# Why a line is worth highlighting (spec: Pulse "Operations", Salesboy "Logs"), checked in this order on the
# lower-cased text: plain substring tests, far cheaper than regexes on every line.
_HIGHLIGHTS: list[tuple[str, str]] = [
    ("decryption failed", "decryption failed: wrong ENCRYPTION_KEY/SALT? Pulse deletes the value"),
    ("failed to get encrypted value", "Pulse could not decrypt a stored value (and deletes it)"),
    ("elevenlabs", "ElevenLabs rejected the API key (401)"),  # only with a 401, see below
    ("econnrefused", "connection refused: Redis or the gateway is down?"),
    ("session expired", "session expired"),
    ("auth_failure", "WhatsApp auth failure"),
    ("auth failure", "WhatsApp auth failure"),
    ("disconnected", "WhatsApp client disconnected"),
]
_401_RE = re.compile(r"\b401\b")


def highlight_reason(text: str) -> str | None:
    """Why this text is an error worth pointing at, or None."""
    low = text.lower()
    for needle, why in _HIGHLIGHTS:
        if needle in low:
            if needle == "elevenlabs" and _401_RE.search(text) is None:
                continue
            return why
    return None


def _epoch(date: str, time: str, tz: str | None) -> float | None:
    try:
        if tz is None:
            return datetime.fromisoformat(f"{date}T{time.replace(',', '.')}").timestamp()  # local time
        if tz == "Z":
            tz = "+00:00"
        return datetime.fromisoformat(f"{date}T{time.replace(',', '.')}{tz}").timestamp()
    except ValueError:
        return None


def parse_timestamp(value: object) -> float | None:
    """An ISO 8601 string (winston's `new Date().toISOString()`) or epoch number → epoch seconds."""
    if type(value) is str:
        try:  # the usual case, fast (a try costs nothing, contextlib.suppress ~0.7 µs a line)
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            pass
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) / 1000.0 if value > 1e11 else float(value)  # JS milliseconds
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        m = _PM2_TS_RE.match(value + ": ")
        return _epoch(m.group(1), m.group(2), m.group(3)) if m else None


def _level_of(word: object) -> str:
    if not isinstance(word, str):
        return ""
    level = _LEVEL_WORDS.get(word)
    if level is not None:
        return level
    if "\x1b" in word:
        word = _ANSI_RE.sub("", word)
    return _LEVEL_WORDS.get(word.strip().lower(), "")


def _json_value(body: str) -> object:
    """`json.loads(body)` for a body that starts with "{" (the same value, or the same JSONDecodeError)."""
    obj, end = _JSON.raw_decode(body)
    if end != len(body):
        rest = body[end:]
        if rest.strip(_JSON_SPACE):
            raise json.JSONDecodeError("Extra data", body, end + len(rest) - len(rest.lstrip(_JSON_SPACE)))
    return obj


def _from_json(body: str) -> tuple[float | None, str, str] | None:
    """(at, level, text) of a winston-style JSON line, or None when it is not one."""
    try:
        obj = _json_value(body)
    except ValueError:
        return None
    if not isinstance(obj, dict) or not ("message" in obj or "msg" in obj or "level" in obj):
        return None
    msg = obj.get("message", obj.get("msg", ""))
    text = msg if isinstance(msg, str) else json.dumps(msg, ensure_ascii=False, separators=(",", ":"))
    if not _JSON_KNOWN.issuperset(obj):  # keys beyond the known ones (no set built for the usual line)
        extras = [
            f"{k}={v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, separators=(',', ':'))}"
            for k, v in obj.items()
            if k not in _JSON_KNOWN
        ]
        text = f"{text} {{{' '.join(extras)}}}"
    stack = obj.get("stack")
    if isinstance(stack, str) and stack.strip():
        # winston's `errors({stack: true})`: the stack's first line repeats the message; keep the frames
        frames = [ln.rstrip() for ln in stack.splitlines()]
        if frames and isinstance(msg, str) and msg and msg in frames[0]:
            frames = frames[1:]
        frames = [f for f in frames if f.strip()]
        if frames:
            text = text + "\n" + "\n".join(frames)
    at = parse_timestamp(obj.get("timestamp", obj.get("time")))
    return at, _level_of(obj.get("level")), text


def parse_line(
    raw: str,
    source: str,
    *,
    redact: Callable[[str], str] | None = None,
    default_level: str = "",
    truncated: bool = False,
    max_chars: int = MAX_LINE_CHARS,
) -> LogLine:
    """One raw line (no newline) → LogLine: prefix and JSON parsed, secrets masked, capped to `max_chars`.

    `default_level` applies when the line does not say (the follower passes "error" for pm2's stderr files).
    """
    if "\x1b" in raw:
        raw = _ANSI_RE.sub("", raw)
    if len(raw) > max_chars:
        raw, truncated = raw[:max_chars], True
    body = raw
    at: float | None = None
    level = ""
    if body[:1].isdigit():
        m = _PM2_APP_RE.match(body)
        if m:
            body = body[m.end():]
        m2 = _PM2_TS_RE.match(body)
        if m2:
            at = _epoch(m2.group(1), m2.group(2), m2.group(3))
            body = body[m2.end():]
    if body[:1] == "{":
        parsed = _from_json(body)
        if parsed is not None:
            json_at, level, body = parsed
            at = json_at if json_at is not None else at
    elif body[:6] == "[Nest]":
        m3 = _NEST_RE.match(body)
        if m3:
            level = _level_of(m3.group(1))
    if not level:
        m4 = _WORD_LEVEL_RE.match(body)
        if m4:
            level = _level_of(m4.group(1))
        elif body.startswith(("Error:", "TypeError:", "RangeError:", "ReferenceError:", "SyntaxError:")):
            level = ERROR
        else:
            level = default_level
    if redact is not None:
        body = redact(body)
    if truncated:
        body += TRUNCATION_MARK
    return LogLine(at, level, source, body, truncated, highlight_reason(body))  # positional: the cheaper call
