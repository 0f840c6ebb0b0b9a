"""Octadesk's asset checks: keys unique and present, chats that point at known tickets."""

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, AssetIn, MetadataValue, asset_check

from support_assets.core.checks import unique_key_check
from support_assets.sources.octadesk.assets import (
    RAW_CHATS,
    RAW_TICKETS,
    STAGING_CHATS,
    STAGING_TICKETS,
)


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
