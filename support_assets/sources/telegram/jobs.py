"""What the Telegram landing sensor runs."""

from dagster import AssetSelection

from support_assets.core.runs import source_job

telegram_job = source_job(
    "telegram",
    (
        "Rebuilds one day of Telegram updates from the landing zone: raw/telegram_updates and "
        "staging/telegram_messages for that UTC day. Requested by telegram_landing_sensor; "
        "marts/bot_insights follows by its automation condition."
    ),
    selection=AssetSelection.assets(["raw", "telegram_updates"], ["staging", "telegram_messages"]),
)
