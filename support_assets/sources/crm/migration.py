"""CRM migration from the old Ploomes → Milvus script: what it already did is recorded in the
sync state before the first sync, so the platform does none of it a second time.

The old script kept, in a MongoDB collection, the CPF/CNPJ of every client it had sent to
Milvus, and opened Milvus tickets for tagged tasks and interactions without any marker (it
relied on a ten-minute window instead). ``marts/crm_legacy_import`` runs once, before the sync
assets of the same run (they take its table as an input), when ``CRM_LEGACY_SENT_COLLECTION``
names that collection:

1. **Sent clients.** Every document of the collection is read (the CPF/CNPJ in
   ``CRM_LEGACY_SENT_FIELD``), normalised and validated, and recorded in ``crm_sync_state`` as
   ``legacy_sent``: the clients sync still links it to the Milvus client its lookup finds, and
   never creates it again when Milvus no longer has it (someone removed it there).
2. **Tickets without a marker.** Each tagged item the sync would consider (created on or after
   ``CRM_SYNC_START_DATE``, no state yet) is matched to a Milvus ticket of the same client
   (token) without a ``[Ploomes …]`` marker, created from ``CLOCK_SKEW`` before the item to
   ``CRM_LEGACY_TICKET_WINDOW_MINUTES`` after it; the nearest wins and each ticket serves one
   item. A match is recorded as ``linked``, so the tickets sync never opens it again.

With ``CRM_SYNC_DRY_RUN`` nothing is written to the state: the table holds the plan
(``would_import``, ``would_link``), which the sync assets' dry runs honour, and the metadata
lists it. A finished import is recorded in the state (``migration:legacy_import``) and later
runs do nothing: a ticket a person opens later without a marker is never taken for an item's.
"""

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    Config,
    ConfigurableResource,
    MetadataValue,
    Output,
    asset,
)
from pydantic import Field

from support_assets.core.identity import Document, PseudonymResource, document_or_reason
from support_assets.core.mongo import MongoDBResource
from support_assets.sources.crm.assets import (
    LEGACY_IMPORT,
    RAW_INTERACTIONS,
    RAW_MILVUS_CLIENTS,
    RAW_MILVUS_TICKETS,
    RAW_TASKS,
    STAGING_CLIENTS,
    mart_asset_kwargs,
)
from support_assets.sources.crm.config import CrmSyncSettings
from support_assets.sources.crm.matching import staging_rows
from support_assets.sources.crm.ploomes import PloomesResource
from support_assets.sources.crm.sync_state import LEGACY_SENT, SyncState
from support_assets.sources.crm.ticket_items import MARKER_PATTERN, tagged_items
from support_assets.sources.crm.times import timestamp

#: The state document that says the import ran.
MIGRATION_STATE_ID = "migration:legacy_import"
LEGACY_COLUMNS = [
    "kind", "key", "action", "milvus_ticket_id", "source_created_at", "ticket_created_at",
    "imported_at",
]  # fmt: skip
#: How long before its Ploomes item a ticket of the old script may have been created (clocks).
CLOCK_SKEW = timedelta(minutes=5)
#: Plan entries listed in the metadata (the table has them all).
PLAN_SAMPLE = 100


class CrmLegacySettings(ConfigurableResource):
    """Where the old script's state is (``CRM_LEGACY_*``); unset collection: no migration."""

    sent_collection: str | None = Field(
        default=None, description="The old script's collection of sent client documents."
    )
    sent_field: str = Field(default="cnpj_cpf", description="Field holding the CPF/CNPJ.")
    mongodb_uri: str | None = Field(
        default=None,
        description="MongoDB of the old script (secret, as EnvVar); unset: the documents store.",
    )
    mongodb_database: str | None = Field(
        default=None, description="Its database; unset: the documents store's database."
    )
    ticket_window_minutes: int = Field(
        default=60, ge=1, description="How long after an item its old ticket may be."
    )

    @property
    def enabled(self) -> bool:
        return bool(self.sent_collection)

    def database(self, documents: MongoDBResource) -> Any:
        if not self.mongodb_uri:
            return documents.get_client()[self.mongodb_database or documents.database]
        database = self.mongodb_database or documents.database
        return MongoDBResource(uri=self.mongodb_uri, database=database).get_database()


class CrmLegacyConfig(Config):
    reimport: bool = Field(
        default=False, description="Run the import again although it ran already."
    )


# Sent clients --------------------------------------------------------------------------------


def sent_documents(
    docs: Iterable[Mapping[str, Any]], field: str
) -> tuple[dict[str, Document], dict[str, int]]:
    """The valid documents of the old collection by number, and counts (read, invalid, without
    the field). A collection whose documents all lack ``field`` is not understood: that fails,
    naming the keys seen (never values)."""
    found: dict[str, Document] = {}
    counts = Counter({"read": 0, "invalid": 0, "without_field": 0})
    keys: Counter[str] = Counter()
    for doc in docs:
        counts["read"] += 1
        value = doc.get(field)
        if value in (None, ""):
            counts["without_field"] += 1
            keys.update(str(k) for k in doc)
            continue
        document, _ = document_or_reason(str(value))
        if document is None:
            counts["invalid"] += 1
            continue
        found[document.number] = document
    if counts["read"] and counts["without_field"] == counts["read"]:
        raise ValueError(
            f"none of the {counts['read']} documents of the old sent collection has the field "
            f"{field!r} (CRM_LEGACY_SENT_FIELD); keys seen: {sorted(keys)}"
        )
    return found, dict(counts)


# Tickets without a marker --------------------------------------------------------------------


@dataclass(frozen=True)
class LegacyItem:
    source: str
    source_id: int
    tokens: frozenset[str]  # every Milvus client of the item's client (duplicates included)
    created_at: datetime

    @property
    def key(self) -> str:
        return f"{self.source}:{self.source_id}"


def match_legacy_tickets(
    items: list[LegacyItem], tickets: list[dict[str, Any]], window: timedelta
) -> list[tuple[LegacyItem, dict[str, Any]]]:
    """Each item with the nearest unused ticket of its client created in
    ``[item - CLOCK_SKEW, item + window]``; items in creation order, so an earlier item never
    loses its own ticket to a later one."""
    by_token: dict[str, list[dict[str, Any]]] = {}
    for ticket in tickets:
        by_token.setdefault(ticket["token"], []).append(ticket)
    used: set[int] = set()
    matches = []
    for item in sorted(items, key=lambda i: (i.created_at, i.key)):
        low, high = item.created_at - CLOCK_SKEW, item.created_at + window
        near = [
            t
            for token in sorted(item.tokens)
            for t in by_token.get(token, [])
            if t["id"] not in used and low <= t["created_at"] <= high
        ]
        if near:
            best = min(near, key=lambda t: (abs(t["created_at"] - item.created_at), t["id"]))
            used.add(best["id"])
            matches.append((item, best))
    return matches


def unmarked_tickets(raw_tickets: pd.DataFrame, taken: set[int]) -> list[dict[str, Any]]:
    """Milvus tickets without a ``[Ploomes …]`` marker that no synced item holds."""
    if raw_tickets is None or raw_tickets.empty:
        return []
    out = []
    for row in raw_tickets.to_dict("records"):
        created = timestamp(row.get("created_at"))
        token = row.get("cliente_token")
        if created is None or not isinstance(token, str) or int(row["id"]) in taken:
            continue
        if MARKER_PATTERN.search(str(row.get("assunto") or "")):
            continue
        out.append({"id": int(row["id"]), "token": token, "created_at": created})
    return out


def candidate_items(
    frames: Mapping[str, pd.DataFrame],
    tags: Mapping[int, str],
    start: datetime,
    tokens_by_contact: Mapping[int, frozenset[str]],
) -> list[LegacyItem]:
    """Tagged tasks and interactions the sync would turn into tickets, with their client's
    Milvus token (items of clients not in Milvus could have no old ticket)."""
    items = []
    for item in tagged_items(frames, tags):
        contact = item.record.get("ContactId")
        if item.created_at is None or item.created_at < start or contact is None:
            continue
        tokens = tokens_by_contact.get(int(contact))
        if tokens:
            items.append(LegacyItem(item.source, item.source_id, tokens, item.created_at))
    return items


# The asset -----------------------------------------------------------------------------------


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=LEGACY_COLUMNS)
    for column in ("source_created_at", "ticket_created_at", "imported_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame.astype({"milvus_ticket_id": "Int64", "kind": "string", "key": "string"})


def _import_sent(
    legacy: CrmLegacySettings,
    documents: MongoDBResource,
    state: SyncState,
    pseudonym: PseudonymResource,
    dry_run: bool,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    collection = legacy.database(documents)[legacy.sent_collection]
    sent, counts = sent_documents(collection.find({}), legacy.sent_field)
    known = state.get([f"milvus_client:{number}" for number in sent])
    rows, now = [], datetime.now(UTC)
    for number, document in sorted(sent.items()):
        doc = known.get(f"milvus_client:{number}")
        if doc is not None and doc.get("status") in ("created", "linked", LEGACY_SENT):
            continue
        if not dry_run:
            state.mark("milvus_client", number, LEGACY_SENT, source="legacy sent collection")
        rows.append(
            {
                "kind": "client",
                "key": pseudonym.customer_key(document),
                "action": "would_import" if dry_run else "imported",
                "imported_at": now,
            }
        )
    return rows, counts


def _link_tickets(
    context: AssetExecutionContext,
    inputs: Mapping[str, pd.DataFrame],
    state: SyncState,
    ploomes: PloomesResource,
    crm_settings: CrmSyncSettings,
    legacy: CrmLegacySettings,
) -> tuple[list[dict[str, Any]], int]:
    synced = list(state.collection.find({"kind": "milvus_ticket"}))
    done = {d["key"] for d in synced if d.get("status") in ("created", "linked")}
    taken = {int(d["milvus_ticket_id"]) for d in synced if d.get("milvus_ticket_id") is not None}
    token_of = {}
    clients = inputs["raw_milvus_clients"]
    if clients is not None and not clients.empty:
        token_of = {int(r["id"]): r["token"] for r in clients.to_dict("records") if r["token"]}
    tokens_by_contact: dict[int, frozenset[str]] = {}
    for row in staging_rows(inputs["staging"]):
        ids = json.loads(row["milvus_client_ids"] or "[]")
        tokens = frozenset(token_of[i] for i in ids if i in token_of)
        tokens |= {row["milvus_token"]} if row["milvus_token"] else set()
        for contact_id in json.loads(row["ploomes_contact_ids"] or "[]"):
            if tokens:
                tokens_by_contact[int(contact_id)] = tokens
    frames = {"task": inputs["raw_tasks"], "interaction": inputs["raw_interactions"]}
    items = [
        i
        for i in candidate_items(
            frames, crm_settings.tags(ploomes), crm_settings.start(), tokens_by_contact
        )
        if i.key not in done
    ]
    tickets = unmarked_tickets(inputs["raw_milvus_tickets"], taken)
    window = timedelta(minutes=legacy.ticket_window_minutes)
    rows, now = [], datetime.now(UTC)
    for item, ticket in match_legacy_tickets(items, tickets, window):
        if not crm_settings.dry_run:
            state.mark(
                "milvus_ticket",
                item.key,
                "linked",
                milvus_ticket_id=ticket["id"],
                milvus_token=ticket["token"],
                matched_by="legacy import: client and creation time",
            )
        rows.append(
            {
                "kind": "ticket",
                "key": item.key,
                "action": "would_link" if crm_settings.dry_run else "linked",
                "milvus_ticket_id": ticket["id"],
                "source_created_at": item.created_at,
                "ticket_created_at": ticket["created_at"],
                "imported_at": now,
            }
        )
    context.log.info(
        "legacy tickets: %d of %d candidate items matched among %d unmarked tickets",
        len(rows),
        len(items),
        len(tickets),
    )
    return rows, len(items) - len(rows)


@asset(
    **mart_asset_kwargs(
        LEGACY_IMPORT,
        {
            "staging": AssetIn(STAGING_CLIENTS),
            "raw_tasks": AssetIn(RAW_TASKS),
            "raw_interactions": AssetIn(RAW_INTERACTIONS),
            "raw_milvus_tickets": AssetIn(RAW_MILVUS_TICKETS),
            "raw_milvus_clients": AssetIn(RAW_MILVUS_CLIENTS),
        },
        ["kind", "key"],
        (
            "Once, before the first sync, when CRM_LEGACY_SENT_COLLECTION is set: imports the old "
            "script's sent clients into crm_sync_state (never created again) and links the Milvus "
            "tickets it opened without a marker to their Ploomes items by client and creation "
            "time (CRM_LEGACY_TICKET_WINDOW_MINUTES), so no item gets a second ticket. One row per "
            "imported client (customer_key) or linked item; under CRM_SYNC_DRY_RUN the plan "
            "(would_import, would_link), nothing written to the state."
        ),
        kinds=frozenset({"python", "mongodb"}),
    )
)
def crm_legacy_import(
    context: AssetExecutionContext,
    config: CrmLegacyConfig,
    staging: pd.DataFrame,
    raw_tasks: pd.DataFrame,
    raw_interactions: pd.DataFrame,
    raw_milvus_tickets: pd.DataFrame,
    raw_milvus_clients: pd.DataFrame,
    ploomes: PloomesResource,
    documents: MongoDBResource,
    pseudonym: PseudonymResource,
    crm_settings: CrmSyncSettings,
    crm_legacy: CrmLegacySettings,
) -> Output:
    if not crm_legacy.enabled:
        return Output(_frame([]), metadata={"enabled": False})
    state = SyncState(documents, context.run_id)
    done = state.collection.find_one({"_id": MIGRATION_STATE_ID})
    if done is not None and not config.reimport:
        context.log.info("the legacy import ran already (%s)", done.get("updated_at"))
        return Output(
            _frame([]),
            metadata={"enabled": True, "already_imported_at": str(done.get("updated_at"))},
        )
    dry_run = crm_settings.dry_run
    clients, sent_counts = _import_sent(crm_legacy, documents, state, pseudonym, dry_run)
    inputs = {
        "staging": staging,
        "raw_tasks": raw_tasks,
        "raw_interactions": raw_interactions,
        "raw_milvus_tickets": raw_milvus_tickets,
        "raw_milvus_clients": raw_milvus_clients,
    }
    tickets, unmatched = _link_tickets(context, inputs, state, ploomes, crm_settings, crm_legacy)
    counts = {
        "sent_documents_read": sent_counts["read"],
        "sent_documents_invalid": sent_counts["invalid"],
        "sent_documents_without_field": sent_counts["without_field"],
        "clients_imported": len(clients),
        "tickets_linked": len(tickets),
        "items_without_old_ticket": unmatched,
    }
    if not dry_run:
        state.mark("migration", "legacy_import", "done", **counts)
    plan = [
        {"source": r["key"].split(":")[0], "source_id": int(r["key"].split(":")[1]),
         "milvus_ticket_id": r["milvus_ticket_id"]}
        for r in tickets[:PLAN_SAMPLE]
    ]  # fmt: skip
    context.log.info("legacy import%s: %s", " (dry run)" if dry_run else "", counts)
    return Output(
        _frame(clients + tickets),
        metadata={
            "enabled": True,
            "dry_run": dry_run,
            **counts,
            "tickets_plan": MetadataValue.json(plan),
        },
    )
