"""Every setting the platform reads, with its default: the one table the README mirrors.

A setting that is present in the environment reaches resources as ``EnvVar(name)``, so run
storage keeps only its name, never its value. With nothing set, everything points at the
sandbox and the local stores.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dagster import EnvVar

SANDBOX_HOST = "127.0.0.1"
SANDBOX_PORT = 8765
SANDBOX_URL = f"http://{SANDBOX_HOST}:{SANDBOX_PORT}"


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    description: str
    secret: bool = False


SETTINGS: tuple[Setting, ...] = (
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
        "$SUPPORT_DATA_DIR/warehouse.duckdb",
        "DuckDB file of the local warehouse.",
    ),
    Setting(
        "SUPPORT_WAREHOUSE",
        "duckdb",
        "Which warehouse the warehouse IO manager writes to: duckdb (the local file) or bigquery.",
    ),
    Setting(
        "BIGQUERY_PROJECT",
        "none (required with bigquery)",
        "Google Cloud project of the BigQuery warehouse (datasets, jobs, billing), given to "
        "dagster-gcp's BigQueryResource. Credentials are Application Default Credentials "
        "(workload identity, gcloud auth application-default login, "
        "GOOGLE_APPLICATION_CREDENTIALS) or BIGQUERY_GCP_CREDENTIALS.",
    ),
    Setting(
        "BIGQUERY_LOCATION",
        "US",
        "Location of the datasets the warehouse creates and of its jobs, e.g. US, EU, "
        "southamerica-east1.",
    ),
    Setting(
        "BIGQUERY_DATASET_PREFIX",
        "none: datasets raw, staging, marts",
        "Prepended to every dataset name, e.g. support_ gives support_raw, support_staging.",
    ),
    Setting(
        "BIGQUERY_GCP_CREDENTIALS",
        "unset: Application Default Credentials",
        "Base64-encoded service-account key JSON (base64 -w0 key.json) for deployments without "
        "Application Default Credentials; dagster-gcp's BigQueryResource writes it to a private "
        "temporary file while the client is built. Leave GOOGLE_APPLICATION_CREDENTIALS unset "
        "when it is used.",
        secret=True,
    ),
    Setting(
        "BIGQUERY_EMULATOR_HOST",
        "Google's API",
        "Read by the BigQuery client library itself, not by the platform: a local emulator's "
        "base URL (e.g. http://127.0.0.1:9050), for tests and benchmarks only.",
    ),
    Setting(
        "SUPPORT_LAKE_URL",
        "$SUPPORT_DATA_DIR/lake",
        "Root of the lake (Parquet, Hive partitions): a folder, or s3://bucket/prefix.",
    ),
    Setting(
        "SUPPORT_S3_ENDPOINT_URL",
        "AWS S3",
        "Endpoint of an S3-compatible store for an s3:// lake (MinIO, moto), e.g. "
        "http://127.0.0.1:9000. The lake's S3 goes through dagster-aws's S3Resource; keys come "
        "from the AWS credential chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, "
        "SUPPORT_S3_PROFILE or AWS_PROFILE, a container or instance role), never from these "
        "settings.",
    ),
    Setting(
        "SUPPORT_S3_REGION",
        "the AWS SDK's default",
        "Region of the lake's bucket.",
    ),
    Setting(
        "SUPPORT_S3_PROFILE",
        "the AWS SDK's default",
        "Named profile (~/.aws/config) the lake's S3 resource signs with, instead of the "
        "default credential chain.",
    ),
    Setting(
        "SUPPORT_COMPAT_OCTADESK_VIEW",
        "unset: no view",
        "[dataset.]name of a view shaped like the old Octadesk script's table (Sac_Octadesk): "
        "tickets and linked chats, cf_<key> custom fields as columns, upload = load time; "
        "dataset compat (with BIGQUERY_DATASET_PREFIX on BigQuery) when none is given.",
    ),
    Setting(
        "DAGSTER_PG_HOST",
        "unset: SQLite under DAGSTER_HOME",
        "PostgreSQL server of the Dagster instance (runs, event logs, sensor cursors) that "
        "deploy/dagster.yaml reads; the local default instance does not use these.",
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
        "none (required with s3 or gcs)",
        "Bucket of the step logs.",
    ),
    Setting(
        "SUPPORT_COMPUTE_LOGS_PREFIX",
        "dagster/compute-logs",
        "Key prefix of the step logs in their bucket.",
    ),
    Setting("DAGSTER_PG_PORT", "none", "Port of the instance's PostgreSQL server (often 5432)."),
    Setting("DAGSTER_PG_USER", "none", "Role Dagster connects as."),
    Setting("DAGSTER_PG_PASSWORD", "none", "Password of DAGSTER_PG_USER.", secret=True),
    Setting("DAGSTER_PG_DB", "none", "Database of the instance's tables."),
    Setting(
        "MONGODB_URI",
        "unset: embedded store",
        "mongodb:// or mongodb+srv:// URI of the documents store (service events, CRM sync "
        "state). Unset: an embedded, file-backed store with the same API under "
        "SUPPORT_DOCUMENTS_PATH.",
        secret=True,
    ),
    Setting(
        "MONGODB_DATABASE",
        "support_assets",
        "Database of the documents store (server or embedded).",
    ),
    Setting(
        "SUPPORT_DOCUMENTS_PATH",
        "$SUPPORT_DATA_DIR/documents",
        "Folder of the embedded documents store (litemongo: one SQLite file per collection), "
        "used while MONGODB_URI is unset.",
    ),
    Setting(
        "SUPPORT_HTTP_MAX_PAGES",
        "100000",
        "Most pages one listing of any HTTP API may take; a listing that goes on (a server "
        "ignoring the page parameter, a repeated next link, an enormous page count) fails the "
        "run naming this setting. A page equal to one already read fails it at once.",
    ),
    Setting(
        "SUPPORT_HTTP_MAX_RESPONSE_BYTES",
        "67108864",
        "Most bytes of one HTTP response body (after decompression); the body is streamed and "
        "reading stops there, failing the run.",
    ),
    Setting(
        "SUPPORT_HTTP_REQUEST_DEADLINE_SECONDS",
        "300",
        "Most seconds one HTTP request may take in total, body included (the per-read timeouts "
        "alone let a server that drips bytes hold a run for ever); a request over it is retried "
        "like a timeout, then fails the run.",
    ),
    Setting(
        "SUPPORT_RATE_LIMIT_STATE",
        "$DAGSTER_HOME/rate_limits.sqlite (else $SUPPORT_DATA_DIR/rate_limits.sqlite)",
        "SQLite file holding each API's request budget, shared by every process of the "
        "deployment (the multiprocess executor runs steps side by side); a 429 with "
        "Retry-After pauses them all. off: a budget per process. Steps on other machines (k8s "
        "executor) need Dagster concurrency pools instead.",
    ),
    Setting(
        "OCTADESK_BASE_URL",
        "$SUPPORT_SANDBOX_URL/octadesk",
        "Octadesk tenant API, e.g. https://<tenant>.api004.octadesk.services.",
    ),
    Setting(
        "OCTADESK_API_KEY",
        "the sandbox's demo key",
        "Octadesk X-API-KEY.",
        secret=True,
    ),
    Setting(
        "OCTADESK_AGENT_EMAIL",
        "sandbox@support-assets.local",
        "Agent e-mail sent as octa-agent-email.",
    ),
    Setting(
        "OCTADESK_RATE_LIMIT_PER_SECOND",
        "20",
        "Requests a second the Octadesk client allows itself.",
    ),
    Setting(
        "OCTADESK_TIMEOUT_SECONDS",
        "30",
        "Seconds before an Octadesk request times out (and is retried).",
    ),
    Setting(
        "OCTADESK_MAX_CONCURRENCY",
        "4",
        "Octadesk pages fetched in parallel (within the rate limit).",
    ),
    Setting(
        "SUPPORT_SENSOR_INTERVAL_SECONDS",
        "60",
        "Minimum seconds between two ticks of octadesk_changes_sensor (each tick asks Octadesk "
        "whether anything changed); read when the code location loads.",
    ),
    Setting(
        "SUPPORT_EXECUTOR",
        "multiprocess",
        "How a run executes its steps: multiprocess (a process per step, one server), k8s (a "
        "Kubernetes Job per step, dagster-k8s) or in_process (one process per run).",
    ),
    Setting(
        "HELPDESK_WEB_BASE_URL",
        "$SUPPORT_SANDBOX_URL/helpdesk_web",
        "Web helpdesk root: the web application (otp mode), or https://api.tiflux.com in "
        "token mode (the API is under /api/v2). Once set, the sandbox defaults below no longer "
        "apply.",
    ),
    Setting(
        "HELPDESK_WEB_AUTH",
        "otp",
        "otp: web login with password and the e-mailed OTP read from the sheet; token: "
        "Tiflux API v2 with HELPDESK_WEB_API_TOKEN, no sheet.",
    ),
    Setting(
        "HELPDESK_WEB_USER",
        "robo@empresa.com.br",
        "Web helpdesk login user (otp mode).",
    ),
    Setting(
        "HELPDESK_WEB_PASSWORD",
        "the sandbox's demo password",
        "Web helpdesk login password (otp mode).",
        secret=True,
    ),
    Setting(
        "HELPDESK_WEB_API_TOKEN",
        "the sandbox's demo token",
        "Tiflux API v2 token, sent as Authorization: Bearer (token mode).",
        secret=True,
    ),
    Setting(
        "OTP_SHEET_ID",
        "the sandbox's OTP sheet",
        "Google Sheet the Apps Script copies the OTP e-mail into.",
    ),
    Setting(
        "OTP_SHEET_CELL",
        "OTP!A2",
        "Cell holding the OTP (A1 notation); the e-mail's arrival time goes in the cell to its "
        "right.",
    ),
    Setting(
        "GOOGLE_SERVICE_ACCOUNT_FILE",
        "a throwaway sandbox file in $SUPPORT_DATA_DIR",
        "Service-account JSON with read access to the OTP sheet. Required for a real sheet.",
    ),
    Setting(
        "GOOGLE_SHEETS_BASE_URL",
        "https://sheets.googleapis.com",
        "Sheets API root. Google's, except that with HELPDESK_WEB_BASE_URL, OTP_SHEET_ID and "
        "GOOGLE_SERVICE_ACCOUNT_FILE all unset it is the sandbox's $SUPPORT_SANDBOX_URL/sheets.",
    ),
    Setting(
        "OTP_TIMEOUT_SECONDS",
        "180",
        "Seconds to wait for an OTP newer than the login before the run fails.",
    ),
    Setting(
        "PLOOMES_BASE_URL",
        "$SUPPORT_SANDBOX_URL/ploomes",
        "Ploomes API root, e.g. https://public-api2.ploomes.com. Once set, PLOOMES_USER_KEY must "
        "be set too.",
    ),
    Setting(
        "PLOOMES_USER_KEY",
        "the sandbox's demo key",
        "Ploomes User-Key of the integration user.",
        secret=True,
    ),
    Setting(
        "PLOOMES_RATE_LIMIT_PER_SECOND",
        "2",
        "Requests a second the Ploomes client allows itself (it halves on 429 and recovers).",
    ),
    Setting(
        "PLOOMES_TAG_INSTALACAO_ID",
        "looked up by name (40001 in the sandbox)",
        "Ploomes tag id of INSTALAÇÃO: tasks and interactions carrying it become Milvus tickets. "
        "Unset with PLOOMES_BASE_URL set: every tag Ploomes lists named INSTALAÇÃO (accents and "
        "case aside); none found fails the run naming this setting. The sandbox's id is used "
        "only while PLOOMES_BASE_URL is unset.",
    ),
    Setting(
        "PLOOMES_TAG_ENTREGA_ID",
        "looked up by name (40002 in the sandbox)",
        "Ploomes tag id of ENTREGA, as PLOOMES_TAG_INSTALACAO_ID: looked up by the name ENTREGA "
        "when unset with PLOOMES_BASE_URL set.",
    ),
    Setting(
        "MILVUS_BASE_URL",
        "$SUPPORT_SANDBOX_URL/milvus/api",
        "Milvus integration API root, e.g. https://apiintegracao.milvus.com.br/api. Once set, "
        "MILVUS_API_TOKEN must be set too.",
    ),
    Setting(
        "MILVUS_API_TOKEN",
        "the sandbox's demo token",
        "Milvus integration token, sent as Authorization.",
        secret=True,
    ),
    Setting(
        "MILVUS_RATE_LIMIT_PER_SECOND",
        "3",
        "Requests a second the Milvus client allows itself (Milvus's limit is undocumented; it "
        "halves on 429 and recovers).",
    ),
    Setting(
        "MILVUS_DOCUMENT_AS",
        "string",
        "How cliente_documento goes to Milvus: string (zero-padded text, so a CPF or CNPJ that "
        "starts with 0 keeps it) or number (a JSON number as the API documents it, for a tenant "
        "that refuses text; leading zeros are then lost in Milvus, which the sync warns about).",
    ),
    Setting(
        "MILVUS_TICKET_DESK",
        "Mesa padrão",
        "Milvus desk (chamado_mesa) of the tickets the CRM sync opens.",
    ),
    Setting(
        "CRM_SYNC_START_DATE",
        "2024-02-24",
        "São Paulo date: Ploomes tasks and interactions created before it never become tickets.",
    ),
    Setting(
        "CRM_SYNC_DRY_RUN",
        "false",
        "true: the CRM sync looks things up and reports in its metadata what it would create, "
        "calls no create endpoint and leaves its cursors where they were.",
    ),
    Setting(
        "CRM_LEGACY_SENT_COLLECTION",
        "unset: no migration",
        "MongoDB collection where the old Ploomes → Milvus script kept the CPF/CNPJ of the "
        "clients it sent. Set: marts/crm_legacy_import runs once before the first sync, imports "
        "it into crm_sync_state and links the tickets the script opened (no marker) to their "
        "Ploomes items by client and creation time.",
    ),
    Setting(
        "CRM_LEGACY_SENT_FIELD",
        "cnpj_cpf",
        "Field of that collection holding the CPF/CNPJ (formatted or bare).",
    ),
    Setting(
        "CRM_LEGACY_MONGODB_URI",
        "unset: the documents store",
        "MongoDB server of the old script, when it is not the documents store (MONGODB_URI).",
        secret=True,
    ),
    Setting(
        "CRM_LEGACY_MONGODB_DATABASE",
        "MONGODB_DATABASE",
        "Database of the old script's collection.",
    ),
    Setting(
        "CRM_LEGACY_TICKET_WINDOW_MINUTES",
        "60",
        "How long after a Ploomes task or interaction was created a Milvus ticket without a "
        "marker, for the same client, is taken as the one the old script opened for it (from 5 "
        "minutes before).",
    ),
    Setting(
        "TELEGRAM_BOT_TOKEN",
        "the sandbox's demo token",
        "Telegram bot token from @BotFather (it sits in every API URL; redacted in logs).",
        secret=True,
    ),
    Setting(
        "TELEGRAM_API_BASE_URL",
        "https://api.telegram.org",
        "Bot API root. Telegram's, except that with TELEGRAM_BOT_TOKEN also unset it is the "
        "sandbox's $SUPPORT_SANDBOX_URL/telegram.",
    ),
    Setting(
        "TELEGRAM_WEBHOOK_SECRET",
        "none: required by the receiver (the sandbox's only with webhook --sandbox)",
        "Secret token given to setWebhook and required in X-Telegram-Bot-Api-Secret-Token by "
        "the webhook receiver (1-256 of A-Z a-z 0-9 _ -, nothing else, no trailing newline). "
        "The receiver refuses to start without it, unless started with --sandbox.",
        secret=True,
    ),
    Setting(
        "TELEGRAM_WEBHOOK_MAX_BODY_BYTES",
        "1048576",
        "Largest request body the webhook receiver reads (413 above it).",
    ),
    Setting(
        "TELEGRAM_POLL_TIMEOUT_SECONDS",
        "30",
        "Long-polling wait of each getUpdates call of the poller (0-50).",
    ),
    Setting(
        "STOMP_HOST",
        "127.0.0.1",
        "ActiveMQ broker (STOMP) of the service events. Unset: the local broker make demo "
        "starts, and a run that finds none there consumes nothing and says so; once set, an "
        "unreachable broker fails the run.",
    ),
    Setting("STOMP_PORT", "61613", "STOMP port of the broker."),
    Setting("STOMP_USER", "none (no login)", "STOMP login, when the broker requires one."),
    Setting("STOMP_PASSWORD", "none", "STOMP passcode.", secret=True),
    Setting(
        "STOMP_DESTINATION",
        "/topic/support.service_events",
        "Topic the attendance system publishes service events to.",
    ),
    Setting(
        "STOMP_CLIENT_ID",
        "support-assets",
        "client-id of the platform's durable subscription (one connection at a time holds it).",
    ),
    Setting(
        "STOMP_SUBSCRIPTION_NAME",
        "support-assets.service_events",
        "Name of the durable subscription (activemq.subscriptionName); the broker keeps "
        "messages for it, published after it was first created, until they are acknowledged.",
    ),
    Setting(
        "STOMP_PREFETCH",
        "1000",
        "activemq.prefetchSize of the subscription, and so the most messages one run takes "
        "(acknowledgements are individual, and the broker stops at the prefetch).",
    ),
    Setting(
        "SUPPORT_PSEUDONYM_KEY",
        "the sandbox's demo key",
        "HMAC key of the pseudonymous customer_key that replaces CPF/CNPJ outside the raw "
        "layer. Required (a long random secret) once any real system is configured: keys made "
        "with the demo key can be reversed, so it serves only the sandbox.",
        secret=True,
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
        "26",
        "Hours since a source of the analytics marts last updated after which its freshness "
        "policy warns (and fails at twice that); the daily sources run once a day.",
    ),
)

SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}


def sandbox_url(environ: Mapping[str, str] | None = None) -> str:
    """The sandbox's base URL (``support-assets`` sets it when it serves on another port)."""
    env = os.environ if environ is None else environ
    return (env.get("SUPPORT_SANDBOX_URL") or SANDBOX_URL).rstrip("/")


def is_set(name: str, environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return bool(env.get(name))


def env_or(name: str, default: str, environ: Mapping[str, str] | None = None) -> str | EnvVar:
    """``EnvVar(name)`` when the variable is set, otherwise ``default``."""
    if name not in SETTINGS_BY_NAME:
        raise KeyError(f"{name} is not a documented setting; add it to SETTINGS")
    return EnvVar(name) if is_set(name, environ) else default


def data_dir(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return env.get("SUPPORT_DATA_DIR") or "./data"


def local_value(name: str, default: str, environ: Mapping[str, str] | None = None) -> str:
    """A non-secret setting's value (paths, URLs), read where it is needed at start-up."""
    if name not in SETTINGS_BY_NAME or SETTINGS_BY_NAME[name].secret:
        raise KeyError(f"{name} is not a documented non-secret setting")
    env = os.environ if environ is None else environ
    return env.get(name) or default


def http_bounds(env: Mapping[str, str]) -> dict[str, Any]:
    """What every HTTP API resource reads with: bounds (SUPPORT_HTTP_*) and the shared
    request budget (SUPPORT_RATE_LIMIT_STATE)."""
    return {
        "max_pages": int(local_value("SUPPORT_HTTP_MAX_PAGES", "100000", env)),
        "max_response_bytes": int(local_value("SUPPORT_HTTP_MAX_RESPONSE_BYTES", "67108864", env)),
        "request_deadline_seconds": float(
            local_value("SUPPORT_HTTP_REQUEST_DEADLINE_SECONDS", "300", env)
        ),
        "rate_limit_state": rate_limit_state(env),
    }


def rate_limit_state(env: Mapping[str, str]) -> str | None:
    """Where the shared request budgets live (SUPPORT_RATE_LIMIT_STATE), None when off."""
    home = env.get("DAGSTER_HOME")
    default = f"{home}/rate_limits.sqlite" if home else f"{data_dir(env)}/rate_limits.sqlite"
    value = local_value("SUPPORT_RATE_LIMIT_STATE", default, env).strip()
    return None if value.lower() in ("off", "none", "") else value
