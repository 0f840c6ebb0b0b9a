"""A run killed partway (SIGKILL to the process, not an exception) and re-run ends identical to
an uninterrupted run of the same sandbox state."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from support_assets_tests.support.e2e_helpers import (
    admin_get,
    comparable,
    deployment_env,
    make_warehouse,
    read_table,
    run_materialize,
    running_sandbox,
    sandbox_truth,
    set_faults,
    table_count,
    tail,
    truth_ids,
    venv_executable,
)

# The Octadesk group only: the other sources have their own crash tests.
OCTADESK = "group:octadesk"
TICKETS = 12_000
CHATS = 20
LATENCY_MS = 100
# Kill once the sandbox has served this share of the tickets (listing is newest first): past the
# first 5,000-row chunk the Octadesk asset writes, so the killed run leaves a partial table.
KILL_AT_FRACTION = 0.6
# Plenty of requests a second: the load's pace is set by the sandbox's latency only.
FAST_CLIENT = {"OCTADESK_RATE_LIMIT_PER_SECOND": "500", "OCTADESK_MAX_CONCURRENCY": "4"}
TABLES = {
    "raw.octadesk_tickets": "id",
    "raw.octadesk_chats": "id",
    "staging.octadesk_tickets": "ticket_id",
    "staging.octadesk_chats": "chat_id",
}


def _tickets_served(sandbox_url: str) -> int:
    return int(admin_get(sandbox_url, "stats").get("records_served", {}).get("tickets", 0))


def _kill_partway(proc: subprocess.Popen[bytes], sandbox_url: str, log: Path) -> int:
    """SIGKILLs the run's process group once part of the tickets were served; its exit code."""
    deadline = time.monotonic() + 60
    threshold = int(TICKETS * KILL_AT_FRACTION)
    while _tickets_served(sandbox_url) < threshold:
        if proc.poll() is not None:
            pytest.fail(
                f"the first run ended (exit {proc.returncode}) before it could be killed "
                f"partway; make the load slower:\n{tail(log)}"
            )
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"the first run served fewer than {threshold} tickets in 60s:\n{tail(log)}")
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    return proc.wait(timeout=30)


@pytest.mark.slow
def test_killed_run_then_rerun_equals_uninterrupted_run(tmp_path: Path) -> None:
    with running_sandbox(seed=11, octadesk_tickets=TICKETS, octadesk_chats=CHATS) as sandbox:
        truth = sandbox_truth(sandbox.url)
        assert len(truth["tickets"]) == TICKETS

        # 1. A run killed while it is loading tickets.
        killed = make_warehouse(tmp_path / "killed")
        env = deployment_env(killed, sandbox.url, FAST_CLIENT)
        set_faults(sandbox.url, {"latency_ms": LATENCY_MS})
        first_log = tmp_path / "first-attempt.log"
        with first_log.open("wb") as out:
            proc = subprocess.Popen(
                [
                    venv_executable("support-assets"),
                    "materialize",
                    "--dagster-home",
                    str(killed.dagster_home),
                    "--select",
                    OCTADESK,
                ],
                env=env,
                cwd=killed.root,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            returncode = _kill_partway(proc, sandbox.url, first_log)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
        assert returncode == -signal.SIGKILL, tail(first_log)
        assert "materialization succeeded" not in tail(first_log)
        set_faults(sandbox.url, None)

        # It died partway: some ticket chunks committed (one transaction each), not all of
        # them, and nothing downstream of the tickets.
        raw_after_kill = table_count(killed.duckdb_path, "raw.octadesk_tickets")
        assert raw_after_kill is not None and 0 < raw_after_kill < TICKETS, raw_after_kill
        assert table_count(killed.duckdb_path, "staging.octadesk_tickets") is None

        # 2. The same deployment (instance and file) re-runs to completion.
        rerun = run_materialize(env, killed.dagster_home, tmp_path / "rerun.log", select=OCTADESK)
        assert rerun.returncode == 0, tail(tmp_path / "rerun.log")

        # 3. An uninterrupted run of the same sandbox state into a fresh deployment.
        clean = make_warehouse(tmp_path / "clean")
        clean_env = deployment_env(clean, sandbox.url, FAST_CLIENT)
        straight = run_materialize(
            clean_env, clean.dagster_home, tmp_path / "clean.log", select=OCTADESK
        )
        assert straight.returncode == 0, tail(tmp_path / "clean.log")
        assert sandbox_truth(sandbox.url)["clock"] == truth["clock"], "the sandbox changed"

        # 4. Both deployments hold the same tables, and those hold the sandbox's records.
        for table, key in TABLES.items():
            after_kill = read_table(killed.duckdb_path, table)
            uninterrupted = read_table(clean.duckdb_path, table)
            assert after_kill[key].is_unique, f"{table}: duplicate {key} after the re-run"
            pd.testing.assert_frame_equal(
                comparable(after_kill, key), comparable(uninterrupted, key), obj=table
            )
        assert set(read_table(killed.duckdb_path, "raw.octadesk_tickets")["id"]) == truth_ids(
            truth, "tickets"
        )
        assert set(read_table(killed.duckdb_path, "raw.octadesk_chats")["id"]) == truth_ids(
            truth, "chats"
        )
        staging_tickets = read_table(killed.duckdb_path, "staging.octadesk_tickets")
        assert set(staging_tickets["ticket_id"]) == truth_ids(truth, "tickets")
        assert sorted(staging_tickets["ticket_number"]) == sorted(
            t["number"] for t in truth["tickets"]
        )
