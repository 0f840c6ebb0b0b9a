"""The one Definitions: every source's, the analytics', and the deployment's stores and
executor, merged. Which systems and stores a deployment talks to is decided by the settings
(``support_assets.core.settings``); with none set, the sandbox and the local stores."""

import os
from collections.abc import Mapping
from typing import Any

from dagster import Definitions

from support_assets import deployment
from support_assets.analytics import definitions as analytics
from support_assets.analytics.automation import with_source_freshness
from support_assets.sources.crm import definitions as crm
from support_assets.sources.helpdesk_web import definitions as helpdesk_web
from support_assets.sources.octadesk import definitions as octadesk
from support_assets.sources.service_events import definitions as service_events
from support_assets.sources.telegram import definitions as telegram

SOURCES = (octadesk, helpdesk_web, telegram, service_events, crm)


def build_definitions(environ: Mapping[str, str] | None = None) -> Definitions:
    env = os.environ if environ is None else environ
    merged = Definitions.merge(
        *(source.definitions(env) for source in SOURCES),
        analytics.definitions(env),
        deployment.definitions(env),
    )
    # Every source the marts read carries the marts' freshness policy.
    return Definitions(
        assets=with_source_freshness(list(merged.assets or []), env),
        asset_checks=merged.asset_checks,
        jobs=merged.jobs,
        sensors=merged.sensors,
        schedules=merged.schedules,
        resources=merged.resources,
        executor=merged.executor,
    )


def build_resources(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every resource of the deployment the environment describes, by key."""
    return dict(build_definitions(environ).resources or {})


defs = build_definitions()
