"""Analytics marts: one view of customers and of support interactions, and daily KPIs.

* ``marts/customers`` and ``marts/customer_identifiers``: identity resolution across Ploomes,
  Milvus, Octadesk (ticket custom fields and requester, chat contact), the web helpdesk and the
  service events. Every identifier a source holds (a CPF/CNPJ validated with python-stdnum, an
  e-mail case-folded, a phone in E.164 read with region BR, a Milvus client token, a web helpdesk
  client id) becomes a keyed hash; identifiers seen on the same record are joined with
  union-find, and each resulting group is one customer. Its ``customer_key`` is the HMAC of its
  document (the same key ``staging/service_events`` and ``staging/crm_clients`` carry), or of its
  best other identifier when it has no document. Raw documents, e-mails and phones never leave
  this module.
* ``marts/support_interactions``: one row per interaction of every source in common columns.
* ``marts/support_kpis_daily``: per São Paulo day, source, channel and agent, the KPIs analysts
  compare, with a chart attached to each materialization.

All three follow their sources declaratively (``AutomationCondition.eager()``); freshness policies
on their sources warn when one falls behind, and in-body checks guard every mart (unique keys,
no raw document anywhere, row counts consistent with the sources).
"""

import base64
import io
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetOut,
    AssetsDefinition,
    AssetSelection,
    AssetSpec,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    DailyPartitionsDefinition,
    DefaultSensorStatus,
    FreshnessPolicy,
    MetadataValue,
    Output,
    apply_freshness_policy,
    asset,
    map_asset_specs,
    multi_asset,
)

from support_assets.core.identity import (
    PseudonymResource,
    customer_key,
    identifier_key,
    is_valid_cnpj,
    is_valid_cpf,
    normalize_email,
    normalize_phone,
)
from support_assets.core.settings import local_value
from support_assets.sources.crm import assets as crm
from support_assets.sources.helpdesk_web import assets as helpdesk_web
from support_assets.sources.octadesk import assets as octadesk
from support_assets.sources.service_events import assets as service_events
from support_assets.sources.telegram import assets as telegram

GROUP = "analytics"
OWNERS = ["team:data-platform"]
WAREHOUSE = "warehouse_io_manager"
SAO_PAULO = ZoneInfo("America/Sao_Paulo")

CUSTOMERS = AssetKey(["marts", "customers"])
CUSTOMER_IDENTIFIERS = AssetKey(["marts", "customer_identifiers"])
INTERACTIONS = AssetKey(["marts", "support_interactions"])
KPIS = AssetKey(["marts", "support_kpis_daily"])
MART_KEYS = (CUSTOMERS, CUSTOMER_IDENTIFIERS, INTERACTIONS, KPIS)

#: The systems a customer can be seen in (``marts/customers`` has an ``in_<source>`` column each).
CUSTOMER_SOURCES = ("ploomes", "milvus", "octadesk", "helpdesk_web", "service_events")
#: Identifier kinds, best first: the customer_key of a group comes from the first kind it has.
IDENTIFIER_KINDS = ("document", "email", "phone", "milvus_token", "helpdesk_web_client")
#: Agent value of the KPI rows that sum every agent of a source and channel.
ALL_AGENTS = "(all agents)"
#: Agent of chats the bot handled alone.
BOT_AGENT = "bot"

# Milvus ticket statuses (as the API writes them) to the common status set.
MILVUS_STATUS_MAP = {
    "a fazer": "open",
    "atendendo": "in_progress",
    "pausado": "pending",
    "finalizado": "solved",
    "conferência": "in_progress",
    "agendado": "pending",
    "expirado": "cancelled",
    "ag. solução": "pending",
}


def kpi_start_date(environ: Mapping[str, str] | None = None) -> str:
    """SUPPORT_KPI_START_DATE: the first day of the KPI partitions (where data can exist)."""
    value = local_value("SUPPORT_KPI_START_DATE", "2024-01-01", environ).strip()
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise ValueError(f"SUPPORT_KPI_START_DATE must be YYYY-MM-DD, not {value!r}") from None


KPI_PARTITIONS = DailyPartitionsDefinition(
    start_date=kpi_start_date(), timezone="America/Sao_Paulo", end_offset=1
)
MART_AUTOMATION = AutomationCondition.eager()

# ----------------------------------------------------------------------------------------------
# Identifiers


@dataclass(frozen=True)
class Identifier:
    kind: str
    key: str
    document_type: str | None = None


def _value(value: Any) -> Any:
    """None for NaN/NaT/NA, the value otherwise."""
    if value is None:
        return None
    if isinstance(value, float | np.floating) and np.isnan(value):
        return None
    if value is pd.NaT or value is pd.NA:
        return None
    return value


@dataclass
class IdentifierMaker:
    """Turns what sources hold into pseudonymous identifiers (keyed hashes, never raw values)."""

    secret: str

    def document(self, value: Any, hint: str | None = None) -> Identifier | None:
        from support_assets.core.identity import document_or_reason

        value = _value(value)
        if value is None:
            return None
        document, _ = document_or_reason(value, hint)
        if document is None:
            return None
        return Identifier("document", customer_key(document, self.secret), document.kind)

    def document_key(self, key: Any) -> Identifier | None:
        """A document already pseudonymised by its source (service events: a CPF's key)."""
        key = _value(key)
        return None if not key else Identifier("document", str(key), "cpf")

    def email(self, value: Any) -> Identifier | None:
        email = normalize_email(_value(value))
        return None if email is None else Identifier("email", self._key("email", email))

    def phone(self, value: Any) -> Identifier | None:
        phone = normalize_phone(_value(value))
        return None if phone is None else Identifier("phone", self._key("phone", phone))

    def other(self, kind: str, value: Any) -> Identifier | None:
        value = _value(value)
        if value is None or str(value).strip() == "":
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return Identifier(kind, self._key(kind, str(value).strip()))

    def _key(self, kind: str, value: str) -> str:
        return identifier_key(kind, value, self.secret)


def _present(items: Iterable[Identifier | None]) -> list[Identifier]:
    return [i for i in items if i is not None]


def ploomes_contact_identifiers(
    record: Mapping[str, Any], ids: IdentifierMaker
) -> list[Identifier]:
    document, _ = crm.ploomes_contact_document(record)
    found: list[Identifier | None] = []
    if document is not None:
        found.append(Identifier("document", customer_key(document, ids.secret), document.kind))
    found.append(ids.email(record.get("Email")))
    for prop in record.get("OtherProperties") or []:
        if isinstance(prop, dict) and isinstance(prop.get("StringValue"), str):
            found.append(ids.email(prop["StringValue"]))
    for phone in record.get("Phones") or []:
        if isinstance(phone, dict):
            found.append(ids.phone(phone.get("PhoneNumber")))
    return _present(found)


def milvus_client_identifiers(record: Mapping[str, Any], ids: IdentifierMaker) -> list[Identifier]:
    document, _ = crm.milvus_client_document(record)
    found: list[Identifier | None] = []
    if document is not None:
        found.append(Identifier("document", customer_key(document, ids.secret), document.kind))
    found.append(ids.other("milvus_token", record.get("token")))
    return _present(found)


def octadesk_ticket_identifiers(row: Mapping[str, Any], ids: IdentifierMaker) -> list[Identifier]:
    return _present(
        [
            ids.document(row.get("cf_cpf"), "cpf"),
            ids.document(row.get("cf_cnpj"), "cnpj"),
            ids.email(row.get("requester_email")),
            ids.email(row.get("cf_email_do_cliente")),
        ]
    )


def octadesk_chat_identifiers(row: Mapping[str, Any], ids: IdentifierMaker) -> list[Identifier]:
    return _present([ids.email(row.get("contact_email")), ids.phone(row.get("contact_phone"))])


def helpdesk_web_identifiers(row: Mapping[str, Any], ids: IdentifierMaker) -> list[Identifier]:
    return _present([ids.other("helpdesk_web_client", row.get("client_id"))])


def service_event_identifiers(row: Mapping[str, Any], ids: IdentifierMaker) -> list[Identifier]:
    return _present([ids.document_key(row.get("customer_key"))])


def milvus_ticket_identifiers(row: Mapping[str, Any], ids: IdentifierMaker) -> list[Identifier]:
    return _present([ids.other("milvus_token", row.get("cliente_token"))])


def with_columns(frame: pd.DataFrame | None, columns: list[str]) -> pd.DataFrame:
    """``frame`` with at least ``columns`` (a table never written loads as an empty frame with
    no columns)."""
    if frame is None:
        return pd.DataFrame(columns=columns)
    missing = [c for c in columns if c not in frame.columns]
    return frame.assign(**dict.fromkeys(missing)) if missing else frame


def _rows(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    if frame is None or frame.empty:
        return []
    return frame.to_dict("records")


def _records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    import json

    return [json.loads(r["record"]) for r in _rows(frame) if isinstance(r.get("record"), str)]


@dataclass
class Observation:
    """One source record and the identifiers it carries."""

    source: str
    identifiers: list[Identifier]


@dataclass
class UnionFind:
    parent: dict[str, str] = field(default_factory=dict)

    def add(self, item: str) -> None:
        self.parent.setdefault(item, item)

    def find(self, item: str) -> str:
        root = item
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[item] != root:
            self.parent[item], item = root, self.parent[item]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            low, high = sorted((ra, rb))
            self.parent[high] = low


CUSTOMER_COLUMNS = [
    "customer_key",
    "document_type",
    "sources",
    "source_count",
    *(f"in_{s}" for s in CUSTOMER_SOURCES),
    "document_count",
    "email_count",
    "phone_count",
    "identifier_count",
    "record_count",
]
IDENTIFIER_COLUMNS = ["identifier_key", "identifier_kind", "customer_key", "sources"]


def resolve_customers(observations: list[Observation]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Union-find over the identifiers: one row per customer, one per identifier."""
    uf = UnionFind()
    kinds: dict[str, Identifier] = {}
    sources: dict[str, set[str]] = {}
    for obs in observations:
        keys = [i.key for i in obs.identifiers]
        for ident in obs.identifiers:
            uf.add(ident.key)
            kinds.setdefault(ident.key, ident)
            sources.setdefault(ident.key, set()).add(obs.source)
        for other in keys[1:]:
            uf.union(keys[0], other)
    groups: dict[str, list[str]] = {}
    for key in kinds:
        groups.setdefault(uf.find(key), []).append(key)
    records: dict[str, int] = {}
    for obs in observations:
        if obs.identifiers:
            root = uf.find(obs.identifiers[0].key)
            records[root] = records.get(root, 0) + 1
    customers, identifiers = [], []
    for root, members in groups.items():
        by_kind = {k: sorted(m for m in members if kinds[m].kind == k) for k in IDENTIFIER_KINDS}
        best = next(k for k in IDENTIFIER_KINDS if by_kind[k])
        key = by_kind[best][0]
        seen = set().union(*(sources[m] for m in members))
        doc_types = sorted({kinds[m].document_type for m in by_kind["document"]})
        customers.append(
            {
                "customer_key": key,
                "document_type": ",".join(doc_types) if doc_types else None,
                "sources": ",".join(sorted(seen)),
                "source_count": len(seen),
                **{f"in_{s}": s in seen for s in CUSTOMER_SOURCES},
                "document_count": len(by_kind["document"]),
                "email_count": len(by_kind["email"]),
                "phone_count": len(by_kind["phone"]),
                "identifier_count": len(members),
                "record_count": records.get(root, 0),
            }
        )
        for member in members:
            identifiers.append(
                {
                    "identifier_key": member,
                    "identifier_kind": kinds[member].kind,
                    "customer_key": key,
                    "sources": ",".join(sorted(sources[member])),
                }
            )
    customers_frame = pd.DataFrame(customers, columns=CUSTOMER_COLUMNS)
    identifiers_frame = pd.DataFrame(identifiers, columns=IDENTIFIER_COLUMNS)
    return (
        customers_frame.sort_values("customer_key", ignore_index=True),
        identifiers_frame.sort_values("identifier_key", ignore_index=True),
    )


def customer_observations(
    ids: IdentifierMaker,
    ploomes_contacts: pd.DataFrame,
    milvus_clients: pd.DataFrame,
    octadesk_tickets: pd.DataFrame,
    octadesk_chats: pd.DataFrame,
    helpdesk_web_tickets: pd.DataFrame,
    service_events_rows: pd.DataFrame,
) -> list[Observation]:
    obs = [
        Observation("ploomes", ploomes_contact_identifiers(r, ids))
        for r in _records(ploomes_contacts)
    ]
    obs += [
        Observation("milvus", milvus_client_identifiers(r, ids)) for r in _records(milvus_clients)
    ]
    obs += [
        Observation("octadesk", octadesk_ticket_identifiers(r, ids))
        for r in _rows(octadesk_tickets)
    ]
    obs += [
        Observation("octadesk", octadesk_chat_identifiers(r, ids)) for r in _rows(octadesk_chats)
    ]
    obs += [
        Observation("helpdesk_web", helpdesk_web_identifiers(r, ids))
        for r in _rows(helpdesk_web_tickets)
    ]
    obs += [
        Observation("service_events", service_event_identifiers(r, ids))
        for r in _rows(service_events_rows)
    ]
    return [o for o in obs if o.identifiers]


# ----------------------------------------------------------------------------------------------
# Checks shared by the marts

_ALNUM_RUN = re.compile(r"[0-9A-Za-z]+")
_SEPARATOR_GAP = re.compile(r"[.\-/\s\u2010-\u2015]{1,3}")


def looks_like_document(text: str) -> bool:
    """True when ``text`` holds a valid CPF or CNPJ in any formatting, alone or inside other text:
    runs of letters and digits joined by at most three separators (dots, dashes, slashes, spaces)
    are read together, and any stretch of them that is 11 or 14 characters long is validated."""
    runs = list(_ALNUM_RUN.finditer(text))
    for i, first in enumerate(runs):
        compact = first.group(0).upper()
        j = i
        while len(compact) <= 14:
            if len(compact) == 11 and is_valid_cpf(compact):
                return True
            if len(compact) == 14 and is_valid_cnpj(compact):
                return True
            j += 1
            if j == len(runs):
                break
            gap = text[runs[j - 1].end() : runs[j].start()]
            if not _SEPARATOR_GAP.fullmatch(gap):
                break
            compact += runs[j].group(0).upper()
    return False


def raw_document_findings(frame: pd.DataFrame) -> dict[str, int]:
    """Per string column, how many values hold a valid CPF/CNPJ."""
    findings: dict[str, int] = {}
    for column in frame.columns:
        series = frame[column]
        if series.dtype != object and not pd.api.types.is_string_dtype(series):
            continue
        hits = sum(1 for v in series.dropna() if isinstance(v, str) and looks_like_document(v))
        if hits:
            findings[column] = hits
    return findings


def no_raw_documents_result(asset_key: AssetKey, frame: pd.DataFrame) -> AssetCheckResult:
    findings = raw_document_findings(frame)
    return AssetCheckResult(
        asset_key=asset_key,
        check_name="no_raw_documents",
        passed=not findings,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "columns_with_documents": MetadataValue.json(findings),
            "string_columns_scanned": int(
                sum(
                    1
                    for c in frame.columns
                    if frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c])
                )
            ),
        },
        description="No string value of the mart validates as a CPF or CNPJ in any formatting.",
    )


def unique_key_result(asset_key: AssetKey, frame: pd.DataFrame, key: list[str]) -> AssetCheckResult:
    duplicated = int(frame.duplicated(subset=key).sum()) if not frame.empty else 0
    nulls = int(frame[key].isna().any(axis=1).sum()) if not frame.empty else 0
    return AssetCheckResult(
        asset_key=asset_key,
        check_name="unique_key",
        passed=duplicated == 0 and nulls == 0,
        metadata={"key": ", ".join(key), "duplicated_rows": duplicated, "null_keys": nulls},
    )


def _check_specs(key: AssetKey, what: str) -> list[AssetCheckSpec]:
    return [
        AssetCheckSpec("unique_key", asset=key, description=f"{what} is unique and never null."),
        AssetCheckSpec(
            "no_raw_documents",
            asset=key,
            description="No string column holds a value that validates as a CPF or CNPJ.",
        ),
        AssetCheckSpec(
            "row_count_matches_sources",
            asset=key,
            description="The row count agrees with the sources the mart was built from.",
        ),
    ]


# ----------------------------------------------------------------------------------------------
# marts/customers


_CUSTOMERS_DESCRIPTION = (
    "One row per customer, resolved across Ploomes contacts, Milvus clients, Octadesk tickets "
    "(cpf custom field, requester e-mail) and chats (contact e-mail and phone), web helpdesk "
    "clients and service events. Columns: customer_key (HMAC-SHA256 with SUPPORT_PSEUDONYM_KEY "
    "of the customer's CPF/CNPJ, the same key as staging/crm_clients and staging/service_events; "
    "of its e-mail, phone, Milvus token or web helpdesk client id when no document is known); "
    "document_type (cpf, cnpj, or both comma-separated; null without a document); sources "
    "(comma-separated systems the customer was seen in) and source_count; in_ploomes, "
    "in_milvus, in_octadesk, in_helpdesk_web, in_service_events (booleans); document_count, "
    "email_count, phone_count, identifier_count (distinct identifiers joined into this "
    "customer); record_count (source records that carry them). Identifiers are a validated "
    "CPF/CNPJ (python-stdnum), an e-mail trimmed and case-folded, a phone in E.164 (region BR); "
    "records sharing any identifier are one customer (union-find). No raw document, e-mail or "
    "phone is stored."
)
_IDENTIFIERS_DESCRIPTION = (
    "The bridge from identifiers to customers: identifier_key (HMAC of the normalised identifier; "
    "for documents the customer_key of that document), identifier_kind (document, email, phone, "
    "milvus_token, helpdesk_web_client), customer_key (the customer it resolved to) and sources "
    "(systems holding it). marts/support_interactions looks interactions up here."
)


@multi_asset(
    name="marts_customers",
    group_name=GROUP,
    ins={
        "ploomes_contacts": AssetIn(crm.RAW_CONTACTS),
        "milvus_clients": AssetIn(crm.RAW_MILVUS_CLIENTS),
        "octadesk_tickets": AssetIn(octadesk.STAGING_TICKETS),
        "octadesk_chats": AssetIn(octadesk.STAGING_CHATS),
        "helpdesk_web_tickets": AssetIn(helpdesk_web.STAGING_TICKETS),
        "service_events_rows": AssetIn(service_events.STAGING),
    },
    outs={
        "customers": AssetOut(
            key=CUSTOMERS,
            io_manager_key=WAREHOUSE,
            metadata={"write_mode": "replace", "primary_key": ["customer_key"]},
            description=_CUSTOMERS_DESCRIPTION,
            owners=OWNERS,
            kinds={"duckdb", "pandas"},
            tags={"layer": "marts"},
            automation_condition=MART_AUTOMATION,
        ),
        "identifiers": AssetOut(
            key=CUSTOMER_IDENTIFIERS,
            io_manager_key=WAREHOUSE,
            metadata={"write_mode": "replace", "primary_key": ["identifier_key"]},
            description=_IDENTIFIERS_DESCRIPTION,
            owners=OWNERS,
            kinds={"duckdb", "pandas"},
            tags={"layer": "marts"},
            automation_condition=MART_AUTOMATION,
        ),
    },
    check_specs=[
        *_check_specs(CUSTOMERS, "customer_key"),
        *_check_specs(CUSTOMER_IDENTIFIERS, "identifier_key"),
    ],
    can_subset=False,
)
def marts_customers(
    context: AssetExecutionContext,
    pseudonym: PseudonymResource,
    ploomes_contacts: pd.DataFrame,
    milvus_clients: pd.DataFrame,
    octadesk_tickets: pd.DataFrame,
    octadesk_chats: pd.DataFrame,
    helpdesk_web_tickets: pd.DataFrame,
    service_events_rows: pd.DataFrame,
) -> Iterator[Any]:
    ids = IdentifierMaker(pseudonym.key)
    observations = customer_observations(
        ids,
        ploomes_contacts,
        milvus_clients,
        octadesk_tickets,
        octadesk_chats,
        helpdesk_web_tickets,
        service_events_rows,
    )
    customers, identifiers = resolve_customers(observations)
    by_source = {s: int(customers[f"in_{s}"].sum()) for s in CUSTOMER_SOURCES}
    multi = int((customers["source_count"] >= 2).sum())
    context.log.info("customers: %d (%d seen in two or more systems)", len(customers), multi)
    yield Output(
        customers,
        output_name="customers",
        metadata={
            "customers": len(customers),
            "customers_by_source": MetadataValue.json(by_source),
            "customers_in_several_sources": multi,
            "source_records_with_identifiers": len(observations),
        },
    )
    yield Output(identifiers, output_name="identifiers", metadata={"identifiers": len(identifiers)})
    distinct = set()
    for obs in observations:
        distinct.update(i.key for i in obs.identifiers)
    for key, frame, pk in (
        (CUSTOMERS, customers, ["customer_key"]),
        (CUSTOMER_IDENTIFIERS, identifiers, ["identifier_key"]),
    ):
        yield unique_key_result(key, frame, pk)
        yield no_raw_documents_result(key, frame)
    service_keys = set(with_columns(service_events_rows, ["customer_key"])["customer_key"].dropna())
    yield AssetCheckResult(
        asset_key=CUSTOMERS,
        check_name="row_count_matches_sources",
        passed=(
            customers["customer_key"].nunique() == identifiers["customer_key"].nunique()
            and len(customers) <= len(identifiers)
            and int(customers["record_count"].sum()) == len(observations)
        ),
        metadata={
            "customers": len(customers),
            "customers_in_identifiers": int(identifiers["customer_key"].nunique()),
            "records_with_identifiers": len(observations),
            "records_counted": int(customers["record_count"].sum()),
        },
    )
    yield AssetCheckResult(
        asset_key=CUSTOMER_IDENTIFIERS,
        check_name="row_count_matches_sources",
        passed=len(identifiers) == len(distinct)
        and service_keys <= set(identifiers["identifier_key"]),
        metadata={"identifiers": len(identifiers), "distinct_identifiers_seen": len(distinct)},
    )


# ----------------------------------------------------------------------------------------------
# marts/support_interactions

INTERACTION_COLUMNS = [
    "interaction_id",
    "source",
    "channel",
    "source_record_id",
    "customer_key",
    "agent",
    "created_at_utc",
    "closed_at_utc",
    "created_at_sao_paulo",
    "closed_at_sao_paulo",
    "created_date_sao_paulo",
    "status",
    "status_common",
    "satisfaction_score",
    "satisfaction_scale_max",
    "solved",
    "with_bot",
    "handled_by",
    "bot_contained",
    "first_response_seconds",
    "resolution_seconds",
]
INTERACTION_SOURCES = (
    "octadesk_ticket",
    "octadesk_chat",
    "helpdesk_web",
    "milvus",
    "service_events",
    "telegram",
)
TELEGRAM_COLUMNS = [
    "update_id",
    "kind",
    "chat_id",
    "chat_type",
    "sender_is_bot",
    "command",
    "callback_data",
    "sent_at",
    "received_at",
]


def telegram_conversations(messages: pd.DataFrame | None) -> pd.DataFrame:
    """Bot conversations: one private chat on one São Paulo day with at least one customer
    message or button press (marts/bot_insights' rule); handed_to_human when the customer sent
    /atendente or /humano or pressed a 'handoff' button that day."""
    frame = with_columns(messages, TELEGRAM_COLUMNS)
    columns = ["chat_id", "day", "started_at", "last_at", "handed_to_human", "handoff_at"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    event_at = pd.to_datetime(frame["sent_at"], utc=True).fillna(
        pd.to_datetime(frame["received_at"], utc=True)
    )
    not_bot = frame["sender_is_bot"].astype("boolean").fillna(False) == False  # noqa: E712
    kinds = telegram.CUSTOMER_KINDS | {"callback_query"}
    keep = (frame["chat_type"] == "private") & not_bot & frame["kind"].isin(kinds)
    private = frame[keep].assign(event_at=event_at[keep])
    if private.empty:
        return pd.DataFrame(columns=columns)
    asks = private["command"].fillna("").isin(telegram.HANDOFF_COMMANDS) | private[
        "callback_data"
    ].fillna("").str.startswith(telegram.HANDOFF_CALLBACK_PREFIX)
    private = private.assign(
        day=private["event_at"].dt.tz_convert(SAO_PAULO).dt.date,
        asks=asks,
        handoff_at=private["event_at"].where(asks),
    )
    grouped = private.groupby(["chat_id", "day"], sort=True)
    out = grouped.agg(
        started_at=("event_at", "min"),
        last_at=("event_at", "max"),
        handed_to_human=("asks", "any"),
        handoff_at=("handoff_at", "min"),
    ).reset_index()
    return out[columns]


_INTERACTIONS_DESCRIPTION = (
    "One row per support interaction from every source. Columns: interaction_id "
    "(<source>:<source_record_id>, unique); source (octadesk_ticket, octadesk_chat, "
    "helpdesk_web, milvus, service_events, telegram); channel (the source's channel, "
    "lower-case: email, whatsapp, web, phone, instagram, portal do cliente, milvus, telegram, "
    "the service events' channel); "
    "source_record_id; customer_key (from marts/customer_identifiers; null when the record "
    "carries no identifier); agent (the person who handled it; 'bot' for chats the bot handled "
    "alone; null when unassigned); created_at_utc and closed_at_utc (UTC); "
    "created_at_sao_paulo and closed_at_sao_paulo (America/Sao_Paulo local time as ISO 8601 "
    "text with the offset of the day, e.g. 2026-10-31T09:14:48.191-03:00); "
    "created_date_sao_paulo (the São Paulo day, the KPI day); status (as the source "
    "names it) and status_common (open, pending, in_progress, solved, rejected, cancelled); "
    "satisfaction_score on the source's scale and satisfaction_scale_max (5 for Octadesk, 10 "
    "for service events); solved (status_common is solved, or the event says so); with_bot "
    "(the chat started with the bot); handled_by (bot or human, chats); bot_contained (started "
    "with the bot and never reached a person); first_response_seconds (chats: first bot or "
    "agent reply); resolution_seconds (closed_at minus created_at). Closing times: Octadesk "
    "closedAt; Milvus data_solucao; web helpdesk: updated_at of a ticket whose is_closed is "
    "true (the source has no closing time); service events are attendance records, closed when "
    "they occur (no resolution time). Telegram: one row per bot conversation (a private chat "
    "on one São Paulo day with a customer message or button press, the rule of "
    "marts/bot_insights; source_record_id <chat_id>:<day>), created and closed at its first and "
    "last customer update, agent 'bot' and bot_contained unless the customer asked for a person "
    "(/atendente, /humano or the handoff button), solved unknown (null), no customer_key "
    "(Telegram users carry no document, e-mail or phone)."
)


def _utc(value: Any) -> pd.Timestamp | None:
    value = _value(value)
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)


def _seconds(start: pd.Timestamp | None, end: pd.Timestamp | None) -> float | None:
    if start is None or end is None:
        return None
    return float((end - start).total_seconds())


def _lower(value: Any) -> str | None:
    value = _value(value)
    return None if value is None else str(value).strip().lower() or None


def _interaction(source: str, record_id: Any, **values: Any) -> dict[str, Any]:
    row = dict.fromkeys(INTERACTION_COLUMNS)
    row.update(values)
    row["source"] = source
    row["source_record_id"] = str(record_id)
    row["interaction_id"] = f"{source}:{record_id}"
    created, closed = row["created_at_utc"], row["closed_at_utc"]
    if row["resolution_seconds"] is None:
        row["resolution_seconds"] = _seconds(created, closed)
    if row["solved"] is None:
        row["solved"] = row["status_common"] == "solved"
    return row


def build_interactions(
    ids: IdentifierMaker,
    identifiers: pd.DataFrame,
    octadesk_tickets: pd.DataFrame,
    octadesk_chats: pd.DataFrame,
    helpdesk_web_tickets: pd.DataFrame,
    milvus_tickets: pd.DataFrame,
    service_events_rows: pd.DataFrame,
    telegram_messages: pd.DataFrame | None = None,
) -> pd.DataFrame:
    identifiers = with_columns(identifiers, IDENTIFIER_COLUMNS)
    lookup = dict(zip(identifiers["identifier_key"], identifiers["customer_key"], strict=True))

    def customer(found: list[Identifier]) -> str | None:
        for ident in found:
            if ident.key in lookup:
                return lookup[ident.key]
        return None

    rows: list[dict[str, Any]] = []
    for r in _rows(octadesk_tickets):
        created, closed = _utc(r.get("created_at")), _utc(r.get("closed_at"))
        score = _value(r.get("satisfaction_score"))
        rows.append(
            _interaction(
                "octadesk_ticket",
                r["ticket_id"],
                channel=_lower(r.get("channel")),
                customer_key=customer(octadesk_ticket_identifiers(r, ids)),
                agent=_value(r.get("agent_name")),
                created_at_utc=created,
                closed_at_utc=closed,
                status=_value(r.get("status")),
                status_common=_value(r.get("status_common")),
                satisfaction_score=score,
                satisfaction_scale_max=5 if score is not None else None,
            )
        )
    for r in _rows(octadesk_chats):
        created, closed = _utc(r.get("created_at")), _utc(r.get("closed_at"))
        score = _value(r.get("satisfaction_score"))
        handled_by = _value(r.get("handled_by"))
        with_bot = bool(_value(r.get("with_bot")))
        agent = _value(r.get("agent_name"))
        if agent is None and handled_by == "bot" and with_bot:
            agent = BOT_AGENT
        rows.append(
            _interaction(
                "octadesk_chat",
                r["chat_id"],
                channel=_lower(r.get("channel")),
                customer_key=customer(octadesk_chat_identifiers(r, ids)),
                agent=agent,
                created_at_utc=created,
                closed_at_utc=closed,
                status=_value(r.get("status")),
                status_common=_value(r.get("status_common")),
                satisfaction_score=score,
                satisfaction_scale_max=5 if score is not None else None,
                with_bot=with_bot,
                handled_by=handled_by,
                bot_contained=with_bot and handled_by == "bot",
                first_response_seconds=_value(r.get("first_response_seconds")),
                resolution_seconds=_value(r.get("duration_seconds")),
            )
        )
    for r in _rows(helpdesk_web_tickets):
        created = _utc(r.get("created_at"))
        closed = _utc(r.get("updated_at")) if _value(r.get("is_closed")) is True else None
        rows.append(
            _interaction(
                "helpdesk_web",
                r["ticket_id"],
                channel=_lower(r.get("channel")),
                customer_key=customer(helpdesk_web_identifiers(r, ids)),
                agent=_value(r.get("agent_name")),
                created_at_utc=created,
                closed_at_utc=closed,
                status=_value(r.get("status")),
                status_common=_value(r.get("status_common")),
            )
        )
    for r in _rows(milvus_tickets):
        status = _value(r.get("status"))
        rows.append(
            _interaction(
                "milvus",
                int(r["id"]),
                channel="milvus",
                customer_key=customer(milvus_ticket_identifiers(r, ids)),
                agent=_value(r.get("tecnico")),
                created_at_utc=_utc(r.get("created_at")),
                closed_at_utc=_utc(r.get("solved_at")),
                status=status,
                status_common=MILVUS_STATUS_MAP.get(str(status).strip().lower()),
            )
        )
    for r in _rows(service_events_rows):
        occurred = _utc(r.get("occurred_at"))
        solved = bool(_value(r.get("solved")))
        rows.append(
            _interaction(
                "service_events",
                r["event_key"],
                channel=_lower(r.get("channel")),
                customer_key=customer(service_event_identifiers(r, ids)),
                created_at_utc=occurred,
                closed_at_utc=occurred,
                status="solved" if solved else "unsolved",
                status_common="solved" if solved else None,
                satisfaction_score=_value(r.get("service_score")),
                satisfaction_scale_max=10,
                solved=solved,
                resolution_seconds=float("nan"),
            )
        )
    for c in _rows(telegram_conversations(telegram_messages)):
        handed = bool(c["handed_to_human"])
        rows.append(
            _interaction(
                "telegram",
                f"{int(c['chat_id'])}:{c['day'].isoformat()}",
                channel="telegram",
                agent=None if handed else BOT_AGENT,
                created_at_utc=_utc(c["started_at"]),
                closed_at_utc=_utc(c["last_at"]),
                status="handed_to_human" if handed else "bot_only",
                solved=pd.NA,
                with_bot=True,
                handled_by="human" if handed else "bot",
                bot_contained=not handed,
                resolution_seconds=float("nan"),
            )
        )
    frame = pd.DataFrame(rows, columns=INTERACTION_COLUMNS)
    for column in ("created_at_utc", "closed_at_utc"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
        local = frame[column].dt.tz_convert(SAO_PAULO)
        # ISO 8601 with the offset São Paulo had then: explicit, and no store re-reads it as UTC.
        frame[column.replace("_utc", "_sao_paulo")] = [
            None if pd.isna(t) else t.isoformat(timespec="milliseconds") for t in local
        ]
        if column == "created_at_utc":
            frame["created_date_sao_paulo"] = local.dt.date
    frame = frame.astype(
        {
            "satisfaction_score": "float64",
            "satisfaction_scale_max": "Int64",
            "first_response_seconds": "float64",
            "resolution_seconds": "float64",
            "with_bot": "boolean",
            "bot_contained": "boolean",
            "solved": "boolean",
        }
    )
    return frame.sort_values("interaction_id", ignore_index=True)


@asset(
    key=INTERACTIONS,
    group_name=GROUP,
    io_manager_key=WAREHOUSE,
    ins={
        "identifiers": AssetIn(CUSTOMER_IDENTIFIERS),
        "octadesk_tickets": AssetIn(octadesk.STAGING_TICKETS),
        "octadesk_chats": AssetIn(octadesk.STAGING_CHATS),
        "helpdesk_web_tickets": AssetIn(helpdesk_web.STAGING_TICKETS),
        "milvus_tickets": AssetIn(crm.RAW_MILVUS_TICKETS),
        "service_events_rows": AssetIn(service_events.STAGING),
        "telegram_messages": AssetIn(telegram.STAGING_MESSAGES),
    },
    metadata={"write_mode": "replace", "primary_key": ["interaction_id"]},
    owners=OWNERS,
    kinds={"duckdb", "pandas"},
    tags={"layer": "marts"},
    description=_INTERACTIONS_DESCRIPTION,
    # The Telegram messages are daily partitions, most of them never written (days without
    # updates): a missing partition must not hold the interactions back.
    automation_condition=MART_AUTOMATION.without(~AutomationCondition.any_deps_missing()),
    check_specs=_check_specs(INTERACTIONS, "interaction_id"),
)
def support_interactions(
    context: AssetExecutionContext,
    pseudonym: PseudonymResource,
    identifiers: pd.DataFrame,
    octadesk_tickets: pd.DataFrame,
    octadesk_chats: pd.DataFrame,
    helpdesk_web_tickets: pd.DataFrame,
    milvus_tickets: pd.DataFrame,
    service_events_rows: pd.DataFrame,
    telegram_messages: pd.DataFrame,
) -> Iterator[Any]:
    sources = {
        "octadesk_ticket": octadesk_tickets,
        "octadesk_chat": octadesk_chats,
        "helpdesk_web": helpdesk_web_tickets,
        "milvus": milvus_tickets,
        "service_events": service_events_rows,
        "telegram": telegram_conversations(telegram_messages),
    }
    frame = build_interactions(
        IdentifierMaker(pseudonym.key),
        identifiers,
        octadesk_tickets,
        octadesk_chats,
        helpdesk_web_tickets,
        milvus_tickets,
        service_events_rows,
        telegram_messages,
    )
    expected = {name: len(source) for name, source in sources.items()}
    got = frame["source"].value_counts().to_dict()
    got = {name: int(got.get(name, 0)) for name in sources}
    yield Output(
        frame,
        metadata={
            "interactions": len(frame),
            "interactions_by_source": MetadataValue.json(got),
            "with_customer_key": int(frame["customer_key"].notna().sum()),
        },
    )
    yield unique_key_result(INTERACTIONS, frame, ["interaction_id"])
    yield no_raw_documents_result(INTERACTIONS, frame)
    yield AssetCheckResult(
        asset_key=INTERACTIONS,
        check_name="row_count_matches_sources",
        passed=got == expected,
        metadata={
            "source_rows": MetadataValue.json(expected),
            "interactions": MetadataValue.json(got),
        },
    )


# ----------------------------------------------------------------------------------------------
# marts/support_kpis_daily

KPI_COLUMNS = [
    "day",
    "source",
    "channel",
    "agent",
    "volume",
    "backlog_end_of_day",
    "first_response_median_seconds",
    "first_response_p90_seconds",
    "resolution_median_seconds",
    "resolution_p90_seconds",
    "satisfaction_avg",
    "satisfaction_count",
    "satisfaction_scale_max",
    "solved_count",
    "solved_rate",
    "bot_started",
    "bot_contained",
    "bot_containment_share",
]

_KPIS_DESCRIPTION = (
    "Daily KPIs per São Paulo day (the partition), source, channel and agent, plus one row per "
    "source and channel with agent '(all agents)' summing every agent. Columns: day (DATE, São "
    "Paulo); source, channel, agent (as in marts/support_interactions; '(unassigned)' when no "
    "agent); volume (interactions created that day); backlog_end_of_day (interactions created "
    "by the end of the day and not closed by then, as their closing times are known now; "
    "service events are never backlog); first_response_median_seconds and "
    "first_response_p90_seconds, resolution_median_seconds and resolution_p90_seconds (median "
    "and 90th percentile, linear interpolation, over the day's interactions that have them); "
    "satisfaction_avg and satisfaction_count (responses of the day's interactions, on the "
    "source's scale given by satisfaction_scale_max); solved_count and solved_rate (solved / "
    "interactions whose outcome is known; null for Telegram conversations); bot_started, "
    "bot_contained and bot_containment_share (chats and Telegram conversations started with "
    "the bot, "
    "those that never reached a person, and their share; null where no chat started with the "
    "bot). Each materialization carries a chart of volume and satisfaction over the 30 days to "
    "the partition's day by channel (over the whole range for a run of several days)."
)


def _quantile(values: pd.Series, q: float) -> float | None:
    values = values.dropna()
    return None if values.empty else float(np.quantile(values.to_numpy(dtype=float), q))


def _group_kpis(day: date, created: pd.DataFrame, backlog: int) -> dict[str, Any]:
    sat = created["satisfaction_score"].dropna()
    scale = created["satisfaction_scale_max"].dropna()
    bot_started = int(created["with_bot"].fillna(False).sum())
    bot_contained = int(created["bot_contained"].fillna(False).sum())
    volume = len(created)
    solved = int(created["solved"].fillna(False).sum())
    solved_known = int(created["solved"].notna().sum())
    return {
        "day": day,
        "volume": volume,
        "backlog_end_of_day": backlog,
        "first_response_median_seconds": _quantile(created["first_response_seconds"], 0.5),
        "first_response_p90_seconds": _quantile(created["first_response_seconds"], 0.9),
        "resolution_median_seconds": _quantile(created["resolution_seconds"], 0.5),
        "resolution_p90_seconds": _quantile(created["resolution_seconds"], 0.9),
        "satisfaction_avg": float(sat.mean()) if len(sat) else None,
        "satisfaction_count": len(sat),
        "satisfaction_scale_max": int(scale.max()) if len(scale) else None,
        "solved_count": solved,
        "solved_rate": solved / solved_known if solved_known else None,
        "bot_started": bot_started,
        "bot_contained": bot_contained,
        "bot_containment_share": bot_contained / bot_started if bot_started else None,
    }


def day_bounds(day: date) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The São Paulo day as a UTC interval [start, end)."""
    start = datetime.combine(day, time(0), tzinfo=SAO_PAULO)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=SAO_PAULO)
    return pd.Timestamp(start).tz_convert(UTC), pd.Timestamp(end).tz_convert(UTC)


def build_kpis(interactions: pd.DataFrame, day: date) -> pd.DataFrame:
    frame = interactions.copy()
    frame["agent"] = frame["agent"].fillna("(unassigned)")
    frame["channel"] = frame["channel"].fillna("(unknown)")
    start, end = day_bounds(day)
    created_today = frame[(frame["created_at_utc"] >= start) & (frame["created_at_utc"] < end)]
    open_at_end = frame[
        (frame["created_at_utc"] < end)
        & (frame["closed_at_utc"].isna() | (frame["closed_at_utc"] >= end))
        & (frame["source"] != "service_events")
    ]
    rows = []
    # Most groups of a day only have backlog: their KPIs over no interaction are computed once,
    # and the backlog is counted per group in one pass (a backfill runs this for every day).
    nothing_created = _group_kpis(day, created_today.iloc[0:0], 0)
    for by_agent in (True, False):
        keys = ["source", "channel", "agent"] if by_agent else ["source", "channel"]
        created = {tuple(k): part for k, part in created_today.groupby(keys, sort=False)}
        backlog = {tuple(k): n for k, n in open_at_end.groupby(keys, sort=False).size().items()}
        for group in sorted(set(created) | set(backlog)):
            if group in created:
                row = _group_kpis(day, created[group], backlog.get(group, 0))
            else:
                row = {**nothing_created, "backlog_end_of_day": backlog[group]}
            row.update(dict(zip(keys, group, strict=True)))
            if not by_agent:
                row["agent"] = ALL_AGENTS
            rows.append(row)
    kpis = pd.DataFrame(rows, columns=KPI_COLUMNS)
    return kpis.astype(
        {
            "volume": "int64",
            "backlog_end_of_day": "int64",
            "satisfaction_count": "int64",
            "solved_count": "int64",
            "bot_started": "int64",
            "bot_contained": "int64",
            "satisfaction_scale_max": "Int64",
            "first_response_median_seconds": "float64",
            "first_response_p90_seconds": "float64",
            "resolution_median_seconds": "float64",
            "resolution_p90_seconds": "float64",
            "satisfaction_avg": "float64",
            "solved_rate": "float64",
            "bot_containment_share": "float64",
        }
    )


def kpi_chart_png(interactions: pd.DataFrame, day: date, days: int = 30) -> bytes:
    """Volume and satisfaction (share of the scale, 0-1) per day by source/channel, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = day - timedelta(days=days - 1)
    frame = interactions[
        (interactions["created_date_sao_paulo"] >= first)
        & (interactions["created_date_sao_paulo"] <= day)
    ].copy()
    frame["series"] = frame["source"] + "/" + frame["channel"].fillna("(unknown)")
    frame["satisfaction_share"] = frame["satisfaction_score"] / frame["satisfaction_scale_max"]
    all_days = pd.date_range(first, day, freq="D").date
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    for series, part in sorted(frame.groupby("series"), key=lambda kv: kv[0]):
        volume = part.groupby("created_date_sao_paulo").size().reindex(all_days, fill_value=0)
        top.plot(list(all_days), volume.to_numpy(), marker="o", markersize=3, label=series)
        sat = part.groupby("created_date_sao_paulo")["satisfaction_share"].mean()
        sat = sat.reindex(all_days)
        if sat.notna().any():
            bottom.plot(
                list(all_days), sat.to_numpy(dtype=float), marker="o", markersize=3, label=series
            )
    top.set_title(f"Interactions per day by channel, {first} to {day} (São Paulo days)")
    top.set_ylabel("volume")
    top.legend(fontsize=7, ncol=2, loc="upper left")
    bottom.set_title("Satisfaction (average, as a share of the source's scale)")
    bottom.set_ylabel("satisfaction (0-1)")
    bottom.set_ylim(0, 1.05)
    bottom.legend(fontsize=7, ncol=2, loc="lower left")
    fig.autofmt_xdate()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return buffer.getvalue()


def chart_markdown(png: bytes, day: date) -> str:
    encoded = base64.b64encode(png).decode()
    return f"![Volume and satisfaction by channel to {day}](data:image/png;base64,{encoded})"


@asset(
    key=KPIS,
    group_name=GROUP,
    io_manager_key=WAREHOUSE,
    partitions_def=KPI_PARTITIONS,
    ins={"interactions": AssetIn(INTERACTIONS)},
    metadata={
        "write_mode": "replace",
        "partition_column": "day",
        "primary_key": ["day", "source", "channel", "agent"],
    },
    owners=OWNERS,
    kinds={"duckdb", "pandas"},
    tags={"layer": "marts"},
    description=_KPIS_DESCRIPTION,
    automation_condition=MART_AUTOMATION,
    check_specs=_check_specs(KPIS, "(day, source, channel, agent)"),
)
def support_kpis_daily(context: AssetExecutionContext, interactions: pd.DataFrame) -> Iterator[Any]:
    days = [date.fromisoformat(key) for key in context.partition_keys]
    interactions = with_columns(interactions, INTERACTION_COLUMNS).copy()
    for column in ("created_at_utc", "closed_at_utc"):
        interactions[column] = pd.to_datetime(interactions[column], utc=True)
    interactions["created_date_sao_paulo"] = (
        interactions["created_at_utc"].dt.tz_convert(SAO_PAULO).dt.date
    )
    kpis = pd.concat([build_kpis(interactions, day) for day in days], ignore_index=True)
    last = days[-1]
    # A run over a range of days (the demo's history) writes each day; its chart covers them all.
    png = kpi_chart_png(interactions, last, days=max(30, len(days)))
    created_today = int(interactions["created_date_sao_paulo"].isin(days).sum())
    rollups = kpis[kpis["agent"] == ALL_AGENTS]
    yield Output(
        kpis,
        metadata={
            "day": str(last) if len(days) == 1 else f"{days[0]} to {last}",
            "interactions_created": created_today,
            "groups": len(kpis),
            "chart": MetadataValue.md(chart_markdown(png, last)),
        },
    )
    yield unique_key_result(KPIS, kpis, ["day", "source", "channel", "agent"])
    yield no_raw_documents_result(KPIS, kpis)
    by_agent = kpis[kpis["agent"] != ALL_AGENTS]
    yield AssetCheckResult(
        asset_key=KPIS,
        check_name="row_count_matches_sources",
        passed=int(rollups["volume"].sum()) == created_today
        and int(by_agent["volume"].sum()) == created_today,
        metadata={
            "interactions_created": created_today,
            "volume_all_agents": int(rollups["volume"].sum()),
            "volume_by_agent": int(by_agent["volume"].sum()),
        },
    )


# ----------------------------------------------------------------------------------------------
# Freshness of the marts' sources

#: The staging and raw tables the marts read; their freshness policy warns when one falls behind.
MART_SOURCES = (
    crm.RAW_CONTACTS,
    crm.RAW_MILVUS_CLIENTS,
    crm.RAW_MILVUS_TICKETS,
    octadesk.STAGING_TICKETS,
    octadesk.STAGING_CHATS,
    helpdesk_web.STAGING_TICKETS,
    service_events.STAGING,
)


def source_max_age(environ: Mapping[str, str] | None = None) -> timedelta:
    """SUPPORT_MARTS_SOURCE_MAX_AGE_HOURS: how old a source may get before its check warns."""
    hours = float(local_value("SUPPORT_MARTS_SOURCE_MAX_AGE_HOURS", "26", environ))
    if hours <= 0:
        raise ValueError("SUPPORT_MARTS_SOURCE_MAX_AGE_HOURS must be a positive number of hours")
    return timedelta(hours=hours)


def source_freshness_policy(environ: Mapping[str, str] | None = None) -> FreshnessPolicy:
    """WARN once a source has not updated for SUPPORT_MARTS_SOURCE_MAX_AGE_HOURS, FAIL at twice."""
    max_age = source_max_age(environ)
    return FreshnessPolicy.time_window(fail_window=2 * max_age, warn_window=max_age)


def with_source_freshness(
    assets: Sequence[AssetsDefinition], environ: Mapping[str, str] | None = None
) -> list[AssetsDefinition]:
    """``assets`` with a freshness policy on every source of the marts (Dagster's freshness
    daemon evaluates it and the UI shows each source's freshness: WARN when it falls behind).
    Sources without a policy of their own get this one; one they declare themselves is kept."""
    policy = source_freshness_policy(environ)
    sources = set(MART_SOURCES)

    def add_policy(spec: AssetSpec) -> AssetSpec:
        if spec.key not in sources:
            return spec
        return apply_freshness_policy(spec, policy, overwrite_existing=False)

    return list(map_asset_specs(add_policy, assets))


#: Evaluates the marts' automation conditions. Like every sensor of the platform it starts
#: stopped: an operator turns it on once per deployment (UI, Automation), and from then on the
#: marts follow their sources with no schedule.
marts_automation_sensor = AutomationConditionSensorDefinition(
    "analytics_automation_sensor",
    target=AssetSelection.groups(GROUP),
    default_status=DefaultSensorStatus.STOPPED,
    minimum_interval_seconds=60,
    description=(
        "Requests the analytics marts when their sources update (AutomationCondition.eager()): "
        "customers and interactions after any staging source, the KPIs' latest day after the "
        "interactions."
    ),
)

MARTS_ASSETS = [marts_customers, support_interactions, support_kpis_daily]
