"""Telegram's asset checks: one row per update."""

from support_assets.core.checks import unique_key_check
from support_assets.sources.telegram.assets import RAW_UPDATES, STAGING_MESSAGES

telegram_checks = [
    unique_key_check(RAW_UPDATES, ["update_id"]),
    unique_key_check(STAGING_MESSAGES, ["update_id"]),
]
