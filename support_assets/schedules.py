"""Schedules run the daily reconciliations: a full re-read that catches what increments missed."""

from dagster import (
    DagsterRunStatus,
    RunRequest,
    RunsFilter,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from support_assets.jobs import crm_job, helpdesk_web_job, octadesk_job

RECONCILE_CONFIG = {"full_refresh": True}


@schedule(
    job=octadesk_job,
    cron_schedule="0 4 * * *",
    execution_timezone="America/Sao_Paulo",
    description=(
        "Every day at 04:00 São Paulo time, re-reads every Octadesk ticket and chat and merges "
        "them, so anything an incremental run missed (a clock-skewed update, a filter the API "
        "ignored) is reconciled within a day."
    ),
)
def octadesk_daily_reconciliation(context: ScheduleEvaluationContext) -> RunRequest:
    scheduled = context.scheduled_execution_time
    return RunRequest(
        run_key=f"octadesk-reconcile-{scheduled:%Y-%m-%d}" if scheduled else None,
        run_config={
            "ops": {
                "octadesk_raw_tickets": {"config": RECONCILE_CONFIG},
                "octadesk_raw_chats": {"config": RECONCILE_CONFIG},
            }
        },
        tags={"support_assets/trigger": "octadesk_daily_reconciliation"},
    )


@schedule(
    job=helpdesk_web_job,
    cron_schedule="30 5 * * *",
    execution_timezone="America/Sao_Paulo",
    description=(
        "Every day at 05:30 São Paulo time, logs in to the web helpdesk through the OTP sheet, "
        "re-reads the tickets opened in the 180 days before the tick, logs out and merges them, "
        "so status changes land in place. The window ends at the tick's time, so a late or "
        "re-run tick reads the same window."
    ),
)
def helpdesk_web_daily(context: ScheduleEvaluationContext) -> RunRequest:
    scheduled = context.scheduled_execution_time
    config = {"as_of": scheduled.isoformat()} if scheduled else {}
    return RunRequest(
        run_key=f"helpdesk-web-{scheduled:%Y-%m-%d}" if scheduled else None,
        run_config={"ops": {"helpdesk_web_raw_tickets": {"config": config}}},
        tags={"support_assets/trigger": "helpdesk_web_daily"},
    )


CRM_IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


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
    in_flight = context.instance.get_run_records(
        RunsFilter(job_name=crm_job.name, statuses=CRM_IN_FLIGHT), limit=1
    )
    if in_flight:
        return SkipReason(f"crm_job run {in_flight[0].dagster_run.run_id} is still in flight")
    scheduled = context.scheduled_execution_time
    return RunRequest(
        run_key=f"crm-{scheduled:%Y-%m-%dT%H:%M}" if scheduled else None,
        tags={"support_assets/trigger": "crm_sync_schedule"},
    )
