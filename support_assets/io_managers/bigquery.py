"""BigQuery warehouse backend: one dataset per asset-key prefix, one table per asset.

The semantics are the shared ones (``store.py``: audit columns, in-chunk dedupe, schema
evolution, metadata); this module moves the normalised Arrow chunks in and out of BigQuery with
the official client (``google-cloud-bigquery``), which it gets from ``dagster_gcp``'s
``BigQueryResource`` (project, location, and ``gcp_credentials`` where Application Default
Credentials are not available).

One write per output, not per chunk. BigQuery counts load jobs per table per day and every
MERGE scans its target, so chunks are not sent as they arrive: ``_write_chunk`` creates the
table or adds/widens its columns at once (metadata only) and spills the chunk to a local
temporary folder (Arrow IPC); ``_finish_write`` then sends the whole output:

* ``append``: one Parquet load job (``WRITE_APPEND``);
* ``replace``: one load job into a staging table, then one transaction that deletes the rows
  (or ``DELETE … WHERE <partition column> = @d`` for a daily partition, parameterized) and
  inserts the staged ones, so a failed load never leaves the table empty. Partition
  decorators (``t$20240102``) and ``WRITE_TRUNCATE`` are not used: the first is not portable
  to emulators, the second would replace the table's schema with the file's (columns absent
  from the output would be dropped);
* ``merge``: one load job into a staging table (same dataset, expires after a day if a crash
  leaves it behind), one ``MERGE`` on the key (matched: update only the output's columns; not
  matched: insert), then the staging table is dropped. Rows repeating a key across chunks keep
  the last one, as chunk-by-chunk merges would. Only when the output's column set changes
  between chunks does a new load + MERGE start (columns absent from a chunk must keep their
  stored values).

A stream that fails half-way therefore writes no rows (columns it added stay), and a failed
``replace`` keeps the rows it was to replace.

Daily-partitioned assets get a table partitioned by day on their ``partition_column`` (DATE).
A new column is added (``ALTER TABLE … ADD COLUMN IF NOT EXISTS``); a column whose type cannot
hold new values is widened in place where BigQuery allows it (INT64 -> NUMERIC/FLOAT64) and
otherwise by rewriting the table with a ``CAST`` (keeping its partitioning and clustering).
A list of scalars is a REPEATED column (``ARRAY<X>`` in this module's type names; a missing list
is stored empty, as BigQuery has no NULL array); a REPEATED column's item type never changes, and
a list written to a column that holds JSON text (tables from before list columns) stays JSON.
Identifiers are validated and quoted with backticks; values reach SQL only as query
parameters. Column names are kept as the asset produced them.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from dagster import InitResourceContext, MetadataValue
from dagster_gcp import BigQueryResource
from google.api_core.exceptions import NotFound
from google.cloud import bigquery
from pydantic import Field, PrivateAttr, field_validator

from support_assets.io_managers.base import (
    UTC_TIMESTAMP,
    WriteMode,
    WriteSpec,
    WriteTotals,
    to_json_text,
)
from support_assets.io_managers.store import Target
from support_assets.io_managers.warehouse import WarehouseIOManager

logger = logging.getLogger(__name__)

#: Where ``Target.stats`` keeps the pending write and the job ids of this output.
_WRITE = "bigquery_write"
_JOBS = "bigquery_job_ids"
_LOADS = "load_jobs"
_MERGES = "merge_statements"

JOB_ID_PREFIX = "support_assets_"
STAGING_EXPIRATION = dt.timedelta(days=1)

# ---- identifiers ----------------------------------------------------------------------------

_PROJECT_RE = re.compile(r"^(?:[a-z0-9][a-z0-9.-]*:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_DATASET_RE = re.compile(r"^[A-Za-z0-9_]{1,1024}$")
_TABLE_RE = re.compile(r"^[\w-]{1,1024}$")  # letters (any script), digits, _ and -
#: Characters BigQuery's flexible column names may not contain (and the backtick we quote with).
_COLUMN_FORBIDDEN = set('!"$()*,./;?@[\\]^`{}~')
_COLUMN_RESERVED_PREFIXES = (
    "_table_",
    "_file_",
    "_partition",
    "_row_timestamp",
    "__root__",
    "_colidentifier",
)


def validate_project(project: str) -> str:
    if not _PROJECT_RE.match(project or ""):
        raise ValueError(f"invalid BigQuery project id {project!r}")
    return project


def validate_dataset(name: str) -> str:
    if not _DATASET_RE.match(name or ""):
        raise ValueError(
            f"invalid BigQuery dataset name {name!r}: letters, digits and underscores only"
        )
    return name


def validate_table(name: str) -> str:
    if not _TABLE_RE.match(name or "") or len(name.encode()) > 1024:
        raise ValueError(
            f"invalid BigQuery table name {name!r}: letters, digits, underscores and dashes only"
        )
    return name


def validate_column(name: str) -> str:
    """A column name BigQuery accepts (flexible names: accents and spaces are fine)."""
    if not name or len(name) > 300:
        raise ValueError(f"invalid BigQuery column name {name!r}: 1 to 300 characters")
    bad = sorted({c for c in name if c in _COLUMN_FORBIDDEN or ord(c) < 32 or ord(c) == 127})
    if bad:
        raise ValueError(f"invalid BigQuery column name {name!r}: may not contain {bad}")
    if name.lower().startswith(_COLUMN_RESERVED_PREFIXES):
        raise ValueError(f"invalid BigQuery column name {name!r}: reserved prefix")
    return name


def quote_column(name: str) -> str:
    """A validated column name in backticks (validation rules out backticks and backslashes)."""
    return f"`{validate_column(name)}`"


# ---- types ----------------------------------------------------------------------------------

#: Standard SQL names of the (legacy) type names the API reports.
_STANDARD = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL"}
_LEGACY = {v: k for k, v in _STANDARD.items()}
_ARROW: dict[str, pa.DataType] = {
    "INTEGER": pa.int64(),
    "FLOAT": pa.float64(),
    "NUMERIC": pa.decimal128(38, 9),
    "BIGNUMERIC": pa.decimal256(76, 38),
    "BOOLEAN": pa.bool_(),
    "STRING": pa.string(),
    "BYTES": pa.binary(),
    "DATE": pa.date32(),
    "TIMESTAMP": UTC_TIMESTAMP,
    "DATETIME": pa.timestamp("us"),
    "TIME": pa.time64("us"),
}
#: Numeric types from narrowest to widest; a mix widens to the later one.
_NUMERIC_ORDER = ("BOOLEAN", "INTEGER", "NUMERIC", "BIGNUMERIC", "FLOAT")
#: Type changes ``ALTER COLUMN … SET DATA TYPE`` can make; others rewrite the table.
_IN_PLACE = {
    ("INTEGER", "NUMERIC"),
    ("INTEGER", "BIGNUMERIC"),
    ("INTEGER", "FLOAT"),
    ("NUMERIC", "BIGNUMERIC"),
    ("NUMERIC", "FLOAT"),
}


def legacy_type(name: str) -> str:
    """The API's name for a type (``INT64`` -> ``INTEGER``)."""
    upper = name.upper()
    return _LEGACY.get(upper, upper)


def array_item(typ: str) -> str | None:
    """The item type of ``ARRAY<X>`` (how a REPEATED column's type is written here), else None."""
    if typ.startswith("ARRAY<") and typ.endswith(">"):
        return typ[len("ARRAY<") : -1]
    return None


def arrow_type(typ: str) -> pa.DataType:
    """The Arrow type a load into a column of type ``typ`` expects."""
    item = array_item(typ)
    if item is not None:
        return pa.list_(_ARROW.get(item, pa.string()))
    return _ARROW.get(typ, pa.string())


def sql_type(typ: str) -> str:
    """``typ`` as GoogleSQL spells it in DDL (``INTEGER`` -> ``INT64``, ``ARRAY<INT64>``)."""
    item = array_item(typ)
    if item is not None:
        return f"ARRAY<{_STANDARD.get(item, item)}>"
    return _STANDARD.get(typ, typ)


def schema_field(name: str, typ: str) -> bigquery.SchemaField:
    """A table schema field: ``ARRAY<X>`` is a REPEATED ``X`` column."""
    item = array_item(typ)
    if item is not None:
        return bigquery.SchemaField(name, item, mode="REPEATED")
    return bigquery.SchemaField(name, typ)


def stored_type(field: bigquery.SchemaField) -> str:
    """A table field's type as written here: REPEATED ``X`` is ``ARRAY<X>``."""
    typ = legacy_type(field.field_type)
    return f"ARRAY<{typ}>" if field.mode == "REPEATED" else typ


def bigquery_type(typ: pa.DataType) -> str | None:
    """The column type an Arrow type is stored as; ``None`` for the untyped ``null`` (and
    lists of it). A list of scalars is ``ARRAY<X>``, a REPEATED column."""
    if pa.types.is_null(typ):
        return None
    if pa.types.is_list(typ) or pa.types.is_large_list(typ):
        if pa.types.is_null(typ.value_type):
            return None
        if not pa.types.is_nested(typ.value_type):
            item = bigquery_type(typ.value_type)
            return f"ARRAY<{item}>" if item is not None else None
    if pa.types.is_boolean(typ):
        return "BOOLEAN"
    if pa.types.is_unsigned_integer(typ) and typ.bit_width == 64:
        return "NUMERIC"  # does not fit INT64
    if pa.types.is_integer(typ):
        return "INTEGER"
    if pa.types.is_floating(typ):
        return "FLOAT"
    if pa.types.is_decimal(typ):
        integer_digits = typ.precision - typ.scale
        if typ.scale <= 9 and integer_digits <= 29:
            return "NUMERIC"
        if typ.scale <= 38 and integer_digits <= 38:
            return "BIGNUMERIC"
        return "STRING"
    if pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_string_view(typ):
        return "STRING"
    if (
        pa.types.is_binary(typ)
        or pa.types.is_large_binary(typ)
        or pa.types.is_fixed_size_binary(typ)
    ):
        return "BYTES"
    if pa.types.is_date(typ):
        return "DATE"
    if pa.types.is_timestamp(typ):
        return "TIMESTAMP"
    if pa.types.is_time(typ):
        return "TIME"
    return "STRING"  # structs, maps, nested lists (as JSON text), durations, ... (as text)


def supertype(stored: str, incoming: str) -> str:
    """The type both ``stored`` and ``incoming`` values fit in without loss.

    A REPEATED column cannot change its item type in place nor become text: a list whose items
    do not fit it, or a scalar for it, is an error rather than a silent rewrite.
    """
    if stored == incoming or stored == "STRING":
        return stored
    stored_item, incoming_item = array_item(stored), array_item(incoming)
    if stored_item is not None or incoming_item is not None:
        if stored_item is not None and incoming_item is not None:
            if supertype(stored_item, incoming_item) == stored_item:
                return stored
        raise ValueError(f"{incoming} values do not fit a {stored} column")
    if stored in _NUMERIC_ORDER and incoming in _NUMERIC_ORDER:
        return max(stored, incoming, key=_NUMERIC_ORDER.index)
    if {stored, incoming} == {"DATE", "TIMESTAMP"}:
        return "TIMESTAMP"
    return "STRING"


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    typ = column.type
    nested = pa.types.is_nested(typ)
    if not nested:
        try:
            return column.cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    values = column.to_pylist()
    if nested:
        return pa.chunked_array([pa.array([to_json_text(v) for v in values], pa.string())])
    return pa.chunked_array(
        [pa.array([None if v is None else str(v) for v in values], pa.string())]
    )


def conform_column(column: pa.ChunkedArray, bq_type: str, name: str) -> pa.ChunkedArray:
    """``column`` as the Arrow type a load into a ``bq_type`` column expects (a REPEATED
    column has no NULL: a missing list is stored as an empty one)."""
    target = arrow_type(bq_type)
    if array_item(bq_type) is not None:
        if column.null_count or pa.types.is_null(column.type):
            values = [[] if v is None else v for v in column.to_pylist()]
            column = pa.chunked_array([pa.array(values, type=target)], type=target)
        if column.type == target:
            return column
    if column.type == target:
        return column
    if pa.types.is_null(column.type):
        return pa.chunked_array([pa.nulls(len(column), target)], type=target)
    if target == pa.string():
        return _as_text(column)
    try:
        return column.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ValueError(
            f"column {name!r}: {column.type} values do not fit its BigQuery type {bq_type}: {exc}"
        ) from exc


# ---- state of one output --------------------------------------------------------------------


@dataclass
class _Chunk:
    path: Path
    columns: tuple[str, ...]
    rows: int


@dataclass
class _PendingWrite:
    """What one output has collected so far; written by ``_finish_write``."""

    mode: WriteMode
    key: tuple[str, ...] = ()
    delete_first: bool = False
    #: Consecutive chunks written together (a merge starts a new batch when columns change).
    batches: list[list[_Chunk]] = field(default_factory=list)
    #: The table's columns (name -> type) as last seen, while this write is the one changing it.
    schema: dict[str, str] | None = None
    _folder: tempfile.TemporaryDirectory | None = None

    @property
    def folder(self) -> Path:
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(prefix="support_assets_bigquery_")
        return Path(self._folder.name)

    def add(self, data: pa.Table) -> None:
        path = self.folder / f"chunk-{sum(len(b) for b in self.batches):06d}.arrow"
        with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, data.schema) as writer:
            writer.write_table(data)
        chunk = _Chunk(path, tuple(data.column_names), data.num_rows)
        columns = {c.lower() for c in chunk.columns}
        last = self.batches[-1] if self.batches else None
        if last is None or (
            self.mode == "merge" and {c.lower() for c in last[0].columns} != columns
        ):
            self.batches.append([chunk])
        else:
            last.append(chunk)

    def close(self) -> None:
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None


def _read_chunk(chunk: _Chunk) -> pa.Table:
    with pa.OSFile(str(chunk.path), "rb") as source:
        return ipc.open_file(source).read_all()


def _key_tuples(table: pa.Table, key: Sequence[str]) -> list[tuple[Any, ...]]:
    return list(zip(*(table.column(k).to_pylist() for k in key), strict=True))


# ---- the IO manager -------------------------------------------------------------------------


class BigQueryWarehouseIOManager(WarehouseIOManager):
    """Warehouse in BigQuery; see ``docs/io-managers.md`` for the semantics.

    ``raw/octadesk_tickets`` is stored as ``<project>.<dataset_prefix>raw.octadesk_tickets``.
    The client comes from ``bigquery`` (``dagster_gcp.BigQueryResource``): its project, its
    location (default ``US``) and its credentials, which are Application Default Credentials (a
    workload identity, ``gcloud auth application-default login``,
    ``GOOGLE_APPLICATION_CREDENTIALS``) unless its ``gcp_credentials`` holds a base64 service
    account key (from an ``EnvVar``); never a key in code. An emulator is reached through the
    client library's own ``BIGQUERY_EMULATOR_HOST``.
    """

    bigquery: BigQueryResource = Field(
        description="dagster-gcp's BigQuery resource: project, location and credentials."
    )
    dataset_prefix: str = Field(
        default="",
        description="Prepended to each dataset name (e.g. 'support_' -> 'support_raw').",
    )
    job_timeout_seconds: float = Field(
        default=900.0, description="How long to wait for one load or query job."
    )

    default_write_mode: ClassVar[WriteMode] = "append"

    _client: bigquery.Client | None = PrivateAttr(default=None)

    @field_validator("dataset_prefix")
    @classmethod
    def _valid_prefix(cls, value: str) -> str:
        if value and isinstance(value, str):
            validate_dataset(value)
        return value

    # ---- client -----------------------------------------------------------------------------

    def setup_for_execution(self, context: InitResourceContext) -> None:
        if self.bigquery.project:
            validate_project(self.bigquery.project)
        validate_dataset(self.dataset_prefix + "x")

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def client(self) -> bigquery.Client:
        """The BigQuery client of the ``bigquery`` resource (created once per execution).

        The resource's context only lasts for the creation: the client reads its credentials
        when it is built, and ``gcp_credentials``' temporary key file is gone right after.
        """
        if self._client is None:
            with self.bigquery.get_client() as client:
                self._client = client
        return self._client

    @property
    def project(self) -> str:
        """The project of the datasets: the resource's, or the one the client inferred."""
        return validate_project(self.bigquery.project or self.client().project)

    @property
    def location(self) -> str:
        """Where datasets are created and jobs run (the resource's location, default US)."""
        return self.bigquery.location or "US"

    @contextmanager
    def _transaction(self, target: Target) -> Iterator[bigquery.Client]:
        # BigQuery has no transaction spanning load jobs: atomicity comes from writing each
        # output once, at the end (see the module docstring).
        yield self.client()

    # ---- names ------------------------------------------------------------------------------

    def dataset_id(self, target: Target) -> str:
        return validate_dataset(self.dataset_prefix + target.ref.schema)

    def table_id(self, target: Target, name: str | None = None) -> str:
        """``project.dataset.table`` as the client's APIs take it."""
        return ".".join(self._parts(target, name))

    def table_sql(self, target: Target, name: str | None = None) -> str:
        """The table's name quoted for SQL: ```project`.`dataset`.`table```."""
        return ".".join(f"`{part}`" for part in self._parts(target, name))

    def _parts(self, target: Target, name: str | None) -> tuple[str, str, str]:
        return (
            self.project,
            self.dataset_id(target),
            validate_table(name or target.ref.name),
        )

    def _qualified_name(self, target: Target) -> str:
        return self.table_id(target)

    def _location_metadata(self, target: Target) -> dict[str, Any]:
        return {
            **super()._location_metadata(target),
            "bigquery_job_ids": MetadataValue.json(list(target.stats.get(_JOBS, []))),
            _LOADS: target.stats.get(_LOADS, 0),
            _MERGES: target.stats.get(_MERGES, 0),
        }

    # ---- jobs -------------------------------------------------------------------------------

    def _labels(self, target: Target, kind: str) -> dict[str, str]:
        labels = {"support_assets_job": kind}
        if target.run_id:
            labels["dagster_run_id"] = _label_value(target.run_id)
        labels["dagster_asset"] = _label_value("__".join(target.key_path))
        return labels

    def _record(self, target: Target, job: bigquery.LoadJob | bigquery.QueryJob) -> None:
        target.stats.setdefault(_JOBS, []).append(job.job_id)
        logger.debug("%s: BigQuery job %s (%s)", target.ref, job.job_id, job.job_type)

    def _query(
        self,
        client: bigquery.Client,
        target: Target,
        sql: str,
        params: Sequence[Any] = (),
        kind: str = "query",
    ) -> bigquery.QueryJob:
        """Run one statement (values only as ``params``) and wait for it."""
        config = bigquery.QueryJobConfig(
            query_parameters=list(params), labels=self._labels(target, kind)
        )
        job = client.query(
            sql, job_config=config, job_id_prefix=f"{JOB_ID_PREFIX}{kind}_", location=self.location
        )
        self._record(target, job)
        job.result(timeout=self.job_timeout_seconds)
        return job

    def _load(
        self, client: bigquery.Client, target: Target, path: Path, destination: str
    ) -> bigquery.LoadJob:
        """One Parquet load job appending ``path`` to ``destination``; waits for it."""
        config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.PARQUET,
            write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
            create_disposition=bigquery.CreateDisposition.CREATE_NEVER,
            decimal_target_types=["NUMERIC", "BIGNUMERIC", "STRING"],
            labels=self._labels(target, "load"),
        )
        # Parquet LIST columns load into REPEATED columns (not into a list.element RECORD).
        parquet_options = bigquery.ParquetOptions()
        parquet_options.enable_list_inference = True
        config.parquet_options = parquet_options
        with open(path, "rb") as source:
            job = client.load_table_from_file(
                source,
                destination,
                job_config=config,
                job_id_prefix=f"{JOB_ID_PREFIX}load_",
                location=self.location,
            )
        self._record(target, job)
        target.stats[_LOADS] = target.stats.get(_LOADS, 0) + 1
        job.result(timeout=self.job_timeout_seconds)
        return job

    # ---- primitives -------------------------------------------------------------------------

    def _describe(self, tx: bigquery.Client, target: Target) -> dict[str, str] | None:
        pending: _PendingWrite | None = target.stats.get(_WRITE)
        if pending is not None and pending.schema is not None:
            return dict(pending.schema)
        try:
            table = tx.get_table(self.table_id(target))
        except NotFound:
            return None
        schema = {f.name: stored_type(f) for f in table.schema}
        if pending is not None:
            pending.schema = dict(schema)
        return schema

    def _forget_schema(self, target: Target) -> None:
        pending: _PendingWrite | None = target.stats.get(_WRITE)
        if pending is not None:
            pending.schema = None

    def _create_table(self, tx: bigquery.Client, target: Target, data: pa.Table) -> None:
        dataset = bigquery.Dataset(f"{self.project}.{self.dataset_id(target)}")
        dataset.location = self.location
        tx.create_dataset(dataset, exists_ok=True)
        columns = [
            schema_field(validate_column(f.name), bigquery_type(f.type) or "STRING")
            for f in data.schema
        ]
        table = bigquery.Table(self.table_id(target), schema=columns)
        partition = target.partition
        if partition is not None and partition.column is not None:
            table.time_partitioning = bigquery.TimePartitioning(
                type_=bigquery.TimePartitioningType.DAY, field=partition.column
            )
        created = tx.create_table(table, exists_ok=True)
        self._forget_schema(target)
        # Another writer may have created it first, with other columns.
        stored = {f.name.lower() for f in created.schema}
        missing = [n for n in data.column_names if n.lower() not in stored]
        if missing:
            self._add_columns(tx, target, data, missing)

    def _add_columns(
        self, tx: bigquery.Client, target: Target, data: pa.Table, names: list[str]
    ) -> None:
        clauses = []
        for name in names:
            typ = bigquery_type(data.schema.field(name).type) or "STRING"
            clauses.append(f"ADD COLUMN IF NOT EXISTS {quote_column(name)} {sql_type(typ)}")
        self._query(
            tx, target, f"ALTER TABLE {self.table_sql(target)} " + ", ".join(clauses), kind="alter"
        )
        self._forget_schema(target)

    def _widen_columns(
        self, tx: bigquery.Client, target: Target, data: pa.Table, stored: dict[str, str]
    ) -> None:
        in_place: dict[str, str] = {}
        rewrite: dict[str, str] = {}
        lookup = {n.lower(): n for n in self._describe(tx, target) or {}}
        for name, current in stored.items():
            incoming = bigquery_type(data.schema.field(name).type)
            if incoming is None:
                continue
            try:
                wider = supertype(current, incoming)
            except ValueError as exc:
                raise ValueError(f"{target.ref}: column {name!r}: {exc}") from None
            if wider == current:
                continue
            column = lookup.get(name.lower(), name)
            logger.info("%s: widening column %s from %s to %s", target.ref, column, current, wider)
            (in_place if (current, wider) in _IN_PLACE else rewrite)[column] = wider
        for column, wider in in_place.items():
            # One column per statement: emulators reject several ALTER COLUMN clauses.
            self._query(
                tx,
                target,
                f"ALTER TABLE {self.table_sql(target)} ALTER COLUMN {quote_column(column)} "
                f"SET DATA TYPE {_STANDARD.get(wider, wider)}",
                kind="alter",
            )
        if rewrite:
            self._rewrite_with_types(tx, target, rewrite)
        if in_place or rewrite:
            self._forget_schema(target)

    def _rewrite_with_types(
        self, tx: bigquery.Client, target: Target, types: dict[str, str]
    ) -> None:
        """Recreate the table with ``types`` (column -> type) by ``CAST``, same partitioning."""
        table = tx.get_table(self.table_id(target))
        clauses = []
        partitioning = table.time_partitioning
        if partitioning is not None:
            if partitioning.field is None or partitioning.type_ != "DAY":
                raise ValueError(
                    f"{target.ref}: cannot widen {sorted(types)}: only tables partitioned by day "
                    "on a column can be rewritten"
                )
            clauses.append(f"PARTITION BY {quote_column(partitioning.field)}")
        if table.clustering_fields:
            clauses.append(
                "CLUSTER BY " + ", ".join(quote_column(c) for c in table.clustering_fields)
            )
        casts = ", ".join(
            f"CAST({quote_column(c)} AS {_STANDARD.get(t, t)}) AS {quote_column(c)}"
            for c, t in types.items()
        )
        name = self.table_sql(target)
        self._query(
            tx,
            target,
            f"CREATE OR REPLACE TABLE {name} {' '.join(clauses)} "
            f"AS SELECT * REPLACE ({casts}) FROM {name}",
            kind="rewrite",
        )

    def _partition_filter(self, target: Target, alias: str = "") -> tuple[str, list[Any]]:
        """SQL condition (and parameters) restricting to the target's partition(s)."""
        partition = target.partition
        if partition is None:
            return "", []
        if partition.column is None:
            raise ValueError(
                f"{target.ref} is daily-partitioned but declares no partition_column metadata"
            )
        column = alias + quote_column(partition.column)
        dates = list(partition.dates)
        if len(dates) == 1:
            return f"{column} = @partition_date", [
                bigquery.ScalarQueryParameter("partition_date", "DATE", dates[0])
            ]
        if (dates[-1] - dates[0]).days == len(dates) - 1:
            return f"{column} BETWEEN @partition_start AND @partition_end", [
                bigquery.ScalarQueryParameter("partition_start", "DATE", dates[0]),
                bigquery.ScalarQueryParameter("partition_end", "DATE", dates[-1]),
            ]
        return f"{column} IN UNNEST(@partition_dates)", [
            bigquery.ArrayQueryParameter("partition_dates", "DATE", dates)
        ]

    def _delete(self, tx: bigquery.Client, target: Target) -> None:
        where, params = self._partition_filter(target)
        if where:
            sql = f"DELETE FROM {self.table_sql(target)} WHERE {where}"
        else:
            sql = f"TRUNCATE TABLE {self.table_sql(target)}"
        self._query(tx, target, sql, params, kind="delete")

    def _append(self, tx: bigquery.Client, target: Target, data: pa.Table) -> None:
        pending = _PendingWrite(mode="append")
        try:
            pending.add(data)
            self._load_batch(tx, target, pending, pending.batches[0])
        finally:
            pending.close()

    def _merge(
        self, tx: bigquery.Client, target: Target, data: pa.Table, key: tuple[str, ...]
    ) -> int:
        pending = _PendingWrite(mode="merge", key=key)
        try:
            pending.add(data)
            inserted = self._merge_batch(tx, target, pending, pending.batches[0])
        finally:
            pending.close()
        return data.num_rows - inserted

    def _count(self, tx: bigquery.Client, target: Target) -> int:
        # A query, not get_table().num_rows: that one lags behind DML (and emulators get it wrong).
        where, params = self._partition_filter(target)
        sql = f"SELECT COUNT(*) AS n FROM {self.table_sql(target)}"
        job = self._query(tx, target, sql + (f" WHERE {where}" if where else ""), params, "count")
        return int(next(iter(job.result()))[0])

    def _read(self, tx: bigquery.Client, target: Target) -> pa.Table:
        try:
            table = tx.get_table(self.table_id(target))
        except NotFound:
            return pa.table({})
        where, params = self._partition_filter(target)
        if not where:
            # tabledata.list: no query job, nothing billed.
            return tx.list_rows(table).to_arrow(create_bqstorage_client=False)
        job = self._query(
            tx, target, f"SELECT * FROM {self.table_sql(target)} WHERE {where}", params, "read"
        )
        return job.to_arrow(create_bqstorage_client=False)

    # ---- one write per output ---------------------------------------------------------------

    def _write_chunk(
        self, target: Target, data: pa.Table, mode: WriteMode, spec: WriteSpec
    ) -> tuple[int, int]:
        """Fit the table to the chunk now; keep the rows for ``_finish_write``.

        Returns (rows, 0): a merge's inserted/updated split is only known once it ran.
        """
        pending: _PendingWrite | None = target.stats.get(_WRITE)
        if pending is None:
            key = spec.merge_key(partitioned=target.partition is not None)
            pending = _PendingWrite(mode="merge" if mode == "merge" else "append", key=key)
            target.stats[_WRITE] = pending
        for name in data.column_names:
            validate_column(name)
        with self._transaction(target) as client:
            data = self._ensure_columns(client, target, data)
        if mode == "replace":
            pending.delete_first = True
        if data.num_rows:
            pending.add(data)
        return data.num_rows, 0

    def _finish_write(self, target: Target, spec: WriteSpec, totals: WriteTotals) -> None:
        pending: _PendingWrite | None = target.stats.get(_WRITE)
        if pending is None:
            return
        pending.schema = None  # read the table's columns afresh once, then reuse them
        try:
            with self._transaction(target) as client:
                if pending.delete_first and pending.batches and pending.mode != "merge":
                    self._replace_atomically(client, target, pending)
                    return
                if pending.delete_first:
                    self._delete(client, target)
                inserted = 0
                for batch in pending.batches:
                    if pending.mode == "merge":
                        inserted += self._merge_batch(client, target, pending, batch)
                    else:
                        self._load_batch(client, target, pending, batch)
        finally:
            pending.close()
            del target.stats[_WRITE]
        if pending.mode == "merge":
            totals.rows_inserted = inserted
            totals.rows_updated = totals.rows_written - inserted

    def _abort_write(self, target: Target) -> None:
        """A stream that failed half-way sends nothing: its spilled chunks are removed."""
        pending: _PendingWrite | None = target.stats.pop(_WRITE, None)
        if pending is not None:
            pending.close()

    def _replace_atomically(
        self, client: bigquery.Client, target: Target, pending: _PendingWrite
    ) -> None:
        """Load the new rows into a staging table, then swap them in with DELETE and INSERT in
        one transaction: a load that fails leaves the old rows in place, never an empty table."""
        stored = self._describe(client, target) or {}
        staging_name = f"_{target.ref.name}__replace_{uuid.uuid4().hex[:12]}"
        staging = bigquery.Table(
            self.table_id(target, staging_name),
            schema=[schema_field(name, typ) for name, typ in stored.items()],
        )
        staging.expires = dt.datetime.now(dt.UTC) + STAGING_EXPIRATION
        client.create_table(staging)
        try:
            for batch in pending.batches:
                path, _ = self._parquet(client, target, pending, batch, every_column=True)
                self._load(client, target, path, self.table_id(target, staging_name))
            where, params = self._partition_filter(target)
            columns = ", ".join(quote_column(name) for name in stored)
            table = self.table_sql(target)
            sql = (
                "BEGIN TRANSACTION;\n"
                f"DELETE FROM {table} WHERE {where or 'TRUE'};\n"
                f"INSERT INTO {table} ({columns}) "
                f"SELECT {columns} FROM {self.table_sql(target, staging_name)};\n"
                "COMMIT TRANSACTION;"
            )
            self._query(client, target, sql, params, kind="replace")
        finally:
            client.delete_table(staging, not_found_ok=True)

    def _parquet(
        self,
        client: bigquery.Client,
        target: Target,
        pending: _PendingWrite,
        batch: list[_Chunk],
        every_column: bool = False,
    ) -> tuple[Path, pa.Schema]:
        """One Parquet file of ``batch`` typed as the table's columns (later chunks win on a
        repeated merge key); returns it and its schema.

        Only the batch's columns, unless ``every_column``: then the table's other columns are
        written as NULLs too, so a load never relies on BigQuery filling absent columns.
        """
        stored = self._describe(client, target) or {}
        by_lower = {name.lower(): (name, typ) for name, typ in stored.items()}
        seen_columns = {c.lower() for chunk in batch for c in chunk.columns}
        absent = seen_columns - set(by_lower)
        if absent:
            raise RuntimeError(f"{target.ref}: columns {sorted(absent)} vanished from the table")
        columns = [(n, t) for n, t in stored.items() if every_column or n.lower() in seen_columns]
        schema = pa.schema([(n, arrow_type(t)) for n, t in columns])
        path = pending.folder / f"batch-{uuid.uuid4().hex}.parquet"
        dedupe = pending.mode == "merge" and len(batch) > 1
        seen_keys: set[tuple[Any, ...]] = set()
        key = [by_lower[k.lower()][0] for k in pending.key] if dedupe else []
        with pq.ParquetWriter(str(path), schema, compression="snappy") as writer:
            for chunk in reversed(batch) if dedupe else batch:
                data = _read_chunk(chunk)
                arrays = {}
                for name, column in zip(data.column_names, data.columns, strict=True):
                    stored_name, typ = by_lower[name.lower()]
                    arrays[stored_name] = conform_column(column, typ, stored_name)
                table = pa.table(
                    [
                        arrays.get(f.name, pa.chunked_array([pa.nulls(data.num_rows, f.type)]))
                        for f in schema
                    ],
                    schema=schema,
                )
                if dedupe:
                    keys = _key_tuples(table, key)
                    keep = [k not in seen_keys for k in keys]
                    seen_keys.update(keys)
                    table = table.filter(pa.array(keep))
                writer.write_table(table)
        return path, schema

    def _load_batch(
        self, client: bigquery.Client, target: Target, pending: _PendingWrite, batch: list[_Chunk]
    ) -> None:
        path, _ = self._parquet(client, target, pending, batch, every_column=True)
        self._load(client, target, path, self.table_id(target))

    def _merge_batch(
        self, client: bigquery.Client, target: Target, pending: _PendingWrite, batch: list[_Chunk]
    ) -> int:
        """Load ``batch`` into a staging table and MERGE it into the target; returns how many
        rows were inserted."""
        path, schema = self._parquet(client, target, pending, batch)
        stored = self._describe(client, target) or {}
        staging_name = f"_{target.ref.name}__merge_{uuid.uuid4().hex[:12]}"
        staging = bigquery.Table(
            self.table_id(target, staging_name),
            schema=[schema_field(f.name, stored[f.name]) for f in schema],
        )
        staging.expires = dt.datetime.now(dt.UTC) + STAGING_EXPIRATION
        client.create_table(staging)
        try:
            self._load(client, target, path, self.table_id(target, staging_name))
            job = self._query(
                client,
                target,
                *self._merge_sql(target, staging_name, schema.names, pending.key),
                kind="merge",
            )
            target.stats[_MERGES] = target.stats.get(_MERGES, 0) + 1
        finally:
            client.delete_table(staging, not_found_ok=True)
        stats = job.dml_stats
        if stats is None:
            logger.warning(
                "%s: MERGE reported no DML statistics; counting all as inserted", target.ref
            )
            return int(job.num_dml_affected_rows or 0)
        return int(stats.inserted_row_count)

    def _merge_sql(
        self, target: Target, staging: str, columns: list[str], key: tuple[str, ...]
    ) -> tuple[str, list[Any]]:
        lower_key = {k.lower() for k in key}
        by_lower = {c.lower(): c for c in columns}
        key_columns = [by_lower[k.lower()] for k in key]
        on = " AND ".join(f"t.{quote_column(k)} = s.{quote_column(k)}" for k in key_columns)
        # A constant filter on the partition column lets BigQuery prune the target's partitions.
        where, params = self._partition_filter(target, alias="t.")
        if where:
            on += f" AND {where}"
        quoted = [quote_column(c) for c in columns]
        settable = [quote_column(c) for c in columns if c.lower() not in lower_key]
        sql = (
            f"MERGE {self.table_sql(target)} AS t "
            f"USING {self.table_sql(target, staging)} AS s ON {on} "
        )
        if settable:
            sql += (
                "WHEN MATCHED THEN UPDATE SET " + ", ".join(f"{c} = s.{c}" for c in settable) + " "
            )
        sql += (
            f"WHEN NOT MATCHED THEN INSERT ({', '.join(quoted)}) "
            f"VALUES ({', '.join('s.' + c for c in quoted)})"
        )
        return sql, params


def _label_value(text: str) -> str:
    """A BigQuery label value: lower-case letters, digits, ``_`` and ``-``; at most 63."""
    return re.sub(r"[^a-z0-9_-]", "_", text.lower())[:63]


__all__ = ["BigQueryWarehouseIOManager", "bigquery_type", "schema_field", "supertype"]
