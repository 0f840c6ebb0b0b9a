"""The crm group under the multiprocess executor, against Ploomes and Milvus simulators that
enforce their request limits with 429s: steps run side by side in their own processes, share
each API's budget, and every run succeeds."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from dagster import DagsterRunStatus, JobDefinition, execute_job, instance_for_test, reconstructable

from support_assets.definitions import build_definitions
from support_assets.sandbox.server import SandboxConfig

RUNS = 5
STEPS_AT_ONCE = 6


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(
        seed=29,
        octadesk_tickets=1,
        octadesk_chats=1,
        # Small enough that five whole runs fit the suite's time, large enough that every
        # step makes requests at the limit while the others do.
        ploomes_contacts=14,
        milvus_clients=10,
        crm_shared_clients=6,
        crm_invalid_documents=2,
        ploomes_tasks=8,
        ploomes_interactions=4,
        milvus_tickets=3,
        ploomes_rate_limit_per_second=2,  # what Ploomes allows public clients
        milvus_rate_limit_per_second=3,
    )


def crm_job() -> JobDefinition:
    """The job a run worker loads (module level, so each step process can reconstruct it)."""
    return build_definitions().resolve_job_def("crm_job")


@pytest.mark.slow
@pytest.mark.timeout(1800)  # five whole runs, a process per step each
def test_the_crm_group_succeeds_five_runs_out_of_five_under_the_multiprocess_executor(
    platform_env: dict[str, str],
    admin: httpx.Client,
    sandbox_config: SandboxConfig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PLOOMES_RATE_LIMIT_PER_SECOND", "2")
    monkeypatch.setenv("MILVUS_RATE_LIMIT_PER_SECOND", "3")
    outcomes = []
    for n in range(RUNS):
        # A fresh world and fresh stores: every run does the whole sync, creates included.
        admin.post("/reset", json=sandbox_config.to_dict()).raise_for_status()
        run_dir = tmp_path / f"run{n}"
        monkeypatch.setenv("SUPPORT_DATA_DIR", str(run_dir / "data"))
        monkeypatch.setenv("SUPPORT_DUCKDB_PATH", str(run_dir / "warehouse.duckdb"))
        monkeypatch.setenv("SUPPORT_RATE_LIMIT_STATE", str(tmp_path / "rate_limits.sqlite"))
        (run_dir / "dagster").mkdir(parents=True)
        (run_dir / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        with instance_for_test(temp_dir=str(run_dir / "dagster")) as instance:
            result = execute_job(
                reconstructable(crm_job),
                instance=instance,
                raise_on_error=False,
                # As many steps side by side as a bigger server runs, not just this machine's
                # core count (the multiprocess executor's default).
                run_config={"execution": {"config": {"max_concurrent": STEPS_AT_ONCE}}},
            )
            failures = [
                e.message
                for e in instance.all_logs(result.run_id)
                if e.dagster_event and e.dagster_event.is_step_failure
            ]
            outcomes.append((result.success, failures))
            run = instance.get_run_by_id(result.run_id)
            assert run is not None and run.status in (
                DagsterRunStatus.SUCCESS,
                DagsterRunStatus.FAILURE,
            )
        for system in ("ploomes", "milvus"):
            limit = admin.get(f"/{system}/stats").json()["rate_limit"]
            assert limit["requests_before_retry_after"] == 0, (n, system, limit)
    assert [ok for ok, _ in outcomes] == [True] * RUNS, outcomes
