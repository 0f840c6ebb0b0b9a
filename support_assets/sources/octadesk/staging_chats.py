"""Staging chats: one row per Octadesk chat, who handled it, its timings and its ticket."""

import json
from datetime import datetime
from typing import Any

import pandas as pd

from support_assets.core.records import parse_iso_utc, parse_optional_iso_utc
from support_assets.sources.octadesk.custom_fields import (
    chat_custom_fields,
    chat_field_keys,
    custom_field_columns,
)
from support_assets.sources.octadesk.raw_rows import ticket_number

CHAT_STATUS_MAP = {
    "waiting": "open",
    "started": "open",
    "talking": "in_progress",
    "offline": "pending",
    "closed": "solved",
    "missed": "cancelled",
    "hidden": "cancelled",
}


def chat_ticket_number(chat: dict[str, Any], events: list[dict[str, Any]]) -> int | None:
    """The ticket a chat opened: its ``ticket`` event, else the contact's ticket custom field."""
    for event in events:
        if event.get("type") == "ticket":
            number = ticket_number((event.get("data") or {}).get("ticketNumber"))
            if number is not None:
                return number
    for custom in (chat.get("contact") or {}).get("customFields") or []:
        if custom.get("key") == "n_mero_do_ticket":
            return ticket_number(custom.get("value"))
    return None


def _satisfaction(events: list[dict[str, Any]]) -> float | None:
    scores = [
        (e.get("createdAt") or "", (e.get("data") or {}).get("score"))
        for e in events
        if e.get("type") == "satisfaction"
    ]
    scores = [(at, s) for at, s in scores if isinstance(s, int | float)]
    return float(max(scores)[1]) if scores else None


def _seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def build_staging_chats(raw_chats: pd.DataFrame) -> pd.DataFrame:
    """One row per chat: who handled it, bot or human, timings and its ticket."""
    columns = custom_field_columns(
        key
        for raw in raw_chats.itertuples(index=False)
        for key, _ in chat_field_keys(json.loads(raw.record))
    )
    rows = []
    for raw in raw_chats.itertuples(index=False):
        chat = json.loads(raw.record)
        events = json.loads(raw.events) if isinstance(raw.events, str) else []
        messages = json.loads(raw.messages) if isinstance(raw.messages, str) else []
        created = parse_iso_utc(chat["createdAt"], "createdAt")
        closed = parse_optional_iso_utc(chat.get("closedAt") or chat.get("ClosedAt"), "closedAt")
        replies = sorted(
            parse_iso_utc(m["sentAt"], "sentAt")
            for m in messages
            if (m.get("author") or {}).get("type") in ("agent", "bot") and m.get("sentAt")
        )
        human_replies = sorted(
            parse_iso_utc(m["sentAt"], "sentAt")
            for m in messages
            if (m.get("author") or {}).get("type") == "agent" and m.get("sentAt")
        )
        transferred = any(e.get("type") == "transferred" for e in events)
        agent = chat.get("agent") or {}
        with_bot = bool(chat.get("withBot"))
        rows.append(
            {
                "chat_id": chat["id"],
                "chat_number": ticket_number(chat.get("number")),
                "channel": chat.get("channel"),
                "status": chat.get("status"),
                "status_common": CHAT_STATUS_MAP.get(str(chat.get("status")).lower()),
                "agent_id": agent.get("id"),
                "agent_name": agent.get("name"),
                "contact_id": (chat.get("contact") or {}).get("id"),
                "contact_name": (chat.get("contact") or {}).get("name"),
                "contact_email": (chat.get("contact") or {}).get("email"),
                "contact_phone": (chat.get("contact") or {}).get("phone"),
                "with_bot": with_bot,
                "handled_by": "human" if (transferred or human_replies or agent) else "bot",
                "transferred_to_human": transferred,
                "created_at": created,
                "updated_at": parse_iso_utc(chat["updatedAt"], "updatedAt"),
                "closed_at": closed,
                "first_response_at": replies[0] if replies else None,
                "first_response_seconds": _seconds_between(
                    created, replies[0] if replies else None
                ),
                "first_human_response_seconds": _seconds_between(
                    created, human_replies[0] if human_replies else None
                ),
                "duration_seconds": _seconds_between(created, closed),
                "message_count": len(messages),
                "ticket_number": chat_ticket_number(chat, events),
                "satisfaction_score": _satisfaction(events),
                **chat_custom_fields(chat, columns),
            }
        )
    custom_columns = sorted({c for row in rows for c in row if c.startswith("cf_")})
    frame = pd.DataFrame(rows, columns=[*_STAGING_CHAT_COLUMNS, *custom_columns])
    return frame.astype({"ticket_number": "Int64", "chat_number": "Int64"})


_STAGING_CHAT_COLUMNS = [
    "chat_id",
    "chat_number",
    "channel",
    "status",
    "status_common",
    "agent_id",
    "agent_name",
    "contact_id",
    "contact_name",
    "contact_email",
    "contact_phone",
    "with_bot",
    "handled_by",
    "transferred_to_human",
    "created_at",
    "updated_at",
    "closed_at",
    "first_response_at",
    "first_response_seconds",
    "first_human_response_seconds",
    "duration_seconds",
    "message_count",
    "ticket_number",
    "satisfaction_score",
]
