"""Helpers shared by the Telegram tests: the simulator's truth, deliveries, the landing zone,
the sensor and in-process materializations (plain functions, no fixtures)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.dataset as ds
from dagster import (
    AssetKey,
    DagsterInstance,
    ExecuteInProcessResult,
    SensorResult,
    build_sensor_context,
)

from support_assets.core.sandbox_defaults import SANDBOX_TELEGRAM_WEBHOOK_SECRET
from support_assets.definitions import build_definitions
from support_assets.io_managers.landing import LandingZone, LandingZoneResource
from support_assets.sources.telegram.client import TelegramResource
from support_assets.sources.telegram.sensors import telegram_landing_sensor
from support_assets.sources.telegram.webhook import app_from_settings
from support_assets_tests.support.loopback import serve_app


def truth(admin: httpx.Client) -> dict[str, Any]:
    return admin.get("/telegram/truth").raise_for_status().json()


def wait_idle(admin: httpx.Client, seconds: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        status = admin.get("/telegram/delivery").json()
        if status["idle"]:
            return status
        assert time.monotonic() < deadline, f"deliveries did not finish: {status}"
        time.sleep(0.1)


def zone() -> LandingZone:
    return LandingZoneResource.from_settings().zone()


def sensor_partitions(instance: DagsterInstance, cursor: str | None = None) -> SensorResult:
    with build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"telegram_landing": LandingZoneResource.from_settings()},
    ) as context:
        result = telegram_landing_sensor(context)
    assert isinstance(result, SensorResult)
    return result


def materialize_landed(instance: DagsterInstance) -> list[ExecuteInProcessResult]:
    """What the sensor asks for, run as the daemon would run it."""
    job = build_definitions().resolve_job_def("telegram_job")
    requests = sensor_partitions(instance).run_requests or []
    assert requests, "the sensor saw no landing files"
    results = [
        job.execute_in_process(partition_key=r.partition_key, instance=instance, tags=r.tags)
        for r in requests
    ]
    assert all(r.success for r in results)
    return results


def metadata(results: list[ExecuteInProcessResult], key: AssetKey) -> list[dict[str, Any]]:
    return [
        {k: v.value for k, v in e.event_specific_data.materialization.metadata.items()}
        for r in results
        for e in r.get_asset_materialization_events()
        if e.event_specific_data.materialization.asset_key == key
    ]


def lake_table(env: dict[str, str], key: AssetKey) -> pa.Table:
    folder = Path(env["SUPPORT_LAKE_URL"], *key.path)
    return ds.dataset(folder, format="parquet", partitioning="hive").to_table()


def deliver_by_webhook(telegram: TelegramResource, admin: httpx.Client) -> dict[str, Any]:
    with serve_app(app_from_settings()) as url:
        telegram.set_webhook(
            f"{url}/telegram/webhook", SANDBOX_TELEGRAM_WEBHOOK_SECRET, max_connections=40
        )
        status = wait_idle(admin)
        telegram.delete_webhook()
    return status
