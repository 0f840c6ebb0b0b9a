"""The server-side mechanics the Ploomes and Milvus APIs share, and their admin routes.

A rate limit with ``Retry-After`` (``sandbox.rate_limit``), per-endpoint create counters,
records served, and the test switch that holds a create's answer so a run can be killed right
after it. `CrmApiSimulator` guards every public route with the rate limit and the API key, and
serves the admin routes ``truth``, ``stats``, ``hold`` and ``rate_limit``; a subclass says how
its API words errors.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from support_assets.sandbox.base import Simulator, json_body, refuse_unknown
from support_assets.sandbox.rate_limit import ApiRateLimit, Handler, RateLimitedApi


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


class CrmApiSimulator(RateLimitedApi, Simulator):
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

    def truth(self) -> dict[str, Any]:
        with self.world.lock:
            return self.world.truth()

    def guard(self, handler: Handler) -> Handler:
        """`handler` behind the rate limit (429) and the API key (401), in that order."""

        async def authorised(request: Request) -> Response:
            if request.headers.get(self.AUTH_HEADER) != self.AUTH_VALUE:
                return self.api_error(401, self.UNAUTHORIZED)
            return await handler(request)

        return self.limited(authorised)

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
            self.rate_limit_route(),
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
