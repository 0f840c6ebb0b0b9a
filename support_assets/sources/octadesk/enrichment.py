"""Chat enrichment: each chat's events and messages, fetched beside the listing.

A chat whose events or messages answer 404 is marked ``not_found`` rather than written with
none, so the merge keeps what an earlier run captured for it.
"""

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd
import pyarrow as pa

from support_assets.core.http_errors import HttpError
from support_assets.core.records import to_json
from support_assets.sources.octadesk.client import OctadeskResource

ENRICHMENT_OK = "ok"
ENRICHMENT_NOT_FOUND = "not_found"
ENRICHED_COLUMNS = ["events", "messages"]


def without_missing_enrichment(
    frame: pd.DataFrame | pa.Table,
) -> Iterator[pd.DataFrame | pa.Table]:
    """Chats whose events or messages answered 404 go in a chunk of their own without those
    columns, so the merge keeps what an earlier run captured for them instead of writing [];
    their ``enrichment`` column says ``not_found``. Other chunks pass as they are."""
    if isinstance(frame, pa.Table) or "enrichment" not in frame.columns:
        yield frame
        return
    missing = frame["enrichment"] == ENRICHMENT_NOT_FOUND
    if (~missing).any():
        yield frame[~missing].reset_index(drop=True)
    if missing.any():
        kept = frame[missing].drop(columns=[c for c in ENRICHED_COLUMNS if c in frame.columns])
        yield kept.reset_index(drop=True)


def chat_enricher(
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
