"""The one Definitions. Which systems and stores a deployment talks to is decided here, from
the settings in ``support_assets.core.settings``; with none set, the sandbox and local stores."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from dagster import (
    Definitions,
    EnvVar,
    ExecutorDefinition,
    in_process_executor,
    multiprocess_executor,
)

from support_assets.analytics.marts import (
    MARTS_ASSETS,
    marts_automation_sensor,
    with_source_freshness,
)
from support_assets.checks import (
    crm_checks,
    helpdesk_web_checks,
    octadesk_checks,
    service_events_checks,
    telegram_checks,
)
from support_assets.core.identity import SANDBOX_PSEUDONYM_KEY, PseudonymResource
from support_assets.core.mongo import DEFAULT_DATABASE, MongoDBResource
from support_assets.core.settings import (
    data_dir,
    env_or,
    http_bounds,
    is_set,
    local_value,
    sandbox_url,
)
from support_assets.io_managers.documents import DocumentsIOManager
from support_assets.io_managers.duckdb import DuckDBWarehouseIOManager
from support_assets.io_managers.lake import LakeIOManager
from support_assets.io_managers.landing import LandingZoneResource
from support_assets.io_managers.s3 import s3_resource_from_settings
from support_assets.io_managers.warehouse import WarehouseIOManager
from support_assets.jobs import all_jobs
from support_assets.sandbox.helpdesk_web import (
    SANDBOX_HELPDESK_WEB_API_TOKEN,
    SANDBOX_HELPDESK_WEB_PASSWORD,
    SANDBOX_HELPDESK_WEB_USER,
)
from support_assets.sandbox.octadesk import SANDBOX_OCTADESK_API_KEY
from support_assets.sandbox.sheets import SANDBOX_OTP_CELL, SANDBOX_OTP_SHEET_ID
from support_assets.sandbox.telegram import SANDBOX_TELEGRAM_BOT_TOKEN
from support_assets.schedules import (
    crm_sync_schedule,
    helpdesk_web_daily,
    octadesk_daily_reconciliation,
)
from support_assets.sensors import (
    octadesk_changes_sensor,
    service_events_sensor,
    telegram_landing_sensor,
)
from support_assets.sources.crm.assets import CRM_ASSETS
from support_assets.sources.crm.migration import crm_legacy_import
from support_assets.sources.crm.resources import crm_resources
from support_assets.sources.helpdesk_web.assets import (
    helpdesk_web_raw_tickets,
    staging_helpdesk_web_tickets,
)
from support_assets.sources.helpdesk_web.client import HelpdeskWebResource
from support_assets.sources.helpdesk_web.otp_sheet import GOOGLE_SHEETS_URL, OtpSheetResource
from support_assets.sources.octadesk.assets import (
    octadesk_raw_chats,
    octadesk_raw_tickets,
    staging_octadesk_chats,
    staging_octadesk_tickets,
)
from support_assets.sources.octadesk.client import OctadeskResource
from support_assets.sources.octadesk.compat import CompatViewsSettings, octadesk_compat_view
from support_assets.sources.service_events.assets import service_events_raw, service_events_staging
from support_assets.sources.service_events.stomp import StompResource
from support_assets.sources.telegram.assets import (
    bot_insights,
    telegram_raw_updates,
    telegram_staging_messages,
)
from support_assets.sources.telegram.client import TELEGRAM_API_URL, TelegramResource


def helpdesk_web_resource(env: Mapping[str, str], data: str) -> HelpdeskWebResource:
    """The web helpdesk and its OTP sheet. The sandbox's credentials are defaults only while
    HELPDESK_WEB_BASE_URL is unset; once it is set, what the chosen mode needs must be set too
    (an unset EnvVar fails the run with its name), and the sheet is Google's."""
    real = is_set("HELPDESK_WEB_BASE_URL", env)
    auth = local_value("HELPDESK_WEB_AUTH", "otp", env).strip().lower()

    def credential(name: str, sandbox_value: str, needed: bool) -> str | EnvVar | None:
        if is_set(name, env) or (real and needed):
            return EnvVar(name)
        return None if real else sandbox_value

    google = any(
        is_set(name, env)
        for name in ("HELPDESK_WEB_BASE_URL", "OTP_SHEET_ID", "GOOGLE_SERVICE_ACCOUNT_FILE")
    )
    sheets_default = GOOGLE_SHEETS_URL if google else f"{sandbox_url(env)}/sheets"
    return HelpdeskWebResource(
        base_url=env_or("HELPDESK_WEB_BASE_URL", f"{sandbox_url(env)}/helpdesk_web", env),
        auth_mode=auth,
        user=credential("HELPDESK_WEB_USER", SANDBOX_HELPDESK_WEB_USER, auth == "otp"),
        password=credential("HELPDESK_WEB_PASSWORD", SANDBOX_HELPDESK_WEB_PASSWORD, auth == "otp"),
        api_token=credential(
            "HELPDESK_WEB_API_TOKEN", SANDBOX_HELPDESK_WEB_API_TOKEN, auth == "token"
        ),
        otp_sheet=OtpSheetResource(
            sheet_id=env_or("OTP_SHEET_ID", SANDBOX_OTP_SHEET_ID, env),
            cell=env_or("OTP_SHEET_CELL", SANDBOX_OTP_CELL, env),
            service_account_file=local_value("GOOGLE_SERVICE_ACCOUNT_FILE", "", env) or None,
            sandbox_credentials_dir=data,
            sheets_base_url=local_value("GOOGLE_SHEETS_BASE_URL", sheets_default, env),
            timeout_seconds=float(local_value("OTP_TIMEOUT_SECONDS", "180", env)),
        ),
        session_state_dir=data,
        **http_bounds(env),
    )


def telegram_resource(environ: Mapping[str, str] | None = None) -> TelegramResource:
    """The bot's API: Telegram's once TELEGRAM_BOT_TOKEN is set (the sandbox's token is never
    sent anywhere else), the sandbox while both it and TELEGRAM_API_BASE_URL are unset."""
    env = os.environ if environ is None else environ
    real = is_set("TELEGRAM_BOT_TOKEN", env) or is_set("TELEGRAM_API_BASE_URL", env)
    default_url = (
        TELEGRAM_API_URL if is_set("TELEGRAM_BOT_TOKEN", env) else f"{sandbox_url(env)}/telegram"
    )
    return TelegramResource(
        base_url=local_value("TELEGRAM_API_BASE_URL", default_url, env),
        bot_token=EnvVar("TELEGRAM_BOT_TOKEN") if real else SANDBOX_TELEGRAM_BOT_TOKEN,
        poll_timeout_seconds=int(local_value("TELEGRAM_POLL_TIMEOUT_SECONDS", "30", env)),
        **http_bounds(env),
    )


def stomp_resource(environ: Mapping[str, str] | None = None) -> StompResource:
    """The service events' ActiveMQ broker. STOMP_HOST unset means the local broker of the
    demo, which may not be running: then a run consumes nothing instead of failing."""
    env = os.environ if environ is None else environ
    return StompResource(
        host=local_value("STOMP_HOST", "127.0.0.1", env),
        port=int(local_value("STOMP_PORT", "61613", env)),
        user=local_value("STOMP_USER", "", env) or None,
        password=EnvVar("STOMP_PASSWORD") if is_set("STOMP_PASSWORD", env) else None,
        destination=local_value("STOMP_DESTINATION", "/topic/support.service_events", env),
        client_id=local_value("STOMP_CLIENT_ID", "support-assets", env),
        subscription_name=local_value(
            "STOMP_SUBSCRIPTION_NAME", "support-assets.service_events", env
        ),
        prefetch_size=int(local_value("STOMP_PREFETCH", "1000", env)),
        fail_if_unreachable=is_set("STOMP_HOST", env),
    )


#: Settings that mean a deployment talks to a real system, not only to the sandbox.
PRODUCTION_MARKERS = (
    "OCTADESK_BASE_URL",
    "HELPDESK_WEB_BASE_URL",
    "TELEGRAM_API_BASE_URL",
    "PLOOMES_BASE_URL",
    "MILVUS_BASE_URL",
    "STOMP_HOST",
    "MONGODB_URI",
    "BIGQUERY_PROJECT",
)


def pseudonym_resource(environ: Mapping[str, str] | None = None) -> PseudonymResource:
    """The customer_key secret: SUPPORT_PSEUDONYM_KEY (an EnvVar).

    The sandbox's published key is used only when no setting points at a real system: a
    public key would make every customer_key reversible by hashing all CPFs.
    """
    env = os.environ if environ is None else environ
    if is_set("SUPPORT_PSEUDONYM_KEY", env) or any(is_set(m, env) for m in PRODUCTION_MARKERS):
        return PseudonymResource(key=EnvVar("SUPPORT_PSEUDONYM_KEY"))
    return PseudonymResource(key=SANDBOX_PSEUDONYM_KEY)


def documents_resource(env: Mapping[str, str], data: str) -> MongoDBResource:
    """MongoDB when MONGODB_URI is set (as an EnvVar: a secret), else the embedded store."""
    return MongoDBResource(
        uri=EnvVar("MONGODB_URI") if is_set("MONGODB_URI", env) else None,
        database=local_value("MONGODB_DATABASE", DEFAULT_DATABASE, env),
        embedded_path=local_value("SUPPORT_DOCUMENTS_PATH", f"{data}/documents", env),
    )


def warehouse_io_manager(env: Mapping[str, str], data: str) -> WarehouseIOManager:
    """The warehouse SUPPORT_WAREHOUSE names: the local DuckDB file (default) or BigQuery."""
    kind = local_value("SUPPORT_WAREHOUSE", "duckdb", env).strip().lower()
    if kind == "duckdb":
        return DuckDBWarehouseIOManager(
            path=local_value("SUPPORT_DUCKDB_PATH", f"{data}/warehouse.duckdb", env)
        )
    if kind != "bigquery":
        raise ValueError(f"SUPPORT_WAREHOUSE must be duckdb or bigquery, not {kind!r}")
    from dagster_gcp import BigQueryResource

    from support_assets.io_managers.bigquery import BigQueryWarehouseIOManager

    project = local_value("BIGQUERY_PROJECT", "", env).strip()
    if not project:
        raise ValueError("SUPPORT_WAREHOUSE=bigquery needs BIGQUERY_PROJECT")
    credentials = (
        EnvVar("BIGQUERY_GCP_CREDENTIALS") if is_set("BIGQUERY_GCP_CREDENTIALS", env) else None
    )
    return BigQueryWarehouseIOManager(
        bigquery=BigQueryResource(
            project=project,
            location=local_value("BIGQUERY_LOCATION", "US", env),
            gcp_credentials=credentials,
        ),
        dataset_prefix=local_value("BIGQUERY_DATASET_PREFIX", "", env),
    )


def build_resources(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Resources for the deployment the environment describes."""
    env = os.environ if environ is None else environ
    data = data_dir(env)
    documents = documents_resource(env, data)
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
            **http_bounds(env),
        ),
        "helpdesk_web": helpdesk_web_resource(env, data),
        "warehouse_io_manager": warehouse_io_manager(env, data),
        "lake_io_manager": LakeIOManager(
            url=local_value("SUPPORT_LAKE_URL", f"{data}/lake", env),
            s3=s3_resource_from_settings(env),
        ),
        "documents": documents,
        "documents_io_manager": DocumentsIOManager(mongo=documents),
        "telegram": telegram_resource(env),
        "telegram_landing": LandingZoneResource.from_settings("telegram", env),
        **crm_resources(env),
        "stomp": stomp_resource(env),
        "pseudonym": pseudonym_resource(env),
        "compat_views": CompatViewsSettings(
            octadesk_view=local_value("SUPPORT_COMPAT_OCTADESK_VIEW", "", env) or None
        ),
    }


ASSETS = [
    octadesk_raw_tickets,
    octadesk_raw_chats,
    staging_octadesk_chats,
    staging_octadesk_tickets,
    octadesk_compat_view,
    helpdesk_web_raw_tickets,
    staging_helpdesk_web_tickets,
    telegram_raw_updates,
    telegram_staging_messages,
    bot_insights,
    *CRM_ASSETS,
    crm_legacy_import,
    service_events_raw,
    service_events_staging,
    *MARTS_ASSETS,
]
CHECKS = [*octadesk_checks, *helpdesk_web_checks, *telegram_checks, *service_events_checks]


def build_executor(environ: Mapping[str, str] | None = None) -> ExecutorDefinition:
    """How a run executes its steps (SUPPORT_EXECUTOR): ``multiprocess`` on one server (a process
    per step), ``k8s`` on a cluster (dagster-k8s's k8s_job_executor: a Kubernetes Job per step,
    with the step's ``dagster-k8s/config`` tags), ``in_process`` for small deployments and tests
    (one process per run, no start-up cost per step)."""
    env = os.environ if environ is None else environ
    kind = local_value("SUPPORT_EXECUTOR", "multiprocess", env).strip().lower()
    if kind == "multiprocess":
        return multiprocess_executor
    if kind == "in_process":
        return in_process_executor
    if kind == "k8s":
        from dagster_k8s import k8s_job_executor  # installed in deploy/Dockerfile's image

        return k8s_job_executor
    raise ValueError(f"SUPPORT_EXECUTOR must be multiprocess, in_process or k8s, not {kind!r}")


def build_definitions(environ: Mapping[str, str] | None = None) -> Definitions:
    return Definitions(
        assets=with_source_freshness(ASSETS, environ),
        asset_checks=[*CHECKS, *crm_checks],
        jobs=all_jobs,
        sensors=[
            octadesk_changes_sensor,
            telegram_landing_sensor,
            service_events_sensor,
            marts_automation_sensor,
        ],
        schedules=[octadesk_daily_reconciliation, helpdesk_web_daily, crm_sync_schedule],
        resources=build_resources(environ),
        executor=build_executor(environ),
    )


defs = build_definitions()
