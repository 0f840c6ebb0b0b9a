"""Tagged Ploomes tasks and interactions turned into Milvus tickets, one per item, never two.

Each selected item goes through the same steps: find its client (or quarantine the item when
the client's document is invalid, or leave it pending when the client is not loaded yet), find
the client's Milvus token, then look for a ticket carrying the item's marker and create one
only when there is none.
"""

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from dagster import AssetExecutionContext, MetadataValue, Output

from support_assets.core.identity import Document, PseudonymResource
from support_assets.core.mongo import MongoDBResource
from support_assets.sources.crm.config import TAG_LABELS, CrmSyncConfig, CrmSyncSettings
from support_assets.sources.crm.cursors import TimeCursor
from support_assets.sources.crm.matching import (
    contacts_by_id,
    documents_by_key,
    match_clients,
    ploomes_contact_document,
    staging_rows,
)
from support_assets.sources.crm.milvus import MilvusResource
from support_assets.sources.crm.payloads import ticket_payload
from support_assets.sources.crm.ploomes import PloomesResource
from support_assets.sources.crm.sync_state import (
    SyncReport,
    SyncState,
    create_or_refusal,
    legacy_plan,
    resource_metadata,
)
from support_assets.sources.crm.ticket_items import (
    WorkItem,
    subject_markers,
    tagged_items,
    ticket_marker,
)
from support_assets.sources.crm.verify import int_id, single_match

KIND = "milvus_ticket"
TICKET_COLUMNS = [
    "source",
    "source_id",
    "tag",
    "customer_key",
    "milvus_token",
    "milvus_ticket_id",
    "action",
    "reason",
    "source_created_at",
    "synced_at",
]


def milvus_tokens(staging: list[dict[str, Any]], clients_sync: pd.DataFrame) -> dict[str, str]:
    """Milvus token by customer_key: the staging table's, else the one the clients sync of the
    same run created (staging sees it only on its next run)."""
    tokens = {row["customer_key"]: row["milvus_token"] for row in staging if row["milvus_token"]}
    if clients_sync is not None and not clients_sync.empty:
        for row in clients_sync.to_dict("records"):
            token = row.get("milvus_token")
            if isinstance(token, str) and token and row.get("customer_key") not in tokens:
                tokens[row["customer_key"]] = token
    return tokens


def select_items(
    items: list[WorkItem],
    state: SyncState,
    cursor: TimeCursor,
    planned: Mapping[str, int],
) -> list[WorkItem]:
    """Items without a ticket yet (in the state, or in a dry run's legacy plan), changed since
    the cursor or left pending."""
    known = state.get([f"{KIND}:{item.key}" for item in items])
    for key, ticket_id in planned.items():
        known.setdefault(f"{KIND}:{key}", {"status": "linked", "milvus_ticket_id": ticket_id})
    retry = {doc["key"] for doc in state.retry(KIND)}
    selected = []
    for item in items:
        doc = known.get(f"{KIND}:{item.key}")
        if doc is not None and doc.get("status") in ("created", "linked"):
            continue
        if cursor.changed(item.updated_at) or item.key in retry:
            selected.append(item)
    return selected


class TicketSync:
    """One run of the tickets sync: what it knows of the clients, and the items it settles."""

    def __init__(
        self,
        context: AssetExecutionContext,
        documents: MongoDBResource,
        inputs: Mapping[str, pd.DataFrame],
        resources: tuple[MilvusResource, PloomesResource, CrmSyncSettings, PseudonymResource],
    ) -> None:
        self.context = context
        self.state = SyncState(documents, context.run_id)
        self.inputs = inputs
        self.milvus, self.ploomes, self.settings, pseudonym = resources
        self.dry_run = self.settings.dry_run
        self.contacts = contacts_by_id(inputs["raw_contacts"])
        self.documents = documents_by_key(
            self.contacts.values(), ploomes_contact_document, pseudonym
        )
        rows = staging_rows(inputs["staging"])
        self.by_contact: dict[int, dict[str, Any]] = {}
        for row in rows:
            for contact_id in json.loads(row["ploomes_contact_ids"] or "[]"):
                self.by_contact[int(contact_id)] = row
        self.tokens = milvus_tokens(rows, inputs["clients_sync"])
        self.invalid = {
            int(q["record_id"]): q["reason"]
            for q in match_clients(list(self.contacts.values()), [])[1]
            if q.get("record_id") is not None
        }
        self.users: dict[int, dict[str, Any]] = {}
        self.quarantined: dict[str, int] = {}
        self.report = SyncReport({})

    def client_row(self, item: WorkItem, result: dict[str, Any]) -> dict[str, Any] | None:
        """The staging row of the item's client; None once the item is recorded as quarantined
        (no contact, invalid document) or pending (contact not loaded yet)."""
        contact_id = item.record.get("ContactId")
        row = self.by_contact.get(int(contact_id)) if contact_id is not None else None
        if row is not None:
            return row
        if contact_id is None:
            reason = f"the {item.source} has no contact"
        elif int(contact_id) in self.invalid:
            reason = f"the client's document is invalid: {self.invalid[int(contact_id)]}"
        else:
            reason = f"contact {contact_id} is not loaded yet"
            self.state.mark(KIND, item.key, "pending", reason=reason)
            self.report.add(result, "pending", reason=reason)
            return None
        self.state.mark(KIND, item.key, "quarantined", reason=reason)
        self.quarantined[reason] = self.quarantined.get(reason, 0) + 1
        self.report.add(result, "quarantined", reason=reason)
        return None

    def token(self, item: WorkItem, row: dict[str, Any], result: dict[str, Any]) -> str | None:
        """The Milvus token of the item's client (looked up by document when the tables lack
        it); None once the item is recorded as ambiguous, pending or planned."""
        document: Document | None = self.documents.get(row["customer_key"])
        token = self.tokens.get(row["customer_key"])
        if token is None and document is not None:
            found = self.milvus.find_clients_by_document(document)
            client, reason = single_match(found, "id", "Milvus clients")
            if found and client is None:
                self.state.mark(KIND, item.key, "pending", reason=reason)
                self.report.add(result, "ambiguous", reason=reason)
                return None
            token = client.get("token") if client else None
        if token is not None:
            return token
        if self.dry_run:
            entry = {**self.planned(item, row), "note": "after its client is created in Milvus"}
            self.report.plan(result, entry)
        else:
            reason = "the client is not in Milvus yet"
            self.state.mark(KIND, item.key, "pending", reason=reason)
            self.report.add(result, "pending", reason=reason)
        return None

    @staticmethod
    def planned(item: WorkItem, row: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "source": item.source,
            "source_id": item.source_id,
            "tag": TAG_LABELS[item.tag],
            "customer_key": row["customer_key"],
        }

    def lookup(self, marker: str) -> list[dict[str, Any]]:
        """Milvus tickets whose subject carries exactly ``marker``."""
        return [
            t
            for page in self.milvus.iter_tickets({"assunto": marker})
            for t in page
            if marker in subject_markers(t.get("assunto"))
        ]

    def sync(self, item: WorkItem) -> None:
        """Settles one item: its ticket linked, created, planned, or why not."""
        result: dict[str, Any] = {
            "source": item.source,
            "source_id": item.source_id,
            "tag": TAG_LABELS[item.tag],
            "customer_key": None,
            "milvus_token": None,
            "milvus_ticket_id": None,
            "action": None,
            "reason": None,
            "source_created_at": item.created_at,
            "synced_at": datetime.now(UTC),
        }
        row = self.client_row(item, result)
        if row is None:
            return
        result["customer_key"] = row["customer_key"]
        token = self.token(item, row, result)
        if token is None:
            return
        result["milvus_token"] = token
        marker = ticket_marker(item.source, item.source_id)
        if self.dry_run:
            self.report.looked_up(
                result,
                self.lookup(marker),
                ("id", "Milvus tickets"),
                lambda ticket: {"milvus_ticket_id": int_id(ticket.get("id"))},
                self.planned(item, row),
            )
            return
        self.create(item, token, result, marker)

    def create(self, item: WorkItem, token: str, result: dict[str, Any], marker: str) -> None:
        """Creates the item's ticket once (after looking for its marker) and records it."""
        contact = self.contacts.get(int(item.record["ContactId"])) or {}
        payload = ticket_payload(item, token, contact, self.users, self.settings.ticket_desk)

        def create() -> int:
            self.state.mark(KIND, item.key, "creating", milvus_token=payload["cliente_id"])
            return self.milvus.create_ticket(payload)

        action, value, refusal = create_or_refusal(lambda: self.lookup(marker), create)
        if action == "rejected":
            reason = f"Milvus refused the ticket: {refusal}"
            self.state.mark(KIND, item.key, "rejected", reason=reason)
            self.report.add(result, "rejected", reason=reason)
            return
        if isinstance(value, list):
            ticket, reason = single_match(value, "id", "Milvus tickets")
            if ticket is None:
                self.state.mark(KIND, item.key, "ambiguous", reason=reason)
                self.report.add(result, "ambiguous", reason=reason)
                return
            value = ticket.get("id")
        ticket_id = int_id(value)
        self.state.mark(KIND, item.key, action, milvus_ticket_id=ticket_id, milvus_token=token)
        self.report.add(result, action, milvus_ticket_id=ticket_id)

    def run(self, config: CrmSyncConfig) -> Output:
        """Every selected tagged item settled; the table of what was done, and the metadata."""
        context, settings = self.context, self.settings
        cursor = TimeCursor.read(context, config)
        start = settings.start()
        tags = settings.tags(self.ploomes)
        frames = {"task": self.inputs["raw_tasks"], "interaction": self.inputs["raw_interactions"]}
        items, frontier, skipped = [], cursor.cursor, 0
        for item in tagged_items(frames, tags):
            if item.updated_at is not None and (frontier is None or item.updated_at > frontier):
                frontier = item.updated_at
            if item.created_at is None or item.created_at < start:
                skipped += 1
                continue
            items.append(item)
        planned = legacy_plan(self.inputs["legacy"], self.dry_run)[1]
        selected = select_items(items, self.state, cursor, planned)
        self.users = {int(u["Id"]): u for u in self.ploomes.list_users()} if selected else {}
        self.report.counts.update(
            {"candidates": len(selected), "created": 0, "linked": 0, "quarantined": 0,
             "pending": 0, "ambiguous": 0, "rejected": 0, "skipped_before_start_date": skipped}
        )  # fmt: skip
        for item in sorted(selected, key=lambda i: (i.created_at or start, i.key)):
            self.sync(item)
        context.log.info("Milvus tickets sync: %s", self.report.counts)
        labels = {
            label: sorted(i for i, v in tags.items() if v == kind)
            for kind, label in TAG_LABELS.items()
        }
        extra = {
            **cursor.metadata(frontier, self.dry_run),
            "start_date": settings.start_date,
            "tag_ids": MetadataValue.json(labels),
            "quarantine_reasons": MetadataValue.json(self.quarantined),
            **resource_metadata(self.milvus),
        }
        frame = pd.DataFrame(self.report.rows, columns=TICKET_COLUMNS).astype(
            {"source_id": "Int64", "milvus_ticket_id": "Int64"}
        )
        return Output(frame, metadata=self.report.metadata(self.dry_run, extra))
