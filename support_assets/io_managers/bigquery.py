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
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import pyarrow as pa
from dagster import InitResourceContext, MetadataValue
from dagster_gcp import BigQueryResource
from google.api_core.exceptions import NotFound
from google.cloud import bigquery
from pydantic import Field, PrivateAttr, field_validator

from support_assets.io_managers.base import WriteMode, WriteSpec, WriteTotals
from support_assets.io_managers.bigquery_jobs import (
    JOB_IDS,
    LOADS,
    MERGES,
    PENDING_WRITE,
    STAGING_EXPIRATION,
    BigQueryJobs,
    PendingWrite,
)
from support_assets.io_managers.bigquery_schema import (
    IN_PLACE_WIDENINGS,
    STANDARD_TYPES,
    bigquery_type,
    quote_column,
    schema_field,
    sql_type,
    stored_type,
    supertype,
    validate_column,
    validate_dataset,
    validate_project,
    validate_table,
)
from support_assets.io_managers.store import Target
from support_assets.io_managers.warehouse import WarehouseIOManager

# ---- the IO manager -------------------------------------------------------------------------

logger = logging.getLogger(__name__)


class BigQueryWarehouseIOManager(BigQueryJobs, WarehouseIOManager):
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
            "bigquery_job_ids": MetadataValue.json(list(target.stats.get(JOB_IDS, []))),
            LOADS: target.stats.get(LOADS, 0),
            MERGES: target.stats.get(MERGES, 0),
        }

    # ---- primitives -------------------------------------------------------------------------

    def _describe(self, tx: bigquery.Client, target: Target) -> dict[str, str] | None:
        pending: PendingWrite | None = target.stats.get(PENDING_WRITE)
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
        pending: PendingWrite | None = target.stats.get(PENDING_WRITE)
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
            (in_place if (current, wider) in IN_PLACE_WIDENINGS else rewrite)[column] = wider
        for column, wider in in_place.items():
            # One column per statement: emulators reject several ALTER COLUMN clauses.
            self._query(
                tx,
                target,
                f"ALTER TABLE {self.table_sql(target)} ALTER COLUMN {quote_column(column)} "
                f"SET DATA TYPE {STANDARD_TYPES.get(wider, wider)}",
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
            f"CAST({quote_column(c)} AS {STANDARD_TYPES.get(t, t)}) AS {quote_column(c)}"
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
        if target.partition is None:
            return "", []
        shape, column, dates = target.partition.selection(target.ref)
        column = alias + quote_column(column)
        if shape == "one":
            return f"{column} = @partition_date", [
                bigquery.ScalarQueryParameter("partition_date", "DATE", dates[0])
            ]
        if shape == "between":
            return f"{column} BETWEEN @partition_start AND @partition_end", [
                bigquery.ScalarQueryParameter("partition_start", "DATE", dates[0]),
                bigquery.ScalarQueryParameter("partition_end", "DATE", dates[-1]),
            ]
        return f"{column} IN UNNEST(@partition_dates)", [
            bigquery.ArrayQueryParameter("partition_dates", "DATE", list(dates))
        ]

    def _delete(self, tx: bigquery.Client, target: Target) -> None:
        where, params = self._partition_filter(target)
        if where:
            sql = f"DELETE FROM {self.table_sql(target)} WHERE {where}"
        else:
            sql = f"TRUNCATE TABLE {self.table_sql(target)}"
        self._query(tx, target, sql, params, kind="delete")

    def _append(self, tx: bigquery.Client, target: Target, data: pa.Table) -> None:
        pending = PendingWrite(mode="append")
        try:
            pending.add(data)
            self._load_batch(tx, target, pending, pending.batches[0])
        finally:
            pending.close()

    def _merge(
        self, tx: bigquery.Client, target: Target, data: pa.Table, key: tuple[str, ...]
    ) -> int:
        pending = PendingWrite(mode="merge", key=key)
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
        pending: PendingWrite | None = target.stats.get(PENDING_WRITE)
        if pending is None:
            key = spec.merge_key(partitioned=target.partition is not None)
            pending = PendingWrite(mode="merge" if mode == "merge" else "append", key=key)
            target.stats[PENDING_WRITE] = pending
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
        pending: PendingWrite | None = target.stats.get(PENDING_WRITE)
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
            del target.stats[PENDING_WRITE]
        if pending.mode == "merge":
            totals.rows_inserted = inserted
            totals.rows_updated = totals.rows_written - inserted

    def _abort_write(self, target: Target) -> None:
        """A stream that failed half-way sends nothing: its spilled chunks are removed."""
        pending: PendingWrite | None = target.stats.pop(PENDING_WRITE, None)
        if pending is not None:
            pending.close()

    def _replace_atomically(
        self, client: bigquery.Client, target: Target, pending: PendingWrite
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
