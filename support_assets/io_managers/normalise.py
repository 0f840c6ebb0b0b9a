"""Normalising a chunk of output into a stable Arrow table: UTC timestamps, list columns for
lists of scalars, JSON text for other nested objects, audit columns, the partition checked,
in-chunk dedupe; and Arrow back to pandas for ``load_input``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from support_assets.io_managers.base import (
    AUDIT_COLUMNS,
    LOADED_AT,
    RUN_ID,
    UTC_TIMESTAMP,
    Partition,
    WriteSpec,
)

logger = logging.getLogger(__name__)


def add_audit_columns(
    df: pd.DataFrame | pa.Table, run_id: str, loaded_at: dt.datetime | pd.Timestamp
) -> pd.DataFrame | pa.Table:
    """Return ``df`` with ``_loaded_at`` (UTC timestamp) and ``_run_id`` set on every row.

    Existing audit columns are overwritten: they describe this load, not an earlier one.
    """
    stamp = pd.Timestamp(loaded_at)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    if isinstance(df, pa.Table):
        for name in AUDIT_COLUMNS:
            if name in df.column_names:
                df = df.drop_columns([name])
        n = df.num_rows
        df = df.append_column(
            pa.field(LOADED_AT, UTC_TIMESTAMP),
            pa.array([stamp.to_pydatetime()] * n, type=UTC_TIMESTAMP),
        )
        return df.append_column(pa.field(RUN_ID, pa.string()), pa.array([run_id] * n, pa.string()))
    out = df.copy()
    out[LOADED_AT] = pd.Series([stamp] * len(out), index=out.index, dtype="datetime64[us, UTC]")
    out[RUN_ID] = pd.Series([run_id] * len(out), index=out.index, dtype=object)
    return out


def _is_nested(value: Any) -> bool:
    return isinstance(value, dict | list | tuple | set | np.ndarray)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray | set | frozenset):
        return list(value.tolist() if isinstance(value, np.ndarray) else value)
    if isinstance(value, dt.datetime | dt.date | dt.time | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def to_json_text(value: Any) -> str | None:
    """Serialise a nested value as JSON text (UTF-8 kept, not escaped); ``None`` stays null."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.ndarray):
        value = value.tolist()
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def _is_list(value: Any) -> bool:
    return isinstance(value, list | tuple | set | np.ndarray)


def _scalar_lists(values: Any) -> list[Any] | None:
    """``values`` as Python lists when every non-null value is a list of scalars (no dicts,
    no nested lists), else ``None``."""
    out: list[Any] = []
    for value in values:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            out.append(None)
            continue
        if not _is_list(value):
            return None
        items = value.tolist() if isinstance(value, np.ndarray) else list(value)
        if isinstance(value, set | frozenset):
            items = sorted(items, key=repr)
        if any(_is_nested(item) for item in items):
            return None
        out.append(items)
    return out


def _series_to_arrow(series: pd.Series) -> pa.Array:
    """Convert one pandas column to Arrow with the storage conventions.

    Lists of scalars become list columns (DuckDB LIST, BigQuery REPEATED, Parquet lists);
    other nested Python objects (dicts, lists of dicts, lists of lists) become JSON text, and so
    do lists whose items Arrow cannot give one type; object columns Arrow cannot type (mixed
    types) become text, with a warning.
    """
    if series.dtype == object:
        # Arrow types most columns on its own at C speed; a primitive type means no value is
        # nested, so the per-value checks below are only for what it typed nested or refused.
        try:
            array = pa.array(series, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
            array = None
        if array is not None and not pa.types.is_nested(array.type):
            return array
        values = series.array
        if any(_is_nested(v) for v in values):
            lists = _scalar_lists(values)
            if lists is not None:
                try:
                    return pa.array(lists)
                except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
                    logger.warning("column %r has lists of mixed types; storing JSON", series.name)
            return pa.array([to_json_text(v) for v in values], type=pa.string())
        try:
            return pa.array(series, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
            logger.warning("column %r mixes types; storing it as text", series.name)
            return pa.array(
                [None if pd.isna(v) else str(v) for v in values],
                type=pa.string(),
            )
    return pa.array(series, from_pandas=True)


def is_untyped(typ: pa.DataType) -> bool:
    """Arrow's ``null``, or a list of it (only empty lists seen): no type to create yet."""
    return pa.types.is_null(typ) or (pa.types.is_list(typ) and pa.types.is_null(typ.value_type))


def is_scalar_list(typ: pa.DataType) -> bool:
    """A list (or large list) of a non-nested type: stored as a list column."""
    return (pa.types.is_list(typ) or pa.types.is_large_list(typ)) and not pa.types.is_nested(
        typ.value_type
    )


#: Stored column types that hold text, as each backend names them (DuckDB, BigQuery, Arrow).
_TEXT_TYPES = {"varchar", "string", "text"}


def lists_as_json_where_text(data: pa.Table, stored: Mapping[str, str]) -> pa.Table:
    """``data`` with its list columns turned into JSON text where ``stored`` (lower-cased name
    -> stored type) keeps that column as text."""
    for index, f in enumerate(data.schema):
        if not pa.types.is_nested(f.type):
            continue
        if stored.get(f.name.lower(), "").lower() not in _TEXT_TYPES:
            continue
        text = pa.array([to_json_text(v) for v in data.column(index).to_pylist()], pa.string())
        data = data.set_column(index, pa.field(f.name, pa.string()), text)
    return data


def _normalise_array(array: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Give a column its stable storage type: UTC microsecond timestamps, plain strings.

    A non-empty all-null column keeps the Arrow ``null`` type, so stores can wait for real
    values before choosing the column's type.
    """
    typ = array.type
    if pa.types.is_dictionary(typ):
        array = array.cast(typ.value_type)
        typ = array.type
    if pa.types.is_timestamp(typ):
        if typ.tz is None:
            # Naive timestamps are taken as UTC: localise source-zone values in the asset.
            array = pc.assume_timezone(array.cast(pa.timestamp(typ.unit)), "UTC")
        return array.cast(UTC_TIMESTAMP, safe=False)
    if pa.types.is_null(typ) and len(array) == 0:
        # An empty column declares no type; text is the least surprising one to create.
        return array.cast(pa.string())
    if pa.types.is_large_string(typ) or pa.types.is_string_view(typ):
        return array.cast(pa.string())
    if is_scalar_list(typ) and not pa.types.is_null(typ.value_type):
        items = _normalise_array(pa.array([], typ.value_type))
        if items.type != typ.value_type or pa.types.is_large_list(typ):
            return array.cast(pa.list_(items.type))
    return array


def to_arrow(data: pd.DataFrame | pa.Table) -> pa.Table:
    """Normalise a chunk to an Arrow table with the storage conventions (index dropped)."""
    if isinstance(data, pd.DataFrame):
        names = [str(c) for c in data.columns]
        arrays = [_series_to_arrow(data.iloc[:, i]) for i in range(data.shape[1])]
    elif isinstance(data, pa.Table):
        names = list(data.column_names)
        arrays = list(data.columns)
    else:
        raise TypeError(f"expected a DataFrame or a pyarrow Table, got {type(data).__name__}")
    counts = Counter(n.lower() for n in names)
    dupes = sorted(n for n in names if counts[n.lower()] > 1)
    if dupes:
        raise ValueError(f"column names repeat (case-insensitively): {dupes}")
    if any(not n for n in names):
        raise ValueError("a column has an empty name")
    arrays = [_normalise_array(a) for a in arrays]
    if not arrays:
        return pa.table({})
    return pa.Table.from_arrays(arrays, names=names)


def _partition_values(table: pa.Table, column: str) -> pa.ChunkedArray:
    values = table.column(column)
    typ = values.type
    if pa.types.is_date32(typ):
        return values
    if pa.types.is_date64(typ) or pa.types.is_timestamp(typ):
        return values.cast(pa.date32())
    if pa.types.is_string(typ):
        try:
            return pc.strptime(values, format="%Y-%m-%d", unit="s").cast(pa.date32())
        except pa.ArrowInvalid:
            raise ValueError(
                f"partition column {column!r} has values that are not YYYY-MM-DD"
            ) from None
    raise ValueError(f"partition column {column!r} must hold dates; it holds {typ}")


def check_partition(table: pa.Table, partition: Partition, required: bool) -> pa.Table:
    """Cast the partition column to DATE and check every row belongs to the partition(s).

    Dates, ``YYYY-MM-DD`` strings and timestamps (their UTC date) are accepted.
    A row outside the partition would survive the next replace of that partition and become a
    duplicate, so it is an error rather than a silent write.
    """
    column = partition.column
    if column is None or column not in table.column_names:
        if required:
            raise ValueError(
                "a daily-partitioned asset must declare metadata partition_column and its "
                f"output must carry that DATE column; partition_column={column!r}, "
                f"output columns: {table.column_names}"
            )
        return table
    values = _partition_values(table, column)
    allowed = pa.array(list(partition.dates), type=pa.date32())
    outside = pc.invert(pc.fill_null(pc.is_in(values, value_set=allowed), False))
    bad = pc.sum(outside.cast(pa.int64())).as_py() or 0
    if bad:
        sample = pc.unique(pc.filter(values, outside)).to_pylist()[:5]
        raise ValueError(
            f"{bad} row(s) have {column} outside partition(s) {list(partition.keys)}: {sample}"
        )
    index = table.column_names.index(column)
    return table.set_column(index, pa.field(column, pa.date32()), values)


def dedupe(table: pa.Table, key: Sequence[str]) -> pa.Table:
    """Drop rows that repeat ``key`` within the chunk, keeping the last one (the newest)."""
    if not key or table.num_rows < 2:
        return table
    keys = table.select(list(key)).to_pandas()
    keep = ~keys.duplicated(keep="last").to_numpy()
    if keep.all():
        return table
    return table.filter(pa.array(keep))


def prepare_chunk(
    data: pd.DataFrame | pa.Table,
    spec: WriteSpec,
    partition: Partition | None,
    *,
    run_id: str,
    loaded_at: dt.datetime,
    require_partition_column: bool = True,
) -> tuple[pa.Table, int]:
    """Normalise one chunk for writing; return it and how many duplicate rows were dropped."""
    table = to_arrow(data)
    if table.num_columns == 0:
        return table, 0
    table = add_audit_columns(table, run_id, loaded_at)
    if partition is not None:
        table = check_partition(table, partition, required=require_partition_column)
    missing = [k for k in spec.primary_key if k not in table.column_names]
    if missing:
        raise ValueError(f"primary_key column(s) {missing} are not in the output")
    if spec.mode == "merge":
        nulls = {k: table.column(k).null_count for k in spec.primary_key}
        nulls = {k: n for k, n in nulls.items() if n}
        if nulls:
            raise ValueError(f"merge needs a non-null primary key; null counts: {nulls}")
    before = table.num_rows
    table = dedupe(table, spec.primary_key)
    return table, before - table.num_rows


def arrow_to_pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow -> pandas for ``load_input``: nullable integers/booleans, UTC timestamps kept."""
    mapping = {
        pa.int8(): pd.Int8Dtype(),
        pa.int16(): pd.Int16Dtype(),
        pa.int32(): pd.Int32Dtype(),
        pa.int64(): pd.Int64Dtype(),
        pa.uint8(): pd.UInt8Dtype(),
        pa.uint16(): pd.UInt16Dtype(),
        pa.uint32(): pd.UInt32Dtype(),
        pa.uint64(): pd.UInt64Dtype(),
        pa.bool_(): pd.BooleanDtype(),
    }
    df = table.to_pandas(types_mapper=mapping.get)
    for name, typ in zip(table.column_names, table.schema.types, strict=True):
        if pa.types.is_timestamp(typ) and typ.tz is not None:
            df[name] = df[name].dt.tz_convert("UTC")
    return df
