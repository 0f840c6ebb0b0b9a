"""Sensors decide when: they ask the sources whether anything changed and request runs."""

import json

from dagster import (
    DagsterRunStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from support_assets.assets.common import last_high_water_mark
from support_assets.assets.octadesk import RAW_CHATS, RAW_TICKETS
from support_assets.jobs import octadesk_job
from support_assets.resources.http import HttpError
from support_assets.resources.octadesk import OctadeskResource

IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


@sensor(
    job=octadesk_job,
    minimum_interval_seconds=60,
    description=(
        "Asks Octadesk whether any ticket or chat changed after the high-water marks of the last "
        "successful load and requests a run only then. The cursor holds the marks it last saw "
        "succeed, so a failed run is retried on the next tick."
    ),
)
def octadesk_changes_sensor(
    context: SensorEvaluationContext, octadesk: OctadeskResource
) -> SensorResult | SkipReason:
    in_flight = context.instance.get_runs(
        RunsFilter(job_name=octadesk_job.name, statuses=IN_FLIGHT), limit=1
    )
    if in_flight:
        return SkipReason(f"run {in_flight[0].run_id} is still loading Octadesk")
    marks = {
        "tickets": last_high_water_mark(context.instance, RAW_TICKETS),
        "chat": last_high_water_mark(context.instance, RAW_CHATS),
    }
    cursor = json.dumps({k: v.isoformat() if v else None for k, v in marks.items()})
    try:
        changed = {entity: octadesk.count_changed(entity, mark) for entity, mark in marks.items()}
    except HttpError as exc:
        return SkipReason(f"Octadesk did not answer: {exc}")
    if not any(changed.values()):
        return SensorResult(
            skip_reason=SkipReason("nothing changed in Octadesk since the last load"),
            cursor=cursor,
        )
    context.log.info("Octadesk changes since the last load: %s", changed)
    return SensorResult(
        run_requests=[
            RunRequest(
                tags={
                    "support_assets/trigger": "octadesk_changes_sensor",
                    "support_assets/changed": json.dumps(changed),
                }
            )
        ],
        cursor=cursor,
    )
