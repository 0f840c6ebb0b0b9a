"""DuckDB-specific behaviour: stored types, quoting, the file lock, partition errors."""

from __future__ import annotations

import datetime as dt
import pathlib
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import pandas as pd
import pytest
from dagster import materialize

from support_assets.io_managers import DuckDBWarehouseIOManager
from support_assets.io_managers.duckdb import is_lock_error
from support_assets_tests.io_managers.backends import table_asset


@pytest.fixture
def db_path(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "warehouse.duckdb"


def run(path: pathlib.Path, value: object, partition: str | None = None, **metadata: object):
    definition = table_asset(value, metadata=metadata, partitioned=partition is not None)
    return materialize(
        [definition],
        resources={"io_manager": DuckDBWarehouseIOManager(path=str(path))},
        partition_key=partition,
        raise_on_error=False,
    )


def column_types(path: pathlib.Path, table: str = "things") -> dict[str, str]:
    con = duckdb.connect(str(path))
    try:
        rows = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'raw' AND table_name = ?",
            [table],
        ).fetchall()
    finally:
        con.close()
    return dict(rows)


def failure_text(result) -> str:  # noqa: ANN001 - ExecuteInProcessResult
    """The step's error message with its causes (Dagster wraps the IO manager's exception)."""
    error = result.get_step_failure_events()[0].event_specific_data.error
    parts = []
    while error is not None:
        parts.append(error.message)
        error = error.cause
    return "\n".join(parts)


@contextmanager
def lock_held_by_another_process(path: pathlib.Path, seconds: float) -> Iterator[None]:
    """Open ``path`` in a subprocess (taking DuckDB's file lock) and release it after a while."""
    script = textwrap.dedent(
        f"""
        import sys, time, duckdb
        con = duckdb.connect({str(path)!r})
        print("locked", flush=True)
        time.sleep({seconds})
        con.close()
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        yield
    finally:
        proc.wait(timeout=60)


def test_types_are_utc_timestamps_dates_and_json_text(db_path: pathlib.Path) -> None:
    frame = pd.DataFrame(
        {
            "id": [1],
            "at": [pd.Timestamp("2024-01-01 10:00", tz="America/Sao_Paulo")],
            "naive": [pd.Timestamp("2024-01-01 10:00")],
            "day": [dt.date(2024, 1, 1)],
            "payload": [{"a": [1, 2]}],
            "empty": [None],
        }
    )
    assert run(db_path, frame, write_mode="replace").success

    types = column_types(db_path)
    assert types["at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["naive"] == "TIMESTAMP WITH TIME ZONE"
    assert types["_loaded_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["day"] == "DATE"
    assert types["payload"] == "VARCHAR"
    assert types["id"] == "BIGINT"
    # An all-null column gets no guessed type: it appears with the first values.
    assert "empty" not in types
    later = pd.DataFrame({"id": [2], "empty": [dt.date(2024, 1, 2)]})
    assert run(db_path, later, write_mode="append").success
    assert column_types(db_path)["empty"] == "DATE"


def test_awkward_identifiers_and_hostile_values_are_safe(db_path: pathlib.Path) -> None:
    hostile = "x'); DROP TABLE raw.things; --"
    frame = pd.DataFrame({"id": [1], 'we"ird col': [hostile], "select": ["kw"], "Ação": [1]})
    assert run(db_path, frame, write_mode="merge", primary_key=["id"]).success
    again = pd.DataFrame({"id": [1], 'we"ird col': ["changed"], "select": ["kw2"]})
    assert run(db_path, again, write_mode="merge", primary_key=["id"]).success

    con = duckdb.connect(str(db_path))
    try:
        row = con.execute('SELECT "we""ird col", "select", "Ação" FROM raw.things').fetchall()
    finally:
        con.close()
    assert row == [("changed", "kw2", 1)]


def test_partitioned_output_without_its_column_fails_clearly(db_path: pathlib.Path) -> None:
    result = run(
        db_path,
        pd.DataFrame({"id": [1]}),
        partition="2024-01-01",
        write_mode="replace",
        partition_column="date",
    )
    assert not result.success
    error = failure_text(result)
    assert "partition_column" in error and "'date'" in error


def test_partitioned_asset_without_partition_column_metadata_fails_clearly(
    db_path: pathlib.Path,
) -> None:
    frame = pd.DataFrame({"id": [1], "date": [dt.date(2024, 1, 1)]})
    result = run(db_path, frame, partition="2024-01-01", write_mode="replace")
    assert not result.success
    error = failure_text(result)
    assert "partition_column" in error


def test_partition_column_given_as_strings_is_stored_as_date(db_path: pathlib.Path) -> None:
    frame = pd.DataFrame({"id": [1, 2], "date": ["2024-01-02", "2024-01-02"]})
    result = run(
        db_path, frame, partition="2024-01-02", write_mode="replace", partition_column="date"
    )
    assert result.success
    assert column_types(db_path)["date"] == "DATE"


def test_a_write_waits_for_another_process_to_release_the_lock(db_path: pathlib.Path) -> None:
    assert run(db_path, pd.DataFrame({"id": [1]}), write_mode="append").success
    with lock_held_by_another_process(db_path, seconds=1.0):
        started = time.monotonic()
        with pytest.raises(duckdb.IOException, match="lock"):
            duckdb.connect(str(db_path))
        result = run(db_path, pd.DataFrame({"id": [2]}), write_mode="append")
        waited = time.monotonic() - started

    assert result.success
    assert waited >= 0.5, "the write should have waited for the lock"
    con = duckdb.connect(str(db_path))
    try:
        assert con.execute("SELECT id FROM raw.things ORDER BY id").fetchall() == [(1,), (2,)]
    finally:
        con.close()


def test_the_lock_wait_is_bounded(db_path: pathlib.Path) -> None:
    assert run(db_path, pd.DataFrame({"id": [1]}), write_mode="append").success
    manager = DuckDBWarehouseIOManager(path=str(db_path), lock_timeout_seconds=0.3)
    with lock_held_by_another_process(db_path, seconds=3.0):
        started = time.monotonic()
        with pytest.raises(duckdb.IOException) as raised:
            manager.connect()
        assert time.monotonic() - started < 2.5
    assert is_lock_error(raised.value)
    assert not is_lock_error(duckdb.IOException("No such file or directory"))


def test_a_failed_chunk_rolls_back(db_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(db_path, pd.DataFrame({"id": [1, 2]}), write_mode="replace").success

    def failing_merge(*args: object, **kwargs: object) -> int:
        raise RuntimeError("merge failed")

    monkeypatch.setattr("support_assets.io_managers.duckdb.merge_into", failing_merge)
    chunk = pd.DataFrame({"id": [2, 3], "kind": ["y", "z"]})
    assert not run(db_path, chunk, write_mode="merge", primary_key=["id"]).success

    con = duckdb.connect(str(db_path))
    try:
        assert con.execute("SELECT id FROM raw.things ORDER BY id").fetchall() == [(1,), (2,)]
        columns = [r[0] for r in con.execute("DESCRIBE raw.things").fetchall()]
    finally:
        con.close()
    assert "kind" not in columns, "the added column must roll back with the failed chunk"
