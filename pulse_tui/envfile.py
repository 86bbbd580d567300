"""`.env` files read exactly as Node's dotenv 16.4.7 reads them (Pulse loads its `.env` through it).

A port of dotenv's `LINE` regular expression and `parse()`, with JavaScript's `\\s`, `\\w`, `.`, `^`, `$`
spelled out so Python's `re` means the same characters: an unquoted `#` starts a comment, single, double and
backtick quotes are stripped, `\\n`/`\\r` expand only inside double quotes, `export ` and `KEY: value` are
accepted, CRLF and lone CR are line ends, and `${VAR}` is kept literally. Lines Node silently skips are
returned by number so the doctor can report them (never their text: it may hold a secret).
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

# JavaScript's `\s` (ECMAScript WhiteSpace + LineTerminator) and its line terminators.
JS_WHITESPACE = "\t\n\v\f\r \u00a0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000\ufeff"
_JS_EOL = "\n\r\u2028\u2029"
_S = f"[{JS_WHITESPACE}]"
_BOL = f"(?:(?<=[{_JS_EOL}])|(?<![\\s\\S]))"  # `^` under the m flag
_EOL = f"(?=[{_JS_EOL}]|(?![\\s\\S]))"  # `$` under the m flag
_DOT = f"[^{_JS_EOL}]"

# dotenv 16.4.7 lib/main.js:
# /(?:^|^)\s*(?:export\s+)?([\w.-]+)(?:\s*=\s*?|:\s+?)(\s*'(?:\\'|[^'])*'|\s*"(?:\\"|[^"])*"|\s*`(?:\\`|[^`])*`
#  |[^#\r\n]+)?\s*(?:#.*)?(?:$|$)/mg
LINE = re.compile(
    f"{_BOL}{_S}*(?:export{_S}+)?([A-Za-z0-9_.-]+)(?:{_S}*={_S}*?|:{_S}+?)"
    f"({_S}*'(?:\\\\'|[^'])*'|{_S}*\"(?:\\\\\"|[^\"])*\"|{_S}*`(?:\\\\`|[^`])*`|[^#\\r\\n]+)?"
    f"{_S}*(?:#{_DOT}*)?{_EOL}"
)
_QUOTED = re.compile(r"^(['\"`])([\s\S]*)\1$")
MAX_ENV_BYTES = 1 << 20  # a real .env is a few kB; refuse to slurp a huge or endless file


def js_trim(text: str) -> str:
    """JavaScript's String.prototype.trim (its whitespace set differs from Python's str.strip)."""
    return text.strip(JS_WHITESPACE)


@dataclass(frozen=True)
class EnvParse:
    """Values as Node's dotenv gets them (later lines win) and the numbers of lines it ignores."""

    values: dict[str, str]
    ignored_lines: tuple[int, ...]


def _value(raw: str | None) -> str:
    value = js_trim(raw or "")
    quote = value[:1]
    # JS: value.replace(/^(['"`])([\s\S]*)\1$/mg, '$2'); with m, ^/$ may also match at inner line ends, but the
    # greedy [\s\S]* makes the first match the whole value whenever the outer quotes match.
    m = _QUOTED.fullmatch(value)
    if m is not None:
        value = m.group(2)
    if quote == '"':
        value = value.replace("\\n", "\n").replace("\\r", "\r")
    return value


def parse(text: str) -> EnvParse:
    """Parse `.env` text as dotenv 16.4.7's `parse()` does; also list the non-blank, non-comment lines it skips."""
    text = re.sub(r"\r\n?", "\n", text)
    values: dict[str, str] = {}
    covered: list[tuple[int, int]] = []
    for m in LINE.finditer(text):
        values[m.group(1)] = _value(m.group(2))
        covered.append(m.span())
    return EnvParse(values, tuple(_ignored(text, covered)))


def _ignored(text: str, covered: list[tuple[int, int]]) -> list[int]:
    """Lines with text that no match covers (a match starts at a line's first non-blank character)."""
    mark = bytearray(len(text) + 1)
    for a, b in covered:
        mark[a:b] = b"\1" * (b - a)
    out: list[int] = []
    pos = 0
    for number, line in enumerate(text.split("\n"), start=1):
        body = line.lstrip(JS_WHITESPACE)
        first = pos + len(line) - len(body)
        pos += len(line) + 1
        if js_trim(body) and not body.startswith("#") and not mark[first]:
            out.append(number)
    return out


class EnvFileError(Exception):
    """An env file that cannot be read as one; one sentence naming the file, never its content."""


def check_regular(path: Path, what: str = "file") -> None:
    """Refuse a FIFO, directory or device (reading one may hang): only regular files or symlinks to one."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise EnvFileError(f"{what} {path} does not exist.") from None
    except OSError as exc:
        raise EnvFileError(f"{what} {path} cannot be read ({exc.strerror or type(exc).__name__}).") from None
    if not stat.S_ISREG(st.st_mode):
        kind = ("a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode)
                else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "not a regular file")
        raise EnvFileError(f"{what} {path} is {kind}, not a regular file.")


def read_text(path: Path, what: str = "env file") -> str:
    """The file's text as Node decodes it, after refusing special files, huge files and binary data (NUL bytes)."""
    check_regular(path, what)
    try:
        # O_NONBLOCK: if the path was swapped for a FIFO after the check, open() must not wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise EnvFileError(f"{what} {path} is not a regular file.")
            data = fh.read(MAX_ENV_BYTES + 1)
    except OSError as exc:
        raise EnvFileError(f"{what} {path} cannot be read ({exc.strerror or type(exc).__name__}).") from None
    if len(data) > MAX_ENV_BYTES:
        raise EnvFileError(f"{what} {path} is larger than {MAX_ENV_BYTES // 1024} kB: not an env file.")
    if b"\0" in data:
        raise EnvFileError(f"{what} {path} holds binary data, not KEY=VALUE text.")
    # Node decodes invalid UTF-8 as U+FFFD and starts anyway: so do we (a NUL byte means binary, refused above).
    return data.decode("utf-8", "replace")


def read(path: Path, what: str = "env file") -> EnvParse:
    """Read and parse one env file as Node's dotenv 16 does (EnvFileError: one sentence)."""
    return parse(read_text(path, what))
