"""What the CRM sync checks on its own side before it believes an API's answer.

A lookup's answer is already cut down by the resources to the records whose normalised document
(or ticket marker) equals the one searched; here, several such records are an ambiguity to
report, never resolved by taking the smallest id. After a create, the stored record is read
back and its document compared with the one sent: a mismatch marks that record ``failed`` with
the reason, and the sync leaves it to a person instead of creating it again on the next run.
"""

from __future__ import annotations

from typing import Any

from support_assets.core.identity import Document
from support_assets.sources.crm.milvus import MilvusResource
from support_assets.sources.crm.ploomes import PloomesResource, contact_document_numbers


def int_id(value: Any) -> int | None:
    """An id an API sent as a number or as digits in text, as an int (None when absent)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    return int(text) if text.isdigit() else None


def single_match(found: list[dict[str, Any]], id_key: str, what: str) -> tuple[Any, str]:
    """``(record, "")`` for exactly one match; ``(None, reason)`` naming the ids for several."""
    if len(found) == 1:
        return found[0], ""
    ids = sorted(str(record.get(id_key)) for record in found)
    return None, f"{len(found)} {what} match (ids {', '.join(ids)}); a person must merge them"


def milvus_created_client(
    milvus: MilvusResource, document: Document, client_id: Any
) -> tuple[dict[str, Any] | None, str]:
    """The client Milvus created, read back by its document; or why it cannot be trusted."""
    client = milvus.find_client_by_id(document, client_id)
    if client is None:
        return None, (
            f"Milvus created client {client_id}, but a lookup by the document sent does not "
            "find it: Milvus stored a different document"
        )
    return client, ""


def ploomes_created_contact(
    ploomes: PloomesResource, document: Document, created: dict[str, Any]
) -> tuple[int | None, str]:
    """The id of the contact Ploomes created, once the document it stored is read back and
    equals the one sent; or why not."""
    contact_id = int_id(created.get("Id"))
    if contact_id is None:
        return None, "Ploomes answered the create without a numeric Id"
    stored = created if ("CPF" in created or "CNPJ" in created) else None
    if stored is None:
        stored = ploomes.read_contact(contact_id)
    if stored is None:
        return None, f"Ploomes created contact {contact_id}, but reading it back finds nothing"
    if document.number not in contact_document_numbers(stored):
        return None, (
            f"Ploomes stored contact {contact_id} with a CPF/CNPJ that does not normalise to "
            "the document sent"
        )
    return contact_id, ""
