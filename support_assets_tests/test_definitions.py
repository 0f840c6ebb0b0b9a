"""The Definitions load, validate with Dagster's own CLI, and every asset is documented."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from dagster import AssetKey, AssetSpec, Definitions

from support_assets_tests.e2e_helpers import (
    REPO_ROOT,
    deployment_env,
    make_warehouse,
    venv_executable,
)

OCTADESK_KEYS = {
    AssetKey(["raw", "octadesk_tickets"]),
    AssetKey(["raw", "octadesk_chats"]),
    AssetKey(["raw", "octadesk_tickets_quarantine"]),
    AssetKey(["raw", "octadesk_chats_quarantine"]),
    AssetKey(["staging", "octadesk_tickets"]),
    AssetKey(["staging", "octadesk_chats"]),
}
LAYERS = ("raw", "staging", "marts")


@pytest.fixture(scope="module")
def defs() -> Definitions:
    from support_assets.definitions import defs

    return defs


@pytest.fixture(scope="module")
def specs(defs: Definitions) -> list[AssetSpec]:
    return list(defs.resolve_all_asset_specs())


def test_dagster_definitions_validate(tmp_path: Path) -> None:
    """``dagster definitions validate`` loads the code location and exits 0."""
    warehouse = make_warehouse(tmp_path)
    env = deployment_env(warehouse, "http://127.0.0.1:9")
    result = subprocess.run(
        [venv_executable("dagster"), "definitions", "validate", "-m", "support_assets.definitions"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Validation successful for code location support_assets.definitions" in output, output


def test_octadesk_assets_are_all_there(specs: list[AssetSpec]) -> None:
    keys = {spec.key for spec in specs}
    assert OCTADESK_KEYS <= keys, f"missing: {sorted(map(str, OCTADESK_KEYS - keys))}"
    octadesk = {spec.key for spec in specs if spec.group_name == "octadesk"}
    assert octadesk == OCTADESK_KEYS


def test_every_asset_is_documented(specs: list[AssetSpec]) -> None:
    """Group, description, owners, kinds, and a key in one of the layers."""
    assert specs
    problems: list[str] = []
    for spec in specs:
        name = spec.key.to_user_string()
        if spec.key.path[0] not in LAYERS or len(spec.key.path) < 2:
            problems.append(f"{name}: key outside raw/, staging/, marts/")
        if not spec.group_name or spec.group_name == "default":
            problems.append(f"{name}: no group")
        if not (spec.description or "").strip():
            problems.append(f"{name}: no description")
        if not spec.owners:
            problems.append(f"{name}: no owners")
        if not spec.kinds:
            problems.append(f"{name}: no kinds")
    assert not problems, "\n".join(problems)


def test_job_sensor_and_schedule(defs: Definitions) -> None:
    job = defs.resolve_job_def("octadesk_job")
    sensor = defs.resolve_sensor_def("octadesk_changes_sensor")
    schedule = defs.resolve_schedule_def("octadesk_daily_reconciliation")
    assert sensor.job_name == "octadesk_job"
    assert schedule.job_name == "octadesk_job"
    assert schedule.cron_schedule == "0 4 * * *"
    assert schedule.execution_timezone == "America/Sao_Paulo"
    selected = set(job.asset_layer.selected_asset_keys)
    assert selected == OCTADESK_KEYS


def test_a_real_deployment_never_uses_the_published_pseudonym_key() -> None:
    """With any real system configured, customer_key needs SUPPORT_PSEUDONYM_KEY (an EnvVar)."""
    from dagster import EnvVar

    from support_assets.definitions import pseudonym_resource
    from support_assets.identity import SANDBOX_PSEUDONYM_KEY

    assert pseudonym_resource({}).key == SANDBOX_PSEUDONYM_KEY
    for marker in ("OCTADESK_BASE_URL", "STOMP_HOST", "MONGODB_URI", "PLOOMES_BASE_URL"):
        key = pseudonym_resource({marker: "x"}).key
        assert key == EnvVar("SUPPORT_PSEUDONYM_KEY"), marker
