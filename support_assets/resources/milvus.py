"""Milvus: the helpdesk's integration API (clients and tickets).

Every call carries ``Authorization: <token>``. Facts that shape this client:

* listings return at most 1000 records a request; the client reads every page until
  ``meta.paginate.last_page`` (a number or a string) — reading only the first 1000 clients is
  how the old script came to duplicate them;
* ``cliente/busca`` lists active clients only unless ``status=3``; blocked clients exist too,
  so every listing and lookup asks for both;
* a lookup by ``documento`` matches the stored ``cnpj_cpf``, which lost its leading zeros when
  the client was created from a JSON number: the lookup tries the document with and without
  them (and formatted);
* ``cliente/criar`` and ``chamado/criar`` answer a bare integer; a ticket is created for the
  client's **token**, not its id; creates are sent once (``send_create``), never blindly again;
* the rate limit is not documented: the default stays modest, halves on 429
  (``AdaptiveRate``) and honours ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import Field

from support_assets.identity import Document
from support_assets.resources.crm_http import AdaptiveRateResource, send_create

MILVUS_API_URL = "https://apiintegracao.milvus.com.br/api"
MAX_PAGE = 1000
#: ``cliente/busca``'s status filter: 1 active (its default), 2 blocked, 3 both.
ALL_CLIENTS = 3


def _bare_integer(body: Any, what: str) -> int:
    if isinstance(body, bool):
        raise ValueError(f"Milvus answered {body!r} to {what}")
    if isinstance(body, int):
        return body
    if isinstance(body, str) and body.strip().isdigit():
        return int(body)
    if isinstance(body, dict):
        for key in ("id", "codigo"):
            if isinstance(body.get(key), int):
                return body[key]
    raise ValueError(f"Milvus answered an unexpected body to {what}: {str(body)[:200]}")


def document_for_milvus(document: Document) -> int | str:
    """``cliente_documento`` as the API documents it: a JSON number; the alphanumeric CNPJ
    cannot be one, so it goes as text (how Milvus takes it is not documented)."""
    return int(document.number) if document.number.isdigit() else document.number


class MilvusResource(AdaptiveRateResource):
    """The Milvus integration API of one tenant (``https://apiintegracao.milvus.com.br/api``)."""

    api_token: str = Field(description="Integration token sent as Authorization; use EnvVar.")
    page_size: int = Field(default=MAX_PAGE, ge=1, le=MAX_PAGE, description="total_registros.")
    rate_limit_per_second: float | None = 3.0
    max_concurrency: int = 1

    def _api_name(self) -> str:
        return "milvus"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": self.api_token, "Accept": "application/json"}

    def _secrets(self) -> list[str]:
        return [self.api_token]

    def _pages(
        self, method: str, path: str, params: dict[str, Any], json: Any = None
    ) -> Iterator[list[dict[str, Any]]]:
        adaptive = self.adaptive
        for page in self.get_client().paginate_numbered(method, path, params, json=json):
            adaptive.observe()
            yield page

    # ----- clients -----------------------------------------------------------------------

    def iter_clients(self) -> Iterator[list[dict[str, Any]]]:
        """Every client, active and blocked, every page."""
        yield from self._pages(
            "GET", "cliente/busca", {"status": ALL_CLIENTS, "total_registros": self.page_size}
        )

    def find_clients_by_document(self, document: Document) -> list[dict[str, Any]]:
        """Clients whose document is this one, however Milvus stored it (zeros, punctuation)."""
        variants = [document.number]
        if document.number.isdigit() and document.number.startswith("0"):
            variants.append(document.number.lstrip("0"))
        found: dict[Any, dict[str, Any]] = {}
        client = self.get_client()
        for variant in variants:
            body = client.get(
                "cliente/busca", params={"documento": variant, "status": ALL_CLIENTS}
            ).json()
            self.adaptive.observe()
            for record in body.get("lista") or []:
                found[record.get("id")] = record
        return sorted(found.values(), key=lambda r: (r.get("id") is None, r.get("id")))

    def create_client(self, payload: dict[str, Any]) -> int:
        """Creates a client (one POST; 429s retried); answers its numeric id."""
        response = send_create(self.get_client(), "cliente/criar", payload)
        self.adaptive.observe()
        return _bare_integer(response.json(), "cliente/criar")

    # ----- tickets -----------------------------------------------------------------------

    def iter_tickets(self, filters: dict[str, Any] | None = None) -> Iterator[list[dict]]:
        """Tickets matching ``filtro_body`` filters, oldest code first, every page."""
        params = {
            "total_registros": self.page_size,
            "order_by": "codigo",
            "is_descending": "false",
        }
        yield from self._pages(
            "POST", "chamado/listagem", params, json={"filtro_body": dict(filters or {})}
        )

    def find_tickets(self, client_token: str, subject_contains: str) -> list[dict[str, Any]]:
        """The client's tickets whose subject contains the text (the sync's marker)."""
        filters = {"cliente_token": client_token, "assunto": subject_contains}
        return [t for page in self.iter_tickets(filters) for t in page]

    def create_ticket(self, payload: dict[str, Any]) -> int:
        """Opens a ticket (``cliente_id`` must be the client's token); answers its id."""
        response = send_create(self.get_client(), "chamado/criar", payload)
        self.adaptive.observe()
        return _bare_integer(response.json(), "chamado/criar")
