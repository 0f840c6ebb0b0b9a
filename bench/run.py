# ruff: noqa: T201 - a command-line benchmark reports on stdout
"""``make bench``: our loaders against the baselines, side by side, on this machine.

The sandbox runs in its own process (``bench/server.py``) with a page latency; every contender
runs in its own subprocess so its peak resident memory is its own (``os.wait4``'s rusage).
Each figure is the median of ``--runs`` runs. Every load is checked against the sandbox's
ground truth (row count, distinct ids, and a sample of records fetched one by one from the
simulator) before its time counts: a fast wrong answer fails the benchmark.

    .venv/bin/python bench/run.py            # the sizes the issue asks for (takes a while)
    .venv/bin/python bench/run.py --quick    # smaller sizes, one run each: a smoke run
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import httpx
from harness import (
    HERE,
    PYTHON,
    ROOT,
    ChildResult,
    Report,
    Row,
    Settings,
    free_port,
    fresh_dir,
    interleaved,
    median,
    render,
    run_child,
)

DLT_VENV = HERE / ".venv-dlt"
DLT_PYTHON = DLT_VENV / "bin" / "python"
DLT_LOCK = ROOT / "requirements" / "bench-dlt.txt"
SAMPLE_SIZE = 25


class Sandbox:
    """``bench/server.py`` in a subprocess, with its admin API."""

    def __init__(self, tickets: int, latency_ms: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [PYTHON, str(HERE / "server.py"), str(self.port), str(tickets), str(latency_ms)],
            cwd=ROOT,
        )
        self.admin = httpx.Client(base_url=f"{self.url}/_admin", timeout=600)
        deadline = time.monotonic() + 60
        while True:
            try:
                self.admin.get("/health").raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("the sandbox did not start") from None
                time.sleep(0.2)
        from support_assets.core.sandbox_defaults import SANDBOX_OCTADESK_API_KEY

        self.api_key = SANDBOX_OCTADESK_API_KEY
        self.api = httpx.Client(
            base_url=f"{self.url}/octadesk",
            headers={"X-API-KEY": self.api_key, "octa-agent-email": "bench@support-assets.local"},
            timeout=60,
        )

    def reset(self, tickets: int, latency_ms: int) -> None:
        self.admin.post(
            "/reset", json={"octadesk_tickets": tickets, "latency_ms": latency_ms}
        ).raise_for_status()

    def set_latency(self, latency_ms: int) -> None:
        self.admin.put("/faults", json={"latency_ms": latency_ms}).raise_for_status()

    def clear_stats(self) -> None:
        self.admin.delete("/stats").raise_for_status()

    def tickets_served(self) -> int:
        stats = self.admin.get("/stats").raise_for_status().json()
        return int(stats["records_served"].get("tickets", 0))

    def advance(self, update: int) -> dict[str, Any]:
        return (
            self.admin.post("/octadesk/advance", json={"update": update}).raise_for_status().json()
        )

    def total(self) -> int:
        response = self.api.get("/tickets", params={"limit": 1}).raise_for_status()
        return int(response.headers["X-Total-Items"])

    def ticket(self, number: int) -> dict[str, Any]:
        return self.api.get(f"/tickets/{number}").raise_for_status().json()

    def close(self) -> None:
        self.api.close()
        self.admin.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# ---- correctness ----------------------------------------------------------------------------


def _epoch_ms(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def check_load(
    sandbox: Sandbox, db: Path, table: str, status_column: str, numbers: list[int] | None = None
) -> int:
    """The table equals the sandbox: as many rows as tickets, ids distinct, a sample (random
    numbers plus ``numbers``) identical in id, status and updatedAt. Returns the row count."""
    total = sandbox.total()
    rng = random.Random(total)
    sample = sorted(
        set(rng.sample(range(1, total + 1), min(SAMPLE_SIZE, total))) | set(numbers or [])
    )
    with duckdb.connect(str(db), read_only=True) as con:
        count, distinct = con.execute(
            f"SELECT count(*), count(DISTINCT id) FROM {table}"
        ).fetchone()
        rows = con.execute(
            f"SELECT number, id, {status_column}, epoch_ms(updated_at) FROM {table} "
            f"WHERE number IN ({', '.join(str(n) for n in sample)})"
        ).fetchall()
    if count != total or distinct != total:
        raise AssertionError(f"{table}: {count} rows, {distinct} distinct ids; sandbox has {total}")
    stored = {int(n): (i, s, int(u)) for n, i, s, u in rows}
    for number in sample:
        truth = sandbox.ticket(number)
        expected = (truth["id"], truth["status"]["name"], _epoch_ms(truth["updatedAt"]))
        if stored.get(number) != expected:
            raise AssertionError(
                f"{table}: ticket {number} is {stored.get(number)}, sandbox says {expected}"
            )
    return count


# ---- contenders -----------------------------------------------------------------------------


def ours(s: Settings, sandbox: Sandbox, db: Path, home: Path, full_refresh: bool) -> ChildResult:
    out = db.with_suffix(".json")
    argv = [
        PYTHON,
        "ours.py",
        "--base-url",
        sandbox.url,
        "--api-key",
        sandbox.api_key,
        "--db",
        str(db),
        "--out",
        str(out),
        "--dagster-home",
        str(home),
        "--concurrency",
        str(s.concurrency),
        "--rate-limit",
        str(s.rate_limit),
    ]
    if full_refresh:
        argv.append("--full-refresh")
    return run_child(argv, out)


def plain(s: Settings, sandbox: Sandbox, db: Path) -> ChildResult:
    out = db.with_suffix(".json")
    argv = [
        PYTHON,
        "plain.py",
        "--base-url",
        sandbox.url,
        "--api-key",
        sandbox.api_key,
        "--db",
        str(db),
        "--out",
        str(out),
    ]
    return run_child(argv, out)


def dlt_rest(s: Settings, sandbox: Sandbox, db: Path, file_format: str) -> ChildResult:
    out = db.with_suffix(".json")
    argv = [
        str(DLT_PYTHON),
        "dlt_rest.py",
        "--base-url",
        sandbox.url,
        "--api-key",
        sandbox.api_key,
        "--db",
        str(db),
        "--out",
        str(out),
        "--format",
        file_format,
        "--pipelines-dir",
        str(db.parent / "dlt-pipelines"),
    ]
    return run_child(argv, out)


def ensure_dlt() -> None:
    """dlt lives in its own virtual environment, made on first use from its lock (hashes)."""
    if (
        DLT_PYTHON.exists()
        and subprocess.run(
            [str(DLT_PYTHON), "-c", "import dlt, duckdb"], capture_output=True
        ).returncode
        == 0
    ):
        return
    lock = DLT_LOCK.relative_to(ROOT)
    print(f"creating {DLT_VENV.relative_to(ROOT)} from {lock} (once)", flush=True)
    base = shutil.which("python3.11") or shutil.which("python3") or PYTHON
    subprocess.run([base, "-m", "venv", "--clear", str(DLT_VENV)], check=True)
    subprocess.run(
        [
            str(DLT_VENV / "bin" / "pip"),
            "install",
            "-q",
            "--disable-pip-version-check",
            "--require-hashes",
            "--no-deps",
            "-r",
            str(DLT_LOCK),
        ],
        check=True,
    )


# ---- the rows -------------------------------------------------------------------------------


def probe_limit(s: Settings, sandbox: Sandbox, pages: int) -> float:
    """Pages/s the simulator serves at our concurrency to a client that only reads the bytes."""
    out = s.work / "probe.json"
    argv = [
        PYTHON,
        "probe.py",
        "--base-url",
        sandbox.url,
        "--api-key",
        sandbox.api_key,
        "--db",
        "-",
        "--out",
        str(out),
        "--pages",
        str(pages),
        "--concurrency",
        str(s.concurrency),
    ]
    return float(run_child(argv, out).data["pages_per_second"])


def row_full_ingest(s: Settings, sandbox: Sandbox, report: Report) -> None:
    n = s.tickets
    print(f"[1] full ingest of {n:,} tickets, 100 a page, {s.latency_ms} ms a page", flush=True)

    def reset() -> None:
        sandbox.reset(n, s.latency_ms)

    def run_ours(i: int) -> ChildResult:
        reset()
        d = fresh_dir(s, f"ours-{i}")
        r = ours(s, sandbox, d / "warehouse.duckdb", d / "dagster", full_refresh=True)
        check_load(sandbox, d / "warehouse.duckdb", "raw.octadesk_tickets", "status")
        return r

    def run_plain(i: int) -> ChildResult:
        reset()
        d = fresh_dir(s, f"plain-{i}")
        r = plain(s, sandbox, d / "plain.duckdb")
        check_load(sandbox, d / "plain.duckdb", "tickets", "status")
        return r

    def run_dlt(file_format: str) -> Callable[[int], ChildResult]:
        def once(i: int) -> ChildResult:
            reset()
            d = fresh_dir(s, f"dlt-{file_format}-{i}")
            r = dlt_rest(s, sandbox, d / "dlt.duckdb", file_format)
            check_load(sandbox, d / "dlt.duckdb", "octadesk.tickets", "status__name")
            return r

        return once

    contenders = {
        "ours": ("ours", run_ours),
        "plain": ("plain loop", run_plain),
        "dlt_jsonl": ("dlt jsonl", run_dlt("jsonl")),
    }
    if not s.skip_dlt_default:
        contenders["dlt_default"] = ("dlt default", run_dlt("default"))
    results = interleaved(s, contenders)

    reset()
    limit_pages = probe_limit(s, sandbox, min(n // 100, 400))
    rates = {k: n / median([r.seconds for r in v]) for k, v in results.items()}
    rss = {k: median([r.peak_rss_mb for r in v]) for k, v in results.items()}
    report.raw["full_ingest"] = {
        k: [
            {"seconds": r.seconds, "wall": r.wall_seconds, "rss_mb": r.peak_rss_mb, **r.data}
            for r in v
        ]
        for k, v in results.items()
    }
    ours_rate = rates["ours"]
    for key, label in (
        ("dlt_jsonl", "dlt rest_api, jsonl"),
        ("dlt_default", "dlt rest_api, default"),
        ("plain", "sequential httpx + pandas, replace"),
    ):
        if key not in rates:
            continue
        report.rows.append(
            Row(
                f"1. full ingest {n:,} rows: rows/s",
                "ours",
                ours_rate,
                label,
                rates[key],
                "rows/s",
                ours_rate / rates[key],
                f"peak RSS ours {rss['ours']:.0f} MB, {label} {rss[key]:.0f} MB",
            )
        )
    limit_rows = limit_pages * 100
    report.rows.append(
        Row(
            f"1. full ingest {n:,} rows: vs physical limit",
            "ours",
            ours_rate,
            f"simulator limit at {s.concurrency} in flight",
            limit_rows,
            "rows/s",
            ours_rate / limit_rows,
            f"{limit_pages:.0f} pages/s served to a client that only reads bytes; "
            f"sequential ceiling {1000 / (s.latency_ms + 5) * 100:.0f} rows/s",
        )
    )
    report.raw["rss_small"] = rss["ours"]
    report.raw["plain_rss"] = rss["plain"]


def row_incremental(s: Settings, sandbox: Sandbox, report: Report) -> None:
    n = s.history
    change = max(1, n // 100)
    print(f"[2] incremental after a {n:,}-row history, {change:,} tickets changed", flush=True)
    full: list[ChildResult] = []
    incr: list[ChildResult] = []
    fetched_full: list[int] = []
    fetched_incr: list[int] = []
    runs = s.large_runs
    for i in range(runs):
        sandbox.reset(n, s.latency_ms)
        d = fresh_dir(s, f"incremental-{i}")
        db, home = d / "warehouse.duckdb", d / "dagster"
        sandbox.clear_stats()
        r = ours(s, sandbox, db, home, full_refresh=True)
        fetched_full.append(sandbox.tickets_served())
        check_load(sandbox, db, "raw.octadesk_tickets", "status")
        full.append(r)
        print(
            f"  full refresh {i + 1}/{runs}: {r.seconds:.2f} s, {fetched_full[-1]:,} fetched, "
            f"peak RSS {r.peak_rss_mb:.0f} MB",
            flush=True,
        )
        advanced = sandbox.advance(change)
        changed = [int(x) for x in advanced["updated"]][:SAMPLE_SIZE]
        sandbox.clear_stats()
        r = ours(s, sandbox, db, home, full_refresh=False)
        fetched_incr.append(sandbox.tickets_served())
        check_load(sandbox, db, "raw.octadesk_tickets", "status", numbers=changed)
        if r.data["records_fetched"] < change:
            raise AssertionError(f"incremental run fetched {r.data['records_fetched']} < {change}")
        incr.append(r)
        print(
            f"  incremental {i + 1}/{runs}: {r.seconds:.2f} s, {fetched_incr[-1]:,} fetched",
            flush=True,
        )
    t_full, t_incr = median([r.seconds for r in full]), median([r.seconds for r in incr])
    f_full, f_incr = median(fetched_full), median(fetched_incr)
    report.rows.append(
        Row(
            f"2. incremental, {change:,} of {n:,} changed: wall time",
            "incremental",
            t_incr,
            "full refresh",
            t_full,
            "s",
            t_incr / t_full,
            "goal: at most 5% of the full refresh",
            higher_is_better=False,
        )
    )
    report.rows.append(
        Row(
            f"2. incremental, {change:,} of {n:,} changed: rows fetched",
            "incremental",
            f_incr,
            "full refresh",
            f_full,
            "rows",
            f_incr / f_full,
            "counted by the simulator",
            higher_is_better=False,
        )
    )
    report.raw["incremental"] = {
        "full": [r.data | {"rss_mb": r.peak_rss_mb} for r in full],
        "incremental": [r.data | {"rss_mb": r.peak_rss_mb} for r in incr],
        "fetched_full": fetched_full,
        "fetched_incremental": fetched_incr,
    }
    report.raw["rss_large"] = median([r.peak_rss_mb for r in full])


def row_memory(s: Settings, report: Report) -> None:
    small, large = report.raw.get("rss_small"), report.raw.get("rss_large")
    if small is None or large is None:
        return
    report.rows.append(
        Row(
            f"3. peak RSS of a full refresh, {s.tickets:,} -> {s.history:,}",
            f"at {s.history:,}",
            large,
            f"at {s.tickets:,}",
            small,
            "MB",
            large / small,
            f"goal: under 500 MB, growth under 1.5x; the plain loop at {s.tickets:,}: "
            f"{report.raw['plain_rss']:.0f} MB",
            higher_is_better=False,
        )
    )


# ---- output ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, one run: a smoke run")
    parser.add_argument(
        "--runs", type=int, default=None, help="runs per figure (default 3, quick 1)"
    )
    parser.add_argument(
        "--large-runs",
        type=int,
        default=None,
        help="runs of the 1,000,000-row figures (default: --runs)",
    )
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=400.0,
        help="our client's requests/s ceiling (OCTADESK_RATE_LIMIT_PER_SECOND)",
    )
    parser.add_argument("--only", default="1,2,3,4,5", help="rows to run, e.g. 1,5")
    parser.add_argument(
        "--skip-dlt-default",
        action="store_true",
        help="skip dlt's default (insert-values) configuration: slow, several GB",
    )
    parser.add_argument("--work", default=None, help="scratch folder (default: a temp dir)")
    parser.add_argument("--json", default=str(HERE / "results.json"), help="raw results file")
    args = parser.parse_args()
    quick = args.quick
    work = Path(args.work or tempfile.mkdtemp(prefix="support-bench-"))
    s = Settings(
        runs=args.runs or (1 if quick else 3),
        large_runs=args.large_runs or args.runs or (1 if quick else 3),
        tickets=10_000 if quick else 100_000,
        history=50_000 if quick else 1_000_000,
        latency_ms=args.latency_ms,
        concurrency=args.concurrency,
        rate_limit=args.rate_limit,
        merge_table=100_000 if quick else 1_000_000,
        merge_changed=1_000 if quick else 10_000,
        events=5_000 if quick else 50_000,
        skip_dlt_default=args.skip_dlt_default,
        work=work,
    )
    only = {int(x) for x in args.only.split(",") if x.strip()}
    print(f"support_assets benchmarks: {os.cpu_count()} cores, scratch {work}", flush=True)
    report = Report(s)
    started = time.perf_counter()
    try:
        if only & {1, 2, 3}:
            if 1 in only or 3 in only:
                ensure_dlt()
            sandbox = Sandbox(s.tickets, s.latency_ms)
            try:
                if 1 in only or 3 in only:
                    row_full_ingest(s, sandbox, report)
                if 2 in only or 3 in only:
                    row_incremental(s, sandbox, report)
                if 3 in only:
                    row_memory(s, report)
            finally:
                sandbox.close()
        if 4 in only:
            from bench_queue import row_queue  # noqa: PLC0415

            row_queue(s, report)
        if 5 in only:
            from bench_merge import row_merge  # noqa: PLC0415

            row_merge(s, report)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    report.facts.append(f"total benchmark time {time.perf_counter() - started:.0f} s")
    table = render(report)
    print("\n" + table)
    Path(args.json).write_text(
        json.dumps(
            {
                "settings": {k: str(v) for k, v in vars(s).items()},
                "table": table,
                "raw": report.raw,
            },
            indent=2,
            default=str,
        )
    )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main())
