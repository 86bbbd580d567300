"""`status --json` prints with status_json.dumps_indented: the exact text of json.dumps(indent=2), faster."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pulse_tui.status_json import ROWS_PER_PIECE, dumps_indented, write_indented

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
