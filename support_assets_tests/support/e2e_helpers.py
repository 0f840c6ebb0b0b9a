"""Plain helpers for the end-to-end tests: sandbox, temp warehouse, subprocesses, DuckDB reads.

Imported explicitly by the e2e test modules (no fixtures live here, so nothing is shared by
accident through a conftest).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pandas as pd

from support_assets.demo import DemoUI, dg_dev_argv

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS_DIR = REPO_ROOT / "test-artifacts"
VENV_BIN = Path(sys.executable).parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DAGSTER_YAML = "telemetry:\n  enabled: false\nnux:\n  enabled: false\n"
AUDIT_COLUMNS = ("_loaded_at", "_run_id")

# Settings a test environment must not inherit from the developer's shell.
_SETTING_PREFIXES = ("OCTADESK_", "SUPPORT_", "DAGSTER_")


def free_port() -> int:
    """A TCP port on loopback that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def venv_executable(name: str) -> str:
    """An entry point of the virtualenv running the tests (``dagster``, ``support-assets``)."""
    candidate = VENV_BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is neither in {VENV_BIN} nor on PATH")
    return found


# Sandbox -------------------------------------------------------------------------------------


@contextlib.contextmanager
def running_sandbox(**config: Any) -> Iterator[Any]:
    """An in-process sandbox (``SandboxServer``) with the given ``SandboxConfig`` fields."""
    from support_assets.sandbox.server import SandboxConfig, SandboxServer

    with SandboxServer(SandboxConfig(**config)) as server:
        yield server


def admin_get(sandbox_url: str, path: str) -> Any:
    """``GET /_admin/<path>`` as JSON."""
    response = httpx.get(f"{sandbox_url}/_admin/{path}", timeout=30)
    response.raise_for_status()
    return response.json()


def set_faults(sandbox_url: str, faults: Mapping[str, Any] | None) -> None:
    """``PUT /_admin/faults`` (or ``DELETE`` when ``faults`` is None)."""
    if faults is None:
        response = httpx.delete(f"{sandbox_url}/_admin/faults", timeout=10)
    else:
        response = httpx.put(f"{sandbox_url}/_admin/faults", json=dict(faults), timeout=10)
    response.raise_for_status()


def sandbox_truth(sandbox_url: str) -> dict[str, Any]:
    """The sandbox's ground truth (``tickets``, ``chats``, ``clock``, ...)."""
    return admin_get(sandbox_url, "octadesk/truth")


def truth_ids(truth: Mapping[str, Any], entity: str) -> set[str]:
    return {record["id"] for record in truth[entity]}


# Environment of a temporary deployment -------------------------------------------------------


@dataclass(frozen=True)
class Warehouse:
    """Where one temporary deployment keeps its state."""

    root: Path
    dagster_home: Path
    duckdb_path: Path
    lake: Path


def make_warehouse(root: Path) -> Warehouse:
    """Folders for a deployment: DAGSTER_HOME (telemetry and nux off), DuckDB file, lake."""
    root.mkdir(parents=True, exist_ok=True)
    home = root / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    lake = root / "lake"
    lake.mkdir(exist_ok=True)
    return Warehouse(root=root, dagster_home=home, duckdb_path=root / "warehouse.duckdb", lake=lake)


def deployment_env(
    warehouse: Warehouse, sandbox_url: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A subprocess environment pointing every setting at the sandbox and ``warehouse``."""
    from support_assets.core.sandbox_defaults import SANDBOX_OCTADESK_API_KEY

    env = {k: v for k, v in os.environ.items() if not k.startswith(_SETTING_PREFIXES)}
    env.update(
        {
            "DAGSTER_HOME": str(warehouse.dagster_home),
            "SUPPORT_DATA_DIR": str(warehouse.root / "data"),
            "SUPPORT_DUCKDB_PATH": str(warehouse.duckdb_path),
            "SUPPORT_LAKE_URL": str(warehouse.lake),
            "SUPPORT_SANDBOX_URL": sandbox_url,
            "OCTADESK_BASE_URL": f"{sandbox_url}/octadesk",
            "SUPPORT_PSEUDONYM_KEY": "test-pseudonym-key-0b7e",
            "OCTADESK_API_KEY": SANDBOX_OCTADESK_API_KEY,
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


# Processes -----------------------------------------------------------------------------------


def stop_process_group(proc: subprocess.Popen[Any], timeout: float = 20.0) -> int | None:
    """SIGTERM to the process group of ``proc`` (started with a new session), then SIGKILL."""
    if proc.poll() is not None:
        return proc.returncode
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(timeout=10)


def tail(path: Path, chars: int = 4000) -> str:
    """The end of a log file, for assertion messages."""
    try:
        return path.read_text(errors="replace")[-chars:]
    except FileNotFoundError:
        return f"<{path} missing>"


def run_materialize(
    env: Mapping[str, str],
    dagster_home: Path,
    log: Path,
    timeout: float = 120.0,
    select: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``support-assets materialize`` to completion; output goes to ``log``."""
    command = [
        venv_executable("support-assets"),
        "materialize",
        "--dagster-home",
        str(dagster_home),
    ]
    if select:
        command += ["--select", select]
    with log.open("w") as out:
        return subprocess.run(
            command,
            env=dict(env),
            cwd=dagster_home.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )


@dataclass
class DagsterDev:
    """A running ``dg dev``."""

    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``POST /graphql``; raises on transport or GraphQL errors."""
        return DemoUI(self.url).graphql(query, variables)


@contextlib.contextmanager
def dagster_dev(
    env: Mapping[str, str], cwd: Path, log: Path, timeout: float = 90.0
) -> Iterator[DagsterDev]:
    """``dg dev -m support_assets.definitions`` on a free port until the block ends."""
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            dg_dev_argv(venv_executable("dg"), port),
            env=dict(env),
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    dev = DagsterDev(proc=proc, url=f"http://127.0.0.1:{port}", log=log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise AssertionError(
                    f"dg dev exited with {proc.returncode} before answering:\n{tail(log)}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{dev.url}/server_info", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise AssertionError(f"dg dev did not answer in {timeout}s:\n{tail(log)}")
            time.sleep(0.5)
        yield dev
    finally:
        stop_process_group(proc, timeout=30)


# DuckDB reads --------------------------------------------------------------------------------


def _is_lock_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, duckdb.IOException) and ("lock" in text or "conflicting" in text)


@contextlib.contextmanager
def duckdb_readonly(path: Path, timeout: float = 30.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection, retried while another process holds the file's lock."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            con = duckdb.connect(str(path), read_only=True)
            break
        except duckdb.IOException as exc:
            if not _is_lock_error(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    try:
        yield con
    finally:
        con.close()


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    schema, name = table.split(".")
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? "
            "AND table_name = ?",
            [schema, name],
        ).fetchone()[0]
    )


def table_count(path: Path, table: str, timeout: float = 30.0) -> int | None:
    """Rows in ``schema.name``; None when the file or the table does not exist."""
    if not path.exists():
        return None
    with duckdb_readonly(path, timeout) as con:
        if not table_exists(con, table):
            return None
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def read_table(path: Path, table: str, timeout: float = 30.0) -> pd.DataFrame:
    """A whole table as a DataFrame (raises if it does not exist)."""
    with duckdb_readonly(path, timeout) as con:
        return con.execute(f"SELECT * FROM {table}").df()


def comparable(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """A table without audit columns, columns by name and rows by ``key``, for equality."""
    frame = frame.drop(columns=[c for c in AUDIT_COLUMNS if c in frame.columns])
    frame = frame[sorted(frame.columns)]
    return frame.sort_values(key, ignore_index=True)
