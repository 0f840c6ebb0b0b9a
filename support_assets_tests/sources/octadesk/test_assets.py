"""Octadesk end to end: the real assets, against the sandbox over HTTP, into a real DuckDB file.

Every test runs twice: against the documented sandbox and against the divergent one (filters
ignored, lists in an envelope without totals, numbers as strings and strings as numbers), and
asserts the same ground truth.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from typing import Any

import duckdb
import httpx
import pandas as pd
import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    ExecuteInProcessResult,
    SensorResult,
    SkipReason,
    build_sensor_context,
)

from support_assets.core.records import last_high_water_mark
from support_assets.core.sandbox_defaults import SANDBOX_OCTADESK_API_KEY
from support_assets.definitions import build_definitions
from support_assets.sandbox.octadesk.divergent import diverge_ticket
from support_assets.sandbox.server import SandboxConfig
from support_assets.sources.octadesk.assets import RAW_TICKETS
from support_assets.sources.octadesk.sensors import octadesk_changes_sensor
from support_assets.sources.octadesk.staging_tickets import build_staging_tickets

LOOKBACK_MINUTES = 10
TICKETS_QUARANTINE = AssetKey(["raw", "octadesk_tickets_quarantine"])
CHATS_QUARANTINE = AssetKey(["raw", "octadesk_chats_quarantine"])


@pytest.fixture(params=[False, True], ids=["documented", "divergent"])
def sandbox_config(request: pytest.FixtureRequest) -> SandboxConfig:
    """Every test here also meets a few malformed tickets, as production would."""
    return SandboxConfig(
        seed=11,
        octadesk_tickets=240,
        octadesk_chats=120,
        octadesk_malformed=3,
        divergent=request.param,
    )


def served(admin: httpx.Client, record: dict[str, Any]) -> dict[str, Any]:
    """A ticket as the sandbox serves it now (retyped when divergent): what raw keeps."""
    behaviour = admin.get("/octadesk/behaviour").raise_for_status().json()
    return diverge_ticket(record) if behaviour["retype"] else record


def run_octadesk(
    instance: DagsterInstance, full_refresh: bool = False, raise_on_error: bool = True
) -> ExecuteInProcessResult:
    config = {"full_refresh": full_refresh, "lookback_minutes": LOOKBACK_MINUTES}
    job = build_definitions().resolve_job_def("octadesk_job")
    return job.execute_in_process(
        instance=instance,
        raise_on_error=raise_on_error,
        run_config={
            "ops": {
                "octadesk_raw_tickets": {"config": config},
                "octadesk_raw_chats": {"config": config},
            }
        },
    )


def truth(admin: httpx.Client) -> dict[str, Any]:
    return admin.get("/octadesk/truth").raise_for_status().json()


def table(env: dict[str, str], name: str) -> pd.DataFrame:
    with duckdb.connect(env["SUPPORT_DUCKDB_PATH"], read_only=True) as con:
        return con.execute(f"select * from {name}").df()


def materialization_metadata(result: ExecuteInProcessResult, key) -> dict[str, Any]:
    [materialization] = [
        e.event_specific_data.materialization
        for e in result.get_asset_materialization_events()
        if e.event_specific_data.materialization.asset_key == key
    ]
    return {k: v.value for k, v in materialization.metadata.items()}


def assert_matches_truth(
    env: dict[str, str], world: dict[str, Any], admin: httpx.Client | None = None
) -> None:
    """Raw and staging tables hold exactly the sandbox's valid records, current versions (raw
    as served, staging in the documented types whatever the server sent)."""
    tickets = {t["id"]: t for t in world["tickets"]}
    as_served = (lambda t: served(admin, t)) if admin is not None else (lambda t: t)
    chats = {c["id"]: c for c in world["chats"]}

    raw = table(env, "raw.octadesk_tickets")
    assert len(raw) == raw["id"].nunique() == len(tickets)
    assert set(raw["id"]) == set(tickets)
    assert dict(zip(raw["id"], raw["status"], strict=True)) == {
        i: t["status"]["name"] for i, t in tickets.items()
    }
    for row in raw.itertuples():
        assert json.loads(row.record) == as_served(tickets[row.id])

    staging = table(env, "staging.octadesk_tickets").set_index("ticket_id")
    assert set(staging.index) == set(tickets)
    for ticket_id, ticket in tickets.items():
        row = staging.loc[ticket_id]
        assert row["ticket_number"] == ticket["number"]
        assert row["status"] == ticket["status"]["name"]
        assert row["updated_at"] == pd.Timestamp(ticket["updatedAt"])
        for custom in ticket["customField"]:
            column = "cf_" + custom["key"]
            assert column in staging.columns, column
            assert row[column] == (None if custom["value"] is None else str(custom["value"]))

    raw_chats = table(env, "raw.octadesk_chats")
    assert len(raw_chats) == raw_chats["id"].nunique() == len(chats)
    assert dict(zip(raw_chats["id"], raw_chats["status"], strict=True)) == {
        i: c["status"] for i, c in chats.items()
    }
    staging_chats = table(env, "staging.octadesk_chats").set_index("chat_id")
    assert set(staging_chats.index) == set(chats)
    # Chat custom fields are columns, as the tickets' are.
    chat_fields = [(i, f) for i, c in chats.items() for f in c.get("customFields") or []]
    assert chat_fields, "the sandbox's chats carry custom fields"
    for chat_id, custom in chat_fields:
        assert staging_chats.loc[chat_id, "cf_" + custom["key"]] == str(custom["value"])
    for chat_id, events in world["chat_events"].items():
        if chat_id not in chats:
            continue
        linked = [e["data"]["ticketNumber"] for e in events if e["type"] == "ticket"]
        expected = int(linked[0]) if linked else None
        got = staging_chats.loc[chat_id, "ticket_number"]
        assert (None if pd.isna(got) else int(got)) == expected, chat_id


def test_full_materialization_equals_ground_truth(
    platform_env: dict[str, str], instance: DagsterInstance, admin: httpx.Client
) -> None:
    result = run_octadesk(instance)
    assert result.success
    assert_matches_truth(platform_env, truth(admin), admin)
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 5
    assert all(c.passed for c in checks), [
        (c.check_name, c.metadata) for c in checks if not c.passed
    ]
    meta = materialization_metadata(result, RAW_TICKETS)
    assert meta["rows_inserted"] == len(truth(admin)["tickets"])
    assert meta["fetched_since"] == "everything"
    # Both quarantines are materialized on every run, the empty one too: zero is a fact.
    for key, count in ((TICKETS_QUARANTINE, 3), (CHATS_QUARANTINE, 0)):
        assert materialization_metadata(result, key)["quarantined"] == count
        assert len(table(platform_env, "raw." + key.path[-1])) == count
    assert (
        meta["high_water_mark"]
        == max(
            datetime.fromisoformat(t["updatedAt"].replace("Z", "+00:00"))
            for t in truth(admin)["tickets"]
        ).isoformat()
    )


def test_second_run_without_changes_writes_nothing_new(
    platform_env: dict[str, str], instance: DagsterInstance, admin: httpx.Client
) -> None:
    assert run_octadesk(instance).success
    before = table(platform_env, "raw.octadesk_tickets")
    hwm = last_high_water_mark(instance, RAW_TICKETS)

    second = run_octadesk(instance)
    assert second.success
    meta = materialization_metadata(second, RAW_TICKETS)
    assert meta["rows_inserted"] == 0
    world = truth(admin)
    in_lookback = sum(
        datetime.fromisoformat(t["updatedAt"].replace("Z", "+00:00"))
        >= hwm - timedelta(minutes=LOOKBACK_MINUTES)
        for t in world["tickets"]
    )
    assert meta["records_fetched"] <= in_lookback
    after = table(platform_env, "raw.octadesk_tickets")
    assert len(after) == len(before) == after["id"].nunique()
    assert last_high_water_mark(instance, RAW_TICKETS) == hwm
    assert_matches_truth(platform_env, world, admin)


def test_sensor_requests_a_run_only_after_changes_and_the_run_fetches_only_them(
    platform_env: dict[str, str],
    instance: DagsterInstance,
    admin: httpx.Client,
    sandbox_config: SandboxConfig,
) -> None:
    defs = build_definitions()
    octadesk = defs.resources["octadesk"]

    def tick() -> SensorResult | SkipReason:
        with build_sensor_context(instance=instance, resources={"octadesk": octadesk}) as ctx:
            return octadesk_changes_sensor(ctx)

    first = tick()  # nothing loaded yet: everything counts as changed
    assert isinstance(first, SensorResult) and len(first.run_requests) == 1
    assert run_octadesk(instance).success
    quiet = tick()
    assert isinstance(quiet, SensorResult) and not quiet.run_requests
    assert "nothing changed" in quiet.skip_reason.skip_message

    k, m = 7, 4
    change = admin.post("/octadesk/advance", json={"update": k, "create": m}).json()
    assert len(change["updated"]) == k and len(change["created"]) == m
    hwm = last_high_water_mark(instance, RAW_TICKETS)
    world = truth(admin)
    lookback_window = sum(
        hwm - timedelta(minutes=LOOKBACK_MINUTES)
        <= datetime.fromisoformat(t["updatedAt"].replace("Z", "+00:00"))
        <= hwm
        for t in world["tickets"]
    )

    requested = tick()
    assert isinstance(requested, SensorResult) and len(requested.run_requests) == 1
    assert json.loads(requested.run_requests[0].tags["support_assets/changed"])["tickets"] == k + m

    admin.delete("/stats")
    result = run_octadesk(instance)
    assert result.success
    meta = materialization_metadata(result, RAW_TICKETS)
    assert k + m <= meta["records_fetched"] <= k + m + lookback_window
    assert meta["rows_inserted"] == m
    stats = admin.get("/stats").json()
    if not sandbox_config.divergent:
        assert stats["records_served"]["tickets"] <= k + m + lookback_window
    # Whether or not the server filtered: the pages of the changes and the lookback window (and
    # the page that shows where they end), and one page per catch-up pass; each listing fetches
    # ahead one more page for every page it read, so up to that many again.
    page_size = defs.resources["octadesk"].page_size
    needed = math.ceil((k + m + lookback_window + 1) / page_size) + meta["catch_up_passes"]
    bound = 2 * needed + 1 + meta["catch_up_passes"]
    assert stats["requests"]["GET /octadesk/tickets"] <= bound
    assert_matches_truth(platform_env, world, admin)
    assert isinstance(tick(), SensorResult) and not tick().run_requests


def test_faults_are_retried_and_the_result_still_equals_ground_truth(
    platform_env: dict[str, str],
    instance: DagsterInstance,
    admin: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OCTADESK_TIMEOUT_SECONDS", "1")
    admin.put(
        "/faults",
        json={
            "rate_limit_every": 9,
            "retry_after": "1",
            "error_every": 7,
            "slow_every": 23,
            "slow_seconds": 2.5,
            "duplicate_across_pages": True,
            "mutate_during_pagination": True,
            "max_faults": 14,
        },
    ).raise_for_status()
    result = run_octadesk(instance)
    assert result.success
    stats = admin.get("/stats").json()["faults_injected"]
    assert stats.get("429", 0) >= 1 and stats.get("500", 0) >= 1 and stats.get("slow", 0) >= 1
    admin.delete("/faults")
    assert_matches_truth(platform_env, truth(admin), admin)
    messages = [e.message for e in instance.all_logs(result.run_id)]
    assert any("HTTP 429" in m and "retry" in m for m in messages)
    assert any("HTTP 500" in m and "retry" in m for m in messages)
    assert any("timed out" in m and "retry" in m for m in messages)


def test_malformed_records_are_quarantined_once_with_reason_and_payload(
    platform_env: dict[str, str], instance: DagsterInstance, admin: httpx.Client
) -> None:
    assert run_octadesk(instance).success
    assert run_octadesk(instance, full_refresh=True).success
    quarantine = table(platform_env, "raw.octadesk_tickets_quarantine")
    malformed = truth(admin)["malformed_tickets"]
    assert len(malformed) == 3
    assert len(quarantine) == 3
    assert {json.dumps(json.loads(p), sort_keys=True) for p in quarantine["payload"]} == {
        json.dumps(served(admin, r), sort_keys=True) for r in malformed
    }
    assert all(quarantine["reason"].str.len() > 5)
    assert_matches_truth(platform_env, truth(admin), admin)


def test_api_keys_never_appear_in_logs_metadata_or_errors(
    platform_env: dict[str, str],
    instance: DagsterInstance,
    admin: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A run with the right key and a failing run with a wrong one: neither key is ever shown."""
    from dagster import serialize_value

    ok = run_octadesk(instance)
    hwm = last_high_water_mark(instance, RAW_TICKETS)
    admin.post("/octadesk/advance", json={"update": 3}).raise_for_status()
    wrong_key = "wrong-key-Zx81-never-print-me-0042"
    monkeypatch.setenv("OCTADESK_API_KEY", wrong_key)
    failed = run_octadesk(instance, raise_on_error=False)
    assert ok.success and not failed.success

    texts = []
    for run in (ok, failed):
        texts += [serialize_value(e) for e in instance.all_logs(run.run_id)]
        dagster_run = instance.get_run_by_id(run.run_id)
        texts.append(serialize_value(dagster_run))
        plan = instance.get_execution_plan_snapshot(dagster_run.execution_plan_snapshot_id)
        texts.append(serialize_value(plan))
        texts.append(serialize_value(instance.get_job_snapshot(dagster_run.job_snapshot_id)))
    failures = [e for e in failed.all_events if e.is_step_failure]
    assert failures
    texts += [str(e.event_specific_data.error) for e in failures]
    captured = capfd.readouterr()
    texts += [captured.out, captured.err]
    blob = "\n".join(texts)
    assert "HTTP 401" in blob  # the failure is there, and readable
    assert "OCTADESK_API_KEY" in blob  # the setting is referenced by name...
    assert SANDBOX_OCTADESK_API_KEY not in blob  # ...never by value
    assert wrong_key not in blob
    assert last_high_water_mark(instance, RAW_TICKETS) == hwm  # a failed run moves no cursor


def _raw_ticket(number: int, custom: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": f"t-{number}",
        "number": number,
        "createdAt": "2026-11-01T10:00:00Z",
        "updatedAt": "2026-11-01T11:00:00Z",
        "customField": custom,
    }


def test_custom_field_keys_that_normalise_alike_keep_every_value_deterministically() -> None:
    """``"CPF "`` and ``"cpf"`` both normalise to cf_cpf: neither value may overwrite the other,
    and each key lands in the same column whatever the order of the fields or tickets."""
    tickets = [
        _raw_ticket(1, [{"key": "CPF ", "value": "first"}, {"key": "cpf", "value": "second"}]),
        _raw_ticket(2, [{"key": "cpf", "value": "only-normal"}]),
        _raw_ticket(3, [{"key": "CPF ", "value": "only-variant"}, {"key": "Plano", "value": 5}]),
    ]
    chats = pd.DataFrame(columns=["ticket_number", "chat_id", "satisfaction_score"])

    def build(records: list[dict[str, Any]]) -> pd.DataFrame:
        raw = pd.DataFrame({"record": [json.dumps(r) for r in records]})
        return build_staging_tickets(raw, chats).set_index("ticket_number")

    frame = build(tickets)
    variant = [c for c in frame.columns if c.startswith("cf_cpf__")]
    assert len(variant) == 1, list(frame.columns)
    assert frame.loc[1, "cf_cpf"] == "second" and frame.loc[1, variant[0]] == "first"
    assert frame.loc[2, "cf_cpf"] == "only-normal" and pd.isna(frame.loc[2, variant[0]])
    assert frame.loc[3, variant[0]] == "only-variant" and pd.isna(frame.loc[3, "cf_cpf"])
    assert frame.loc[3, "cf_plano"] == "5"
    # Reversed fields and tickets: the same columns, the same values.
    reordered = [dict(t, customField=list(reversed(t["customField"]))) for t in tickets[::-1]]
    again = build(reordered)
    assert sorted(again.columns) == sorted(frame.columns)
    pd.testing.assert_frame_equal(again.sort_index()[frame.columns], frame.sort_index())
