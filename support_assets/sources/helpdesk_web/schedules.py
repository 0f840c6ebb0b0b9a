"""The web helpdesk's daily load: log in, read the last 180 days, log out, merge."""

from dagster import RunRequest, ScheduleEvaluationContext, schedule

from support_assets.sources.helpdesk_web.jobs import helpdesk_web_job


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
