# ruff: noqa: T201 - a command-line benchmark reports on stdout
"""The Octadesk-shaped sandbox of rows 1-3 and the loaders that run against it: the sandbox in its
own process with its admin API, the correctness check every load passes before its time counts,
and one launcher per contender (each in its own subprocess)."""

from __future__ import annotations

import datetime as dt
import random
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import duckdb
import httpx
from harness import HERE, PYTHON, ROOT, ChildResult, Settings, free_port, run_child

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

    def reset(self, tickets: int, latency_ms: int, divergent: bool = False) -> None:
        """A fresh world of ``tickets``; ``divergent``: filters ignored (sort kept), lists in
        envelopes, numbers as text, no total headers, as real tenants answer."""
        self.admin.post(
            "/reset",
            json={"octadesk_tickets": tickets, "latency_ms": latency_ms, "divergent": divergent},
        ).raise_for_status()
        self.tickets = tickets

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
        """The simulator's ticket count: its header, or (a divergent tenant sends none) the count
        it was reset with, which ``advance`` (updates only) keeps."""
        response = self.api.get("/tickets", params={"limit": 1}).raise_for_status()
        header = response.headers.get("X-Total-Items")
        return int(header) if header is not None else self.tickets

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


def _load(
    python: str | Path, script: str, sandbox: Sandbox, db: str, out: Path, *extra: str
) -> ChildResult:
    """One contender's run against ``sandbox`` (the arguments every contender takes, then its
    own), measured by ``run_child``."""
    argv = [str(python), script, "--base-url", sandbox.url, "--api-key", sandbox.api_key]
    return run_child([*argv, "--db", db, "--out", str(out), *extra], out)


def ours(
    s: Settings, sandbox: Sandbox, db: Path, home: Path, full_refresh: bool, defaults: bool = False
) -> ChildResult:
    """The platform's load; ``defaults``: no concurrency or rate setting, as a user gets it."""
    extra = ["--dagster-home", str(home)]
    if not defaults:
        extra += ["--concurrency", str(s.concurrency), "--rate-limit", str(s.rate_limit)]
    if full_refresh:
        extra.append("--full-refresh")
    return _load(PYTHON, "ours.py", sandbox, str(db), db.with_suffix(".json"), *extra)


def plain(s: Settings, sandbox: Sandbox, db: Path) -> ChildResult:
    return _load(PYTHON, "plain.py", sandbox, str(db), db.with_suffix(".json"))


def dlt_rest(s: Settings, sandbox: Sandbox, db: Path, file_format: str) -> ChildResult:
    pipelines = str(db.parent / "dlt-pipelines")
    extra = ("--format", file_format, "--pipelines-dir", pipelines)
    return _load(DLT_PYTHON, "dlt_rest.py", sandbox, str(db), db.with_suffix(".json"), *extra)


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


def probe_limit(s: Settings, sandbox: Sandbox, pages: int) -> float:
    """Pages/s the simulator serves at our concurrency to a client that only reads the bytes."""
    extra = ("--pages", str(pages), "--concurrency", str(s.concurrency))
    result = _load(PYTHON, "probe.py", sandbox, "-", s.work / "probe.json", *extra)
    return float(result.data["pages_per_second"])
