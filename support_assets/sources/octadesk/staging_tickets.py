"""Staging tickets: one row per Octadesk ticket, with its chats, tags and custom fields."""

import json
from typing import Any

import pandas as pd
import pyarrow as pa

from support_assets.core.records import parse_iso_utc, parse_optional_iso_utc, to_json
from support_assets.core.tickets import TICKET_STATUS_MAP
from support_assets.sources.octadesk.custom_fields import custom_field_columns

#: A list-of-text column (DuckDB VARCHAR[], BigQuery REPEATED STRING, Parquet list).
TEXT_LIST = pd.ArrowDtype(pa.list_(pa.string()))


def _tag_names(tags: Any) -> list[str]:
    """Ticket tags as text: strings and numbers as they are, a tag object by its name, anything
    else as its JSON (nothing is dropped)."""
    if not isinstance(tags, list):
        return [] if tags is None else [to_json(tags)]
    names = []
    for tag in tags:
        if isinstance(tag, dict) and isinstance(tag.get("name"), str):
            names.append(tag["name"])
        elif isinstance(tag, str | int | float) and not isinstance(tag, bool):
            names.append(str(tag))
        elif tag is not None:
            names.append(to_json(tag))
    return names


def build_staging_tickets(raw_tickets: pd.DataFrame, staging_chats: pd.DataFrame) -> pd.DataFrame:
    """One row per ticket; every custom field becomes its own ``cf_<key>`` column."""
    chats_by_ticket: dict[int, list[str]] = {}
    satisfaction: dict[int, float] = {}
    for chat in staging_chats.itertuples(index=False):
        if pd.isna(chat.ticket_number):
            continue
        number = int(chat.ticket_number)
        chats_by_ticket.setdefault(number, []).append(chat.chat_id)
        if chat.satisfaction_score is not None and not pd.isna(chat.satisfaction_score):
            satisfaction[number] = float(chat.satisfaction_score)
    tickets = [json.loads(raw.record) for raw in raw_tickets.itertuples(index=False)]
    columns = custom_field_columns(
        custom["key"]
        for ticket in tickets
        for custom in ticket.get("customField") or []
        if isinstance(custom, dict) and custom.get("key")
    )
    rows = []
    for ticket in tickets:
        number = int(ticket["number"])
        status = (
            (ticket.get("status") or {}).get("name")
            if isinstance(ticket.get("status"), dict)
            else ticket.get("status")
        )
        requester = ticket.get("requester") or {}
        assigned = ticket.get("assignedTo") or {}
        row = {
            "ticket_id": ticket["id"],
            "ticket_number": number,
            "summary": ticket.get("summary"),
            "status": status,
            "status_common": TICKET_STATUS_MAP.get(str(status).strip().lower()),
            "channel": (ticket.get("channel") or {}).get("name"),
            "requester_id": requester.get("id"),
            "requester_name": requester.get("name"),
            "requester_email": requester.get("email"),
            "agent_id": assigned.get("id"),
            "agent_name": assigned.get("name"),
            "group_name": (ticket.get("group") or {}).get("name"),
            "tags": _tag_names(ticket.get("tags")),
            "created_at": parse_iso_utc(ticket["createdAt"], "createdAt"),
            "updated_at": parse_iso_utc(ticket["updatedAt"], "updatedAt"),
            "closed_at": parse_optional_iso_utc(ticket.get("closedAt"), "closedAt"),
            "satisfaction_score": satisfaction.get(number),
            "linked_chat_ids": sorted(str(c) for c in chats_by_ticket.get(number, [])),
        }
        for custom in ticket.get("customField") or []:
            if isinstance(custom, dict) and custom.get("key"):
                value = custom.get("value")
                row[columns[str(custom["key"])]] = None if value is None else str(value)
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=["ticket_id", "ticket_number"])
    for column in ("tags", "linked_chat_ids"):  # list columns, typed even when all are empty
        frame[column] = frame[column].astype(TEXT_LIST)
    custom_columns = sorted(c for c in frame.columns if c.startswith("cf_"))
    ordered = [c for c in frame.columns if not c.startswith("cf_")] + custom_columns
    return frame[ordered].sort_values("ticket_number", ignore_index=True)
