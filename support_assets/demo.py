"""What makes the demo alive: months of KPI history, and every sensor and schedule running.

* The KPI partitions start on the first day of the sandbox's history (``history_start``), and
  every one of them is materialized by one ranged run before the UI opens
  (``backfill_kpi_history``: what ``dagster asset materialize --partition-range`` does, in the
  demo's process, so the history is there however busy the machine is).
* Every sensor and schedule of the code location is started on the demo's instance through the
  UI's GraphQL API (production starts them stopped: each is declared with its default status, and
  nothing here changes that).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from support_assets.sandbox.base import HISTORY_DAYS, SandboxConfig

log = logging.getLogger(__name__)

#: Tag of the run the demo itself launches.
DEMO_TAG = {"key": "support_assets/trigger", "value": "demo"}

REPOSITORIES = """
query Repositories {
  repositoriesOrError {
    __typename
    ... on RepositoryConnection {
      nodes {
        name
        location { name }
        sensors { name sensorState { status } }
        schedules { name scheduleState { status } }
      }
    }
    ... on PythonError { message }
  }
}
"""
START_SENSOR = """
mutation StartSensor($s: SensorSelector!) {
  startSensor(sensorSelector: $s) {
    __typename
    ... on Sensor { sensorState { status } }
    ... on PythonError { message }
  }
}
"""
START_SCHEDULE = """
mutation StartSchedule($s: ScheduleSelector!) {
  startSchedule(scheduleSelector: $s) {
    __typename
    ... on ScheduleStateResult { scheduleState { status } }
    ... on PythonError { message }
  }
}
"""


def history_start(config: SandboxConfig) -> date:
    """The São Paulo day of the oldest support interaction the sandbox can have generated."""
    anchor = datetime.fromtimestamp(config.anchor_ms / 1000, tz=UTC)
    return (anchor - timedelta(days=HISTORY_DAYS)).astimezone(ZoneInfo("America/Sao_Paulo")).date()


def dg_dev_argv(dg: str, port: int) -> list[str]:
    """The command that serves the code location's UI on loopback: ``dg dev`` (dagster-dg-cli)."""
    return [dg, "dev", "-m", "support_assets.definitions", "-h", "127.0.0.1", "-p", str(port)]


class DemoSetupError(RuntimeError):
    """The UI refused or did not understand a set-up request."""


@dataclass
class DemoUI:
    """The demo's ``dagster dev``, driven through its GraphQL API."""

    url: str

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        response = httpx.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": dict(variables or {})},
            timeout=60,
        )
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise DemoSetupError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def repository(self, timeout: float = 180.0) -> dict[str, Any]:
        """The code location's repository, once it has loaded."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                data = self.graphql(REPOSITORIES)["repositoriesOrError"]
                if data["__typename"] == "RepositoryConnection" and data["nodes"]:
                    (repo,) = data["nodes"]
                    return repo
            except (httpx.HTTPError, DemoSetupError) as exc:
                log.debug("the UI is not ready yet: %s", exc)
            if time.monotonic() > deadline:
                raise DemoSetupError(f"the code location did not load in {timeout:.0f}s")
            time.sleep(1)

    def start_automation(self, repo: dict[str, Any]) -> list[str]:
        """Start every sensor and schedule that is not running; the names started."""
        where = {"repositoryName": repo["name"], "repositoryLocationName": repo["location"]["name"]}
        started = []
        for sensor in repo["sensors"]:
            if sensor["sensorState"]["status"] != "RUNNING":
                answer = self.graphql(START_SENSOR, {"s": {**where, "sensorName": sensor["name"]}})
                _expect(answer["startSensor"], "Sensor", f"start sensor {sensor['name']}")
                started.append(sensor["name"])
        for schedule in repo["schedules"]:
            if schedule["scheduleState"]["status"] != "RUNNING":
                variables = {"s": {**where, "scheduleName": schedule["name"]}}
                answer = self.graphql(START_SCHEDULE, variables)
                _expect(answer["startSchedule"], "ScheduleStateResult", schedule["name"])
                started.append(schedule["name"])
        return started


def _expect(answer: dict[str, Any], typename: str, what: str) -> None:
    if answer.get("__typename") != typename:
        raise DemoSetupError(f"{what}: {answer.get('__typename')}: {answer.get('message')}")


def start_everything(ui_url: str) -> list[str]:
    """Start every sensor and schedule once the code location has loaded; the names started."""
    ui = DemoUI(ui_url)
    return ui.start_automation(ui.repository())


def backfill_kpi_history() -> tuple[str, str, bool]:
    """Materialize every KPI partition in one run over the whole range:
    (first day, last day, success). Equivalent to ``dagster asset materialize --select
    marts/support_kpis_daily --partition-range FIRST...LAST``."""
    from dagster import DagsterInstance

    from support_assets.analytics.catalog import KPI_PARTITIONS, KPIS
    from support_assets.definitions import defs

    keys = KPI_PARTITIONS.get_partition_keys()
    first, last = keys[0], keys[-1]
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=DagsterInstance.get(),
        asset_selection=[KPIS],
        raise_on_error=False,
        tags={
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last,
            DEMO_TAG["key"]: DEMO_TAG["value"],
        },
    )
    return first, last, result.success
