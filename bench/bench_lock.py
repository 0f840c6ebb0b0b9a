# ruff: noqa: T201 - a command-line benchmark reports on stdout
"""Row 5, continued: the DuckDB IO manager's hold window, what it saves and what it costs others.

In one subprocess: load ``merge_table`` rows through the IO manager in Octadesk's 5,000-row
chunks (``write_mode: merge``) while a second process keeps opening the same file (the IO
manager's own ``connect``, which polls while the file is locked) and records how long each
attempt waited; then merge ``merge_changed`` scattered changed rows, in 5,000-row chunks, with
the default hold window and with ``hold_seconds=0`` (a checkpoint and a hand-back after every
chunk, as before the hold window existed), interleaved.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CHUNK_ROWS = 5_000  # support_assets.sources.octadesk.extraction.CHUNK_ROWS

PROBE = """
import json, random, sys, time
import duckdb
from pathlib import Path
from support_assets.io_managers import DuckDBWarehouseIOManager
path, stop, out = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
manager = DuckDBWarehouseIOManager(path=path, lock_timeout_seconds=600)
waits = []
print("ready", flush=True)
while not stop.exists():
    started = time.monotonic()
    try:
        duckdb.connect(path).close()
        locked = False
    except duckdb.IOException as exc:
        if "lock" not in str(exc).lower():
            raise
        manager.connect().close()  # polls while the file is locked
        locked = True
    waits.append([time.monotonic() - started, locked])
    time.sleep(random.uniform(0.05, 0.3))
Path(out).write_text(json.dumps(waits))
"""


def _counting_opens() -> list[int]:
    """Count every time a DuckDB IO manager in this process opens its file."""
    from support_assets.io_managers.duckdb import DuckDBWarehouseIOManager

    opens = [0]
    original = DuckDBWarehouseIOManager.connect

    def connect(self: Any) -> Any:
        opens[0] += 1
        return original(self)

    DuckDBWarehouseIOManager.connect = connect  # type: ignore[method-assign]
    return opens


def _load_with_probe(io_manager: Any, table_rows: int, work: str) -> dict[str, Any]:
    """The full load, with a second process probing the lock; its waits and the load's opens."""
    from bench_merge import _frame, _materialize

    from support_assets.io_managers import TableStream

    opens = _counting_opens()
    stop, out = Path(work, "probe.stop"), Path(work, "probe.json")
    stop.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    probe = subprocess.Popen(
        [sys.executable, "-c", PROBE, io_manager.path, str(stop), str(out)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    if probe.stdout is None or probe.stdout.readline().strip() != "ready":
        raise RuntimeError("the probing process did not start")
    try:
        frames = (
            _frame(
                min(CHUNK_ROWS, table_rows - start),
                0,
                list(range(start, min(start + CHUNK_ROWS, table_rows))),
            )
            for start in range(0, table_rows, CHUNK_ROWS)
        )
        seconds, meta, _ = _materialize(io_manager, TableStream(frames))
    finally:
        stop.touch()
        probe.wait(timeout=600)
    waits = json.loads(out.read_text())
    if meta["dagster/row_count"] != table_rows:
        raise AssertionError(f"load: {meta['dagster/row_count']} rows")
    return {"load_seconds": seconds, "load_opens": opens[0], "waits": waits}


def lock_child(table_rows: int, changed: int, runs: int, work: str, out: str) -> None:
    """In a subprocess: the probed load, then ``runs`` merges with the hold window and without."""
    from bench_merge import _frame, _materialize

    from support_assets.io_managers import TableStream
    from support_assets.io_managers.duckdb import DuckDBWarehouseIOManager

    path = os.path.join(work, "lock.duckdb")
    for name in (path, path + ".wal"):
        if os.path.exists(name):
            os.remove(name)
    held = DuckDBWarehouseIOManager(path=path)
    result = _load_with_probe(held, table_rows, work) | {"hold_seconds": held.hold_seconds}
    per_chunk = DuckDBWarehouseIOManager(path=path, hold_seconds=0)
    timings: dict[str, list[float]] = {"held": [], "per_chunk": []}
    for run in range(1, runs + 1):
        for label, manager in (("per_chunk", per_chunk), ("held", held)):
            version = 2 * run + (label == "held")
            numbers = random.Random(version).sample(range(table_rows), changed)
            changes = _frame(table_rows, version, numbers)
            frames = [changes.iloc[i : i + CHUNK_ROWS] for i in range(0, changed, CHUNK_ROWS)]
            seconds, meta, _ = _materialize(manager, TableStream(frames))
            if meta["rows_updated"] != changed:
                raise AssertionError(f"merge: {meta['rows_updated']} updated")
            timings[label].append(seconds)
    result |= {
        "merge_held_seconds": timings["held"],
        "merge_per_chunk_seconds": timings["per_chunk"],
    }
    result["chunks"] = -(-changed // CHUNK_ROWS)
    Path(out).write_text(json.dumps(result))


def row_lock_waits(s: Any, report: Any) -> None:
    """Rows printed: the lock waits during a chunked load (with the hold window), and an
    incremental merge with the hold window against a hand-back per chunk."""
    from harness import PYTHON, Row, run_child

    n, k = s.merge_table, s.merge_changed
    print(f"[5] DuckDB hold window: lock waits during a {n:,}-row chunked load", flush=True)
    work = s.work / "lock"
    work.mkdir(parents=True, exist_ok=True)
    out = work / "lock.json"
    argv = [PYTHON, str(Path(__file__)), str(n), str(k), str(s.runs), str(work), str(out)]
    data = run_child(argv, out).data
    hold = data["hold_seconds"]
    waits = [wait for wait, _ in data["waits"]]
    locked = [wait for wait, was_locked in data["waits"] if was_locked]
    print(
        f"  load {data['load_seconds']:.1f} s, {data['load_opens']} opens; hold {hold:g} s; "
        f"{len(waits)} attempts, median wait {statistics.median(waits):.2f} s, max "
        f"{max(waits):.2f} s",
        flush=True,
    )
    report.rows.append(
        Row(
            f"5. DuckDB: another process waiting for the file during a {n:,}-row load",
            "longest wait",
            max(waits),
            "hold window",
            hold,
            "s",
            max(waits) / hold if hold else None,
            f"{len(waits)} attempts from a second process, {len(locked)} found the file locked; "
            f"median wait {statistics.median(waits):.2f} s (of the locked ones "
            f"{statistics.median(locked) if locked else 0:.2f} s); the load ({n // CHUNK_ROWS} "
            f"chunks, {data['load_seconds']:.1f} s) opened the file {data['load_opens']} times",
            higher_is_better=False,
        )
    )
    held, per_chunk = data["merge_held_seconds"], data["merge_per_chunk_seconds"]
    print(f"  merge: hold {hold:g} s {held} s, hold 0 {per_chunk} s", flush=True)
    report.rows.append(
        Row(
            f"5. DuckDB: merge {k:,} changed rows into {n:,} in {CHUNK_ROWS:,}-row chunks",
            f"hold {hold:g} s (one checkpoint)",
            statistics.median(held),
            f"hold 0 (a checkpoint per chunk, {data['chunks']})",
            statistics.median(per_chunk),
            "s",
            statistics.median(held) / statistics.median(per_chunk),
            "one Dagster materialization each, interleaved; changed rows scattered over the table",
            higher_is_better=False,
        )
    )
    report.raw["duckdb_lock"] = data


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(ROOT))
    lock_child(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
