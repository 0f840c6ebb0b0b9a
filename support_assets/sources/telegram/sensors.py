"""Telegram's landing sensor: a run for every day whose landing files changed."""

import json
from datetime import UTC, date, datetime, timedelta

from dagster import (
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from support_assets.core.runs import IN_FLIGHT
from support_assets.io_managers.landing import LandingZoneResource
from support_assets.sources.telegram.assets import telegram_partition_keys
from support_assets.sources.telegram.jobs import telegram_job

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
