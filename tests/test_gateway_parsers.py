"""Property tests (hypothesis) for what a gateway sends: JSON bodies, rate-limit headers, Retry-After, SSE."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pulse_tui.clock import FakeClock
from pulse_tui.sources.gateway import safejson
from pulse_tui.sources.gateway.budget import (
    MAX_WAIT_S,
    RequestBudget,
    Spend,
    _int,
    _number,
    parse_retry_after,
)
from pulse_tui.sources.gateway.salesboy import EventTooLarge, bounded_lines, qr_from_event, sse_events

finite = st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**30), 10**30) | finite | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30,
)
header_text = st.one_of(
    st.text(max_size=50),
    st.sampled_from(["1e309", "-1e309", "NaN", "nan", "inf", "-1", "0", "1" * 400, "  12 ", "0x10", "1_000", "٣"]),
)


@settings(deadline=None)  # never timed: the machine is shared
@given(st.binary(max_size=2000))
def test_json_loads_only_ever_raises_value_error(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        safejson.loads(data)


@settings(deadline=None)  # never timed: the machine is shared
@given(json_values)
def test_json_round_trips_every_bounded_finite_document(value: object) -> None:
    assert safejson.loads(json.dumps(value).encode()) == value


@given(st.integers(65, 200_000), st.sampled_from(["[", '{"a":', "[{\"b\":"]))
@settings(max_examples=20, deadline=None)
def test_json_refuses_deep_nesting_without_recursing(depth: int, opener: str) -> None:
    with pytest.raises(ValueError, match="nested"):
        safejson.loads((opener * depth).encode())


@settings(deadline=None)  # never timed: the machine is shared
@given(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e309", "-1e400", "[1e999]"]))
def test_json_refuses_non_finite_numbers(text: str) -> None:
    with pytest.raises(ValueError):
        safejson.loads(text)


def test_json_brackets_inside_strings_do_not_count_as_depth() -> None:
    assert safejson.loads(b'{"a": "' + b"[" * 1000 + b'\\"]"}') == {"a": "[" * 1000 + '"]'}


@settings(deadline=None)  # never timed: the machine is shared
@given(header_text)
def test_header_numbers_are_finite_or_none(value: str) -> None:
    n = _number(value)
    assert n is None or math.isfinite(n)
    i = _int(value)
    assert i is None or 0 <= i <= 10**9


@settings(deadline=None)  # never timed: the machine is shared
@given(header_text)
def test_retry_after_is_a_bounded_wait_or_none(value: str) -> None:
    wait = parse_retry_after(value, now=1_790_000_000.0)
    assert wait is None or 0.0 <= wait <= MAX_WAIT_S


@settings(deadline=None)  # never timed: the machine is shared
@given(st.dictionaries(
    st.sampled_from(["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "RateLimit-Limit",
                     "RateLimit-Remaining", "RateLimit-Reset", "Retry-After"]),
    header_text, max_size=7),
    st.sampled_from([200, 400, 429, 500, 503]))
def test_any_rate_limit_headers_leave_a_sane_budget(headers: dict[str, str], status: int) -> None:
    clock = FakeClock()
    b = RequestBudget(90, clock=clock, reserve=5)
    assert b.try_spend()
    b.observe(headers, status)
    left, limit = b.snapshot()
    assert limit is not None and 1 <= limit <= 90
    assert left is not None and 0 <= left <= limit
    assert 0.0 <= b.blocked_for(Spend.ACTION) <= 86400.0 + 900.0
    use = b.use()
    assert use is not None and use.this_process >= 0 and use.someone_else >= 0


@settings(deadline=None)  # never timed: the machine is shared
@given(st.text(max_size=300))
def test_qr_events_are_a_code_or_a_typed_failure(data: str) -> None:
    got = qr_from_event(data)
    assert type(got).__name__ in ("QrCode", "GatewayFailure")


async def _items(chunks: list[str]) -> AsyncIterator[str]:
    for c in chunks:
        yield c


@settings(deadline=None)  # never timed: the machine is shared
@given(st.lists(st.text(alphabet="ab:\n\r d", max_size=30), max_size=10))
def test_bounded_lines_split_like_str_splitlines_on_newlines(chunks: list[str]) -> None:
    async def collect() -> list[str]:
        return [line async for line in bounded_lines(_items(chunks), cap=10_000)]

    joined = "".join(chunks)
    parts = joined.split("\n")
    if parts[-1] == "":
        parts.pop()  # a stream that ends with a newline has no unfinished last line
    expected = [line.removesuffix("\r") for line in parts]
    assert asyncio.run(collect()) == expected


def test_an_endless_sse_line_or_event_is_refused_at_its_cap() -> None:
    async def drain(chunks: list[str]) -> None:
        async for _ in sse_events(bounded_lines(_items(chunks), cap=100), cap=100):
            pass

    with pytest.raises(EventTooLarge):
        asyncio.run(drain(["data: " + "x" * 50] * 10))  # one line that never ends
    with pytest.raises(EventTooLarge):
        asyncio.run(drain(["data: " + "x" * 50 + "\n"] * 10))  # short lines, one event that never ends
