"""What only the BigQuery backend promises, on the local emulator (never skipped).

The shared semantics run in ``test_contract.py`` (backend ``bigquery``). Here: the real Octadesk
assets materialize into BigQuery by changing settings only and equal the sandbox's truth, a
second incremental run updates in place; a merge sends one load job and one MERGE per asset per
run however many chunks (pages) the output has, counted on the emulator's own job list; the
table layout (day partitioning on the DATE column, column names as produced, staging tables
dropped); widening by rewrite keeps the partitioning; identifiers that could break out of their
quotes are refused before any SQL is sent.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from collections import Counter
from typing import Any

import httpx
import pandas as pd
import pyarrow as pa
import pytest
from dagster import DagsterInstance, materialize
from dagster_gcp import BigQueryResource

import support_assets_tests.sources.octadesk.test_assets as octadesk_tests
from support_assets.definitions import build_resources
from support_assets.io_managers import TableStream
from support_assets.io_managers.bigquery import BigQueryWarehouseIOManager
from support_assets.io_managers.bigquery_schema import (
    bigquery_type,
    conform_column,
    supertype,
    validate_column,
    validate_project,
)
from support_assets.sandbox.server import SandboxConfig
from support_assets.sources.octadesk.assets import RAW_CHATS, RAW_TICKETS
from support_assets_tests.io_managers.backends import PREFIX, table_asset
from support_assets_tests.support.bigquery_backend import read_table, unique_dataset_prefix
from tools.bigquery_emulator import BigQueryEmulator

# ---- helpers --------------------------------------------------------------------------------


def jobs_of_run(emulator: BigQueryEmulator, run_id: str) -> list[Any]:
    """The emulator's jobs labelled with ``run_id`` (every job the IO manager sends is)."""
    client = emulator.client()
    return [
        job
        for job in client.list_jobs(all_users=True)
        if (job.labels or {}).get("dagster_run_id") == run_id
    ]


def job_kinds(jobs: list[Any], asset: str) -> Counter:
    """``load`` / statement types (``MERGE``, ``DELETE``, ...) of one asset's jobs."""
    kinds: Counter = Counter()
    for job in jobs:
        if job.labels.get("dagster_asset") != asset:
            continue
        kinds[job.job_type if job.job_type == "load" else job.statement_type] += 1
    return kinds


@pytest.fixture
def io_manager(bigquery_emulator: BigQueryEmulator) -> BigQueryWarehouseIOManager:
    return BigQueryWarehouseIOManager(
        bigquery=BigQueryResource(project=bigquery_emulator.project),
        dataset_prefix=unique_dataset_prefix(),
    )


def things_id(io_manager: BigQueryWarehouseIOManager) -> str:
    return f"{io_manager.project}.{io_manager.dataset_prefix}{PREFIX}.things"


def stored(
    emulator: BigQueryEmulator, io_manager: BigQueryWarehouseIOManager, table: str
) -> pd.DataFrame:
    frame = read_table(
        emulator.client(), emulator.project, io_manager.dataset_prefix + PREFIX, table
    )
    assert frame is not None, f"{table} was not created"
    return frame


def materialize_one(io_manager: BigQueryWarehouseIOManager, value: Any, **kwargs: Any):
    partition = kwargs.pop("partition", None)
    definition = table_asset(value, metadata=kwargs, partitioned=partition is not None)
    result = materialize(
        [definition], resources={"io_manager": io_manager}, partition_key=partition
    )
    assert result.success
    (materialization,) = result.asset_materializations_for_node(definition.op.name)
    meta = {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
    return result, meta


# ---- one load job and one MERGE per asset per run -------------------------------------------


def test_a_merge_of_many_chunks_sends_one_load_and_one_merge(
    bigquery_emulator: BigQueryEmulator, io_manager: BigQueryWarehouseIOManager
) -> None:
    spec = {"write_mode": "merge", "primary_key": ["id"]}
    materialize_one(io_manager, pd.DataFrame({"id": [1, 2], "v": ["a", "b"]}), **spec)
    chunks = [pd.DataFrame({"id": range(n, n + 50), "v": f"page{n}"}) for n in (0, 50, 100)]
    # The last page repeats ids 0-9 with newer values: the newest row wins, as chunk by chunk.
    chunks.append(pd.DataFrame({"id": range(10), "v": "newest"}))
    result, meta = materialize_one(io_manager, TableStream(chunks), **spec)

    kinds = job_kinds(jobs_of_run(bigquery_emulator, result.run_id), f"{PREFIX}__things")
    assert kinds["load"] == 1 and kinds["MERGE"] == 1, kinds
    assert meta["chunks"] == 4
    assert (meta["load_jobs"], meta["merge_statements"]) == (1, 1)
    # 160 rows written; 148 new ids; 2 ids already stored + 10 repeated in a later chunk.
    assert (meta["rows_written"], meta["rows_inserted"], meta["rows_updated"]) == (160, 148, 12)
    assert meta["dagster/row_count"] == 150
    assert set(meta["bigquery_job_ids"]) >= {
        j.job_id for j in jobs_of_run(bigquery_emulator, result.run_id)
    }
    rows = stored(bigquery_emulator, io_manager, "things").set_index("id")["v"]
    assert len(rows) == rows.index.nunique() == 150
    assert rows[0] == rows[9] == "newest" and rows[10] == "page0" and rows[149] == "page100"
    # The staging table is gone.
    client = bigquery_emulator.client()
    tables = [t.table_id for t in client.list_tables(io_manager.dataset_prefix + PREFIX)]
    assert tables == ["things"]


def test_an_append_of_many_chunks_sends_one_load(
    bigquery_emulator: BigQueryEmulator, io_manager: BigQueryWarehouseIOManager
) -> None:
    chunks = [pd.DataFrame({"id": [n], "v": [f"c{n}"]}) for n in range(5)]
    chunks.append(pd.DataFrame({"id": [5], "v": ["c5"], "extra": [1.5]}))  # a new column
    result, meta = materialize_one(io_manager, TableStream(chunks), write_mode="append")

    kinds = job_kinds(jobs_of_run(bigquery_emulator, result.run_id), f"{PREFIX}__things")
    assert kinds["load"] == 1 and kinds["MERGE"] == 0, kinds
    frame = stored(bigquery_emulator, io_manager, "things").sort_values("id")
    assert frame["id"].tolist() == list(range(6))
    assert frame["extra"].isna().tolist() == [True] * 5 + [False]


# ---- layout -----------------------------------------------------------------------------------


def test_a_partitioned_asset_gets_a_day_partitioned_table_and_parameterized_deletes(
    bigquery_emulator: BigQueryEmulator, io_manager: BigQueryWarehouseIOManager
) -> None:
    spec = {"write_mode": "replace", "partition_column": "day"}

    def day(date: str, ids: list[int]) -> pd.DataFrame:
        return pd.DataFrame({"id": ids, "day": [dt.date.fromisoformat(date)] * len(ids)})

    materialize_one(io_manager, day("2024-01-01", [1, 2]), partition="2024-01-01", **spec)
    result, _ = materialize_one(io_manager, day("2024-01-02", [3]), partition="2024-01-02", **spec)
    materialize_one(io_manager, day("2024-01-01", [4]), partition="2024-01-01", **spec)

    client = bigquery_emulator.client()
    table = client.get_table(things_id(io_manager))
    assert table.time_partitioning.type_ == "DAY"
    assert table.time_partitioning.field == "day"
    assert {f.name: f.field_type for f in table.schema}["day"] == "DATE"
    frame = stored(bigquery_emulator, io_manager, "things").sort_values("id")
    assert frame["id"].tolist() == [3, 4]
    # The new rows are loaded once into a staging table, then swapped in by one transaction
    # whose DELETE takes the date as a parameter: a failed load never leaves the partition empty.
    jobs = jobs_of_run(bigquery_emulator, result.run_id)
    assert job_kinds(jobs, f"{PREFIX}__things")["load"] == 1
    [swap] = [j for j in jobs if "DELETE FROM" in (getattr(j, "query", None) or "")]
    assert swap.query.startswith("BEGIN TRANSACTION;") and "COMMIT TRANSACTION;" in swap.query
    assert "@partition_date" in swap.query and "2024-01-02" not in swap.query
    assert [p.value for p in swap.query_parameters] == [dt.date(2024, 1, 2)]


def test_a_replace_whose_load_fails_keeps_the_old_rows(
    bigquery_emulator: BigQueryEmulator,
    io_manager: BigQueryWarehouseIOManager,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The new rows go to a staging table first; the swap happens only once they are there."""
    materialize_one(io_manager, pd.DataFrame({"id": [1, 2]}), write_mode="replace")

    def failing_load(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("load job failed (injected)")

    monkeypatch.setattr(BigQueryWarehouseIOManager, "_load", failing_load)
    definition = table_asset(pd.DataFrame({"id": [3]}), metadata={"write_mode": "replace"})
    failed = materialize([definition], resources={"io_manager": io_manager}, raise_on_error=False)
    assert not failed.success
    monkeypatch.undo()
    assert stored(bigquery_emulator, io_manager, "things")["id"].sort_values().tolist() == [1, 2]
    tables = [
        t.table_id
        for t in bigquery_emulator.client().list_tables(things_id(io_manager).rsplit(".", 1)[0])
    ]
    assert not [t for t in tables if "__replace_" in t], tables  # no staging table left behind


def test_column_names_are_kept_as_produced(
    bigquery_emulator: BigQueryEmulator, io_manager: BigQueryWarehouseIOManager
) -> None:
    frame = pd.DataFrame({"TicketId": [1], "Situação do ticket": ["aberto"], "lower": ["x"]})
    materialize_one(io_manager, frame, write_mode="append")
    materialize_one(io_manager, frame.assign(NewColumn=[2]), write_mode="append")

    client = bigquery_emulator.client()
    table = client.get_table(things_id(io_manager))
    assert [f.name for f in table.schema] == [
        "TicketId",
        "Situação do ticket",
        "lower",
        "_loaded_at",
        "_run_id",
        "NewColumn",
    ]


def test_widening_by_rewrite_keeps_the_day_partitioning(
    bigquery_emulator: BigQueryEmulator, io_manager: BigQueryWarehouseIOManager
) -> None:
    spec = {"write_mode": "merge", "primary_key": ["id"], "partition_column": "day"}
    first = pd.DataFrame(
        {"id": [1], "day": [dt.date(2024, 1, 3)], "seen": [dt.date(2024, 1, 1)], "n": [1]}
    )
    materialize_one(io_manager, first, partition="2024-01-03", **spec)
    # A time where dates were: no in-place ALTER exists for it, so the table is rewritten (text
    # no longer widens a column: it goes to <column>__raw, see test_contract.py).
    at = pd.Timestamp("2024-01-02 10:30", tz="UTC")
    second = pd.DataFrame({"id": [2], "day": [dt.date(2024, 1, 3)], "seen": [at], "n": [2.5]})
    materialize_one(io_manager, second, partition="2024-01-03", **spec)

    client = bigquery_emulator.client()
    table = client.get_table(things_id(io_manager))
    types = {f.name: f.field_type for f in table.schema}
    assert (types["seen"], types["n"]) == ("TIMESTAMP", "FLOAT")  # rewrite; ALTER in place
    assert table.time_partitioning.field == "day"
    frame = stored(bigquery_emulator, io_manager, "things").sort_values("id")
    assert frame["seen"].tolist() == [pd.Timestamp("2024-01-01", tz="UTC"), at]
    assert frame["n"].tolist() == [1.0, 2.5]


# ---- identifiers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["a`b", "x` ; DROP TABLE t; --", "back\\slash", "new\nline", "_PARTITIONTIME", ""]
)
def test_column_names_that_could_break_out_of_quotes_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="column name"):
        validate_column(name)


def test_a_bad_column_fails_before_any_job(
    bigquery_emulator: BigQueryEmulator, io_manager: BigQueryWarehouseIOManager
) -> None:
    definition = table_asset(pd.DataFrame({"id": [1], "evil`name": [2]}))
    with pytest.raises(Exception, match="invalid BigQuery column name"):
        materialize([definition], resources={"io_manager": io_manager})
    client = bigquery_emulator.client()
    assert not [
        d for d in client.list_datasets() if d.dataset_id.startswith(io_manager.dataset_prefix)
    ]


@pytest.mark.parametrize("project", ["my-project-1", "example.com:my-project"])
def test_valid_project_ids(project: str) -> None:
    assert validate_project(project) == project


@pytest.mark.parametrize("project", ["My Project", "p`x", "a", "proj.ect"])
def test_invalid_project_ids(project: str) -> None:
    with pytest.raises(ValueError):
        validate_project(project)


# ---- types ------------------------------------------------------------------------------------


def test_types_and_widening_rules() -> None:
    assert bigquery_type(pa.int32()) == "INTEGER"
    assert bigquery_type(pa.uint64()) == "NUMERIC"
    assert bigquery_type(pa.timestamp("us", tz="UTC")) == "TIMESTAMP"
    assert bigquery_type(pa.list_(pa.string())) == "ARRAY<STRING>"
    assert bigquery_type(pa.list_(pa.int32())) == "ARRAY<INTEGER>"
    assert bigquery_type(pa.list_(pa.null())) is None  # only empty lists seen: untyped
    assert bigquery_type(pa.list_(pa.list_(pa.int64()))) == "STRING"  # nested: JSON text
    assert bigquery_type(pa.list_(pa.struct([("a", pa.int64())]))) == "STRING"
    assert supertype("ARRAY<FLOAT>", "ARRAY<INTEGER>") == "ARRAY<FLOAT>"
    assert supertype("STRING", "ARRAY<STRING>") == "STRING"  # a JSON-text column stays text
    with pytest.raises(ValueError, match="do not fit"):
        supertype("ARRAY<INTEGER>", "ARRAY<FLOAT>")
    with pytest.raises(ValueError, match="do not fit"):
        supertype("ARRAY<STRING>", "STRING")
    missing = pa.chunked_array([pa.array([["a"], None], pa.list_(pa.string()))])
    assert conform_column(missing, "ARRAY<STRING>", "x").to_pylist() == [["a"], []]
    assert bigquery_type(pa.null()) is None
    assert supertype("INTEGER", "FLOAT") == "FLOAT"
    assert supertype("FLOAT", "INTEGER") == "FLOAT"
    assert supertype("BOOLEAN", "INTEGER") == "INTEGER"
    assert supertype("INTEGER", "STRING") == "STRING"
    assert supertype("STRING", "INTEGER") == "STRING"
    assert supertype("DATE", "TIMESTAMP") == "TIMESTAMP"
    assert supertype("DATE", "INTEGER") == "STRING"
    nested = pa.chunked_array([pa.array([["a", "ç"], None], pa.list_(pa.string()))])
    assert conform_column(nested, "STRING", "x").to_pylist() == ['["a", "ç"]', None]
    numbers = pa.chunked_array([pa.array([10, None])])
    assert conform_column(numbers, "STRING", "x").to_pylist() == ["10", None]
    assert conform_column(numbers, "FLOAT", "x").to_pylist() == [10.0, None]


# ---- the Octadesk assets, by settings only ---------------------------------------------------


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    """A few malformed tickets too, so the quarantine assets are written as well."""
    return SandboxConfig(seed=11, octadesk_tickets=240, octadesk_chats=120, octadesk_malformed=3)


@pytest.fixture
def bigquery_settings(
    platform_env: dict[str, str],
    bigquery_emulator: BigQueryEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """``platform_env`` plus the settings that move the warehouse to BigQuery."""
    settings = {
        "SUPPORT_WAREHOUSE": "bigquery",
        "BIGQUERY_PROJECT": bigquery_emulator.project,
        "BIGQUERY_DATASET_PREFIX": unique_dataset_prefix(),
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return {**platform_env, **settings}


def test_octadesk_materializes_into_bigquery_and_updates_in_place(
    bigquery_settings: dict[str, str],
    bigquery_emulator: BigQueryEmulator,
    instance: DagsterInstance,
    admin: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert isinstance(build_resources()["warehouse_io_manager"], BigQueryWarehouseIOManager)
    client = bigquery_emulator.client()
    prefix = bigquery_settings["BIGQUERY_DATASET_PREFIX"]

    def bigquery_table(env: dict[str, str], name: str) -> pd.DataFrame:
        layer, table = name.split(".")
        frame = read_table(client, bigquery_emulator.project, prefix + layer, table)
        assert frame is not None, name
        return frame

    # The Octadesk suite's own comparison with the sandbox's truth, reading BigQuery instead.
    monkeypatch.setattr(octadesk_tests, "table", bigquery_table)

    first = octadesk_tests.run_octadesk(instance)
    assert first.success
    octadesk_tests.assert_matches_truth(bigquery_settings, octadesk_tests.truth(admin))
    assert all(c.passed for c in first.get_asset_check_evaluations())
    tickets_meta = octadesk_tests.materialization_metadata(first, RAW_TICKETS)
    assert tickets_meta["pages_fetched"] > 1  # several chunks ...
    jobs = jobs_of_run(bigquery_emulator, first.run_id)
    for key in (RAW_TICKETS, RAW_CHATS):
        kinds = job_kinds(jobs, "__".join(key.path))
        assert kinds["load"] == 1 and kinds["MERGE"] == 1, (key, kinds)  # ... one load, one MERGE
    quarantine = job_kinds(jobs, "raw__octadesk_tickets_quarantine")
    assert quarantine["load"] == 1 and quarantine["MERGE"] == 1, quarantine
    assert bigquery_table(bigquery_settings, "raw.octadesk_tickets_quarantine").shape[0] == 3

    change = admin.post("/octadesk/advance", json={"update": 9, "create": 4}).json()
    second = octadesk_tests.run_octadesk(instance)
    assert second.success
    world = octadesk_tests.truth(admin)
    octadesk_tests.assert_matches_truth(bigquery_settings, world)  # statuses, no duplicates
    meta = octadesk_tests.materialization_metadata(second, RAW_TICKETS)
    assert meta["rows_inserted"] == len(change["created"]) == 4
    assert meta["rows_updated"] >= len(change["updated"]) == 9
    raw = bigquery_table(bigquery_settings, "raw.octadesk_tickets")
    updated = raw[raw["number"].isin(change["updated"])]  # ticket numbers
    assert set(updated["_run_id"]) == {second.run_id}
    assert len(raw) == raw["id"].nunique() == len(world["tickets"])
    kinds = job_kinds(jobs_of_run(bigquery_emulator, second.run_id), "raw__octadesk_tickets")
    assert kinds["load"] == 1 and kinds["MERGE"] == 1, kinds


# ---- dagster-gcp's resource, configured from the settings ------------------------------------


def test_the_settings_build_dagster_gcps_resource_and_its_gcp_credentials_reach_the_emulator(
    bigquery_emulator: BigQueryEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BIGQUERY_GCP_CREDENTIALS (a base64 key, as an EnvVar) is what the resource's client is
    built with when Application Default Credentials are absent; the write goes through it."""
    key_file = bigquery_emulator.env["GOOGLE_APPLICATION_CREDENTIALS"]
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")
    monkeypatch.setenv(
        "BIGQUERY_GCP_CREDENTIALS", base64.b64encode(open(key_file, "rb").read()).decode()
    )
    prefix = unique_dataset_prefix()
    env = {
        "SUPPORT_WAREHOUSE": "bigquery",
        "BIGQUERY_PROJECT": bigquery_emulator.project,
        "BIGQUERY_LOCATION": "US",
        "BIGQUERY_DATASET_PREFIX": prefix,
        "BIGQUERY_GCP_CREDENTIALS": "set",
    }
    io_manager = build_resources(env)["warehouse_io_manager"]
    assert isinstance(io_manager, BigQueryWarehouseIOManager)
    assert isinstance(io_manager.bigquery, BigQueryResource)
    assert io_manager.bigquery.project == bigquery_emulator.project
    assert io_manager.bigquery.location == "US"

    materialize_one(io_manager, pd.DataFrame({"id": [1, 2], "v": ["a", "b"]}))
    frame = read_table(
        bigquery_emulator.client(), bigquery_emulator.project, prefix + PREFIX, "things"
    )
    assert frame is not None and sorted(frame["id"]) == [1, 2]
    # The resource's temporary key file is gone once the client is built.
    assert "GOOGLE_APPLICATION_CREDENTIALS" not in os.environ


def test_a_bad_gcp_credentials_value_fails_the_run_naming_the_resource(
    bigquery_emulator: BigQueryEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")
    io_manager = BigQueryWarehouseIOManager(
        bigquery=BigQueryResource(
            project=bigquery_emulator.project,
            gcp_credentials=base64.b64encode(b'{"type": "nonsense"}').decode(),
        ),
        dataset_prefix=unique_dataset_prefix(),
    )
    definition = table_asset(pd.DataFrame({"id": [1]}))
    result = materialize([definition], resources={"io_manager": io_manager}, raise_on_error=False)
    assert not result.success


# ---- list columns: REPEATED ------------------------------------------------------------------


def test_service_events_services_is_a_repeated_column(
    bigquery_emulator: BigQueryEmulator, io_manager: BigQueryWarehouseIOManager, tmp_path
) -> None:
    """The real staging asset, from a raw document in the embedded store: ``services`` is a
    REPEATED STRING column holding the list, and an event without services stores []."""
    from support_assets.core.identity import PseudonymResource
    from support_assets.core.mongo import MongoDBResource
    from support_assets.sources.service_events.assets import RAW_COLLECTION, service_events_staging

    documents = MongoDBResource(embedded_path=str(tmp_path / "documents"))
    loaded = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC)
    base = {
        "cpf": "39053344705",
        "occurred_at": dt.datetime(2026, 11, 2, 11, 0, tzinfo=dt.UTC),
        "age": 34,
        "sex": "feminino",
        "channel": "whatsapp",
        "headache": False,
        "other_symptoms": True,
        "covid_contact": False,
        "covid_test": False,
        "service_score": 9,
        "solved": True,
        "_loaded_at": loaded,
    }
    collection = documents.get_database()[RAW_COLLECTION]
    collection.insert_many(
        [
            {**base, "event_key": "a", "services": ["agendar consulta", "reclamação"]},
            {**base, "event_key": "b", "services": []},
        ]
    )
    result = materialize(
        [service_events_staging],
        resources={
            "warehouse_io_manager": io_manager,
            "documents": documents,
            "pseudonym": PseudonymResource(key="k" * 32),
        },
    )
    assert result.success

    table = bigquery_emulator.client().get_table(
        f"{io_manager.project}.{io_manager.dataset_prefix}staging.service_events"
    )
    (field,) = [f for f in table.schema if f.name == "services"]
    assert (field.field_type, field.mode) == ("STRING", "REPEATED")
    frame = read_table(
        bigquery_emulator.client(),
        bigquery_emulator.project,
        io_manager.dataset_prefix + "staging",
        "service_events",
    )
    services = {k: list(v) for k, v in zip(frame["event_key"], frame["services"], strict=True)}
    assert services == {"a": ["agendar consulta", "reclamação"], "b": []}


def test_a_repeated_column_refuses_items_it_cannot_hold(
    bigquery_emulator: BigQueryEmulator, io_manager: BigQueryWarehouseIOManager
) -> None:
    materialize_one(io_manager, pd.DataFrame({"id": [1], "ids": [[1, 2]]}))
    definition = table_asset(pd.DataFrame({"id": [2], "ids": [["x"]]}))
    result = materialize([definition], resources={"io_manager": io_manager}, raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "ARRAY<STRING> values do not fit a ARRAY<INTEGER> column" in str(
        failure.event_specific_data.error
    )
