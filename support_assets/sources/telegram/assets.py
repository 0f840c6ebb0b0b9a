"""Telegram: every update the bot receives, from the landing zone to Parquet, and bot insights.

``landing/telegram/date=D/*.jsonl`` (written by the webhook receiver or the poller, see
``support_assets.io_managers.landing``) → ``raw/telegram_updates`` (day D's updates, one row per
``update_id``, the full JSON kept; :mod:`.raw_updates`) → ``staging/telegram_messages`` (one
typed row per update; :mod:`.messages`) → ``marts/bot_insights`` (:mod:`.insights`). The two
daily-partitioned tables live in the lake; a partition is the UTC day an update was *received*,
and the partitions reach today (``end_offset=1``), so today's partition can be rebuilt every few
minutes by the landing sensor while the day goes on (:mod:`.tables`).
"""

from support_assets.sources.telegram.insights import (
    BotInsightsConfig,
    bot_insights,
    build_bot_insights,
    mentions_bot,
    normalise_question,
)
from support_assets.sources.telegram.messages import (
    KNOWN_KINDS,
    MESSAGE_KINDS,
    STAGING_SCHEMA,
    build_staging_messages,
    staging_row,
    telegram_staging_messages,
)
from support_assets.sources.telegram.raw_updates import (
    RAW_SCHEMA,
    build_raw_updates,
    telegram_raw_updates,
)
from support_assets.sources.telegram.tables import (
    BOT_INSIGHTS,
    RAW_UPDATES,
    STAGING_MESSAGES,
    TELEGRAM_PARTITIONS,
    telegram_partition_keys,
)

__all__ = [
    "BOT_INSIGHTS",
    "KNOWN_KINDS",
    "MESSAGE_KINDS",
    "RAW_SCHEMA",
    "RAW_UPDATES",
    "STAGING_MESSAGES",
    "STAGING_SCHEMA",
    "TELEGRAM_PARTITIONS",
    "BotInsightsConfig",
    "bot_insights",
    "build_bot_insights",
    "build_raw_updates",
    "build_staging_messages",
    "mentions_bot",
    "normalise_question",
    "staging_row",
    "telegram_partition_keys",
    "telegram_raw_updates",
    "telegram_staging_messages",
]
