"""Simulators started on demand by a test and stopped after it, whatever it did."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Protocol, TypeVar


class _Startable(Protocol):
    def start(self) -> str: ...
    def stop(self) -> None: ...


S = TypeVar("S", bound=_Startable)


@contextlib.contextmanager
def started_sims(build: Callable[..., S], **defaults: object) -> Iterator[Callable[..., S]]:
    """`make(**overrides)` builds a simulator with `defaults` updated by `overrides` and starts it; every one made
    is stopped on the way out."""
    sims: list[S] = []

    def make(**kw: object) -> S:
        sim = build(**{**defaults, **kw})
        sims.append(sim)
        sim.start()
        return sim

    try:
        yield make
    finally:
        for s in sims:
            s.stop()
