"""The Definitions load, validate with Dagster's own CLI, and every asset is documented."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
from dagster import AssetKey, AssetSpec, Definitions

from support_assets_tests.support.e2e_helpers import (
    REPO_ROOT,
    dagster_dev,
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
    AssetKey(["marts", "octadesk_compat_view"]),
}
LAYERS = ("raw", "staging", "marts")


@pytest.fixture(scope="module")
def defs() -> Definitions:
    from support_assets.definitions import defs

    return defs


@pytest.fixture(scope="module")
def specs(defs: Definitions) -> list[AssetSpec]:
    return list(defs.resolve_all_asset_specs())


def test_dg_check_defs_loads_the_project_without_superseded_or_preview_warnings(
    tmp_path: Path,
) -> None:
    """``dg check defs`` (dagster-dg-cli, the project's ``[tool.dg]``) loads the code location
    and exits 0, and says nothing about superseded or preview APIs."""
    warehouse = make_warehouse(tmp_path)
    env = deployment_env(warehouse, "http://127.0.0.1:9")
    result = subprocess.run(
        [venv_executable("dg"), "check", "defs"],
        env={**env, "NO_COLOR": "1", "COLUMNS": "200"},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "All definitions loaded successfully" in output, output
    for word in ("superseded", "PreviewWarning", "BetaWarning", "SupersessionWarning"):
        assert word not in output, output


#: Loads the definitions in a fresh interpreter, where Dagster's supersession, preview and beta
#: warnings (and deprecations raised from our own modules) are errors, whatever pytest's filters.
_STRICT_LOAD = """
import warnings
from dagster import BetaWarning, PreviewWarning, SupersessionWarning
for category in (BetaWarning, PreviewWarning, SupersessionWarning):
    warnings.filterwarnings("error", category=category)
warnings.filterwarnings("error", category=DeprecationWarning, module=r"support_assets")
from support_assets.definitions import build_definitions
defs = build_definitions()
defs.resolve_asset_graph()
defs.resolve_all_job_defs()
defs.resolve_all_asset_specs()
print("loaded", len(list(defs.resolve_all_asset_specs())))
"""


def test_loading_the_definitions_raises_no_supersession_or_preview_warning(
    tmp_path: Path,
) -> None:
    warehouse = make_warehouse(tmp_path)
    env = deployment_env(warehouse, "http://127.0.0.1:9")
    result = subprocess.run(
        [venv_executable("python"), "-c", _STRICT_LOAD],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert result.stdout.startswith("loaded "), output


@pytest.mark.slow
def test_dg_dev_serves_the_ui_without_a_superseded_warning(tmp_path: Path) -> None:
    """The demo's UI command (``dg dev``, as ``support-assets demo`` runs it) answers, and its
    output has none of the warnings ``dagster dev`` printed."""
    warehouse = make_warehouse(tmp_path)
    env = deployment_env(warehouse, "http://127.0.0.1:9")
    log = tmp_path / "dg-dev.log"
    with dagster_dev(env, cwd=REPO_ROOT, log=log, timeout=240) as dev:
        assert httpx.get(f"{dev.url}/server_info", timeout=10).status_code == 200
    output = log.read_text(errors="replace")
    for word in ("superseded", "PreviewWarning", "SupersessionWarning"):
        assert word not in output, output[-4000:]


def test_the_strict_load_would_catch_a_preview_api(tmp_path: Path) -> None:
    """The same interpreter set-up fails on a preview API, so the test above can fail."""
    code = _STRICT_LOAD.replace(
        "defs.resolve_asset_graph()",
        "defs.map_resolved_asset_specs(func=lambda spec: spec)",
    )
    result = subprocess.run(
        [venv_executable("python"), "-c", code],
        env=deployment_env(make_warehouse(tmp_path), "http://127.0.0.1:9"),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode != 0 and "PreviewWarning" in result.stderr, result.stderr


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

    from support_assets.core.identity import SANDBOX_PSEUDONYM_KEY
    from support_assets.deployment import pseudonym_resource

    assert pseudonym_resource({}).key == SANDBOX_PSEUDONYM_KEY
    for marker in ("OCTADESK_BASE_URL", "STOMP_HOST", "MONGODB_URI", "PLOOMES_BASE_URL"):
        key = pseudonym_resource({marker: "x"}).key
        assert key == EnvVar("SUPPORT_PSEUDONYM_KEY"), marker
