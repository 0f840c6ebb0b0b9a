"""Everything about Telegram the code location holds."""

from collections.abc import Mapping

from dagster import Definitions

from support_assets.sources.telegram.assets import (
    bot_insights,
    telegram_raw_updates,
    telegram_staging_messages,
)
from support_assets.sources.telegram.checks import telegram_checks
from support_assets.sources.telegram.jobs import telegram_job
from support_assets.sources.telegram.resources import resources
from support_assets.sources.telegram.sensors import telegram_landing_sensor


def definitions(env: Mapping[str, str]) -> Definitions:
    return Definitions(
        assets=[telegram_raw_updates, telegram_staging_messages, bot_insights],
        asset_checks=telegram_checks,
        jobs=[telegram_job],
        sensors=[telegram_landing_sensor],
        resources=resources(env),
    )
