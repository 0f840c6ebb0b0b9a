"""The web helpdesk's asset checks: ticket ids unique, every status mapped."""

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from support_assets.core.checks import unique_key_check
from support_assets.sources.helpdesk_web.assets import RAW_TICKETS, STAGING_TICKETS


@asset_check(
    asset=STAGING_TICKETS,
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
    unique_key_check(RAW_TICKETS, ["ticket_id"]),
    unique_key_check(STAGING_TICKETS, ["ticket_id"]),
    helpdesk_web_statuses_mapped,
]
