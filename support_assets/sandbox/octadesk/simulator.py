"""The simulated Octadesk's HTTP routes and admin endpoints.

Every public route is behind a rate limit (``octadesk_rate_limit_per_second``, none by default;
``PUT /_admin/octadesk/rate_limit {"per_second": N}`` changes it live and ``GET`` answers its
record): above it, 429 with ``Retry-After``.
"""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from support_assets.core.sandbox_defaults import SANDBOX_OCTADESK_API_KEY
from support_assets.sandbox.base import (
    FastJSONResponse,
    SandboxConfig,
    Simulator,
    error,
    json_body,
    read_counts,
    refuse_unknown,
)
from support_assets.sandbox.faults import DUPLICATE, MUTATE
from support_assets.sandbox.listing import QueryError, parse_int_param, parse_list_query
from support_assets.sandbox.octadesk.divergent import (
    DIVERGENT_KNOBS,
    KNOBS,
    diverge_chat,
    diverge_ticket,
)
from support_assets.sandbox.octadesk.model import (
    CHAT_PROPERTIES,
    TICKET_PROPERTIES,
    Entry,
    parse_filter_value,
)
from support_assets.sandbox.octadesk.world import OctadeskWorld
from support_assets.sandbox.rate_limit import ApiRateLimit, RateLimitedApi


def _check_auth(request: Request) -> Response | None:
    """401 unless the request carries the sandbox key and an agent e-mail."""
    if request.headers.get("x-api-key") != SANDBOX_OCTADESK_API_KEY:
        return error(401, "Invalid or missing X-API-KEY")
    if not request.headers.get("octa-agent-email", "").strip():
        return error(401, "Missing octa-agent-email header")
    return None


def _page_headers(total: int, page: int, limit: int) -> dict[str, str]:
    pages = math.ceil(total / limit)
    headers = {"X-Total-Items": str(total), "X-Total-Pages": str(pages)}
    if page < pages:
        headers["X-Next-Page"] = str(page + 1)
    return headers


class OctadeskSimulator(RateLimitedApi, Simulator):
    """Routes of the simulated Octadesk API and its admin endpoints."""

    name = "octadesk"
    prefix = "/octadesk"

    def reset(self, config: SandboxConfig) -> None:
        self.world = OctadeskWorld(config)
        self.overrides: dict[str, bool] = {}
        self.limit = ApiRateLimit(config.octadesk_rate_limit_per_second)

    def api_error(
        self, status: int, message: str, headers: dict[str, str] | None = None
    ) -> Response:
        answer = error(status, message)
        answer.headers.update(headers or {})
        return answer

    def rate_limited(self, retry_after: int) -> Response:
        return self.api_error(
            429, "Too many requests; slow down.", {"Retry-After": str(retry_after)}
        )

    def behaves(self, knob: str) -> bool:
        """Whether one divergence is on: its admin override, else the divergent mode (which
        turns on every knob but ``ignore_sort``)."""
        if knob in self.overrides:
            return self.overrides[knob]
        return self.divergent and knob in DIVERGENT_KNOBS

    def _answer(
        self, body: list[dict[str, Any]], headers: dict[str, str], page: int, limit: int
    ) -> Response:
        """A list as documented (bare, totals in headers) or as a divergent tenant answers it
        (in a ``data`` envelope, without the total headers)."""
        if self.behaves("omit_totals"):
            headers = {}
        if self.behaves("envelope"):
            return FastJSONResponse({"data": body, "page": page, "limit": limit}, headers=headers)
        return FastJSONResponse(body, headers=headers)

    def truth(self) -> dict[str, Any]:
        return self.world.truth()

    def routes(self) -> list[Route]:
        endpoints = {
            "/auth/check": self.auth_check,
            "/tickets": self.list_tickets,
            "/tickets/{number}": self.get_ticket,
            "/chat": self.list_chats,
            "/chat/{id}": self.get_chat,
            "/chat/{id}/events": self.chat_events,
            "/chat/{id}/messages": self.chat_messages,
        }
        return [
            Route(path, self.limited(handler), methods=["GET"], name=handler.__name__)
            for path, handler in endpoints.items()
        ]

    def admin_routes(self) -> list[Route]:
        return [
            Route("/advance", self.admin_advance, methods=["POST"]),
            Route("/truth", self.admin_truth, methods=["GET"]),
            Route("/behaviour", self.admin_behaviour, methods=["GET", "PUT"]),
            self.rate_limit_route(),
        ]

    # ----- public endpoints ----------------------------------------------------------------

    async def auth_check(self, request: Request) -> Response:
        return _check_auth(request) or JSONResponse({"ok": True})

    async def list_tickets(self, request: Request) -> Response:
        return self._list(request, "tickets")

    async def list_chats(self, request: Request) -> Response:
        return self._list(request, "chats")

    def _list(self, request: Request, kind: str) -> Response:
        denied = _check_auth(request)
        if denied:
            return denied
        properties = TICKET_PROPERTIES if kind == "tickets" else CHAT_PROPERTIES
        try:
            query = parse_list_query(
                request.query_params.multi_items(), properties, parse_filter_value
            )
        except QueryError as exc:
            return error(400, str(exc))
        world = self.world
        with world.lock:
            collection = world.tickets if kind == "tickets" else world.chats
            materialise = world.ticket_item if kind == "tickets" else world.chat_item
            # A divergent tenant ignores filters and keeps the sort; `ignore_sort` lists in the
            # server's own order (by number, ascending) whatever was asked.
            filters = () if self.behaves("ignore_filters") else query.filters
            if self.behaves("ignore_sort"):
                args: tuple = (filters, "number", False)
            else:
                args = (filters, query.sort_property, query.descending)
            total, items = collection.select(*args, query.offset, query.limit)
            if self.behaves("cap_pages"):
                items = items[: max(1, query.limit // 2)]
            body = [materialise(item) for item in items]
            if (
                query.page > 1
                and body
                and 0 < query.offset <= total
                and self.context.faults.take(DUPLICATE)
            ):
                _, previous = collection.select(*args, query.offset - 1, 1)
                body.insert(0, materialise(previous[0]))
            headers = _page_headers(total, query.page, query.limit)
            if query.page == 1 and total > query.limit and self.context.faults.enabled(MUTATE):
                target = self._mutation_target(kind, collection, args, total)
                if target is not None and self.context.faults.take(MUTATE):
                    world.mutate(kind, target)
        if self.behaves("retype"):
            body = [(diverge_ticket if kind == "tickets" else diverge_chat)(r) for r in body]
        self.context.stats.count_records(kind, len(body))
        return self._answer(body, headers, query.page, query.limit)

    def _mutation_target(self, kind: str, collection: Any, args: tuple, total: int) -> Any:
        """The last valid record of a listing (it sits on the last page)."""
        for offset in range(total - 1, max(total - 10, 0) - 1, -1):
            _, items = collection.select(*args, offset, 1)
            item = items[0]
            if kind == "tickets" and isinstance(item, int) and item in self.world.malformed:
                continue
            return item
        return None

    async def get_ticket(self, request: Request) -> Response:
        denied = _check_auth(request)
        if denied:
            return denied
        try:
            number = int(request.path_params["number"])
        except ValueError:
            return error(404, "Ticket not found")
        with self.world.lock:
            record = self.world.ticket_by_number(number)
        if record is None:
            return error(404, "Ticket not found")
        self.context.stats.count_records("tickets", 1)
        return JSONResponse(record)

    def _chat(self, request: Request) -> Entry | Response:
        denied = _check_auth(request)
        if denied:
            return denied
        with self.world.lock:
            entry = self.world.chat_by_id(request.path_params["id"])
        if entry is None:
            return error(404, "Chat not found")
        return entry

    async def get_chat(self, request: Request) -> Response:
        entry = self._chat(request)
        if isinstance(entry, Response):
            return entry
        self.context.stats.count_records("chats", 1)
        return JSONResponse(entry.record)

    async def chat_events(self, request: Request) -> Response:
        entry = self._chat(request)
        if isinstance(entry, Response):
            return entry
        self.context.stats.count_records("chat_events", len(entry.events))
        if self.behaves("envelope"):
            return JSONResponse({"data": entry.events})
        return JSONResponse(entry.events)

    async def chat_messages(self, request: Request) -> Response:
        entry = self._chat(request)
        if isinstance(entry, Response):
            return entry
        params = request.query_params
        try:
            page = parse_int_param(params, "page", 1, 1, 10**9)
            limit = parse_int_param(params, "limit", 100, 1, 100)
        except QueryError as exc:
            return error(400, str(exc))
        with self.world.lock:
            messages = self.world.messages(entry)
        offset = (page - 1) * limit
        body = messages[offset : offset + limit]
        if page > 1 and body and self.context.faults.take(DUPLICATE):
            body.insert(0, messages[offset - 1])
        self.context.stats.count_records("messages", len(body))
        return self._answer(body, _page_headers(len(messages), page, limit), page, limit)

    # ----- admin endpoints -----------------------------------------------------------------

    async def admin_advance(self, request: Request) -> Response:
        names = ("update", "create", "chats_update", "chats_create")
        try:
            counts = read_counts(await json_body(request), names)
        except ValueError as exc:
            return error(400, str(exc))
        return JSONResponse(self.world.advance(**counts))

    async def admin_truth(self, request: Request) -> Response:
        return JSONResponse(self.truth())

    async def admin_behaviour(self, request: Request) -> Response:
        """Each divergence alone: ``{"ignore_filters": true, "ignore_sort": true, ...}``; a
        knob set to null follows the divergent mode again."""
        if request.method == "PUT":
            try:
                body = await json_body(request)
                refuse_unknown(body, KNOBS)
            except ValueError as exc:
                return error(400, str(exc))
            for knob, value in body.items():
                if value is not None and not isinstance(value, bool):
                    return error(400, f"{knob} must be true, false or null")
            for knob, value in body.items():
                if value is None:
                    self.overrides.pop(knob, None)
                else:
                    self.overrides[knob] = value
        return JSONResponse({"divergent": self.divergent, **{k: self.behaves(k) for k in KNOBS}})
