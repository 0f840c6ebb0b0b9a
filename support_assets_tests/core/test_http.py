"""The resilient HTTP layer against a real server on loopback."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from support_assets.core.http import ResilientClient
from support_assets.core.http_errors import HttpError, Redactor
from support_assets.core.http_retry import RateLimiter, RetryPolicy, parse_retry_after
from support_assets_tests.support.loopback import serve_app

SECRET = "k3y-Th4t-Must-N3ver-Leak-0123456789"
FAST = RetryPolicy(max_attempts=5, backoff_initial=0.01, backoff_max=0.05, retry_after_cap=2)


class Script:
    """Answers each request with the next scripted status; counts what it saw."""

    def __init__(self, statuses: list[int], retry_after: str | None = None) -> None:
        self.statuses = list(statuses)
        self.retry_after = retry_after
        self.times: list[float] = []
        self.lock = threading.Lock()

    async def handle(self, request: Request) -> Response:
        with self.lock:
            self.times.append(time.monotonic())
            status = self.statuses.pop(0) if self.statuses else 200
        headers = {"Retry-After": self.retry_after} if status == 429 and self.retry_after else {}
        if status == 200:
            return JSONResponse({"ok": True, "key_seen": request.headers.get("x-api-key")})
        return JSONResponse(
            {"error": f"boom, your key was {request.headers.get('x-api-key')}"},
            status_code=status,
            headers=headers,
        )


def paged_app(total: int, per_page_header: bool = True) -> Starlette:
    async def items(request: Request) -> Response:
        page = int(request.query_params.get("page", 1))
        limit = int(request.query_params.get("limit", 10))
        start = (page - 1) * limit
        body = list(range(start, min(start + limit, total)))
        pages = (total + limit - 1) // limit
        headers = {"X-Total-Pages": str(pages)} if per_page_header else {}
        return JSONResponse(body, headers=headers)

    async def offset(request: Request) -> Response:
        off = int(request.query_params["offset"])
        limit = int(request.query_params["limit"])
        return JSONResponse(list(range(total))[off : off + limit])

    async def odata(request: Request) -> Response:
        skip = int(request.query_params.get("$skip", 0))
        value = list(range(total))[skip : skip + 7]
        body: dict = {"value": value}
        if skip + 7 < total:
            body["@odata.nextLink"] = f"{request.base_url}odata?$skip={skip + 7}"
        return JSONResponse(body)

    async def numbered(request: Request) -> Response:
        page = int(request.query_params["pagina"])
        last = (total + 9) // 10
        return JSONResponse(
            {
                "meta": {"paginate": {"current_page": str(page), "last_page": str(last)}},
                "lista": list(range(total))[(page - 1) * 10 : page * 10],
            }
        )

    return Starlette(
        routes=[
            Route("/items", items),
            Route("/offset", offset),
            Route("/odata", odata),
            Route("/numbered", numbered, methods=["POST"]),
        ]
    )


def test_parse_retry_after_seconds_and_http_date() -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_redactor_removes_every_secret() -> None:
    redact = Redactor([SECRET, None, ""])
    assert redact(f"GET /bot{SECRET}/getUpdates failed") == "GET /bot***/getUpdates failed"


def test_retries_429_and_5xx_honouring_retry_after(caplog: pytest.LogCaptureFixture) -> None:
    script = Script([429, 503, 500, 200], retry_after="1")
    app = Starlette(routes=[Route("/x", script.handle)])
    with serve_app(app) as url, ResilientClient("test", url, retry=FAST) as client:
        with caplog.at_level(logging.WARNING):
            response = client.get("x")
    assert response.json()["ok"] is True
    assert len(script.times) == 4
    assert script.times[1] - script.times[0] >= 0.95  # Retry-After: 1 was honoured
    assert client.stats.as_dict() == {
        "requests": 4,
        "retries": 3,
        "rate_limited": 1,
        "throttled": 0,
    }
    assert sum("retry" in r.getMessage() for r in caplog.records) == 3


def test_retry_after_is_capped() -> None:
    script = Script([429, 200], retry_after="3600")
    policy = RetryPolicy(max_attempts=3, backoff_initial=0.01, retry_after_cap=0.2)
    with serve_app(Starlette(routes=[Route("/x", script.handle)])) as url:
        with ResilientClient("test", url, retry=policy) as client:
            started = time.monotonic()
            client.get("x")
    assert time.monotonic() - started < 5


def test_gives_up_with_a_redacted_error(caplog: pytest.LogCaptureFixture) -> None:
    script = Script([500] * 10)
    with serve_app(Starlette(routes=[Route("/x", script.handle)])) as url:
        client = ResilientClient(
            "test", url, headers={"X-API-KEY": SECRET}, secrets=[SECRET], retry=FAST
        )
        with caplog.at_level(logging.DEBUG), pytest.raises(HttpError) as failure:
            client.get("x")
    assert failure.value.status_code == 500
    assert "gave up after 5 attempts" in str(failure.value)
    assert SECRET not in str(failure.value) and SECRET not in failure.value.body
    assert "***" in failure.value.body
    assert failure.value.__cause__ is None and failure.value.__suppress_context__
    assert all(SECRET not in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if r.name.startswith(("httpx", "httpcore"))]


def test_client_errors_are_not_retried() -> None:
    script = Script([404])
    with serve_app(Starlette(routes=[Route("/x", script.handle)])) as url:
        with ResilientClient("test", url, retry=FAST) as client, pytest.raises(HttpError) as err:
            client.get("x")
    assert err.value.status_code == 404
    assert len(script.times) == 1


def test_timeouts_and_connection_errors_are_retried() -> None:
    calls = []

    async def slow(request: Request) -> Response:
        import asyncio

        calls.append(1)
        if len(calls) == 1:
            await asyncio.sleep(1.0)
        return JSONResponse({"ok": True})

    with serve_app(Starlette(routes=[Route("/slow", slow)])) as url:
        with ResilientClient("test", url, timeout_seconds=0.3, retry=FAST) as client:
            assert client.get("slow").json() == {"ok": True}
    assert len(calls) == 2
    # A port nobody listens on: connection refused, retried, then a clear error.
    with ResilientClient("test", "http://127.0.0.1:9", retry=FAST) as client:
        with pytest.raises(HttpError, match="connection failed"):
            client.get("x")
        assert client.stats.requests == FAST.max_attempts


def test_rate_limit_spaces_requests() -> None:
    limiter = RateLimiter(rate=20, burst=1)
    started = time.monotonic()
    for _ in range(11):
        limiter.acquire()
    assert time.monotonic() - started >= 0.45  # 10 intervals of 50 ms after the first token


@pytest.mark.parametrize("concurrency", [1, 4])
def test_page_pagination_with_total_pages_header(concurrency: int) -> None:
    with serve_app(paged_app(95)) as url, ResilientClient("test", url, retry=FAST) as client:
        pages = list(client.paginate_pages("items", limit=10, concurrency=concurrency))
    assert [x for page in pages for x in page] == list(range(95))
    assert client.stats.requests == 10


def test_page_pagination_without_header_reads_until_short_page() -> None:
    with serve_app(paged_app(30, per_page_header=False)) as url:
        with ResilientClient("test", url, retry=FAST) as client:
            pages = list(client.paginate_pages("items", limit=10))
    assert [x for page in pages for x in page] == list(range(30))


def test_offset_odata_and_numbered_pagination() -> None:
    with serve_app(paged_app(23)) as url, ResilientClient("test", url, retry=FAST) as client:
        offset = [x for page in client.paginate_offset("offset", limit=5) for x in page]
        odata = [x for page in client.paginate_odata("odata") for x in page]
        numbered = [x for page in client.paginate_numbered("POST", "numbered") for x in page]
    assert offset == odata == numbered == list(range(23))
