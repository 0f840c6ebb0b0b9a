"""BigQuery jobs of one output: the write it collects (chunks staged as Arrow files), the load
and query jobs that send it (labelled, recorded in the output's metadata), and the Parquet
files and ``MERGE`` statements those jobs take.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from google.cloud import bigquery

from support_assets.io_managers.base import WriteMode
from support_assets.io_managers.bigquery_schema import (
    arrow_type,
    conform_column,
    quote_column,
    schema_field,
)
from support_assets.io_managers.store import Target

logger = logging.getLogger(__name__)

#: Where ``Target.stats`` keeps the pending write and the job ids of this output.
PENDING_WRITE = "bigquery_write"
JOB_IDS = "bigquery_job_ids"
LOADS = "load_jobs"
MERGES = "merge_statements"

JOB_ID_PREFIX = "support_assets_"
STAGING_EXPIRATION = dt.timedelta(days=1)


# ---- state of one output --------------------------------------------------------------------


@dataclass
class StagedChunk:
    path: Path
    columns: tuple[str, ...]
    rows: int


@dataclass
class PendingWrite:
    """What one output has collected so far; written by ``_finish_write``."""

    mode: WriteMode
    key: tuple[str, ...] = ()
    delete_first: bool = False
    #: Consecutive chunks written together (a merge starts a new batch when columns change).
    batches: list[list[StagedChunk]] = field(default_factory=list)
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
        chunk = StagedChunk(path, tuple(data.column_names), data.num_rows)
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


def read_chunk(chunk: StagedChunk) -> pa.Table:
    with pa.OSFile(str(chunk.path), "rb") as source:
        return ipc.open_file(source).read_all()


def key_tuples(table: pa.Table, key: Sequence[str]) -> list[tuple[Any, ...]]:
    return list(zip(*(table.column(k).to_pylist() for k in key), strict=True))


class BigQueryJobs:
    """Load and query jobs of the BigQuery warehouse IO manager, one output at a time."""

    def _labels(self, target: Target, kind: str) -> dict[str, str]:
        labels = {"support_assets_job": kind}
        if target.run_id:
            labels["dagster_run_id"] = label_value(target.run_id)
        labels["dagster_asset"] = label_value("__".join(target.key_path))
        return labels

    def _record(self, target: Target, job: bigquery.LoadJob | bigquery.QueryJob) -> None:
        target.stats.setdefault(JOB_IDS, []).append(job.job_id)
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
        target.stats[LOADS] = target.stats.get(LOADS, 0) + 1
        job.result(timeout=self.job_timeout_seconds)
        return job

    def _parquet(
        self,
        client: bigquery.Client,
        target: Target,
        pending: PendingWrite,
        batch: list[StagedChunk],
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
                data = read_chunk(chunk)
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
                    keys = key_tuples(table, key)
                    keep = [k not in seen_keys for k in keys]
                    seen_keys.update(keys)
                    table = table.filter(pa.array(keep))
                writer.write_table(table)
        return path, schema

    def _load_batch(
        self,
        client: bigquery.Client,
        target: Target,
        pending: PendingWrite,
        batch: list[StagedChunk],
    ) -> None:
        path, _ = self._parquet(client, target, pending, batch, every_column=True)
        self._load(client, target, path, self.table_id(target))

    def _merge_batch(
        self,
        client: bigquery.Client,
        target: Target,
        pending: PendingWrite,
        batch: list[StagedChunk],
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
            target.stats[MERGES] = target.stats.get(MERGES, 0) + 1
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


def label_value(text: str) -> str:
    """A BigQuery label value: lower-case letters, digits, ``_`` and ``-``; at most 63."""
    return re.sub(r"[^a-z0-9_-]", "_", text.lower())[:63]
