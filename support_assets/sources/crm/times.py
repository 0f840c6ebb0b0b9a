"""Times as the CRM APIs send them: Ploomes's ISO 8601, Milvus's São Paulo wall time, and the
timestamps the warehouse hands back, all as aware UTC datetimes."""

from datetime import UTC, datetime
from typing import Any

import pandas as pd

from support_assets.core.constants import SAO_PAULO
from support_assets.core.records import InvalidRecord, parse_iso_utc


def parse_milvus_time(value: Any, field_name: str) -> datetime | None:
    """Milvus's São Paulo wall time ``YYYY-MM-DD HH:MM:SS`` as UTC; None when empty."""
    if value in (None, ""):
        return None
    try:
        naive = datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise InvalidRecord(f"{field_name} is not YYYY-MM-DD HH:MM:SS: {value!r}") from None
    return naive.replace(tzinfo=SAO_PAULO).astimezone(UTC)


def optional_time(value: Any, field_name: str) -> datetime | None:
    """An ISO 8601 time as UTC; None when empty or unreadable (raw rows keep the record)."""
    if value in (None, ""):
        return None
    try:
        return parse_iso_utc(value, field_name)
    except InvalidRecord:
        return None


def timestamp(value: Any) -> datetime | None:
    """A warehouse timestamp (pandas, text or datetime) as UTC; None when missing."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return pd.Timestamp(value).to_pydatetime().astimezone(UTC)
