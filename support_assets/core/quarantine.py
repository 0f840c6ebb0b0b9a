"""The quarantine table beside a raw table: its asset output and what a run yields into it.

A raw multi-asset has two outputs: the records it could load (merged on their key) and the
records it could not, each with the reason and the payload as received, merged on the payload's
fingerprint so the same bad record quarantined twice stays one row.
"""

from collections.abc import Sequence
from typing import Any

from dagster import AssetExecutionContext, AssetKey, AssetOut, Output

from support_assets.core.records import QUARANTINE_METADATA, quarantine_frame


def quarantine_key(raw: AssetKey) -> AssetKey:
    """``raw/<table>`` -> ``raw/<table>_quarantine``."""
    return AssetKey([*raw.path[:-1], f"{raw.path[-1]}_quarantine"])


def raw_outs(
    key: AssetKey,
    *,
    description: str,
    primary_key: Sequence[str],
    source: str,
    owners: Sequence[str],
    quarantine_description: str,
    io_manager_key: str = "warehouse_io_manager",
) -> dict[str, AssetOut]:
    """The ``records`` output (merged on ``primary_key``) and its optional ``quarantine``."""
    tags = {"layer": "raw", "source": source}
    return {
        "records": AssetOut(
            key=key,
            io_manager_key=io_manager_key,
            description=description,
            metadata={"write_mode": "merge", "primary_key": list(primary_key)},
            owners=list(owners),
            kinds={"duckdb", "python"},
            tags=tags,
        ),
        "quarantine": AssetOut(
            key=quarantine_key(key),
            io_manager_key=io_manager_key,
            description=quarantine_description,
            metadata=QUARANTINE_METADATA,
            owners=list(owners),
            kinds={"duckdb"},
            tags=tags,
            is_required=False,
        ),
    }


def quarantine_output(
    context: AssetExecutionContext, rows: list[dict[str, Any]], what: str
) -> Output:
    """The ``quarantine`` output of a run (empty too, so zero is recorded); warns when not."""
    if rows:
        context.log.warning("%s: %d record(s) quarantined", what, len(rows))
    return Output(
        quarantine_frame(rows),
        output_name="quarantine",
        metadata={"quarantined": len(rows)},
    )
