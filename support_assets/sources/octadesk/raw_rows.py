"""Octadesk records as raw rows: a few typed key columns beside the full record as JSON.

A record that cannot be keyed (no id, a number that is not one, a time without an offset)
raises ``InvalidRecord``, which sends it to quarantine instead of failing the batch.
"""

from typing import Any

from support_assets.core.records import InvalidRecord, parse_iso_utc, to_json


def ticket_number(value: Any) -> int | None:
    """A ticket number sent as a number or as text; None when it is not one."""
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _record_id(record: Any) -> str:
    """The record's id: a record that is not an object, or has none, cannot be merged."""
    if not isinstance(record, dict):
        raise InvalidRecord("record is not a JSON object")
    record_id = record.get("id")
    if not isinstance(record_id, str) or not record_id:
        raise InvalidRecord("id is missing")
    return record_id


def _times_and_record(record: dict[str, Any]) -> dict[str, Any]:
    """The columns every raw row ends with: its times in UTC and the record as JSON."""
    return {
        "created_at": parse_iso_utc(record.get("createdAt"), "createdAt"),
        "updated_at": parse_iso_utc(record.get("updatedAt"), "updatedAt"),
        "record": to_json(record),
    }


def ticket_row(record: dict[str, Any]) -> dict[str, Any]:
    """The raw row of one ticket."""
    ticket_id = _record_id(record)
    try:
        number = int(record.get("number"))
    except (TypeError, ValueError):
        raise InvalidRecord(f"number is not an integer: {record.get('number')!r}") from None
    status = record.get("status")
    return {
        "id": ticket_id,
        "number": number,
        "status": status.get("name") if isinstance(status, dict) else status,
        **_times_and_record(record),
    }


def chat_row(record: dict[str, Any]) -> dict[str, Any]:
    """The raw row of one chat (its events and messages are added by the enrichment)."""
    return {
        "id": _record_id(record),
        "number": ticket_number(record.get("number")),
        "status": record.get("status"),
        "channel": record.get("channel"),
        **_times_and_record(record),
    }
