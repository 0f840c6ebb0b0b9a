"""The adaptive request rate: its arithmetic alone (plain cases and hypothesis), then the client
that applies it to its own limiter after every answer, over real HTTP on loopback."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from support_assets.core.adaptive_rate import AdaptiveRate
from support_assets.core.http import ResilientClient
from support_assets.core.http_retry import RetryPolicy
from support_assets.core.rate_limit import SharedRateLimiter
from support_assets_tests.support.loopback import serve_app

SLOWDOWN = AdaptiveRate.SLOWDOWN


def test_it_starts_at_the_ceiling_and_stays_there_while_nothing_is_refused() -> None:
    rate = AdaptiveRate(200.0, recover_after=3)
    for _ in range(100):
        assert rate.accepted() is False
    assert rate.rate == 200.0 and rate.slowdowns == 0


def test_a_429_slows_down_to_a_little_under_half() -> None:
    rate = AdaptiveRate(8.0, floor=0.5, recover_after=3)
    assert rate.refused() is True
    assert rate.rate == pytest.approx(8 * SLOWDOWN)
    rate.accepted()
    rate.refused()
    rate.refused()
    assert rate.rate == pytest.approx(8 * SLOWDOWN**3)
    for _ in range(5):
        rate.refused()
    assert rate.rate == 0.5  # the floor
    # Recovery stops at half the lowest rate the API refused, here under the floor: the rate
    # stays at the floor.
    for _ in range(30):
        rate.accepted()
    assert rate.rate == 0.5


def test_a_429_to_a_request_sent_before_the_last_slowdown_does_not_slow_down_again() -> None:
    rate = AdaptiveRate(200.0)
    sent = [rate.generation for _ in range(8)]  # eight requests in flight, all refused
    assert [rate.refused(generation) for generation in sent] == [True] + [False] * 7
    assert rate.rate == pytest.approx(200 * SLOWDOWN) and rate.slowdowns == 1
    assert rate.refused(rate.generation) is True  # one sent after it was refused again
    assert rate.rate == pytest.approx(200 * SLOWDOWN**2)


def test_the_refused_rate_is_the_rate_really_sent_not_the_limit_allowed() -> None:
    """Allowed 200 a second, the client got 11 answers in its first 0.1 s and then a 429: the
    API refused 12 a second, so the client slows to under half of that and stays there."""
    rate = AdaptiveRate(200.0, recover_after=2)
    for i in range(11):
        rate.accepted(now=100 + i / 100)
    assert rate.refused(rate.generation, now=100.11) is True
    assert rate.rate == pytest.approx(12 * SLOWDOWN) and rate.refused_at == 12
    for i in range(200):
        rate.accepted(now=101 + i)
    assert rate.rate == pytest.approx(12 * AdaptiveRate.RECOVERY_MARGIN)
    # Answers older than a second no longer count: a 429 after a quiet spell (or to a first
    # request) measures nothing, and the limit is what was refused.
    quiet = AdaptiveRate(40.0)
    for i in range(10):
        quiet.accepted(now=i / 10)
    quiet.refused(quiet.generation, now=5.0)
    assert quiet.refused_at == 40 and quiet.rate == pytest.approx(40 * SLOWDOWN)
    # Fewer than five accepted answers in the last second measure nothing either.
    few = AdaptiveRate(40.0)
    for i in range(4):
        few.accepted(now=i / 10)
    few.refused(few.generation, now=0.5)
    assert few.refused_at == 40


def test_after_429s_the_rate_settles_under_the_refused_rate_not_at_it() -> None:
    rate = AdaptiveRate(12.0, recover_after=2)
    rate.refused()  # refused at 12: 5.4
    rate.accepted()
    rate.refused()  # refused at 5.4: 2.43, under an API limit of 3
    assert rate.rate == pytest.approx(12 * SLOWDOWN**2) and rate.rate < 3
    rates = []
    for _ in range(100):
        rate.accepted()
        rates.append(rate.rate)
    assert max(rates) == pytest.approx(5.4 * AdaptiveRate.RECOVERY_MARGIN) and max(rates) < 3


def test_recovery_is_slow_a_quarter_after_each_run_of_accepted_requests() -> None:
    rate = AdaptiveRate(100.0, recover_after=20)
    rate.refused()  # 45; recovery may reach 50
    grown = [rate.accepted() for _ in range(40)]
    assert grown.count(True) == 1 and grown.index(True) == 19
    assert rate.rate == 50.0


@settings(max_examples=200, deadline=None)
@given(
    ceiling=st.floats(min_value=0.5, max_value=1000),
    floor=st.floats(min_value=0.01, max_value=5),
    recover_after=st.integers(min_value=1, max_value=30),
    answers=st.lists(
        st.tuples(st.booleans(), st.floats(min_value=0, max_value=2), st.integers(0, 3)),
        max_size=400,
    ),
)
def test_the_rate_never_leaves_floor_and_ceiling_and_never_recovers_into_a_refused_rate(
    ceiling: float,
    floor: float,
    recover_after: int,
    answers: list[tuple[bool, float, int]],
) -> None:
    """Answers at increasing instants, 429s to requests sent up to three slowdowns ago."""
    rate = AdaptiveRate(ceiling, floor=floor, recover_after=recover_after)
    now = 0.0
    for refused, elapsed, age in answers:
        now += elapsed
        before = rate.rate
        if refused:
            current = rate.generation
            sent = max(0, current - age)
            slowed = rate.refused(sent, now)
            assert rate.rate < before if slowed else rate.rate == before
            if slowed:
                assert sent == current and rate.rate <= max(rate.floor, before * SLOWDOWN) + 1e-9
        else:
            rate.accepted(now)
            assert before <= rate.rate <= max(before, before * AdaptiveRate.RECOVERY_STEP)
            if rate.rate > before and rate.refused_at is not None:
                assert rate.rate <= max(rate.floor, rate.refused_at * AdaptiveRate.RECOVERY_MARGIN)
        assert min(floor, ceiling) <= rate.rate <= ceiling


def test_the_floor_is_a_fiftieth_of_the_ceiling_at_least_a_fifth_of_a_request() -> None:
    assert AdaptiveRate(200.0).floor == 4.0
    assert AdaptiveRate(8.0).floor == 0.2 and AdaptiveRate(0.1).floor == 0.1
    # 429s every few requests whatever the rate: the run slows down, but not below the floor.
    rate = AdaptiveRate(500.0)
    now = 0.0
    for _ in range(20):
        for _ in range(8):
            now += 0.1
            rate.accepted(now)
        rate.refused(rate.generation, now)
    assert rate.rate == 10.0


def test_a_ceiling_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        AdaptiveRate(0.0)


# The client applies it -------------------------------------------------------------------


class RefuseSome:
    """Answers 429 (``Retry-After: 0``) to the requests whose numbers are in ``refuse``."""

    def __init__(self, refuse: set[int]) -> None:
        self.refuse = refuse
        self.seen = 0
        self.lock = threading.Lock()

    async def handle(self, request: Request) -> Response:
        with self.lock:
            self.seen += 1
            refused = self.seen in self.refuse
        if refused:
            return JSONResponse(
                {"error": "slow down"}, status_code=429, headers={"Retry-After": "0"}
            )
        return JSONResponse({"ok": True})

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/x", self.handle)])


def test_the_client_slows_itself_down_on_429_without_being_asked() -> None:
    server = RefuseSome({1, 2})
    policy = RetryPolicy(backoff_initial=0.01)
    with (
        serve_app(server.app()) as url,
        ResilientClient("test", url, rate_limit_per_second=400, burst=4, retry=policy) as client,
    ):
        assert client.current_rate == 400
        client.get("x")
        assert client.stats.rate_limited == 2
        # The refused request was retried and refused again: two slowdowns; no more bursts.
        assert client.current_rate == pytest.approx(400 * SLOWDOWN**2)
        assert client.limiter.burst == 1


def test_the_client_slows_down_under_the_rate_it_really_sent_at() -> None:
    server = RefuseSome({31})
    with (
        serve_app(server.app()) as url,
        ResilientClient("test", url, rate_limit_per_second=300, retry=RetryPolicy()) as client,
    ):
        for _ in range(31):
            client.get("x")
        assert client.stats.rate_limited == 1
        # However fast loopback is, 32 answers in the last second were not 300 a second.
        assert client.current_rate <= 32 * SLOWDOWN


def test_the_client_recovers_slowly_and_never_back_into_the_refused_rate() -> None:
    server = RefuseSome({1})
    with (
        serve_app(server.app()) as url,
        ResilientClient("test", url, rate_limit_per_second=400, retry=RetryPolicy()) as client,
    ):
        client.get("x")
        assert client.current_rate == pytest.approx(180)
        for _ in range(60):
            client.get("x")
        # Three runs of twenty accepted requests: 180 grows no further than half of 400.
        assert client.current_rate == 200


def test_a_client_without_a_limit_is_not_limited_by_429s() -> None:
    server = RefuseSome({1})
    with (
        serve_app(server.app()) as url,
        ResilientClient("test", url, retry=RetryPolicy()) as client,
    ):
        client.get("x")
        assert client.stats.rate_limited == 1 and client.current_rate is None


def test_a_client_sharing_a_budget_across_processes_adapts_its_own_rate(tmp_path) -> None:
    server = RefuseSome({1})
    state = str(tmp_path / "rate_limits.sqlite")
    limiter = SharedRateLimiter(state, "test-api", rate=300.0, burst=4)
    with (
        serve_app(server.app()) as url,
        ResilientClient("test", url, limiter=limiter, retry=RetryPolicy()) as client,
    ):
        client.get("x")
        client.get("x")
        assert client.current_rate == pytest.approx(300 * SLOWDOWN)
        assert limiter.rate == client.current_rate and limiter.burst == 1
