"""The one resilient HTTP layer every API resource goes through.

httpx underneath; on top of it: timeouts, retries with exponential backoff and jitter on 429,
5xx, timeouts and connection errors (``http_retry``), a token-bucket rate limit per API that
adapts itself to every answer (``adaptive_rate``: the configured rate is the ceiling, a 429 slows
the client down, a run of accepted requests speeds it up again), pagination helpers for the
shapes the sources use (``http_paging``), bounds on every remote answer and redaction of
credentials in every log line and error message (``http_errors``).
Credentials only go to the configured origin: an absolute link to another scheme, host or port
is refused.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urljoin

import httpx
from dagster import ConfigurableResource, InitResourceContext, get_dagster_logger
from pydantic import PrivateAttr
from tenacity import RetryCallState, Retrying, retry_if_exception

from support_assets.core.adaptive_rate import AdaptiveRate
from support_assets.core.http_errors import (
    BoundExceeded,
    Bounds,
    ForeignOriginError,
    HttpError,
    Redactor,
    RetryableHttpError,
    origin,
)
from support_assets.core.http_paging import Paginated
from support_assets.core.http_retry import (
    RETRYABLE_STATUS,
    RateLimiter,
    RequestStats,
    RetryPolicy,
    parse_retry_after,
)
from support_assets.core.rate_limit import SharedRateLimiter


class ResilientClient(Paginated):
    """An httpx client for one API with retries, rate limit, pagination and redaction.

    The limiter's configured rate is a ceiling: the client adapts it after every answer
    (`AdaptiveRate`), so no caller has to. With a `SharedRateLimiter` the budget is shared by
    every process, but each process adapts its own rate to the 429s it meets itself.
    """

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
        self.origin = origin(self.base_url)
        self.bounds = bounds or Bounds()
        self.redact = Redactor(secrets)
        self.retry = retry or RetryPolicy()
        self.limiter = limiter or RateLimiter(rate_limit_per_second, burst)
        self.adaptive = AdaptiveRate(self.limiter.rate) if self.limiter.rate else None
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

    @property
    def current_rate(self) -> float | None:
        """Requests a second the client allows itself now (None: no limit)."""
        return self.limiter.rate

    def _adapt(self, status_code: int, generation: int) -> None:
        """Feeds one answer (to a request sent at ``generation``) to the adaptive rate and applies
        what it decided to the limiter: a 429 slows down (and ends bursts), a run of accepted
        answers speeds up again."""
        adaptive = self.adaptive
        if adaptive is None:
            return
        now = time.monotonic()
        if status_code == 429:
            slower = adaptive.refused(generation, now)
            self.limiter.adjust(adaptive.rate, burst=1)
            if slower:
                self.log.warning(
                    "%s answered 429: slowing down to %.2f requests a second",
                    self.api_name,
                    adaptive.rate,
                )
        elif status_code < 400 and adaptive.accepted(now):
            self.limiter.adjust(adaptive.rate)

    def __enter__(self) -> ResilientClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(self, path: str) -> str:
        """The absolute URL of ``path``; an absolute link must stay on the configured origin
        (scheme, host and port), or it is refused before any credential is sent."""
        url = urljoin(self.base_url, path if "://" in path else path.lstrip("/"))
        if origin(url) != self.origin:
            scheme, host, port = origin(url)
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
        waited = self.limiter.acquire()
        generation = self.adaptive.generation if self.adaptive else 0
        self.stats.add(requests=1, throttled=int(waited > 0))
        where = f"{self.api_name} {method} {self.redact(httpx.URL(url).path)}"
        try:
            response = self._exchange(method, url, where, **kwargs)
        except httpx.TimeoutException:
            raise RetryableHttpError(f"{where}: timed out") from None
        except httpx.TransportError as exc:
            raise RetryableHttpError(f"{where}: connection failed ({type(exc).__name__})") from None
        self._adapt(response.status_code, generation)
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


class HttpApiResource(ConfigurableResource):
    """Settings every HTTP API resource shares; subclasses add credentials and endpoints."""

    base_url: str
    timeout_seconds: float = 30.0
    max_attempts: int = 6
    backoff_initial_seconds: float = 0.5
    retry_after_cap_seconds: float = 120.0
    #: Ceiling of the client's adaptive rate (None: no limit and no adaptation).
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
        scheme, host, port = origin(self.base_url.rstrip("/") + "/")
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
