"""The service-events sensor: a run while messages wait on the durable subscription."""

from dagster import RunRequest, SensorEvaluationContext, SkipReason, sensor

from support_assets.core.runs import run_in_flight
from support_assets.sources.service_events.jobs import service_events_job
from support_assets.sources.service_events.stomp import (
    BrokerUnavailable,
    ClientIdBusy,
    StompResource,
)

#: Messages the service-events sensor counts at most when it looks at the subscription.
SERVICE_EVENTS_PEEK_LIMIT = 100


@sensor(
    job=service_events_job,
    minimum_interval_seconds=30,
    description=(
        "Looks at the platform's durable subscription to the service-events topic (subscribes "
        "for a moment, counts what the broker dispatches, leaves without acknowledging) and "
        "requests service_events_job only when messages are pending and no run of it is in "
        "flight. A run reads what is pending in batches of at most STOMP_PREFETCH messages."
    ),
)
def service_events_sensor(
    context: SensorEvaluationContext, stomp: StompResource
) -> RunRequest | SkipReason:
    in_flight = run_in_flight(context.instance, service_events_job.name)
    if in_flight:
        return SkipReason(f"run {in_flight} is still consuming service events")
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
