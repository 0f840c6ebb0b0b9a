"""Storage contract shared by every IO manager: what an asset asks for and what it returns.

Assets declare their storage semantics in definition metadata (``write_mode``, ``primary_key``,
``partition_column``); this module parses that declaration (:class:`WriteSpec`) and names the
audit columns every write adds. ``normalise`` shapes each chunk of output into a stable Arrow
table and ``write_metadata`` builds the metadata every write reports; backends only move those
normalised Arrow tables in and out of their store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

import pandas as pd
import pyarrow as pa
from dagster import (
    AssetKey,
    InputContext,
    MetadataValue,
    OutputContext,
)

WriteMode = Literal["append", "replace", "merge"]
WRITE_MODES: tuple[str, ...] = get_args(WriteMode)

LOADED_AT = "_loaded_at"
RUN_ID = "_run_id"
AUDIT_COLUMNS: tuple[str, ...] = (LOADED_AT, RUN_ID)

UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")


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


PartitionShape = Literal["one", "between", "among"]


@dataclass(frozen=True)
class Partition:
    """The daily partition(s) a write or read targets: ``column IN dates``."""

    column: str | None
    dates: tuple[dt.date, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(d.isoformat() for d in self.dates)

    def selection(self, table: object) -> tuple[PartitionShape, str, tuple[dt.date, ...]]:
        """How a backend's SQL should select these days of ``table``: ``one`` day, ``between``
        the first and last (a contiguous range: a backfill, or every partition; two parameters,
        not thousands) or ``among`` the dates; with the partition column and the parameters."""
        if self.column is None:
            raise ValueError(
                f"{table} is daily-partitioned but declares no partition_column metadata"
            )
        dates = self.dates
        if len(dates) == 1:
            return "one", self.column, dates
        if (dates[-1] - dates[0]).days == len(dates) - 1:
            return "between", self.column, (dates[0], dates[-1])
        return "among", self.column, dates


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


@dataclass
class WriteTotals:
    """Counters a write accumulates over its chunks."""

    rows_written: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_deduplicated: int = 0
    chunks: int = 0
    preview: str | None = None
