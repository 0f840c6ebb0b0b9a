"""Clients matched between Ploomes and Milvus by their normalised CPF/CNPJ: the staging table,
its quarantine, and the lookups the syncs make from a staging row back to the raw records."""

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from dagster import MetadataValue

from support_assets.core.identity import Document, PseudonymResource, document_or_reason
from support_assets.core.records import quarantine_row, to_json
from support_assets.sources.crm.milvus import milvus_client_document
from support_assets.sources.crm.ploomes import TYPE_COMPANY, TYPE_PERSON
from support_assets.sources.crm.times import optional_time


def _json_record(value: Any) -> dict[str, Any]:
    if isinstance(value, str) and value:
        try:
            loaded = json.loads(value)
        except json.JSONDecodeError:
            return {}
        return loaded if isinstance(loaded, dict) else {}
    return {}


def ploomes_contact_document(record: Mapping[str, Any]) -> tuple[Document | None, str]:
    """The contact's document from its CPF or CNPJ field (either may hold either), or why not.

    The contact type only breaks a tie; the validators decide person or company."""
    type_id = record.get("TypeId")
    hint = "cnpj" if type_id == TYPE_COMPANY else "cpf" if type_id == TYPE_PERSON else None
    values = [record.get(name) for name in ("CPF", "CNPJ")]
    values = [v for v in values if v not in (None, "") and str(v).strip()]
    if not values:
        return None, "document is missing"
    reasons = []
    for value in values:
        document, reason = document_or_reason(value, hint)
        if document is not None:
            return document, ""
        reasons.append(reason)
    return None, "; ".join(dict.fromkeys(reasons))


def mask(document: Document) -> str:
    """A document with only a few middle characters shown, for logs and metadata."""
    shown = document.formatted
    keep = set(range(4, 8))
    return "".join(c if (i in keep or not c.isalnum()) else "*" for i, c in enumerate(shown))


@dataclass
class ClientMatch:
    """One real client as both systems know it, keyed by its normalised document."""

    document: Document
    ploomes: list[dict[str, Any]] = field(default_factory=list)
    milvus: list[dict[str, Any]] = field(default_factory=list)

    def canonical_milvus(self) -> dict[str, Any] | None:
        if not self.milvus:
            return None
        return sorted(self.milvus, key=lambda r: (r.get("is_ativo") is False, int(r["id"])))[0]

    def canonical_ploomes(self) -> dict[str, Any] | None:
        return min(self.ploomes, key=lambda r: int(r["Id"])) if self.ploomes else None


def match_clients(
    contacts: list[dict[str, Any]], clients: list[dict[str, Any]]
) -> tuple[dict[str, ClientMatch], list[dict[str, Any]]]:
    """Clients by document number, and quarantine rows for every invalid document."""
    matches: dict[str, ClientMatch] = {}
    quarantine: list[dict[str, Any]] = []
    for contact in sorted(contacts, key=lambda r: r.get("Id") or 0):
        document, reason = ploomes_contact_document(contact)
        if document is None:
            quarantine.append(
                quarantine_row("ploomes/Contacts", reason, contact, contact.get("Id"))
            )
            continue
        matches.setdefault(document.number, ClientMatch(document)).ploomes.append(contact)
    for client in sorted(clients, key=lambda r: r.get("id") or 0):
        document, reason = milvus_client_document(client)
        if document is None:
            quarantine.append(quarantine_row("milvus/clientes", reason, client, client.get("id")))
            continue
        matches.setdefault(document.number, ClientMatch(document)).milvus.append(client)
    return matches, quarantine


STAGING_COLUMNS = [
    "customer_key",
    "document_type",
    "name",
    "in_ploomes",
    "in_milvus",
    "ploomes_contact_id",
    "ploomes_contact_ids",
    "milvus_client_id",
    "milvus_token",
    "milvus_client_ids",
    "milvus_active",
    "ploomes_updated_at",
]


def raw_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The source records a raw table keeps as JSON in its ``record`` column."""
    if frame is None or frame.empty or "record" not in frame.columns:
        return []
    return [_json_record(value) for value in frame["record"]]


def build_staging_clients(
    raw_contacts: pd.DataFrame, raw_clients: pd.DataFrame, pseudonym: PseudonymResource
) -> tuple[pd.DataFrame, list[dict[str, Any]], dict[str, ClientMatch]]:
    """The staging/crm_clients frame, its quarantine rows and the matches behind it."""
    contacts = raw_records(raw_contacts)
    clients = raw_records(raw_clients)
    matches, quarantine = match_clients(contacts, clients)
    rows = []
    for _, match in sorted(matches.items()):
        ploomes = match.canonical_ploomes()
        milvus = match.canonical_milvus()
        updated = [optional_time(c.get("LastUpdateDate"), "LastUpdateDate") for c in match.ploomes]
        updated = [u for u in updated if u is not None]
        rows.append(
            {
                "customer_key": pseudonym.customer_key(match.document),
                "document_type": match.document.kind,
                "name": (ploomes or {}).get("Name") or (milvus or {}).get("nome_fantasia"),
                "in_ploomes": bool(match.ploomes),
                "in_milvus": bool(match.milvus),
                "ploomes_contact_id": None if ploomes is None else int(ploomes["Id"]),
                "ploomes_contact_ids": to_json(sorted(int(c["Id"]) for c in match.ploomes)),
                "milvus_client_id": None if milvus is None else int(milvus["id"]),
                "milvus_token": None if milvus is None else milvus.get("token"),
                "milvus_client_ids": to_json(sorted(int(c["id"]) for c in match.milvus)),
                "milvus_active": None if milvus is None else milvus.get("is_ativo") is not False,
                "ploomes_updated_at": max(updated) if updated else None,
            }
        )
    frame = pd.DataFrame(rows, columns=STAGING_COLUMNS).astype(
        {"ploomes_contact_id": "Int64", "milvus_client_id": "Int64"}
    )
    return frame, quarantine, matches


def quarantine_metadata(quarantine: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts of quarantined records by reason and by source."""
    reasons: dict[str, int] = {}
    sources: dict[str, int] = {}
    for row in quarantine:
        reasons[row["reason"]] = reasons.get(row["reason"], 0) + 1
        sources[row["source"]] = sources.get(row["source"], 0) + 1
    return {
        "quarantined": len(quarantine),
        "quarantine_reasons": MetadataValue.json(reasons),
        "quarantined_by_source": MetadataValue.json(sources),
    }


def staging_rows(staging: pd.DataFrame) -> list[dict[str, Any]]:
    """The staging table's rows as dicts, missing values as None."""
    if staging is None or staging.empty:
        return []
    frame = staging.reindex(columns=STAGING_COLUMNS)
    rows = []
    for record in frame.to_dict("records"):
        clean = {k: (None if _is_missing(v) else v) for k, v in record.items()}
        rows.append(clean)
    return rows


def _is_missing(value: Any) -> bool:
    if isinstance(value, list | dict | str):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def contacts_by_id(raw_contacts: pd.DataFrame) -> dict[int, dict[str, Any]]:
    """The raw Ploomes contacts by their id."""
    return {int(r["Id"]): r for r in raw_records(raw_contacts) if r.get("Id") is not None}


def documents_by_key(
    records: Iterable[Mapping[str, Any]],
    read: Callable[[Mapping[str, Any]], tuple[Document | None, str]],
    pseudonym: PseudonymResource,
) -> dict[str, Document]:
    """The valid documents of raw records by their customer_key: staging/crm_clients keeps only
    the key, so the sync finds the document it must look up and send in the raw layer."""
    found: dict[str, Document] = {}
    for record in records:
        document, _ = read(record)
        if document is not None:
            found.setdefault(pseudonym.customer_key(document), document)
    return found
