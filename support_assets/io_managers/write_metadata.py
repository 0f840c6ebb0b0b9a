"""Metadata every write reports: the table's schema, a Markdown preview of its first rows, and
values made fit for Dagster metadata."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from dagster import (
    MetadataValue,
    TableColumn,
    TableSchema,
)

PREVIEW_ROWS = 5
_PREVIEW_CELL_CHARS = 60


def schema_from_dataframe(df: pd.DataFrame | pa.Table) -> TableSchema:
    """Column schema of a DataFrame (pandas dtypes) or an Arrow table (Arrow types)."""
    if isinstance(df, pa.Table):
        return schema_from_columns((f.name, str(f.type)) for f in df.schema)
    return schema_from_columns((str(c), str(t)) for c, t in df.dtypes.items())


def schema_from_columns(columns: Iterable[tuple[str, str]] | Mapping[str, str]) -> TableSchema:
    """Column schema from ``(name, type)`` pairs as a store describes its table."""
    items = columns.items() if isinstance(columns, Mapping) else columns
    return TableSchema(columns=[TableColumn(name=str(n), type=str(t)) for n, t in items])


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    text = value.isoformat() if isinstance(value, dt.datetime | dt.date) else str(value)
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")
    if len(text) > _PREVIEW_CELL_CHARS:
        text = text[: _PREVIEW_CELL_CHARS - 1] + "…"
    return text


def markdown_preview(data: pd.DataFrame | pa.Table, rows: int = PREVIEW_ROWS) -> str:
    """A Markdown table of the first ``rows`` rows (cells escaped and truncated)."""
    table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
    names = table.column_names
    if not names:
        return "*(no columns)*"
    head = table.slice(0, rows).to_pylist()
    lines = [
        "| " + " | ".join(_cell(n) for n in names) + " |",
        "| " + " | ".join("---" for _ in names) + " |",
    ]
    lines += ["| " + " | ".join(_cell(r[n]) for n in names) + " |" for r in head]
    if not head:
        lines.append("| " + " | ".join("" for _ in names) + " |")
    return "\n".join(lines)


def to_metadata_value(value: Any) -> Any:
    """Make a stream's metadata value acceptable to Dagster (timestamps, dates, numpy scalars)."""
    if isinstance(value, MetadataValue | TableSchema):
        return value
    if isinstance(value, pd.Timestamp | dt.datetime):
        stamp = pd.Timestamp(value)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
        return MetadataValue.timestamp(stamp.to_pydatetime())
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    return str(value)
