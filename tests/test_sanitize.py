"""The one sanitizer: no raw control byte or bidi override survives, ordinary text is returned as is."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pulse_tui.sanitize import has_unsafe, markup, visible, visible_bytes

HOSTILE = [
    "\x1b]0;pwned\x07",  # OSC: renames the terminal window
    "\x1b[2J\x1b[H",  # CSI: clears the screen
    "\x9b31m",  # C1 CSI
    "a\rb",  # carriage return hides what came before
    "\x00\x7f\x85",
    "abc\u202edcba",  # right-to-left override
    "\ud800",  # lone surrogate
]


def test_hostile_strings_leave_no_raw_control() -> None:
    for s in HOSTILE:
        out = visible(s)
        assert not has_unsafe(out), repr(out)
        assert not any(ord(c) < 0x20 and c != "\t" for c in out)
    assert visible("\x1b]0;pwned\x07") == "\\x1b]0;pwned\\x07"
    assert visible("\ud800") == "\ufffd"


def test_ordinary_text_is_unchanged() -> None:
    s = "Session 3f8a connected\tok: ünïcode 😀"
    assert visible(s) is s


def test_markup_is_escaped() -> None:
    assert markup("[bold red]x[/]\x1b") == "\\[bold red]x\\[/]\\x1b"


def test_bytes_of_unknown_encoding() -> None:
    assert visible_bytes(b"session:\xff\xfe") == "session:\\xff\\xfe"
    assert visible_bytes(b"session:\xff\xfe") != visible_bytes(b"session:\xff\xfd")


@given(st.text())
def test_any_text_comes_out_safe(s: str) -> None:
    out = visible(s)
    assert not has_unsafe(out)
    out.encode("utf-8")  # never a lone surrogate
