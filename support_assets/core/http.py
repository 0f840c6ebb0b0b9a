"""The one resilient HTTP layer every API resource goes through.

httpx underneath; on top of it: timeouts, retries with exponential backoff and jitter on 429,
5xx, timeouts and connection errors (honouring ``Retry-After`` in seconds or as an HTTP date,
capped), a token-bucket rate limit per API, pagination helpers for the shapes the sources use,
and redaction of credentials in every log line and error message.

Every loop over a remote answer is bounded (:class:`Bounds`): pages per listing (a server that
ignores ``page`` or repeats a ``@odata.nextLink`` is caught when a page repeats, an enormous
``X-Total-Pages`` or ``last_page`` is refused), bytes per response (the body is streamed and
the read stops at the cap) and total seconds per request, not only per read. Exceeding a bound
raises :class:`BoundExceeded` naming the bound and the setting that raises it. Credentials
only go to the configured origin: an absolute link to another scheme, host or port is refused.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx
from dagster import ConfigurableResource, InitResourceContext, get_dagster_logger
from pydantic import PrivateAttr
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
)

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
REDACTED = "***"


class Redactor:
    """Replaces every known secret in a text with ``***``."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Longest first, so a secret that contains another is removed whole.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: object) -> str:
        out = str(text)
        for secret in self._secrets:
            out = out.replace(secret, REDACTED)
        return out


class HttpError(Exception):
    """A request that failed for good; its message never carries credentials."""

    def __init__(self, message: str, status_code: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body


class RetryableHttpError(HttpError):
    """A failure worth retrying (429, 5xx, timeout, connection error)."""

    def __init__(
        self,
        message: str,
        status_code: int | None = None,
        body: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status_code, body)
        self.retry_after = retry_after

    @property
    def is_rate_limit_with_wait(self) -> bool:
        """A 429 that said how long to wait: the API refused before doing anything."""
        return self.status_code == 429 and self.retry_after is not None


class BoundExceeded(HttpError):
    """A remote answer went past one of the client's bounds; the message names the setting."""


class ForeignOriginError(HttpError):
    """A link points outside the configured origin: credentials are not sent there."""


@dataclass(frozen=True)
class Bounds:
    """Limits on every loop over a remote answer; each names the setting that changes it."""

    max_pages: int = 100_000
    max_response_bytes: int = 64 * 1024 * 1024
    request_deadline_seconds: float = 300.0

    SETTINGS = {
        "max_pages": "SUPPORT_HTTP_MAX_PAGES",
        "max_response_bytes": "SUPPORT_HTTP_MAX_RESPONSE_BYTES",
        "request_deadline_seconds": "SUPPORT_HTTP_REQUEST_DEADLINE_SECONDS",
    }

    def name(self, bound: str) -> str:
        return f"{bound} = {getattr(self, bound)}, setting {self.SETTINGS[bound]}"


def path_segment(value: object) -> str:
    """One URL path segment holding ``value``, escaped (``/``, ``?``, ``#``, ``..`` included)."""
    text = str(value)
    if text in ("", ".", ".."):
        raise ValueError(f"{text!r} cannot be an id in a URL path")
    return quote(text, safe="")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


class PageGuard:
    """Counts the pages of one listing and fails it when a bound says it cannot end: more pages
    than ``max_pages``, or a non-empty page equal to one already read (a server ignoring the
    page parameter, or a repeated next link)."""

    def __init__(self, client: ResilientClient, what: str) -> None:
        self.client = client
        self.what = what
        self.pages = 0
        self._seen: set[str] = set()

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
        digest = hashlib.sha256(
            json.dumps(items, sort_keys=True, default=str).encode("utf-8", "surrogatepass")
        ).hexdigest()
        if digest in self._seen:
            self._fail(
                f"page {self.pages} repeats an earlier page (the server ignores the page "
                "parameter or repeats its next link); stopped"
            )
        self._seen.add(digest)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class RateLimiter:
    """Thread-safe token bucket: at most ``rate`` requests a second, bursts up to ``burst``."""

    def __init__(self, rate: float | None, burst: int = 1) -> None:
        self.rate = rate if rate and rate > 0 else None
        self.burst = max(1, burst)
        self._tokens = float(self.burst)
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def pause_for(self, seconds: float) -> None:
        """No request goes for ``seconds`` (the API answered 429 with a ``Retry-After``)."""
        with self._lock:
            self._tokens = min(self._tokens, 0.0) - seconds * (self.rate or 0.0)

    def acquire(self) -> float:
        """Blocks until a request may go; returns the seconds waited."""
        if self.rate is None:
            return 0.0
        waited = 0.0
        while True:
            with self._lock:
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return waited
                delay = (1 - self._tokens) / self.rate
            time.sleep(delay)
            waited += delay


@dataclass
class RetryPolicy:
    """How hard to try: attempts, exponential backoff with full jitter, cap on Retry-After."""

    max_attempts: int = 6
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    retry_after_cap: float = 120.0
    #: 429s that said how long to wait are waited out, not counted as failed attempts; this
    #: many of them in one request still end it.
    max_rate_limited_waits: int = 30

    def gives_up(self, exc: BaseException | None, counts: dict[str, int]) -> bool:
        """Counts one failed try of a request; True when it is the last one allowed."""
        if isinstance(exc, RetryableHttpError) and exc.is_rate_limit_with_wait:
            counts["waited"] = counts.get("waited", 0) + 1
            return counts["waited"] >= self.max_rate_limited_waits
        counts["failed"] = counts.get("failed", 0) + 1
        return counts["failed"] >= self.max_attempts

    def wait_seconds(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.retry_after_cap)
        ceiling = min(self.backoff_max, self.backoff_initial * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)


@dataclass
class RequestStats:
    """Counters a run reports as metadata."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "retries": self.retries,
            "rate_limited": self.rate_limited,
        }


class ResilientClient:
    """An httpx client for one API with retries, rate limit, pagination and redaction."""

    def __init__(
        self,
        api_name: str,
        base_url: str,
        headers: Mapping[str, str] | None = None,
        secrets: Iterable[str | None] = (),
        timeout_seconds: float = 30.0,
        rate_limit_per_second: float | None = None,
        burst: int = 1,
        retry: RetryPolicy | None = None,
        logger: logging.Logger | None = None,
        transport: httpx.BaseTransport | None = None,
        bounds: Bounds | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.api_name = api_name
        self.base_url = base_url.rstrip("/") + "/"
        self.origin = _origin(self.base_url)
        self.bounds = bounds or Bounds()
        self.redact = Redactor(secrets)
        self.retry = retry or RetryPolicy()
        self.limiter = limiter or RateLimiter(rate_limit_per_second, burst)
        self.stats = RequestStats()
        self.log = logger or get_dagster_logger("support_assets.http")
        # httpx logs every full URL at INFO (a token in a path would leak); our own log lines
        # say what matters, redacted.
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self._http = httpx.Client(
            headers=dict(headers or {}),
            timeout=httpx.Timeout(timeout_seconds),
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ResilientClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(self, path: str) -> str:
        """The absolute URL of ``path``; an absolute link must stay on the configured origin
        (scheme, host and port), or it is refused before any credential is sent."""
        url = urljoin(self.base_url, path if "://" in path else path.lstrip("/"))
        if _origin(url) != self.origin:
            scheme, host, port = _origin(url)
            raise ForeignOriginError(
                f"{self.api_name}: refused to follow a link to {scheme}://{host}:{port}, "
                f"which is not the configured origin {self.origin[0]}://{self.origin[1]}:"
                f"{self.origin[2]}; credentials are only sent to the configured base URL"
            )
        return url

    def _read_bounded(self, response: httpx.Response, where: str, deadline: float) -> bytes:
        """The (decoded) body, read in chunks, stopped at the byte cap or the deadline."""
        limit = self.bounds.max_response_bytes
        declared = response.headers.get("Content-Length", "")
        if (
            declared.isdigit()
            and int(declared) > limit
            and not response.headers.get("Content-Encoding")
        ):
            raise BoundExceeded(
                f"{where}: the response declares {declared} bytes "
                f"({self.bounds.name('max_response_bytes')})"
            )
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > limit:
                raise BoundExceeded(
                    f"{where}: the response is over {limit} bytes; stopped reading "
                    f"({self.bounds.name('max_response_bytes')})"
                )
            if time.monotonic() > deadline:
                raise RetryableHttpError(
                    f"{where}: took longer than {self.bounds.request_deadline_seconds}s "
                    f"({self.bounds.name('request_deadline_seconds')})"
                )
        return bytes(body)

    def _exchange(self, method: str, url: str, where: str, **kwargs: Any) -> httpx.Response:
        """One request whose body is streamed under the byte cap and the total deadline."""
        deadline = time.monotonic() + self.bounds.request_deadline_seconds
        with self._http.stream(method, url, **kwargs) as streamed:
            body = self._read_bounded(streamed, where, deadline)
        headers = [
            (k, v)
            for k, v in streamed.headers.multi_items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(
            streamed.status_code, headers=headers, content=body, request=streamed.request
        )

    def _send_once(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        self.limiter.acquire()
        self.stats.add(requests=1)
        where = f"{self.api_name} {method} {self.redact(httpx.URL(url).path)}"
        try:
            response = self._exchange(method, url, where, **kwargs)
        except httpx.TimeoutException:
            raise RetryableHttpError(f"{where}: timed out") from None
        except httpx.TransportError as exc:
            raise RetryableHttpError(f"{where}: connection failed ({type(exc).__name__})") from None
        if response.status_code in RETRYABLE_STATUS:
            if response.status_code == 429:
                self.stats.add(rate_limited=1)
            raise RetryableHttpError(
                f"{where}: HTTP {response.status_code}",
                status_code=response.status_code,
                body=self.redact(response.text[:500]),
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if response.status_code >= 400:
            raise HttpError(
                f"{where}: HTTP {response.status_code}: {self.redact(response.text[:300])}",
                status_code=response.status_code,
                body=self.redact(response.text[:2000]),
            )
        return response

    def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        self.stats.add(retries=1)
        self.log.warning(
            "%s; retry %d of %d in %.2fs",
            self.redact(exc),
            state.attempt_number,
            self.retry.max_attempts - 1,
            wait,
        )

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = exc.retry_after if isinstance(exc, RetryableHttpError) else None
        wait = self.retry.wait_seconds(state.attempt_number, retry_after)
        if isinstance(exc, RetryableHttpError) and exc.is_rate_limit_with_wait:
            self.limiter.pause_for(wait)  # every request to this API waits, not just this one
        return wait

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Sends a request, retrying what is worth retrying; raises ``HttpError`` otherwise.

        A 429 with ``Retry-After`` is waited out and not counted as a failed attempt (up to
        ``max_rate_limited_waits`` of them)."""
        url = self.url(path)
        counts: dict[str, int] = {}
        retrying = Retrying(
            stop=lambda state: self.retry.gives_up(state.outcome.exception(), counts),
            wait=self._wait,
            retry=retry_if_exception(lambda e: isinstance(e, RetryableHttpError)),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            return retrying(self._send_once, method, url, **kwargs)
        except RetryableHttpError as exc:
            waits = counts.get("waited", 0)
            raise HttpError(
                f"{exc} (gave up after {counts.get('failed', 0)} attempts"
                + (f" and {waits} waits for Retry-After)" if waits else ")"),
                status_code=exc.status_code,
                body=exc.body,
            ) from None

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    # Pagination helpers -------------------------------------------------------------------

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
        items: Callable[[httpx.Response], list[Any]] = lambda r: r.json(),
    ) -> Iterator[list[Any]]:
        """Page/limit pagination with the page count in a response header.

        The first page tells how many pages there are; the rest are fetched with up to
        ``concurrency`` requests in flight (still under the rate limit) and yielded in order.
        Without the header, pages are read until one comes back short.
        """
        base = dict(params or {})
        guard = PageGuard(self, f"GET {path}")

        def fetch(page: int) -> httpx.Response:
            return self.get(path, params={**base, page_param: page, limit_param: limit})

        first = fetch(1)
        first_items = items(first)
        guard.see(first_items)
        yield first_items
        total_header = first.headers.get(total_pages_header)
        if total_header is None:
            page, last = 1, first_items
            while len(last) >= limit:
                page += 1
                last = items(fetch(page))
                guard.see(last)
                if last:
                    yield last
            return
        total_pages = int(total_header)
        guard.expect(total_pages, total_pages_header)
        if total_pages <= 1:
            return
        pages = range(2, total_pages + 1)
        if concurrency <= 1:
            for page in pages:
                page_items = items(fetch(page))
                guard.see(page_items)
                yield page_items
            return
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=self.api_name) as pool:
            pending: list[Future[httpx.Response]] = []
            queue = iter(pages)
            for page in queue:
                pending.append(pool.submit(fetch, page))
                if len(pending) >= concurrency * 2:
                    break
            while pending:
                response = pending.pop(0).result()
                next_page = next(queue, None)
                if next_page is not None:
                    pending.append(pool.submit(fetch, next_page))
                page_items = items(response)
                guard.see(page_items)
                yield page_items

    def paginate_offset(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        limit: int = 100,
        offset_param: str = "offset",
        limit_param: str = "limit",
        offset_counts_pages: bool = False,
        items: Callable[[httpx.Response], list[Any]] = lambda r: r.json(),
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
        body = self.get(path, params=dict(params or {})).json()
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
            body = self.get(next_link).json()

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
            body = self.request(method, path, params={**base, page_param: page}, json=json).json()
            page_items = items(body)
            guard.see(page_items)
            yield page_items
            last = last_page(body)
            if last is None or page >= int(last):
                return
            guard.expect(int(last), "last_page")
            page += 1


class HttpApiResource(ConfigurableResource):
    """Settings every HTTP API resource shares; subclasses add credentials and endpoints."""

    base_url: str
    timeout_seconds: float = 30.0
    max_attempts: int = 6
    backoff_initial_seconds: float = 0.5
    retry_after_cap_seconds: float = 120.0
    rate_limit_per_second: float | None = None
    max_concurrency: int = 4
    max_pages: int = Bounds.max_pages
    max_response_bytes: int = Bounds.max_response_bytes
    request_deadline_seconds: float = Bounds.request_deadline_seconds
    rate_limit_state: str | None = None

    _client: ResilientClient | None = PrivateAttr(default=None)

    def _api_name(self) -> str:
        return type(self).__name__.removesuffix("Resource").lower()

    def _headers(self) -> dict[str, str]:
        return {}

    def _secrets(self) -> list[str]:
        return []

    def client_options(self) -> dict[str, Any]:
        """What every client of this resource is built with (timeouts, retries, bounds)."""
        return {
            "api_name": self._api_name(),
            "base_url": self.base_url,
            "timeout_seconds": self.timeout_seconds,
            "rate_limit_per_second": self.rate_limit_per_second,
            "burst": max(1, self.max_concurrency),
            "retry": RetryPolicy(
                max_attempts=self.max_attempts,
                backoff_initial=self.backoff_initial_seconds,
                retry_after_cap=self.retry_after_cap_seconds,
            ),
            "bounds": Bounds(
                max_pages=self.max_pages,
                max_response_bytes=self.max_response_bytes,
                request_deadline_seconds=self.request_deadline_seconds,
            ),
            "limiter": self._shared_limiter(),
        }

    def _shared_limiter(self) -> RateLimiter | None:
        """The API's budget shared by every process (``rate_limit_state``), or None."""
        if not self.rate_limit_state:
            return None
        from support_assets.core.rate_limit import SharedRateLimiter

        scheme, host, port = _origin(self.base_url.rstrip("/") + "/")
        key = f"{self._api_name()} {scheme}://{host}:{port}"
        return SharedRateLimiter(
            self.rate_limit_state, key, self.rate_limit_per_second, max(1, self.max_concurrency)
        )

    def get_client(self) -> ResilientClient:
        """The resource's client, built on first use and reused for the rest of the run."""
        if self._client is None:
            self._client = ResilientClient(
                headers=self._headers(), secrets=self._secrets(), **self.client_options()
            )
        return self._client

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
