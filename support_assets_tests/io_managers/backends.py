"""Backends the storage contract suite runs against, and helpers to materialize tiny assets.

Each backend is a :class:`Backend`: the IO manager under test plus an independent reader that
looks at the store directly (not through the IO manager), so tests assert what was stored.
Adding a backend (BigQuery on an emulator, S3 on moto) is one entry in ``BACKENDS``: a factory
called with the test's ``tmp_path`` and pytest's ``request``, through which a backend reaches a
session fixture (``request.getfixturevalue("moto_s3")``: a server started once per session).
"""

from __future__ import annotations

import pathlib
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd
import pytest
from dagster import (
    AssetsDefinition,
    ConfigurableIOManager,
    DailyPartitionsDefinition,
    asset,
    materialize,
)
from dagster_gcp import BigQueryResource

from support_assets.io_managers import DuckDBWarehouseIOManager, LakeIOManager
from support_assets.io_managers.bigquery import BigQueryWarehouseIOManager
from support_assets_tests.support.bigquery_backend import (
    date_param,
    read_table,
    unique_dataset_prefix,
)

PREFIX = "raw"
DAILY = DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-10")


@dataclass
class Backend:
    """An IO manager under test and a way to read its store directly."""

    name: str
    io_manager: ConfigurableIOManager
    read_store: Callable[[str, str | None], pd.DataFrame | None]
    #: The lake's default write mode is ``replace``; the warehouse's is ``append``.
    default_mode: str

    def read(self, table: str, partition: str | None = None) -> pd.DataFrame | None:
        """Rows stored for ``raw/<table>`` (one partition, if given); ``None`` if absent."""
        return self.read_store(table, partition)


def _duckdb_backend(tmp_path: pathlib.Path, request: pytest.FixtureRequest) -> Backend:
    path = tmp_path / "warehouse" / "test.duckdb"

    def read(table: str, partition: str | None) -> pd.DataFrame | None:
        if not path.exists():
            return None
        con = duckdb.connect(str(path))
        try:
            con.execute("SET TimeZone = 'UTC'")
            exists = con.execute(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema = ? AND table_name = ?",
                [PREFIX, table],
            ).fetchone()[0]
            if not exists:
                return None
            sql = f'SELECT * FROM "{PREFIX}"."{table}"'
            if partition is None:
                return con.execute(sql).df()
            return con.execute(sql + ' WHERE "date" = ?::DATE', [partition]).df()
        finally:
            con.close()

    return Backend("duckdb", DuckDBWarehouseIOManager(path=str(path)), read, "append")


def _read_lake_folder(root: pathlib.Path, table: str, partition: str | None) -> pd.DataFrame | None:
    """The Parquet files of ``raw/<table>`` under a lake folder, read by DuckDB's own reader:
    independent of the code under test."""
    folder = root / PREFIX / table
    files = sorted(str(p) for p in folder.rglob("*.parquet") if not p.name.startswith("."))
    if partition is not None:
        files = [f for f in files if f"/date={partition}/" in f]
    if not files:
        return None
    hive = any("/date=" in f for f in files)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(
            "SELECT * FROM read_parquet(?, union_by_name = true, hive_partitioning = ?)",
            [files, hive],
        ).df()
    finally:
        con.close()


def _lake_backend(tmp_path: pathlib.Path, request: pytest.FixtureRequest) -> Backend:
    root = tmp_path / "lake"

    def read(table: str, partition: str | None) -> pd.DataFrame | None:
        return _read_lake_folder(root, table, partition)

    return Backend("lake", LakeIOManager(url=str(root)), read, "replace")


def _s3_backend(tmp_path: pathlib.Path, request: pytest.FixtureRequest) -> Backend:
    """The lake on a real S3 endpoint (moto's server, session fixture ``moto_s3``), under a
    prefix of its own; read back by downloading the objects with boto3 and reading them as the
    folder lake is read."""
    s3 = request.getfixturevalue("moto_s3")
    bucket = request.getfixturevalue("s3_bucket")
    prefix = f"lake/{uuid.uuid4().hex[:8]}"

    def read(table: str, partition: str | None) -> pd.DataFrame | None:
        mirror = tmp_path / f"s3-mirror-{uuid.uuid4().hex[:8]}"
        s3.download(bucket, f"{prefix}/", mirror)
        return _read_lake_folder(mirror, table, partition)

    io_manager = LakeIOManager(url=f"s3://{bucket}/{prefix}", s3=s3.resource())
    return Backend("s3", io_manager, read, "replace")


def _bigquery_backend(tmp_path: pathlib.Path, request: pytest.FixtureRequest) -> Backend:
    """The warehouse on the local BigQuery emulator (session fixture ``bigquery_emulator``),
    under a dataset prefix of its own; read back with a client of its own."""
    emulator = request.getfixturevalue("bigquery_emulator")
    prefix = unique_dataset_prefix()
    io_manager = BigQueryWarehouseIOManager(
        bigquery=BigQueryResource(project=emulator.project), dataset_prefix=prefix
    )
    client = emulator.client()

    def read(table: str, partition: str | None) -> pd.DataFrame | None:
        if partition is None:
            return read_table(client, emulator.project, prefix + PREFIX, table)
        where, params = "`date` = @d", [date_param("d", partition)]
        return read_table(client, emulator.project, prefix + PREFIX, table, where, params)

    return Backend("bigquery", io_manager, read, "append")


#: One line per backend.
BACKENDS: dict[str, Callable[[pathlib.Path, pytest.FixtureRequest], Backend]] = {
    "duckdb": _duckdb_backend,
    "lake": _lake_backend,
    "s3": _s3_backend,
    "bigquery": _bigquery_backend,
}


def table_asset(
    value: Any,
    *,
    name: str = "things",
    metadata: Mapping[str, Any] | None = None,
    partitioned: bool = False,
) -> AssetsDefinition:
    """An asset ``raw/<name>`` returning ``value`` (or ``value(context)`` if callable)."""

    @asset(
        name=name,
        key_prefix=[PREFIX],
        metadata=dict(metadata or {}),
        partitions_def=DAILY if partitioned else None,
    )
    def _asset(context) -> Any:  # noqa: ANN001 - Dagster injects the context
        return value(context) if callable(value) else value

    return _asset


def write(
    backend: Backend,
    value: Any,
    *,
    name: str = "things",
    partition: str | None = None,
    extra_assets: Sequence[AssetsDefinition] = (),
    **metadata: Any,
) -> dict[str, Any]:
    """Materialize ``raw/<name>`` with ``value`` and return its materialization metadata."""
    definition = table_asset(value, name=name, metadata=metadata, partitioned=partition is not None)
    result = materialize(
        [definition, *extra_assets],
        resources={"io_manager": backend.io_manager},
        partition_key=partition,
    )
    assert result.success
    (materialization,) = result.asset_materializations_for_node(definition.op.name)
    return {key: getattr(v, "value", v) for key, v in materialization.metadata.items()}
