"""Pieces every source domain uses: explicit time parsing, JSON, statuses, high-water marks."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from dagster import AssetKey, DagsterInstance, get_dagster_logger

from support_assets.core import json_codec

# The common status set every helpdesk's statuses map to.
COMMON_STATUSES = ("open", "pending", "in_progress", "solved", "rejected", "cancelled")

_ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$")


class InvalidRecord(ValueError):
    """A source record that cannot be loaded as is; it goes to quarantine with this reason."""


def parse_iso_utc(value: Any, field: str) -> datetime:
    """An ISO 8601 timestamp with an explicit offset or ``Z``, as an aware UTC datetime.

    Naive or free-form values are refused rather than guessed.
    """
    if not isinstance(value, str) or not _ISO_UTC.match(value):
        raise InvalidRecord(f"{field} is not an ISO 8601 timestamp with offset: {value!r}")
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def parse_optional_iso_utc(value: Any, field: str) -> datetime | None:
    return None if value in (None, "") else parse_iso_utc(value, field)


def to_json(value: Any) -> str:
    """Compact JSON with sorted keys that keeps accents and emoji readable."""
    return json_codec.dumps(value)


def payload_fingerprint(value: Any) -> str:
    """A stable key for a payload, so quarantining the same bad record twice stays one row."""
    return hashlib.sha256(json_codec.canonical_dumps(value).encode()).hexdigest()


def quarantine_row(source: str, reason: str, payload: Any, record_id: Any = None) -> dict:
    return {
        "payload_sha256": payload_fingerprint(payload),
        "source": source,
        "record_id": None if record_id is None else str(record_id),
        "reason": reason,
        "payload": to_json(payload),
        "quarantined_at": datetime.now(UTC),
    }


QUARANTINE_METADATA = {"write_mode": "merge", "primary_key": ["payload_sha256"]}
QUARANTINE_COLUMNS = ("payload_sha256", "source", "record_id", "reason", "payload")


def quarantine_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Quarantine rows as a typed frame; with no rows, an empty one with the same columns, so a
    quarantine table is materialized on every run and zero is recorded as a fact."""
    if rows:
        return pd.DataFrame(rows)
    frame = pd.DataFrame(columns=list(QUARANTINE_COLUMNS)).astype("string")
    frame["quarantined_at"] = pd.Series(dtype="datetime64[us, UTC]")
    return frame


def last_materialization_value(
    instance: DagsterInstance, asset_key: AssetKey, name: str
) -> Any | None:
    """A metadata value of the asset's latest materialization (only successful runs make one)."""
    event = instance.get_latest_materialization_event(asset_key)
    if event is None or event.asset_materialization is None:
        return None
    entry = event.asset_materialization.metadata.get(name)
    return None if entry is None else entry.value


#: How far ahead of this clock a source's timestamp may run before it counts as in the future.
CLOCK_SKEW = timedelta(minutes=5)


def cap_high_water_mark(
    mark: datetime | None, what: str, now: datetime | None = None
) -> datetime | None:
    """``mark``, but never later than now: one record dated in the future (a typo, a wrong
    clock) would otherwise stop every incremental read until real time caught up. Warns."""
    if mark is None:
        return None
    now = now or datetime.now(UTC)
    if mark <= now + CLOCK_SKEW:
        return mark
    get_dagster_logger("support_assets.high_water_mark").warning(
        f"{what}: a record is dated {mark.isoformat()}, in the future; the high-water mark "
        f"stays at the current time {now.isoformat()} so later changes are still read"
    )
    return now


def last_high_water_mark(instance: DagsterInstance, asset_key: AssetKey) -> datetime | None:
    value = last_materialization_value(instance, asset_key, "high_water_mark")
    if not value:
        return None
    mark = datetime.fromisoformat(value).astimezone(UTC)
    return cap_high_water_mark(mark, asset_key.to_user_string())
