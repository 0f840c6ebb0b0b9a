"""The service events' asset checks: keys unique, staging as large as raw."""

import pandas as pd
from dagster import AssetCheckResult, asset_check

from support_assets.core.checks import unique_key_check
from support_assets.core.mongo import MongoDBResource
from support_assets.sources.service_events.assets import RAW_COLLECTION, STAGING


@asset_check(
    asset=STAGING,
    description="staging/service_events has exactly as many events as raw/service_events.",
)
def service_events_staging_matches_raw(
    events: pd.DataFrame, documents: MongoDBResource
) -> AssetCheckResult:
    raw = documents.get_database()[RAW_COLLECTION].count_documents({})
    return AssetCheckResult(
        passed=raw == len(events),
        metadata={"raw_documents": raw, "staging_rows": len(events)},
    )


service_events_checks = [
    unique_key_check(STAGING, ["event_key"]),
    service_events_staging_matches_raw,
]
