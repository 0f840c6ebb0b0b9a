"""Octadesk's daily reconciliation: a full re-read that catches what increments missed."""

from dagster import RunRequest, ScheduleEvaluationContext, schedule

from support_assets.sources.octadesk.jobs import octadesk_job

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
