"""JSON from an untrusted peer: bounded depth, finite numbers only, and one exception type (ValueError).

`json.loads` recurses once per nesting level (`[` x100000 raises RecursionError), accepts `NaN` and
`Infinity`, turns `1e309` into inf and a 5,000-digit integer into a ValueError deep inside the decoder.
`loads` checks the nesting before decoding and turns every one of these into a ValueError with a reason.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 64  # no gateway answer nests more than a handful of levels
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


def depth_of(data: bytes) -> int:
    """The deepest nesting of arrays/objects in `data`, brackets inside strings not counted."""
    depth = deepest = 0
    for m in _BRACKETS.finditer(_STRINGS.sub(b'""', data)):
        if m.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def loads(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Decode `data`; ValueError (with a short reason) for anything but bounded, finite JSON."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if depth_of(raw) > max_depth:
        raise ValueError(f"nested deeper than {max_depth} levels")
    try:
        text = raw.decode("utf-8")
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite)
    except RecursionError:  # belt and braces: depth_of already bounds the recursion
        raise ValueError("nested too deep") from None
    except UnicodeDecodeError:
        raise ValueError("not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg})") from None
