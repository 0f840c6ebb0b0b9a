"""The deployment's stores and executor from the settings: the warehouse (DuckDB or BigQuery),
the lake (a folder or S3), the documents store (embedded or MongoDB), the pseudonym key, and how a
run executes its steps. With no setting, the local stores of the demo."""

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

from support_assets.core.identity import SANDBOX_PSEUDONYM_KEY, PseudonymResource
from support_assets.core.mongo import MongoDBResource
from support_assets.core.settings import data_dir, is_set, text_setting
from support_assets.io_managers.documents import DocumentsIOManager
from support_assets.io_managers.duckdb import DuckDBWarehouseIOManager
from support_assets.io_managers.lake import LakeIOManager
from support_assets.io_managers.s3 import s3_resource_from_settings
from support_assets.io_managers.warehouse import WarehouseIOManager

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
        database=text_setting("MONGODB_DATABASE", env),
        embedded_path=text_setting("SUPPORT_DOCUMENTS_PATH", env),
    )


def warehouse_io_manager(env: Mapping[str, str], data: str) -> WarehouseIOManager:
    """The warehouse SUPPORT_WAREHOUSE names: the local DuckDB file (default) or BigQuery."""
    kind = text_setting("SUPPORT_WAREHOUSE", env).strip().lower()
    if kind == "duckdb":
        return DuckDBWarehouseIOManager(path=text_setting("SUPPORT_DUCKDB_PATH", env))
    if kind != "bigquery":
        raise ValueError(f"SUPPORT_WAREHOUSE must be duckdb or bigquery, not {kind!r}")
    from dagster_gcp import BigQueryResource

    from support_assets.io_managers.bigquery import BigQueryWarehouseIOManager

    project = text_setting("BIGQUERY_PROJECT", env).strip()
    if not project:
        raise ValueError("SUPPORT_WAREHOUSE=bigquery needs BIGQUERY_PROJECT")
    credentials = (
        EnvVar("BIGQUERY_GCP_CREDENTIALS") if is_set("BIGQUERY_GCP_CREDENTIALS", env) else None
    )
    return BigQueryWarehouseIOManager(
        bigquery=BigQueryResource(
            project=project,
            location=text_setting("BIGQUERY_LOCATION", env),
            gcp_credentials=credentials,
        ),
        dataset_prefix=text_setting("BIGQUERY_DATASET_PREFIX", env),
    )


def resources(env: Mapping[str, str]) -> dict[str, Any]:
    """The stores every source writes to, and the pseudonym key."""
    data = data_dir(env)
    documents = documents_resource(env, data)
    return {
        "warehouse_io_manager": warehouse_io_manager(env, data),
        "lake_io_manager": LakeIOManager(
            url=text_setting("SUPPORT_LAKE_URL", env),
            s3=s3_resource_from_settings(env),
        ),
        "documents": documents,
        "documents_io_manager": DocumentsIOManager(mongo=documents),
        "pseudonym": pseudonym_resource(env),
    }


def build_executor(environ: Mapping[str, str] | None = None) -> ExecutorDefinition:
    """How a run executes its steps (SUPPORT_EXECUTOR): ``multiprocess`` on one server (a process
    per step), ``k8s`` on a cluster (dagster-k8s's k8s_job_executor: a Kubernetes Job per step,
    with the step's ``dagster-k8s/config`` tags), ``in_process`` for small deployments and tests
    (one process per run, no start-up cost per step)."""
    env = os.environ if environ is None else environ
    kind = text_setting("SUPPORT_EXECUTOR", env).strip().lower()
    if kind == "multiprocess":
        return multiprocess_executor
    if kind == "in_process":
        return in_process_executor
    if kind == "k8s":
        from dagster_k8s import k8s_job_executor  # installed in deploy/Dockerfile's image

        return k8s_job_executor
    raise ValueError(f"SUPPORT_EXECUTOR must be multiprocess, in_process or k8s, not {kind!r}")


def definitions(env: Mapping[str, str]) -> Definitions:
    """The deployment's stores and executor."""
    return Definitions(resources=resources(env), executor=build_executor(env))
