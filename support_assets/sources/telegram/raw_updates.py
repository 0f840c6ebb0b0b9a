"""raw/telegram_updates: day D's landed updates, one row per ``update_id``, the full JSON kept.

The landing zone (``landing/telegram/date=D/*.jsonl``, written by the webhook receiver, the
poller or the archive import) may hold an update more than once: Telegram redelivers what was
not acknowledged. The first copy received wins, and a copy already landed the day before
belongs to that day.
"""

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from dagster import AssetExecutionContext, MetadataValue, asset

from support_assets.io_managers.landing import (
    LandedRecord,
    LandingZone,
    LandingZoneResource,
    ReadStats,
)
from support_assets.sources.telegram.messages import kinds_metadata, warn_of_unknown_kinds
from support_assets.sources.telegram.tables import (
    RAW_UPDATES,
    daily_lake_table,
    first_partition_day,
)
from support_assets.sources.telegram.values import UTC_TS, as_int, compact_json, update_kind

#: Telegram redelivers an update for at most a day, so a copy received on day D may already
#: have been received on D-1; that earlier day owns it.
REDELIVERY_LOOKBACK_DAYS = 1

RAW_SCHEMA = pa.schema(
    [
        pa.field("update_id", pa.int64(), nullable=False),
        pa.field("kind", pa.string()),
        pa.field("received_at", UTC_TS),
        pa.field("via", pa.string()),
        pa.field("update_json", pa.string()),
        pa.field("landing_file", pa.string()),
        pa.field("landing_line", pa.int64()),
    ]
)


def landed_update_ids(zone: LandingZone, day: dt.date) -> set[int]:
    """The ``update_id`` of every update landed on ``day``."""
    ids: set[int] = set()
    for record in zone.read(day):
        payload = record.payload
        if isinstance(payload, dict) and as_int(payload.get("update_id")) is not None:
            ids.add(payload["update_id"])
    return ids


def _landed_before(zone: LandingZone, day: dt.date, first_day: dt.date) -> set[int]:
    """Ids landed on the days a redelivery of ``day``'s updates may come from."""
    earlier: set[int] = set()
    for back in range(1, REDELIVERY_LOOKBACK_DAYS + 1):
        previous = day - dt.timedelta(days=back)
        if previous >= first_day:
            earlier |= landed_update_ids(zone, previous)
    return earlier


@dataclass
class _FirstCopies:
    """One day's landed records reduced to the first copy of each update, and what was left
    out and why."""

    kept: dict[int, LandedRecord] = field(default_factory=dict)
    duplicates: int = 0
    owned_earlier: int = 0
    invalid: int = 0
    unrepresentable: list[str] = field(default_factory=list)

    def add(self, record: LandedRecord, earlier: set[int]) -> None:
        payload = record.payload
        raw_id = payload.get("update_id") if isinstance(payload, dict) else None
        update_id = as_int(raw_id)
        if update_id is None:
            if isinstance(raw_id, int) and not isinstance(raw_id, bool):
                # Beyond int64: Parquet cannot hold it; the landing line keeps the update.
                self.unrepresentable.append(f"{record.file}:{record.line}")
            else:
                self.invalid += 1
        elif update_id in earlier:
            self.owned_earlier += 1
        elif update_id not in self.kept:
            self.kept[update_id] = record
        else:
            self.duplicates += 1
            if record.received_at < self.kept[update_id].received_at:
                self.kept[update_id] = record


def _raw_rows(copies: _FirstCopies) -> tuple[list[dict[str, Any]], Counter[str]]:
    """Raw rows in ``update_id`` order and the count of each kind; an update the JSON encoder
    cannot write joins ``copies.unrepresentable``."""
    kinds: Counter[str] = Counter()
    rows: list[dict[str, Any]] = []
    for update_id in sorted(copies.kept):
        record = copies.kept[update_id]
        try:
            update_json = compact_json(record.payload)
        except (RecursionError, ValueError):  # nested past what the encoder takes
            copies.unrepresentable.append(f"{record.file}:{record.line}")
            continue
        kind = update_kind(record.payload)
        kinds[kind] += 1
        rows.append(
            {
                "update_id": update_id,
                "kind": kind,
                "received_at": record.received_at,
                "via": record.via,
                "update_json": update_json,
                "landing_file": record.file,
                "landing_line": record.line,
            }
        )
    return rows, kinds


def _raw_metadata(
    stats: ReadStats, copies: _FirstCopies, rows: list[dict[str, Any]], kinds: Counter[str]
) -> dict[str, Any]:
    return {
        "landing_files": stats.files,
        "landing_bytes": stats.bytes,
        "landed_lines": stats.lines,
        "updates": len(rows),
        "duplicates_dropped": copies.duplicates,
        "received_earlier_dropped": copies.owned_earlier,
        "incomplete_tails_skipped": stats.incomplete_tails,
        "invalid_lines": stats.invalid_lines + copies.invalid,
        "quarantined_updates": len(copies.unrepresentable),
        "quarantined_samples": MetadataValue.json(
            {
                "reason": "update_id outside int64, or nested too deeply to write as JSON",
                "landing_lines": copies.unrepresentable[:20],
            }
        ),
        **kinds_metadata(kinds),
        "min_update_id": rows[0]["update_id"] if rows else -1,
        "max_update_id": rows[-1]["update_id"] if rows else -1,
    }


def build_raw_updates(
    zone: LandingZone, day: dt.date, first_day: dt.date
) -> tuple[pa.Table, dict[str, Any]]:
    """Day ``day``'s landed updates, one row per ``update_id``: the copy received first (the
    first one read among equals).

    An update also landed on an earlier day (a redelivery across midnight) belongs to that day.
    """
    earlier = _landed_before(zone, day, first_day)
    stats = ReadStats()
    copies = _FirstCopies()
    for record in zone.read(day, stats):
        copies.add(record, earlier)
    rows, kinds = _raw_rows(copies)
    table = pa.Table.from_pylist(rows, schema=RAW_SCHEMA)
    return table, _raw_metadata(stats, copies, rows, kinds)


@asset(
    key=RAW_UPDATES,
    kinds={"parquet", "python"},
    **daily_lake_table("raw"),
    description=(
        "Every Telegram update landed on the partition's UTC day (webhook receiver or poller), "
        "one row per update_id with the full update as JSON (update_json), when and how it was "
        "received and the landing file and line it came from. Redeliveries are dropped: the "
        "first copy read wins, and an update already landed the day before belongs to that day. "
        "Metadata counts updates per kind and the kinds this code does not know."
    ),
)
def telegram_raw_updates(
    context: AssetExecutionContext, telegram_landing: LandingZoneResource
) -> pa.Table:
    day = dt.date.fromisoformat(context.partition_key)
    table, metadata = build_raw_updates(telegram_landing.zone(), day, first_partition_day())
    context.log.info(
        f"telegram {day}: {table.num_rows} updates from {metadata['landing_files']} landing "
        f"file(s); {metadata['duplicates_dropped']} redeliveries dropped"
    )
    if metadata["quarantined_updates"]:
        context.log.warning(
            f"telegram {day}: {metadata['quarantined_updates']} update(s) cannot be stored in "
            "Parquet and were left out; their landing lines are in quarantined_samples"
        )
    warn_of_unknown_kinds(context.log, metadata, f"telegram {day}")
    context.add_output_metadata(metadata)
    return table
