"""Hostile Redis contents for Pulse's prefixes: what any WhatsApp user, a neighbour app or a broken writer can put there.

Each entry is (name, key bytes, Redis type, value). Strings are written as is; "encrypt" values are session JSON
encrypted with the test keys (so they open and their hostile fields reach the renderers); other types are written
with their own commands. `seed(client, key)` writes the corpus; nothing in it is a secret.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import redis

from pulse_tui.crypto.pulse import encrypt

OSC_TITLE = "\x1b]0;pwned\x07"
CSI_CLEAR = "\x1b[2J\x1b[H"
C1_CSI = "\x9b31m"
BIDI = "\u202egnp.exe"
MARKUP = "[bold red]x[/][link=http://127.0.0.1/]y[/link]"
CONTROLS = "a\x00b\x08c\rd\x7fe\x85f"
LONE = "\ud800 lone"
HOSTILE_TEXTS = (OSC_TITLE, CSI_CLEAR, C1_CSI, BIDI, MARKUP, CONTROLS, LONE, "x" * 10_000)


@dataclass(frozen=True)
class Entry:
    name: str
    key: bytes
    kind: str  # "string" | "encrypt" | "hash" | "list" | "set" | "zset" | "stream"
    value: Any


def _session(sid: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"sessionId": sid, "whatsappId": "18765550100@c.us", "phoneNumber": "18765550100",
                            "isVerified": True, "flashUserId": "u-1", "createdAt": "2026-01-01T00:00:00Z",
                            "expiresAt": "2031-01-01T00:00:00Z", "lastActivity": "2026-01-02T00:00:00Z"}
    base.update(fields)
    return base


def _deep(depth: int) -> str:
    return '{"a":' + "[" * depth + "]" * depth + "}"


ENTRIES: tuple[Entry, ...] = (
    # profile names and ids chosen by any WhatsApp user, in values that open
    *(Entry(f"hostile-profile-{i}", f"session:{i:032x}".encode(), "encrypt",
            _session(f"{i:032x}", profileName=t, whatsappId=t + "@c.us"))
      for i, t in enumerate(HOSTILE_TEXTS)),
    Entry("plain-hostile", b"session:plain-hostile", "string",
          json.dumps(_session("plain-hostile", profileName=OSC_TITLE, someNote=CSI_CLEAR))),
    # wrong field types
    Entry("wrong-types", b"session:wrong-types", "encrypt",
          _session("wrong-types", expiresAt={"$date": 1}, phoneNumber=["a"], whatsappId=42, lastActivity=[1],
                   isVerified="yes", flashUserId={"id": 1}, sessionId=None)),
    Entry("bad-date", b"session:bad-date", "encrypt", _session("bad-date", expiresAt="9999-99-99" + OSC_TITLE)),
    Entry("huge-number", b"session:huge-number", "string", '{"retries": ' + "9" * 4000 + "}"),
    Entry("overflow-float", b"session:overflow-float", "string", '{"expiresAt": 1e309, "x": -1e400}'),
    Entry("nan", b"session:nan", "string", '{"phoneNumber": NaN, "x": Infinity}'),
    # JSON deep enough to recurse, in plain and in encrypted form
    Entry("deep-plain", b"session:deep-plain", "string", _deep(100_000)),
    Entry("deep-encrypted", b"session:deep-encrypted", "encrypt", _deep(50_000)),
    Entry("huge-value", b"session:huge-value", "string", '{"profileName": "' + "A" * (3 << 20) + '"}'),
    Entry("not-json", b"session:not-json", "string", "{" + OSC_TITLE),
    Entry("binary-value", b"session:binary-value", "string", b"\xff\xfe\x1b]0;x\x07"),
    Entry("empty", b"session:empty", "string", b""),
    # keys that are binary, or hold escapes themselves
    Entry("binary-key-1", b"session:\xff\xfe", "string", json.dumps(_session("x1"))),
    Entry("binary-key-2", b"session:\xff\xfd", "string", json.dumps(_session("x2"))),
    Entry("escape-key", ("session:" + OSC_TITLE).encode(), "string", json.dumps(_session("x3"))),
    Entry("newline-key", b"session:line1\nline2", "string", json.dumps(_session("x4"))),
    # other Redis types under Pulse's prefixes
    Entry("hash-session", b"session:hash", "hash", {"profileName": OSC_TITLE}),
    Entry("list-session", b"session:list", "list", [OSC_TITLE]),
    Entry("set-session", b"session:set", "set", [CSI_CLEAR]),
    Entry("zset-session", b"session:zset", "zset", {C1_CSI: 1.0}),
    Entry("stream-session", b"session:stream", "stream", {"x": OSC_TITLE}),
    Entry("hash-index", b"whatsapp:hash", "hash", {"x": "1"}),
    Entry("list-index", b"whatsapp:list", "list", ["x"]),
    # index keys pointing at hostile or binary targets
    Entry("index-escape", ("whatsapp:" + OSC_TITLE).encode(), "string", OSC_TITLE),
    Entry("index-binary", b"whatsapp:\xff\x00", "string", b"\xff\xfd"),
    Entry("index-huge", b"whatsapp:huge", "string", "z" * 100_000),
    # an index pointing at the session whose whatsappId holds a lone surrogate (its hash must not raise)
    Entry("index-to-surrogate", b"whatsapp:surrogate", "string", f"{HOSTILE_TEXTS.index(LONE):032x}"),
    Entry("otp-hostile", b"otp:" + OSC_TITLE.encode(), "string", CSI_CLEAR),
)


def seed(client: redis.Redis, key: bytes) -> None:
    """Write every entry (a few with a TTL) into the Redis `client` talks to."""
    for i, e in enumerate(ENTRIES):
        if e.kind == "string":
            client.set(e.key, e.value)
        elif e.kind == "encrypt":
            text = e.value if isinstance(e.value, str) else json.dumps(e.value)
            client.set(e.key, encrypt(text, key))
        elif e.kind == "hash":
            client.hset(e.key, mapping=e.value)
        elif e.kind == "list":
            client.rpush(e.key, *e.value)
        elif e.kind == "set":
            client.sadd(e.key, *e.value)
        elif e.kind == "zset":
            client.zadd(e.key, e.value)
        elif e.kind == "stream":
            client.xadd(e.key, e.value)
        if i % 3 == 0:
            client.expire(e.key, 86_400)
