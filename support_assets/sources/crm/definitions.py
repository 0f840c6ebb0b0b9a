"""Everything about the two CRMs the code location holds."""

from collections.abc import Mapping

from dagster import Definitions

from support_assets.sources.crm.assets import CRM_ASSETS
from support_assets.sources.crm.checks import crm_checks
from support_assets.sources.crm.jobs import crm_job
from support_assets.sources.crm.migration import crm_legacy_import
from support_assets.sources.crm.resources import crm_resources
from support_assets.sources.crm.schedules import crm_sync_schedule


def definitions(env: Mapping[str, str]) -> Definitions:
    return Definitions(
        assets=[*CRM_ASSETS, crm_legacy_import],
        asset_checks=crm_checks,
        jobs=[crm_job],
        schedules=[crm_sync_schedule],
        resources=crm_resources(env),
    )
