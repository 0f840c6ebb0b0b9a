"""DuckDB: an output holds one connection across its chunks and hands the file back in time.

Real DuckDB files; where the file lock matters, a real second process tries to open the file.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import duckdb
import pandas as pd
import pytest
from dagster import materialize

from support_assets.io_managers import DuckDBWarehouseIOManager, TableStream
from support_assets_tests.io_managers.backends import table_asset

CHUNK = 50


@pytest.fixture
def db_path(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "warehouse.duckdb"


def chunk(index: int) -> pd.DataFrame:
    ids = range(index * CHUNK, (index + 1) * CHUNK)
    return pd.DataFrame({"id": list(ids), "kind": [f"chunk-{index}"] * CHUNK})


def run(manager: DuckDBWarehouseIOManager, frames: object, **metadata: object):
    return materialize(
        [table_asset(lambda _: TableStream(frames), metadata=metadata)],
        resources={"io_manager": manager},
        raise_on_error=False,
    )


def stored_ids(path: pathlib.Path) -> list[int]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return [r[0] for r in con.execute("SELECT id FROM raw.things ORDER BY id").fetchall()]
    finally:
        con.close()


@pytest.fixture
def opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every time the IO manager opens the database file."""
    calls: list[str] = []
    original = DuckDBWarehouseIOManager.connect

    def counting(self: DuckDBWarehouseIOManager) -> duckdb.DuckDBPyConnection:
        calls.append(self.path)
        return original(self)

    monkeypatch.setattr(DuckDBWarehouseIOManager, "connect", counting)
    return calls


def open_from_another_process(path: pathlib.Path) -> subprocess.CompletedProcess[str]:
    """Open the file once, without waiting, from a separate process."""
    script = f"import duckdb; duckdb.connect({str(path)!r}).close(); print('opened')"
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("mode", ["append", "merge", "replace"])
def test_an_output_opens_the_file_once_within_its_hold_window(
    db_path: pathlib.Path, opens: list[str], mode: str
) -> None:
    manager = DuckDBWarehouseIOManager(path=str(db_path), hold_seconds=3600)
    result = run(manager, (chunk(i) for i in range(20)), write_mode=mode, primary_key=["id"])

    assert result.success
    assert len(opens) == 1, "chunks, finish and final count share one connection"
    assert stored_ids(db_path) == list(range(20 * CHUNK))
    wal = pathlib.Path(f"{db_path}.wal")
    assert not wal.exists() or wal.stat().st_size == 0, "the hand-back checkpoints"
    assert open_from_another_process(db_path).stdout.strip() == "opened"


def test_hold_zero_hands_the_file_back_after_every_chunk(
    db_path: pathlib.Path, opens: list[str]
) -> None:
    manager = DuckDBWarehouseIOManager(path=str(db_path), hold_seconds=0)
    result = run(manager, (chunk(i) for i in range(4)), write_mode="append")

    assert result.success
    assert len(opens) == 4 + 1, "one per chunk and one for the final count"
    assert stored_ids(db_path) == list(range(4 * CHUNK))


WAITER = textwrap.dedent(
    """
    import sys, time, duckdb
    from support_assets.io_managers import DuckDBWarehouseIOManager
    path = sys.argv[1]
    try:
        duckdb.connect(path).close()
        print("first attempt: opened", flush=True)
    except duckdb.IOException as exc:
        print("first attempt: locked" if "lock" in str(exc).lower() else repr(exc), flush=True)
    started = time.monotonic()
    con = DuckDBWarehouseIOManager(path=path, lock_timeout_seconds=120).connect()
    rows = con.execute("SELECT count(*) FROM raw.things").fetchone()[0]
    con.close()
    print(f"in after {time.monotonic() - started:.2f} s, saw {rows} rows", flush=True)
    """
)


def test_another_process_gets_in_during_a_long_output(db_path: pathlib.Path) -> None:
    """A second process, locked out while the output holds the file, opens it at a hand-back
    while the output is still being written; the output then carries on and completes."""
    manager = DuckDBWarehouseIOManager(path=str(db_path), hold_seconds=2.0)
    lines: list[str] = []
    produced: dict[str, bool] = {}
    waiter: dict[str, subprocess.Popen[str]] = {}

    def frames() -> Iterator[pd.DataFrame]:
        yield chunk(0)
        # Chunk 0 is committed and the output holds the file: start the second process.
        proc = subprocess.Popen(
            [sys.executable, "-c", WAITER, str(db_path)],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(pathlib.Path(__file__).resolve().parents[2])},
        )
        waiter["proc"] = proc
        assert proc.stdout is not None
        lines.append(proc.stdout.readline().strip())
        index = 1
        # Keep writing (slowly, as pages arrive) until the waiter is in; at most ~60 s.
        while proc.poll() is None and index < 1200:
            yield chunk(index)
            index += 1
            try:
                proc.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                continue
        produced["waiter_done_while_writing"] = proc.poll() is not None
        for extra in range(3):
            yield chunk(index + extra)

    result = run(manager, frames(), write_mode="append")
    proc = waiter["proc"]
    out, _ = proc.communicate(timeout=60)
    lines += out.strip().splitlines()

    assert result.success
    assert lines[0] == "first attempt: locked", lines
    assert lines[1].startswith("in after "), lines
    assert produced["waiter_done_while_writing"], "the waiter got in before the output ended"
    seen = int(lines[1].rsplit("saw ", 1)[1].split()[0])
    assert seen >= CHUNK, "the waiter saw the chunks committed before the hand-back"
    assert len(stored_ids(db_path)) > seen, "the output carried on after the waiter"


def test_a_failure_mid_output_releases_the_file_and_keeps_only_whole_chunks(
    db_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from support_assets.io_managers import duckdb as backend

    original = backend.merge_into
    calls = {"n": 0}

    def failing_third(*args: object, **kwargs: object) -> int:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("merge failed")
        return original(*args, **kwargs)

    monkeypatch.setattr(backend, "merge_into", failing_third)
    manager = DuckDBWarehouseIOManager(path=str(db_path), hold_seconds=3600)
    result = run(manager, (chunk(i) for i in range(5)), write_mode="merge", primary_key=["id"])

    assert not result.success
    assert open_from_another_process(db_path).stdout.strip() == "opened", "connection leaked"
    assert stored_ids(db_path) == list(range(2 * CHUNK)), "chunks 0-1 stay, chunk 2 rolls back"


def test_a_replace_failing_mid_output_keeps_the_old_rows_and_drops_its_staging(
    db_path: pathlib.Path,
) -> None:
    manager = DuckDBWarehouseIOManager(path=str(db_path), hold_seconds=3600)
    assert run(manager, [chunk(9)], write_mode="replace").success

    def failing() -> Iterator[pd.DataFrame]:
        yield chunk(0)
        yield chunk(1)
        raise RuntimeError("the source failed")

    assert not run(manager, failing(), write_mode="replace").success

    assert open_from_another_process(db_path).stdout.strip() == "opened", "connection leaked"
    assert stored_ids(db_path) == list(range(9 * CHUNK, 10 * CHUNK))
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
    finally:
        con.close()
    assert tables == ["things"], "the staging table is dropped"
