"""The one Definitions. Which systems and stores a deployment talks to is decided here, from
the settings in ``support_assets.settings``; with none set, the sandbox and local stores."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from dagster import Definitions, EnvVar

from support_assets.assets.octadesk import (
    octadesk_raw_chats,
    octadesk_raw_tickets,
    staging_octadesk_chats,
    staging_octadesk_tickets,
)
from support_assets.checks import octadesk_checks
from support_assets.io_managers.duckdb import DuckDBWarehouseIOManager
from support_assets.io_managers.lake import LakeIOManager
from support_assets.jobs import all_jobs
from support_assets.resources.octadesk import OctadeskResource
from support_assets.sandbox.octadesk import SANDBOX_OCTADESK_API_KEY
from support_assets.schedules import octadesk_daily_reconciliation
from support_assets.sensors import octadesk_changes_sensor
from support_assets.settings import data_dir, env_or, is_set, local_value, sandbox_url


def build_resources(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Resources for the deployment the environment describes."""
    env = os.environ if environ is None else environ
    data = data_dir(env)
    octadesk_key: str | EnvVar = (
        EnvVar("OCTADESK_API_KEY")
        if is_set("OCTADESK_API_KEY", env) or is_set("OCTADESK_BASE_URL", env)
        else SANDBOX_OCTADESK_API_KEY
    )
    return {
        "octadesk": OctadeskResource(
            base_url=env_or("OCTADESK_BASE_URL", f"{sandbox_url(env)}/octadesk", env),
            api_key=octadesk_key,
            agent_email=env_or("OCTADESK_AGENT_EMAIL", "sandbox@support-assets.local", env),
            rate_limit_per_second=float(local_value("OCTADESK_RATE_LIMIT_PER_SECOND", "20", env)),
            max_concurrency=int(local_value("OCTADESK_MAX_CONCURRENCY", "4", env)),
            timeout_seconds=float(local_value("OCTADESK_TIMEOUT_SECONDS", "30", env)),
        ),
        "warehouse_io_manager": DuckDBWarehouseIOManager(
            path=local_value("SUPPORT_DUCKDB_PATH", f"{data}/warehouse.duckdb", env)
        ),
        "lake_io_manager": LakeIOManager(url=local_value("SUPPORT_LAKE_URL", f"{data}/lake", env)),
    }


ASSETS = [
    octadesk_raw_tickets,
    octadesk_raw_chats,
    staging_octadesk_chats,
    staging_octadesk_tickets,
]
CHECKS = [*octadesk_checks]


def build_definitions(environ: Mapping[str, str] | None = None) -> Definitions:
    return Definitions(
        assets=ASSETS,
        asset_checks=CHECKS,
        jobs=all_jobs,
        sensors=[octadesk_changes_sensor],
        schedules=[octadesk_daily_reconciliation],
        resources=build_resources(environ),
    )


defs = build_definitions()
