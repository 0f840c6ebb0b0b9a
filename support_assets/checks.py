"""Asset checks beside the assets they guard: keys unique and present, links that resolve.

A check function's one parameter that is not in ``additional_ins`` receives the checked asset.
"""

import json
from collections.abc import Sequence

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetIn,
    AssetKey,
    MetadataValue,
    asset_check,
)

from support_assets.core.mongo import MongoDBResource
from support_assets.sources.crm.assets import RAW_MILVUS_TICKETS as CRM_RAW_MILVUS_TICKETS
from support_assets.sources.crm.assets import STAGING_CLIENTS as CRM_STAGING_CLIENTS
from support_assets.sources.crm.assets import SYNC_MILVUS_TICKETS as CRM_SYNC_MILVUS_TICKETS
from support_assets.sources.crm.assets import duplicate_sync_markers
from support_assets.sources.helpdesk_web.assets import (
    RAW_TICKETS as HELPDESK_WEB_RAW_TICKETS,
)
from support_assets.sources.helpdesk_web.assets import (
    STAGING_TICKETS as HELPDESK_WEB_STAGING_TICKETS,
)
from support_assets.sources.octadesk.assets import (
    RAW_CHATS,
    RAW_TICKETS,
    STAGING_CHATS,
    STAGING_TICKETS,
)
from support_assets.sources.service_events.assets import RAW_COLLECTION as SERVICE_EVENTS_COLLECTION
from support_assets.sources.service_events.assets import STAGING as SERVICE_EVENTS_STAGING
from support_assets.sources.telegram.assets import RAW_UPDATES as TELEGRAM_RAW_UPDATES
from support_assets.sources.telegram.assets import (
    STAGING_MESSAGES as TELEGRAM_STAGING_MESSAGES,
)


def key_check_result(frame: pd.DataFrame, key: Sequence[str]) -> AssetCheckResult:
    """Passes when every key column is non-null and the key is unique."""
    key = list(key)
    missing_columns = [c for c in key if c not in frame.columns]
    if missing_columns:
        return AssetCheckResult(
            passed=False, metadata={"missing_columns": MetadataValue.json(missing_columns)}
        )
    null_rows = int(frame[key].isna().any(axis=1).sum())
    duplicated = frame[frame.duplicated(subset=key, keep=False)]
    sample = duplicated[key].drop_duplicates().head(10).astype(str).to_dict("records")
    return AssetCheckResult(
        passed=null_rows == 0 and duplicated.empty,
        metadata={
            "rows": len(frame),
            "null_keys": null_rows,
            "duplicate_keys": int(duplicated[key].drop_duplicates().shape[0]),
            "duplicate_sample": MetadataValue.json(sample),
        },
    )


def unique_key_check(asset_key: AssetKey, key: Sequence[str]) -> AssetChecksDefinition:
    """A check that ``key`` is unique and never null in ``asset_key``."""

    @asset_check(
        asset=asset_key,
        name=f"{asset_key.path[-1]}_key_unique_and_present",
        description=f"{', '.join(key)} is never null and unique.",
    )
    def _check(table: pd.DataFrame) -> AssetCheckResult:
        return key_check_result(table, key)

    return _check


@asset_check(
    asset=STAGING_CHATS,
    description="Every ticket a chat points at exists in staging/octadesk_tickets.",
    additional_ins={"tickets": AssetIn(STAGING_TICKETS)},
)
def octadesk_chat_ticket_links_resolve(
    chats: pd.DataFrame, tickets: pd.DataFrame
) -> AssetCheckResult:
    linked = chats["ticket_number"].dropna().astype("int64")
    known = set(tickets["ticket_number"].dropna().astype("int64"))
    dangling = sorted({int(n) for n in linked if int(n) not in known})
    return AssetCheckResult(
        passed=not dangling,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "linked_chats": len(linked),
            "dangling_links": len(dangling),
            "dangling_sample": MetadataValue.json(dangling[:20]),
        },
    )


octadesk_checks = [
    unique_key_check(RAW_TICKETS, ["id"]),
    unique_key_check(RAW_CHATS, ["id"]),
    unique_key_check(STAGING_TICKETS, ["ticket_id"]),
    unique_key_check(STAGING_CHATS, ["chat_id"]),
    octadesk_chat_ticket_links_resolve,
]


@asset_check(
    asset=HELPDESK_WEB_STAGING_TICKETS,
    description="Every web helpdesk status maps to the common status set (warns otherwise).",
)
def helpdesk_web_statuses_mapped(tickets: pd.DataFrame) -> AssetCheckResult:
    unmapped = tickets[tickets["status_common"].isna()]["status"].astype(str)
    return AssetCheckResult(
        passed=unmapped.empty,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "unmapped_tickets": len(unmapped),
            "unmapped_statuses": MetadataValue.json(sorted(set(unmapped))[:20]),
        },
    )


helpdesk_web_checks = [
    unique_key_check(HELPDESK_WEB_RAW_TICKETS, ["ticket_id"]),
    unique_key_check(HELPDESK_WEB_STAGING_TICKETS, ["ticket_id"]),
    helpdesk_web_statuses_mapped,
]


telegram_checks = [
    unique_key_check(TELEGRAM_RAW_UPDATES, ["update_id"]),
    unique_key_check(TELEGRAM_STAGING_MESSAGES, ["update_id"]),
]


@asset_check(
    asset=CRM_RAW_MILVUS_TICKETS,
    description=(
        "No two Milvus tickets carry the same CRM sync marker ([Ploomes tarefa <id>]): each "
        "tagged Ploomes task or interaction is exactly one ticket."
    ),
)
def milvus_tickets_one_per_synced_item(tickets: pd.DataFrame) -> AssetCheckResult:
    duplicates = duplicate_sync_markers(tickets)
    return AssetCheckResult(
        passed=not duplicates,
        metadata={
            "duplicated_markers": len(duplicates),
            "sample": MetadataValue.json(dict(list(duplicates.items())[:10])),
        },
    )


@asset_check(
    asset=CRM_STAGING_CLIENTS,
    description=(
        "Clients Milvus holds more than once (the old script's duplicates); the sync uses the "
        "active, oldest one. A warning: they need merging by a person in Milvus."
    ),
)
def crm_clients_duplicated_in_milvus(clients: pd.DataFrame) -> AssetCheckResult:
    ids = clients.get("milvus_client_ids", pd.Series(dtype=object)).dropna()
    duplicated = int(sum(len(json.loads(value)) > 1 for value in ids))
    return AssetCheckResult(
        passed=duplicated == 0,
        severity=AssetCheckSeverity.WARN,
        metadata={"clients_duplicated_in_milvus": duplicated},
    )


crm_checks = [
    unique_key_check(CRM_STAGING_CLIENTS, ["customer_key"]),
    unique_key_check(CRM_SYNC_MILVUS_TICKETS, ["source", "source_id"]),
    milvus_tickets_one_per_synced_item,
    crm_clients_duplicated_in_milvus,
]


@asset_check(
    asset=SERVICE_EVENTS_STAGING,
    description="staging/service_events has exactly as many events as raw/service_events.",
)
def service_events_staging_matches_raw(
    events: pd.DataFrame, documents: MongoDBResource
) -> AssetCheckResult:
    raw = documents.get_database()[SERVICE_EVENTS_COLLECTION].count_documents({})
    return AssetCheckResult(
        passed=raw == len(events),
        metadata={"raw_documents": raw, "staging_rows": len(events)},
    )


service_events_checks = [
    unique_key_check(SERVICE_EVENTS_STAGING, ["event_key"]),
    service_events_staging_matches_raw,
]
