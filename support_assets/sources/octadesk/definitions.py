"""Everything about Octadesk the code location holds."""

from collections.abc import Mapping

from dagster import Definitions

from support_assets.core.settings import setting
from support_assets.sources.octadesk.assets import (
    octadesk_raw_chats,
    octadesk_raw_tickets,
    staging_octadesk_chats,
    staging_octadesk_tickets,
)
from support_assets.sources.octadesk.checks import octadesk_checks
from support_assets.sources.octadesk.compat import octadesk_compat_view
from support_assets.sources.octadesk.jobs import octadesk_job
from support_assets.sources.octadesk.resources import resources
from support_assets.sources.octadesk.schedules import octadesk_daily_reconciliation
from support_assets.sources.octadesk.sensors import octadesk_changes_sensor_every


def definitions(env: Mapping[str, str]) -> Definitions:
    return Definitions(
        assets=[
            octadesk_raw_tickets,
            octadesk_raw_chats,
            staging_octadesk_chats,
            staging_octadesk_tickets,
            octadesk_compat_view,
        ],
        asset_checks=octadesk_checks,
        jobs=[octadesk_job],
        sensors=[octadesk_changes_sensor_every(setting("SUPPORT_SENSOR_INTERVAL_SECONDS", env))],
        schedules=[octadesk_daily_reconciliation],
        resources=resources(env),
    )
