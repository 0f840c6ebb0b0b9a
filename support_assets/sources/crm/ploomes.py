"""Ploomes: the CRM's OData API (contacts, tasks, interaction records, users).

Every call carries ``User-Key``. Lists are OData: ``$top`` (at most 300), ``$skip``,
``$filter``, ``$orderby``, ``$expand``, answered as ``{"value": [...], "@odata.nextLink": ...}``;
the resource follows ``@odata.nextLink`` until it is absent. Public clients hold themselves to
two requests a second and back off on 429, so the default rate here is two a second, one
request at a time, and it halves whenever Ploomes answers 429 (``core.adaptive_rate``).

Incremental reads filter on ``LastUpdateDate ge <instant>`` with an explicit offset, ordered by
``LastUpdateDate`` then ``Id``. Tags of tasks and interactions are numeric ids that only come
with ``$expand=Tags``. Creating a contact is never retried blindly (``send_create``); look it up
first with ``find_contacts_by_document``.

Nothing the server filters is trusted: every answer is parsed as the one shape declared for it
(a list under ``value``; anything else fails naming the keys and types seen), and a lookup's
answer counts only for the contacts whose CPF or CNPJ field normalises to the document searched
(a tenant that ignores the ``or`` of the lookup's ``$filter`` answers unrelated contacts, which
are dropped and counted in ``lookup_stats``). Listings ask for ``$count=true`` and report
``@odata.count`` to a ``SourceTotal``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field

from support_assets.core.identity import Document, document_or_reason
from support_assets.core.shapes import PLOOMES_ODATA
from support_assets.sources.crm.http import (
    CrmApiResource,
    SourceTotal,
    objects,
    send_create,
    shape_error,
)

PLOOMES_API_URL = "https://public-api2.ploomes.com"
EntitySet = Literal["Contacts", "Tasks", "InteractionRecords", "Users"]
#: What each entity set is read with, so no field the platform uses is left out.
EXPANDS: dict[str, str] = {
    "Contacts": "Phones,OtherProperties",
    "Tasks": "Tags",
    "InteractionRecords": "Tags",
    "Users": "",
}
TYPE_COMPANY = 1
TYPE_PERSON = 2


def odata_time(value: datetime) -> str:
    """An OData date-time literal in UTC with its offset, e.g. ``2024-02-24T03:00:00.000Z``."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def tag_name_key(name: str) -> str:
    """A tag name compared as people type it: no accents, case or extra spaces
    (``Instalação`` and ``INSTALACAO`` are the same tag name)."""
    bare = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return " ".join(bare.casefold().split())


def odata_string(value: str) -> str:
    """A quoted OData string literal (single quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def contact_document_numbers(record: dict[str, Any]) -> set[str]:
    """The normalised documents a contact's CPF and CNPJ fields hold (either may hold either;
    the contact type only breaks a tie), as strings or JSON numbers."""
    hint = {str(TYPE_COMPANY): "cnpj", str(TYPE_PERSON): "cpf"}.get(str(record.get("TypeId")))
    numbers = set()
    for name in ("CPF", "CNPJ"):
        document, _ = document_or_reason(record.get(name), hint)
        if document is not None:
            numbers.add(document.number)
    return numbers


class PloomesResource(CrmApiResource):
    """The Ploomes API of one account (``https://public-api2.ploomes.com``)."""

    user_key: str = Field(description="User-Key of the integration user; give it as EnvVar.")
    page_size: int = Field(default=300, ge=1, le=300, description="$top of every list call.")
    rate_limit_per_second: float | None = 2.0
    max_concurrency: int = 1
    request_count: bool = Field(
        default=True, description="Ask listings for $count=true, to reconcile with @odata.count."
    )

    def _api_name(self) -> str:
        return "ploomes"

    def _headers(self) -> dict[str, str]:
        return {"User-Key": self.user_key, "Accept": "application/json"}

    def _secrets(self) -> list[str]:
        return [self.user_key]

    def _pages(
        self, entity: str, params: dict[str, Any], totals: SourceTotal | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """Every page of an OData listing, following ``@odata.nextLink``."""
        client = self.get_client()
        source = f"Ploomes {entity}"
        body = client.get(entity, params=params).json()
        while True:
            page = PLOOMES_ODATA.page(body)
            records = objects(page.records, source)
            if totals is not None:
                totals.page(page.total, records, "Id")
            yield records
            next_link = body.get("@odata.nextLink")
            if next_link in (None, ""):
                return
            if not isinstance(next_link, str):
                raise shape_error(source, body, "@odata.nextLink as text")
            body = client.get(next_link).json()

    def iter_changed(
        self, entity: EntitySet, since: datetime | None = None, totals: SourceTotal | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of an entity set, oldest change first, only those changed at or after
        ``since`` when given; navigation properties the platform needs are expanded. With
        ``totals``, the listing's ``@odata.count`` and record ids are reported to it."""
        params: dict[str, Any] = {
            "$top": self.page_size,
            "$orderby": "LastUpdateDate asc,Id asc" if entity != "Users" else "Id asc",
        }
        if EXPANDS.get(entity):
            params["$expand"] = EXPANDS[entity]
        if since is not None and entity != "Users":
            params["$filter"] = f"LastUpdateDate ge {odata_time(since)}"
        if totals is not None and self.request_count:
            params["$count"] = "true"
        yield from self._pages(entity, params, totals)

    def list_users(self) -> list[dict[str, Any]]:
        return [user for page in self.iter_changed("Users") for user in page]

    def find_contacts_by_document(self, document: Document) -> list[dict[str, Any]]:
        """Contacts whose CPF or CNPJ field holds the document, written formatted or bare.

        Either field is searched: people put a CNPJ in the CPF field, and the type decides
        nothing. Other spellings (spaces, lower case) are found by the full listing instead.
        Only the contacts whose field normalises to ``document`` count: what else the server
        answers (a tenant that ignores the filter answers every contact) is dropped and counted.
        """
        variants = sorted({document.formatted, document.number, document.number.lower()})
        clauses = [
            f"{field} eq {odata_string(value)}" for field in ("CPF", "CNPJ") for value in variants
        ]
        params = {"$filter": " or ".join(clauses), "$top": self.page_size}
        answered = [contact for page in self._pages("Contacts", params) for contact in page]
        found = [c for c in answered if document.number in contact_document_numbers(c)]
        self.lookup_stats["lookups"] += 1
        self.lookup_stats["unrelated_results"] += len(answered) - len(found)
        return found

    def read_contact(self, contact_id: Any) -> dict[str, Any] | None:
        """The contact with this id as Ploomes stores it, or None (checked on our side)."""
        params = {"$filter": f"Id eq {int(contact_id)}", "$top": 1}
        answered = [c for page in self._pages("Contacts", params) for c in page]
        return next((c for c in answered if str(c.get("Id")) == str(contact_id)), None)

    def create_contact(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Creates a contact (one POST; 429s retried) and answers it as Ploomes stored it."""
        response = send_create(self.get_client(), "Contacts", payload)
        body = response.json()
        if isinstance(body, dict) and "value" not in body and "Id" in body:
            return body
        source = "Ploomes POST Contacts"
        records = objects(PLOOMES_ODATA.records(body), source)
        if len(records) != 1 or records[0].get("Id") in (None, ""):
            raise shape_error(source, body, "one contact with an Id under value")
        return records[0]

    def list_tags(self) -> list[dict[str, Any]]:
        """Every tag of the account as ``{"Id": int, "Name": str}``; a tag without a numeric
        ``Id`` and a ``Name`` fails, naming the keys and types seen."""
        tags = []
        for page in self._pages("Tags", {"$top": self.page_size}):
            for tag in page:
                tag_id = tag.get("Id") if isinstance(tag, dict) else None
                if isinstance(tag_id, str) and tag_id.strip().isdigit():
                    tag_id = int(tag_id)
                if (
                    isinstance(tag_id, bool)
                    or not isinstance(tag_id, int)
                    or not (isinstance(tag.get("Name"), str))
                ):
                    shape = (
                        {k: type(v).__name__ for k, v in tag.items()}
                        if isinstance(tag, dict)
                        else type(tag).__name__
                    )
                    raise ValueError(f"Ploomes Tags answered a tag without Id and Name: {shape}")
                tags.append({**tag, "Id": tag_id})
        return tags

    def find_tag_ids(self, name: str) -> list[int]:
        """Ids of the tags called ``name`` (compared by ``tag_name_key``), from the full list:
        a server-side filter on names is not relied on."""
        wanted = tag_name_key(name)
        return sorted({t["Id"] for t in self.list_tags() if tag_name_key(t["Name"]) == wanted})
