"""CRM: clients matched between Ploomes and Milvus by CPF/CNPJ, kept in both, and Ploomes tasks
and interactions tagged INSTALAÇÃO or ENTREGA turned into Milvus tickets — with no duplicates.

The graph (group ``crm``)::

    raw/ploomes_contacts ─┬─▶ staging/crm_clients ─┬─▶ marts/crm_milvus_clients_sync ─┐
    raw/milvus_clients ───┘   (+ _quarantine)      ├─▶ marts/crm_ploomes_contacts_sync │
                                                   └───────────────────────────────────┴─▶
    raw/ploomes_tasks, raw/ploomes_interactions ──────────────▶ marts/crm_milvus_tickets_sync
    raw/milvus_tickets: Milvus's tickets as they are (a check reads it for duplicates)

The sync assets act on the APIs; what they store is the record of what they did (one row per
client or item: created, linked, would_create, rejected, pending, quarantined), a mart for
whoever audits the sync. The authoritative sync state is in MongoDB.

How duplicates are ruled out, in the order the code applies it:

1. **Every page.** Milvus lists 1000 clients a request; ``raw/milvus_clients`` reads every page
   (active and blocked clients), and documents are compared normalised (``identity``), so a
   client stored as ``1234567890`` in Milvus and ``012.345.678-90`` in Ploomes is one client.
2. **Look up before creating.** Right before any create, the target is searched for the record
   (Milvus ``cliente/busca`` by document with and without leading zeros; Ploomes ``Contacts``
   by CPF/CNPJ; Milvus tickets by the marker ``[Ploomes tarefa <id>]`` in the subject). A run
   killed between a create and its state write, or a re-execution that only re-runs a sync step
   on stale listings, finds what was created and records it instead of creating it again. A
   lookup's result counts only if its normalised document (or exact marker) equals the one
   searched — a tenant that ignores the filter answers unrelated records — and several matches
   are reported as ``ambiguous``, never resolved by taking the smallest id (``crm_verify``).
   After a create, the stored document is read back; a mismatch marks the record ``failed``
   with the reason (metadata ``failures``) and leaves it to a person.
3. **Intent, then result, in MongoDB.** The sync state (``crm_sync_state`` in the documents
   store) records ``creating`` before a create and ``created`` with the target's ids after it;
   an item left ``creating`` is looked up again on the next run.
4. **Creates are sent once.** A create whose answer was lost is never re-sent blindly: only a
   429 (refused before anything happened) is retried; any other failure triggers a lookup.

Selection is by cursors the platform keeps in each sync asset's materialization metadata (only
successful runs write one): Ploomes contacts, tasks and interactions changed at or after the
last cursor (minus a lookback), plus every item the state still holds as pending. A late or
failed run therefore catches up with everything since the last good one; nothing depends on a
wall-clock window. Milvus exposes no change time for clients, so its side uses the client id
(ids only grow) as its cursor. Tasks and interactions created before ``CRM_SYNC_START_DATE``
are never synced; clients are (a ticket needs its client, and every valid client must exist in
both). With ``CRM_SYNC_DRY_RUN`` the sync assets look things up and report in their metadata
what they would create, call no create endpoint, and leave their cursors where they were.

This module holds the asset keys and definitions; the logic is beside it: ``extraction`` (the raw
tables), ``matching`` (clients by document: staging), ``sync_state`` (the state store, the
idempotent create and a run's report), ``cursors``, ``client_sync`` (one algorithm for both
client directions), ``ticket_items``, ``payloads`` and ``ticket_sync`` (the tickets),
``migration`` (the legacy import) and ``resources`` (settings → resources). The helpers the
analytics marts and the checks read as ``crm.<name>`` (``ploomes_contact_document``,
``milvus_client_document``, ``duplicate_sync_markers``) are re-exported here.
"""

from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetOut,
    AssetsDefinition,
    Output,
    asset,
    multi_asset,
)

from support_assets.core.constants import OWNERS, WAREHOUSE
from support_assets.core.identity import PseudonymResource
from support_assets.core.mongo import MongoDBResource
from support_assets.core.records import QUARANTINE_METADATA, quarantine_frame
from support_assets.io_managers.base import TableStream
from support_assets.sources.crm.client_sync import MilvusClients, PloomesContacts, run_client_sync
from support_assets.sources.crm.config import CrmRawConfig, CrmSyncConfig, CrmSyncSettings
from support_assets.sources.crm.cursors import IdCursor, TimeCursor
from support_assets.sources.crm.extraction import (
    MILVUS_CLIENT_COLUMNS,
    MILVUS_TICKET_COLUMNS,
    contact_row,
    interaction_row,
    milvus_client_row,
    milvus_frames,
    milvus_ticket_row,
    ploomes_raw,
    task_row,
)
from support_assets.sources.crm.http import SourceTotal
from support_assets.sources.crm.matching import build_staging_clients, quarantine_metadata
from support_assets.sources.crm.matching import ploomes_contact_document as ploomes_contact_document
from support_assets.sources.crm.milvus import MilvusResource
from support_assets.sources.crm.milvus import milvus_client_document as milvus_client_document
from support_assets.sources.crm.ploomes import PloomesResource
from support_assets.sources.crm.sync_state import SyncState
from support_assets.sources.crm.ticket_items import (
    duplicate_sync_markers as duplicate_sync_markers,
)
from support_assets.sources.crm.ticket_sync import TicketSync

GROUP = "crm"

RAW_CONTACTS = AssetKey(["raw", "ploomes_contacts"])
RAW_TASKS = AssetKey(["raw", "ploomes_tasks"])
RAW_INTERACTIONS = AssetKey(["raw", "ploomes_interactions"])
RAW_MILVUS_CLIENTS = AssetKey(["raw", "milvus_clients"])
RAW_MILVUS_TICKETS = AssetKey(["raw", "milvus_tickets"])
STAGING_CLIENTS = AssetKey(["staging", "crm_clients"])
STAGING_QUARANTINE = AssetKey(["staging", "crm_clients_quarantine"])
SYNC_MILVUS_CLIENTS = AssetKey(["marts", "crm_milvus_clients_sync"])
SYNC_PLOOMES_CONTACTS = AssetKey(["marts", "crm_ploomes_contacts_sync"])
SYNC_MILVUS_TICKETS = AssetKey(["marts", "crm_milvus_tickets_sync"])
#: The one-time import of the old script's state (``crm_migration``), read by the syncs.
LEGACY_IMPORT = AssetKey(["marts", "crm_legacy_import"])


def _raw_asset_kwargs(
    key: AssetKey, description: str, source: str, write_mode: str = "merge"
) -> dict[str, Any]:
    """The ``@asset`` arguments of a raw CRM table, keyed on the source's ``id``."""
    return {
        "key": key,
        "group_name": GROUP,
        "io_manager_key": WAREHOUSE,
        "metadata": {"write_mode": write_mode, "primary_key": ["id"]},
        "owners": OWNERS,
        "kinds": {"python", "duckdb"},
        "tags": {"layer": "raw", "source": source},
        "description": description,
    }


def mart_asset_kwargs(
    key: AssetKey,
    ins: dict[str, AssetIn],
    primary_key: list[str],
    description: str,
    kinds: frozenset[str] = frozenset({"python", "duckdb"}),
) -> dict[str, Any]:
    """The ``@asset`` arguments of a CRM mart: what a sync (or the legacy import) did, merged
    on ``primary_key``."""
    return {
        "key": key,
        "group_name": GROUP,
        "io_manager_key": WAREHOUSE,
        "ins": ins,
        "metadata": {"write_mode": "merge", "primary_key": primary_key},
        "owners": OWNERS,
        "kinds": set(kinds),
        "tags": {"layer": "marts", "source": "crm"},
        "description": description,
    }


def _ploomes_asset(
    key: AssetKey, entity: str, to_row: Callable[[dict[str, Any]], dict[str, Any]], description: str
) -> AssetsDefinition:
    """A raw asset of one Ploomes entity set, read incrementally and merged on id."""

    @asset(**_raw_asset_kwargs(key, description, "ploomes"))
    def ploomes_entity(
        context: AssetExecutionContext, config: CrmRawConfig, ploomes: PloomesResource
    ) -> Output:
        return ploomes_raw(context, config, ploomes, key, entity, to_row)

    return ploomes_entity


ploomes_contacts = _ploomes_asset(
    RAW_CONTACTS,
    "Contacts",
    contact_row,
    "Ploomes contacts (clients) as received: id, type, name, CPF and CNPJ exactly as typed, "
    "e-mail, integration key, created/updated in UTC and the full record (with Phones and "
    "OtherProperties) as JSON. Incremental on LastUpdateDate from the last high-water mark "
    "minus a lookback; merged on id.",
)
ploomes_tasks = _ploomes_asset(
    RAW_TASKS,
    "Tasks",
    task_row,
    "Ploomes tasks as received: id, contact, owner, title, finished, tag ids (numeric, "
    "from $expand=Tags), created/updated in UTC and the full record as JSON. Incremental on "
    "LastUpdateDate; merged on id.",
)
ploomes_interactions = _ploomes_asset(
    RAW_INTERACTIONS,
    "InteractionRecords",
    interaction_row,
    "Ploomes interaction records as received: id, contact, creator, type, tag ids, "
    "created/updated in UTC and the full record as JSON. Incremental on LastUpdateDate; "
    "merged on id.",
)


def _milvus_asset(
    key: AssetKey,
    listing: str,
    pages: Callable[[MilvusResource, SourceTotal], Iterator[list[dict[str, Any]]]],
    to_row: Callable[[dict[str, Any]], dict[str, Any]],
    columns: list[str],
    description: str,
) -> AssetsDefinition:
    """A raw asset of one Milvus listing, read whole (every page) and replaced each run."""

    @asset(**_raw_asset_kwargs(key, description, "milvus", write_mode="replace"))
    def milvus_listing(milvus: MilvusResource) -> Output:
        metadata: dict[str, Any] = {}
        totals = SourceTotal(f"Milvus {listing}")
        frames = milvus_frames(pages(milvus, totals), to_row, columns, metadata, milvus, totals)
        return Output(TableStream(frames, metadata))

    return milvus_listing


milvus_clients = _milvus_asset(
    RAW_MILVUS_CLIENTS,
    "cliente/busca",
    lambda milvus, totals: milvus.iter_clients(totals),
    milvus_client_row,
    MILVUS_CLIENT_COLUMNS,
    "Every Milvus client, active and blocked, from every page of cliente/busca (1000 a "
    "page): id, token (what tickets are opened for), cnpj_cpf as stored, is_fisica, "
    "is_ativo, names and the full record as JSON. Replaced each run, so it is Milvus as "
    "it is now.",
)
milvus_tickets = _milvus_asset(
    RAW_MILVUS_TICKETS,
    "chamado/listagem",
    lambda milvus, totals: milvus.iter_tickets(totals=totals),
    milvus_ticket_row,
    MILVUS_TICKET_COLUMNS,
    "Every Milvus ticket from every page of chamado/listagem (1000 a page, oldest code "
    "first): id, code, client token, subject, status, technician, created/modified/solved "
    "in UTC (Milvus answers São Paulo wall time) and the full record as JSON. Replaced each "
    "run: the API filters only on creation and solution time, so a status change would "
    "be invisible to an incremental read.",
)


@multi_asset(
    name="crm_clients",
    group_name=GROUP,
    ins={
        "raw_contacts": AssetIn(RAW_CONTACTS),
        "raw_clients": AssetIn(RAW_MILVUS_CLIENTS),
    },
    outs={
        "clients": AssetOut(
            key=STAGING_CLIENTS,
            io_manager_key=WAREHOUSE,
            metadata={"write_mode": "replace", "primary_key": ["customer_key"]},
            owners=OWNERS,
            kinds={"duckdb", "pandas"},
            tags={"layer": "staging", "source": "crm"},
            description=(
                "One row per real client, matched between Ploomes and Milvus by CPF/CNPJ "
                "normalised and validated with python-stdnum (alphanumeric CNPJ included; person "
                "or company decided by which validator accepts the document): the pseudonymous "
                "customer_key instead of the document, its type, whether it is in each system, the "
                "canonical Ploomes contact id and Milvus client id and token (active client "
                "first, then the oldest) and every id each system holds for it (duplicates). "
                "Rebuilt from the raw tables each run; clients the sync creates appear on the "
                "next run (and at once in the marts/crm_*_sync tables)."
            ),
        ),
        "quarantine": AssetOut(
            key=STAGING_QUARANTINE,
            io_manager_key=WAREHOUSE,
            metadata=QUARANTINE_METADATA,
            owners=OWNERS,
            kinds={"duckdb"},
            tags={"layer": "staging", "source": "crm"},
            is_required=False,
            description=(
                "Ploomes contacts and Milvus clients whose document no validator accepts, with "
                "the reason (check digits, length, repeated digits, missing, letters where "
                "digits go) and the original record; never sent to the other system. One row "
                "per distinct payload."
            ),
        ),
    },
    can_subset=False,
)
def crm_clients(
    context: AssetExecutionContext,
    raw_contacts: pd.DataFrame,
    raw_clients: pd.DataFrame,
    pseudonym: PseudonymResource,
) -> Iterator[Output]:
    frame, quarantine, _ = build_staging_clients(raw_contacts, raw_clients, pseudonym)
    summary = {
        "clients": len(frame),
        "in_both": int((frame["in_ploomes"] & frame["in_milvus"]).sum()) if len(frame) else 0,
        "only_in_ploomes": int((frame["in_ploomes"] & ~frame["in_milvus"]).sum())
        if len(frame)
        else 0,
        "only_in_milvus": int((~frame["in_ploomes"] & frame["in_milvus"]).sum())
        if len(frame)
        else 0,
        **quarantine_metadata(quarantine),
    }
    if quarantine:
        context.log.warning("%d client record(s) quarantined: invalid document", len(quarantine))
    yield Output(frame, output_name="clients", metadata=summary)
    yield Output(
        quarantine_frame(quarantine),
        output_name="quarantine",
        metadata=quarantine_metadata(quarantine),
    )


@asset(
    **mart_asset_kwargs(
        SYNC_MILVUS_CLIENTS,
        {
            "staging": AssetIn(STAGING_CLIENTS),
            "raw_contacts": AssetIn(RAW_CONTACTS),
            "legacy": AssetIn(LEGACY_IMPORT),
        },
        ["customer_key"],
        (
            "Creates in Milvus every valid client that is in Ploomes and not in Milvus (every page "
            "read), after looking it up by document there; selected by a cursor on the contacts' "
            "LastUpdateDate kept in this asset's metadata, plus what the sync state still holds "
            "as pending. The table records what the sync did per client (created, linked to an "
            "existing Milvus client, would_create in dry-run, rejected, skipped when the previous "
            "integration had sent it and Milvus no longer has it) with Milvus's id and token; the "
            "state lives in MongoDB (crm_sync_state)."
        ),
    )
)
def crm_milvus_clients_sync(
    context: AssetExecutionContext,
    config: CrmSyncConfig,
    staging: pd.DataFrame,
    raw_contacts: pd.DataFrame,
    legacy: pd.DataFrame,
    milvus: MilvusResource,
    documents: MongoDBResource,
    crm_settings: CrmSyncSettings,
    pseudonym: PseudonymResource,
) -> Output:
    state = SyncState(documents, context.run_id)
    sent = MilvusClients.legacy_sent(state, legacy, crm_settings.dry_run)
    side = MilvusClients(TimeCursor.read(context, config), raw_contacts, milvus, pseudonym, sent)
    return run_client_sync(context, side, state, staging, crm_settings.dry_run)


@asset(
    **mart_asset_kwargs(
        SYNC_PLOOMES_CONTACTS,
        {"staging": AssetIn(STAGING_CLIENTS), "raw_clients": AssetIn(RAW_MILVUS_CLIENTS)},
        ["customer_key"],
        (
            "Creates in Ploomes every valid client that is in Milvus and not in Ploomes, after "
            "looking it up by CPF/CNPJ there. Milvus gives no change time for clients, so the "
            "cursor is the highest Milvus client id already considered (ids only grow), plus what "
            "the sync state holds as pending. The table records per client what was done "
            "(created, linked, would_create, rejected) and the Ploomes contact id."
        ),
    )
)
def crm_ploomes_contacts_sync(
    context: AssetExecutionContext,
    config: CrmSyncConfig,
    staging: pd.DataFrame,
    raw_clients: pd.DataFrame,
    ploomes: PloomesResource,
    documents: MongoDBResource,
    crm_settings: CrmSyncSettings,
    pseudonym: PseudonymResource,
) -> Output:
    state = SyncState(documents, context.run_id)
    side = PloomesContacts(IdCursor.read(context, config), raw_clients, ploomes, pseudonym)
    return run_client_sync(context, side, state, staging, crm_settings.dry_run)


@asset(
    **mart_asset_kwargs(
        SYNC_MILVUS_TICKETS,
        {
            "staging": AssetIn(STAGING_CLIENTS),
            "raw_contacts": AssetIn(RAW_CONTACTS),
            "raw_tasks": AssetIn(RAW_TASKS),
            "raw_interactions": AssetIn(RAW_INTERACTIONS),
            "clients_sync": AssetIn(SYNC_MILVUS_CLIENTS),
            "legacy": AssetIn(LEGACY_IMPORT),
        },
        ["source", "source_id"],
        (
            "Opens one Milvus ticket per Ploomes task or interaction tagged INSTALAÇÃO or ENTREGA "
            "(tag ids are settings) created on or after CRM_SYNC_START_DATE, for the client's "
            "token, after looking for a ticket whose subject carries the item's marker "
            "([Ploomes tarefa <id>]). Selected by a cursor on LastUpdateDate kept in this asset's "
            "metadata plus what the state holds as pending; items whose client has an invalid "
            "document are quarantined with the reason. The table records per item what was done."
        ),
    )
)
def crm_milvus_tickets_sync(
    context: AssetExecutionContext,
    config: CrmSyncConfig,
    staging: pd.DataFrame,
    raw_contacts: pd.DataFrame,
    raw_tasks: pd.DataFrame,
    raw_interactions: pd.DataFrame,
    clients_sync: pd.DataFrame,
    legacy: pd.DataFrame,
    milvus: MilvusResource,
    ploomes: PloomesResource,
    documents: MongoDBResource,
    crm_settings: CrmSyncSettings,
    pseudonym: PseudonymResource,
) -> Output:
    inputs = {
        "staging": staging,
        "raw_contacts": raw_contacts,
        "raw_tasks": raw_tasks,
        "raw_interactions": raw_interactions,
        "clients_sync": clients_sync,
        "legacy": legacy,
    }
    run = TicketSync(context, documents, inputs, (milvus, ploomes, crm_settings, pseudonym))
    return run.run(config)


CRM_ASSETS = [
    ploomes_contacts,
    ploomes_tasks,
    ploomes_interactions,
    milvus_clients,
    milvus_tickets,
    crm_clients,
    crm_milvus_clients_sync,
    crm_ploomes_contacts_sync,
    crm_milvus_tickets_sync,
]
