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
    rate.accepted()  # a page came back between two refusals
    rate.refused()
    rate.refused()
    assert rate.rate == pytest.approx(8 * SLOWDOWN**3)
    rate.accepted()
    for _ in range(5):
        rate.refused()
    assert rate.rate == 0.5  # the floor
    # Recovery stops at half the lowest rate the API refused (8 * 0.45**3 = 0.73): 0.36 is
    # under the floor, so the rate stays at the floor.
    for _ in range(30):
        rate.accepted()
    assert rate.rate == 0.5


def test_requests_already_on_their_way_slow_it_down_at_most_three_times_in_a_row() -> None:
    rate = AdaptiveRate(200.0)
    for _ in range(8):  # eight requests in flight, all refused
        rate.refused()
    assert rate.rate == pytest.approx(200 * SLOWDOWN**AdaptiveRate.MAX_SLOWDOWNS_IN_A_ROW)
    assert rate.slowdowns == 3


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
    answers=st.lists(st.booleans(), max_size=400),
)
def test_the_rate_never_leaves_floor_and_ceiling_and_never_recovers_into_a_refused_rate(
    ceiling: float, floor: float, recover_after: int, answers: list[bool]
) -> None:
    rate = AdaptiveRate(ceiling, floor=floor, recover_after=recover_after)
    for refused in answers:
        before = rate.rate
        if refused:
            rate.refused()
            assert rate.rate <= before
            if before > rate.floor and rate.slowdowns:
                assert rate.rate in (before, pytest.approx(max(rate.floor, before * SLOWDOWN)))
        else:
            rate.accepted()
            assert before <= rate.rate <= max(before, before * AdaptiveRate.RECOVERY_STEP)
            if rate.rate > before and rate.refused_at is not None:
                assert rate.rate <= max(rate.floor, rate.refused_at * AdaptiveRate.RECOVERY_MARGIN)
        assert min(floor, ceiling) <= rate.rate <= ceiling


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
    server = RefuseSome({2, 3})
    policy = RetryPolicy(backoff_initial=0.01)
    with (
        serve_app(server.app()) as url,
        ResilientClient("test", url, rate_limit_per_second=400, burst=4, retry=policy) as client,
    ):
        assert client.current_rate == 400
        for _ in range(3):
            client.get("x")
        assert client.stats.rate_limited == 2
        # Two refusals in a row: two slowdowns; bursts are over once the API refused one.
        assert client.current_rate == pytest.approx(400 * SLOWDOWN**2)
        assert client.limiter.burst == 1


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
