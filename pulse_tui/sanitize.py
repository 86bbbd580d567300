"""The one sanitizer for untrusted text on its way to a terminal.

Log lines, Redis values (a WhatsApp profile name is chosen by any WhatsApp user), file names, pm2 app names,
gateway bodies and ids may hold escape sequences that would rename the operator's window, move the cursor or
hide text. Every such string passes through `visible()` where it enters a renderer (a Textual widget, a CLI
line); `markup()` also escapes Rich markup for the few places that render markup. JSON output does not need
this: JSON escapes every control character itself.
"""

from __future__ import annotations

import re

# Every C0 control except tab, DEL, every C1 control, and the Unicode bidi overrides/isolates (which reorder
# what the operator reads: "Trojan source"). Lone surrogates cannot be encoded for the terminal at all.
_UNSAFE_RE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u061c\u200e\u200f\ud800-\udfff]")


def _escape_one(match: re.Match[str]) -> str:
    ch = match.group(0)
    code = ord(ch)
    if 0xD800 <= code <= 0xDFFF:
        return "\ufffd"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def visible(text: str) -> str:
    """`text` with every control character (except tab) and bidi override shown as an escape such as `\\x1b`."""
    if _UNSAFE_RE.search(text) is None:  # the common case costs one scan and no copy
        return text
    return _UNSAFE_RE.sub(_escape_one, text)


def visible_bytes(raw: bytes) -> str:
    """Bytes of unknown encoding (a binary Redis key, a file name) as safe text: invalid UTF-8 as `\\xNN`."""
    return visible(raw.decode("utf-8", errors="backslashreplace"))


def markup(text: str) -> str:
    """`visible(text)` with Rich markup escaped, for a renderer that parses markup."""
    from rich.markup import escape  # lazy: keeps this module import-free for the CLI's fast paths

    return escape(visible(text))


def has_unsafe(text: str) -> bool:
    """True when `text` holds a byte `visible()` would escape (for tests and assertions)."""
    return _UNSAFE_RE.search(text) is not None
