"""Pagination over the listing shapes the sources use, each bounded by :class:`PageGuard`."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx

from support_assets.core import json_codec
from support_assets.core.http_errors import BoundExceeded, Bounds, Redactor

_Page = TypeVar("_Page")


def json_body(response: httpx.Response) -> Any:
    """The response's JSON body, parsed with :func:`~support_assets.core.json_codec.loads`."""
    return json_codec.loads(response.content)


def page_fingerprint(items: Any) -> int | str:
    """What makes two pages the same page: the ids of their records, in order, when every record
    has a scalar ``id`` (cheap, and a repeated page is caught even if a record on it changed
    between the two reads); otherwise the whole page's JSON. Compared within one listing only."""
    if isinstance(items, list):
        ids = tuple(item.get("id") if isinstance(item, dict) else None for item in items)
        if all(type(i) in (str, int) for i in ids):
            return hash((tuple(type(i) is int for i in ids), ids))
    text = json.dumps(items, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class PageGuard:
    """Counts the pages of one listing and fails it when a bound says it cannot end: more pages
    than ``max_pages``, or a non-empty page equal to one already read (a server ignoring the
    page parameter, or a repeated next link)."""

    def __init__(self, client: Paginated, what: str) -> None:
        self.client = client
        self.what = what
        self.pages = 0
        self._seen: set[int | str] = set()

    def _fail(self, problem: str, bound: str = "max_pages") -> None:
        raise BoundExceeded(
            f"{self.client.api_name} {self.client.redact(self.what)}: {problem} "
            f"({self.client.bounds.name(bound)})"
        )

    def expect(self, total: int, source: str) -> None:
        """Refuses a page count the server announced beyond ``max_pages``."""
        if total > self.client.bounds.max_pages:
            self._fail(f"the server announced {total} pages in {source}, more than allowed")

    def see(self, items: Any) -> None:
        self.pages += 1
        if self.pages > self.client.bounds.max_pages:
            self._fail("more pages than allowed; the listing does not end")
        if not items:
            return
        digest = page_fingerprint(items)
        if digest in self._seen:
            self._fail(
                f"page {self.pages} repeats an earlier page (the server ignores the page "
                "parameter or repeats its next link); stopped"
            )
        self._seen.add(digest)


class Paginated:
    """Pagination helpers of :class:`~support_assets.core.http.ResilientClient`, built on its
    ``request``, ``api_name``, ``bounds`` and ``redact``."""

    api_name: str
    bounds: Bounds
    redact: Redactor

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Sends one request (with retries); the client implements it."""
        raise NotImplementedError

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def paginate_pages(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        limit: int = 100,
        page_param: str = "page",
        limit_param: str = "limit",
        total_pages_header: str = "X-Total-Pages",
        concurrency: int = 1,
        items: Callable[[httpx.Response], list[Any]] = json_body,
        ramp_up: bool = False,
    ) -> Iterator[list[Any]]:
        """Page/limit pagination, with the page count in a response header or without one.

        The first page tells how many pages there are; the rest are fetched with up to
        ``concurrency`` requests in flight (still under the rate limit) and yielded in order.
        Without the header, pages are fetched ahead the same way and read until one comes back
        short; the few requested past it are discarded. Leaving the loop early cancels what
        was not sent yet. ``ramp_up`` is for a consumer that may stop after a few pages (a
        listing that ends at a cursor): one request at first, one more after each page read, so
        stopping after k pages leaves at most k + 1 requests unneeded (and never more than
        twice ``concurrency``).
        """
        base = dict(params or {})
        guard = PageGuard(self, f"GET {path}")

        def fetch(page: int) -> httpx.Response:
            return self.get(path, params={**base, page_param: page, limit_param: limit})

        def fetch_items(page: int) -> list[Any]:
            # Parsed where it was fetched: a worker parses while the consumer writes (a
            # database releases the GIL while it works).
            return items(fetch(page))

        first = fetch(1)
        first_items = items(first)
        guard.see(first_items)
        yield first_items
        total_header = first.headers.get(total_pages_header)
        if total_header is None:
            if len(first_items) < limit:
                return
            ahead = self._fetched_in_order(fetch_items, itertools.count(2), concurrency, ramp_up)
            for page_items in ahead:
                guard.see(page_items)
                if page_items:
                    yield page_items
                if len(page_items) < limit:
                    return
            return
        total_pages = int(total_header)
        guard.expect(total_pages, total_pages_header)
        pages = range(2, total_pages + 1)
        for page_items in self._fetched_in_order(fetch_items, pages, concurrency, ramp_up):
            guard.see(page_items)
            yield page_items

    def _fetched_in_order(
        self,
        fetch: Callable[[int], _Page],
        pages: Iterable[int],
        concurrency: int,
        ramp_up: bool = False,
    ) -> Iterator[_Page]:
        """What ``fetch`` answers for each of ``pages``, in order, up to ``concurrency`` requests
        in flight and twice that many queued (with ``ramp_up``, one at first and one more after
        each page consumed); a consumer that stops early leaves no request behind."""
        queue = iter(pages)
        if concurrency <= 1:
            for page in queue:
                yield fetch(page)
            return
        most = concurrency * 2
        window = 1 if ramp_up else most
        pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=self.api_name)
        try:
            pending = [pool.submit(fetch, page) for page in itertools.islice(queue, window)]
            while pending:
                answer = pending.pop(0).result()
                window = min(most, window + 1)
                for page in itertools.islice(queue, window - len(pending)):
                    pending.append(pool.submit(fetch, page))
                yield answer
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def paginate_offset(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        limit: int = 100,
        offset_param: str = "offset",
        limit_param: str = "limit",
        offset_counts_pages: bool = False,
        items: Callable[[httpx.Response], list[Any]] = json_body,
    ) -> Iterator[list[Any]]:
        """Offset pagination; ``offset_counts_pages`` for APIs whose offset is a page number."""
        base = dict(params or {})
        guard = PageGuard(self, f"GET {path}")
        offset = 1 if offset_counts_pages else 0
        while True:
            page = items(self.get(path, params={**base, offset_param: offset, limit_param: limit}))
            guard.see(page)
            if page:
                yield page
            if len(page) < limit:
                return
            offset += 1 if offset_counts_pages else len(page)

    def paginate_odata(
        self, path: str, params: Mapping[str, Any] | None = None
    ) -> Iterator[list[Any]]:
        """OData pagination: ``value`` lists, following ``@odata.nextLink`` until it is absent.

        A next link seen before, or one to another origin, fails the listing."""
        guard = PageGuard(self, f"GET {path}")
        body = json_body(self.get(path, params=dict(params or {})))
        links: set[str] = set()
        while True:
            guard.see(body.get("value", []))
            yield body.get("value", [])
            next_link = body.get("@odata.nextLink")
            if not next_link:
                return
            if next_link in links:
                guard._fail(f"@odata.nextLink repeats after {guard.pages} pages; stopped")
            links.add(next_link)
            body = json_body(self.get(next_link))

    def paginate_numbered(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        json: Any = None,
        page_param: str = "pagina",
        items: Callable[[Any], list[Any]] = lambda body: body.get("lista", []),
        last_page: Callable[[Any], int | str | None] = lambda body: (
            body.get("meta", {}).get("paginate", {}).get("last_page")
        ),
    ) -> Iterator[list[Any]]:
        """Numbered pages with the last page number in the body (strings accepted)."""
        base = dict(params or {})
        guard = PageGuard(self, f"{method} {path}")
        page = 1
        while True:
            body = json_body(
                self.request(method, path, params={**base, page_param: page}, json=json)
            )
            page_items = items(body)
            guard.see(page_items)
            yield page_items
            last = last_page(body)
            if last is None or page >= int(last):
                return
            guard.expect(int(last), "last_page")
            page += 1
