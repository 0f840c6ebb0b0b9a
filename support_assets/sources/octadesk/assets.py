"""Octadesk: tickets and chats, incremental on ``updatedAt``, merged on ``id``.

Raw tables keep the full source record as JSON beside a few typed key columns, so no field is
ever lost; staging tables flatten them into the platform's vocabulary. The extraction, the chat
enrichment and the staging builders live in their own modules; this one defines the assets
and keeps the status maps (``TICKET_STATUS_MAP``, ``CHAT_STATUS_MAP``) among its public names.
"""

from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import pyarrow as pa
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetsDefinition,
    MetadataValue,
    Output,
    asset,
    multi_asset,
)

from support_assets.core.constants import OWNERS, WAREHOUSE
from support_assets.core.quarantine import quarantine_output, raw_outs
from support_assets.core.tickets import TICKET_STATUS_MAP as TICKET_STATUS_MAP
from support_assets.io_managers.base import TableStream
from support_assets.sources.octadesk.client import Entity, OctadeskResource
from support_assets.sources.octadesk.enrichment import chat_enricher, without_missing_enrichment
from support_assets.sources.octadesk.extraction import (
    IncrementalExtraction,
    OctadeskSyncConfig,
    sync_window,
)
from support_assets.sources.octadesk.raw_rows import chat_row, ticket_row
from support_assets.sources.octadesk.staging_chats import CHAT_STATUS_MAP as CHAT_STATUS_MAP
from support_assets.sources.octadesk.staging_chats import build_staging_chats
from support_assets.sources.octadesk.staging_tickets import build_staging_tickets

GROUP = "octadesk"

RAW_TICKETS = AssetKey(["raw", "octadesk_tickets"])
RAW_CHATS = AssetKey(["raw", "octadesk_chats"])
STAGING_TICKETS = AssetKey(["staging", "octadesk_tickets"])
STAGING_CHATS = AssetKey(["staging", "octadesk_chats"])

QUARANTINE_DESCRIPTION = (
    "Records the source sent that could not be loaded, with the reason and the "
    "original payload; one row per distinct payload."
)

Enricher = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


def _run_extraction(
    context: AssetExecutionContext, extraction: IncrementalExtraction
) -> Iterator[Output]:
    def frames() -> Iterator[pd.DataFrame | pa.Table]:
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
        client = extraction.octadesk.get_client()
        stream.metadata["http_requests"] = MetadataValue.json(client.stats.as_dict())
        stream.metadata["rate_limit_per_second_at_end"] = client.current_rate or 0.0

    stream = TableStream(frames())
    context.log.info(
        "Octadesk %s: fetching %s",
        extraction.entity,
        f"changes since {extraction.since.isoformat()}" if extraction.since else "everything",
    )
    yield Output(stream, output_name="records")
    yield quarantine_output(context, extraction.quarantine, f"Octadesk {extraction.entity}")


def _raw_asset(
    name: str,
    key: AssetKey,
    entity: Entity,
    to_row: Callable[[dict[str, Any]], dict[str, Any]],
    description: str,
    enricher: Callable[[OctadeskResource], Enricher] | None = None,
) -> AssetsDefinition:
    """The raw multi-asset of one entity: its records and their quarantine."""

    @multi_asset(
        name=name,
        group_name=GROUP,
        outs=raw_outs(
            key,
            description=description,
            primary_key=["id"],
            source="octadesk",
            owners=OWNERS,
            quarantine_description=QUARANTINE_DESCRIPTION,
            io_manager_key=WAREHOUSE,
        ),
        can_subset=False,
    )
    def raw_entity(
        context: AssetExecutionContext, config: OctadeskSyncConfig, octadesk: OctadeskResource
    ) -> Iterator[Output]:
        since, previous = sync_window(context, config, key)
        enrich = enricher(octadesk) if enricher is not None else None
        extraction = IncrementalExtraction(octadesk, entity, to_row, since, previous, enrich=enrich)
        yield from _run_extraction(context, extraction)

    return raw_entity


octadesk_raw_tickets = _raw_asset(
    "octadesk_raw_tickets",
    RAW_TICKETS,
    "tickets",
    ticket_row,
    "Octadesk tickets as received: key columns plus the full record as JSON. Incremental on "
    "updatedAt with a lookback window; merged on id. The high-water mark reached is in the "
    "materialization metadata.",
)

octadesk_raw_chats = _raw_asset(
    "octadesk_raw_chats",
    RAW_CHATS,
    "chat",
    chat_row,
    "Octadesk chats as received, each with its events and messages as JSON. Incremental on "
    "updatedAt with a lookback window; merged on id. When a chat's events or messages "
    "answer 404, what an earlier run captured is kept and enrichment says not_found.",
    enricher=chat_enricher,
)


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
