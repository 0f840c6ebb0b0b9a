"""Runs and jobs every source shares: the source tag that run-queue limits use, the statuses of
a run still in flight, and the question sensors and schedules ask before requesting another."""

from typing import TYPE_CHECKING

from dagster import AssetSelection, DagsterInstance, DagsterRunStatus, RunsFilter, define_asset_job

if TYPE_CHECKING:  # what define_asset_job returns; dagster does not export its type
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

#: The run tag naming the source a run writes: limit it in the run queue so that two runs never
#: write the same source at once.
SOURCE_TAG = "support_assets/source"

IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


def source_job(
    source: str, description: str, selection: AssetSelection | None = None
) -> "UnresolvedAssetJobDefinition":
    """``<source>_job``: the source's asset group (or ``selection``), tagged with the source."""
    return define_asset_job(
        f"{source}_job",
        selection=AssetSelection.groups(source) if selection is None else selection,
        description=description,
        tags={SOURCE_TAG: source},
    )


def run_in_flight(instance: DagsterInstance, job_name: str) -> str | None:
    """The id of a run of ``job_name`` that is queued or running, if any."""
    records = instance.get_run_records(RunsFilter(job_name=job_name, statuses=IN_FLIGHT), limit=1)
    return records[0].dagster_run.run_id if records else None
