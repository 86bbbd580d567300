"""RequestBudget with a FakeClock: spending, reserve, server headers, 429 / Retry-After."""

from __future__ import annotations

import email.utils

from pulse_tui.clock import FakeClock
from pulse_tui.model import HealthState
from pulse_tui.sources.gateway.budget import RequestBudget, Spend, parse_retry_after


def hdr(limit: int, remaining: int, reset: float, retry: str | None = None) -> dict[str, str]:
    h = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining), "X-RateLimit-Reset": str(int(reset))}
    if retry is not None:
        h["Retry-After"] = retry
    return h


def test_counts_own_requests_and_resets_after_the_window() -> None:
    clock = FakeClock()
    b = RequestBudget(10, window_s=60, clock=clock, reserve=0)
    assert b.snapshot() == (10, 10)
    for _ in range(10):
        assert b.try_spend()
    assert b.left == 0
    assert not b.try_spend() and not b.try_spend(Spend.ACTION)
    assert 59 <= b.blocked_for() <= 60
    failure = b.refusal()
    assert failure.state == HealthState.BUDGET and failure.retry_after_s and failure.retry_after_s > 0
    clock.advance(61)
    assert b.left == 10 and b.blocked_for() == 0
    assert b.try_spend()


def test_polls_keep_the_reserve_for_actions() -> None:
    b = RequestBudget(20, clock=FakeClock(), reserve=4)
    polls = 0
    while b.try_spend(Spend.POLL):
        polls += 1
    assert polls == 16 and b.left == 4
    assert b.refusal(Spend.POLL).state == HealthState.BUDGET
    for _ in range(4):
        assert b.try_spend(Spend.ACTION)
    assert not b.try_spend(Spend.ACTION)


def test_reserve_is_clamped_for_tiny_limits() -> None:
    b = RequestBudget(4, clock=FakeClock(), reserve=10)
    assert b.reserve == 1
    assert sum(b.try_spend() for _ in range(10)) == 3


def test_server_remaining_wins_when_lower() -> None:
    clock = FakeClock()
    b = RequestBudget(90, window_s=900, clock=clock, reserve=0)
    assert b.try_spend()
    # another client on the same IP already used most of the server's 100
    b.observe(hdr(100, 5, clock.now() + 600), 200)
    assert b.left == 0  # 95 used of the server's 100, our cap is 90
    assert not b.try_spend(Spend.ACTION)
    assert 599 <= b.blocked_for(Spend.ACTION) <= 600
    b2 = RequestBudget(90, clock=clock, reserve=0)
    b2.try_spend()
    b2.observe(hdr(100, 50, clock.now() + 600), 200)
    assert b2.left == 40  # never more than the server says (50 left), minus what we keep back (10)


def test_server_limit_below_ours_caps_it() -> None:
    clock = FakeClock()
    b = RequestBudget(100, clock=clock, reserve=0)
    b.try_spend()
    b.observe(hdr(30, 29, clock.now() + 900), 200)
    assert b.snapshot() == (29, 30)


def test_new_server_window_realigns_our_count() -> None:
    clock = FakeClock()
    b = RequestBudget(10, window_s=900, clock=clock, reserve=0)
    for _ in range(8):
        b.try_spend()
    b.observe(hdr(10, 2, clock.now() + 100), 200)
    assert b.left == 2
    clock.advance(101)  # the server's window ended before ours would have
    assert b.left == 10
    b.try_spend()
    b.observe(hdr(10, 9, clock.now() + 900), 200)
    assert b.left == 9


def test_in_flight_requests_are_not_forgotten_by_an_older_answer() -> None:
    clock = FakeClock()
    b = RequestBudget(10, clock=clock, reserve=0)
    for _ in range(3):
        b.try_spend()
    b.observe(hdr(10, 9, clock.now() + 900), 200)  # answer to the first of three in flight
    assert b.left == 7


def test_429_blocks_until_retry_after() -> None:
    clock = FakeClock()
    b = RequestBudget(100, clock=clock, reserve=0)
    b.try_spend()
    b.observe(hdr(100, 0, clock.now() + 30, retry="30"), 429)
    assert b.rate_limited and b.left == 0
    assert not b.try_spend(Spend.ACTION)
    f = b.refusal(Spend.ACTION)
    assert f.state == HealthState.RATE_LIMITED and f.retry_after_s == 30
    clock.advance(29)
    assert not b.try_spend(Spend.ACTION)
    clock.advance(2)
    assert not b.rate_limited
    assert b.try_spend(Spend.ACTION)


def test_429_without_headers_blocks_a_default_time() -> None:
    clock = FakeClock()
    b = RequestBudget(None, clock=clock)
    assert b.snapshot() == (None, None)
    b.observe({}, 429)
    assert not b.try_spend(Spend.ACTION)
    assert 59 <= b.blocked_for() <= 60
    clock.advance(61)
    assert b.try_spend()


def test_unlimited_budget_spends_freely_but_believes_server_headers() -> None:
    clock = FakeClock()
    b = RequestBudget(None, clock=clock)
    assert all(b.try_spend() for _ in range(1000))
    b.observe(hdr(50, 1, clock.now() + 60), 200)
    assert b.snapshot() == (1, 50)


def test_retry_after_on_503_blocks_and_http_date_is_understood() -> None:
    clock = FakeClock()
    b = RequestBudget(100, clock=clock)
    when = email.utils.formatdate(clock.now() + 20, usegmt=True)
    assert 19 <= (parse_retry_after(when, clock.now()) or 0) <= 20
    assert parse_retry_after("soon", clock.now()) is None
    assert parse_retry_after(None, clock.now()) is None
    b.observe({"Retry-After": when}, 503)
    assert not b.try_spend(Spend.ACTION)
    clock.advance(21)
    assert b.try_spend(Spend.ACTION)


def test_refund_returns_a_request_that_never_left() -> None:
    b = RequestBudget(2, clock=FakeClock(), reserve=0)
    assert b.try_spend() and b.try_spend()
    assert not b.try_spend()
    b.refund()
    assert b.try_spend()


def test_garbage_headers_are_ignored() -> None:
    b = RequestBudget(10, clock=FakeClock(), reserve=0)
    b.try_spend()
    b.observe({"X-RateLimit-Limit": "lots", "X-RateLimit-Remaining": "", "Retry-After": "later"}, 200)
    assert b.snapshot() == (9, 10)


def test_ietf_draft_headers_use_delta_seconds() -> None:
    clock = FakeClock()
    b = RequestBudget(100, clock=clock, reserve=0)
    b.try_spend()
    b.observe({"RateLimit-Limit": "100", "RateLimit-Remaining": "40", "RateLimit-Reset": "120"}, 200)
    assert b.left == 40
    clock.advance(121)
    assert b.left == 100


def test_combined_draft7_ratelimit_header_is_read() -> None:
    clock = FakeClock()
    b = RequestBudget(90, clock=clock, reserve=0)
    assert b.try_spend()
    b.observe({"RateLimit": "limit=100, remaining=40, reset=300", "RateLimit-Policy": "100;w=900"}, 200)
    assert b.snapshot() == (30, 90)  # the server counted 60: only 30 of our 90 are left
    clock.advance(301)  # `reset` counts seconds from now: the window is over
    assert b.snapshot() == (90, 90)


def test_absurd_rate_limit_numbers_are_not_believed() -> None:
    clock = FakeClock()
    b = RequestBudget(90, clock=clock, reserve=0)
    assert b.try_spend()
    b.observe({"RateLimit-Limit": "-1", "RateLimit-Remaining": "NaN", "RateLimit-Reset": "1e309",
               "X-RateLimit-Reset": "1e309", "Retry-After": "1e309"}, 429)
    assert b.snapshot() == (0, 90)
    assert b.blocked_for() == 60.0  # no believable wait given: the default block, not forever


def test_poll_rate_yields_to_other_spenders_of_the_window() -> None:
    clock = FakeClock()
    b = RequestBudget(90, window_s=900, clock=clock, reserve=10)
    assert b.poll_rate() == 0.1  # nothing spent yet: the whole budget over the whole window
    assert b.try_spend()
    mine = b.poll_rate()
    assert mine is not None and 0.08 < mine < 0.1
    # The server says someone else already spent 60 of this window.
    b.observe(hdr(100, 39, clock.now() + 900), 200)
    shared = b.poll_rate()
    assert shared is not None and shared < mine / 2
    b.observe(hdr(100, 5, clock.now() + 900), 200)
    assert b.poll_rate() == 0.0  # only the reserve for actions is left
