"""Hostile strings: what an outsider can put in a log line, a WhatsApp profile name, a dir name or a body.

Each renderer test feeds these where untrusted text enters and asserts that no raw control byte leaves and
that Rich markup is shown literally. `SAFE_NAMES` are the ones that can also be a file name on Linux.
"""

from __future__ import annotations

OSC_TITLE = "\x1b]0;pwned\x07"
CSI_CLEAR = "\x1b[2J\x1b[H"
CSI_COLOUR = "\x1b[31mred\x1b[0m"
C1_CSI = "\x9b31m"
C1_OSC = "\x9d0;pwned\x9c"
BEL = "ring\x07ring"
CR = "overwritten\rfake"
NUL = "nul\x00byte"
DEL = "del\x7fchar"
BACKSPACE = "abc\x08\x08\x08xyz"
BIDI = "user\u202egnp.exe"
BIDI_ISOLATE = "a\u2066b\u2069c"
LONE_SURROGATE = "half\ud800pair"
MARKUP_BOLD = "[bold]loud[/bold]"
MARKUP_CLOSE = "[/]"
MARKUP_LINK = "[link=https://evil.example]click[/link]"
MARKUP_COLOUR = "[red on white]x[/]"
TEXTUAL_VAR = "$accent $text-muted"
EMOJI_CODE = "smile:thumbs_up:please"
LONG = "A" * 5000 + "\x1b]0;tail\x07"

ALL: tuple[str, ...] = (
    OSC_TITLE, CSI_CLEAR, CSI_COLOUR, C1_CSI, C1_OSC, BEL, CR, NUL, DEL, BACKSPACE, BIDI, BIDI_ISOLATE,
    LONE_SURROGATE, MARKUP_BOLD, MARKUP_CLOSE, MARKUP_LINK, MARKUP_COLOUR, TEXTUAL_VAR, EMOJI_CODE, LONG,
)

# Markup that must appear literally (as typed) wherever it is shown.
MARKUP: tuple[str, ...] = (MARKUP_BOLD, MARKUP_CLOSE, MARKUP_LINK, MARKUP_COLOUR)

# Usable as one path component (no NUL, no "/", no lone surrogate, not too long for a file name).
SAFE_NAMES: tuple[str, ...] = tuple(s for s in ALL if "\x00" not in s and "/" not in s and len(s) < 200
                                    and not any(0xD800 <= ord(c) <= 0xDFFF for c in s))


def raw_control(text: str) -> bool:
    """True when `text` holds an escape introducer a terminal would act on (ESC, C1 CSI/OSC, BEL)."""
    return any(c in text for c in ("\x1b", "\x9b", "\x9d", "\x07", "\x00", "\r", "\x08"))
