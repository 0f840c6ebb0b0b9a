"""Milvus: the helpdesk's integration API (clients and tickets).

Every call carries ``Authorization: <token>``. Facts that shape this client:

* listings return at most 1000 records a request; the client reads every page until
  ``meta.paginate.last_page`` (a number or a string), or, when a tenant sends no ``meta``,
  until a page brings nothing new — reading only the first 1000 clients is how the old script
  came to duplicate them; ``meta.paginate.total`` is reported to a ``SourceTotal``;
* every answer is parsed as the one shape declared for it (a list under ``lista``); anything
  else fails naming the keys and types seen. Ids may come as numbers or as text;
* ``cliente/busca`` lists active clients only unless ``status=3``; blocked clients exist too,
  so every listing and lookup asks for both;
* a lookup by ``documento`` matches the stored ``cnpj_cpf``, which lost its leading zeros when
  the client was created from a JSON number: the lookup tries the document with and without
  them, and keeps only the clients whose ``cnpj_cpf`` normalises to the document searched; a
  tenant that ignores the filter (unrelated clients, none matching) is read in full instead;
* ``cliente_documento`` goes as zero-padded text (``document_as="string"``); the API documents
  a JSON number, which loses a leading zero, so ``"number"`` is a setting
  (``MILVUS_DOCUMENT_AS``) for a tenant that refuses text, never a silent default;
* ``cliente/criar`` and ``chamado/criar`` answer a bare integer; a ticket is created for the
  client's **token**, not its id; creates are sent once (``send_create``), never blindly again;
* the rate limit is not documented: the default stays modest, halves on 429
  (``core.adaptive_rate``) and honours ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Literal

from pydantic import Field

from support_assets.core.identity import Document, document_or_reason
from support_assets.core.shapes import MILVUS_LIST, TotalShortfall
from support_assets.sources.crm.http import (
    CrmApiResource,
    SourceTotal,
    objects,
    send_create,
    shape_error,
)

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
    raise shape_error(f"Milvus {what}", body, "an id (a number, or digits as text)")


def document_for_milvus(document: Document, document_as: str = "string") -> int | str:
    """``cliente_documento``: zero-padded text by default; a JSON number (as the API documents
    it, losing leading zeros) only when ``document_as="number"``. The alphanumeric CNPJ cannot be
    a number, so it always goes as text."""
    if document_as == "number" and document.number.isdigit():
        return int(document.number)
    return document.number


def milvus_client_document(record: Mapping[str, Any]) -> tuple[Document | None, str]:
    """A client's document from ``cnpj_cpf`` (text or a JSON number), ``is_fisica`` breaking a
    tie, or why not."""
    is_fisica = record.get("is_fisica")
    hint = None if is_fisica is None else ("cpf" if is_fisica else "cnpj")
    return document_or_reason(record.get("cnpj_cpf"), hint)


def same_id(a: Any, b: Any) -> bool:
    """Ids compared as Milvus sends them: a number or its digits as text."""
    return a is not None and b is not None and str(a).strip() == str(b).strip()


class MilvusResource(CrmApiResource):
    """The Milvus integration API of one tenant (``https://apiintegracao.milvus.com.br/api``)."""

    api_token: str = Field(description="Integration token sent as Authorization; use EnvVar.")
    page_size: int = Field(default=MAX_PAGE, ge=1, le=MAX_PAGE, description="total_registros.")
    rate_limit_per_second: float | None = 3.0
    max_concurrency: int = 1
    document_as: Literal["string", "number"] = Field(
        default="string",
        description="cliente_documento as zero-padded text, or as a JSON number (zeros lost).",
    )

    def _api_name(self) -> str:
        return "milvus"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": self.api_token, "Accept": "application/json"}

    def _secrets(self) -> list[str]:
        return [self.api_token]

    def _pages(
        self,
        method: str,
        path: str,
        params: dict[str, Any],
        json: Any = None,
        totals: SourceTotal | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Every page, to ``meta.paginate.last_page``; without it, until a page adds nothing."""
        client = self.get_client()
        source = f"Milvus {path}"
        seen: set[str] = set()
        page = 1
        while True:
            body = client.request(method, path, params={**params, "pagina": page}, json=json)
            body = body.json()
            records = objects(MILVUS_LIST.records(body), source)
            paginate = _paginate(body, source)
            if totals is not None:
                totals.page(paginate.get("total"), records, "id")
            ids = {str(r.get("id")) for r in records}
            new = ids - seen
            seen |= ids
            last = paginate.get("last_page")
            last_page = None if last is None else _page_number(last, source)
            per_page = paginate.get("per_page")
            if last_page is not None and page < last_page and per_page is not None:
                # A page short of what the tenant says a page holds, before the last one:
                # the records in between are never served. Fail before anything is written.
                if len(records) < _page_number(per_page, source):
                    raise TotalShortfall(
                        f"{source}: page {page} of {last_page} brought {len(records)} records "
                        f"where a page holds {per_page}; the ones in between are never served"
                    )
            yield records
            if last_page is not None:
                if page >= last_page:
                    return
            elif not records or not new:
                return
            page += 1

    # ----- clients -----------------------------------------------------------------------

    def iter_clients(self, totals: SourceTotal | None = None) -> Iterator[list[dict[str, Any]]]:
        """Every client, active and blocked, every page."""
        yield from self._pages(
            "GET",
            "cliente/busca",
            {"status": ALL_CLIENTS, "total_registros": self.page_size},
            totals=totals,
        )

    def find_clients_by_document(self, document: Document) -> list[dict[str, Any]]:
        """Clients whose document is this one, however Milvus stored it (zeros, punctuation)."""
        variants = [document.number]
        if document.number.isdigit() and document.number.startswith("0"):
            variants.append(document.number.lstrip("0"))
        found: dict[str, dict[str, Any]] = {}
        unrelated = 0
        client = self.get_client()
        for variant in variants:
            body = client.get(
                "cliente/busca", params={"documento": variant, "status": ALL_CLIENTS}
            ).json()
            for record in objects(MILVUS_LIST.records(body), "Milvus cliente/busca"):
                stored, _ = milvus_client_document(record)
                if stored is not None and stored.number == document.number:
                    found[str(record.get("id"))] = record
                else:
                    unrelated += 1
        if unrelated and not found:
            # The tenant ignored the filter: only the full listing can tell it is not there.
            self.lookup_stats["full_listings"] += 1
            for page in self.iter_clients():
                for record in page:
                    stored, _ = milvus_client_document(record)
                    if stored is not None and stored.number == document.number:
                        found[str(record.get("id"))] = record
        self.lookup_stats["lookups"] += 1
        self.lookup_stats["unrelated_results"] += unrelated
        return [found[key] for key in sorted(found, key=lambda k: (len(k), k))]

    def create_client(self, payload: dict[str, Any]) -> int:
        """Creates a client (one POST; 429s retried); answers its numeric id."""
        response = send_create(self.get_client(), "cliente/criar", payload)
        return _bare_integer(response.json(), "cliente/criar")

    # ----- tickets -----------------------------------------------------------------------

    def iter_tickets(
        self, filters: dict[str, Any] | None = None, totals: SourceTotal | None = None
    ) -> Iterator[list[dict]]:
        """Tickets matching ``filtro_body`` filters, oldest code first, every page."""
        params = {
            "total_registros": self.page_size,
            "order_by": "codigo",
            "is_descending": "false",
        }
        yield from self._pages(
            "POST",
            "chamado/listagem",
            params,
            json={"filtro_body": dict(filters or {})},
            totals=totals,
        )

    def find_client_by_id(self, document: Document, client_id: Any) -> dict[str, Any] | None:
        """The client ``client_id`` as a lookup by ``document`` answers it (a read-back after a
        create), or None when Milvus does not find it by the document it was given."""
        return next(
            (c for c in self.find_clients_by_document(document) if same_id(c.get("id"), client_id)),
            None,
        )

    def find_tickets(self, client_token: str, subject_contains: str) -> list[dict[str, Any]]:
        """The client's tickets whose subject contains the text (the sync's marker)."""
        filters = {"cliente_token": client_token, "assunto": subject_contains}
        return [t for page in self.iter_tickets(filters) for t in page]

    def create_ticket(self, payload: dict[str, Any]) -> int:
        """Opens a ticket (``cliente_id`` must be the client's token); answers its id."""
        response = send_create(self.get_client(), "chamado/criar", payload)
        return _bare_integer(response.json(), "chamado/criar")


def _paginate(body: dict[str, Any], source: str) -> dict[str, Any]:
    """``meta.paginate`` of a listing, ``{}`` when the tenant sends none."""
    meta = body.get("meta")
    if meta is None:
        return {}
    paginate = meta.get("paginate") if isinstance(meta, dict) else None
    if not isinstance(paginate, dict):
        raise shape_error(f"{source} meta", meta, "an object with paginate")
    return paginate


def _page_number(value: Any, source: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise shape_error(f"{source} meta.paginate", value, "a page number")
