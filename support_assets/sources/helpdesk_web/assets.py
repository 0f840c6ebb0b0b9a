"""Web helpdesk (Tiflux-like) tickets: the last 180 days every run, merged on the ticket id.

The web helpdesk offers no change feed, so each run re-reads the tickets opened in the window
(``window_days`` back from ``as_of``, São Paulo dates) and merges them on ``ticket_id``: a
status that changed lands in place, and tickets that have left the window stay as they were
last seen. Extraction happens entirely inside one login session, which is closed before
anything is written, so the session is held as briefly as possible (the helpdesk allows one
per user) and a failed write can never leave it open.

Payloads vary in the wild: ``status`` is a string or ``{"id", "name"}``, ``ticket_number`` a
number or a string; the web reports show São Paulo wall-clock times without an offset while
the API answers UTC. Raw keeps the record as received plus typed key columns; staging speaks
the platform's vocabulary (the same column names and common statuses as Octadesk's).
"""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    Config,
    MetadataValue,
    Output,
    asset,
    multi_asset,
)
from pydantic import Field

from support_assets.core.constants import OWNERS, WAREHOUSE
from support_assets.core.quarantine import quarantine_key, quarantine_output, raw_outs
from support_assets.core.records import (
    COMMON_STATUSES,
    InvalidRecord,
    quarantine_row,
    to_json,
)
from support_assets.core.tickets import TICKET_STATUS_MAP
from support_assets.io_managers.base import TableStream
from support_assets.sources.helpdesk_web.client import (
    HelpdeskWebResource,
    local_date,
    parse_helpdesk_time,
)

GROUP = "helpdesk_web"
SOURCE = "helpdesk_web"

RAW_TICKETS = AssetKey(["raw", "helpdesk_web_tickets"])
RAW_QUARANTINE = quarantine_key(RAW_TICKETS)
STAGING_TICKETS = AssetKey(["staging", "helpdesk_web_tickets"])
WINDOW_DAYS = 180

# Source statuses (lower-cased) to the common set; the shared helpdesk names mean the same here.
TICKET_STATUS_MAP_WEB = {
    **TICKET_STATUS_MAP,
    "aberto": "open",
    "open": "open",
    "opened": "open",
    "em progresso": "in_progress",
    "in progress": "in_progress",
    "em atendimento": "in_progress",
    "aguardando cliente": "pending",
    "aguardando": "pending",
    "pending": "pending",
    "waiting": "pending",
    "resolved": "solved",
    "solved": "solved",
    "fechado": "solved",
    "closed": "solved",
    "concluído": "solved",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "rejected": "rejected",
}
assert set(TICKET_STATUS_MAP_WEB.values()) <= set(COMMON_STATUSES)

STAGING_COLUMNS = [
    "ticket_id",
    "ticket_number",
    "summary",
    "status",
    "status_common",
    "is_closed",
    "priority",
    "group_name",
    "stage",
    "channel",
    "client_id",
    "client_name",
    "agent_id",
    "agent_name",
    "agent_email",
    "created_at",
    "updated_at",
]


class HelpdeskWebSyncConfig(Config):
    """Which window to read: ``window_days`` of opening dates ending at ``as_of``."""

    window_days: int = Field(default=WINDOW_DAYS, ge=1, description="Days back from as_of.")
    as_of: str | None = Field(
        default=None,
        description="ISO date or timestamp the window ends at (default: now). The schedule "
        "passes its tick time, so a late or re-run tick reads the same window.",
    )


def window_end(config: HelpdeskWebSyncConfig) -> datetime:
    if not config.as_of:
        return datetime.now(UTC)
    moment = datetime.fromisoformat(config.as_of.replace("Z", "+00:00"))
    if moment.tzinfo is None:  # a bare date or naive time is a São Paulo one
        moment = parse_helpdesk_time(moment.strftime("%Y-%m-%d %H:%M:%S"))
    return moment.astimezone(UTC)


def ticket_key(value: Any) -> str:
    """The ticket id: ``361837`` and ``"361837"`` are the same ticket."""
    if isinstance(value, bool) or value is None:
        raise InvalidRecord(f"ticket_number is missing or not usable: {value!r}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str) and value.strip():
        text = value.strip()
        return str(int(text)) if text.isdigit() else text
    raise InvalidRecord(f"ticket_number is missing or not usable: {value!r}")


def name_of(value: Any) -> str | None:
    """``"Aberto"`` or ``{"id": 1, "name": "Aberto"}`` → ``"Aberto"``."""
    if isinstance(value, dict):
        value = value.get("name")
    return None if value is None else str(value)


def common_status(status: str | None) -> str | None:
    return None if status is None else TICKET_STATUS_MAP_WEB.get(status.strip().lower())


def _time(record: dict[str, Any], name: str, required: bool) -> datetime | None:
    value = record.get(name)
    if value in (None, "") and not required:
        return None
    try:
        return parse_helpdesk_time(value)
    except ValueError as exc:
        raise InvalidRecord(f"{name}: {exc}") from None


def raw_row(record: Any, source: str) -> dict[str, Any]:
    """Key columns plus the record as received; `InvalidRecord` sends it to quarantine."""
    if not isinstance(record, dict):
        raise InvalidRecord("record is not a JSON object")
    is_closed = record.get("is_closed")
    return {
        "ticket_id": ticket_key(record.get("ticket_number")),
        "status": name_of(record.get("status")),
        "is_closed": is_closed if isinstance(is_closed, bool) else None,
        "created_at": _time(record, "created_at", required=True),
        "updated_at": _time(record, "updated_at", required=False),
        "source": source,
        "record": to_json(record),
    }


@multi_asset(
    name="helpdesk_web_raw_tickets",
    group_name=GROUP,
    outs=raw_outs(
        RAW_TICKETS,
        description=(
            "Web helpdesk tickets as received: ticket_id (the ticket number as text), "
            "status, is_closed, created_at/updated_at in UTC (the web reports' São Paulo "
            "times converted), which interface they came from (web_report or api_v2) and "
            "the full record as JSON. Every run re-reads the tickets opened in the last "
            "180 days and merges them on ticket_id; older tickets are kept as last seen."
        ),
        primary_key=["ticket_id"],
        source=SOURCE,
        owners=OWNERS,
        quarantine_description=(
            "Web helpdesk records that could not be loaded (no ticket number, a time in no "
            "known format), with the reason and the original payload; one row per payload."
        ),
        io_manager_key=WAREHOUSE,
    ),
    can_subset=False,
)
def helpdesk_web_raw_tickets(
    context: AssetExecutionContext,
    config: HelpdeskWebSyncConfig,
    helpdesk_web: HelpdeskWebResource,
) -> Iterator[Output]:
    end_at = window_end(config)
    start, end = local_date(end_at - timedelta(days=config.window_days)), local_date(end_at)
    source = "web_report" if helpdesk_web.auth_mode == "otp" else "api_v2"
    context.log.info(
        "Web helpdesk (%s mode): tickets opened %s to %s", helpdesk_web.auth_mode, start, end
    )
    frames: list[pd.DataFrame] = []
    quarantine: list[dict[str, Any]] = []
    with helpdesk_web.session() as session:
        for page in session.ticket_pages(start, end):
            rows = []
            for record in page:
                try:
                    rows.append(raw_row(record, source))
                except InvalidRecord as exc:
                    number = record.get("ticket_number") if isinstance(record, dict) else None
                    quarantine.append(quarantine_row(f"{SOURCE}/tickets", str(exc), record, number))
            if rows:
                frames.append(pd.DataFrame(rows))
    report = session.report
    context.log.info(
        "Web helpdesk: %d tickets in %d pages; logged out: %s",
        report.records - report.outside_window,
        report.pages,
        report.logged_out if helpdesk_web.auth_mode == "otp" else "n/a (token)",
    )
    metadata: dict[str, Any] = {
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
        "as_of": end_at.isoformat(),
        **report.as_metadata(),
        "quarantined": len(quarantine),
        "http_requests": MetadataValue.json(report.http),
    }
    yield Output(TableStream(frames, metadata), output_name="records")
    yield quarantine_output(context, quarantine, "Web helpdesk")


def _int_id(value: Any) -> int | None:
    """A numeric id sent as a number or as a string of digits (tenants do both)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    return int(text) if text.isdigit() else None


def build_staging_tickets(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per ticket in the platform's vocabulary, times in UTC."""
    rows = []
    for raw_row_ in raw.itertuples(index=False):
        ticket = json.loads(raw_row_.record)
        status = name_of(ticket.get("status"))
        agent = ticket.get("responsible") or {}
        client = ticket.get("client") or {}
        desk = ticket.get("desk") or {}
        ticket_id = str(raw_row_.ticket_id)
        is_closed = ticket.get("is_closed")
        rows.append(
            {
                "ticket_id": ticket_id,
                "ticket_number": int(ticket_id) if ticket_id.isdigit() else None,
                "summary": ticket.get("title"),
                "status": status,
                "status_common": common_status(status),
                "is_closed": is_closed if isinstance(is_closed, bool) else None,
                "priority": name_of(ticket.get("priority")),
                "group_name": desk.get("name") if isinstance(desk, dict) else name_of(desk),
                "stage": name_of(ticket.get("stage")),
                "channel": ticket.get("created_by_way_of"),
                "client_id": _int_id(client.get("id")) if isinstance(client, dict) else None,
                "client_name": name_of(client),
                "agent_id": _int_id(agent.get("id")) if isinstance(agent, dict) else None,
                "agent_name": name_of(agent),
                "agent_email": agent.get("email") if isinstance(agent, dict) else None,
                "created_at": parse_helpdesk_time(ticket["created_at"]),
                "updated_at": (
                    parse_helpdesk_time(ticket["updated_at"]) if ticket.get("updated_at") else None
                ),
            }
        )
    frame = pd.DataFrame(rows, columns=STAGING_COLUMNS)
    frame = frame.astype(
        {
            "ticket_number": "Int64",
            "client_id": "Int64",
            "agent_id": "Int64",
            "is_closed": "boolean",
        }
    )
    for column in ("created_at", "updated_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame.sort_values("ticket_id", ignore_index=True)


@asset(
    key=STAGING_TICKETS,
    group_name=GROUP,
    io_manager_key=WAREHOUSE,
    ins={"raw_tickets": AssetIn(RAW_TICKETS)},
    metadata={"write_mode": "replace", "primary_key": ["ticket_id"]},
    owners=OWNERS,
    kinds={"duckdb", "pandas"},
    tags={"layer": "staging", "source": SOURCE},
    description=(
        "One row per web helpdesk ticket in the platform's vocabulary: ticket_id and "
        "ticket_number, summary, source status and common status (open, pending, in_progress, "
        "solved, rejected, cancelled, shared with Octadesk), is_closed, priority, group_name "
        "(desk), stage, channel, client, agent, created_at and updated_at in UTC (the source's "
        "São Paulo times converted)."
    ),
)
def staging_helpdesk_web_tickets(raw_tickets: pd.DataFrame) -> pd.DataFrame:
    return build_staging_tickets(raw_tickets)
