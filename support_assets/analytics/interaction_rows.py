"""Rows of ``marts/support_interactions``: one builder per source turns its records into the
common columns, resolving each record's customer through ``marts/customer_identifiers``."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import pandas as pd

from support_assets.analytics.customers import IDENTIFIER_COLUMNS
from support_assets.analytics.frames import rows, value_or_none, with_columns
from support_assets.analytics.identifiers import (
    Identifier,
    IdentifierMaker,
    helpdesk_web_identifiers,
    milvus_ticket_identifiers,
    octadesk_chat_identifiers,
    octadesk_ticket_identifiers,
    service_event_identifiers,
)
from support_assets.core.constants import SAO_PAULO
from support_assets.sources.telegram.handoff import conversation_handoffs, customer_updates

#: Agent of chats the bot handled alone.
BOT_AGENT = "bot"

#: Milvus ticket statuses (as the API writes them) to the common status set.
MILVUS_STATUS_MAP = {
    "a fazer": "open",
    "atendendo": "in_progress",
    "pausado": "pending",
    "finalizado": "solved",
    "conferência": "in_progress",
    "agendado": "pending",
    "expirado": "cancelled",
    "ag. solução": "pending",
}


INTERACTION_COLUMNS = [
    "interaction_id",
    "source",
    "channel",
    "source_record_id",
    "customer_key",
    "agent",
    "created_at_utc",
    "closed_at_utc",
    "created_at_sao_paulo",
    "closed_at_sao_paulo",
    "created_date_sao_paulo",
    "status",
    "status_common",
    "satisfaction_score",
    "satisfaction_scale_max",
    "solved",
    "with_bot",
    "handled_by",
    "bot_contained",
    "first_response_seconds",
    "resolution_seconds",
]
INTERACTION_SOURCES = (
    "octadesk_ticket",
    "octadesk_chat",
    "helpdesk_web",
    "milvus",
    "service_events",
    "telegram",
)
TELEGRAM_COLUMNS = [
    "update_id",
    "kind",
    "chat_id",
    "chat_type",
    "sender_is_bot",
    "command",
    "callback_data",
    "sent_at",
    "received_at",
]


def telegram_conversations(messages: pd.DataFrame | None) -> pd.DataFrame:
    """Bot conversations: one private chat on one São Paulo day with at least one customer
    message or button press (marts/bot_insights' rule); handed_to_human when the customer sent
    /atendente or /humano or pressed a 'handoff' button that day."""
    frame = with_columns(messages, TELEGRAM_COLUMNS)
    keys = ["chat_id", "day"]
    if frame.empty:
        return conversation_handoffs(frame, keys)
    event_at = pd.to_datetime(frame["sent_at"], utc=True).fillna(
        pd.to_datetime(frame["received_at"], utc=True)
    )
    private = customer_updates(frame.assign(event_at=event_at))
    private = private[private["chat_type"] == "private"]
    if not private.empty:
        private = private.assign(day=private["event_at"].dt.tz_convert(SAO_PAULO).dt.date)
    return conversation_handoffs(private, keys)


@dataclass
class CustomerLookup:
    """Resolves a source record to its customer_key through marts/customer_identifiers."""

    ids: IdentifierMaker
    by_identifier: dict[str, str]

    @classmethod
    def from_identifiers(cls, ids: IdentifierMaker, identifiers: pd.DataFrame) -> "CustomerLookup":
        """The lookup over the rows of marts/customer_identifiers."""
        identifiers = with_columns(identifiers, IDENTIFIER_COLUMNS)
        keys = zip(identifiers["identifier_key"], identifiers["customer_key"], strict=True)
        return cls(ids, dict(keys))

    def customer_key(
        self,
        identifiers_of: Callable[[Any, IdentifierMaker], list[Identifier]],
        record: Any,
    ) -> str | None:
        """The customer of the first identifier of ``record`` that resolved to one."""
        for ident in identifiers_of(record, self.ids):
            if ident.key in self.by_identifier:
                return self.by_identifier[ident.key]
        return None


def _utc(value: Any) -> pd.Timestamp | None:
    value = value_or_none(value)
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)


def _seconds(start: pd.Timestamp | None, end: pd.Timestamp | None) -> float | None:
    if start is None or end is None:
        return None
    return float((end - start).total_seconds())


def _lower(value: Any) -> str | None:
    value = value_or_none(value)
    return None if value is None else str(value).strip().lower() or None


def _interaction(source: str, record_id: Any, **values: Any) -> dict[str, Any]:
    """One row in the common columns; resolution time and solved derived unless given."""
    row = dict.fromkeys(INTERACTION_COLUMNS)
    row.update(values)
    row["source"] = source
    row["source_record_id"] = str(record_id)
    row["interaction_id"] = f"{source}:{record_id}"
    created, closed = row["created_at_utc"], row["closed_at_utc"]
    if row["resolution_seconds"] is None:
        row["resolution_seconds"] = _seconds(created, closed)
    if row["solved"] is None:
        row["solved"] = row["status_common"] == "solved"
    return row


def _ticket_fields(r: dict[str, Any]) -> dict[str, Any]:
    """Columns the staged tickets and chats of Octadesk and the web helpdesk name alike."""
    return {
        "channel": _lower(r.get("channel")),
        "agent": value_or_none(r.get("agent_name")),
        "created_at_utc": _utc(r.get("created_at")),
        "status": value_or_none(r.get("status")),
        "status_common": value_or_none(r.get("status_common")),
    }


def _octadesk_fields(r: dict[str, Any]) -> dict[str, Any]:
    """Octadesk's ticket and chat columns: closing time and satisfaction (scale of 5)."""
    score = value_or_none(r.get("satisfaction_score"))
    return {
        **_ticket_fields(r),
        "closed_at_utc": _utc(r.get("closed_at")),
        "satisfaction_score": score,
        "satisfaction_scale_max": 5 if score is not None else None,
    }


def octadesk_ticket_rows(tickets: pd.DataFrame, lookup: CustomerLookup) -> list[dict[str, Any]]:
    """Octadesk tickets."""
    return [
        _interaction(
            "octadesk_ticket",
            r["ticket_id"],
            **_octadesk_fields(r),
            customer_key=lookup.customer_key(octadesk_ticket_identifiers, r),
        )
        for r in rows(tickets)
    ]


def octadesk_chat_rows(chats: pd.DataFrame, lookup: CustomerLookup) -> list[dict[str, Any]]:
    """Octadesk chats; agent 'bot' for a chat the bot started and handled alone."""
    out = []
    for r in rows(chats):
        fields = _octadesk_fields(r)
        handled_by = value_or_none(r.get("handled_by"))
        with_bot = bool(value_or_none(r.get("with_bot")))
        if fields["agent"] is None and handled_by == "bot" and with_bot:
            fields["agent"] = BOT_AGENT
        out.append(
            _interaction(
                "octadesk_chat",
                r["chat_id"],
                **fields,
                customer_key=lookup.customer_key(octadesk_chat_identifiers, r),
                with_bot=with_bot,
                handled_by=handled_by,
                bot_contained=with_bot and handled_by == "bot",
                first_response_seconds=value_or_none(r.get("first_response_seconds")),
                resolution_seconds=value_or_none(r.get("duration_seconds")),
            )
        )
    return out


def helpdesk_web_rows(tickets: pd.DataFrame, lookup: CustomerLookup) -> list[dict[str, Any]]:
    """Web helpdesk tickets, closed at their last update once is_closed (no closing time)."""
    return [
        _interaction(
            "helpdesk_web",
            r["ticket_id"],
            **_ticket_fields(r),
            customer_key=lookup.customer_key(helpdesk_web_identifiers, r),
            closed_at_utc=(
                _utc(r.get("updated_at")) if value_or_none(r.get("is_closed")) is True else None
            ),
        )
        for r in rows(tickets)
    ]


def milvus_rows(tickets: pd.DataFrame, lookup: CustomerLookup) -> list[dict[str, Any]]:
    """Milvus tickets, their status mapped to the common set."""
    out = []
    for r in rows(tickets):
        status = value_or_none(r.get("status"))
        out.append(
            _interaction(
                "milvus",
                int(r["id"]),
                channel="milvus",
                customer_key=lookup.customer_key(milvus_ticket_identifiers, r),
                agent=value_or_none(r.get("tecnico")),
                created_at_utc=_utc(r.get("created_at")),
                closed_at_utc=_utc(r.get("solved_at")),
                status=status,
                status_common=MILVUS_STATUS_MAP.get(str(status).strip().lower()),
            )
        )
    return out


def service_event_rows(events: pd.DataFrame, lookup: CustomerLookup) -> list[dict[str, Any]]:
    """Service events: attendance records, closed when they occur (no resolution time)."""
    out = []
    for r in rows(events):
        occurred = _utc(r.get("occurred_at"))
        solved = bool(value_or_none(r.get("solved")))
        out.append(
            _interaction(
                "service_events",
                r["event_key"],
                channel=_lower(r.get("channel")),
                customer_key=lookup.customer_key(service_event_identifiers, r),
                created_at_utc=occurred,
                closed_at_utc=occurred,
                status="solved" if solved else "unsolved",
                status_common="solved" if solved else None,
                satisfaction_score=value_or_none(r.get("service_score")),
                satisfaction_scale_max=10,
                solved=solved,
                resolution_seconds=float("nan"),
            )
        )
    return out


def telegram_rows(conversations: pd.DataFrame) -> list[dict[str, Any]]:
    """Telegram bot conversations (see telegram_conversations); no customer, solved unknown."""
    out = []
    for c in rows(conversations):
        handed = bool(c["handed_to_human"])
        out.append(
            _interaction(
                "telegram",
                f"{int(c['chat_id'])}:{c['day'].isoformat()}",
                channel="telegram",
                agent=None if handed else BOT_AGENT,
                created_at_utc=_utc(c["started_at"]),
                closed_at_utc=_utc(c["last_at"]),
                status="handed_to_human" if handed else "bot_only",
                solved=pd.NA,
                with_bot=True,
                handled_by="human" if handed else "bot",
                bot_contained=not handed,
                resolution_seconds=float("nan"),
            )
        )
    return out
