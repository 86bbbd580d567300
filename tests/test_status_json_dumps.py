"""`status --json` prints with status_json.write_indented: the exact text of json.dumps(indent=2), faster."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pulse_tui.model import IndexClass, UserSession, ValueClass
from pulse_tui.status_json import ROWS_PER_PIECE, dumps_indented, snapshot_to_json, write_indented
from tests import canned

_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
_docs = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
                     | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=30)


@settings(max_examples=400, deadline=None)
@given(doc=_docs)
def test_same_text_as_json_dumps_indent_2(doc: Any) -> None:
    assert dumps_indented(doc) == json.dumps(doc, indent=2)


def test_status_shape_and_odd_keys() -> None:
    doc = {"schema": 1, "sessions": [], "redis": None, "host": {},
           "user_sessions": [{"session_id": "a\u00e9\n\"\\", "ttl": None, "linked": True, "ttl2": 1.5e300}] * 3,
           "findings": [{"subjects": ["x", "y"], "hint": ""}], 1: "int key", None: [[], {}], 2.5: {"k": [1, [2]]}}
    assert dumps_indented(doc) == json.dumps(doc, indent=2)
    assert json.loads(dumps_indented(doc))["user_sessions"][0]["session_id"] == "a\u00e9\n\"\\"


def test_many_rows_are_written_in_pieces_with_the_same_text() -> None:
    """10,000 user sessions go out in pieces of ROWS_PER_PIECE objects: the joins between pieces are exact."""
    row = {"session_id": "s", "detail": "},\n      {", "ttl": 3, "linked": False, "key": None}
    rows = [dict(row, session_id=str(i)) for i in range(3 * ROWS_PER_PIECE + 1)]
    pieces: list[str] = []
    write_indented({"user_sessions": rows, "n": len(rows)}, pieces.append)
    assert "".join(pieces) == json.dumps({"user_sessions": rows, "n": len(rows)}, indent=2)
    assert max(map(len, pieces)) < len("".join(pieces)) / 2


_texts = st.text(max_size=8) | st.sampled_from(["", "é\"\\\n\u2028", "},\n      {", "\ud800"])
_sessions = st.builds(
    UserSession, key=_texts, session_id=_texts, value_class=st.sampled_from(ValueClass),
    ttl=st.none() | st.integers(min_value=-2, max_value=10**12), whatsapp_id=st.none() | _texts,
    phone=st.none() | _texts, linked=st.booleans(), expires_at=st.none() | _texts, key_label=st.none() | _texts,
    index=st.sampled_from(IndexClass), detail=_texts, redis_type=st.sampled_from(["string", "hash"]))


@settings(max_examples=200, deadline=None)
@given(sessions=st.lists(_sessions, max_size=5))
def test_user_sessions_written_from_the_model_are_the_same_text(sessions: list[UserSession]) -> None:
    """status --json writes user_sessions straight from the model: the text of the documented dicts, exactly."""
    snap = canned.snapshot()
    snap = dataclasses.replace(snap, redis=dataclasses.replace(snap.redis, sessions=tuple(sessions)))
    assert dumps_indented(snapshot_to_json(snap, model_rows=True)) == json.dumps(snapshot_to_json(snap), indent=2)


def test_many_model_rows_span_pieces() -> None:
    snap = canned.snapshot()
    assert snap.redis is not None
    many = snap.redis.sessions * (ROWS_PER_PIECE // len(snap.redis.sessions) + 2)
    snap = dataclasses.replace(snap, redis=dataclasses.replace(snap.redis, sessions=many))
    pieces: list[str] = []
    write_indented(snapshot_to_json(snap, model_rows=True), pieces.append)
    assert "".join(pieces) == json.dumps(snapshot_to_json(snap), indent=2)
