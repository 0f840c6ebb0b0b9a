"""One API's request budget shared by processes, and 429s with Retry-After waited out."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from support_assets.core.http import ResilientClient
from support_assets.core.http_retry import RetryPolicy
from support_assets_tests.support.loopback import serve_app


class Arrivals:
    def __init__(self, refuse_first: int = 0, retry_after: str = "0.2") -> None:
        self.times: list[float] = []
        self.refuse_first = refuse_first
        self.retry_after = retry_after
        self.lock = threading.Lock()

    async def handle(self, request: Request) -> Response:
        with self.lock:
            self.times.append(time.time())
            refused = len(self.times) <= self.refuse_first
        if refused:
            return JSONResponse(
                {"error": "slow down"}, status_code=429, headers={"Retry-After": self.retry_after}
            )
        return JSONResponse({"ok": True})

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/x", self.handle)])


def test_a_429_with_retry_after_is_waited_out_not_counted_as_a_failed_attempt() -> None:
    server = Arrivals(refuse_first=5)
    policy = RetryPolicy(max_attempts=2, backoff_initial=0.01, retry_after_cap=1)
    with serve_app(server.app()) as url, ResilientClient("test", url, retry=policy) as client:
        assert client.get("x").json() == {"ok": True}
    assert len(server.times) == 6
    # Each refusal was waited out (0.2 s), not answered at once.
    assert all(b - a >= 0.18 for a, b in zip(server.times, server.times[1:6], strict=False))


def _worker(url: str, state: str, requests: int) -> None:
    from support_assets.core.rate_limit import SharedRateLimiter

    limiter = SharedRateLimiter(state, "test-api", rate=4.0)
    with ResilientClient("test", url, limiter=limiter) as client:
        for _ in range(requests):
            client.get("x")


def test_processes_share_one_request_budget(tmp_path: Path) -> None:
    """Three processes at 4 requests a second each would send 12 a second; sharing the budget
    they send 4 a second together."""
    server = Arrivals()
    state = str(tmp_path / "rate_limits.sqlite")
    with serve_app(server.app()) as url:
        context = multiprocessing.get_context("spawn")
        workers = [context.Process(target=_worker, args=(url, state, 6)) for _ in range(3)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
            assert worker.exitcode == 0
    times = sorted(server.times)
    assert len(times) == 18
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest <= 5, busiest  # 4 a second, one of scheduling slack
    assert times[-1] - times[0] >= 17 / 4 - 0.5
