"""Clients kept in both CRMs: one algorithm, run in either direction.

Ploomes → Milvus creates in Milvus every valid client only Ploomes has; Milvus → Ploomes does
the reverse. A ``ClientSide`` says what differs between the two: which system is read and which
is written, the position of a client for the cursor (Ploomes's change time, Milvus's client id),
the payload, and how a record is looked up, created and read back. The rest (selection, dry run,
the idempotent create, refusals, ambiguous or failed results, the table and the metadata) is
the same code for both.
"""

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from dagster import AssetExecutionContext, MetadataValue, Output

from support_assets.core.identity import Document, PseudonymResource
from support_assets.sources.crm.cursors import IdCursor, TimeCursor
from support_assets.sources.crm.http import CrmApiResource
from support_assets.sources.crm.matching import (
    contacts_by_id,
    documents_by_key,
    mask,
    ploomes_contact_document,
    raw_records,
    staging_rows,
)
from support_assets.sources.crm.milvus import MilvusResource, milvus_client_document
from support_assets.sources.crm.payloads import milvus_client_payload, ploomes_contact_payload
from support_assets.sources.crm.ploomes import PloomesResource
from support_assets.sources.crm.sync_state import (
    LEGACY_SENT,
    LEGACY_SKIP_REASON,
    OUTCOMES,
    SyncReport,
    SyncState,
    create_or_refusal,
    legacy_plan,
    resource_metadata,
)
from support_assets.sources.crm.times import timestamp
from support_assets.sources.crm.verify import (
    int_id,
    milvus_created_client,
    ploomes_created_contact,
    single_match,
)

SYNC_CLIENT_COLUMNS = [
    "customer_key",
    "document_type",
    "ploomes_contact_id",
    "milvus_client_id",
    "milvus_token",
    "action",
    "reason",
    "synced_at",
]
SYNC_CONTACT_COLUMNS = [
    "customer_key",
    "document_type",
    "milvus_client_id",
    "ploomes_contact_id",
    "action",
    "reason",
    "synced_at",
]


class ClientSide:
    """One direction of the client sync: the source system's records by id and their documents
    by customer_key, the target's resource, and what the algorithm asks of each side."""

    #: The state's kind, the sync's name in logs, the table's columns.
    kind: str
    name: str
    columns: list[str]
    #: The staging flags of the system read and the one written.
    in_source: str
    in_target: str
    #: The column naming the source record, and the target ids the sync fills in.
    source_id: str
    target_columns: tuple[str, ...]
    #: A target record's id key and what the records are called (for ``single_match``).
    match: tuple[str, str]
    #: The start of the reason a refused create is recorded with.
    refused: str

    def __init__(
        self,
        cursor: TimeCursor | IdCursor,
        records: dict[int, dict[str, Any]],
        documents: dict[str, Document],
        resource: CrmApiResource,
    ) -> None:
        self.cursor = cursor
        self.records = records
        self.documents = documents
        self.resource = resource
        self.extra_counts: dict[str, int] = {}

    def position(self, row: Mapping[str, Any]) -> Any:
        """Where a staging row stands for the cursor (None: unknown)."""
        raise NotImplementedError

    def lookup(self, document: Document) -> list[dict[str, Any]]:
        raise NotImplementedError

    def payload(self, record: Mapping[str, Any], document: Document) -> dict[str, Any]:
        raise NotImplementedError

    def create(self, payload: dict[str, Any]) -> Any:
        raise NotImplementedError

    def creating_fields(self, row: Mapping[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        """What the state records with the intent to create."""
        return {self.source_id: row[self.source_id]}

    def ids_of(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The target ids of a record the target answered."""
        raise NotImplementedError

    def found_ids(self, record: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The ids of the one record a lookup found; None when it cannot be linked."""
        return None if record is None else self.ids_of(record)

    def read_back(self, document: Document, created: Any) -> tuple[dict[str, Any] | None, str]:
        """The ids of the record a create made, once read back; or None and why not."""
        raise NotImplementedError

    def failure_fields(self, value: Any) -> dict[str, Any]:
        """What the state records with an ambiguous or failed client."""
        return {}

    def skip_reason(self, row: Mapping[str, Any], document: Document) -> str | None:
        """Why a candidate is skipped without a create; None: it is not."""
        return None

    def extra_metadata(self) -> dict[str, Any]:
        return {}

    def warn(self, context: AssetExecutionContext, dry_run: bool) -> None:
        """Warnings about the settings, logged once before the clients are synced."""


class MilvusClients(ClientSide):
    """Ploomes → Milvus: Ploomes contacts created as Milvus clients; the cursor is the contacts'
    change time; a client the previous integration sent is never created again."""

    kind = "milvus_client"
    name = "Milvus clients sync"
    columns = SYNC_CLIENT_COLUMNS
    in_source, in_target = "in_ploomes", "in_milvus"
    source_id = "ploomes_contact_id"
    target_columns = ("milvus_client_id", "milvus_token")
    match = ("id", "Milvus clients")
    refused = "Milvus refused the client"

    def __init__(
        self,
        cursor: TimeCursor,
        raw_contacts: pd.DataFrame,
        milvus: MilvusResource,
        pseudonym: PseudonymResource,
        legacy_sent: tuple[set[str], set[str]],
    ) -> None:
        contacts = contacts_by_id(raw_contacts)
        documents = documents_by_key(contacts.values(), ploomes_contact_document, pseudonym)
        super().__init__(cursor, contacts, documents, milvus)
        self.milvus = milvus
        self.sent_before = legacy_sent
        self.extra_counts = {"skipped": 0}

    @classmethod
    def legacy_sent(
        cls, state: SyncState, legacy: pd.DataFrame, dry_run: bool
    ) -> tuple[set[str], set[str]]:
        """Document numbers the state holds as sent by the previous integration, and customer
        keys a dry run of the legacy import planned as sent."""
        sent = {d["key"] for d in state.collection.find({"kind": cls.kind, "status": LEGACY_SENT})}
        return sent, legacy_plan(legacy, dry_run)[0]

    def position(self, row: Mapping[str, Any]) -> datetime | None:
        return timestamp(row["ploomes_updated_at"])

    def lookup(self, document: Document) -> list[dict[str, Any]]:
        return self.milvus.find_clients_by_document(document)

    def payload(self, record: Mapping[str, Any], document: Document) -> dict[str, Any]:
        return milvus_client_payload(record, document, self.milvus.document_as)

    def create(self, payload: dict[str, Any]) -> int:
        return self.milvus.create_client(payload)

    def creating_fields(self, row: Mapping[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        return {"ploomes_contact_id": payload.get("cliente_id_integracao")}

    def ids_of(self, record: Mapping[str, Any]) -> dict[str, Any]:
        return {"milvus_client_id": int_id(record.get("id")), "milvus_token": record.get("token")}

    def read_back(self, document: Document, created: Any) -> tuple[dict[str, Any] | None, str]:
        # The create answers only the id: read the client back by its document.
        client, reason = milvus_created_client(self.milvus, document, created)
        return (None if client is None else self.ids_of(client)), reason

    def failure_fields(self, value: Any) -> dict[str, Any]:
        return {"milvus_client_id": None if isinstance(value, list) else int_id(value)}

    def skip_reason(self, row: Mapping[str, Any], document: Document) -> str | None:
        sent_numbers, planned_keys = self.sent_before
        sent_before = document.number in sent_numbers or row["customer_key"] in planned_keys
        if sent_before and not self.lookup(document):
            return LEGACY_SKIP_REASON
        return None

    def extra_metadata(self) -> dict[str, Any]:
        return {"documents_sent_as": self.milvus.document_as}

    def warn(self, context: AssetExecutionContext, dry_run: bool) -> None:
        if not dry_run and self.milvus.document_as == "number":
            context.log.warning(
                "MILVUS_DOCUMENT_AS=number: documents go to Milvus as JSON numbers, and a CPF or "
                "CNPJ that starts with 0 is stored without it"
            )


class PloomesContacts(ClientSide):
    """Milvus → Ploomes: Milvus clients created as Ploomes contacts; Milvus gives no change time
    for clients, so the cursor is the highest client id considered (ids only grow)."""

    kind = "ploomes_contact"
    name = "Ploomes contacts sync"
    columns = SYNC_CONTACT_COLUMNS
    in_source, in_target = "in_milvus", "in_ploomes"
    source_id = "milvus_client_id"
    target_columns = ("ploomes_contact_id",)
    match = ("Id", "Ploomes contacts")
    refused = "Ploomes refused the contact"

    def __init__(
        self,
        cursor: IdCursor,
        raw_clients: pd.DataFrame,
        ploomes: PloomesResource,
        pseudonym: PseudonymResource,
    ) -> None:
        clients = {int(r["id"]): r for r in raw_records(raw_clients) if r.get("id") is not None}
        documents = documents_by_key(clients.values(), milvus_client_document, pseudonym)
        super().__init__(cursor, clients, documents, ploomes)
        self.ploomes = ploomes

    def position(self, row: Mapping[str, Any]) -> int | None:
        ids = json.loads(row["milvus_client_ids"] or "[]")
        return max(ids) if ids else None

    def lookup(self, document: Document) -> list[dict[str, Any]]:
        return self.ploomes.find_contacts_by_document(document)

    def payload(self, record: Mapping[str, Any], document: Document) -> dict[str, Any]:
        return ploomes_contact_payload(record, document)

    def create(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self.ploomes.create_contact(payload)

    def ids_of(self, record: Mapping[str, Any]) -> dict[str, Any]:
        return {"ploomes_contact_id": int_id(record.get("Id"))}

    def found_ids(self, record: Mapping[str, Any] | None) -> dict[str, Any] | None:
        ids = None if record is None else self.ids_of(record)
        return None if ids is None or ids["ploomes_contact_id"] is None else ids

    def read_back(self, document: Document, created: Any) -> tuple[dict[str, Any] | None, str]:
        contact_id, reason = ploomes_created_contact(self.ploomes, document, created)
        return (None if contact_id is None else {"ploomes_contact_id": contact_id}), reason


# The algorithm ---------------------------------------------------------------------------------


def select_candidates(
    side: ClientSide, rows: list[dict[str, Any]], state: SyncState
) -> tuple[list[tuple[dict[str, Any], Document]], Any, set[str]]:
    """Clients only the source system has, changed since the cursor or left pending in the
    state (never those left to a person); with the frontier the cursor moves to, and the keys
    left to a person."""
    retry = {doc["key"] for doc in state.retry(side.kind)}
    held = state.held(side.kind)
    frontier = side.cursor.cursor
    candidates = []
    for row in rows:
        position = side.position(row)
        if position is not None and (frontier is None or position > frontier):
            frontier = position
        document = side.documents.get(row["customer_key"])
        if not row[side.in_source] or row[side.in_target] or document is None:
            continue
        if document.number in held:
            continue
        if side.cursor.changed(position) or document.number in retry:
            candidates.append((row, document))
    return candidates, frontier, held


def sync_client(
    context: AssetExecutionContext,
    side: ClientSide,
    state: SyncState,
    report: SyncReport,
    row: dict[str, Any],
    document: Document,
    dry_run: bool,
) -> None:
    """Looks one client up in the target and creates it there once, recording what happened."""
    source_id = row[side.source_id]
    result: dict[str, Any] = {
        "customer_key": row["customer_key"],
        "document_type": document.kind,
        side.source_id: source_id,
        **dict.fromkeys(side.target_columns),
        "action": None,
        "reason": None,
        "synced_at": datetime.now(UTC),
    }
    skip = side.skip_reason(row, document)
    if skip is not None:
        report.add(result, "skipped", reason=skip)
        return
    if dry_run:
        entry = {
            side.source_id: source_id,
            "customer_key": row["customer_key"],
            "document_type": document.kind,
            "document": mask(document),
        }
        report.looked_up(result, side.lookup(document), side.match, side.ids_of, entry)
        return
    payload = side.payload(side.records.get(int(source_id)) or {}, document)

    def create() -> Any:
        state.mark(side.kind, document.number, "creating", **side.creating_fields(row, payload))
        return side.create(payload)

    action, value, refusal = create_or_refusal(lambda: side.lookup(document), create)
    if action == "rejected":
        reason = f"{side.refused}: {refusal}"
        state.mark(side.kind, document.number, "rejected", reason=reason)
        report.add(result, "rejected", reason=reason)
        context.log.warning("client %s: %s", mask(document), reason)
        return
    if isinstance(value, list):
        # Linked, or created and found by the lookup after a lost answer.
        record, reason = single_match(value, *side.match)
        ids, failed = side.found_ids(record), "ambiguous"
    else:
        ids, reason = side.read_back(document, value)
        failed = "failed"
    if ids is None:
        # Left to a person: recorded and reported by its source id, never its document.
        state.mark(side.kind, document.number, failed, reason=reason, **side.failure_fields(value))
        report.failures.append({side.source_id: source_id, "action": failed, "reason": reason})
        report.add(result, failed, reason=reason)
        context.log.warning("client %s: %s", mask(document), reason)
        return
    state.mark(side.kind, document.number, action, **ids, **{side.source_id: source_id})
    report.add(result, action, **ids)


def run_client_sync(
    context: AssetExecutionContext,
    side: ClientSide,
    state: SyncState,
    staging: pd.DataFrame,
    dry_run: bool,
) -> Output:
    """Every candidate client of one direction synced; the table of what was done, and the
    metadata (counts, cursor, failures, the API's stats)."""
    candidates, frontier, held = select_candidates(side, staging_rows(staging), state)
    counts = {"candidates": len(candidates), **dict.fromkeys(OUTCOMES, 0), **side.extra_counts}
    report = SyncReport(counts)
    side.warn(context, dry_run)
    for row, document in candidates:
        sync_client(context, side, state, report, row, document, dry_run)
    context.log.info("%s: %s", side.name, report.counts)
    extra = {
        **side.cursor.metadata(frontier, dry_run),
        "failures": MetadataValue.json(report.failures),
        "held_for_a_person": len(held),
        **side.extra_metadata(),
        **resource_metadata(side.resource),
    }
    frame = pd.DataFrame(report.rows, columns=side.columns).astype(
        {"ploomes_contact_id": "Int64", "milvus_client_id": "Int64"}
    )
    return Output(frame, metadata=report.metadata(dry_run, extra))
