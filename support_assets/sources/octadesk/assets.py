"""Octadesk: tickets and chats, incremental on ``updatedAt``, merged on ``id``.

Raw tables keep the full source record as JSON beside a few typed key columns, so no field is
ever lost; staging tables flatten them into the platform's vocabulary.
"""

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetOut,
    Config,
    MetadataValue,
    Output,
    asset,
    multi_asset,
)
from pydantic import Field

from support_assets.core.http_errors import HttpError
from support_assets.core.records import (
    QUARANTINE_METADATA,
    InvalidRecord,
    cap_high_water_mark,
    last_high_water_mark,
    parse_iso_utc,
    parse_optional_iso_utc,
    quarantine_frame,
    quarantine_row,
    to_json,
)
from support_assets.core.shapes import reconcile_total
from support_assets.io_managers.base import TableStream
from support_assets.sources.octadesk.client import Entity, ListingReport, OctadeskResource

logger = logging.getLogger(__name__)

GROUP = "octadesk"
OWNERS = ["team:data-platform"]
WAREHOUSE = "warehouse_io_manager"

RAW_TICKETS = AssetKey(["raw", "octadesk_tickets"])
RAW_CHATS = AssetKey(["raw", "octadesk_chats"])
STAGING_TICKETS = AssetKey(["staging", "octadesk_tickets"])
STAGING_CHATS = AssetKey(["staging", "octadesk_chats"])

# Octadesk ticket statuses (as the API names them, lower-cased) to the common status set.
TICKET_STATUS_MAP = {
    "novo": "open",
    "pendente": "pending",
    "andamento": "in_progress",
    "em andamento": "in_progress",
    "resolvido": "solved",
    "rejeitado": "rejected",
    "cancelado": "cancelled",
}
CHAT_STATUS_MAP = {
    "waiting": "open",
    "started": "open",
    "talking": "in_progress",
    "offline": "pending",
    "closed": "solved",
    "missed": "cancelled",
    "hidden": "cancelled",
}
MAX_CATCH_UP_PASSES = 5
# Pages are written in chunks of about this many rows: one warehouse transaction per 100-row
# page costs more than the page itself (bench/: 1.5k rows/s per page vs 25k rows/s per 5k rows),
# while 5,000 rows of raw JSON stay a few MB, so memory stays flat.
CHUNK_ROWS = 5_000


class OctadeskSyncConfig(Config):
    """How much to fetch: changes since the last high-water mark, or everything."""

    full_refresh: bool = Field(
        default=False, description="Ignore the high-water mark and read every record."
    )
    lookback_minutes: int = Field(
        default=10,
        ge=0,
        description="Re-read this far behind the high-water mark, for late or skewed updates.",
    )


@dataclass
class IncrementalExtraction:
    """Streams one entity's changed records as DataFrame chunks and keeps score while it does.

    After the listing, it asks again for anything newer than the newest record it saw at the
    start (changes made while it was paging), until nothing new comes back. Invalid records are
    collected for quarantine instead of failing the batch. A listing read to the end is
    reconciled with the total the server reported; a shortfall larger than what changed during
    the run fails it.
    """

    octadesk: OctadeskResource
    entity: Entity
    to_row: Callable[[dict[str, Any]], dict[str, Any]]
    since: datetime | None
    previous_hwm: datetime | None
    enrich: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    records_fetched: int = 0
    pages: int = 0
    catch_up_passes: int = 0
    high_water_mark: datetime | None = None
    listing: ListingReport = field(default_factory=ListingReport)
    catch_up: list[ListingReport] = field(default_factory=list)
    reconciliation: dict[str, Any] = field(default_factory=dict)

    def _frame(self, records: list[dict[str, Any]]) -> pd.DataFrame:
        rows: list[dict[str, Any]] = []
        self.records_fetched += len(records)
        self.pages += 1
        for record in records:
            try:
                row = self.to_row(record)
            except InvalidRecord as exc:
                record_id = record.get("id") if isinstance(record, dict) else None
                self.quarantine.append(
                    quarantine_row(f"octadesk/{self.entity}", str(exc), record, record_id)
                )
                continue
            rows.append(row)
            updated = row["updated_at"]
            if self.high_water_mark is None or updated > self.high_water_mark:
                self.high_water_mark = updated
        if self.enrich is not None and rows:
            rows = self.enrich(rows)
        return pd.DataFrame(rows)

    def frames(self) -> Iterator[pd.DataFrame]:
        yield from self._listing(self.since, "ge", self.listing)
        newest_at_start = self.high_water_mark
        while newest_at_start is not None and self.catch_up_passes < MAX_CATCH_UP_PASSES:
            self.catch_up_passes += 1
            before = self.records_fetched
            report = ListingReport()
            self.catch_up.append(report)
            yield from self._listing(newest_at_start, "gt", report)
            if self.records_fetched == before or self.high_water_mark == newest_at_start:
                break
            newest_at_start = self.high_water_mark
        self.reconciliation = self._reconcile()

    def _listing(
        self, since: datetime | None, operator: str, report: ListingReport
    ) -> Iterator[pd.DataFrame]:
        buffered: list[pd.DataFrame] = []
        rows = 0
        pages = self.octadesk.iter_changed(self.entity, since, operator=operator, report=report)
        for page in pages:
            frame = self._frame(page)
            if frame.empty:
                continue
            buffered.append(frame)
            rows += len(frame)
            if rows >= CHUNK_ROWS:
                yield pd.concat(buffered, ignore_index=True)
                buffered, rows = [], 0
        if buffered:
            yield pd.concat(buffered, ignore_index=True)

    def _reconcile(self) -> dict[str, Any]:
        """The listing's distinct records against the server's total, when they compare."""
        listing = self.listing
        distinct = listing.distinct()
        if not listing.read_to_the_end:
            return {
                "total_reported": listing.reported_total
                if listing.reported_total is not None
                else "not reported",
                "distinct_fetched": distinct,
                "reconciliation": "not comparable: the server ignored the filter and the "
                "listing stopped at the cursor",
            }
        changed = sum(report.kept for report in self.catch_up)
        result = reconcile_total(
            f"Octadesk {self.entity}", listing.reported_total, distinct, changed
        )
        compared = listing.reported_total is not None
        return {**result, "reconciliation": "compared" if compared else "no total reported"}

    def metadata(self) -> dict[str, Any]:
        hwm = self.high_water_mark or self.previous_hwm
        if hwm is not None and self.previous_hwm is not None:
            hwm = max(hwm, self.previous_hwm)
        hwm = cap_high_water_mark(hwm, f"octadesk {self.entity}")
        sort_honoured = self.listing.sort_honoured and all(r.sort_honoured for r in self.catch_up)
        return {
            "high_water_mark": hwm.isoformat() if hwm else "",
            "fetched_since": self.since.isoformat() if self.since else "everything",
            "records_fetched": self.records_fetched,
            "pages_fetched": self.pages,
            "pages_requested": self.listing.pages + sum(r.pages for r in self.catch_up),
            "catch_up_passes": self.catch_up_passes,
            "quarantined": len(self.quarantine),
            "server_filter_honoured": self.listing.filter_honoured
            and all(r.filter_honoured for r in self.catch_up),
            "server_sort_honoured": sort_honoured,
            "listing": "stopped at the cursor"
            if self.listing.stopped_at_cursor
            else "read to the end"
            + ("" if sort_honoured else " (the server did not sort by updatedAt)"),
            **self.reconciliation,
        }


def _ticket_row(record: dict[str, Any]) -> dict[str, Any]:
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


def _chat_row(record: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise InvalidRecord("record is not a JSON object")
    chat_id = record.get("id")
    if not isinstance(chat_id, str) or not chat_id:
        raise InvalidRecord("id is missing")
    return {
        "id": chat_id,
        "number": _ticket_number(record.get("number")),
        "status": record.get("status"),
        "channel": record.get("channel"),
        "created_at": parse_iso_utc(record.get("createdAt"), "createdAt"),
        "updated_at": parse_iso_utc(record.get("updatedAt"), "updatedAt"),
        "record": to_json(record),
    }


def _since(
    context: AssetExecutionContext, config: OctadeskSyncConfig, key: AssetKey
) -> tuple[datetime | None, datetime | None]:
    previous = last_high_water_mark(context.instance, key)
    if config.full_refresh or previous is None:
        return None, previous
    return previous - timedelta(minutes=config.lookback_minutes), previous


def _raw_outs(key: AssetKey, description: str) -> dict[str, AssetOut]:
    return {
        "records": AssetOut(
            key=key,
            io_manager_key=WAREHOUSE,
            description=description,
            metadata={"write_mode": "merge", "primary_key": ["id"]},
            owners=OWNERS,
            kinds={"duckdb", "python"},
            tags={"layer": "raw", "source": "octadesk"},
        ),
        "quarantine": AssetOut(
            key=AssetKey([*key.path[:-1], f"{key.path[-1]}_quarantine"]),
            io_manager_key=WAREHOUSE,
            description=(
                "Records the source sent that could not be loaded, with the reason and the "
                "original payload; one row per distinct payload."
            ),
            metadata=QUARANTINE_METADATA,
            owners=OWNERS,
            kinds={"duckdb"},
            tags={"layer": "raw", "source": "octadesk"},
            is_required=False,
        ),
    }


ENRICHMENT_OK = "ok"
ENRICHMENT_NOT_FOUND = "not_found"
ENRICHED_COLUMNS = ["events", "messages"]


def without_missing_enrichment(frame: pd.DataFrame) -> Iterator[pd.DataFrame]:
    """Chats whose events or messages answered 404 go in a chunk of their own without those
    columns, so the merge keeps what an earlier run captured for them instead of writing [];
    their ``enrichment`` column says ``not_found``."""
    if "enrichment" not in frame.columns:
        yield frame
        return
    missing = frame["enrichment"] == ENRICHMENT_NOT_FOUND
    if (~missing).any():
        yield frame[~missing].reset_index(drop=True)
    if missing.any():
        kept = frame[missing].drop(columns=[c for c in ENRICHED_COLUMNS if c in frame.columns])
        yield kept.reset_index(drop=True)


def _run_extraction(
    context: AssetExecutionContext, extraction: IncrementalExtraction
) -> Iterator[Output]:
    def frames() -> Iterator[pd.DataFrame]:
        for frame in extraction.frames():
            yield from without_missing_enrichment(frame)
        metadata = extraction.metadata()
        if not metadata["server_sort_honoured"]:
            context.log.warning(
                "Octadesk %s: the server did not sort by updatedAt descending as asked, so every "
                "page was read and filtered here (complete, but slower)",
                extraction.entity,
            )
        stream.metadata.update(metadata)
        stream.metadata["http_requests"] = MetadataValue.json(
            extraction.octadesk.get_client().stats.as_dict()
        )

    stream = TableStream(frames())
    context.log.info(
        "Octadesk %s: fetching %s",
        extraction.entity,
        f"changes since {extraction.since.isoformat()}" if extraction.since else "everything",
    )
    yield Output(stream, output_name="records")
    if extraction.quarantine:
        context.log.warning(
            "Octadesk %s: %d record(s) quarantined", extraction.entity, len(extraction.quarantine)
        )
    yield Output(
        quarantine_frame(extraction.quarantine),
        output_name="quarantine",
        metadata={"quarantined": len(extraction.quarantine)},
    )


@multi_asset(
    name="octadesk_raw_tickets",
    group_name=GROUP,
    outs=_raw_outs(
        RAW_TICKETS,
        "Octadesk tickets as received: key columns plus the full record as JSON. Incremental on "
        "updatedAt with a lookback window; merged on id. The high-water mark reached is in the "
        "materialization metadata.",
    ),
    can_subset=False,
)
def octadesk_raw_tickets(
    context: AssetExecutionContext, config: OctadeskSyncConfig, octadesk: OctadeskResource
) -> Iterator[Output]:
    since, previous = _since(context, config, RAW_TICKETS)
    extraction = IncrementalExtraction(octadesk, "tickets", _ticket_row, since, previous)
    yield from _run_extraction(context, extraction)


def _chat_enricher(
    octadesk: OctadeskResource,
) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
    """Adds each chat's events and messages (two calls a chat, run concurrently)."""

    def enrich_one(row: dict[str, Any]) -> dict[str, Any]:
        try:
            events = octadesk.chat_events(row["id"])
            messages = octadesk.chat_messages(row["id"])
        except HttpError as exc:
            if exc.status_code != 404:
                raise
            # Not "no events": what an earlier run captured stays (see without_missing_enrichment).
            return {**row, "enrichment": ENRICHMENT_NOT_FOUND}
        return {
            **row,
            "events": to_json(events),
            "messages": to_json(messages),
            "enrichment": ENRICHMENT_OK,
        }

    def enrich(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        with ThreadPoolExecutor(max_workers=max(1, octadesk.max_concurrency)) as pool:
            return list(pool.map(enrich_one, rows))

    return enrich


@multi_asset(
    name="octadesk_raw_chats",
    group_name=GROUP,
    outs=_raw_outs(
        RAW_CHATS,
        "Octadesk chats as received, each with its events and messages as JSON. Incremental on "
        "updatedAt with a lookback window; merged on id. When a chat's events or messages "
        "answer 404, what an earlier run captured is kept and enrichment says not_found.",
    ),
    can_subset=False,
)
def octadesk_raw_chats(
    context: AssetExecutionContext, config: OctadeskSyncConfig, octadesk: OctadeskResource
) -> Iterator[Output]:
    since, previous = _since(context, config, RAW_CHATS)
    extraction = IncrementalExtraction(
        octadesk, "chat", _chat_row, since, previous, enrich=_chat_enricher(octadesk)
    )
    yield from _run_extraction(context, extraction)


# Staging -------------------------------------------------------------------------------------


def _custom_field_column(key: Any) -> str:
    cleaned = "".join(c if c.isalnum() else "_" for c in str(key).strip().lower())
    return f"cf_{cleaned.strip('_') or 'unnamed'}"


def custom_field_columns(keys: Iterable[Any]) -> dict[str, str]:
    """The ``cf_<key>`` column of every custom-field key, none shared by two keys.

    Keys that normalise to the same column (``"CPF "`` and ``"cpf"``) would overwrite each
    other. The key already in normal form (``"cpf"``), else the smallest one, keeps
    ``cf_cpf``; every other gets ``cf_cpf__<first 6 hex of the SHA-1 of the key>``, the same
    for that key in every run. Collisions are logged with the keys (names, not values).
    """
    groups: dict[str, list[str]] = {}
    for key in sorted({str(k) for k in keys}):
        groups.setdefault(_custom_field_column(key), []).append(key)
    columns: dict[str, str] = {}
    for column, group in groups.items():
        normal = [k for k in group if f"cf_{k}" == column]
        keeper = normal[0] if normal else group[0]
        for key in group:
            suffix = hashlib.sha1(key.encode()).hexdigest()[:6]
            columns[key] = column if key == keeper else f"{column}__{suffix}"
        if len(group) > 1:
            logger.warning(
                "custom-field keys %s all normalise to %s: %r keeps it, the others get %s",
                group,
                column,
                keeper,
                sorted(columns[k] for k in group if k != keeper),
            )
    return columns


def _ticket_number(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def chat_ticket_number(chat: dict[str, Any], events: list[dict[str, Any]]) -> int | None:
    """The ticket a chat opened: its ``ticket`` event, else the contact's ticket custom field."""
    for event in events:
        if event.get("type") == "ticket":
            number = _ticket_number((event.get("data") or {}).get("ticketNumber"))
            if number is not None:
                return number
    for custom in (chat.get("contact") or {}).get("customFields") or []:
        if custom.get("key") == "n_mero_do_ticket":
            return _ticket_number(custom.get("value"))
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
        for key, _ in _chat_field_keys(json.loads(raw.record))
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
                "chat_number": _ticket_number(chat.get("number")),
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
                **_chat_custom_fields(chat, columns),
            }
        )
    custom_columns = sorted({c for row in rows for c in row if c.startswith("cf_")})
    frame = pd.DataFrame(rows, columns=[*_STAGING_CHAT_COLUMNS, *custom_columns])
    return frame.astype({"ticket_number": "Int64", "chat_number": "Int64"})


def _chat_field_keys(chat: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(key, value) of the chat's ``customFields`` (``key`` or ``name``, and ``value``)."""
    for custom in chat.get("customFields") or []:
        key = (custom.get("key") or custom.get("name")) if isinstance(custom, dict) else None
        if key:
            yield str(key), custom.get("value")


def _chat_custom_fields(chat: dict[str, Any], columns: dict[str, str]) -> dict[str, str | None]:
    """The chat's custom fields as ``cf_<key>`` text columns, as the tickets' are (``columns``
    from :func:`custom_field_columns`, so keys that normalise alike never overwrite)."""
    return {
        columns[key]: None if value is None else str(value) for key, value in _chat_field_keys(chat)
    }


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


@asset(
    key=STAGING_CHATS,
    group_name=GROUP,
    io_manager_key=WAREHOUSE,
    ins={"raw_chats": AssetIn(RAW_CHATS)},
    metadata={"write_mode": "replace", "primary_key": ["chat_id"]},
    owners=OWNERS,
    kinds={"duckdb", "pandas"},
    tags={"layer": "staging", "source": "octadesk"},
    description=(
        "One row per Octadesk chat: channel, agent, bot or human (handled_by; a chat counts as "
        "human once it was transferred or an agent wrote), timestamps in UTC, first-response and "
        "total durations in seconds, message count, the linked ticket number, the "
        "satisfaction score (1-5) and one cf_<key> column per chat custom field."
    ),
)
def staging_octadesk_chats(raw_chats: pd.DataFrame) -> pd.DataFrame:
    return build_staging_chats(raw_chats)


@asset(
    key=STAGING_TICKETS,
    group_name=GROUP,
    io_manager_key=WAREHOUSE,
    ins={"raw_tickets": AssetIn(RAW_TICKETS), "staging_chats": AssetIn(STAGING_CHATS)},
    metadata={"write_mode": "replace", "primary_key": ["ticket_id"]},
    owners=OWNERS,
    kinds={"duckdb", "pandas"},
    tags={"layer": "staging", "source": "octadesk"},
    description=(
        "One row per Octadesk ticket: ids, source status and common status (open, pending, "
        "in_progress, solved, rejected, cancelled), channel, requester, agent, timestamps in "
        "UTC, tags and the linked chat ids (list columns), satisfaction from the linked chats "
        "and one "
        "cf_<key> column per custom field."
    ),
)
def staging_octadesk_tickets(
    raw_tickets: pd.DataFrame, staging_chats: pd.DataFrame
) -> pd.DataFrame:
    return build_staging_tickets(raw_tickets, staging_chats)
