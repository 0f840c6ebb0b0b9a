"""What can be checked here of the production deployment (deploy/): the instance configuration
through Dagster's own config machinery and against a real PostgreSQL, tools/postgres.sh, the
Helm values against the keys of the chart's values schema and dagster-k8s's run launcher schema,
the executor setting, and the Dockerfile statically.

Not here (no Docker engine, no cluster, and Dagster's Helm chart is published on neither PyPI nor
npm): building the image, ``helm template``/``helm install`` and pods. README, "Running it for
real".
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from dagster import (
    DagsterInstance,
    build_schedule_context,
    in_process_executor,
    multiprocess_executor,
)
from dagster._core.instance.config import dagster_instance_config

from support_assets.cli import ensure_dagster_home
from support_assets.core.settings import SETTINGS, SETTINGS_BY_NAME
from support_assets.definitions import build_definitions
from support_assets.deployment import build_executor
from support_assets.sources.octadesk.schedules import octadesk_daily_reconciliation
from support_assets_tests.support.postgres_server import SCRIPT, PostgresError, running_postgres

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
PG_SETTINGS = (
    "DAGSTER_PG_HOST",
    "DAGSTER_PG_PORT",
    "DAGSTER_PG_USER",
    "DAGSTER_PG_PASSWORD",
    "DAGSTER_PG_DB",
)
SOURCE_TAG_LIMIT = {
    "key": "support_assets/source",
    "value": {"applyLimitPerUniqueValue": True},
    "limit": 1,
}


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


# deploy/dagster.yaml -------------------------------------------------------------------------


def test_production_instance_config_validates_and_reads_credentials_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in PG_SETTINGS:
        monkeypatch.setenv(name, "5432" if name == "DAGSTER_PG_PORT" else "x")
    config, instance_class = dagster_instance_config(str(DEPLOY))
    assert instance_class is None

    db = config["storage"]["postgres"]["postgres_db"]
    assert {db[k]["env"] for k in ("hostname", "port", "username", "password", "db_name")} == set(
        PG_SETTINGS
    ), "every connection value comes from the environment, none is written in the file"
    assert all(SETTINGS_BY_NAME[name] for name in PG_SETTINGS)
    assert SETTINGS_BY_NAME["DAGSTER_PG_PASSWORD"].secret

    coordinator = config["run_coordinator"]
    assert coordinator["class"] == "QueuedRunCoordinator"
    assert coordinator["config"]["max_concurrent_runs"] >= 2
    assert coordinator["config"]["tag_concurrency_limits"] == [SOURCE_TAG_LIMIT]
    assert config["run_monitoring"]["enabled"] is True
    assert config["retention"]["sensor"]["purge_after_days"]["skipped"] > 0
    assert config["telemetry"] == {"enabled": False}
    assert config["nux"] == {"enabled": False}


def test_production_instance_config_refuses_a_missing_password(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``env:`` values are resolved when the instance loads: a missing secret fails loudly."""
    for name in PG_SETTINGS:
        monkeypatch.setenv(name, "5432" if name == "DAGSTER_PG_PORT" else "x")
    monkeypatch.delenv("DAGSTER_PG_PASSWORD")
    (tmp_path / "dagster.yaml").write_text((DEPLOY / "dagster.yaml").read_text())
    with pytest.raises(Exception, match="DAGSTER_PG_PASSWORD"):
        DagsterInstance.from_config(str(tmp_path))


def test_production_instance_loads_on_a_real_postgresql(
    postgres: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """deploy/dagster.yaml, as is, against the private server: Dagster creates its tables, and
    runs, event logs and schedules all live there (nothing in DAGSTER_HOME)."""
    database = postgres.create_database("dagster_deploy_check")
    for name, value in postgres.env(database).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    (tmp_path / "dagster.yaml").write_text((DEPLOY / "dagster.yaml").read_text())
    instance = DagsterInstance.from_config(str(tmp_path))
    try:
        for storage in (
            instance.run_storage,
            instance.event_log_storage,
            instance.schedule_storage,
        ):
            assert type(storage).__module__.startswith("dagster_postgres"), type(storage)
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.get_runs() == []
    finally:
        instance.dispose()
    con = postgres.connect(database)
    try:
        with con.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            tables = {row[0] for row in cur.fetchall()}
    finally:
        con.close()
    assert {"runs", "event_logs", "instigators", "job_ticks"} <= tables, tables
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dagster.yaml"]


def test_the_local_default_instance_stays_sqlite_under_the_project(tmp_path: Path) -> None:
    home = ensure_dagster_home(str(tmp_path / ".dagster_home"))
    assert "postgres" not in (home / "dagster.yaml").read_text()
    with DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "SqliteRunStorage"


# Step logs: local, S3 or GCS, chosen by the settings ----------------------------------------


def test_compute_logs_follow_the_settings_and_pass_the_managers_own_schemas(
    tmp_path: Path,
) -> None:
    from support_assets.compute_logs import compute_log_config, validated_class_data

    home = {"DAGSTER_HOME": str(tmp_path)}
    local = validated_class_data(home)
    assert local.class_name == "LocalComputeLogManager"
    assert local.config_dict == {"base_dir": str(tmp_path / "storage")}

    s3 = validated_class_data(
        {
            **home,
            "SUPPORT_COMPUTE_LOGS": "s3",
            "SUPPORT_COMPUTE_LOGS_BUCKET": "logs",
            "SUPPORT_S3_REGION": "sa-east-1",
        }
    )
    assert (s3.module_name, s3.class_name) == (
        "dagster_aws.s3.compute_log_manager",
        "S3ComputeLogManager",
    )
    assert s3.config_dict == {
        "bucket": "logs",
        "prefix": "dagster/compute-logs",
        "region": "sa-east-1",
    }
    gcs = validated_class_data(
        {**home, "SUPPORT_COMPUTE_LOGS": "GCS", "SUPPORT_COMPUTE_LOGS_BUCKET": "logs"}
    )
    assert (gcs.module_name, gcs.class_name) == (
        "dagster_gcp.gcs.compute_log_manager",
        "GCSComputeLogManager",
    )
    assert gcs.config_dict == {"bucket": "logs", "prefix": "dagster/compute-logs"}

    with pytest.raises(ValueError, match="SUPPORT_COMPUTE_LOGS_BUCKET"):
        compute_log_config({**home, "SUPPORT_COMPUTE_LOGS": "s3"})
    with pytest.raises(ValueError, match="local, s3 or gcs"):
        compute_log_config({**home, "SUPPORT_COMPUTE_LOGS": "ftp"})
    with pytest.raises(ValueError, match="DAGSTER_HOME"):
        compute_log_config({})


def test_the_managers_schema_refuses_what_it_does_not_know(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The validation is Dagster's: a configuration S3ComputeLogManager does not accept fails
    before any manager is built (here an unknown key slipped into the configuration)."""
    from dagster._core.errors import DagsterInvalidConfigError

    import support_assets.compute_logs as compute_logs

    original = compute_logs.compute_log_config
    monkeypatch.setattr(
        compute_logs,
        "compute_log_config",
        lambda env: (original(env)[0], {**original(env)[1], "bukket": "typo"}),
    )
    with pytest.raises(DagsterInvalidConfigError, match="S3ComputeLogManager"):
        compute_logs.validated_class_data(
            {"SUPPORT_COMPUTE_LOGS": "s3", "SUPPORT_COMPUTE_LOGS_BUCKET": "logs"}
        )


def test_step_logs_land_in_s3_when_the_settings_say_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """deploy/dagster.yaml's compute_logs entry, on an instance whose other storage is local:
    with SUPPORT_COMPUTE_LOGS=s3 a step's stdout ends up as an object in the bucket (moto)."""
    from dagster import job, op

    from support_assets_tests.support.s3_server import running_moto_s3

    deploy = _load(DEPLOY / "dagster.yaml")
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump({"compute_logs": deploy["compute_logs"]}))

    @op
    def shout() -> None:
        print("step output that must reach the bucket")  # noqa: T201 - the captured stdout

    @job
    def shouting() -> None:
        shout()

    with running_moto_s3() as s3:
        bucket = s3.create_bucket()
        for name, value in {
            "DAGSTER_HOME": str(tmp_path),
            "SUPPORT_COMPUTE_LOGS": "s3",
            "SUPPORT_COMPUTE_LOGS_BUCKET": bucket,
            "SUPPORT_COMPUTE_LOGS_PREFIX": "logs/steps",
            "SUPPORT_S3_ENDPOINT_URL": s3.endpoint_url,
            "SUPPORT_S3_REGION": s3.region,
        }.items():
            monkeypatch.setenv(name, value)
        with DagsterInstance.from_config(str(tmp_path)) as instance:
            assert type(instance.compute_log_manager).__name__ == "S3ComputeLogManager"
            assert shouting.execute_in_process(instance=instance).success
            instance.compute_log_manager.dispose()
        keys = s3.keys(bucket, "logs/steps/")
        assert keys, "no step log in the bucket"
        bodies = [
            s3.client().get_object(Bucket=bucket, Key=key)["Body"].read().decode() for key in keys
        ]
        assert any("step output that must reach the bucket" in body for body in bodies), keys


# tools/postgres.sh ---------------------------------------------------------------------------


def test_postgres_script_is_idempotent_and_prints_the_settings_it_serves() -> None:
    with running_postgres() as server:
        assert "already running" in server.script("start")
        assert "running" in server.script("status")
        printed = dict(
            line.removeprefix("export ").split("=", 1) for line in server.script("env").splitlines()
        )
        assert printed == server.env()
        con = server.connect(server.db)  # the password, over TCP on loopback
        con.close()
        assert "stopped" in server.script("stop")
        assert "not running" in server.script("stop")
        with pytest.raises(PostgresError, match="exited 1"):
            server.script("status")
        assert "PostgreSQL up" in server.script("start")  # the same cluster starts again


def test_postgres_script_usage() -> None:
    result = subprocess.run([str(SCRIPT), "bogus"], capture_output=True, text=True, check=False)
    assert result.returncode == 2 and "usage" in result.stderr


# The daily reconciliation at a simulated time -----------------------------------------------


def test_reconciliation_tick_at_a_chosen_time_asks_for_a_full_refresh() -> None:
    tick = datetime(2026, 11, 24, 4, 0, tzinfo=ZoneInfo("America/Sao_Paulo"))
    request = octadesk_daily_reconciliation.evaluate_tick(
        build_schedule_context(scheduled_execution_time=tick)
    ).run_requests[0]
    assert request.run_key == "octadesk-reconcile-2026-11-24"
    for op in ("octadesk_raw_tickets", "octadesk_raw_chats"):
        assert request.run_config["ops"][op]["config"] == {"full_refresh": True}
    assert request.tags["support_assets/trigger"] == "octadesk_daily_reconciliation"


# The executor setting ------------------------------------------------------------------------


def test_executor_follows_the_setting() -> None:
    from dagster_k8s import k8s_job_executor

    assert build_executor({}) is multiprocess_executor
    assert build_executor({"SUPPORT_EXECUTOR": "in_process"}) is in_process_executor
    assert build_executor({"SUPPORT_EXECUTOR": "k8s"}) is k8s_job_executor
    with pytest.raises(ValueError, match="SUPPORT_EXECUTOR"):
        build_executor({"SUPPORT_EXECUTOR": "celery"})
    defs = build_definitions({"SUPPORT_EXECUTOR": "k8s"})
    assert defs.resolve_job_def("octadesk_job").executor_def is k8s_job_executor


def test_the_documented_per_asset_k8s_tag_parses() -> None:
    """The README's ``dagster-k8s/config`` op tag is what dagster-k8s reads for a step's pod."""
    from dagster_k8s.job import get_user_defined_k8s_config

    readme = (REPO / "README.md").read_text()
    snippet = re.search(r"`op_tags=(\{\"dagster-k8s/config\".*?\})`", readme, re.S)
    assert snippet, "the README shows the op tag"
    tags = json.loads(re.sub(r"\s+", " ", snippet.group(1)))
    config = get_user_defined_k8s_config({key: json.dumps(value) for key, value in tags.items()})
    assert config.container_config["resources"]["limits"]["memory"] == "4Gi"


# deploy/Dockerfile ---------------------------------------------------------------------------


def _dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    lines = [
        ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1]) for ln in lines]


def test_dockerfile_runs_the_code_server_of_this_package() -> None:
    instructions = _dockerfile()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    assert re.search(r">=3\.11", (REPO / "pyproject.toml").read_text())
    for kind, args in instructions:
        if kind == "COPY":
            *sources, _dest = args.split()
            for source in sources:
                assert (REPO / source).exists(), f"COPY {source}: not in the repository"
    run = " ".join(args for kind, args in instructions if kind == "RUN")
    assert "pip install --require-hashes --no-deps -r requirements/image.txt" in run
    assert "pip install --no-deps --no-build-isolation ." in run
    image_lock = (REPO / "requirements" / "image.txt").read_text()
    pinned = re.search(r"^dagster-k8s==([\d.]+)", image_lock, re.MULTILINE)
    assert pinned and re.search(rf"^dagster-postgres=={pinned.group(1)}", image_lock, re.M), (
        "dagster-k8s locked at the same integration release as dagster-postgres"
    )
    user = [args for kind, args in instructions if kind == "USER"]
    assert user and user[-1] != "root"
    cmd = [args for kind, args in instructions if kind == "CMD"][-1]
    argv = yaml.safe_load(cmd)  # the JSON (exec) form
    assert argv == [
        *["dagster", "api", "grpc", "-m", "support_assets.definitions"],
        *["-h", "0.0.0.0", "-p", "4000"],
    ]
    assert importlib.util.find_spec(argv[4]) is not None
    assert ("EXPOSE", "4000") in instructions


# deploy/helm/values.yaml ---------------------------------------------------------------------

# Keys that Dagster's chart values schema allows in the sections these values fill (read from
# helm/dagster/schema in Dagster's repository, as the chart cannot be fetched here); the chart's
# values.schema.json would reject any other key.
CHART_TOP_LEVEL = set(
    """
    dagsterWebserver dagster-user-deployments postgresql generatePostgresqlPasswordSecret
    generateCeleryConfigSecret rabbitmq redis flower ingress imagePullSecrets computeLogManager
    scheduler runLauncher pythonLogs dagsterDaemon busybox migrate telemetry serviceAccount
    global retention concurrency additionalInstanceConfig
    """.split()
)
CHART_POSTGRESQL = set(
    """
    postgresqlScheme image enabled postgresqlHost postgresqlUsername postgresqlPassword
    postgresqlDatabase postgresqlParams service
    """.split()
)
CHART_GLOBAL = set(
    """
    postgresqlSecretName dagsterHome serviceAccountName celeryConfigSecretName
    dagsterInstanceConfigMap
    """.split()
)
CHART_USER_DEPLOYMENT = set(
    """
    name image port dagsterApiGrpcArgs codeServerArgs includeConfigInLaunchedRuns env
    envConfigMaps envSecrets annotations nodeSelector affinity tolerations podSecurityContext
    securityContext resources livenessProbe readinessProbe startupProbe labels volumeMounts
    volumes schedulerName
    """.split()
)
CHART_K8S_RUN_LAUNCHER = set(
    """
    image imagePullPolicy jobNamespace loadInclusterConfig kubeconfigFile envConfigMaps
    envSecrets envVars volumeMounts volumes labels failPodOnRunFailure runK8sConfig resources
    schedulerName securityContext
    """.split()
)
CHART_QUEUED_COORDINATOR = set(
    """
    maxConcurrentRuns tagConcurrencyLimits dequeueIntervalSeconds dequeueNumWorkers
    dequeueUseThreads
    """.split()
)


def test_helm_values_use_the_charts_keys_and_the_instances_rules() -> None:
    values = _load(DEPLOY / "helm" / "values.yaml")
    instance = _load(DEPLOY / "dagster.yaml")
    assert set(values) <= CHART_TOP_LEVEL, set(values) - CHART_TOP_LEVEL
    assert set(values["postgresql"]) <= CHART_POSTGRESQL
    assert set(values["global"]) <= CHART_GLOBAL

    # External PostgreSQL, password from a secret, same driver as deploy/dagster.yaml.
    pg = values["postgresql"]
    assert pg["enabled"] is False and values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"]
    assert pg["postgresqlScheme"] == instance["storage"]["postgres"]["postgres_db"]["scheme"]

    # The code location: the Dockerfile's module and port.
    user = values["dagster-user-deployments"]
    assert user["enabled"] is True
    (deployment,) = user["deployments"]
    assert set(deployment) <= CHART_USER_DEPLOYMENT, set(deployment) - CHART_USER_DEPLOYMENT
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "support_assets.definitions"]
    assert deployment["port"] == 4000
    env = deployment["env"]
    assert env["SUPPORT_EXECUTOR"] == "k8s"
    assert env["SUPPORT_WAREHOUSE"] == "bigquery", "a pod's local DuckDB file is not shared"
    assert env["SUPPORT_LAKE_URL"].startswith("s3://")
    for name in env:
        assert name in SETTINGS_BY_NAME, f"{name} is not a documented setting"
        assert not SETTINGS_BY_NAME[name].secret, f"{name} is a secret: use envSecrets"
    assert deployment["envSecrets"] == [{"name": "support-assets-secrets"}]

    # Runs as Kubernetes Jobs, with the same secrets.
    launcher = values["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    k8s = launcher["config"]["k8sRunLauncher"]
    assert set(k8s) <= CHART_K8S_RUN_LAUNCHER, set(k8s) - CHART_K8S_RUN_LAUNCHER
    assert k8s["envSecrets"] == deployment["envSecrets"]
    assert k8s["runK8sConfig"]["containerConfig"]["resources"]["requests"]

    # The queue: the same per-source limit as deploy/dagster.yaml.
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["enabled"] is True and coordinator["type"] == "QueuedRunCoordinator"
    queued = coordinator["config"]["queuedRunCoordinator"]
    assert set(queued) <= CHART_QUEUED_COORDINATOR
    assert queued["tagConcurrencyLimits"] == [SOURCE_TAG_LIMIT]
    assert (
        queued["tagConcurrencyLimits"]
        == instance["run_coordinator"]["config"]["tag_concurrency_limits"]
    )

    # Tick retention as in the instance file; the chart wants every tick status.
    assert set(values["retention"]["sensor"]["purgeAfterDays"]) == {
        "skipped",
        "success",
        "failure",
        "started",
    }
    assert (
        values["retention"]["sensor"]["purgeAfterDays"]
        == instance["retention"]["sensor"]["purge_after_days"]
    )
    assert values["telemetry"] == {"enabled": False}


def test_helm_run_launcher_section_is_valid_k8s_run_launcher_config() -> None:
    """The chart turns runLauncher.config.k8sRunLauncher into K8sRunLauncher's own config; that
    config, built from these values, passes dagster-k8s's schema."""
    from dagster._config import validate_config
    from dagster_k8s import K8sRunLauncher

    k8s = _load(DEPLOY / "helm" / "values.yaml")["runLauncher"]["config"]["k8sRunLauncher"]
    config = {
        "instance_config_map": "support-assets-instance",
        "image_pull_policy": k8s["imagePullPolicy"],
        "load_incluster_config": k8s["loadInclusterConfig"],
        "env_secrets": [secret["name"] for secret in k8s["envSecrets"]],
        "run_k8s_config": {
            "container_config": k8s["runK8sConfig"]["containerConfig"],
            "job_spec_config": k8s["runK8sConfig"]["jobSpecConfig"],
        },
    }
    result = validate_config(K8sRunLauncher.config_type(), config)
    assert result.success, result.errors


def test_helm_compute_log_managers_are_valid_dagster_config() -> None:
    """The chart turns computeLogManager.config.<type> into the manager's own config; both the
    S3 and the GCS blocks pass their class's schema, and the chosen type is one of them."""
    from dagster._config import validate_config
    from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
    from dagster_gcp.gcs.compute_log_manager import GCSComputeLogManager

    section = _load(DEPLOY / "helm" / "values.yaml")["computeLogManager"]
    assert section["type"] in {"S3ComputeLogManager", "GCSComputeLogManager"}
    snake = {"localDir": "local_dir", "showUrlOnly": "show_url_only", "endpointUrl": "endpoint_url"}
    for name, klass in (
        ("s3ComputeLogManager", S3ComputeLogManager),
        ("gcsComputeLogManager", GCSComputeLogManager),
    ):
        config = {snake.get(k, k): v for k, v in section["config"][name].items()}
        result = validate_config(klass.config_type(), config)
        assert result.success, (name, result.errors)
        assert config["bucket"] and config["prefix"]


def test_helm_values_hold_no_secret_values() -> None:
    text = (DEPLOY / "helm" / "values.yaml").read_text()
    for setting in SETTINGS:
        if setting.secret:
            assert not re.search(rf"^\s*{setting.name}\s*:", text, re.MULTILINE), setting.name
    # The secret's creation command lists every secret setting the code location may need.
    documented = set(re.findall(r"--from-literal=([A-Z_]+)=", text))
    secrets = {s.name for s in SETTINGS if s.secret and not s.name.startswith("DAGSTER_PG_")}
    assert secrets <= documented, (
        f"secret settings missing from deploy/helm/values.yaml's secret: {secrets - documented}"
    )


def test_readme_documents_running_it_for_real() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Running it for real") :]
    for needle in (
        "deploy/dagster.yaml",
        "tools/postgres.sh",
        "deploy/Dockerfile",
        "deploy/helm/values.yaml",
        "k8s_job_executor",
        "dagster-k8s/config",
        "Not exercised",
    ):
        assert needle in section, needle
    assert shlex.split("tools/postgres.sh start")  # the section's commands are plain shell
