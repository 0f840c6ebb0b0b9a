"""Telegram end to end: the simulator pushes to the real receiver over loopback, the sensor
requests the landed days, Dagster materializes them in process into a real Parquet lake."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from dagster import (
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
)

from support_assets.definitions import build_definitions
from support_assets.sandbox.server import SandboxConfig
from support_assets.sandbox.telegram_data import GENERATED_KINDS
from support_assets.sources.telegram.assets import (
    BOT_INSIGHTS,
    RAW_UPDATES,
    STAGING_MESSAGES,
    STAGING_SCHEMA,
    TELEGRAM_PARTITIONS,
    normalise_question,
)
from support_assets.sources.telegram.client import BOT_API_UPDATE_KINDS, TelegramResource
from support_assets.sources.telegram.resources import telegram_resource
from support_assets_tests.support.telegram_helpers import (
    deliver_by_webhook,
    lake_table,
    materialize_landed,
    metadata,
    sensor_partitions,
    truth,
    zone,
)

INVENTED_KIND = "zz_loyalty_points"


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(
        seed=21,
        octadesk_tickets=1,
        octadesk_chats=1,
        helpdesk_web_tickets=1,
        telegram_updates=0,
        telegram_redelivery_percent=5,
    )


@pytest.fixture
def telegram(platform_env: dict[str, str]) -> Iterator[TelegramResource]:
    with telegram_resource().process_config_and_initialize_cm() as resource:
        yield resource


# ---- acceptance ---------------------------------------------------------------------------------


def test_2000_updates_pushed_concurrently_with_5pct_redelivered_end_as_2000_rows(
    platform_env: dict[str, str],
    instance: DagsterInstance,
    admin: httpx.Client,
    telegram: TelegramResource,
) -> None:
    ids = admin.post("/telegram/generate", json={"count": 2000, "spread_seconds": 3600}).json()[
        "update_ids"
    ]
    status = deliver_by_webhook(telegram, admin)

    assert status["delivered"] == 2000 and status["failed_attempts"] == 0
    redelivered = status["redelivered"]
    assert redelivered == status["redeliveries_planned"]
    assert 60 <= redelivered <= 140, "about 5% of 2000 should arrive twice"
    landed = [r.payload["update_id"] for day in zone().days() for r in zone().read(day)]
    assert len(landed) == 2000 + redelivered  # every copy was landed...

    results = materialize_landed(instance)
    staging = lake_table(platform_env, STAGING_MESSAGES)
    assert staging.num_rows == 2000  # ...and each update is one row
    assert sorted(staging.column("update_id").to_pylist()) == sorted(ids)
    raw_meta = metadata(results, RAW_UPDATES)
    assert sum(m["duplicates_dropped"] for m in raw_meta) == redelivered

    # Every kind the simulator produces lands with its kind recorded.
    world = {u["update_id"]: u for u in truth(admin)["updates"]}
    kinds = dict(
        zip(
            staging.column("update_id").to_pylist(), staging.column("kind").to_pylist(), strict=True
        )
    )
    assert kinds == {i: world[i]["kind"] for i in ids}
    assert set(kinds.values()) == set(GENERATED_KINDS)
    assert all(staging.column("known_kind").to_pylist())
    raw = lake_table(platform_env, RAW_UPDATES).to_pylist()
    assert {r["update_id"]: json.loads(r["update_json"]) for r in raw} == {
        i: world[i]["update"] for i in ids
    }

    # The mart follows: its question counts are the simulator's, variants merged.
    job = build_definitions().resolve_implicit_global_asset_job_def()
    run_config = {"ops": {"marts__bot_insights": {"config": {"top_questions": 50}}}}
    mart = job.execute_in_process(
        instance=instance, asset_selection=[BOT_INSIGHTS], run_config=run_config
    )
    assert mart.success
    with duckdb.connect(platform_env["SUPPORT_DUCKDB_PATH"], read_only=True) as con:
        insights = con.execute("select * from marts.bot_insights").df()
    asked = Counter(
        normalise_question(u["meta"]["question"])
        for u in world.values()
        if u["meta"]["question"] and u["meta"]["chat_type"] == "private"
    )
    top = insights[insights["insight"] == "top_question"].set_index("question")
    assert {q: int(top.loc[q, "messages"]) for q in asked} == dict(asked)
    handoff = insights[insights["insight"] == "handoff"].iloc[0]
    assert 0 < handoff["handed_to_human"] < handoff["conversations"]
    hours = insights[insights["insight"] == "volume_by_hour"]
    assert len(hours) == 24 and hours["messages"].sum() > 1000


def test_an_invented_update_kind_is_kept_with_its_json_not_dropped(
    platform_env: dict[str, str], instance: DagsterInstance, admin: httpx.Client
) -> None:
    invented = {
        INVENTED_KIND: {
            "user": {"id": 5550001, "is_bot": False, "first_name": "Conceição"},
            "points": 120,
            "reason": "compra acima de R$ 200 🎉",
            "date": 1795400000,
        }
    }
    injected = admin.post("/telegram/inject", json={"update": invented}).json()["update_id"]
    others = admin.post("/telegram/generate", json={"count": 30}).json()["update_ids"]
    telegram = TelegramResource(
        base_url=platform_env["TELEGRAM_API_BASE_URL"],
        bot_token=platform_env["TELEGRAM_BOT_TOKEN"],
        allowed_updates=[*BOT_API_UPDATE_KINDS, INVENTED_KIND],
    )
    try:
        deliver_by_webhook(telegram, admin)
    finally:
        telegram.close()

    results = materialize_landed(instance)
    staging = lake_table(platform_env, STAGING_MESSAGES).to_pandas().set_index("update_id")
    assert set(staging.index) == {injected, *others}
    row = staging.loc[injected]
    assert row["kind"] == INVENTED_KIND and not row["known_kind"]
    assert json.loads(row["unknown_payload"]) == invented
    assert row["sender_id"] == 5550001
    assert staging.drop(index=injected)["known_kind"].all()
    raw = lake_table(platform_env, RAW_UPDATES).to_pandas().set_index("update_id")
    assert json.loads(raw.loc[injected, "update_json"]) == {"update_id": injected, **invented}
    for key in (RAW_UPDATES, STAGING_MESSAGES):
        [meta] = metadata(results, key)
        assert meta["unknown_kind_updates"] == 1
        assert meta["unknown_kinds"] == {INVENTED_KIND: 1}


def test_staging_parquet_reads_back_with_one_schema_across_partitions(
    platform_env: dict[str, str], instance: DagsterInstance, admin: httpx.Client
) -> None:
    """Two days with very different updates (one only channel posts and polls, mostly null
    columns) write Parquet files with the same Arrow schema; a redelivery across midnight
    stays in the day it first arrived."""
    admin.post("/telegram/generate", json={"count": 150})
    world = [u["update"] for u in truth(admin)["updates"]]
    sparse_kinds = {"channel_post", "edited_channel_post", "poll"}
    sparse = [u for u in world if next(k for k in u if k != "update_id") in sparse_kinds]
    rich = [u for u in world if u not in sparse]
    rich.append({"update_id": 999_000_001, INVENTED_KIND: {"points": 3}})
    today = dt.datetime.now(dt.UTC).date()
    day_a, day_b = today - dt.timedelta(days=2), today - dt.timedelta(days=1)
    at = lambda day, hour: dt.datetime.combine(day, dt.time(hour), dt.UTC)  # noqa: E731
    landing = zone()
    landing.append(sparse, via="webhook", received_at=at(day_a, 23))
    landing.append([rich[0]], via="webhook", received_at=at(day_a, 23))
    landing.append(rich, via="webhook", received_at=at(day_b, 0))  # rich[0] again: redelivery

    results = materialize_landed(instance)
    assert sorted(r.dagster_run.tags["dagster/partition"] for r in results) == [
        day_a.isoformat(),
        day_b.isoformat(),
    ]
    folder = Path(platform_env["SUPPORT_LAKE_URL"], "staging", "telegram_messages")
    files = sorted(folder.glob("date=*/*.parquet"))
    assert {f.parent.name for f in files} == {f"date={day_a}", f"date={day_b}"}
    schemas = [pq.read_schema(f).remove_metadata() for f in files]
    expected = pa.schema(
        [
            *STAGING_SCHEMA,
            pa.field("_loaded_at", pa.timestamp("us", tz="UTC")),
            ("_run_id", pa.string()),
        ]
    )
    for schema in schemas:
        assert schema.names == expected.names
        assert schema.types == expected.types

    table = ds.dataset(folder, format="parquet", partitioning="hive").to_table()
    assert table.num_rows == len(sparse) + len(rich)
    days = Counter(str(d) for d in table.column("date").to_pylist())
    assert days == {day_a.isoformat(): len(sparse) + 1, day_b.isoformat(): len(rich) - 1}
    assert table.column("update_id").to_pylist().count(rich[0]["update_id"]) == 1
    [meta_b] = [m for m in metadata(results, RAW_UPDATES) if m["received_earlier_dropped"]]
    assert meta_b["received_earlier_dropped"] == 1


def test_the_sensor_requests_the_days_whose_landing_files_changed(
    platform_env: dict[str, str], instance: DagsterInstance
) -> None:
    landing = zone()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    yesterday = now - dt.timedelta(days=1)
    landing.append([{"update_id": 1, "message": {}}], via="webhook", received_at=yesterday)
    landing.append([{"update_id": 2, "message": {}}], via="webhook", received_at=now)
    landing.append(
        [{"update_id": 3, "message": {}}], via="webhook", received_at=now - dt.timedelta(days=30)
    )

    first = sensor_partitions(instance)
    keys = sorted(r.partition_key for r in first.run_requests)
    assert keys == [yesterday.date().isoformat(), now.date().isoformat()]  # not 30 days ago
    assert all(r.run_key for r in first.run_requests)

    nothing_new = sensor_partitions(instance, first.cursor)
    assert not nothing_new.run_requests and nothing_new.cursor == first.cursor

    landing.append([{"update_id": 4, "message": {}}], via="webhook", received_at=now)
    grew = sensor_partitions(instance, first.cursor)
    assert [r.partition_key for r in grew.run_requests] == [now.date().isoformat()]

    # While a run for that day is in flight, the change waits for a later tick.
    running = instance.add_run(
        DagsterRun(
            job_name="telegram_job",
            status=DagsterRunStatus.STARTED,
            tags={"dagster/partition": now.date().isoformat()},
        )
    )
    landing.append([{"update_id": 5, "message": {}}], via="webhook", received_at=now)
    waiting = sensor_partitions(instance, grew.cursor)
    assert not waiting.run_requests
    assert json.loads(waiting.cursor) == json.loads(grew.cursor)
    instance.delete_run(running.run_id)
    after = sensor_partitions(instance, waiting.cursor)
    assert [r.partition_key for r in after.run_requests] == [now.date().isoformat()]


def test_todays_partition_exists_so_it_can_be_materialized_during_the_day() -> None:
    before = dt.datetime.now(dt.UTC).date().isoformat()
    last = TELEGRAM_PARTITIONS.get_last_partition_key()
    after = dt.datetime.now(dt.UTC).date().isoformat()
    assert last in (before, after)
    job = build_definitions().resolve_job_def("telegram_job")
    assert job.partitions_def == TELEGRAM_PARTITIONS
