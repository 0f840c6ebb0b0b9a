# ruff: noqa: T201 - a command-line benchmark reports on stdout
"""Row 5: merging changed rows into a large warehouse table.

DuckDB: the warehouse IO manager's merge (one Dagster materialization of a TableStream with
``write_mode: merge``) of ``merge_changed`` changed rows into a ``merge_table``-row table, versus
what a script without merge does, rewriting the whole table (``CREATE OR REPLACE``). Runs in a
subprocess so its peak memory is its own. BigQuery: the same merge through the BigQuery backend
on the local emulator, counting the jobs it sends (the emulator's own ``list_jobs``, by type).
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _frame(n: int, version: int, numbers: list[int] | None = None) -> Any:
    import numpy as np
    import pandas as pd

    numbers_arr = np.arange(n) if numbers is None else np.asarray(numbers)
    base = pd.Timestamp("2026-01-01", tz="UTC")
    return pd.DataFrame(
        {
            "id": [f"ticket-{i:08d}" for i in numbers_arr],
            "number": numbers_arr.astype("int64"),
            "status": [("Novo", "Pendente", "Resolvido")[(i + version) % 3] for i in numbers_arr],
            "updated_at": base + pd.to_timedelta(numbers_arr + version * 10_000_000, unit="s"),
            "record": [
                json.dumps(
                    {
                        "number": int(i),
                        "version": version,
                        "summary": "Pedido não chegou " * 8 + "x" * 120,
                    }
                )
                for i in numbers_arr
            ],
        }
    )


def _asset(value: Any):  # noqa: ANN202
    from dagster import asset

    @asset(
        name="merge_target",
        key_prefix=["bench"],
        metadata={"write_mode": "merge", "primary_key": ["id"]},
    )
    def merge_target() -> Any:
        return value

    return merge_target


def _materialize(io_manager: Any, value: Any) -> tuple[float, dict[str, Any], str]:
    from dagster import materialize

    started = time.perf_counter()
    result = materialize(
        [_asset(value)],
        resources={"io_manager": io_manager},
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    seconds = time.perf_counter() - started
    (event,) = result.asset_materializations_for_node("bench__merge_target")
    meta = {k: getattr(v, "value", v) for k, v in event.metadata.items()}
    return seconds, meta, result.run_id


def _chunks(frame: Any, size: int = 100_000) -> Any:
    from support_assets.io_managers import TableStream

    return TableStream([frame.iloc[i : i + size] for i in range(0, len(frame), size)])


def duckdb_child(table_rows: int, changed: int, runs: int, work: str, out: str) -> None:
    """In a subprocess: build the table once, then time ``runs`` merges and ``runs`` rewrites."""
    import duckdb

    from support_assets.io_managers.duckdb import DuckDBWarehouseIOManager

    path = os.path.join(work, "merge.duckdb")
    io_manager = DuckDBWarehouseIOManager(path=path)
    full = _frame(table_rows, 0)
    _materialize(io_manager, _chunks(full))
    merges, rewrites, statements = [], [], []
    for run in range(1, runs + 1):
        numbers = random.Random(run).sample(range(table_rows), changed)
        changes = _frame(table_rows, run, numbers)
        seconds, meta, _ = _materialize(io_manager, _chunks(changes))
        merges.append(seconds)
        statements.append(meta.get("chunks"))
        with duckdb.connect(path, read_only=True) as con:
            count = con.execute("SELECT count(*) FROM bench.merge_target").fetchone()[0]
            check = con.execute(
                "SELECT count(*) FROM bench.merge_target WHERE number IN "
                f"({', '.join(map(str, numbers[:500]))}) AND record LIKE ?",
                [f'%"version": {run}%'],
            ).fetchone()[0]
        if count != table_rows or check != min(500, changed):
            raise AssertionError(f"merge: {count} rows, {check} changed rows found")
        if meta["rows_updated"] != changed or meta["rows_inserted"] != 0:
            raise AssertionError(f"merge metadata: {meta['rows_updated']} updated")
        # The baseline: the script reloads the whole table with the changes applied.
        import pandas as pd

        updated = pd.concat([full.drop(index=numbers), changes], ignore_index=True)
        rewrite_path = os.path.join(work, "rewrite.duckdb")
        started = time.perf_counter()
        with duckdb.connect(rewrite_path) as con:
            con.execute("CREATE OR REPLACE TABLE merge_target AS SELECT * FROM updated")
        rewrites.append(time.perf_counter() - started)
        del updated
    with open(out, "w") as fh:
        json.dump({"merge_seconds": merges, "rewrite_seconds": rewrites}, fh)


def bigquery_counts(table_rows: int, changed: int, work: Path) -> dict[str, Any]:
    """The BigQuery backend's jobs for one merge of ``changed`` rows (on the emulator)."""
    from collections import Counter

    from dagster_gcp import BigQueryResource

    from support_assets.io_managers.bigquery import BigQueryWarehouseIOManager

    sys.path.insert(0, str(ROOT))  # tools/ drives the local services tests and benchmarks use
    from tools.bigquery_emulator import running_bigquery_emulator

    with running_bigquery_emulator(ROOT / ".bigquery") as emulator:
        for name in ("GOOGLE_APPLICATION_CREDENTIALS", "NO_GCE_CHECK", "BIGQUERY_EMULATOR_HOST"):
            os.environ[name] = emulator.env[name]
        io_manager = BigQueryWarehouseIOManager(
            bigquery=BigQueryResource(project=emulator.project), dataset_prefix="bench_"
        )
        started = time.perf_counter()
        _materialize(io_manager, _chunks(_frame(table_rows, 0)))
        build = time.perf_counter() - started
        numbers = random.Random(1).sample(range(table_rows), changed)
        # 100-row chunks, as pages arrive: the backend still sends one load and one MERGE.
        changes = _chunks(_frame(table_rows, 1, numbers), size=100)
        seconds, meta, run_id = _materialize(io_manager, changes)
        client = emulator.client()
        kinds: Counter = Counter()
        for job in client.list_jobs(all_users=True):
            if (job.labels or {}).get("dagster_run_id") == run_id:
                kinds[job.job_type if job.job_type == "load" else job.statement_type] += 1
        count = list(
            client.query(
                f"SELECT count(*) AS n FROM `{emulator.project}.bench_bench.merge_target`"
            ).result()
        )[0]["n"]
        if count != table_rows or meta["rows_updated"] != changed:
            raise AssertionError(f"bigquery merge: {count} rows, {meta['rows_updated']} updated")
        return {
            "table_rows": table_rows,
            "changed": changed,
            "chunks": meta["chunks"],
            "load_jobs": meta.get("load_jobs"),
            "merge_statements": meta.get("merge_statements"),
            "jobs_by_kind": dict(kinds),
            "jobs_total": sum(kinds.values()),
            "merge_seconds": seconds,
            "build_seconds": build,
        }


def row_merge(s: Any, report: Any) -> None:
    import statistics

    from harness import PYTHON, Row, run_child

    n, k = s.merge_table, s.merge_changed
    print(f"[5] merging {k:,} changed rows into a {n:,}-row table", flush=True)
    work = s.work / "merge"
    work.mkdir(parents=True, exist_ok=True)
    out = work / "merge.json"
    result = run_child(
        [PYTHON, str(Path(__file__)), "duckdb", str(n), str(k), str(s.runs), str(work), str(out)],
        out,
    )
    merge = statistics.median(result.data["merge_seconds"])
    rewrite = statistics.median(result.data["rewrite_seconds"])
    print(
        f"  merge {result.data['merge_seconds']} s, rewrite {result.data['rewrite_seconds']} s",
        flush=True,
    )
    report.rows.append(
        Row(
            f"5. DuckDB: merge {k:,} changed rows into {n:,}",
            "IO manager merge",
            merge,
            "rewrite the whole table",
            rewrite,
            "s",
            merge / rewrite,
            f"one Dagster materialization, run overhead included; peak RSS of the process "
            f"(table build included) {result.peak_rss_mb:.0f} MB",
            higher_is_better=False,
        )
    )
    report.raw["merge_duckdb"] = result.data | {"rss_mb": result.peak_rss_mb}
    bq_rows = int(os.environ.get("BENCH_BIGQUERY_TABLE_ROWS", min(n, 100_000)))
    try:
        counts = bigquery_counts(bq_rows, k, s.work)
    except Exception as exc:  # noqa: BLE001 - reported in the table, not hidden
        report.rows.append(
            Row(
                "5. BigQuery: jobs for the same merge",
                "jobs",
                None,
                "",
                None,
                "jobs",
                None,
                f"not measured: {type(exc).__name__}: {exc}"[:300],
            )
        )
        return
    report.raw["merge_bigquery"] = counts
    kinds = ", ".join(f"{v} {key}" for key, v in sorted(counts["jobs_by_kind"].items()))
    report.rows.append(
        Row(
            f"5. BigQuery (emulator): jobs to merge {k:,} rows into {bq_rows:,}",
            "jobs",
            counts["jobs_total"],
            f"chunks ({k:,} rows in 100-row pages)",
            counts["chunks"],
            "",
            counts["jobs_total"] / counts["chunks"],
            f"{kinds}; metadata: {counts['load_jobs']} load job(s), {counts['merge_statements']} "
            f"MERGE statement(s); {counts['merge_seconds']:.1f} s on the emulator",
            higher_is_better=False,
        )
    )


if __name__ == "__main__":
    if sys.argv[1] == "duckdb":
        duckdb_child(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6])
