"""The server-side mechanics the Ploomes and Milvus APIs share, and their admin routes.

A rate limit with ``Retry-After``, per-endpoint create counters, records served, and the test
switch that holds a create's answer so a run can be killed right after it. `CrmApiSimulator`
guards every public route with the rate limit and the API key, and serves the admin routes
``truth``, ``stats``, ``hold`` and ``rate_limit``; a subclass says how its API words errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from abc import abstractmethod
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from support_assets.sandbox.base import Simulator, json_body, refuse_unknown

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


@dataclass
class CreateHold:
    """The test switch "crash after create": the ``after``-th create on ``endpoint`` (counted
    from when it is armed) is applied, and then its answer is held for up to ``seconds`` or
    until released, so a test can kill the caller right after the create and before it could
    record the result."""

    endpoint: str | None = None
    after: int = 1
    seconds: float = 120.0
    seen: int = 0
    held: int = 0
    released: int = 0
    _event: asyncio.Event | None = field(default=None, repr=False)

    def arm(self, endpoint: str, after: int, seconds: float) -> None:
        self.release()
        self.endpoint, self.after, self.seconds, self.seen = endpoint, after, seconds, 0

    def release(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None
            self.released += 1
        self.endpoint = None

    async def after_create(self, endpoint: str) -> None:
        if self.endpoint != endpoint:
            return
        self.seen += 1
        if self.seen != self.after:
            return
        self.held += 1
        event = self._event = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), self.seconds)

    def as_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "after": self.after,
            "seconds": self.seconds,
            "creates_seen": self.seen,
            "held": self.held,
            "released": self.released,
        }


def parse_hold(body: dict[str, Any], endpoints: tuple[str, ...]) -> tuple[str, int, float]:
    """Validates ``{"endpoint", "after", "seconds"}`` of a hold request (ValueError if bad)."""
    refuse_unknown(body, ("endpoint", "after", "seconds"))
    endpoint = body.get("endpoint", endpoints[0])
    if endpoint not in endpoints:
        raise ValueError(f"endpoint must be one of {', '.join(endpoints)}")
    after = body.get("after", 1)
    if isinstance(after, bool) or not isinstance(after, int) or after < 1:
        raise ValueError("after must be a positive integer")
    seconds = body.get("seconds", 120)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
        raise ValueError("seconds must be a positive number")
    return endpoint, after, float(seconds)


Handler = Callable[[Request], Awaitable[Response]]


class CrmApiSimulator(Simulator):
    """A CRM API simulator with a rate limit, an API key, create counters and a create hold.

    Subclasses set the key's header and value, the create endpoints a hold may name, and
    `api_error` (the API's error body); `world` must have a `lock` and a `truth()`.
    """

    #: Endpoints whose creates are counted and may be held; the first is the hold's default.
    CREATE_ENDPOINTS: tuple[str, ...] = ()
    #: Request header carrying the API key, the key itself, and the 401 message.
    AUTH_HEADER = ""
    AUTH_VALUE = ""
    UNAUTHORIZED = ""
    world: Any

    def reset_mechanics(self, per_second: int) -> None:
        """Release a held create and start the limit and the counters afresh."""
        hold = getattr(self, "hold", None)
        if hold is not None:
            hold.release()
        self.limit = ApiRateLimit(per_second)
        self.hold = CreateHold()
        self.creates: dict[str, int] = {}
        self.records_served: dict[str, int] = {}

    @abstractmethod
    def api_error(
        self, status: int, message: str, headers: dict[str, str] | None = None
    ) -> Response:
        """An error as this API words it."""

    @abstractmethod
    def rate_limited(self, retry_after: int) -> Response:
        """The 429 answer to a request over the limit."""

    def truth(self) -> dict[str, Any]:
        with self.world.lock:
            return self.world.truth()

    def guard(self, handler: Handler) -> Handler:
        """`handler` behind the rate limit (429) and the API key (401), in that order."""

        async def guarded(request: Request) -> Response:
            retry_after = self.limit.admit()
            if retry_after is not None:
                return self.rate_limited(retry_after)
            if request.headers.get(self.AUTH_HEADER) != self.AUTH_VALUE:
                return self.api_error(401, self.UNAUTHORIZED)
            return await handler(request)

        return guarded

    async def count_create(self, endpoint: str) -> None:
        """Count a create on `endpoint`, then hold its answer if the hold says so."""
        self.creates[endpoint] = self.creates.get(endpoint, 0) + 1
        await self.hold.after_create(endpoint)

    def count_served(self, kind: str, n: int) -> None:
        """Count `n` records of `kind` served."""
        self.records_served[kind] = self.records_served.get(kind, 0) + n

    def stats(self) -> dict[str, Any]:
        """Create calls, records served, the rate limit's record and the hold."""
        return {
            "create_calls": dict(self.creates),
            "records_served": dict(self.records_served),
            "rate_limit": self.limit.stats(),
            "hold": self.hold.as_dict(),
        }

    def mechanics_admin_routes(self) -> list[Route]:
        """The admin routes every CRM API has."""
        return [
            Route("/truth", self.admin_truth, methods=["GET"]),
            Route("/stats", self.admin_stats, methods=["GET", "DELETE"]),
            Route("/hold", self.admin_hold, methods=["GET", "PUT", "DELETE"]),
            Route("/rate_limit", self.admin_rate_limit, methods=["GET", "PUT"]),
        ]

    async def admin_truth(self, request: Request) -> Response:
        return JSONResponse(self.truth())

    async def admin_stats(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.creates.clear()
            self.records_served.clear()
            self.limit.configure(self.limit.per_second)
        return JSONResponse(self.stats())

    async def admin_hold(self, request: Request) -> Response:
        if request.method == "PUT":
            try:
                endpoint, after, seconds = parse_hold(
                    await json_body(request), self.CREATE_ENDPOINTS
                )
            except ValueError as exc:
                return self.api_error(400, str(exc))
            self.hold.arm(endpoint, after, seconds)
        elif request.method == "DELETE":
            self.hold.release()
        return JSONResponse(self.hold.as_dict())

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
