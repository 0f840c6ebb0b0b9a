"""What the web helpdesk's schedule runs."""

from support_assets.core.runs import source_job

helpdesk_web_job = source_job(
    "helpdesk_web",
    (
        "Logs in to the web helpdesk (OTP from the sheet, or the API token), reads the tickets "
        "of the last 180 days, logs out, merges them and rebuilds staging. Only one session per "
        "user exists, so limit this tag to one run at a time in the run queue."
    ),
)
