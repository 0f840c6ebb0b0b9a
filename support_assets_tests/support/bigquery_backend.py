"""The BigQuery side of the storage tests: one local emulator for the whole session.

``bigquery_emulator_session`` installs (once, idempotently) and starts local-bigquery through
``tools.bigquery_emulator``; it never skips: a machine that cannot run it
fails.
``bigquery_emulator`` gives a test the emulator with the environment the platform's own code
path needs: dagster-gcp's ``BigQueryResource`` builds its client as in production, under
Application Default Credentials (a fake ``authorized_user`` file, no GCE probe), and the
client library itself sends it to the emulator (``BIGQUERY_EMULATOR_HOST``).

Tests share the emulator, so each one writes under its own dataset prefix
(:func:`unique_dataset_prefix`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pandas as pd
import pyarrow as pa
import pytest
from google.api_core.exceptions import NotFound
from google.cloud import bigquery

from tools.bigquery_emulator import (
    DEFAULT_BASE_DIR,
    BigQueryEmulator,
    running_bigquery_emulator,
)

_NULLABLE = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}


def unique_dataset_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}_"


@pytest.fixture(scope="session")
def bigquery_emulator_session() -> Iterator[BigQueryEmulator]:
    with running_bigquery_emulator(DEFAULT_BASE_DIR) as emulator:
        yield emulator


@pytest.fixture
def bigquery_emulator(
    bigquery_emulator_session: BigQueryEmulator, monkeypatch: pytest.MonkeyPatch
) -> BigQueryEmulator:
    """The session's emulator, with the credentials environment set for this test."""
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "NO_GCE_CHECK", "BIGQUERY_EMULATOR_HOST"):
        monkeypatch.setenv(name, bigquery_emulator_session.env[name])
    return bigquery_emulator_session


def read_table(
    client: bigquery.Client,
    project: str,
    dataset: str,
    table: str,
    where: str = "",
    params: list | None = None,
) -> pd.DataFrame | None:
    """Rows of ``project.dataset.table`` read with the client directly; ``None`` if absent."""
    try:
        client.get_table(f"{project}.{dataset}.{table}")
    except NotFound:
        return None
    sql = f"SELECT * FROM `{project}`.`{dataset}`.`{table}`" + (f" WHERE {where}" if where else "")
    config = bigquery.QueryJobConfig(query_parameters=params or [])
    table = client.query(sql, job_config=config).to_arrow(create_bqstorage_client=False)
    # Nullable integers and booleans stay integers and booleans (as DuckDB's reader gives them).
    return table.to_pandas(types_mapper=_NULLABLE.get)


def date_param(name: str, value: str) -> bigquery.ScalarQueryParameter:
    return bigquery.ScalarQueryParameter(name, "DATE", dt.date.fromisoformat(value))
