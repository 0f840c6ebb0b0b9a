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
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness import (
    HERE,
    ChildResult,
    Report,
    Row,
    Settings,
    fresh_dir,
    interleaved,
    median,
    render,
)
from octadesk_loads import (
    SAMPLE_SIZE,
    Sandbox,
    check_load,
    dlt_rest,
    ensure_dlt,
    ours,
    plain,
    probe_limit,
)

FULL_INGEST_GOAL = 9_000  # rows/s
LIMIT_SHARE_GOAL = 0.75
DEFAULTS_GOAL = 0.90  # the defaults within 10% of the tuned figure
INCREMENTAL_GOAL = 0.05
RSS_GOAL_MB = 400
RSS_GROWTH_GOAL = 1.2


def row_full_ingest(s: Settings, sandbox: Sandbox, report: Report, kind: str) -> None:
    """Row 1 on one sandbox (``documented`` or ``divergent``): ours tuned and with its
    defaults against the bytes-only limit; on the documented one, dlt and the plain loop too
    (their configurations follow the docs: the divergent tenant's envelopes and missing
    headers are not theirs to handle)."""
    n, divergent = s.tickets, kind == "divergent"
    print(f"[1] full ingest of {n:,} tickets on the {kind} sandbox, {s.latency_ms} ms a page")

    def reset() -> None:
        sandbox.reset(n, s.latency_ms, divergent=divergent)

    def run_ours(defaults: bool) -> Callable[[int], ChildResult]:
        def once(i: int) -> ChildResult:
            reset()
            d = fresh_dir(s, f"ours-{kind}-{'defaults' if defaults else 'tuned'}-{i}")
            db = d / "warehouse.duckdb"
            r = ours(s, sandbox, db, d / "dagster", full_refresh=True, defaults=defaults)
            check_load(sandbox, db, "raw.octadesk_tickets", "status")
            return r

        return once

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
        "ours": ("ours", run_ours(False)),
        "ours_defaults": ("ours with defaults", run_ours(True)),
    }
    if not divergent:
        contenders["plain"] = ("plain loop", run_plain)
        contenders["dlt_jsonl"] = ("dlt jsonl", run_dlt("jsonl"))
        if not s.skip_dlt_default:
            contenders["dlt_default"] = ("dlt default", run_dlt("default"))
    results = interleaved(s, contenders)

    reset()
    limit_pages = probe_limit(s, sandbox, min(n // 100, 400))
    rates = {k: n / median([r.seconds for r in v]) for k, v in results.items()}
    rss = {k: median([r.peak_rss_mb for r in v]) for k, v in results.items()}
    report.raw[f"full_ingest_{kind}"] = {
        k: [
            {"seconds": r.seconds, "wall": r.wall_seconds, "rss_mb": r.peak_rss_mb, **r.data}
            for r in v
        ]
        for k, v in results.items()
    }
    name = f"1. full ingest {n:,} rows, {kind}: rows/s"
    ours_rate = rates["ours"]
    for key, label, goal in (
        ("dlt_jsonl", "dlt rest_api, jsonl", 4.0),
        ("dlt_default", "dlt rest_api, default", 4.0),
        ("plain", "sequential httpx + pandas, replace", 2.5),
    ):
        if key in rates:
            ratio = ours_rate / rates[key]
            report.rows.append(
                Row(
                    name, "ours", ours_rate, label, rates[key], "rows/s", ratio,
                    f"peak RSS ours {rss['ours']:.0f} MB, {label} {rss[key]:.0f} MB",
                    goal=f">= {FULL_INGEST_GOAL:,} rows/s and >= {goal:g}x",
                    met=ours_rate >= FULL_INGEST_GOAL and ratio >= goal,
                )
            )  # fmt: skip
    limit_rows = limit_pages * 100
    report.rows.append(
        Row(
            name, "ours", ours_rate, f"bytes-only client at {s.concurrency} in flight",
            limit_rows, "rows/s", ours_rate / limit_rows,
            f"{limit_pages:.0f} pages/s served to a client that only reads bytes",
            goal=f">= {LIMIT_SHARE_GOAL:.0%} of the limit",
            met=ours_rate / limit_rows >= LIMIT_SHARE_GOAL,
        )
    )  # fmt: skip
    defaults_ratio = rates["ours_defaults"] / ours_rate
    report.rows.append(
        Row(
            name, "ours with defaults", rates["ours_defaults"], "ours tuned", ours_rate,
            "rows/s", defaults_ratio,
            f"no rate or concurrency setting; peak RSS {rss['ours_defaults']:.0f} MB",
            goal=f">= {DEFAULTS_GOAL:.0%} of tuned", met=defaults_ratio >= DEFAULTS_GOAL,
        )
    )  # fmt: skip
    report.raw.setdefault("rss_small", {})[kind] = rss["ours"]
    if "plain" in rss:
        report.raw["plain_rss"] = rss["plain"]


def _incremental_once(
    s: Settings, sandbox: Sandbox, kind: str, i: int, change: int
) -> tuple[ChildResult, ChildResult, int, int]:
    """One full refresh of ``s.history`` tickets, ``change`` of them updated, then one
    incremental run; both checked. Returns both results and the rows each fetched."""
    n = s.history
    sandbox.reset(n, s.latency_ms, divergent=kind == "divergent")
    d = fresh_dir(s, f"incremental-{kind}-{i}")
    db, home = d / "warehouse.duckdb", d / "dagster"
    sandbox.clear_stats()
    full = ours(s, sandbox, db, home, full_refresh=True)
    fetched_full = sandbox.tickets_served()
    check_load(sandbox, db, "raw.octadesk_tickets", "status")
    print(
        f"  {kind} full refresh {i + 1}/{s.large_runs}: {full.seconds:.2f} s, "
        f"{fetched_full:,} fetched, peak RSS {full.peak_rss_mb:.0f} MB",
        flush=True,
    )
    advanced = sandbox.advance(change)
    changed = [int(x) for x in advanced["updated"]][:SAMPLE_SIZE]
    sandbox.clear_stats()
    incr = ours(s, sandbox, db, home, full_refresh=False)
    fetched_incr = sandbox.tickets_served()
    check_load(sandbox, db, "raw.octadesk_tickets", "status", numbers=changed)
    if incr.data["records_fetched"] < change:
        raise AssertionError(f"incremental run fetched {incr.data['records_fetched']} < {change}")
    print(
        f"  {kind} incremental {i + 1}/{s.large_runs}: {incr.seconds:.2f} s, "
        f"{fetched_incr:,} fetched",
        flush=True,
    )
    return full, incr, fetched_full, fetched_incr


def row_incremental(s: Settings, sandbox: Sandbox, report: Report, kind: str) -> None:
    n = s.history
    change = max(1, n // 100)
    print(f"[2] incremental after a {n:,}-row history on the {kind} sandbox, {change:,} changed")
    runs = [_incremental_once(s, sandbox, kind, i, change) for i in range(s.large_runs)]
    t_full, t_incr = median([r[0].seconds for r in runs]), median([r[1].seconds for r in runs])
    f_full, f_incr = median([r[2] for r in runs]), median([r[3] for r in runs])
    name = f"2. incremental, {change:,} of {n:,} changed, {kind}"
    report.rows.append(
        Row(
            f"{name}: wall time", "incremental", t_incr, "full refresh", t_full, "s",
            t_incr / t_full, "one Dagster run each, start-up included",
            higher_is_better=False, goal=f"<= {INCREMENTAL_GOAL:.0%}",
            met=t_incr / t_full <= INCREMENTAL_GOAL,
        )
    )  # fmt: skip
    report.rows.append(
        Row(
            f"{name}: rows fetched", "incremental", f_incr, "full refresh", f_full, "rows",
            f_incr / f_full, "counted by the simulator", higher_is_better=False,
        )
    )  # fmt: skip
    report.raw[f"incremental_{kind}"] = {
        "full": [r[0].data | {"rss_mb": r[0].peak_rss_mb} for r in runs],
        "incremental": [r[1].data | {"rss_mb": r[1].peak_rss_mb} for r in runs],
        "fetched_full": [r[2] for r in runs],
        "fetched_incremental": [r[3] for r in runs],
    }
    report.raw.setdefault("rss_large", {})[kind] = median([r[0].peak_rss_mb for r in runs])


def row_memory(s: Settings, report: Report) -> None:
    for kind in s.sandboxes:
        small = report.raw.get("rss_small", {}).get(kind)
        large = report.raw.get("rss_large", {}).get(kind)
        if small is None or large is None:
            continue
        plain_rss = report.raw.get("plain_rss")
        report.rows.append(
            Row(
                f"3. peak RSS of a full refresh, {s.tickets:,} -> {s.history:,}, {kind}",
                f"at {s.history:,}", large, f"at {s.tickets:,}", small, "MB", large / small,
                "" if plain_rss is None else f"the plain loop at {s.tickets:,}: {plain_rss:.0f} MB",
                higher_is_better=False,
                goal=f"<= {RSS_GOAL_MB} MB at {s.tickets:,}, growth <= {RSS_GROWTH_GOAL}x",
                met=small <= RSS_GOAL_MB and large / small <= RSS_GROWTH_GOAL,
            )
        )  # fmt: skip


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
        "--sandboxes",
        default="documented,divergent",
        help="rows 1-3 on these sandboxes: documented, divergent (filters ignored, envelopes, "
        "no total headers)",
    )
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
        sandboxes=tuple(k.strip() for k in args.sandboxes.split(",") if k.strip()),
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
    unknown = set(s.sandboxes) - {"documented", "divergent"}
    if unknown:
        parser.error(f"--sandboxes: unknown {sorted(unknown)}; documented and divergent exist")
    print(f"support_assets benchmarks: {os.cpu_count()} cores, scratch {work}", flush=True)
    report = Report(s)
    started = time.perf_counter()
    try:
        if only & {1, 2, 3}:
            if 1 in only or 3 in only:
                ensure_dlt()
            sandbox = Sandbox(s.tickets, s.latency_ms)
            try:
                for kind in s.sandboxes:
                    if 1 in only or 3 in only:
                        row_full_ingest(s, sandbox, report, kind)
                for kind in s.sandboxes:
                    if 2 in only or 3 in only:
                        row_incremental(s, sandbox, report, kind)
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
            from bench_lock import row_lock_waits  # noqa: PLC0415

            row_lock_waits(s, report)
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
