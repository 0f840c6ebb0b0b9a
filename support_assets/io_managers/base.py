"""Storage contract shared by every IO manager: what an asset asks for and how chunks are shaped.

Assets declare their storage semantics in definition metadata (``write_mode``, ``primary_key``,
``partition_column``); this module parses that declaration (:class:`WriteSpec`), normalises each
chunk of output into a stable Arrow table (UTC timestamps, list columns for lists of scalars, JSON
text for other nested objects, audit
columns, in-chunk dedupe) and builds the metadata every write reports. Backends only move those
normalised Arrow tables in and out of their store.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from dagster import (
    AssetKey,
    InputContext,
    MetadataValue,
    OutputContext,
    TableColumn,
    TableSchema,
)

logger = logging.getLogger(__name__)

WriteMode = Literal["append", "replace", "merge"]
WRITE_MODES: tuple[str, ...] = get_args(WriteMode)

LOADED_AT = "_loaded_at"
RUN_ID = "_run_id"
AUDIT_COLUMNS: tuple[str, ...] = (LOADED_AT, RUN_ID)

UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")
PREVIEW_ROWS = 5
_PREVIEW_CELL_CHARS = 60


# --------------------------------------------------------------------------------------------
# What an asset asks for
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WriteSpec:
    """Storage semantics an asset declares in its definition metadata.

    ``mode`` is how a write meets stored data, ``primary_key`` the merge key (rows with the same
    key are updated in place), ``partition_column`` the DATE column holding a daily partition.
    """

    mode: WriteMode = "append"
    primary_key: tuple[str, ...] = ()
    partition_column: str | None = None
    #: Why an empty ``replace`` is a legitimate answer for this asset (``allow_empty_replace``);
    #: without it, replacing stored rows with none fails (see ``EmptyReplaceRefused``).
    allow_empty_replace: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in WRITE_MODES:
            raise ValueError(
                f"write_mode must be one of {', '.join(WRITE_MODES)}; got {self.mode!r}"
            )
        if self.mode == "merge" and not self.primary_key:
            raise ValueError("write_mode 'merge' needs a primary_key (a list of column names)")
        if len(set(self.primary_key)) != len(self.primary_key):
            raise ValueError(f"primary_key has repeated columns: {list(self.primary_key)}")
        if self.allow_empty_replace is not None and not (
            isinstance(self.allow_empty_replace, str) and self.allow_empty_replace.strip()
        ):
            raise ValueError("allow_empty_replace must say why empty is legitimate (a string)")

    @classmethod
    def from_metadata(
        cls, metadata: Mapping[str, Any] | None, default_mode: WriteMode = "append"
    ) -> WriteSpec:
        """Parse ``write_mode``/``primary_key``/``partition_column`` from a metadata mapping."""
        metadata = metadata or {}
        mode = _raw(metadata.get("write_mode")) or default_mode
        if not isinstance(mode, str):
            raise ValueError(f"write_mode must be a string; got {mode!r}")
        key = _raw(metadata.get("primary_key")) or ()
        if isinstance(key, str):
            key = (key,)
        if not isinstance(key, list | tuple) or not all(isinstance(k, str) and k for k in key):
            raise ValueError(f"primary_key must be a list of column names; got {key!r}")
        partition_column = _raw(metadata.get("partition_column"))
        if partition_column is not None and not (
            isinstance(partition_column, str) and partition_column
        ):
            raise ValueError(f"partition_column must be a column name; got {partition_column!r}")
        return cls(
            mode=mode.strip().lower(),  # type: ignore[arg-type]
            primary_key=tuple(key),
            partition_column=partition_column,
            allow_empty_replace=_raw(metadata.get("allow_empty_replace")),
        )

    @classmethod
    def from_context(
        cls, context: OutputContext | InputContext, default_mode: WriteMode = "append"
    ) -> WriteSpec:
        """Read the spec from the asset's definition metadata.

        For an ``InputContext`` the upstream output's metadata is used: that is where the asset
        that produced the table declared how it is stored.
        """
        metadata: Mapping[str, Any] | None
        if isinstance(context, InputContext):
            upstream = context.upstream_output
            metadata = upstream.definition_metadata if upstream is not None else None
            if not metadata:
                metadata = context.definition_metadata
        else:
            metadata = context.definition_metadata
        try:
            return cls.from_metadata(metadata, default_mode=default_mode)
        except ValueError as exc:
            asset = context.asset_key.to_user_string() if context.has_asset_key else "output"
            raise ValueError(f"{asset}: invalid storage metadata: {exc}") from exc

    def merge_key(self, partitioned: bool) -> tuple[str, ...]:
        """Key a merge matches on: the primary key, plus the partition column when partitioned.

        A merge into a daily partition only touches that partition, as in the lake where each
        partition is its own folder.
        """
        column = self.partition_column
        if partitioned and column and column not in self.primary_key:
            return (*self.primary_key, column)
        return self.primary_key


class EmptyReplaceRefused(RuntimeError):
    """A ``replace`` of zero rows into a table (or partition) that holds rows.

    An empty answer is more often a source that changed shape or a filter gone wrong than a
    truly empty world, so the stored rows are kept and the run fails, unless the asset declares
    in its definition metadata why empty is legitimate (``allow_empty_replace``).
    """


def refuse_empty_replace(spec: WriteSpec, table: str, stored_rows: int) -> None:
    """Raise ``EmptyReplaceRefused`` unless the asset allows an empty replace."""
    if stored_rows and spec.allow_empty_replace is None:
        raise EmptyReplaceRefused(
            f"{table}: refusing to replace {stored_rows} stored row(s) with none. An empty "
            "answer is suspicious (a source in an unexpected shape, a filter gone wrong); the "
            "stored rows are kept. If empty is a legitimate answer for this asset, declare why "
            "in its definition metadata: allow_empty_replace='<reason>'."
        )


def _raw(value: Any) -> Any:
    """Unwrap a ``MetadataValue`` (Dagster may hand normalised values back)."""
    return value.value if isinstance(value, MetadataValue) else value


@dataclass(frozen=True)
class Partition:
    """The daily partition(s) a write or read targets: ``column IN dates``."""

    column: str | None
    dates: tuple[dt.date, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(d.isoformat() for d in self.dates)


def partition_from_context(
    context: OutputContext | InputContext, spec: WriteSpec
) -> Partition | None:
    """The daily partition(s) of this step, or ``None`` when the asset is not partitioned."""
    if not context.has_asset_partitions:
        return None
    keys = list(context.asset_partition_keys)
    dates = []
    for key in keys:
        try:
            dates.append(dt.date.fromisoformat(key))
        except ValueError:
            raise ValueError(
                f"{context.asset_key.to_user_string()}: partition key {key!r} is not a date "
                "(YYYY-MM-DD); the storage layer supports daily partitions only"
            ) from None
    return Partition(column=spec.partition_column, dates=tuple(sorted(set(dates))))


@dataclass(frozen=True)
class TableRef:
    """Where an asset's table lives: ``schema`` (dataset) and table ``name``."""

    schema: str
    name: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"


def table_ref(asset_key: AssetKey, default_schema: str = "public") -> TableRef:
    """Map an asset key to a table: ``raw/octadesk_tickets`` -> schema ``raw``, table
    ``octadesk_tickets``.

    The first component is the layer (schema); longer keys join the rest with ``__``
    (``raw/octadesk/tickets`` -> ``raw.octadesk__tickets``). A one-part key lands in
    ``default_schema``.
    """
    path = list(asset_key.path)
    if len(path) == 1:
        return TableRef(default_schema, path[0])
    return TableRef(path[0], "__".join(path[1:]))


# --------------------------------------------------------------------------------------------
# What an asset returns
# --------------------------------------------------------------------------------------------


class TableStream:
    """Frames an asset returns to be written chunk by chunk, keeping memory flat.

    The IO manager consumes ``frames`` lazily. The asset may fill ``metadata`` while the frames
    are produced (e.g. the high-water mark reached); it is added to the output metadata after
    the last chunk.
    """

    def __init__(
        self,
        frames: Iterable[pd.DataFrame | pa.Table],
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.frames = frames
        self.metadata: dict[str, Any] = metadata if metadata is not None else {}

    def __iter__(self) -> Iterator[pd.DataFrame | pa.Table]:
        return iter(self.frames)

    def __repr__(self) -> str:
        return f"TableStream(metadata={self.metadata!r})"


def as_stream(obj: Any) -> TableStream:
    """Wrap what an asset returned as a :class:`TableStream` (a frame is one chunk)."""
    if isinstance(obj, TableStream):
        return obj
    if isinstance(obj, pd.DataFrame | pa.Table):
        return TableStream([obj])
    raise TypeError(
        "This IO manager stores a pandas DataFrame, a pyarrow Table or a TableStream of them; "
        f"the asset returned {type(obj).__name__}"
    )


# --------------------------------------------------------------------------------------------
# Normalising a chunk
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Metadata
# --------------------------------------------------------------------------------------------


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


@dataclass
class WriteTotals:
    """Counters a write accumulates over its chunks."""

    rows_written: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_deduplicated: int = 0
    chunks: int = 0
    preview: str | None = None


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
