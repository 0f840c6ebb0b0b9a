"""Jobs: what a sensor or schedule runs. Each carries a source tag so run-queue limits can keep
two runs from writing the same source at once."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

octadesk_job = define_asset_job(
    "octadesk_job",
    selection=AssetSelection.groups("octadesk"),
    description="Loads Octadesk tickets and chats incrementally and rebuilds their staging tables.",
    tags={"support_assets/source": "octadesk"},
)

helpdesk_web_job = define_asset_job(
    "helpdesk_web_job",
    selection=AssetSelection.groups("helpdesk_web"),
    description=(
        "Logs in to the web helpdesk (OTP from the sheet, or the API token), reads the tickets "
        "of the last 180 days, logs out, merges them and rebuilds staging. Only one session per "
        "user exists, so limit this tag to one run at a time in the run queue."
    ),
    tags={"support_assets/source": "helpdesk_web"},
)

telegram_job = define_asset_job(
    "telegram_job",
    selection=AssetSelection.assets(["raw", "telegram_updates"], ["staging", "telegram_messages"]),
    description=(
        "Rebuilds one day of Telegram updates from the landing zone: raw/telegram_updates and "
        "staging/telegram_messages for that UTC day. Requested by telegram_landing_sensor; "
        "marts/bot_insights follows by its automation condition."
    ),
    tags={"support_assets/source": "telegram"},
)

service_events_job = define_asset_job(
    "service_events_job",
    selection=AssetSelection.groups("service_events"),
    description=(
        "Reads one batch of service events from the durable ActiveMQ subscription into "
        "raw/service_events (acknowledged after the write) and merges them into "
        "staging/service_events. Requested by service_events_sensor while messages are pending."
    ),
    tags={"support_assets/source": "service_events"},
)

crm_job = define_asset_job(
    "crm_job",
    selection=AssetSelection.groups("crm"),
    description=(
        "Reads Ploomes (contacts, tasks, interactions) and Milvus (every page of clients and "
        "tickets), matches clients by CPF/CNPJ, creates the clients missing on either side and "
        "a Milvus ticket per Ploomes task or interaction tagged INSTALAÇÃO or ENTREGA, never "
        "twice. Two runs at once could both decide to create the same record: limit this tag "
        "to one run at a time in the run queue (crm_sync_schedule also skips while one runs)."
    ),
    tags={"support_assets/source": "crm"},
)

all_jobs = [octadesk_job, helpdesk_web_job, telegram_job, crm_job, service_events_job]
