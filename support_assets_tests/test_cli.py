"""``support-assets materialize`` (what ``make materialize`` runs) reports failure by exit code."""

from __future__ import annotations

from pathlib import Path

from support_assets_tests.support.e2e_helpers import (
    deployment_env,
    make_warehouse,
    run_materialize,
    running_sandbox,
    tail,
)


def test_materialize_exits_non_zero_and_names_the_failed_step(tmp_path: Path) -> None:
    with running_sandbox(octadesk_tickets=30, octadesk_chats=10) as sandbox:
        warehouse = make_warehouse(tmp_path / "deployment")
        env = deployment_env(warehouse, sandbox.url, {"OCTADESK_API_KEY": "not-the-key-7731"})
        log = tmp_path / "materialize.log"
        result = run_materialize(env, warehouse.dagster_home, log, select="group:octadesk")
        output = tail(log, 200_000)
        assert result.returncode == 1, output
        assert "FAILED octadesk_raw_tickets" in output
        assert "materialization FAILED" in output
        assert "not-the-key-7731" not in output

        good = deployment_env(warehouse, sandbox.url)
        rerun = run_materialize(good, warehouse.dagster_home, log, select="group:octadesk")
        assert rerun.returncode == 0, tail(log)
        assert "materialization succeeded" in log.read_text()
