"""Page/limit pagination without a page count: fetched ahead, stopped at the short page."""

from __future__ import annotations

import asyncio
import threading

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from support_assets.core.http import ResilientClient
from support_assets.core.http_errors import BoundExceeded
from support_assets.core.http_retry import RetryPolicy
from support_assets_tests.support.loopback import serve_app

FAST = RetryPolicy(max_attempts=2, backoff_initial=0.01, backoff_max=0.02)


class PagedWithoutTotals:
    """``items`` records, ``limit`` a page, no page-count header; records the pages asked."""

    def __init__(self, items: int, ignore_page: bool = False) -> None:
        self.items = items
        self.ignore_page = ignore_page
        self.asked: list[int] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()

    async def handle(self, request: Request) -> Response:
        page = 1 if self.ignore_page else int(request.query_params["page"])
        limit = int(request.query_params["limit"])
        with self._lock:
            self.asked.append(int(request.query_params["page"]))
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.02)
        with self._lock:
            self.in_flight -= 1
        start = (page - 1) * limit
        return JSONResponse(list(range(start, min(start + limit, self.items))))

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/items", self.handle)])


@pytest.mark.parametrize("items", [0, 7, 10, 95, 100])
@pytest.mark.parametrize("concurrency", [1, 4])
def test_pages_without_a_count_are_read_to_the_short_page(items: int, concurrency: int) -> None:
    server = PagedWithoutTotals(items)
    with serve_app(server.app()) as url, ResilientClient("test", url, retry=FAST) as client:
        pages = list(client.paginate_pages("items", limit=10, concurrency=concurrency))
    assert [x for page in pages for x in page] == list(range(items))
    assert all(pages[1:]), "no empty page is yielded after the first"
    needed = items // 10 + 1
    assert set(range(1, needed + 1)) <= set(server.asked)
    # Fetched ahead: at most twice the concurrency past the page that ended the listing.
    assert max(server.asked) <= needed + (2 * concurrency if concurrency > 1 else 0)


def test_fetching_ahead_sends_requests_in_parallel() -> None:
    server = PagedWithoutTotals(300)
    with serve_app(server.app()) as url, ResilientClient("test", url, retry=FAST) as client:
        pages = list(client.paginate_pages("items", limit=10, concurrency=4))
    assert len(pages) == 30
    assert 1 < server.most_in_flight <= 4


def test_a_server_ignoring_the_page_fails_the_listing_when_fetching_ahead() -> None:
    server = PagedWithoutTotals(1_000, ignore_page=True)
    with serve_app(server.app()) as url, ResilientClient("test", url, retry=FAST) as client:
        with pytest.raises(BoundExceeded, match="repeats an earlier page"):
            list(client.paginate_pages("items", limit=10, concurrency=4))


def test_ramping_up_leaves_few_requests_behind_a_listing_stopped_early() -> None:
    server = PagedWithoutTotals(10_000)
    with serve_app(server.app()) as url, ResilientClient("test", url, retry=FAST) as client:
        pages = client.paginate_pages("items", limit=10, concurrency=8, ramp_up=True)
        read = [next(pages) for _ in range(3)]
        pages.close()
    assert [x for page in read for x in page] == list(range(30))
    # Three pages read: one request at first and one more ahead for each page read.
    assert len(server.asked) <= 3 + 3 + 1


def test_ramping_up_reaches_the_full_concurrency() -> None:
    server = PagedWithoutTotals(600)
    with serve_app(server.app()) as url, ResilientClient("test", url, retry=FAST) as client:
        pages = list(client.paginate_pages("items", limit=10, concurrency=4, ramp_up=True))
    assert len(pages) == 60
    assert server.most_in_flight == 4
