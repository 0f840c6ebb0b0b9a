"""The compatibility view the old Octadesk dashboards read (a Sac_Octadesk-like table with an
``upload`` column), made by the real octadesk job against the sandbox, on DuckDB and on the
BigQuery emulator through the official client."""

from __future__ import annotations

from typing import Any

import duckdb
import httpx
import pandas as pd
import pytest
from dagster import DagsterInstance

from support_assets.definitions import build_definitions
from support_assets.sandbox.server import SandboxConfig
from support_assets.sources.octadesk.compat import COMPAT_OCTADESK, chat_column
from support_assets_tests.support.bigquery_backend import unique_dataset_prefix
from tools.bigquery_emulator import BigQueryEmulator

#: Columns the old table's readers use, by the names the view gives them.
OLD_TABLE_COLUMNS = {
    "ticket_id", "ticket_number", "summary", "status", "channel", "requester_name",
    "requester_email", "agent_name", "group_name", "tags", "created_at", "updated_at",
    "closed_at", "satisfaction_score", "chat_id", "chat_channel", "chat_agent_name",
    "chat_created_at", "chat_closed_at", "chat_satisfaction_score", "upload",
}  # fmt: skip


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(seed=13, octadesk_tickets=40, octadesk_chats=30)


def run_octadesk(instance: DagsterInstance) -> Any:
    job = build_definitions().resolve_job_def("octadesk_job")
    result = job.execute_in_process(instance=instance)
    assert result.success
    return result


def expected_columns(world: dict[str, Any]) -> set[str]:
    ticket_fields = {f"cf_{c['key']}" for t in world["tickets"] for c in t["customField"]}
    chat_fields = {f"chat_cf_{c['key']}" for c in world["chats"] for c in c["customFields"]}
    assert ticket_fields and chat_fields, "the sandbox's records carry custom fields"
    return OLD_TABLE_COLUMNS | ticket_fields | chat_fields


def assert_view_answers(view: pd.DataFrame, staging_tickets: pd.DataFrame, world: dict) -> None:
    """One row per ticket and linked chat, every ticket and chat present, upload set."""
    assert expected_columns(world) <= set(view.columns), expected_columns(world) - set(view.columns)
    assert not {"_loaded_at", "_run_id"} & set(view.columns)
    assert set(view["ticket_id"].dropna()) == {t["id"] for t in world["tickets"]}
    assert set(view["chat_id"].dropna()) == {c["id"] for c in world["chats"]}
    assert view["upload"].notna().all()
    loaded = dict(zip(staging_tickets["ticket_id"], staging_tickets["_loaded_at"], strict=True))
    for row in view.dropna(subset=["ticket_id"]).itertuples():
        assert pd.Timestamp(row.upload) == pd.Timestamp(loaded[row.ticket_id])
    # A ticket's custom field reads as the source wrote it.
    ticket = next(t for t in world["tickets"] if t["customField"])
    field = ticket["customField"][0]
    [value] = set(view.loc[view["ticket_id"] == ticket["id"], f"cf_{field['key']}"])
    assert value == (None if field["value"] is None else str(field["value"]))
    chat = next(c for c in world["chats"] if c["customFields"])
    [value] = set(
        view.loc[view["chat_id"] == chat["id"], chat_column("cf_" + chat["customFields"][0]["key"])]
    )
    assert value == str(chat["customFields"][0]["value"])


def test_the_view_answers_the_old_tables_columns_on_duckdb(
    platform_env: dict[str, str],
    instance: DagsterInstance,
    admin: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SUPPORT_COMPAT_OCTADESK_VIEW", "DataLake_2025.Sac_Octadesk")
    result = run_octadesk(instance)
    [materialization] = [
        e.event_specific_data.materialization
        for e in result.get_asset_materialization_events()
        if e.event_specific_data.materialization.asset_key == COMPAT_OCTADESK
    ]
    assert materialization.metadata["view"].value == "DataLake_2025.Sac_Octadesk"
    world = admin.get("/octadesk/truth").raise_for_status().json()
    with duckdb.connect(platform_env["SUPPORT_DUCKDB_PATH"], read_only=True) as con:
        view = con.execute('select * from "DataLake_2025"."Sac_Octadesk"').df()
        tickets = con.execute("select * from staging.octadesk_tickets").df()
        kind = con.execute(
            "select table_type from information_schema.tables where table_name = 'Sac_Octadesk'"
        ).fetchone()
    assert kind == ("VIEW",)
    assert_view_answers(view, tickets, world)

    # A name that holds a table (as the old script's would) is never replaced.
    monkeypatch.setenv("SUPPORT_COMPAT_OCTADESK_VIEW", "staging.octadesk_tickets")
    job = build_definitions().resolve_implicit_global_asset_job_def()
    refused = job.execute_in_process(
        instance=instance, asset_selection=[COMPAT_OCTADESK], raise_on_error=False
    )
    assert not refused.success
    [failure] = [e for e in refused.all_events if e.is_step_failure]
    assert "staging.octadesk_tickets exists and is a table, not a view" in (
        failure.event_specific_data.error.to_string()
    )
    with duckdb.connect(platform_env["SUPPORT_DUCKDB_PATH"], read_only=True) as con:
        assert len(con.execute("select * from staging.octadesk_tickets").df()) == len(tickets)


def test_the_view_answers_the_old_tables_columns_on_the_bigquery_emulator(
    platform_env: dict[str, str],
    instance: DagsterInstance,
    admin: httpx.Client,
    bigquery_emulator: BigQueryEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prefix = unique_dataset_prefix()
    for name, value in {
        "SUPPORT_WAREHOUSE": "bigquery",
        "BIGQUERY_PROJECT": bigquery_emulator.project,
        "BIGQUERY_DATASET_PREFIX": prefix,
        "SUPPORT_COMPAT_OCTADESK_VIEW": "Sac_Octadesk",
    }.items():
        monkeypatch.setenv(name, value)
    run_octadesk(instance)
    world = admin.get("/octadesk/truth").raise_for_status().json()
    client = bigquery_emulator.client()
    project = bigquery_emulator.project

    def read(dataset: str, name: str) -> pd.DataFrame:
        sql = f"SELECT * FROM `{project}`.`{prefix}{dataset}`.`{name}`"
        return client.query(sql).to_dataframe(create_bqstorage_client=False)

    view = read("compat", "Sac_Octadesk")
    assert client.get_table(f"{project}.{prefix}compat.Sac_Octadesk").table_type == "VIEW"
    assert_view_answers(view, read("staging", "octadesk_tickets"), world)
