"""Everything about the service events the code location holds."""

from collections.abc import Mapping

from dagster import Definitions

from support_assets.sources.service_events.assets import (
    service_events_raw,
    service_events_staging,
)
from support_assets.sources.service_events.checks import service_events_checks
from support_assets.sources.service_events.jobs import service_events_job
from support_assets.sources.service_events.resources import resources
from support_assets.sources.service_events.sensors import service_events_sensor


def definitions(env: Mapping[str, str]) -> Definitions:
    return Definitions(
        assets=[service_events_raw, service_events_staging],
        asset_checks=service_events_checks,
        jobs=[service_events_job],
        sensors=[service_events_sensor],
        resources=resources(env),
    )
