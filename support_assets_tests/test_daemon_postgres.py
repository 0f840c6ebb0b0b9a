"""The platform refreshes itself: Dagster's daemon on PostgreSQL storage drives Octadesk.

One deployment the way a server runs it (deploy/dagster.yaml in a fresh DAGSTER_HOME, every
record in a private PostgreSQL server started by tools/postgres.sh): a code server
(``dagster api grpc``, the same command as deploy/Dockerfile), ``dagster-daemon run`` and
``dagster-webserver``, all reading a workspace that points at that code server, with the sandbox
as Octadesk and a short sensor interval. Nobody launches a run by hand until the concurrency
check at the end; the sensor and the schedule are switched on through the webserver's GraphQL,
as an operator would in the UI.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pandas as pd
import pytest
import yaml
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from support_assets.core.records import last_high_water_mark
from support_assets.demo import DemoUI
from support_assets.sources.octadesk.assets import RAW_CHATS, RAW_TICKETS
from support_assets_tests.support.e2e_helpers import (
    ARTIFACTS_DIR,
    REPO_ROOT,
    deployment_env,
    free_port,
    make_warehouse,
    read_table,
    running_sandbox,
    sandbox_truth,
    stop_process_group,
    tail,
    venv_executable,
)

pytestmark = pytest.mark.slow

# SUPPORT_SENSOR_INTERVAL_SECONDS here. The daemon looks at sensors every ~5 s, so with 6 the
# ticks come every 5-10 s.
SENSOR_INTERVAL = 6
LOCATION = "support_assets"
REPOSITORY = "__repository__"
JOB = "octadesk_job"
SENSOR = "octadesk_changes_sensor"
SCHEDULE = "octadesk_daily_reconciliation"
TICKETS, CHATS = 120, 40

RUNS_QUERY = """
query Runs($job: String!) {
  runsOrError(filter: {pipelineName: $job}) {
    ... on Runs { results { runId status creationTime startTime endTime
                            tags { key value } } }
    ... on PythonError { message }
  }
}
"""
SENSOR_QUERY = """
query Sensor($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    ... on Sensor {
      minIntervalSeconds
      sensorState {
        status
        typeSpecificData { ... on SensorData { lastCursor } }
        ticks(limit: 100) { status timestamp runIds skipReason }
      }
    }
    ... on PythonError { message }
  }
}
"""
SCHEDULE_QUERY = """
query Schedule($selector: ScheduleSelector!) {
  scheduleOrError(scheduleSelector: $selector) {
    ... on Schedule { scheduleState { status } }
    ... on PythonError { message }
  }
}
"""
DAEMON_HEALTH = """
{ instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } } }
"""


# Processes of the deployment ---------------------------------------------------------------


@dataclass
class Deployment:
    """The code server, daemon and webserver of one DAGSTER_HOME, restartable."""

    env: dict[str, str]
    home: Path
    logs: Path
    workspace: Path
    grpc_port: int
    procs: dict[str, subprocess.Popen[bytes]]
    web_url: str = ""
    starts: int = 0

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = self.logs / f"{name}-{self.starts}.log"
        with log.open("wb") as out:
            self.procs[name] = subprocess.Popen(
                argv,
                env=self.env,
                cwd=self.home.parent,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self, name: str) -> str:
        return tail(self.logs / f"{name}-{self.starts}.log")

    def start_code_server(self) -> None:
        self._spawn(
            "grpc",
            [
                venv_executable("dagster"),
                *["api", "grpc", "-m", "support_assets.definitions"],
                *["-h", "127.0.0.1", "-p", str(self.grpc_port)],
            ],
        )

        def up() -> bool:
            if self.procs["grpc"].poll() is not None:
                raise AssertionError(f"the code server exited early:\n{self.log('grpc')}")
            return _port_open(self.grpc_port)

        _wait(up, 90, "code server", lambda: self.log("grpc"))

    def start_daemon_and_webserver(self) -> None:
        self.starts += 1
        web_port = free_port()
        self.web_url = f"http://127.0.0.1:{web_port}"
        self._spawn("daemon", [venv_executable("dagster-daemon"), "run", "-w", str(self.workspace)])
        self._spawn(
            "webserver",
            [
                venv_executable("dagster-webserver"),
                *["-w", str(self.workspace), "-h", "127.0.0.1", "-p", str(web_port)],
            ],
        )

        def web_up() -> bool:
            for name in ("daemon", "webserver"):
                if self.procs[name].poll() is not None:
                    raise AssertionError(f"{name} exited early:\n{self.log(name)}")
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{self.web_url}/server_info", timeout=2).status_code == 200
            return False

        _wait(web_up, 90, "webserver", lambda: self.log("webserver"))

        def daemons_healthy() -> bool:
            statuses = self.graphql(DAEMON_HEALTH)["instance"]["daemonHealth"]
            by_type = {s["daemonType"]: s for s in statuses["allDaemonStatuses"]}
            return all(
                by_type[t]["healthy"] for t in ("SENSOR", "SCHEDULER", "QUEUED_RUN_COORDINATOR")
            )

        _wait(daemons_healthy, 90, "daemon heartbeats", lambda: self.log("daemon"))

    def stop_daemon_and_webserver(self) -> dict[str, int | None]:
        return {name: stop_process_group(self.procs.pop(name)) for name in ("daemon", "webserver")}

    def stop_all(self) -> None:
        for name in list(self.procs):
            stop_process_group(self.procs.pop(name))

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return DemoUI(self.web_url).graphql(query, variables)

    # What the webserver says -----------------------------------------------------------------

    def runs(self) -> list[dict[str, Any]]:
        data = self.graphql(RUNS_QUERY, {"job": JOB})["runsOrError"]
        assert "results" in data, data
        return sorted(data["results"], key=lambda r: r["creationTime"])

    def sensor(self) -> dict[str, Any]:
        data = self.graphql(SENSOR_QUERY, {"selector": _selector(sensorName=SENSOR)})
        return data["sensorOrError"]

    def schedule_status(self) -> str:
        data = self.graphql(SCHEDULE_QUERY, {"selector": _selector(scheduleName=SCHEDULE)})
        return data["scheduleOrError"]["scheduleState"]["status"]


def _selector(**name: str) -> dict[str, str]:
    return {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, **name}


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait(
    predicate: Callable[[], Any], timeout: float, what: str, log: Callable[[], str] | None = None
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what}\n{log() if log else ''}"
            )
        time.sleep(0.5)


@contextlib.contextmanager
def deployment(tmp_path: Path, env: dict[str, str]) -> Iterator[Deployment]:
    home = Path(env["DAGSTER_HOME"])
    shutil.copy(REPO_ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    grpc_port = free_port()
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        yaml.safe_dump(
            {
                "load_from": [
                    {
                        "grpc_server": {
                            "host": "127.0.0.1",
                            "port": grpc_port,
                            "location_name": LOCATION,
                        }
                    }
                ]
            }
        )
    )
    logs = tmp_path / "logs"
    logs.mkdir()
    dep = Deployment(
        env=env, home=home, logs=logs, workspace=workspace, grpc_port=grpc_port, procs={}
    )
    try:
        dep.start_code_server()
        dep.start_daemon_and_webserver()
        yield dep
    finally:
        dep.stop_all()


# The warehouse against the sandbox ---------------------------------------------------------


def _marks(records: list[dict[str, Any]]) -> dict[str, pd.Timestamp]:
    return {r["id"]: pd.Timestamp(r["updatedAt"]).tz_convert("UTC") for r in records}


def _warehouse_marks(path: Path, table: str) -> dict[str, pd.Timestamp]:
    frame = read_table(path, table)
    stamps = pd.to_datetime(frame["updated_at"], utc=True)
    return dict(zip(frame["id"], stamps, strict=True))


def warehouse_matches_truth(duckdb_path: Path, sandbox_url: str) -> bool:
    """Every ticket and chat of the sandbox is in raw, at its current updatedAt, and no other."""
    if not duckdb_path.exists():
        return False
    truth = sandbox_truth(sandbox_url)
    try:
        tickets = _warehouse_marks(duckdb_path, "raw.octadesk_tickets")
        chats = _warehouse_marks(duckdb_path, "raw.octadesk_chats")
    except Exception:  # the tables do not exist before the first run
        return False
    return tickets == _marks(truth["tickets"]) and chats == _marks(truth["chats"])


def _finished(run: Mapping[str, Any]) -> bool:
    return run["status"] in ("SUCCESS", "FAILURE", "CANCELED")


def _tags(run: Mapping[str, Any]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in run["tags"]}


def _instigator_state(instance: DagsterInstance, name: str) -> Any:
    states = [s for s in instance.all_instigator_state() if s.instigator_name == name]
    assert len(states) == 1, states
    return states[0]


def test_daemon_keeps_the_warehouse_fresh_on_postgres(
    postgres: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = postgres.create_database("dagster_daemon_e2e")
    with running_sandbox(seed=23, octadesk_tickets=TICKETS, octadesk_chats=CHATS) as sandbox:
        warehouse = make_warehouse(tmp_path / "deployment")
        env = deployment_env(
            warehouse,
            sandbox.url,
            {
                **postgres.env(database),
                "SUPPORT_SENSOR_INTERVAL_SECONDS": str(SENSOR_INTERVAL),
                # One process per run: the daemon and the queue are under test, not the
                # multiprocess executor, whose per-step start-up costs ~10 s on two cores.
                "SUPPORT_EXECUTOR": "in_process",
                "OCTADESK_RATE_LIMIT_PER_SECOND": "500",
                "OCTADESK_TIMEOUT_SECONDS": "10",
            },
        )
        # The test process reads the same instance (deploy/dagster.yaml resolves env: here too).
        for name, value in postgres.env(database).items():
            monkeypatch.setenv(name, value)
        with deployment(tmp_path, env) as dep:
            instance = DagsterInstance.from_config(str(warehouse.dagster_home))
            try:
                _check_refresh_cycle(dep, instance, warehouse.duckdb_path, sandbox.url)
            finally:
                instance.dispose()


def _check_refresh_cycle(
    dep: Deployment, instance: DagsterInstance, duckdb_path: Path, sandbox_url: str
) -> None:
    # 0. The instance really is PostgreSQL, for runs, event logs and schedules alike.
    for storage in (instance.run_storage, instance.event_log_storage, instance.schedule_storage):
        assert type(storage).__module__.startswith("dagster_postgres"), type(storage)
    assert not (dep.home / "history").exists(), "a SQLite run history appeared in DAGSTER_HOME"
    assert dep.sensor()["minIntervalSeconds"] == SENSOR_INTERVAL
    assert dep.runs() == []

    # 1. Switch the sensor and the schedule on, as an operator would; the daemon does the rest.
    started = dep.graphql(
        "mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) {"
        " ... on Sensor { sensorState { status } } ... on PythonError { message } } }",
        {"s": _selector(sensorName=SENSOR)},
    )["startSensor"]
    assert started["sensorState"]["status"] == "RUNNING", started
    scheduled = dep.graphql(
        "mutation($s: ScheduleSelector!) { startSchedule(scheduleSelector: $s) {"
        " ... on ScheduleStateResult { scheduleState { status } }"
        " ... on PythonError { message } } }",
        {"s": _selector(scheduleName=SCHEDULE)},
    )["startSchedule"]
    assert scheduled["scheduleState"]["status"] == "RUNNING", scheduled

    first = _wait(
        lambda: [r for r in dep.runs() if _finished(r)],
        120,
        "the sensor's first run",
        lambda: dep.log("daemon"),
    )[0]
    assert first["status"] == "SUCCESS", dep.log("daemon")
    tags = _tags(first)
    assert tags["dagster/sensor_name"] == SENSOR
    assert tags["support_assets/source"] == "octadesk"
    assert warehouse_matches_truth(duckdb_path, sandbox_url), "first run did not load everything"

    # 2. Nothing changes: the sensor keeps ticking and keeps skipping; no run is launched.
    quiet_from = time.time()

    def quiet_ticks() -> list[dict[str, Any]]:
        ticks = dep.sensor()["sensorState"]["ticks"]
        return [t for t in ticks if t["timestamp"] > quiet_from and t["status"] != "STARTED"]

    _wait(lambda: len(quiet_ticks()) >= 2, 5 * SENSOR_INTERVAL, "two quiet ticks")
    assert len(dep.runs()) == 1, dep.runs()
    assert {t["status"] for t in quiet_ticks()} == {"SKIPPED"}, quiet_ticks()

    # 3. The sandbox changes (updates and new records): a sensor tick launches a run within two
    #    intervals, and that run brings the warehouse back to the sandbox's truth.
    response = httpx.post(
        f"{sandbox_url}/_admin/octadesk/advance",
        json={"update": 7, "create": 4, "chats_update": 3, "chats_create": 2},
        timeout=30,
    )
    response.raise_for_status()
    changed_at = time.time()
    assert not warehouse_matches_truth(duckdb_path, sandbox_url)
    second = _wait(
        lambda: [r for r in dep.runs()[1:]],
        2 * SENSOR_INTERVAL + 15,
        "a run for the change",
        lambda: dep.log("daemon"),
    )[0]
    launched_after = second["creationTime"] - changed_at
    assert launched_after <= 2 * SENSOR_INTERVAL + 2, launched_after
    assert _tags(second)["dagster/sensor_name"] == SENSOR
    second = _wait(
        lambda: next(
            (r for r in dep.runs() if r["runId"] == second["runId"] and _finished(r)), None
        ),
        120,
        "the change's run to finish",
        lambda: dep.log("daemon"),
    )
    assert second["status"] == "SUCCESS"
    assert json.loads(_tags(second)["support_assets/changed"]) == {"tickets": 11, "chat": 5}
    assert warehouse_matches_truth(duckdb_path, sandbox_url), "the change did not reach raw"
    fresh_after = second["endTime"] - changed_at
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    (ARTIFACTS_DIR / "daemon_postgres_timings.json").write_text(
        json.dumps(
            {
                "sensor_interval_s": SENSOR_INTERVAL,
                "change_to_run_created_s": round(launched_after, 1),
                "change_to_warehouse_fresh_s": round(fresh_after, 1),
            }
        )
    )

    # 4. Stop and restart the daemon and the webserver: no run and no cursor is lost.
    # A tick after the run records the run's high-water marks as the cursor; on a busy machine
    # that tick may come late, so wait for it rather than for a fixed time.
    marks = {
        "tickets": last_high_water_mark(instance, RAW_TICKETS),
        "chat": last_high_water_mark(instance, RAW_CHATS),
    }
    expected_cursor = json.dumps({k: v.isoformat() if v else None for k, v in marks.items()})
    deadline = time.monotonic() + 10 * SENSOR_INTERVAL + 60
    while (cursor := _instigator_state(instance, SENSOR).instigator_data.cursor) != expected_cursor:
        assert time.monotonic() < deadline, (cursor, expected_cursor)
        time.sleep(1)
    runs_before = [(r["runId"], r["status"]) for r in dep.runs()]
    cursor_before = _instigator_state(instance, SENSOR).instigator_data.cursor
    graphql_cursor = dep.sensor()["sensorState"]["typeSpecificData"]["lastCursor"]
    assert cursor_before and json.loads(cursor_before)["tickets"], cursor_before
    assert graphql_cursor == cursor_before
    codes = dep.stop_daemon_and_webserver()
    # Both stopped on SIGTERM, without the SIGKILL that stop_process_group falls back to.
    assert all(code is not None and code != -signal.SIGKILL for code in codes.values()), codes
    dep.start_daemon_and_webserver()
    assert [(r["runId"], r["status"]) for r in dep.runs()] == runs_before
    state_after = _instigator_state(instance, SENSOR)
    assert state_after.status.value == "RUNNING"
    assert dep.sensor()["sensorState"]["status"] == "RUNNING"
    assert dep.schedule_status() == "RUNNING"
    assert state_after.instigator_data.cursor == cursor_before
    # ... and the restarted daemon picks up where it left off: it ticks, and skips.
    restarted_at = time.time()
    _wait(
        lambda: [t for t in dep.sensor()["sensorState"]["ticks"] if t["timestamp"] > restarted_at],
        4 * SENSOR_INTERVAL,
        "a tick of the restarted daemon",
        lambda: dep.log("daemon"),
    )
    assert len(dep.runs()) == len(runs_before)

    # 5. The daily reconciliation at a chosen time: the running code location evaluates the real
    #    schedule at 04:00 São Paulo (a dry-run tick, as the daemon's scheduler would).
    tick_time = datetime(2026, 11, 24, 4, 0, tzinfo=ZoneInfo("America/Sao_Paulo"))
    dry = dep.graphql(
        "mutation($s: ScheduleSelector!, $t: Float!) { scheduleDryRun(selectorData: $s,"
        " timestamp: $t) { ... on DryRunInstigationTick { evaluationResult {"
        " runRequests { runKey runConfigYaml tags { key value } } skipReason"
        " error { message } } } ... on PythonError { message } } }",
        {"s": _selector(scheduleName=SCHEDULE), "t": tick_time.timestamp()},
    )["scheduleDryRun"]
    requests = dry["evaluationResult"]["runRequests"]
    assert len(requests) == 1, dry
    request = requests[0]
    assert request["runKey"] == "octadesk-reconcile-2026-11-24"
    run_config = yaml.safe_load(request["runConfigYaml"])
    for op in ("octadesk_raw_tickets", "octadesk_raw_chats"):
        assert run_config["ops"][op]["config"]["full_refresh"] is True

    # 6. That reconciliation and another Octadesk run submitted at the same moment (as when a
    #    sensor and the schedule fire together) never run at once: the second waits in the queue
    #    (tag limit on support_assets/source, one run per value) until the first is done.
    schedule_tags = {t["key"]: t["value"] for t in request["tags"]}
    launched = [
        _launch_run(dep, run_config, {**schedule_tags, "dagster/schedule_name": SCHEDULE}),
        _launch_run(dep, {}, {"support_assets/trigger": "test: launched by hand"}),
    ]
    saw_queued_behind_started = False

    def both_done() -> bool:
        nonlocal saw_queued_behind_started
        mine = {r["runId"]: r for r in dep.runs() if r["runId"] in launched}
        statuses = sorted(r["status"] for r in mine.values())
        if statuses == ["QUEUED", "STARTED"]:
            saw_queued_behind_started = True
        in_progress = [s for s in statuses if s in ("STARTING", "STARTED")]
        assert len(in_progress) <= 1, mine
        return len(mine) == 2 and all(_finished(r) for r in mine.values())

    _wait(both_done, 120, "the two launched runs", lambda: f"{dep.runs()}\n{dep.log('daemon')}")
    records = [instance.get_run_record_by_id(run_id) for run_id in launched]
    assert all(r.dagster_run.status == DagsterRunStatus.SUCCESS for r in records), records
    assert all(r.dagster_run.tags["support_assets/source"] == "octadesk" for r in records)
    first_run, later_run = sorted(records, key=lambda r: r.start_time)
    assert first_run.end_time <= later_run.start_time, (
        f"runs overlapped: {first_run.start_time}-{first_run.end_time} and "
        f"{later_run.start_time}-{later_run.end_time}"
    )
    assert saw_queued_behind_started, "never saw the second run waiting behind the first"
    reconcile = records[0].dagster_run
    assert reconcile.run_config["ops"]["octadesk_raw_tickets"]["config"]["full_refresh"] is True
    assert warehouse_matches_truth(duckdb_path, sandbox_url)
    # The sensor launched exactly two runs: the first load and the change.
    by_sensor = instance.get_runs(RunsFilter(job_name=JOB, tags={"dagster/sensor_name": SENSOR}))
    assert len(by_sensor) == 2


def _launch_run(dep: Deployment, run_config: Mapping[str, Any], tags: Mapping[str, str]) -> str:
    result = dep.graphql(
        "mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {"
        " __typename ... on LaunchRunSuccess { run { runId status } }"
        " ... on PythonError { message } ... on RunConfigValidationInvalid {"
        " errors { message } } } }",
        {
            "p": {
                "selector": {
                    "repositoryLocationName": LOCATION,
                    "repositoryName": REPOSITORY,
                    "jobName": JOB,
                },
                "runConfigData": dict(run_config),
                "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
            }
        },
    )["launchRun"]
    assert result["__typename"] == "LaunchRunSuccess", result
    assert result["run"]["status"] == "QUEUED", result
    return result["run"]["runId"]
