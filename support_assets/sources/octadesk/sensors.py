"""Octadesk's change sensor: requests a run only when the newest records changed."""

import json

from dagster import (
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from support_assets.core.http_errors import HttpError
from support_assets.core.records import last_high_water_mark
from support_assets.core.runs import run_in_flight
from support_assets.core.settings import setting
from support_assets.core.shapes import SourceContractError
from support_assets.sources.octadesk.assets import RAW_CHATS, RAW_TICKETS
from support_assets.sources.octadesk.client import OctadeskResource
from support_assets.sources.octadesk.jobs import octadesk_job


def look_for_changes(
    context: SensorEvaluationContext, octadesk: OctadeskResource
) -> SensorResult | SkipReason:
    """One tick: skip while a run is in flight, else compare the newest records with the
    high-water marks of the last successful load."""
    in_flight = run_in_flight(context.instance, octadesk_job.name)
    if in_flight:
        return SkipReason(f"run {in_flight} is still loading Octadesk")
    marks = {
        "tickets": last_high_water_mark(context.instance, RAW_TICKETS),
        "chat": last_high_water_mark(context.instance, RAW_CHATS),
    }
    cursor = json.dumps({k: v.isoformat() if v else None for k, v in marks.items()})
    changed: dict[str, int | str] = {}
    unsorted: list[str] = []
    try:
        for entity, mark in marks.items():
            count, more, sort_honoured = octadesk.newest_changes(entity, mark)
            if count:
                changed[entity] = f"{count}+" if more else count
            elif not sort_honoured:
                unsorted.append(entity)
    except (HttpError, SourceContractError) as exc:
        return SkipReason(f"Octadesk did not answer as expected: {exc}")
    if not changed:
        reason = "nothing changed in Octadesk since the last load"
        if unsorted:
            reason = (
                f"Octadesk does not sort {', '.join(unsorted)} by updatedAt, so changes cannot "
                "be seen from the newest records; the daily reconciliation reads everything"
            )
            context.log.warning(reason)
        return SensorResult(skip_reason=SkipReason(reason), cursor=cursor)
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


def octadesk_changes_sensor_every(seconds: int) -> SensorDefinition:
    """The change sensor, ticking at most every ``seconds`` (SUPPORT_SENSOR_INTERVAL_SECONDS in
    a deployment, read by the source's ``definitions``)."""

    @sensor(
        name="octadesk_changes_sensor",
        job=octadesk_job,
        minimum_interval_seconds=seconds,
        description=(
            "Reads the newest tickets and chats (sorted by updatedAt, descending, no filter) "
            "and requests a run only when one changed after the high-water mark of the last "
            "successful load; a count the server reports is never trusted. The cursor holds the "
            "marks it last saw succeed, so a failed run is retried on the next tick."
        ),
    )
    def _sensor(
        context: SensorEvaluationContext, octadesk: OctadeskResource
    ) -> SensorResult | SkipReason:
        return look_for_changes(context, octadesk)

    return _sensor


#: The sensor at the table's default interval (what tests and tools import).
octadesk_changes_sensor = octadesk_changes_sensor_every(
    setting("SUPPORT_SENSOR_INTERVAL_SECONDS", {})
)
