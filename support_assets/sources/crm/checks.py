"""The CRMs' asset checks: one client per key, one Milvus ticket per synced item."""

import json

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from support_assets.core.checks import unique_key_check
from support_assets.sources.crm.assets import (
    RAW_MILVUS_TICKETS,
    STAGING_CLIENTS,
    SYNC_MILVUS_TICKETS,
    duplicate_sync_markers,
)


@asset_check(
    asset=RAW_MILVUS_TICKETS,
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
    asset=STAGING_CLIENTS,
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
    unique_key_check(STAGING_CLIENTS, ["customer_key"]),
    unique_key_check(SYNC_MILVUS_TICKETS, ["source", "source_id"]),
    milvus_tickets_one_per_synced_item,
    crm_clients_duplicated_in_milvus,
]
