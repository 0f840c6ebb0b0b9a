"""Octadesk tenants that differ from the docs, one divergence at a time, over real HTTP.

A filter the server ignores, a sort it ignores too, pages it caps silently: the listing must
stop at our own cursor, read everything when the order cannot be trusted, and fail when fewer
records arrive than the server itself counts.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import httpx
import pytest
from dagster import DagsterInstance, SensorResult, build_sensor_context

from support_assets.core.records import last_high_water_mark
from support_assets.definitions import build_definitions
from support_assets.sandbox.server import SandboxConfig
from support_assets.sources.octadesk.assets import RAW_TICKETS
from support_assets.sources.octadesk.sensors import octadesk_changes_sensor
from support_assets_tests.sources.octadesk.test_assets import (
    LOOKBACK_MINUTES,
    assert_matches_truth,
    materialization_metadata,
    run_octadesk,
    table,
    truth,
)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _behave(admin: httpx.Client, **knobs: bool) -> None:
    admin.put("/octadesk/behaviour", json=knobs).raise_for_status()


@pytest.mark.parametrize(
    "sandbox_config",
    [SandboxConfig(seed=5, octadesk_tickets=20_000, octadesk_chats=20)],
    ids=["20k-tickets"],
)
def test_incremental_run_on_a_filter_ignoring_tenant_requests_only_the_changed_pages(
    platform_env: dict[str, str], instance: DagsterInstance, admin: httpx.Client
) -> None:
    """1% of 20,000 tickets changed on a tenant that ignores the updatedAt filter but sorts:
    the run requests the changed pages and the lookback window, not the whole history."""
    _behave(admin, ignore_filters=True)
    assert run_octadesk(instance).success
    hwm = last_high_water_mark(instance, RAW_TICKETS)
    changed = admin.post("/octadesk/advance", json={"update": 200}).raise_for_status().json()
    assert len(changed["updated"]) == 200
    world = truth(admin)
    in_lookback = sum(
        hwm - timedelta(minutes=LOOKBACK_MINUTES) <= _at(t["updatedAt"]) <= hwm
        for t in world["tickets"]
    )

    admin.delete("/stats").raise_for_status()
    result = run_octadesk(instance)
    assert result.success
    meta = materialization_metadata(result, RAW_TICKETS)
    page_size = build_definitions().resources["octadesk"].page_size
    needed = math.ceil((200 + in_lookback + 1) / page_size) + meta["catch_up_passes"]
    # Each listing fetches ahead one more page for every page it read: up to that many again,
    # still a sliver of the 200 pages of the history.
    bound = 2 * needed + 1 + meta["catch_up_passes"]
    requests = admin.get("/stats").json()["requests"]["GET /octadesk/tickets"]
    assert requests <= bound, f"{requests} ticket pages requested, at most {bound} needed"
    assert requests < 20_000 // page_size // 10
    assert meta["server_filter_honoured"] is False
    assert meta["listing"] == "stopped at the cursor"
    assert 200 <= meta["records_fetched"] <= 200 + in_lookback
    raw = table(platform_env, "raw.octadesk_tickets")
    assert len(raw) == raw["id"].nunique() == len(world["tickets"])
    updated = {t["id"]: t["updatedAt"] for t in world["tickets"]}
    stored = dict(zip(raw["id"], raw["updated_at"], strict=True))
    assert all(stored[i] == _at(u) for i, u in updated.items())


def test_the_sensor_on_a_filter_ignoring_tenant_requests_a_run_only_after_changes(
    platform_env: dict[str, str], instance: DagsterInstance, admin: httpx.Client
) -> None:
    """The sensor reads the newest records instead of a filtered count the server would not
    filter: nothing changed, no run; a change, one run."""
    _behave(admin, ignore_filters=True)
    octadesk = build_definitions().resources["octadesk"]

    def tick() -> SensorResult:
        with build_sensor_context(instance=instance, resources={"octadesk": octadesk}) as ctx:
            result = octadesk_changes_sensor(ctx)
        assert isinstance(result, SensorResult)
        return result

    assert run_octadesk(instance).success
    quiet = tick()
    assert not quiet.run_requests, "a run was requested although nothing changed"
    admin.post("/octadesk/advance", json={"update": 3}).raise_for_status()
    assert len(tick().run_requests) == 1


def test_a_tenant_that_ignores_the_sort_too_is_read_whole_with_one_warning(
    platform_env: dict[str, str], instance: DagsterInstance, admin: httpx.Client
) -> None:
    _behave(admin, ignore_filters=True, ignore_sort=True)
    assert run_octadesk(instance).success
    admin.post("/octadesk/advance", json={"update": 7, "create": 2}).raise_for_status()
    result = run_octadesk(instance)
    assert result.success
    meta = materialization_metadata(result, RAW_TICKETS)
    assert meta["server_sort_honoured"] is False
    assert meta["listing"].startswith("read to the end")
    assert meta["rows_inserted"] == 2
    warnings = [
        e.message
        for e in instance.all_logs(result.run_id)
        if "did not sort" in e.message and "tickets" in e.message
    ]
    assert len(warnings) == 1, warnings
    assert_matches_truth(platform_env, truth(admin), admin)
    octadesk = build_definitions().resources["octadesk"]
    with build_sensor_context(instance=instance, resources={"octadesk": octadesk}) as ctx:
        tick = octadesk_changes_sensor(ctx)
    assert isinstance(tick, SensorResult) and not tick.run_requests
    assert "does not sort tickets" in tick.skip_reason.skip_message


def test_fewer_records_than_the_server_counts_fail_the_run(
    platform_env: dict[str, str], instance: DagsterInstance, admin: httpx.Client
) -> None:
    """Pages capped silently below the size asked, headers counting full pages: the shortfall
    against X-Total-Items fails the run and no high-water mark is recorded."""
    _behave(admin, cap_pages=True)
    result = run_octadesk(instance, raise_on_error=False)
    assert not result.success
    failures = [e for e in result.all_events if e.is_step_failure]
    message = "\n".join(str(e.event_specific_data.error) for e in failures)
    total = len(truth(admin)["tickets"]) + len(truth(admin)["malformed_tickets"])
    assert f"reported {total} records" in message
    assert "distinct were fetched" in message
    assert last_high_water_mark(instance, RAW_TICKETS) is None


def test_reconciliation_is_in_the_metadata_of_a_full_read(
    platform_env: dict[str, str], instance: DagsterInstance, admin: httpx.Client
) -> None:
    result = run_octadesk(instance)
    assert result.success
    meta = materialization_metadata(result, RAW_TICKETS)
    world = truth(admin)
    total = len(world["tickets"]) + len(world["malformed_tickets"])
    assert meta["total_reported"] == total
    assert meta["distinct_fetched"] == total
    assert meta["reconciliation"] == "compared"
