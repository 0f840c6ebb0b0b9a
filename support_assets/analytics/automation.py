"""How the marts keep up with their sources: a freshness policy on every source they read (WARN
when one falls behind) and the sensor that evaluates the marts' automation conditions."""

from collections.abc import Mapping, Sequence
from datetime import timedelta

from dagster import (
    AssetsDefinition,
    AssetSelection,
    AssetSpec,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    FreshnessPolicy,
    apply_freshness_policy,
    map_asset_specs,
)

from support_assets.analytics.catalog import GROUP
from support_assets.core.settings import setting
from support_assets.sources.crm import assets as crm
from support_assets.sources.helpdesk_web import assets as helpdesk_web
from support_assets.sources.octadesk import assets as octadesk
from support_assets.sources.service_events import assets as service_events

#: The staging and raw tables the marts read; their freshness policy warns when one falls behind.
MART_SOURCES = (
    crm.RAW_CONTACTS,
    crm.RAW_MILVUS_CLIENTS,
    crm.RAW_MILVUS_TICKETS,
    octadesk.STAGING_TICKETS,
    octadesk.STAGING_CHATS,
    helpdesk_web.STAGING_TICKETS,
    service_events.STAGING,
)


def source_max_age(environ: Mapping[str, str] | None = None) -> timedelta:
    """SUPPORT_MARTS_SOURCE_MAX_AGE_HOURS: how old a source may get before its check warns."""
    hours = setting("SUPPORT_MARTS_SOURCE_MAX_AGE_HOURS", environ)
    if hours <= 0:
        raise ValueError("SUPPORT_MARTS_SOURCE_MAX_AGE_HOURS must be a positive number of hours")
    return timedelta(hours=hours)


def source_freshness_policy(environ: Mapping[str, str] | None = None) -> FreshnessPolicy:
    """WARN once a source has not updated for SUPPORT_MARTS_SOURCE_MAX_AGE_HOURS, FAIL at twice."""
    max_age = source_max_age(environ)
    return FreshnessPolicy.time_window(fail_window=2 * max_age, warn_window=max_age)


def with_source_freshness(
    assets: Sequence[AssetsDefinition], environ: Mapping[str, str] | None = None
) -> list[AssetsDefinition]:
    """``assets`` with a freshness policy on every source of the marts (Dagster's freshness
    daemon evaluates it and the UI shows each source's freshness: WARN when it falls behind).
    Sources without a policy of their own get this one; one they declare themselves is kept."""
    policy = source_freshness_policy(environ)
    sources = set(MART_SOURCES)

    def add_policy(spec: AssetSpec) -> AssetSpec:
        if spec.key not in sources:
            return spec
        return apply_freshness_policy(spec, policy, overwrite_existing=False)

    return list(map_asset_specs(add_policy, assets))


#: Evaluates the marts' automation conditions. Like every sensor of the platform it starts
#: stopped: an operator turns it on once per deployment (UI, Automation), and from then on the
#: marts follow their sources with no schedule.
marts_automation_sensor = AutomationConditionSensorDefinition(
    "analytics_automation_sensor",
    target=AssetSelection.groups(GROUP),
    default_status=DefaultSensorStatus.STOPPED,
    minimum_interval_seconds=60,
    description=(
        "Requests the analytics marts when their sources update (AutomationCondition.eager()): "
        "customers and interactions after any staging source, the KPIs' latest day after the "
        "interactions."
    ),
)
