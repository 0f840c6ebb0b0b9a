"""The CRM sync's schedule: every five minutes, never two runs at once."""

from dagster import RunRequest, ScheduleEvaluationContext, SkipReason, schedule

from support_assets.core.runs import run_in_flight
from support_assets.sources.crm.jobs import crm_job


@schedule(
    job=crm_job,
    cron_schedule="*/5 * * * *",
    execution_timezone="America/Sao_Paulo",
    description=(
        "Every five minutes, syncs the CRMs: clients missing in Milvus or Ploomes are created "
        "and tagged Ploomes tasks and interactions become Milvus tickets. What to sync comes "
        "from cursors the sync assets keep (not from the tick's time), so a late, skipped or "
        "failed tick loses nothing. Skips while a crm_job run is queued or in flight."
    ),
)
def crm_sync_schedule(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
    in_flight = run_in_flight(context.instance, crm_job.name)
    if in_flight:
        return SkipReason(f"crm_job run {in_flight} is still in flight")
    scheduled = context.scheduled_execution_time
    return RunRequest(
        run_key=f"crm-{scheduled:%Y-%m-%dT%H:%M}" if scheduled else None,
        tags={"support_assets/trigger": "crm_sync_schedule"},
    )
