"""Every loop over a remote answer ends, and credentials stay on the configured origin: the
resilient HTTP layer against hostile servers on loopback."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from support_assets.core.http import ResilientClient
from support_assets.core.http_errors import (
    BoundExceeded,
    Bounds,
    ForeignOriginError,
    HttpError,
    path_segment,
)
from support_assets.core.http_retry import RetryPolicy
from support_assets.sources.octadesk.client import OctadeskResource
from support_assets_tests.support.loopback import serve_app

FAST = RetryPolicy(max_attempts=2, backoff_initial=0.01, backoff_max=0.05, retry_after_cap=1)
SECRET = "k3y-that-stays-home-0123456789"


class Hostile:
    """Servers that never let a listing end, or answer without end."""

    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()

    def count(self) -> int:
        with self.lock:
            self.calls += 1
            return self.calls

    async def ignores_page(self, request: Request) -> Response:
        """A full page of the same records whatever ``page`` says, no X-Total-Pages."""
        self.count()
        return JSONResponse([{"id": i} for i in range(10)])

    async def ignores_offset(self, request: Request) -> Response:
        self.count()
        return JSONResponse([{"id": i} for i in range(5)])

    async def repeats_next_link(self, request: Request) -> Response:
        n = self.count()
        return JSONResponse(
            {"value": [{"Id": n}], "@odata.nextLink": f"{request.base_url}odata?$skip=1"}
        )

    async def other_origin(self, request: Request) -> Response:
        self.count()
        return JSONResponse(
            {"value": [{"Id": 1}], "@odata.nextLink": "http://127.0.0.2:9/odata?$skip=1"}
        )

    async def huge_total(self, request: Request) -> Response:
        self.count()
        return JSONResponse([{"id": 1}] * 10, headers={"X-Total-Pages": "999999999"})

    async def huge_last_page(self, request: Request) -> Response:
        page = int(request.query_params["pagina"])
        self.count()
        return JSONResponse(
            {"meta": {"paginate": {"last_page": "999999999"}}, "lista": [{"id": page}]}
        )

    async def endless_body(self, request: Request) -> Response:
        async def chunks():
            while True:
                yield b"[" + b"1," * 50_000
                await asyncio.sleep(0)

        self.count()
        return StreamingResponse(chunks(), media_type="application/json")

    async def drip(self, request: Request) -> Response:
        """A byte every 0.1 s: no single read ever times out."""

        async def chunks():
            for _ in range(1000):
                yield b" "
                await asyncio.sleep(0.1)

        self.count()
        return StreamingResponse(chunks(), media_type="application/json")

    async def echo_path(self, request: Request) -> Response:
        """A list of one record holding the path as received (raw, still escaped)."""
        self.count()
        return JSONResponse([{"path": request.scope["raw_path"].decode()}])

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/items", self.ignores_page),
                Route("/offset", self.ignores_offset),
                Route("/odata", self.repeats_next_link),
                Route("/foreign", self.other_origin),
                Route("/total", self.huge_total),
                Route("/numbered", self.huge_last_page, methods=["POST"]),
                Route("/endless", self.endless_body),
                Route("/drip", self.drip),
                Route("/chat/{rest:path}", self.echo_path),
            ]
        )


@pytest.fixture
def hostile() -> Hostile:
    return Hostile()


def client_for(url: str, **bounds: float) -> ResilientClient:
    return ResilientClient(
        "test",
        url,
        headers={"X-API-KEY": SECRET},
        secrets=[SECRET],
        retry=FAST,
        bounds=Bounds(**{"max_pages": 50, **bounds}),
    )


def test_a_server_that_ignores_page_without_a_total_is_stopped(hostile: Hostile) -> None:
    with serve_app(hostile.app()) as url, client_for(url) as client:
        with pytest.raises(BoundExceeded, match="repeats an earlier page") as failure:
            list(client.paginate_pages("items", limit=10))
    assert "SUPPORT_HTTP_MAX_PAGES" in str(failure.value)
    assert hostile.calls == 2


def test_a_server_that_ignores_offset_is_stopped(hostile: Hostile) -> None:
    with serve_app(hostile.app()) as url, client_for(url) as client:
        with pytest.raises(BoundExceeded, match="repeats an earlier page"):
            list(client.paginate_offset("offset", limit=5))
    assert hostile.calls == 2


def test_a_repeated_odata_next_link_is_stopped(hostile: Hostile) -> None:
    with serve_app(hostile.app()) as url, client_for(url) as client:
        with pytest.raises(BoundExceeded, match="nextLink repeats"):
            list(client.paginate_odata("odata"))
    assert hostile.calls == 2


def test_pages_beyond_max_pages_fail_naming_the_setting(hostile: Hostile) -> None:
    """Pages that all differ (each a new record) still stop at max_pages."""
    with serve_app(hostile.app()) as url, client_for(url, max_pages=5) as client:
        with pytest.raises(BoundExceeded, match="max_pages = 5, setting SUPPORT_HTTP_MAX_PAGES"):
            list(client.paginate_numbered("POST", "numbered"))
    assert hostile.calls == 1  # last_page 999999999 is not believed


def test_an_enormous_total_pages_header_is_not_believed(hostile: Hostile) -> None:
    with serve_app(hostile.app()) as url, client_for(url) as client:
        with pytest.raises(BoundExceeded, match="announced 999999999 pages in X-Total-Pages"):
            list(client.paginate_pages("total", limit=10, concurrency=4))
    assert hostile.calls == 1


def test_a_body_over_the_byte_cap_is_not_read_whole(hostile: Hostile) -> None:
    with serve_app(hostile.app()) as url, client_for(url, max_response_bytes=1_000_000) as client:
        with pytest.raises(BoundExceeded, match="SUPPORT_HTTP_MAX_RESPONSE_BYTES"):
            client.get("endless")


def test_a_request_that_drips_is_bounded_in_total_time(hostile: Hostile) -> None:
    with serve_app(hostile.app()) as url:
        client = client_for(url, request_deadline_seconds=0.5)
        started = time.monotonic()
        with client, pytest.raises(HttpError, match="SUPPORT_HTTP_REQUEST_DEADLINE_SECONDS"):
            client.get("drip")
    assert time.monotonic() - started < 10  # two attempts of about 0.5 s, not 100 s
    assert hostile.calls == FAST.max_attempts


def test_credentials_never_follow_a_link_to_another_origin(hostile: Hostile) -> None:
    with serve_app(hostile.app()) as url, client_for(url) as client:
        with pytest.raises(ForeignOriginError, match="not the configured origin"):
            list(client.paginate_odata("foreign"))
        for link in ("https://evil.example/x", url.replace("http://", "https://") + "/x"):
            with pytest.raises(ForeignOriginError):
                client.get(link)
        assert client.get(f"{url}/chat/x/events").json() == [{"path": "/chat/x/events"}]
    assert hostile.calls == 2


@pytest.mark.parametrize("chat_id", ["../../admin", "a/b?c=d#e", "x y"])
def test_ids_in_url_paths_are_escaped(hostile: Hostile, chat_id: str) -> None:
    with serve_app(hostile.app()) as url:
        octadesk = OctadeskResource(base_url=url, api_key=SECRET, agent_email="a@example.com")
        [record] = octadesk.chat_events(chat_id)
        path = record["path"]
    assert path == f"/chat/{path_segment(chat_id)}/events"
    assert path.count("/") == 3 and "?" not in path and "#" not in path
