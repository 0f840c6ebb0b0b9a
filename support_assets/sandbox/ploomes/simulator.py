"""The simulated Ploomes's HTTP routes and admin endpoints."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from support_assets.core.sandbox_defaults import SANDBOX_PLOOMES_USER_KEY
from support_assets.sandbox import crm_world as crm
from support_assets.sandbox.base import SandboxConfig, json_body, read_counts
from support_assets.sandbox.crm_api import CrmApiSimulator
from support_assets.sandbox.ploomes.odata import (
    OR_OR_ANY,
    FilterParser,
    ODataError,
    int_param,
    next_link,
    odata_error,
    order_rows,
    parse_expand,
    parse_select,
    shape_record,
)
from support_assets.sandbox.ploomes.schema import ENTITY_SETS, MAX_TOP, TAG_ENTITY_TASKS
from support_assets.sandbox.ploomes.world import PloomesWorld


class PloomesSimulator(CrmApiSimulator):
    """Routes of the simulated Ploomes API and its admin endpoints."""

    name = "ploomes"
    prefix = "/ploomes"
    CREATE_ENDPOINTS = ("Contacts",)
    AUTH_HEADER = "user-key"
    AUTH_VALUE = SANDBOX_PLOOMES_USER_KEY
    UNAUTHORIZED = "Invalid or missing User-Key"

    def reset(self, config: SandboxConfig) -> None:
        self.reset_mechanics(config.ploomes_rate_limit_per_second)
        self.world = PloomesWorld(config)

    def api_error(
        self, status: int, message: str, headers: dict[str, str] | None = None
    ) -> Response:
        return odata_error(status, message, headers)

    def rate_limited(self, retry_after: int) -> Response:
        return odata_error(
            429, "Too many requests; slow down.", headers={"Retry-After": str(retry_after)}
        )

    def _answer(self, record: dict[str, Any]) -> dict[str, Any]:
        """A record as the API answers it: documented, or as a divergent tenant does."""
        if not self.divergent:
            return record
        answered = dict(record)
        for name in ("CPF", "CNPJ"):
            answered[name] = crm.document_as_number(record.get(name))
        if "Id" in answered and answered["Id"] is not None:
            answered["Id"] = str(answered["Id"])
        return answered

    def _ignores(self, text: str) -> bool:
        """Whether a divergent tenant ignores this ``$filter`` (an ``or`` or ``any`` clause)."""
        return self.divergent and bool(OR_OR_ANY.search(text))

    def routes(self) -> list[Route]:
        return [
            Route("/Contacts", self.guard(self.list_or_create_contacts), methods=["GET", "POST"]),
            Route("/Tasks", self.guard(self.list_entity("Tasks")), methods=["GET"]),
            Route(
                "/InteractionRecords",
                self.guard(self.list_entity("InteractionRecords")),
                methods=["GET"],
            ),
            Route("/Users", self.guard(self.list_entity("Users")), methods=["GET"]),
            Route("/Tags", self.guard(self.list_entity("Tags")), methods=["GET"]),
        ]

    def admin_routes(self) -> list[Route]:
        return [
            *self.mechanics_admin_routes(),
            Route("/advance", self.admin_advance, methods=["POST"]),
            Route("/tags", self.admin_tags, methods=["PUT"]),
        ]

    # ----- public endpoints --------------------------------------------------------------

    async def list_or_create_contacts(self, request: Request) -> Response:
        if request.method == "POST":
            return await self.create_contact(request)
        return self._list(request, "Contacts")

    def list_entity(self, name: str) -> Callable[[Request], Any]:
        async def handler(request: Request) -> Response:
            return self._list(request, name)

        return handler

    def _list(self, request: Request, name: str) -> Response:
        entity = ENTITY_SETS[name]
        params = request.query_params
        try:
            top = int_param(params.get("$top"), MAX_TOP, "$top")
            skip = int_param(params.get("$skip"), 0, "$skip")
            top = min(max(top, 0), MAX_TOP)
            expands = parse_expand(params.get("$expand"), entity)
            select = parse_select(params.get("$select"), entity)
            with self.world.lock:
                kind, records = self.world.collection(name)
                value_of = self.world.value_getter(kind, entity)
                rows = list(records.values())
                if params.get("$filter") and not self._ignores(params["$filter"]):
                    predicate = FilterParser(params["$filter"], entity, value_of).parse()
                    rows = [r for r in rows if predicate(r)]
                rows = order_rows(rows, params.get("$orderby"), entity, value_of)
                page = [
                    self._answer(shape_record(r, entity, expands, select))
                    for r in rows[skip : skip + top]
                ]
                total = len(rows)
        except ODataError as exc:
            return odata_error(400, str(exc))
        body: dict[str, Any] = {
            "@odata.context": f"{str(request.base_url).rstrip('/')}{self.prefix}/$metadata#{name}",
            "value": page,
        }
        if (params.get("$count") or "").lower() == "true" and not self.divergent:
            body["@odata.count"] = total
        if skip + top < total and top > 0:
            body["@odata.nextLink"] = next_link(request, skip + top, top)
        self.count_served(name, len(page))
        return JSONResponse(body)

    async def create_contact(self, request: Request) -> Response:
        try:
            body = await json_body(request)
            with self.world.lock:
                record = copy.deepcopy(self.world.create_contact(body))
        except ODataError as exc:
            return odata_error(400, str(exc))
        except ValueError as exc:
            return odata_error(400, str(exc))
        await self.count_create("Contacts")
        return JSONResponse(
            {
                "@odata.context": f"{str(request.base_url).rstrip('/')}{self.prefix}"
                "/$metadata#Contacts",
                "value": [self._answer(record)],
            }
        )

    # ----- admin endpoints ---------------------------------------------------------------

    async def admin_tags(self, request: Request) -> Response:
        """``{"<tag id>": "new name" | null}``: renames tags, or removes them (null); answers
        the tags as ``Tags`` lists them."""
        try:
            body = await json_body(request)
            changes = {int(k): v for k, v in body.items()}
        except (ValueError, AttributeError) as exc:
            return JSONResponse({"error": f"body must map tag ids to names: {exc}"}, 400)
        with self.world.lock:
            for tag_id, name in changes.items():
                if name is None:
                    self.world.tags.pop(tag_id, None)
                else:
                    default = {"Id": tag_id, "EntityId": TAG_ENTITY_TASKS, "Color": "#1e88e5"}
                    self.world.tags.setdefault(tag_id, default)["Name"] = str(name)
            return JSONResponse([copy.deepcopy(t) for _, t in sorted(self.world.tags.items())])

    async def admin_advance(self, request: Request) -> Response:
        names = ("contacts", "tasks", "interactions", "update_contacts", "minutes")
        try:
            counts = read_counts(await json_body(request), names)
        except ValueError as exc:
            return odata_error(400, str(exc))
        with self.world.lock:
            return JSONResponse(self.world.advance(**counts))
