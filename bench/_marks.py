"""Timed events for the start-up probes (bench/_probe.py, bench/_start_probe.py): one JSON line per event to
$PULSE_PROBE_OUT, in seconds since $PULSE_PROBE_T0 (the parent's wall clock just before the spawn).
Imports only what the interpreter has loaded anyway: _start_probe.py stamps every later import."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any

T0 = float(os.environ.get("PULSE_PROBE_T0", time.time()))
_OUT = open(os.environ.get("PULSE_PROBE_OUT", os.devnull), "a", buffering=1)  # noqa: SIM115
_LOCK = threading.Lock()


def mark(name: str, start: float, end: float | None = None) -> None:
    """One event, in seconds since the parent's spawn, with the count of modules loaded by then."""
    line = json.dumps({"name": name, "thread": threading.current_thread().name, "start": start - T0,
                       "end": (end if end is not None else start) - T0, "modules": len(sys.modules)})
    with _LOCK:
        _OUT.write(line + "\n")


def wrap(owner: Any, attr: str, label: str | None = None) -> None:
    """Replace owner.attr by a version that marks each call (sync or async)."""
    import functools
    import inspect

    fn = getattr(owner, attr)
    name = label or f"{getattr(owner, '__name__', owner)}.{attr}"
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def awrapped(*a: Any, **k: Any) -> Any:
            s = time.time()
            try:
                return await fn(*a, **k)
            finally:
                mark(name, s, time.time())

        setattr(owner, attr, awrapped)
    else:
        @functools.wraps(fn)
        def wrapped(*a: Any, **k: Any) -> Any:
            s = time.time()
            try:
                return fn(*a, **k)
            finally:
                mark(name, s, time.time())

        setattr(owner, attr, wrapped)
