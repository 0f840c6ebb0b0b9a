"""Ploomes: the CRM's OData API (contacts, tasks, interaction records, users).

Every call carries ``User-Key``. Lists are OData: ``$top`` (at most 300), ``$skip``,
``$filter``, ``$orderby``, ``$expand``, answered as ``{"value": [...], "@odata.nextLink": ...}``;
the resource follows ``@odata.nextLink`` until it is absent. Public clients hold themselves to
two requests a second and back off on 429, so the default rate here is two a second, one
request at a time, and it halves whenever Ploomes answers 429 (``AdaptiveRate``).

Incremental reads filter on ``LastUpdateDate ge <instant>`` with an explicit offset, ordered by
``LastUpdateDate`` then ``Id``. Tags of tasks and interactions are numeric ids that only come
with ``$expand=Tags``. Creating a contact is never retried blindly (``send_create``); look it up
first with ``find_contacts_by_document``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field

from support_assets.identity import Document
from support_assets.resources.crm_http import AdaptiveRateResource, send_create

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


class PloomesResource(AdaptiveRateResource):
    """The Ploomes API of one account (``https://public-api2.ploomes.com``)."""

    user_key: str = Field(description="User-Key of the integration user; give it as EnvVar.")
    page_size: int = Field(default=300, ge=1, le=300, description="$top of every list call.")
    rate_limit_per_second: float | None = 2.0
    max_concurrency: int = 1

    def _api_name(self) -> str:
        return "ploomes"

    def _headers(self) -> dict[str, str]:
        return {"User-Key": self.user_key, "Accept": "application/json"}

    def _secrets(self) -> list[str]:
        return [self.user_key]

    def _pages(self, entity: str, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        adaptive = self.adaptive
        for page in self.get_client().paginate_odata(entity, params):
            adaptive.observe()
            yield page

    def iter_changed(
        self, entity: EntitySet, since: datetime | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of an entity set, oldest change first, only those changed at or after
        ``since`` when given; navigation properties the platform needs are expanded."""
        params: dict[str, Any] = {
            "$top": self.page_size,
            "$orderby": "LastUpdateDate asc,Id asc" if entity != "Users" else "Id asc",
        }
        if EXPANDS.get(entity):
            params["$expand"] = EXPANDS[entity]
        if since is not None and entity != "Users":
            params["$filter"] = f"LastUpdateDate ge {odata_time(since)}"
        yield from self._pages(entity, params)

    def list_users(self) -> list[dict[str, Any]]:
        return [user for page in self.iter_changed("Users") for user in page]

    def find_contacts_by_document(self, document: Document) -> list[dict[str, Any]]:
        """Contacts whose CPF or CNPJ field holds the document, written formatted or bare.

        Either field is searched: people put a CNPJ in the CPF field, and the type decides
        nothing. Other spellings (spaces, lower case) are found by the full listing instead.
        """
        variants = sorted({document.formatted, document.number, document.number.lower()})
        clauses = [
            f"{field} eq {odata_string(value)}" for field in ("CPF", "CNPJ") for value in variants
        ]
        params = {"$filter": " or ".join(clauses), "$top": self.page_size}
        return [contact for page in self._pages("Contacts", params) for contact in page]

    def create_contact(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Creates a contact (one POST; 429s retried) and answers it as Ploomes stored it."""
        response = send_create(self.get_client(), "Contacts", payload)
        self.adaptive.observe()
        body = response.json()
        values = body.get("value") if isinstance(body, dict) else None
        if isinstance(values, list) and values:
            return values[0]
        if isinstance(body, dict) and "Id" in body:
            return body
        raise ValueError(f"Ploomes answered an unexpected body to a create: {str(body)[:200]}")

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
