"""The platform's settings: stores, warehouse, lake, HTTP bounds, deployment, analytics.

The README's settings table mirrors these and ``source_settings``.
"""

from __future__ import annotations

from support_assets.core.sandbox_defaults import SANDBOX_URL
from support_assets.core.settings_model import (
    Setting,
    rate_limit_state_default,
    under_data_dir,
)

PLATFORM_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "SUPPORT_SANDBOX_URL",
        SANDBOX_URL,
        "Where the sandbox answers; the default of every source URL that is unset.",
    ),
    Setting(
        "SUPPORT_DATA_DIR",
        "./data",
        "Folder for the local stores (warehouse file, lake) when their own settings are unset.",
    ),
    Setting(
        "SUPPORT_DUCKDB_PATH",
        under_data_dir("warehouse.duckdb"),
        "DuckDB file of the local warehouse.",
        documented="$SUPPORT_DATA_DIR/warehouse.duckdb",
    ),
    Setting(
        "SUPPORT_WAREHOUSE",
        "duckdb",
        "Which warehouse the warehouse IO manager writes to: duckdb (the local file) or bigquery.",
    ),
    Setting(
        "BIGQUERY_PROJECT",
        "",
        "Google Cloud project of the BigQuery warehouse (datasets, jobs, billing), given to "
        "dagster-gcp's BigQueryResource. Credentials are Application Default Credentials "
        "(workload identity, gcloud auth application-default login, "
        "GOOGLE_APPLICATION_CREDENTIALS) or BIGQUERY_GCP_CREDENTIALS.",
        documented="none (required with bigquery)",
    ),
    Setting(
        "BIGQUERY_LOCATION",
        "US",
        "Location of the datasets the warehouse creates and of its jobs, e.g. US, EU, "
        "southamerica-east1.",
    ),
    Setting(
        "BIGQUERY_DATASET_PREFIX",
        "",
        "Prepended to every dataset name, e.g. support_ gives support_raw, support_staging.",
        documented="none: datasets raw, staging, marts",
    ),
    Setting(
        "BIGQUERY_GCP_CREDENTIALS",
        "",
        "Base64-encoded service-account key JSON (base64 -w0 key.json) for deployments without "
        "Application Default Credentials; dagster-gcp's BigQueryResource writes it to a private "
        "temporary file while the client is built. Leave GOOGLE_APPLICATION_CREDENTIALS unset "
        "when it is used.",
        secret=True,
        documented="unset: Application Default Credentials",
    ),
    Setting(
        "BIGQUERY_EMULATOR_HOST",
        "",
        "Read by the BigQuery client library itself, not by the platform: a local emulator's "
        "base URL (e.g. http://127.0.0.1:9050), for tests and benchmarks only.",
        documented="Google's API",
    ),
    Setting(
        "SUPPORT_LAKE_URL",
        under_data_dir("lake"),
        "Root of the lake (Parquet, Hive partitions): a folder, or s3://bucket/prefix.",
        documented="$SUPPORT_DATA_DIR/lake",
    ),
    Setting(
        "SUPPORT_S3_ENDPOINT_URL",
        "",
        "Endpoint of an S3-compatible store for an s3:// lake (MinIO, moto), e.g. "
        "http://127.0.0.1:9000. The lake's S3 goes through dagster-aws's S3Resource; keys come "
        "from the AWS credential chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, "
        "SUPPORT_S3_PROFILE or AWS_PROFILE, a container or instance role), never from these "
        "settings.",
        documented="AWS S3",
    ),
    Setting(
        "SUPPORT_S3_REGION",
        "",
        "Region of the lake's bucket.",
        documented="the AWS SDK's default",
    ),
    Setting(
        "SUPPORT_S3_PROFILE",
        "",
        "Named profile (~/.aws/config) the lake's S3 resource signs with, instead of the "
        "default credential chain.",
        documented="the AWS SDK's default",
    ),
    Setting(
        "DAGSTER_PG_HOST",
        "",
        "PostgreSQL server of the Dagster instance (runs, event logs, sensor cursors) that "
        "deploy/dagster.yaml reads; the local default instance does not use these.",
        documented="unset: SQLite under DAGSTER_HOME",
    ),
    Setting(
        "SUPPORT_COMPUTE_LOGS",
        "local",
        "Where the instance of deploy/dagster.yaml keeps step logs (stdout/stderr): local "
        "(under DAGSTER_HOME), s3 (dagster-aws's S3ComputeLogManager, with SUPPORT_S3_REGION and "
        "SUPPORT_S3_ENDPOINT_URL) or gcs (dagster-gcp's GCSComputeLogManager).",
    ),
    Setting(
        "SUPPORT_COMPUTE_LOGS_BUCKET",
        "",
        "Bucket of the step logs.",
        documented="none (required with s3 or gcs)",
    ),
    Setting(
        "SUPPORT_COMPUTE_LOGS_PREFIX",
        "dagster/compute-logs",
        "Key prefix of the step logs in their bucket.",
    ),
    Setting(
        "DAGSTER_PG_PORT",
        "",
        "Port of the instance's PostgreSQL server (often 5432).",
        documented="none",
    ),
    Setting(
        "DAGSTER_PG_USER",
        "",
        "Role Dagster connects as.",
        documented="none",
    ),
    Setting(
        "DAGSTER_PG_PASSWORD",
        "",
        "Password of DAGSTER_PG_USER.",
        secret=True,
        documented="none",
    ),
    Setting(
        "DAGSTER_PG_DB",
        "",
        "Database of the instance's tables.",
        documented="none",
    ),
    Setting(
        "MONGODB_URI",
        "",
        "mongodb:// or mongodb+srv:// URI of the documents store (service events, CRM sync "
        "state). Unset: an embedded, file-backed store with the same API under "
        "SUPPORT_DOCUMENTS_PATH.",
        secret=True,
        documented="unset: embedded store",
    ),
    Setting(
        "MONGODB_DATABASE",
        "support_assets",
        "Database of the documents store (server or embedded).",
    ),
    Setting(
        "SUPPORT_DOCUMENTS_PATH",
        under_data_dir("documents"),
        "Folder of the embedded documents store (litemongo: one SQLite file per collection), "
        "used while MONGODB_URI is unset.",
        documented="$SUPPORT_DATA_DIR/documents",
    ),
    Setting(
        "SUPPORT_HTTP_MAX_PAGES",
        100_000,
        "Most pages one listing of any HTTP API may take; a listing that goes on (a server "
        "ignoring the page parameter, a repeated next link, an enormous page count) fails the "
        "run naming this setting. A page equal to one already read fails it at once.",
    ),
    Setting(
        "SUPPORT_HTTP_MAX_RESPONSE_BYTES",
        64 * 1024 * 1024,
        "Most bytes of one HTTP response body (after decompression); the body is streamed and "
        "reading stops there, failing the run.",
    ),
    Setting(
        "SUPPORT_HTTP_REQUEST_DEADLINE_SECONDS",
        300.0,
        "Most seconds one HTTP request may take in total, body included (the per-read timeouts "
        "alone let a server that drips bytes hold a run for ever); a request over it is retried "
        "like a timeout, then fails the run.",
    ),
    Setting(
        "SUPPORT_RATE_LIMIT_STATE",
        rate_limit_state_default,
        "SQLite file holding each API's request budget, shared by every process of the "
        "deployment (the multiprocess executor runs steps side by side); a 429 with "
        "Retry-After pauses them all. off: a budget per process. Steps on other machines (k8s "
        "executor) need Dagster concurrency pools instead.",
        documented="$DAGSTER_HOME/rate_limits.sqlite (else $SUPPORT_DATA_DIR/rate_limits.sqlite)",
    ),
    Setting(
        "SUPPORT_EXECUTOR",
        "multiprocess",
        "How a run executes its steps: multiprocess (a process per step, one server), k8s (a "
        "Kubernetes Job per step, dagster-k8s) or in_process (one process per run).",
    ),
    Setting(
        "SUPPORT_PSEUDONYM_KEY",
        "",
        "HMAC key of the pseudonymous customer_key that replaces CPF/CNPJ outside the raw "
        "layer. Required (a long random secret) once any real system is configured: keys made "
        "with the demo key can be reversed, so it serves only the sandbox.",
        secret=True,
        documented="the sandbox's demo key",
    ),
    Setting(
        "SUPPORT_KPI_START_DATE",
        "2024-01-01",
        "First day (São Paulo, YYYY-MM-DD) of marts/support_kpis_daily's partitions: the first "
        "day any source can have data; read when the code location loads. The demo sets it to "
        "the first day of the sandbox's history.",
    ),
    Setting(
        "SUPPORT_MARTS_SOURCE_MAX_AGE_HOURS",
        26.0,
        "Hours since a source of the analytics marts last updated after which its freshness "
        "policy warns (and fails at twice that); the daily sources run once a day.",
    ),
)
