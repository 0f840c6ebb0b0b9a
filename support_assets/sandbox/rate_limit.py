"""A simulated API's request rate limit (429 with ``Retry-After``) and its admin route.

`ApiRateLimit` is the limit itself; `RateLimitedApi` puts a simulator's public routes behind it
(`limited`) and serves ``GET|PUT /_admin/<name>/rate_limit`` (``{"per_second": N}``, 0 = no
limit), answering the limit's record. The CRM simulators and Octadesk use it.
"""

from __future__ import annotations

import math
import threading
import time
from abc import abstractmethod
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from support_assets.sandbox.base import json_body

Handler = Callable[[Request], Awaitable[Response]]

#: A request this much before the end of a ``Retry-After`` still counts as on time (clocks).
RETRY_AFTER_TOLERANCE_S = 0.05


class ApiRateLimit:
    """A token bucket of ``per_second`` requests a second (bursts up to ``per_second``).

    A refused request gets 429 with ``Retry-After`` in whole seconds; a request that arrives
    before that time is up is refused again and counted as ``requests_before_retry_after``.
    Every request (refused ones too) is counted in the second it arrived, so the stats show
    how long a client kept above the limit. ``per_second=0`` means no limit.
    """

    def __init__(self, per_second: int, clock: Any = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.configure(per_second)

    def configure(self, per_second: int) -> None:
        with self._lock:
            self.per_second = per_second
            self._tokens = float(max(per_second, 1))
            self._start = self._last = self._clock()
            self._blocked_until = 0.0
            self.accepted = 0
            self.refused = 0
            self.early = 0
            self._seconds: Counter[int] = Counter()

    def admit(self) -> int | None:
        """None when the request may go on; otherwise the ``Retry-After`` seconds to answer."""
        with self._lock:
            now = self._clock()
            self._seconds[int(now - self._start)] += 1
            if not self.per_second:
                self.accepted += 1
                return None
            if now < self._blocked_until - RETRY_AFTER_TOLERANCE_S:
                self.early += 1
                self.refused += 1
                return max(1, math.ceil(self._blocked_until - now))
            self._tokens = min(
                float(self.per_second), self._tokens + (now - self._last) * self.per_second
            )
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                self.accepted += 1
                return None
            retry_after = max(1, math.ceil((1 - self._tokens) / self.per_second))
            self._blocked_until = now + retry_after
            self.refused += 1
            return retry_after

    def stats(self) -> dict[str, Any]:
        with self._lock:
            over = sorted(
                s for s, n in self._seconds.items() if self.per_second and n > self.per_second
            )
            longest = streak = 0
            previous = None
            for second in over:
                streak = streak + 1 if previous is not None and second == previous + 1 else 1
                longest = max(longest, streak)
                previous = second
            return {
                "limit_per_second": self.per_second,
                "accepted": self.accepted,
                "rate_limited": self.refused,
                "requests_before_retry_after": self.early,
                "busiest_second": max(self._seconds.values(), default=0),
                "seconds_over_limit": len(over),
                "longest_run_of_seconds_over_limit": longest,
            }


class RateLimitedApi:
    """A simulator whose public routes may be rate limited: set `limit` in ``reset``, wrap the
    routes with `limited`, add `rate_limit_route()` to the admin routes."""

    limit: ApiRateLimit

    @abstractmethod
    def api_error(
        self, status: int, message: str, headers: dict[str, str] | None = None
    ) -> Response:
        """An error as this API words it."""

    @abstractmethod
    def rate_limited(self, retry_after: int) -> Response:
        """The 429 answer to a request over the limit."""

    def limited(self, handler: Handler) -> Handler:
        """`handler` behind the rate limit: over it, 429 with ``Retry-After``."""

        async def admitted(request: Request) -> Response:
            retry_after = self.limit.admit()
            if retry_after is not None:
                return self.rate_limited(retry_after)
            return await handler(request)

        return admitted

    def rate_limit_route(self) -> Route:
        return Route("/rate_limit", self.admin_rate_limit, methods=["GET", "PUT"])

    async def admin_rate_limit(self, request: Request) -> Response:
        if request.method == "PUT":
            try:
                body = await json_body(request)
            except ValueError as exc:
                return self.api_error(400, str(exc))
            value = body.get("per_second")
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                return self.api_error(400, "per_second must be a non-negative integer")
            self.limit.configure(value)
        return JSONResponse(self.limit.stats())
