"""The simulated Milvus's HTTP routes and admin endpoints."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from support_assets.core.sandbox_defaults import SANDBOX_MILVUS_API_TOKEN
from support_assets.sandbox import crm_world as crm
from support_assets.sandbox.base import SandboxConfig, error, json_body, parse_instant_ms
from support_assets.sandbox.crm_api import CrmApiSimulator
from support_assets.sandbox.milvus.world import (
    LISTAGEM_DEFAULT_PAGE,
    MAX_PAGE,
    TICKET_ORDER_FIELDS,
    MilvusWorld,
    served_client,
    served_ticket,
)


def paginate(total: int, page: int, per_page: int) -> dict[str, Any]:
    last = max(1, math.ceil(total / per_page))
    first = (page - 1) * per_page + 1
    return {
        "current_page": str(page),
        "total": total,
        "to": min(total, page * per_page) if first <= total else None,
        "from": first if first <= total else None,
        "last_page": last,
        "per_page": str(per_page),
    }


def int_param(params: Any, name: str, default: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} deve ser um número") from None
    if value < 1:
        raise ValueError(f"{name} deve ser maior que zero")
    return value


class MilvusSimulator(CrmApiSimulator):
    """Routes of the simulated Milvus integration API and its admin endpoints."""

    name = "milvus"
    prefix = "/milvus"
    CREATE_ENDPOINTS = ("cliente/criar", "chamado/criar")
    AUTH_HEADER = "authorization"
    AUTH_VALUE = SANDBOX_MILVUS_API_TOKEN
    UNAUTHORIZED = "Token de autenticação inválido"

    def reset(self, config: SandboxConfig) -> None:
        self.reset_mechanics(config.milvus_rate_limit_per_second)
        self.world = MilvusWorld(config)

    def api_error(
        self, status: int, message: str, headers: dict[str, str] | None = None
    ) -> Response:
        return error(status, message)

    def rate_limited(self, retry_after: int) -> Response:
        return JSONResponse(
            {"status_code": 429, "message": "Limite de requisições excedido"},
            status_code=429,
            headers={"Retry-After": str(retry_after)},
        )

    def _client(self, client: dict[str, Any]) -> dict[str, Any]:
        served = served_client(client)
        if self.divergent:
            served["cnpj_cpf"] = crm.document_as_number(served["cnpj_cpf"])
            served["id"] = str(served["id"])
        return served

    def _ticket(self, ticket: dict[str, Any]) -> dict[str, Any]:
        served = served_ticket(ticket)
        if self.divergent:
            served["id"] = str(served["id"])
        return served

    def _listing(self, total: int, page: int, per_page: int, lista: list[dict]) -> Response:
        if self.divergent:
            return JSONResponse({"lista": lista})
        return JSONResponse({"meta": {"paginate": paginate(total, page, per_page)}, "lista": lista})

    def _new_id(self, value: int) -> Response:
        return JSONResponse(str(value) if self.divergent else value)

    def routes(self) -> list[Route]:
        return [
            Route("/api/cliente/busca", self.guard(self.cliente_busca), methods=["GET"]),
            Route("/api/cliente/criar", self.guard(self.cliente_criar), methods=["POST"]),
            Route("/api/chamado/listagem", self.guard(self.chamado_listagem), methods=["POST"]),
            Route("/api/chamado/criar", self.guard(self.chamado_criar), methods=["POST"]),
        ]

    def admin_routes(self) -> list[Route]:
        return [
            *self.mechanics_admin_routes(),
            Route("/document_length", self.admin_document_length, methods=["GET", "PUT"]),
            Route("/page_cap", self.admin_page_cap, methods=["GET", "PUT"]),
            Route("/tickets", self.admin_tickets, methods=["POST"]),
        ]

    # ----- public endpoints --------------------------------------------------------------

    async def cliente_busca(self, request: Request) -> Response:
        params = request.query_params
        try:
            status = int_param(params, "status", 1)
            if status not in (1, 2, 3):
                raise ValueError("status deve ser 1, 2 ou 3")
            page = int_param(params, "pagina", 1)
            per_page = min(int_param(params, "total_registros", MAX_PAGE), MAX_PAGE)
        except ValueError as exc:
            return error(400, str(exc))
        # A divergent tenant ignores the document filter and answers its listing.
        documento = None if self.divergent else (params.get("documento") or None)
        with self.world.lock:
            found = self.world.search(documento, params.get("nome_fantasia"), status)
            if documento is not None:
                lista = [self._client(c) for c in found]
                self.count_served("clients", len(lista))
                return JSONResponse({"lista": lista})
            start = (page - 1) * per_page
            served = per_page if self.world.page_cap is None else self.world.page_cap
            lista = [self._client(c) for c in found[start : start + min(per_page, served)]]
        self.count_served("clients", len(lista))
        return self._listing(len(found), page, per_page, lista)

    async def cliente_criar(self, request: Request) -> Response:
        return await self._create(request, "cliente/criar", self.world.create_client)

    async def chamado_listagem(self, request: Request) -> Response:
        params = request.query_params
        try:
            page = int_param(params, "pagina", 1)
            per_page = min(int_param(params, "total_registros", LISTAGEM_DEFAULT_PAGE), MAX_PAGE)
            body = await json_body(request)
        except ValueError as exc:
            return error(400, str(exc))
        filters = body.get("filtro_body") or {}
        if not isinstance(filters, dict):
            return error(400, "filtro_body deve ser um objeto")
        order_by = params.get("order_by") or "codigo"
        if order_by not in TICKET_ORDER_FIELDS:
            return error(400, f"order_by inválido: {order_by}")
        descending = (params.get("is_descending") or "true").strip().lower() != "false"
        with self.world.lock:
            rows = self.world.list_tickets(filters, order_by, descending)
            start = (page - 1) * per_page
            lista = [self._ticket(t) for t in rows[start : start + per_page]]
        self.count_served("tickets", len(lista))
        return self._listing(len(rows), page, per_page, lista)

    async def chamado_criar(self, request: Request) -> Response:
        return await self._create(request, "chamado/criar", self.world.create_ticket)

    async def _create(
        self, request: Request, endpoint: str, create: Callable[[dict[str, Any]], int]
    ) -> Response:
        """Create from the JSON body under the world's lock and answer the bare new id (400
        with the reason when the body is refused)."""
        try:
            body = await json_body(request)
            with self.world.lock:
                new_id = create(body)
        except ValueError as exc:
            return error(400, str(exc))
        await self.count_create(endpoint)
        return self._new_id(new_id)

    # ----- admin endpoints ---------------------------------------------------------------

    async def admin_page_cap(self, request: Request) -> Response:
        """``{"records": n}`` serves at most ``n`` clients a page of ``cliente/busca`` while
        ``meta.paginate`` still counts the pages asked for (records in between are never
        served); ``null`` serves whole pages."""
        return await self._world_setting(request, "records", "page_cap")

    async def admin_document_length(self, request: Request) -> Response:
        """``{"length": n}`` cuts the documents of clients created from now on to ``n``
        characters, as a tenant with a CPF-sized column does; ``null`` stores them whole."""
        return await self._world_setting(request, "length", "document_length")

    async def _world_setting(self, request: Request, field: str, attribute: str) -> Response:
        """Read, or on PUT set from ``{field: n | null}``, the world's optional positive
        integer `attribute`."""
        if request.method == "PUT":
            try:
                body = await json_body(request)
            except ValueError as exc:
                return error(400, str(exc))
            value = body.get(field)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                return error(400, f"{field} must be a positive integer or null")
            with self.world.lock:
                setattr(self.world, attribute, value)
        return JSONResponse({field: getattr(self.world, attribute)})

    async def admin_tickets(self, request: Request) -> Response:
        """``{"tickets": [{"token", "subject", "description", "created_at"}]}``: tickets opened
        in the past by another integration (``created_at`` an ISO-8601 instant); answers ids."""
        try:
            body = await json_body(request)
            tickets = body.get("tickets")
            if not isinstance(tickets, list):
                raise ValueError("tickets must be a list")
            with self.world.lock:
                ids = []
                for item in tickets:
                    client = self.world.by_token.get(item.get("token"))
                    if client is None:
                        raise ValueError(f"no client with token {item.get('token')!r}")
                    ticket = self.world._add_ticket(
                        client,
                        subject=str(item["subject"]),
                        description=str(item.get("description") or item["subject"]),
                        technician=None,
                        created_ms=parse_instant_ms(str(item["created_at"])),
                    )
                    ids.append(ticket["id"])
        except (ValueError, KeyError, AttributeError) as exc:
            return error(400, str(exc))
        return JSONResponse({"ids": ids})
