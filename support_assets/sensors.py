"""Sensors decide when: they ask the sources whether anything changed and request runs."""

import json
from datetime import UTC, date, datetime, timedelta

from dagster import (
    DagsterRunStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from support_assets.core.http_errors import HttpError
from support_assets.core.records import last_high_water_mark
from support_assets.core.settings import local_value
from support_assets.core.shapes import SourceContractError
from support_assets.io_managers.landing import LandingZoneResource
from support_assets.jobs import octadesk_job, service_events_job, telegram_job
from support_assets.sources.octadesk.assets import RAW_CHATS, RAW_TICKETS
from support_assets.sources.octadesk.client import OctadeskResource
from support_assets.sources.service_events.stomp import (
    BrokerUnavailable,
    ClientIdBusy,
    StompResource,
)
from support_assets.sources.telegram.assets import telegram_partition_keys

IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


@sensor(
    job=octadesk_job,
    minimum_interval_seconds=int(local_value("SUPPORT_SENSOR_INTERVAL_SECONDS", "60")),
    description=(
        "Reads the newest tickets and chats (sorted by updatedAt, descending, no filter) and "
        "requests a run only when one changed after the high-water mark of the last successful "
        "load; a count the server reports is never trusted. The cursor holds the marks it last saw "
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


#: Days back the landing sensor watches (landing days are receipt days, so older folders only
#: change if files are copied in by hand; backfill those partitions instead).
LANDING_SENSOR_DAYS = 7


@sensor(
    job=telegram_job,
    minimum_interval_seconds=60,
    description=(
        "Watches the Telegram landing zone and requests telegram_job for every day (partition) "
        "whose landing files changed: a new file or a file that grew. The cursor is what it has "
        "seen, {day: [files, bytes]}, for the last 7 days. A day that already has a run in "
        "flight is left for a later tick, so two runs never rewrite the same partition at once."
    ),
)
def telegram_landing_sensor(
    context: SensorEvaluationContext, telegram_landing: LandingZoneResource
) -> SensorResult:
    zone = telegram_landing.zone()
    today = datetime.now(UTC).date()
    days = [d for d in zone.days() if d >= today - timedelta(days=LANDING_SENSOR_DAYS)]
    seen = json.loads(context.cursor) if context.cursor else {}
    in_flight = context.instance.get_runs(
        RunsFilter(job_name=telegram_job.name, statuses=IN_FLIGHT)
    )
    running = {run.tags.get("dagster/partition") for run in in_flight}
    cursor: dict[str, list[int]] = {}
    requests: list[RunRequest] = []
    for key in telegram_partition_keys(days):
        files, size = zone.fingerprint(date.fromisoformat(key))
        if not files:
            continue
        if seen.get(key) == [files, size]:
            cursor[key] = [files, size]
            continue
        if key in running:
            if key in seen:
                cursor[key] = seen[key]
            continue
        cursor[key] = [files, size]
        requests.append(
            RunRequest(
                partition_key=key,
                run_key=f"telegram-{key}-{files}-{size}",
                tags={
                    "support_assets/trigger": "telegram_landing_sensor",
                    "support_assets/landing": f"{files} file(s), {size} bytes",
                },
            )
        )
    new_cursor = json.dumps(cursor, sort_keys=True)
    if not requests:
        return SensorResult(
            skip_reason=SkipReason("no new Telegram landing files"), cursor=new_cursor
        )
    context.log.info("Telegram landing changed on %s", [r.partition_key for r in requests])
    return SensorResult(run_requests=requests, cursor=new_cursor)


#: Messages the service-events sensor counts at most when it looks at the subscription.
SERVICE_EVENTS_PEEK_LIMIT = 100


@sensor(
    job=service_events_job,
    minimum_interval_seconds=30,
    description=(
        "Looks at the platform's durable subscription to the service-events topic (subscribes "
        "for a moment, counts what the broker dispatches, leaves without acknowledging) and "
        "requests service_events_job only when messages are pending and no run of it is in "
        "flight. Each run takes at most STOMP_PREFETCH messages; the next tick asks again."
    ),
)
def service_events_sensor(
    context: SensorEvaluationContext, stomp: StompResource
) -> RunRequest | SkipReason:
    in_flight = context.instance.get_runs(
        RunsFilter(job_name=service_events_job.name, statuses=IN_FLIGHT), limit=1
    )
    if in_flight:
        return SkipReason(f"run {in_flight[0].run_id} is still consuming service events")
    try:
        pending = stomp.pending(limit=SERVICE_EVENTS_PEEK_LIMIT)
    except ClientIdBusy:
        return SkipReason(
            f"another connection holds client id {stomp.client_id!r} (a consumer is running)"
        )
    except BrokerUnavailable as exc:
        return SkipReason(f"the broker did not answer: {exc}")
    if not pending:
        return SkipReason(
            f"no service events pending for subscription {stomp.subscription} on {stomp.describe()}"
        )
    count = f"{pending}+" if pending >= SERVICE_EVENTS_PEEK_LIMIT else str(pending)
    context.log.info("%s service events pending on %s", count, stomp.describe())
    return RunRequest(
        tags={
            "support_assets/trigger": "service_events_sensor",
            "support_assets/pending": count,
        }
    )
