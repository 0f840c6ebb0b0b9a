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


def ticket_row(record: dict[str, Any]) -> dict[str, Any]:
    """The raw row of one ticket."""
    if not isinstance(record, dict):
        raise InvalidRecord("record is not a JSON object")
    ticket_id = record.get("id")
    if not isinstance(ticket_id, str) or not ticket_id:
        raise InvalidRecord("id is missing")
    try:
        number = int(record.get("number"))
    except (TypeError, ValueError):
        raise InvalidRecord(f"number is not an integer: {record.get('number')!r}") from None
    status = record.get("status")
    return {
        "id": ticket_id,
        "number": number,
        "status": status.get("name") if isinstance(status, dict) else status,
        "created_at": parse_iso_utc(record.get("createdAt"), "createdAt"),
        "updated_at": parse_iso_utc(record.get("updatedAt"), "updatedAt"),
        "record": to_json(record),
    }


def chat_row(record: dict[str, Any]) -> dict[str, Any]:
    """The raw row of one chat (its events and messages are added by the enrichment)."""
    if not isinstance(record, dict):
        raise InvalidRecord("record is not a JSON object")
    chat_id = record.get("id")
    if not isinstance(chat_id, str) or not chat_id:
        raise InvalidRecord("id is missing")
    return {
        "id": chat_id,
        "number": ticket_number(record.get("number")),
        "status": record.get("status"),
        "channel": record.get("channel"),
        "created_at": parse_iso_utc(record.get("createdAt"), "createdAt"),
        "updated_at": parse_iso_utc(record.get("updatedAt"), "updatedAt"),
        "record": to_json(record),
    }
