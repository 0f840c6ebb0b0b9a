"""``marts/customers`` and ``marts/customer_identifiers``: identity resolution across Ploomes,
Milvus, Octadesk (ticket custom fields and requester, chat contact), the web helpdesk and the
service events.

Identifiers seen on the same record are joined with union-find, and each resulting group is one
customer. Its ``customer_key`` is the HMAC of its document (the same key
``staging/service_events`` and ``staging/crm_clients`` carry), or of its best other identifier
when it has no document.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetOut,
    MetadataValue,
    Output,
    multi_asset,
)

from support_assets.analytics.catalog import (
    CUSTOMER_IDENTIFIERS,
    CUSTOMERS,
    GROUP,
    MART_AUTOMATION,
    MART_KINDS,
    MART_TAGS,
)
from support_assets.analytics.frames import raw_records, rows, with_columns
from support_assets.analytics.identifiers import (
    Identifier,
    IdentifierMaker,
    helpdesk_web_identifiers,
    milvus_client_identifiers,
    octadesk_chat_identifiers,
    octadesk_ticket_identifiers,
    ploomes_contact_identifiers,
    service_event_identifiers,
)
from support_assets.analytics.mart_checks import (
    mart_check_specs,
    no_raw_documents_result,
    unique_key_result,
)
from support_assets.core.constants import OWNERS, WAREHOUSE
from support_assets.core.identity import PseudonymResource
from support_assets.sources.crm import assets as crm
from support_assets.sources.helpdesk_web import assets as helpdesk_web
from support_assets.sources.octadesk import assets as octadesk
from support_assets.sources.service_events import assets as service_events

#: The systems a customer can be seen in (``marts/customers`` has an ``in_<source>`` column each).
CUSTOMER_SOURCES = ("ploomes", "milvus", "octadesk", "helpdesk_web", "service_events")
#: Identifier kinds, best first: the customer_key of a group comes from the first kind it has.
IDENTIFIER_KINDS = ("document", "email", "phone", "milvus_token", "helpdesk_web_client")


@dataclass
class Observation:
    """One source record and the identifiers it carries."""

    source: str
    identifiers: list[Identifier]


@dataclass
class UnionFind:
    """Disjoint sets of identifier keys; the root of a set is its smallest key."""

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
    """Every source record that carries at least one identifier, in source order."""
    found = [
        *(("ploomes", ploomes_contact_identifiers(r, ids)) for r in raw_records(ploomes_contacts)),
        *(("milvus", milvus_client_identifiers(r, ids)) for r in raw_records(milvus_clients)),
        *(("octadesk", octadesk_ticket_identifiers(r, ids)) for r in rows(octadesk_tickets)),
        *(("octadesk", octadesk_chat_identifiers(r, ids)) for r in rows(octadesk_chats)),
        *(("helpdesk_web", helpdesk_web_identifiers(r, ids)) for r in rows(helpdesk_web_tickets)),
        *(("service_events", service_event_identifiers(r, ids)) for r in rows(service_events_rows)),
    ]
    return [Observation(source, identifiers) for source, identifiers in found if identifiers]


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


def _mart_out(key: AssetKey, primary_key: str, description: str) -> AssetOut:
    return AssetOut(
        key=key,
        io_manager_key=WAREHOUSE,
        metadata={"write_mode": "replace", "primary_key": [primary_key]},
        description=description,
        owners=OWNERS,
        kinds=MART_KINDS,
        tags=MART_TAGS,
        automation_condition=MART_AUTOMATION,
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
        "customers": _mart_out(CUSTOMERS, "customer_key", _CUSTOMERS_DESCRIPTION),
        "identifiers": _mart_out(CUSTOMER_IDENTIFIERS, "identifier_key", _IDENTIFIERS_DESCRIPTION),
    },
    check_specs=[
        *mart_check_specs(CUSTOMERS, "customer_key"),
        *mart_check_specs(CUSTOMER_IDENTIFIERS, "identifier_key"),
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
