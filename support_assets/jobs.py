"""Jobs: what a sensor or schedule runs. Each carries a source tag so run-queue limits can keep
two runs from writing the same source at once."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

octadesk_job = define_asset_job(
    "octadesk_job",
    selection=AssetSelection.groups("octadesk"),
    description="Loads Octadesk tickets and chats incrementally and rebuilds their staging tables.",
    tags={"support_assets/source": "octadesk"},
)

all_jobs = [octadesk_job]
