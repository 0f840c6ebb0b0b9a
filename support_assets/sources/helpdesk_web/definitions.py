"""Everything about the web helpdesk the code location holds."""

from collections.abc import Mapping

from dagster import Definitions

from support_assets.sources.helpdesk_web.assets import (
    helpdesk_web_raw_tickets,
    staging_helpdesk_web_tickets,
)
from support_assets.sources.helpdesk_web.checks import helpdesk_web_checks
from support_assets.sources.helpdesk_web.jobs import helpdesk_web_job
from support_assets.sources.helpdesk_web.resources import resources
from support_assets.sources.helpdesk_web.schedules import helpdesk_web_daily


def definitions(env: Mapping[str, str]) -> Definitions:
    return Definitions(
        assets=[helpdesk_web_raw_tickets, staging_helpdesk_web_tickets],
        asset_checks=helpdesk_web_checks,
        jobs=[helpdesk_web_job],
        schedules=[helpdesk_web_daily],
        resources=resources(env),
    )
