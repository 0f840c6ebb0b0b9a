# ruff: noqa: T201 - a command-line benchmark reports on stdout
"""What every benchmark row shares: the settings of a run, child processes measured on their own
(time and peak memory), interleaved runs, and the report printed side by side."""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHON = sys.executable
CONTENDERS = HERE / "contenders"


# ---- process helpers ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ChildResult:
    seconds: float  # the load as the contender timed it (imports excluded)
    wall_seconds: float  # the whole subprocess
    peak_rss_mb: float  # the subprocess's own peak resident memory (ru_maxrss)
    data: dict[str, Any]


def run_child(argv: list[str], out: Path, env: dict[str, str] | None = None) -> ChildResult:
    """Run one contender; its peak RSS comes from ``wait4`` (that child only)."""
    if out.exists():
        out.unlink()
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        cwd=CONTENDERS,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # Read output first (a full pipe would block the child), then reap it with wait4.
    output = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"{' '.join(argv[:2])} failed ({proc.returncode}):\n{output[-4000:]}")
    data = json.loads(out.read_text())
    return ChildResult(float(data.get("seconds", wall)), wall, usage.ru_maxrss / 1024, data)


@dataclass
class Settings:
    runs: int
    large_runs: int  # runs of the history-sized rows (2 and 3's large size)
    sandboxes: tuple[str, ...]  # "documented" and/or "divergent" (filters ignored, envelopes)
    tickets: int  # row 1 and the small size of row 3
    history: int  # rows 2 and the large size of row 3
    latency_ms: int
    concurrency: int
    rate_limit: float
    merge_table: int
    merge_changed: int
    events: int
    skip_dlt_default: bool
    work: Path


def fresh_dir(s: Settings, name: str) -> Path:
    path = s.work / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


@dataclass
class Row:
    name: str
    ours_label: str
    ours: float | None
    base_label: str
    base: float | None
    unit: str
    ratio: float | None
    note: str = ""
    higher_is_better: bool = True
    goal: str = ""  # what the issue asks of this row, e.g. ">= 9,000 rows/s"
    met: bool | None = None  # whether this run met it (None: no goal)


@dataclass
class Report:
    settings: Settings
    rows: list[Row] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)


def median(values: list[float]) -> float:
    return statistics.median(values)


def interleaved(
    s: Settings, contenders: dict[str, tuple[str, Callable[[int], ChildResult]]]
) -> dict[str, list[ChildResult]]:
    """Run i of every contender, then run i + 1 of every contender: the machine's noise (other
    work on the same cores) then falls on all of them alike."""
    results: dict[str, list[ChildResult]] = {key: [] for key in contenders}
    for i in range(s.runs):
        for key, (label, once) in contenders.items():
            result = once(i)
            results[key].append(result)
            print(
                f"  {label} run {i + 1}/{s.runs}: {result.seconds:.2f} s, "
                f"peak RSS {result.peak_rss_mb:.0f} MB",
                flush=True,
            )
    return results


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "not measured"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "MB":
        return f"{value:.0f} MB"
    if abs(value) >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:.2f} {unit}"


def render(report: Report) -> str:
    s = report.settings
    lines = [
        f"cores: {os.cpu_count()}; runs per figure: {s.runs} (rows 2-3 at the large size: "
        f"{s.large_runs}; median); page latency "
        f"{s.latency_ms} ms; ours tuned: concurrency {s.concurrency}, rate ceiling "
        f"{s.rate_limit:g}/s; ours with defaults: no setting given",
        "",
        "| row | ours | baseline | ratio (ours / baseline) | goal | notes |",
        "|---|---|---|---|---|---|",
    ]
    for row in report.rows:
        ratio = "n/a" if row.ratio is None else f"{row.ratio:.2f}x"
        verdict = {None: "", True: " **met**", False: " **missed**"}[row.met]
        lines.append(
            f"| {row.name} | {row.ours_label}: {fmt(row.ours, row.unit)} | {row.base_label}: "
            f"{fmt(row.base, row.unit)} | {ratio} | {row.goal}{verdict} | {row.note} |"
        )
    lines += [""] + [f"* {fact}" for fact in report.facts]
    return "\n".join(lines)
