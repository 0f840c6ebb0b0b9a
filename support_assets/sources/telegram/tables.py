"""Telegram's tables: their asset keys, group and owners, and the daily partitions of the lake
tables (a partition is the UTC day an update was *received*)."""

import datetime as dt
from collections.abc import Iterable
from typing import Any

from dagster import AssetKey, DailyPartitionsDefinition, RetryPolicy

from support_assets.core.constants import LAKE, OWNERS

GROUP = "telegram"

RAW_UPDATES = AssetKey(["raw", "telegram_updates"])
STAGING_MESSAGES = AssetKey(["staging", "telegram_messages"])
BOT_INSIGHTS = AssetKey(["marts", "bot_insights"])

#: Daily partitions by the UTC day an update was received, from the first day of the landing
#: zone up to and including today.
TELEGRAM_PARTITIONS = DailyPartitionsDefinition(start_date="2025-01-01", end_offset=1)


def first_partition_day() -> dt.date:
    """The day of the first partition."""
    return dt.date.fromisoformat(TELEGRAM_PARTITIONS.get_first_partition_key() or "1970-01-01")


def telegram_partition_keys(days: Iterable[dt.date]) -> list[str]:
    """The partition keys of ``days`` that exist (from the first partition through today)."""
    first = first_partition_day()
    today = dt.datetime.now(dt.UTC).date()
    return [d.isoformat() for d in sorted(set(days)) if first <= d <= today]


def daily_lake_table(layer: str) -> dict[str, Any]:
    """The ``@asset`` arguments every daily lake table of Telegram shares: each run replaces
    one day's partition, retried twice on a failure."""
    return {
        "group_name": GROUP,
        "partitions_def": TELEGRAM_PARTITIONS,
        "io_manager_key": LAKE,
        "metadata": {"write_mode": "replace"},
        "owners": OWNERS,
        "tags": {"layer": layer, "source": "telegram"},
        "retry_policy": RetryPolicy(max_retries=2, delay=5),
    }
