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
"""

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetOut,
    Config,
    ConfigurableResource,
    EnvVar,
    MetadataValue,
    Output,
    asset,
    multi_asset,
)
from pydantic import Field

from support_assets.core.http_errors import HttpError
from support_assets.core.identity import (
    Document,
    PseudonymResource,
    document_or_reason,
)
from support_assets.core.mongo import MongoDBResource
from support_assets.core.records import (
    QUARANTINE_METADATA,
    InvalidRecord,
    cap_high_water_mark,
    last_materialization_value,
    parse_iso_utc,
    quarantine_frame,
    quarantine_row,
    to_json,
)
from support_assets.io_managers.base import TableStream
from support_assets.sources.crm.http import CreateOutcomeUnknown, SourceTotal
from support_assets.sources.crm.milvus import (
    MilvusResource,
    document_for_milvus,
    milvus_client_document,
)
from support_assets.sources.crm.ploomes import TYPE_COMPANY, TYPE_PERSON, PloomesResource
from support_assets.sources.crm.verify import (
    int_id,
    milvus_created_client,
    ploomes_created_contact,
    single_match,
)

GROUP = "crm"
OWNERS = ["team:data-platform"]
WAREHOUSE = "warehouse_io_manager"
SAO_PAULO = ZoneInfo("America/Sao_Paulo")

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
LEGACY_COLUMNS = [
    "kind", "key", "action", "milvus_ticket_id", "source_created_at", "ticket_created_at",
    "imported_at",
]  # fmt: skip
#: State of a client the old script sent: linked when Milvus has it, never created again.
LEGACY_SENT = "legacy_sent"
LEGACY_SKIP_REASON = (
    "the previous integration sent this client (legacy sent-state) and Milvus no longer has it"
)
#: The documents-store collection of the sync state.
STATE_COLLECTION = "crm_sync_state"
#: States an item is looked at again on every run, whatever the cursors say (a quarantined
#: ticket is re-checked locally: its client's document may have been fixed).
RETRY_STATES = ("pending", "creating", "quarantined")
#: What a sync does per record (counted in its metadata): ``ambiguous`` when several target
#: records match one lookup, ``failed`` when a created record's document read back differs.
OUTCOMES = ("created", "linked", "rejected", "ambiguous", "failed")
#: How many times a create whose outcome was lost is looked up and tried again.
CREATE_ATTEMPTS = 3
TICKET_CATEGORIES = {"installation": "Instalação", "delivery": "Entrega"}
TAG_LABELS = {"installation": "INSTALAÇÃO", "delivery": "ENTREGA"}
#: The setting that gives each tag's id when its name is not looked up.
TAG_SETTINGS = {"installation": "PLOOMES_TAG_INSTALACAO_ID", "delivery": "PLOOMES_TAG_ENTREGA_ID"}


class CrmSyncSettings(ConfigurableResource):
    """Deployment settings of the sync (``CRM_*``, ``PLOOMES_TAG_*``, ``MILVUS_TICKET_DESK``)."""

    dry_run: bool = Field(default=False, description="Report what would be created; create none.")
    start_date: str = Field(
        default="2024-02-24",
        description="Tasks and interactions created before this São Paulo date are not synced.",
    )
    installation_tag_id: int | None = Field(
        default=None, description="Ploomes tag id of INSTALAÇÃO; None: looked up by its name."
    )
    delivery_tag_id: int | None = Field(
        default=None, description="Ploomes tag id of ENTREGA; None: looked up by its name."
    )
    ticket_desk: str = Field(default="Mesa padrão", description="Milvus desk of new tickets.")

    def start(self) -> datetime:
        return datetime.combine(date.fromisoformat(self.start_date), datetime.min.time()).replace(
            tzinfo=SAO_PAULO
        )

    def tags(self, ploomes: PloomesResource) -> dict[int, str]:
        """Tag id → ``installation`` or ``delivery``: the ids the settings give, else every tag
        Ploomes lists under the name (``INSTALAÇÃO``, ``ENTREGA``, accents and case aside).
        A tag neither set nor found fails the run naming its setting."""
        configured = {"installation": self.installation_tag_id, "delivery": self.delivery_tag_id}
        tags: dict[int, str] = {}
        for kind, tag_id in configured.items():
            ids = [tag_id] if tag_id is not None else ploomes.find_tag_ids(TAG_LABELS[kind])
            if not ids:
                raise ValueError(
                    f"{TAG_SETTINGS[kind]} is not set and Ploomes lists no tag named "
                    f"{TAG_LABELS[kind]}: set {TAG_SETTINGS[kind]} to the id of the tag whose "
                    "tasks and interactions become Milvus tickets"
                )
            clash = [i for i in ids if i in tags]
            if clash:
                raise ValueError(
                    f"tag id(s) {clash} stand for both INSTALAÇÃO and ENTREGA: check "
                    f"{TAG_SETTINGS['installation']} and {TAG_SETTINGS['delivery']}"
                )
            tags.update(dict.fromkeys(ids, kind))
        return tags


class CrmRawConfig(Config):
    """How much of Ploomes to read: changes since the last high-water mark, or everything."""

    full_refresh: bool = Field(default=False, description="Ignore the high-water mark.")
    lookback_minutes: int = Field(
        default=10, ge=0, description="Re-read this far behind the high-water mark."
    )


class CrmSyncConfig(Config):
    """How far behind its cursor a sync asset looks again (the state makes re-reads harmless)."""

    lookback_minutes: int = Field(default=60, ge=0)
    full_resync: bool = Field(
        default=False, description="Ignore the cursor: consider every record (still no duplicate)."
    )


# Time ------------------------------------------------------------------------------------------


def parse_milvus_time(value: Any, field_name: str) -> datetime | None:
    """Milvus's São Paulo wall time ``YYYY-MM-DD HH:MM:SS`` as UTC; None when empty."""
    if value in (None, ""):
        return None
    try:
        naive = datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise InvalidRecord(f"{field_name} is not YYYY-MM-DD HH:MM:SS: {value!r}") from None
    return naive.replace(tzinfo=SAO_PAULO).astimezone(UTC)


def _optional_time(value: Any, field_name: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return parse_iso_utc(value, field_name)
    except InvalidRecord:
        return None


def _timestamp(value: Any) -> datetime | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return pd.Timestamp(value).to_pydatetime().astimezone(UTC)


def _cursor_value(instance: Any, key: AssetKey, name: str = "cursor") -> str | None:
    value = last_materialization_value(instance, key, name)
    return value or None


# Raw: Ploomes ----------------------------------------------------------------------------------


def _tag_ids(record: dict[str, Any]) -> list[int]:
    ids = []
    for tag in record.get("Tags") or []:
        value = tag.get("TagId") if isinstance(tag, dict) else tag
        try:
            ids.append(int(value))
        except (TypeError, ValueError):
            continue
    return sorted(set(ids))


def _contact_row(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": int(record["Id"]),
        "type_id": record.get("TypeId"),
        "name": record.get("Name"),
        "legal_name": record.get("LegalName"),
        "cpf": record.get("CPF"),
        "cnpj": record.get("CNPJ"),
        "email": record.get("Email"),
        "key": record.get("Key"),
        "created_at": _optional_time(record.get("CreateDate"), "CreateDate"),
        "updated_at": _optional_time(record.get("LastUpdateDate"), "LastUpdateDate"),
        "record": to_json(record),
    }


def _task_row(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": int(record["Id"]),
        "contact_id": record.get("ContactId"),
        "owner_id": record.get("OwnerId"),
        "title": record.get("Title"),
        "finished": record.get("Finished"),
        "tag_ids": to_json(_tag_ids(record)),
        "created_at": _optional_time(record.get("CreateDate"), "CreateDate"),
        "updated_at": _optional_time(record.get("LastUpdateDate"), "LastUpdateDate"),
        "record": to_json(record),
    }


def _interaction_row(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": int(record["Id"]),
        "contact_id": record.get("ContactId"),
        "creator_id": record.get("CreatorId"),
        "type_id": record.get("TypeId"),
        "tag_ids": to_json(_tag_ids(record)),
        "created_at": _optional_time(record.get("CreateDate"), "CreateDate"),
        "updated_at": _optional_time(record.get("LastUpdateDate"), "LastUpdateDate"),
        "record": to_json(record),
    }


@dataclass
class PloomesExtraction:
    """One Ploomes entity set read since the last high-water mark, page by page."""

    ploomes: PloomesResource
    entity: Any
    to_row: Callable[[dict[str, Any]], dict[str, Any]]
    since: datetime | None
    previous_hwm: datetime | None
    records: int = 0
    pages: int = 0
    high_water_mark: datetime | None = None
    totals: SourceTotal = field(default_factory=lambda: SourceTotal("Ploomes"))
    reconciled: dict[str, Any] = field(default_factory=dict)

    def frames(self) -> Iterator[pd.DataFrame]:
        self.totals.source = f"Ploomes {self.entity}"
        for page in self.ploomes.iter_changed(self.entity, self.since, self.totals):
            self.pages += 1
            rows = [self.to_row(record) for record in page if isinstance(record, dict)]
            self.records += len(rows)
            for row in rows:
                updated = row["updated_at"]
                if updated is not None and (
                    self.high_water_mark is None or updated > self.high_water_mark
                ):
                    self.high_water_mark = updated
            if rows:
                yield pd.DataFrame(rows)
        self.reconciled = self.totals.check()
        if not self.records:
            # Nothing changed: an empty chunk still creates the table on a first run.
            yield pd.DataFrame(columns=list(self.to_row({"Id": 0}).keys()))

    def metadata(self) -> dict[str, Any]:
        hwm = self.high_water_mark or self.previous_hwm
        if hwm is not None and self.previous_hwm is not None:
            hwm = max(hwm, self.previous_hwm)
        hwm = cap_high_water_mark(hwm, f"ploomes {self.entity}")
        return {
            "high_water_mark": hwm.isoformat() if hwm else "",
            "fetched_since": self.since.isoformat() if self.since else "everything",
            "records_fetched": self.records,
            "pages_fetched": self.pages,
            **self.reconciled,
            "http_requests": MetadataValue.json(self.ploomes.get_client().stats.as_dict()),
            "rate_limit_per_second_at_end": self.ploomes.adaptive.current_rate or 0.0,
        }


def _ploomes_raw(
    context: AssetExecutionContext,
    config: CrmRawConfig,
    ploomes: PloomesResource,
    key: AssetKey,
    entity: str,
    to_row: Callable[[dict[str, Any]], dict[str, Any]],
) -> Output:
    previous = _cursor_value(context.instance, key, "high_water_mark")
    previous_hwm = datetime.fromisoformat(previous).astimezone(UTC) if previous else None
    previous_hwm = cap_high_water_mark(previous_hwm, key.to_user_string())
    since = (
        None
        if config.full_refresh or previous_hwm is None
        else previous_hwm - timedelta(minutes=config.lookback_minutes)
    )
    extraction = PloomesExtraction(ploomes, entity, to_row, since, previous_hwm)
    context.log.info(
        "Ploomes %s: fetching %s", entity, f"changes since {since.isoformat()}" if since else "all"
    )

    def frames() -> Iterator[pd.DataFrame]:
        yield from extraction.frames()
        stream.metadata.update(extraction.metadata())

    stream = TableStream(frames())
    return Output(stream)


def _raw_asset_kwargs(key: AssetKey, description: str, source: str) -> dict[str, Any]:
    return {
        "key": key,
        "group_name": GROUP,
        "io_manager_key": WAREHOUSE,
        "metadata": {"write_mode": "merge", "primary_key": ["id"]},
        "owners": OWNERS,
        "kinds": {"python", "duckdb"},
        "tags": {"layer": "raw", "source": source},
        "description": description,
    }


@asset(
    **_raw_asset_kwargs(
        RAW_CONTACTS,
        "Ploomes contacts (clients) as received: id, type, name, CPF and CNPJ exactly as typed, "
        "e-mail, integration key, created/updated in UTC and the full record (with Phones and "
        "OtherProperties) as JSON. Incremental on LastUpdateDate from the last high-water mark "
        "minus a lookback; merged on id.",
        "ploomes",
    )
)
def ploomes_contacts(
    context: AssetExecutionContext, config: CrmRawConfig, ploomes: PloomesResource
) -> Output:
    return _ploomes_raw(context, config, ploomes, RAW_CONTACTS, "Contacts", _contact_row)


@asset(
    **_raw_asset_kwargs(
        RAW_TASKS,
        "Ploomes tasks as received: id, contact, owner, title, finished, tag ids (numeric, "
        "from $expand=Tags), created/updated in UTC and the full record as JSON. Incremental on "
        "LastUpdateDate; merged on id.",
        "ploomes",
    )
)
def ploomes_tasks(
    context: AssetExecutionContext, config: CrmRawConfig, ploomes: PloomesResource
) -> Output:
    return _ploomes_raw(context, config, ploomes, RAW_TASKS, "Tasks", _task_row)


@asset(
    **_raw_asset_kwargs(
        RAW_INTERACTIONS,
        "Ploomes interaction records as received: id, contact, creator, type, tag ids, "
        "created/updated in UTC and the full record as JSON. Incremental on LastUpdateDate; "
        "merged on id.",
        "ploomes",
    )
)
def ploomes_interactions(
    context: AssetExecutionContext, config: CrmRawConfig, ploomes: PloomesResource
) -> Output:
    return _ploomes_raw(
        context, config, ploomes, RAW_INTERACTIONS, "InteractionRecords", _interaction_row
    )


# Raw: Milvus -----------------------------------------------------------------------------------


MILVUS_CLIENT_COLUMNS = [
    "id", "token", "cnpj_cpf", "is_fisica", "is_ativo", "nome_fantasia", "razao_social", "record",
]  # fmt: skip
MILVUS_TICKET_COLUMNS = [
    "id", "codigo", "cliente_token", "assunto", "status", "tecnico", "created_at",
    "modified_at", "solved_at", "record",
]  # fmt: skip


def _milvus_client_row(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": int(record["id"]),
        "token": record.get("token"),
        "cnpj_cpf": None if record.get("cnpj_cpf") is None else str(record.get("cnpj_cpf")),
        "is_fisica": record.get("is_fisica"),
        "is_ativo": record.get("is_ativo"),
        "nome_fantasia": record.get("nome_fantasia"),
        "razao_social": record.get("razao_social"),
        "record": to_json(record),
    }


def _milvus_ticket_row(record: dict[str, Any]) -> dict[str, Any]:
    def when(name: str) -> datetime | None:
        try:
            return parse_milvus_time(record.get(name), name)
        except InvalidRecord:
            return None

    return {
        "id": int(record["id"]),
        "codigo": record.get("codigo"),
        "cliente_token": record.get("cliente_token"),
        "assunto": record.get("assunto"),
        "status": record.get("status"),
        "tecnico": record.get("tecnico"),
        "created_at": when("data_criacao"),
        "modified_at": when("data_modificacao"),
        "solved_at": when("data_solucao"),
        "record": to_json(record),
    }


def _milvus_frames(
    pages: Iterator[list[dict[str, Any]]],
    to_row: Callable[[dict[str, Any]], dict[str, Any]],
    columns: list[str],
    stream_metadata: dict[str, Any],
    milvus: MilvusResource,
    totals: SourceTotal,
) -> Iterator[pd.DataFrame]:
    records = page_count = 0
    for page in pages:
        page_count += 1
        rows = [to_row(r) for r in page if isinstance(r, dict) and r.get("id") is not None]
        records += len(rows)
        if rows:
            yield pd.DataFrame(rows, columns=columns)
    reconciled = totals.check()
    if not records:
        yield pd.DataFrame(columns=columns)
    stream_metadata.update(
        {
            "records_fetched": records,
            "pages_fetched": page_count,
            **reconciled,
            "http_requests": MetadataValue.json(milvus.get_client().stats.as_dict()),
            "rate_limit_per_second_at_end": milvus.adaptive.current_rate or 0.0,
        }
    )


@asset(
    key=RAW_MILVUS_CLIENTS,
    group_name=GROUP,
    io_manager_key=WAREHOUSE,
    metadata={"write_mode": "replace", "primary_key": ["id"]},
    owners=OWNERS,
    kinds={"python", "duckdb"},
    tags={"layer": "raw", "source": "milvus"},
    description=(
        "Every Milvus client, active and blocked, from every page of cliente/busca (1000 a "
        "page): id, token (what tickets are opened for), cnpj_cpf as stored, is_fisica, "
        "is_ativo, names and the full record as JSON. Replaced each run, so it is Milvus as "
        "it is now."
    ),
)
def milvus_clients(milvus: MilvusResource) -> Output:
    metadata: dict[str, Any] = {}
    totals = SourceTotal("Milvus cliente/busca")
    frames = _milvus_frames(
        milvus.iter_clients(totals),
        _milvus_client_row,
        MILVUS_CLIENT_COLUMNS,
        metadata,
        milvus,
        totals,
    )
    return Output(TableStream(frames, metadata))


@asset(
    key=RAW_MILVUS_TICKETS,
    group_name=GROUP,
    io_manager_key=WAREHOUSE,
    metadata={"write_mode": "replace", "primary_key": ["id"]},
    owners=OWNERS,
    kinds={"python", "duckdb"},
    tags={"layer": "raw", "source": "milvus"},
    description=(
        "Every Milvus ticket from every page of chamado/listagem (1000 a page, oldest code "
        "first): id, code, client token, subject, status, technician, created/modified/solved "
        "in UTC (Milvus answers São Paulo wall time) and the full record as JSON. Replaced each "
        "run: the API filters only on creation and solution time, so a status change would "
        "be invisible to an incremental read."
    ),
)
def milvus_tickets(milvus: MilvusResource) -> Output:
    metadata: dict[str, Any] = {}
    totals = SourceTotal("Milvus chamado/listagem")
    frames = _milvus_frames(
        milvus.iter_tickets(totals=totals),
        _milvus_ticket_row,
        MILVUS_TICKET_COLUMNS,
        metadata,
        milvus,
        totals,
    )
    return Output(TableStream(frames, metadata))


# Staging ---------------------------------------------------------------------------------------


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


def _mask(document: Document) -> str:
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


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    if frame is None or frame.empty or "record" not in frame.columns:
        return []
    return [_json_record(value) for value in frame["record"]]


def build_staging_clients(
    raw_contacts: pd.DataFrame, raw_clients: pd.DataFrame, pseudonym: PseudonymResource
) -> tuple[pd.DataFrame, list[dict[str, Any]], dict[str, ClientMatch]]:
    contacts = _records(raw_contacts)
    clients = _records(raw_clients)
    matches, quarantine = match_clients(contacts, clients)
    rows = []
    for _, match in sorted(matches.items()):
        ploomes = match.canonical_ploomes()
        milvus = match.canonical_milvus()
        updated = [_optional_time(c.get("LastUpdateDate"), "LastUpdateDate") for c in match.ploomes]
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


def _quarantine_metadata(quarantine: list[dict[str, Any]]) -> dict[str, Any]:
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
        **_quarantine_metadata(quarantine),
    }
    if quarantine:
        context.log.warning("%d client record(s) quarantined: invalid document", len(quarantine))
    yield Output(frame, output_name="clients", metadata=summary)
    yield Output(
        quarantine_frame(quarantine),
        output_name="quarantine",
        metadata=_quarantine_metadata(quarantine),
    )


# Sync state ------------------------------------------------------------------------------------


class SyncState:
    """The sync's state in the documents store: one document per synced item.

    ``_id`` is ``<kind>:<key>`` (e.g. ``milvus_client:39053344705``, ``milvus_ticket:task:5``);
    ``status`` is ``creating`` (a create was about to be sent), ``created`` or ``linked``
    (the target's ids are known), ``pending`` (retry next run), ``rejected`` (the target
    refused it; retried when the source changes) or ``quarantined``.
    """

    def __init__(self, documents: MongoDBResource, run_id: str) -> None:
        self.collection = documents.get_database()[STATE_COLLECTION]
        self.run_id = run_id

    def get(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        found = {}
        for start in range(0, len(ids), 500):
            for doc in self.collection.find({"_id": {"$in": ids[start : start + 500]}}):
                found[doc["_id"]] = doc
        return found

    def retry(self, kind: str) -> list[dict[str, Any]]:
        return list(self.collection.find({"kind": kind, "status": {"$in": list(RETRY_STATES)}}))

    def held(self, kind: str) -> set[str]:
        """Keys of the items left to a person (``failed``): never created again automatically."""
        return {doc["key"] for doc in self.collection.find({"kind": kind, "status": "failed"})}

    def mark(self, kind: str, key: str, status: str, **fields: Any) -> None:
        now = datetime.now(UTC)
        self.collection.update_one(
            {"_id": f"{kind}:{key}"},
            {
                "$set": {
                    "kind": kind,
                    "key": key,
                    "status": status,
                    "updated_at": now,
                    "run_id": self.run_id,
                    **fields,
                },
                "$setOnInsert": {"first_seen_at": now},
            },
            upsert=True,
        )


def legacy_plan(frame: pd.DataFrame | None, dry_run: bool) -> tuple[set[str], dict[str, int]]:
    """What a dry run of the legacy import planned (the state holds nothing yet): customer keys
    of sent clients, and item key -> Milvus ticket id. Empty outside a dry run."""
    if not dry_run or frame is None or frame.empty:
        return set(), {}
    rows = frame.to_dict("records")
    clients = {r["key"] for r in rows if r["kind"] == "client" and r["action"] == "would_import"}
    tickets = {
        r["key"]: int(r["milvus_ticket_id"])
        for r in rows
        if r["kind"] == "ticket" and r["action"] == "would_link"
    }
    return clients, tickets


def create_without_duplicates(
    lookup: Callable[[], Any], create: Callable[[], Any], attempts: int = CREATE_ATTEMPTS
) -> tuple[str, Any]:
    """``("linked", found)`` when the lookup finds the record, else ``("created", result)``.

    A create whose outcome was lost is followed by a lookup, and sent again only if the
    record is still not there."""
    found = lookup()
    if found:
        return "linked", found
    last: CreateOutcomeUnknown | None = None
    for _ in range(attempts):
        try:
            return "created", create()
        except CreateOutcomeUnknown as exc:
            last = exc
            found = lookup()
            if found:
                return "created", found
    assert last is not None
    raise last


#: Answers that mean the target refused the record itself (not the credentials or the
#: service): the item is marked rejected and the run goes on.
REFUSAL_STATUSES = frozenset({400, 409, 422})


def create_or_refusal(lookup: Callable[[], Any], create: Callable[[], Any]) -> tuple[str, Any, str]:
    """``create_without_duplicates``, with a refusal of the record answered as
    ``("rejected", None, reason)``; any other failure fails the run (no cursor moves)."""
    try:
        action, value = create_without_duplicates(lookup, create)
    except HttpError as exc:
        if exc.status_code not in REFUSAL_STATUSES:
            raise
        return "rejected", None, f"HTTP {exc.status_code}: {exc.body[:200]}"
    return action, value, ""


def _leave_to_a_person(
    context: AssetExecutionContext,
    state: SyncState,
    kind: str,
    document: Document,
    action: str,
    reason: str,
    counts: dict[str, int],
    failures: list[dict[str, Any]],
    source: dict[str, Any],
    **state_fields: Any,
) -> None:
    """Count, record in the state and report a client the sync could not settle (``ambiguous``
    or ``failed``), naming its source id and the reason, never its document."""
    counts[action] += 1
    state.mark(kind, document.number, action, reason=reason, **state_fields)
    failures.append({**source, "action": action, "reason": reason})
    context.log.warning("client %s: %s", _mask(document), reason)


def _sync_metadata(
    counts: Mapping[str, int],
    dry_run: bool,
    would_create: list[dict[str, Any]],
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    return {
        "dry_run": dry_run,
        **{name: int(value) for name, value in counts.items()},
        "would_create": MetadataValue.json(would_create),
        **extra,
    }


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)


def _staging_rows(staging: pd.DataFrame) -> list[dict[str, Any]]:
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


def _contacts_by_id(raw_contacts: pd.DataFrame) -> dict[int, dict[str, Any]]:
    return {int(r["Id"]): r for r in _records(raw_contacts) if r.get("Id") is not None}


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


# Sync: Ploomes → Milvus clients --------------------------------------------------------------


def _ploomes_phones(contact: Mapping[str, Any]) -> list[str]:
    phones = [p.get("PhoneNumber") for p in contact.get("Phones") or [] if isinstance(p, dict)]
    return [str(p).strip() for p in phones if p not in (None, "") and str(p).strip()]


def milvus_client_payload(
    contact: Mapping[str, Any], document: Document, document_as: str = "string"
) -> dict[str, Any]:
    """``cliente/criar`` body for a Ploomes contact (person or company by the document), with
    its e-mail, phones (first as mobile, second as landline) and address when it has them."""
    name = contact.get("Name") or contact.get("LegalName") or "Cliente sem nome"
    phones = _ploomes_phones(contact)
    payload: dict[str, Any] = {
        "cliente_documento": document_for_milvus(document, document_as),
        "cliente_site": contact.get("Website") or "",
        "cliente_observacao": f"Criado pela integração a partir do contato {contact.get('Id')} "
        "do Ploomes",
        "cliente_ativo": True,
        "cliente_id_integracao": int_id(contact.get("Id")),
        "cliente_contatos": [
            {
                "contato_padrao": True,
                "contato_descricao": name,
                "contato_email": contact.get("Email") or "",
                "contato_telefone": phones[1] if len(phones) > 1 else "",
                "contato_celular": phones[0] if phones else "",
                "contato_observacao": "",
            }
        ],
    }
    if contact.get("StreetAddress") or contact.get("ZipCode"):
        payload["cliente_enderecos"] = [
            {
                "endereco_padrao": True,
                "endereco_descricao": "Principal",
                "endereco_cep": str(contact.get("ZipCode") or ""),
                "endereco_logradouro": contact.get("StreetAddress") or "",
                "endereco_numero": str(contact.get("StreetAddressNumber") or ""),
                "endereco_complemento": contact.get("StreetAddressLine2") or "",
                "endereco_bairro": contact.get("Neighborhood") or "",
                "endereco_cidade": "",
                "endereco_estado": "",
            }
        ]
    if document.is_person:
        payload["cliente_pessoa_fisica"] = {"nome": name}
    else:
        payload["cliente_pessoa_juridica"] = {
            "nome_fantasia": name,
            "razao_social": contact.get("LegalName") or name,
            "inscricao_estadual": "",
        }
    return payload


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


@asset(
    key=SYNC_MILVUS_CLIENTS,
    group_name=GROUP,
    io_manager_key=WAREHOUSE,
    ins={
        "staging": AssetIn(STAGING_CLIENTS),
        "raw_contacts": AssetIn(RAW_CONTACTS),
        "legacy": AssetIn(LEGACY_IMPORT),
    },
    metadata={"write_mode": "merge", "primary_key": ["customer_key"]},
    owners=OWNERS,
    kinds={"python", "duckdb"},
    tags={"layer": "marts", "source": "crm"},
    description=(
        "Creates in Milvus every valid client that is in Ploomes and not in Milvus (every page "
        "read), after looking it up by document there; selected by a cursor on the contacts' "
        "LastUpdateDate kept in this asset's metadata, plus what the sync state still holds "
        "as pending. The table records what the sync did per client (created, linked to an "
        "existing Milvus client, would_create in dry-run, rejected, skipped when the previous "
        "integration had sent it and Milvus no longer has it) with Milvus's id and token; the "
        "state lives in MongoDB (crm_sync_state)."
    ),
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
    kind = "milvus_client"
    legacy_sent = {d["key"] for d in state.collection.find({"kind": kind, "status": LEGACY_SENT})}
    planned_sent, _ = legacy_plan(legacy, crm_settings.dry_run)
    previous = _cursor_value(context.instance, SYNC_MILVUS_CLIENTS)
    cursor = None if config.full_resync or previous is None else datetime.fromisoformat(previous)
    cursor = cap_high_water_mark(cursor, context.asset_key.to_user_string())
    since = None if cursor is None else cursor - timedelta(minutes=config.lookback_minutes)
    contacts = _contacts_by_id(raw_contacts)
    docs = documents_by_key(contacts.values(), ploomes_contact_document, pseudonym)
    rows = _staging_rows(staging)
    retry = {doc["key"] for doc in state.retry(kind)}
    held = state.held(kind)
    frontier = cursor
    candidates = []
    for row in rows:
        updated = _timestamp(row["ploomes_updated_at"])
        if updated is not None and (frontier is None or updated > frontier):
            frontier = updated
        document = docs.get(row["customer_key"])
        if not row["in_ploomes"] or row["in_milvus"] or document is None:
            continue
        if document.number in held:
            continue
        changed = since is None or (updated is not None and updated >= since)
        if document is not None and (changed or document.number in retry):
            candidates.append((row, document))
    counts = {"candidates": len(candidates), **dict.fromkeys(OUTCOMES, 0)}
    failures: list[dict[str, Any]] = []
    counts["skipped"] = 0
    would_create: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    if crm_settings.dry_run is False and milvus.document_as == "number":
        context.log.warning(
            "MILVUS_DOCUMENT_AS=number: documents go to Milvus as JSON numbers, and a CPF or "
            "CNPJ that starts with 0 is stored without it"
        )
    for row, document in candidates:
        contact = contacts.get(int(row["ploomes_contact_id"])) or {}
        result = {
            "customer_key": row["customer_key"],
            "document_type": document.kind,
            "ploomes_contact_id": row["ploomes_contact_id"],
            "milvus_client_id": None,
            "milvus_token": None,
            "action": None,
            "reason": None,
            "synced_at": datetime.now(UTC),
        }

        def lookup(document: Document = document) -> list[dict[str, Any]]:
            return milvus.find_clients_by_document(document)

        sent_before = document.number in legacy_sent or row["customer_key"] in planned_sent
        if sent_before and not lookup():
            counts["skipped"] += 1
            result.update(action="skipped", reason=LEGACY_SKIP_REASON)
            out.append(result)
            continue
        if crm_settings.dry_run:
            found = lookup()
            if found:
                client, reason = single_match(found, "id", "Milvus clients")
                if client is None:
                    counts["ambiguous"] += 1
                    result.update(action="ambiguous", reason=reason)
                else:
                    counts["linked"] += 1
                    result.update(
                        action="linked",
                        milvus_client_id=int_id(client.get("id")),
                        milvus_token=client.get("token"),
                    )
            else:
                result["action"] = "would_create"
                would_create.append(
                    {
                        "ploomes_contact_id": row["ploomes_contact_id"],
                        "customer_key": row["customer_key"],
                        "document_type": document.kind,
                        "document": _mask(document),
                    }
                )
            out.append(result)
            continue
        payload = milvus_client_payload(contact, document, milvus.document_as)

        def create(payload: dict[str, Any] = payload, document: Document = document) -> int:
            state.mark(
                kind,
                document.number,
                "creating",
                ploomes_contact_id=payload.get("cliente_id_integracao"),
            )
            return milvus.create_client(payload)

        action, value, refusal = create_or_refusal(lookup, create)
        if action == "rejected":
            reason = f"Milvus refused the client: {refusal}"
            state.mark(kind, document.number, "rejected", reason=reason)
            counts["rejected"] += 1
            result.update(action="rejected", reason=reason)
            out.append(result)
            context.log.warning("client %s: %s", _mask(document), reason)
            continue
        if isinstance(value, list):
            # Linked, or created and found by the lookup after a lost answer.
            client, reason = single_match(value, "id", "Milvus clients")
            failed_action = "ambiguous"
        else:
            # The create answers only the id: read the client back by its document.
            client, reason = milvus_created_client(milvus, document, value)
            failed_action = "failed"
        if client is None:
            _leave_to_a_person(
                context,
                state,
                kind,
                document,
                failed_action,
                reason,
                counts,
                failures,
                {"ploomes_contact_id": row["ploomes_contact_id"]},
                milvus_client_id=None if isinstance(value, list) else int_id(value),
            )
            result.update(action=failed_action, reason=reason)
            out.append(result)
            continue
        counts[action] += 1
        client_id = int_id(client.get("id"))
        state.mark(
            kind,
            document.number,
            action,
            milvus_client_id=client_id,
            milvus_token=client.get("token"),
            ploomes_contact_id=row["ploomes_contact_id"],
        )
        result.update(action=action, milvus_client_id=client_id, milvus_token=client.get("token"))
        out.append(result)
    frontier = cap_high_water_mark(frontier, context.asset_key.to_user_string())
    new_cursor = previous if crm_settings.dry_run else (frontier.isoformat() if frontier else "")
    context.log.info("Milvus clients sync: %s", counts)
    return Output(
        _frame(out, SYNC_CLIENT_COLUMNS).astype(
            {"ploomes_contact_id": "Int64", "milvus_client_id": "Int64"}
        ),
        metadata=_sync_metadata(
            counts,
            crm_settings.dry_run,
            would_create,
            {
                "cursor": new_cursor or "",
                "selected_since": since.isoformat() if since else "everything",
                "failures": MetadataValue.json(failures),
                "held_for_a_person": len(held),
                "documents_sent_as": milvus.document_as,
                "lookups": MetadataValue.json(dict(milvus.lookup_stats)),
                "http_requests": MetadataValue.json(milvus.get_client().stats.as_dict()),
                "rate_limit_per_second_at_end": milvus.adaptive.current_rate or 0.0,
            },
        ),
    )


# Sync: Milvus → Ploomes contacts ---------------------------------------------------------------


def _default_first(items: Any) -> list[dict[str, Any]]:
    """A Milvus list of contacts or addresses, the default (``*_padrao``) first."""
    rows = [i for i in items or [] if isinstance(i, dict)] if isinstance(items, list) else []
    return sorted(rows, key=lambda i: not (i.get("contato_padrao") or i.get("endereco_padrao")))


def _text_of(*values: Any) -> str:
    return next((str(v).strip() for v in values if v not in (None, "") and str(v).strip()), "")


def ploomes_contact_payload(client: Mapping[str, Any], document: Document) -> dict[str, Any]:
    """``POST /Contacts`` body for a Milvus client (type by the document, formatted), with the
    e-mail, phones and address the Milvus record carries (``contatos``/``enderecos`` lists or
    flat fields; Milvus's client listing often has none, and then none is sent)."""
    name = client.get("nome_fantasia") or client.get("razao_social") or "Cliente sem nome"
    payload: dict[str, Any] = {
        "Name": name,
        "TypeId": TYPE_PERSON if document.is_person else TYPE_COMPANY,
        "Key": f"milvus:{client.get('id')}",
        "Note": f"Criado pela integração a partir do cliente {client.get('id')} do Milvus",
    }
    if document.is_person:
        payload["CPF"] = document.formatted
    else:
        payload["CNPJ"] = document.formatted
        payload["LegalName"] = client.get("razao_social") or name
    contacts = _default_first(client.get("contatos") or client.get("cliente_contatos"))
    contact = contacts[0] if contacts else {}
    email = _text_of(contact.get("contato_email"), client.get("email"))
    if email:
        payload["Email"] = email
    phones = [
        _text_of(contact.get("contato_celular"), client.get("celular")),
        _text_of(contact.get("contato_telefone"), client.get("telefone")),
    ]
    numbers = list(dict.fromkeys(p for p in phones if p))
    if numbers:
        payload["Phones"] = [{"PhoneNumber": number} for number in numbers]
    addresses = _default_first(client.get("enderecos") or client.get("cliente_enderecos"))
    address = addresses[0] if addresses else {}
    fields = {
        "StreetAddress": address.get("endereco_logradouro"),
        "StreetAddressNumber": address.get("endereco_numero"),
        "StreetAddressLine2": address.get("endereco_complemento"),
        "Neighborhood": address.get("endereco_bairro"),
        "ZipCode": address.get("endereco_cep"),
    }
    payload.update({k: _text_of(v) for k, v in fields.items() if _text_of(v)})
    place = " / ".join(
        p
        for p in (
            _text_of(address.get("endereco_cidade")),
            _text_of(address.get("endereco_estado")),
        )
        if p
    )
    if place:
        payload["Note"] += f". Cidade: {place}"
    if _text_of(client.get("site")):
        payload["Website"] = _text_of(client.get("site"))
    return payload


SYNC_CONTACT_COLUMNS = [
    "customer_key",
    "document_type",
    "milvus_client_id",
    "ploomes_contact_id",
    "action",
    "reason",
    "synced_at",
]


@asset(
    key=SYNC_PLOOMES_CONTACTS,
    group_name=GROUP,
    io_manager_key=WAREHOUSE,
    ins={"staging": AssetIn(STAGING_CLIENTS), "raw_clients": AssetIn(RAW_MILVUS_CLIENTS)},
    metadata={"write_mode": "merge", "primary_key": ["customer_key"]},
    owners=OWNERS,
    kinds={"python", "duckdb"},
    tags={"layer": "marts", "source": "crm"},
    description=(
        "Creates in Ploomes every valid client that is in Milvus and not in Ploomes, after "
        "looking it up by CPF/CNPJ there. Milvus gives no change time for clients, so the "
        "cursor is the highest Milvus client id already considered (ids only grow), plus what "
        "the sync state holds as pending. The table records per client what was done "
        "(created, linked, would_create, rejected) and the Ploomes contact id."
    ),
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
    kind = "ploomes_contact"
    previous = _cursor_value(context.instance, SYNC_PLOOMES_CONTACTS, "milvus_id_cursor")
    cursor = None if config.full_resync or previous is None else int(previous)
    clients = {int(r["id"]): r for r in _records(raw_clients) if r.get("id") is not None}
    docs = documents_by_key(clients.values(), milvus_client_document, pseudonym)
    retry = {doc["key"] for doc in state.retry(kind)}
    held = state.held(kind)
    frontier = cursor
    candidates = []
    for row in _staging_rows(staging):
        ids = json.loads(row["milvus_client_ids"] or "[]")
        if ids:
            frontier = max([frontier or 0, *ids])
        document = docs.get(row["customer_key"])
        if row["in_ploomes"] or not row["in_milvus"] or document is None:
            continue
        if document.number in held:
            continue
        if document is not None and (
            cursor is None or max(ids) > cursor or document.number in retry
        ):
            candidates.append((row, document))
    counts = {"candidates": len(candidates), **dict.fromkeys(OUTCOMES, 0)}
    failures: list[dict[str, Any]] = []
    would_create: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for row, document in candidates:
        client = clients.get(int(row["milvus_client_id"])) or {}
        result = {
            "customer_key": row["customer_key"],
            "document_type": document.kind,
            "milvus_client_id": row["milvus_client_id"],
            "ploomes_contact_id": None,
            "action": None,
            "reason": None,
            "synced_at": datetime.now(UTC),
        }

        def lookup(document: Document = document) -> list[dict[str, Any]]:
            return ploomes.find_contacts_by_document(document)

        if crm_settings.dry_run:
            found = lookup()
            if found:
                contact, reason = single_match(found, "Id", "Ploomes contacts")
                if contact is None:
                    counts["ambiguous"] += 1
                    result.update(action="ambiguous", reason=reason)
                else:
                    counts["linked"] += 1
                    result.update(action="linked", ploomes_contact_id=int_id(contact.get("Id")))
            else:
                result["action"] = "would_create"
                would_create.append(
                    {
                        "milvus_client_id": row["milvus_client_id"],
                        "customer_key": row["customer_key"],
                        "document_type": document.kind,
                        "document": _mask(document),
                    }
                )
            out.append(result)
            continue
        payload = ploomes_contact_payload(client, document)

        def create(
            payload: dict[str, Any] = payload,
            document: Document = document,
            milvus_id: Any = row["milvus_client_id"],
        ) -> dict[str, Any]:
            state.mark(kind, document.number, "creating", milvus_client_id=milvus_id)
            return ploomes.create_contact(payload)

        action, value, refusal = create_or_refusal(lookup, create)
        if action == "rejected":
            reason = f"Ploomes refused the contact: {refusal}"
            state.mark(kind, document.number, "rejected", reason=reason)
            counts["rejected"] += 1
            result.update(action="rejected", reason=reason)
            out.append(result)
            context.log.warning("client %s: %s", _mask(document), reason)
            continue
        if isinstance(value, list):
            # Linked, or created and found by the lookup after a lost answer.
            contact, reason = single_match(value, "Id", "Ploomes contacts")
            contact_id = None if contact is None else int_id(contact.get("Id"))
            failed_action = "ambiguous"
        else:
            contact_id, reason = ploomes_created_contact(ploomes, document, value)
            failed_action = "failed"
        if contact_id is None:
            _leave_to_a_person(
                context,
                state,
                kind,
                document,
                failed_action,
                reason,
                counts,
                failures,
                {"milvus_client_id": row["milvus_client_id"]},
            )
            result.update(action=failed_action, reason=reason)
            out.append(result)
            continue
        counts[action] += 1
        state.mark(
            kind,
            document.number,
            action,
            ploomes_contact_id=contact_id,
            milvus_client_id=row["milvus_client_id"],
        )
        result.update(action=action, ploomes_contact_id=contact_id)
        out.append(result)
    new_cursor = previous if crm_settings.dry_run else frontier
    context.log.info("Ploomes contacts sync: %s", counts)
    return Output(
        _frame(out, SYNC_CONTACT_COLUMNS).astype(
            {"ploomes_contact_id": "Int64", "milvus_client_id": "Int64"}
        ),
        metadata=_sync_metadata(
            counts,
            crm_settings.dry_run,
            would_create,
            {
                "milvus_id_cursor": "" if new_cursor is None else str(new_cursor),
                "failures": MetadataValue.json(failures),
                "held_for_a_person": len(held),
                "lookups": MetadataValue.json(dict(ploomes.lookup_stats)),
                "http_requests": MetadataValue.json(ploomes.get_client().stats.as_dict()),
                "rate_limit_per_second_at_end": ploomes.adaptive.current_rate or 0.0,
            },
        ),
    )


# Sync: tagged tasks and interactions → Milvus tickets ------------------------------------------

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


def ticket_marker(source: str, source_id: int) -> str:
    """The tag in a ticket's subject that names the Ploomes item it came from."""
    word = "tarefa" if source == "task" else "interação"
    return f"[Ploomes {word} {source_id}]"


MARKER_PATTERN = re.compile(r"\[Ploomes (tarefa|interação) (\d+)\]")


def subject_markers(subject: Any) -> set[str]:
    """The sync markers a ticket's subject carries, each exactly as ``ticket_marker`` writes it."""
    return {match.group(0) for match in MARKER_PATTERN.finditer(str(subject or ""))}


def duplicate_sync_markers(tickets: pd.DataFrame) -> dict[str, int]:
    """Markers carried by more than one Milvus ticket (each would be a duplicate), with counts."""
    if tickets is None or tickets.empty or "assunto" not in tickets.columns:
        return {}
    counts: dict[str, int] = {}
    for subject in tickets["assunto"].dropna():
        match = MARKER_PATTERN.search(str(subject))
        if match:
            counts[match.group(0)] = counts.get(match.group(0), 0) + 1
    return {marker: n for marker, n in sorted(counts.items()) if n > 1}


@dataclass
class WorkItem:
    source: str  # "task" or "interaction"
    record: dict[str, Any]
    tag: str  # "installation" or "delivery"
    created_at: datetime | None
    updated_at: datetime | None

    @property
    def source_id(self) -> int:
        return int(self.record["Id"])

    @property
    def key(self) -> str:
        return f"{self.source}:{self.source_id}"


def _work_items(
    frame: pd.DataFrame, source: str, tags: Mapping[int, str]
) -> Iterator[tuple[dict[str, Any], list[str]]]:
    for record in _records(frame):
        if record.get("Id") is None:
            continue
        kinds = [tags[t] for t in _tag_ids(record) if t in tags]
        yield record, kinds


def ticket_payload(
    item: WorkItem,
    token: str,
    contact: Mapping[str, Any],
    users: Mapping[int, Mapping[str, Any]],
    desk: str,
) -> dict[str, Any]:
    record = item.record
    marker = ticket_marker(item.source, item.source_id)
    label = TAG_LABELS[item.tag]
    if item.source == "task":
        title = record.get("Title") or "Tarefa"
        body = record.get("Description") or ""
        owner = users.get(record.get("OwnerId") or 0) or {}
    else:
        title = (record.get("Content") or "Interação").splitlines()[0][:120]
        body = record.get("Content") or ""
        owner = users.get(record.get("CreatorId") or 0) or {}
    what = "tarefa" if item.source == "task" else "interação"
    description = (f"{body}\n\n" if body.strip() else "") + (
        f"Aberto pela integração a partir da {what} {item.source_id} do Ploomes ({label})."
    )
    payload = {
        "cliente_id": token,
        "chamado_assunto": f"{marker} {label}: {title}",
        "chamado_descricao": description,
        "chamado_email": contact.get("Email") or "",
        "chamado_telefone": "",
        "chamado_contato": contact.get("Name") or "",
        "chamado_mesa": desk,
        "chamado_setor": "",
        "chamado_categoria_primaria": TICKET_CATEGORIES[item.tag],
        "chamado_categoria_secundaria": "",
    }
    if owner.get("Email"):
        payload["chamado_tecnico"] = owner["Email"]
    return payload


@asset(
    key=SYNC_MILVUS_TICKETS,
    group_name=GROUP,
    io_manager_key=WAREHOUSE,
    ins={
        "staging": AssetIn(STAGING_CLIENTS),
        "raw_contacts": AssetIn(RAW_CONTACTS),
        "raw_tasks": AssetIn(RAW_TASKS),
        "raw_interactions": AssetIn(RAW_INTERACTIONS),
        "clients_sync": AssetIn(SYNC_MILVUS_CLIENTS),
        "legacy": AssetIn(LEGACY_IMPORT),
    },
    metadata={"write_mode": "merge", "primary_key": ["source", "source_id"]},
    owners=OWNERS,
    kinds={"python", "duckdb"},
    tags={"layer": "marts", "source": "crm"},
    description=(
        "Opens one Milvus ticket per Ploomes task or interaction tagged INSTALAÇÃO or ENTREGA "
        "(tag ids are settings) created on or after CRM_SYNC_START_DATE, for the client's "
        "token, after looking for a ticket whose subject carries the item's marker "
        "([Ploomes tarefa <id>]). Selected by a cursor on LastUpdateDate kept in this asset's "
        "metadata plus what the state holds as pending; items whose client has an invalid "
        "document are quarantined with the reason. The table records per item what was done."
    ),
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
    state = SyncState(documents, context.run_id)
    kind = "milvus_ticket"
    previous = _cursor_value(context.instance, SYNC_MILVUS_TICKETS)
    cursor = None if config.full_resync or previous is None else datetime.fromisoformat(previous)
    cursor = cap_high_water_mark(cursor, context.asset_key.to_user_string())
    since = None if cursor is None else cursor - timedelta(minutes=config.lookback_minutes)
    start = crm_settings.start()
    tags = crm_settings.tags(ploomes)
    contacts = _contacts_by_id(raw_contacts)
    docs = documents_by_key(contacts.values(), ploomes_contact_document, pseudonym)
    staging_rows = _staging_rows(staging)
    by_contact: dict[int, dict[str, Any]] = {}
    for row in staging_rows:
        for contact_id in json.loads(row["ploomes_contact_ids"] or "[]"):
            by_contact[int(contact_id)] = row
    tokens: dict[str, str] = {
        row["customer_key"]: row["milvus_token"] for row in staging_rows if row["milvus_token"]
    }
    if clients_sync is not None and not clients_sync.empty:
        for row in clients_sync.to_dict("records"):
            token = row.get("milvus_token")
            if isinstance(token, str) and token and row.get("customer_key") not in tokens:
                tokens[row["customer_key"]] = token
    quarantine_reasons = {
        int(q["record_id"]): q["reason"]
        for q in match_clients(list(contacts.values()), [])[1]
        if q.get("record_id") is not None
    }

    items: list[WorkItem] = []
    frontier = cursor
    skipped_before_start = 0
    for source, frame in (("task", raw_tasks), ("interaction", raw_interactions)):
        for record, kinds in _work_items(frame, source, tags):
            if not kinds:
                continue
            created = _optional_time(record.get("CreateDate"), "CreateDate")
            updated = _optional_time(record.get("LastUpdateDate"), "LastUpdateDate")
            if updated is not None and (frontier is None or updated > frontier):
                frontier = updated
            if created is None or created < start:
                skipped_before_start += 1
                continue
            items.append(WorkItem(source, record, kinds[0], created, updated))
    keys = [item.key for item in items]
    known = state.get([f"{kind}:{k}" for k in keys])
    for key, ticket_id in legacy_plan(legacy, crm_settings.dry_run)[1].items():
        known.setdefault(f"{kind}:{key}", {"status": "linked", "milvus_ticket_id": ticket_id})
    retry = {doc["key"] for doc in state.retry(kind)}
    selected = []
    for item in items:
        doc = known.get(f"{kind}:{item.key}")
        if doc is not None and doc.get("status") in ("created", "linked"):
            continue
        changed = since is None or (item.updated_at is not None and item.updated_at >= since)
        if changed or item.key in retry:
            selected.append(item)
    users = {int(u["Id"]): u for u in ploomes.list_users()} if selected else {}
    counts = {
        "candidates": len(selected),
        "created": 0,
        "linked": 0,
        "quarantined": 0,
        "pending": 0,
        "ambiguous": 0,
        "rejected": 0,
        "skipped_before_start_date": skipped_before_start,
    }
    quarantined: dict[str, int] = {}
    would_create: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for item in sorted(selected, key=lambda i: (i.created_at or start, i.key)):
        contact_id = item.record.get("ContactId")
        result = {
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
        row = by_contact.get(int(contact_id)) if contact_id is not None else None
        if row is None:
            if contact_id is None:
                reason = f"the {item.source} has no contact"
            elif int(contact_id) in quarantine_reasons:
                reason = f"the client's document is invalid: {quarantine_reasons[int(contact_id)]}"
            else:
                reason = None
            if reason is not None:
                state.mark(kind, item.key, "quarantined", reason=reason)
                counts["quarantined"] += 1
                quarantined[reason] = quarantined.get(reason, 0) + 1
                result.update(action="quarantined", reason=reason)
            else:
                reason = f"contact {contact_id} is not loaded yet"
                state.mark(kind, item.key, "pending", reason=reason)
                counts["pending"] += 1
                result.update(action="pending", reason=reason)
            out.append(result)
            continue
        result["customer_key"] = row["customer_key"]
        document = docs.get(row["customer_key"])
        token = tokens.get(row["customer_key"])
        if token is None and document is not None:
            found = milvus.find_clients_by_document(document)
            client, reason = single_match(found, "id", "Milvus clients")
            if found and client is None:
                state.mark(kind, item.key, "pending", reason=reason)
                counts["ambiguous"] += 1
                result.update(action="ambiguous", reason=reason)
                out.append(result)
                continue
            token = client.get("token") if client else None
        marker = ticket_marker(item.source, item.source_id)

        def lookup(marker: str = marker) -> list[dict[str, Any]]:
            return [
                t
                for page in milvus.iter_tickets({"assunto": marker})
                for t in page
                if marker in subject_markers(t.get("assunto"))
            ]

        if token is None:
            if crm_settings.dry_run:
                result["action"] = "would_create"
                would_create.append(
                    {
                        "source": item.source,
                        "source_id": item.source_id,
                        "tag": TAG_LABELS[item.tag],
                        "customer_key": row["customer_key"],
                        "note": "after its client is created in Milvus",
                    }
                )
            else:
                reason = "the client is not in Milvus yet"
                state.mark(kind, item.key, "pending", reason=reason)
                counts["pending"] += 1
                result.update(action="pending", reason=reason)
            out.append(result)
            continue
        result["milvus_token"] = token
        contact = contacts.get(int(contact_id)) or {}
        if crm_settings.dry_run:
            found = lookup()
            if found:
                ticket, reason = single_match(found, "id", "Milvus tickets")
                if ticket is None:
                    counts["ambiguous"] += 1
                    result.update(action="ambiguous", reason=reason)
                else:
                    counts["linked"] += 1
                    result.update(action="linked", milvus_ticket_id=int_id(ticket.get("id")))
            else:
                result["action"] = "would_create"
                would_create.append(
                    {
                        "source": item.source,
                        "source_id": item.source_id,
                        "tag": TAG_LABELS[item.tag],
                        "customer_key": row["customer_key"],
                    }
                )
            out.append(result)
            continue
        payload = ticket_payload(item, token, contact, users, crm_settings.ticket_desk)

        def create(payload: dict[str, Any] = payload, key: str = item.key) -> int:
            state.mark(kind, key, "creating", milvus_token=payload["cliente_id"])
            return milvus.create_ticket(payload)

        action, value, refusal = create_or_refusal(lookup, create)
        if action == "rejected":
            reason = f"Milvus refused the ticket: {refusal}"
            state.mark(kind, item.key, "rejected", reason=reason)
            counts["rejected"] += 1
            result.update(action="rejected", reason=reason)
            out.append(result)
            continue
        if isinstance(value, list):
            ticket, reason = single_match(value, "id", "Milvus tickets")
            if ticket is None:
                state.mark(kind, item.key, "ambiguous", reason=reason)
                counts["ambiguous"] += 1
                result.update(action="ambiguous", reason=reason)
                out.append(result)
                continue
            value = ticket.get("id")
        ticket_id = int_id(value)
        counts[action] += 1
        state.mark(kind, item.key, action, milvus_ticket_id=ticket_id, milvus_token=token)
        result.update(action=action, milvus_ticket_id=ticket_id)
        out.append(result)
    frontier = cap_high_water_mark(frontier, context.asset_key.to_user_string())
    new_cursor = previous if crm_settings.dry_run else (frontier.isoformat() if frontier else "")
    context.log.info("Milvus tickets sync: %s", counts)
    return Output(
        _frame(out, TICKET_COLUMNS).astype({"source_id": "Int64", "milvus_ticket_id": "Int64"}),
        metadata=_sync_metadata(
            counts,
            crm_settings.dry_run,
            would_create,
            {
                "cursor": new_cursor or "",
                "selected_since": since.isoformat() if since else "everything",
                "start_date": crm_settings.start_date,
                "tag_ids": MetadataValue.json(
                    {
                        label: sorted(i for i, v in tags.items() if v == k)
                        for k, label in TAG_LABELS.items()
                    }
                ),
                "quarantine_reasons": MetadataValue.json(quarantined),
                "lookups": MetadataValue.json(dict(milvus.lookup_stats)),
                "http_requests": MetadataValue.json(milvus.get_client().stats.as_dict()),
                "rate_limit_per_second_at_end": milvus.adaptive.current_rate or 0.0,
            },
        ),
    )


def milvus_document_as(value: str) -> str:
    """``MILVUS_DOCUMENT_AS``: ``string`` (zero-padded text) or ``number`` (a JSON number)."""
    text = value.strip().lower()
    if text not in ("string", "number"):
        raise ValueError(f"MILVUS_DOCUMENT_AS must be string or number, not {value!r}")
    return text


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


# Resources from settings -----------------------------------------------------------------------


def crm_resources(env: Mapping[str, str]) -> dict[str, Any]:
    """The CRM resources for the deployment the settings describe (sandbox when unset); the
    pseudonym key (``pseudonym``) and the documents store are the platform's own.

    A source's credential defaults to the sandbox's only while its URL is unset too; once the
    URL is set, the credential must be set (an unset EnvVar fails the run naming it)."""
    from support_assets.core.settings import env_or, http_bounds, is_set, local_value, sandbox_url
    from support_assets.sandbox.milvus import SANDBOX_MILVUS_API_TOKEN
    from support_assets.sandbox.ploomes import (
        SANDBOX_PLOOMES_USER_KEY,
        TAG_ENTREGA,
        TAG_INSTALACAO,
    )

    def secret(name: str, url_setting: str, sandbox_value: str) -> str | EnvVar:
        if is_set(name, env) or is_set(url_setting, env):
            return EnvVar(name)
        return sandbox_value

    def tag_id(name: str, sandbox_value: int) -> int | None:
        """The setting's id; the sandbox's only while Ploomes is the sandbox; else None (the
        sync looks the tag up by name)."""
        value = local_value(name, "", env).strip()
        if value:
            try:
                return int(value)
            except ValueError:
                raise ValueError(f"{name} must be a whole number, not {value!r}") from None
        return None if is_set("PLOOMES_BASE_URL", env) else sandbox_value

    from support_assets.sources.crm.migration import CrmLegacySettings

    start_date = local_value("CRM_SYNC_START_DATE", "2024-02-24", env).strip()
    try:
        date.fromisoformat(start_date)
    except ValueError:
        raise ValueError(f"CRM_SYNC_START_DATE must be YYYY-MM-DD, not {start_date!r}") from None

    return {
        "ploomes": PloomesResource(
            base_url=env_or("PLOOMES_BASE_URL", f"{sandbox_url(env)}/ploomes", env),
            user_key=secret("PLOOMES_USER_KEY", "PLOOMES_BASE_URL", SANDBOX_PLOOMES_USER_KEY),
            rate_limit_per_second=float(local_value("PLOOMES_RATE_LIMIT_PER_SECOND", "2", env)),
            **http_bounds(env),
        ),
        "milvus": MilvusResource(
            base_url=env_or("MILVUS_BASE_URL", f"{sandbox_url(env)}/milvus/api", env),
            api_token=secret("MILVUS_API_TOKEN", "MILVUS_BASE_URL", SANDBOX_MILVUS_API_TOKEN),
            rate_limit_per_second=float(local_value("MILVUS_RATE_LIMIT_PER_SECOND", "3", env)),
            document_as=milvus_document_as(local_value("MILVUS_DOCUMENT_AS", "string", env)),
            **http_bounds(env),
        ),
        "crm_settings": CrmSyncSettings(
            dry_run=local_value("CRM_SYNC_DRY_RUN", "false", env).strip().lower()
            in ("1", "true", "yes", "on"),
            start_date=start_date,
            installation_tag_id=tag_id("PLOOMES_TAG_INSTALACAO_ID", TAG_INSTALACAO),
            delivery_tag_id=tag_id("PLOOMES_TAG_ENTREGA_ID", TAG_ENTREGA),
            ticket_desk=local_value("MILVUS_TICKET_DESK", "Mesa padrão", env),
        ),
        "crm_legacy": CrmLegacySettings(
            sent_collection=local_value("CRM_LEGACY_SENT_COLLECTION", "", env) or None,
            sent_field=local_value("CRM_LEGACY_SENT_FIELD", "cnpj_cpf", env),
            mongodb_uri=EnvVar("CRM_LEGACY_MONGODB_URI")
            if is_set("CRM_LEGACY_MONGODB_URI", env)
            else None,
            mongodb_database=local_value("CRM_LEGACY_MONGODB_DATABASE", "", env) or None,
            ticket_window_minutes=int(local_value("CRM_LEGACY_TICKET_WINDOW_MINUTES", "60", env)),
        ),
    }
