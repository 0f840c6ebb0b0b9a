"""The storage contract (docs/io-managers.md), run against every backend.

Each test materializes tiny assets in process with real Dagster and reads the store back
directly, so it fails when the stored values are wrong, not only when a write raises.
"""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pyarrow as pa
import pytest
from dagster import AssetIn, MetadataValue, TableSchema, asset, materialize

from support_assets.io_managers import TableStream
from support_assets.io_managers.base import EmptyReplaceRefused, WriteSpec
from support_assets_tests.io_managers.backends import PREFIX, Backend, table_asset, write


def by_id(df: pd.DataFrame | None) -> pd.DataFrame:
    assert df is not None, "nothing stored"
    return df.sort_values("id").reset_index(drop=True)


def column_values(df: pd.DataFrame, column: str) -> list:
    return [None if pd.isna(v) else v for v in df[column]]


def test_append_inserts_by_name_and_keeps_earlier_rows(backend: Backend) -> None:
    first = write(backend, pd.DataFrame({"id": [1, 2], "name": ["a", "b"]}), write_mode="append")
    # Columns in a different order must land by name, not by position.
    second = write(backend, pd.DataFrame({"name": ["c"], "id": [3]}), write_mode="append")

    stored = by_id(backend.read("things"))
    assert stored["id"].tolist() == [1, 2, 3]
    assert stored["name"].tolist() == ["a", "b", "c"]
    assert (first["rows_written"], first["rows_inserted"], first["dagster/row_count"]) == (2, 2, 2)
    assert (second["rows_written"], second["rows_inserted"], second["dagster/row_count"]) == (
        1,
        1,
        3,
    )
    assert second["rows_updated"] == 0


def test_replace_swaps_all_rows(backend: Backend) -> None:
    write(backend, pd.DataFrame({"id": [1, 2, 3], "name": ["a", "b", "c"]}), write_mode="replace")
    meta = write(backend, pd.DataFrame({"id": [7], "name": ["z"]}), write_mode="replace")

    stored = by_id(backend.read("things"))
    assert stored[["id", "name"]].to_dict("records") == [{"id": 7, "name": "z"}]
    assert meta["dagster/row_count"] == 1
    assert meta["rows_written"] == 1


def test_default_write_mode(backend: Backend) -> None:
    write(backend, pd.DataFrame({"id": [1]}))
    meta = write(backend, pd.DataFrame({"id": [2]}))

    assert meta["write_mode"] == backend.default_mode
    expected = [1, 2] if backend.default_mode == "append" else [2]
    assert by_id(backend.read("things"))["id"].tolist() == expected


def test_merge_updates_existing_keys_and_inserts_new_ones(backend: Backend) -> None:
    first = write(
        backend,
        pd.DataFrame({"id": [1, 2, 3], "status": ["open", "open", "open"], "n": [1, 1, 1]}),
        write_mode="merge",
        primary_key=["id"],
    )
    second = write(
        backend,
        pd.DataFrame({"id": [2, 3, 4], "status": ["closed", "pending", "open"], "n": [2, 2, 2]}),
        write_mode="merge",
        primary_key=["id"],
    )

    assert (first["rows_inserted"], first["rows_updated"]) == (3, 0)
    assert (second["rows_written"], second["rows_inserted"], second["rows_updated"]) == (3, 1, 2)
    assert second["dagster/row_count"] == 4
    stored = by_id(backend.read("things"))
    assert stored["id"].tolist() == [1, 2, 3, 4]
    assert stored["status"].tolist() == ["open", "closed", "pending", "open"]
    assert stored["n"].tolist() == [1, 2, 2, 2]


def test_merge_on_composite_key(backend: Backend) -> None:
    key = ["tenant", "id"]
    write(
        backend,
        pd.DataFrame({"tenant": ["a", "b"], "id": [1, 1], "v": ["a1", "b1"]}),
        write_mode="merge",
        primary_key=key,
    )
    meta = write(
        backend,
        pd.DataFrame({"tenant": ["b", "c"], "id": [1, 1], "v": ["B1", "c1"]}),
        write_mode="merge",
        primary_key=key,
    )

    assert (meta["rows_inserted"], meta["rows_updated"]) == (1, 1)
    stored = backend.read("things").sort_values("tenant")
    assert stored["v"].tolist() == ["a1", "B1", "c1"]


def test_merge_keeps_stored_values_of_columns_absent_from_the_chunk(backend: Backend) -> None:
    write(
        backend,
        pd.DataFrame({"id": [1, 2], "name": ["ana", "bia"], "email": ["a@x.io", "b@x.io"]}),
        write_mode="merge",
        primary_key=["id"],
    )
    # A later batch lacks "email": merged rows keep it, new rows have it NULL.
    write(
        backend,
        pd.DataFrame({"id": [2, 3], "name": ["Bia", "caio"]}),
        write_mode="merge",
        primary_key=["id"],
    )

    stored = by_id(backend.read("things"))
    assert stored["name"].tolist() == ["ana", "Bia", "caio"]
    assert column_values(stored, "email") == ["a@x.io", "b@x.io", None]


def test_a_new_column_is_added_without_losing_rows(backend: Backend) -> None:
    write(backend, pd.DataFrame({"id": [1, 2], "name": ["a", "b"]}), write_mode="append")
    meta = write(
        backend,
        pd.DataFrame({"id": [3], "name": ["c"], "priority": [5]}),
        write_mode="append",
    )

    stored = by_id(backend.read("things"))
    assert stored["name"].tolist() == ["a", "b", "c"]
    assert column_values(stored, "priority") == [None, None, 5]
    columns = [c.name for c in meta["dagster/column_schema"].columns]
    assert "priority" in columns and "name" in columns


def test_a_column_missing_in_a_later_append_is_kept_as_null(backend: Backend) -> None:
    write(backend, pd.DataFrame({"id": [1], "name": ["a"], "tag": ["x"]}), write_mode="append")
    write(backend, pd.DataFrame({"id": [2], "name": ["b"]}), write_mode="append")

    stored = by_id(backend.read("things"))
    assert column_values(stored, "tag") == ["x", None]


@pytest.mark.parametrize("mode", ["append", "merge"])
def test_an_all_null_column_takes_its_type_from_the_first_values(
    backend: Backend, mode: str
) -> None:
    write(backend, pd.DataFrame({"id": [1], "extra": [None]}), write_mode=mode, primary_key=["id"])
    write(backend, pd.DataFrame({"id": [2], "extra": [5]}), write_mode=mode, primary_key=["id"])

    stored = by_id(backend.read("things"))
    assert column_values(stored, "extra") == [None, 5]


def test_decimals_arriving_in_an_integer_column_are_not_rounded(backend: Backend) -> None:
    write(backend, pd.DataFrame({"id": [1], "amount": [10]}), write_mode="append")
    write(backend, pd.DataFrame({"id": [2], "amount": [1.5]}), write_mode="append")

    assert by_id(backend.read("things"))["amount"].tolist() == [10.0, 1.5]


def test_text_arriving_in_a_numeric_column_keeps_both(backend: Backend) -> None:
    write(backend, pd.DataFrame({"id": [1], "code": [10]}), write_mode="append")
    write(backend, pd.DataFrame({"id": [2], "code": ["A-7"]}), write_mode="append")

    # Both values are kept; the text one beside the column, which stays numeric.
    stored = by_id(backend.read("things"))
    assert column_values(stored, "code") == [10, None]
    assert column_values(stored, "code__raw") == [None, "A-7"]


@pytest.mark.parametrize("mode", ["append", "merge", "replace"])
def test_one_wrong_typed_value_does_not_change_a_column_type(backend: Backend, mode: str) -> None:
    """A source that sends text once where numbers, times and flags always were must not turn
    the stored columns into text for ever: values that read as the type are stored typed, the
    rest are kept as text in <column>__raw, and the metadata counts them."""
    spec = {"write_mode": mode, "primary_key": ["id"]}
    at = pd.Timestamp("2024-05-01 12:00", tz="UTC")
    write(backend, pd.DataFrame({"id": [1], "n": [10], "at": [at], "ok": [True]}), **spec)
    meta = write(
        backend,
        pd.DataFrame(
            {
                "id": [2, 3],
                "n": ["12", "doze"],
                "at": ["2024-05-02T08:00:00Z", "ontem"],
                "ok": ["false", "talvez"],
            }
        ),
        **spec,
    )

    types = {c.name: c.type.lower() for c in meta["dagster/column_schema"].columns}
    for column in ("n", "at", "ok"):
        assert not any(t in types[column] for t in ("char", "string")), types
    assert meta["values_not_of_the_column_type"] == {"n": 1, "at": 1, "ok": 1}
    stored = by_id(backend.read("things"))
    rows = stored[stored["id"].isin([2, 3])]
    assert column_values(rows, "n") == [12, None]
    assert column_values(rows, "n__raw") == [None, "doze"]
    assert column_values(rows, "at")[0] == pd.Timestamp("2024-05-02 08:00", tz="UTC")
    assert column_values(rows, "at__raw") == [None, "ontem"]
    assert column_values(rows, "ok")[0] in (False, 0) and column_values(rows, "ok__raw") == [
        None,
        "talvez",
    ]
    # The next good values land typed, with no widening in between.
    write(backend, pd.DataFrame({"id": [4], "n": [7], "at": [at], "ok": [True]}), **spec)
    assert column_values(by_id(backend.read("things")), "n")[-1] == 7


def test_merge_widens_a_column_before_updating_it(backend: Backend) -> None:
    spec = {"write_mode": "merge", "primary_key": ["id"]}
    write(backend, pd.DataFrame({"id": [1, 2], "amount": [10, 20]}), **spec)
    write(backend, pd.DataFrame({"id": [2, 3], "amount": [2.5, 3.5]}), **spec)

    assert by_id(backend.read("things"))["amount"].tolist() == [10.0, 2.5, 3.5]


def test_duplicate_keys_within_a_chunk_keep_the_last_row(backend: Backend) -> None:
    meta = write(
        backend,
        pd.DataFrame({"id": [1, 2, 1, 1], "v": ["first", "only", "second", "last"]}),
        write_mode="merge",
        primary_key=["id"],
    )

    stored = by_id(backend.read("things"))
    assert stored["v"].tolist() == ["last", "only"]
    assert (meta["rows_written"], meta["rows_inserted"], meta["rows_deduplicated"]) == (2, 2, 2)


def test_timestamps_round_trip_as_the_same_instant_in_utc(backend: Backend) -> None:
    local = pd.to_datetime(
        ["2024-03-10 08:30:00", "2024-12-31 23:59:59.123456"], format="ISO8601"
    ).tz_localize("America/Sao_Paulo")
    write(backend, pd.DataFrame({"id": [1, 2], "at": local}), write_mode="replace")

    stored = by_id(backend.read("things"))
    assert str(stored["at"].dt.tz) == "UTC"
    assert stored["at"].tolist() == [ts.tz_convert("UTC") for ts in local]
    assert stored["at"][0] == pd.Timestamp("2024-03-10 11:30:00", tz="UTC")


def test_text_keeps_accents_and_emoji_and_nulls_stay_null(backend: Backend) -> None:
    frame = pd.DataFrame(
        {
            "id": [1, 2, 3],
            "text": ["Atenção: não há solução 🙂", None, "São Paulo — 日本 🚀"],
            "score": [1.5, None, 3.0],
            "count": pd.array([1, None, 3], dtype="Int64"),
            "solved": pd.array([True, None, False], dtype="boolean"),
        }
    )
    write(backend, frame, write_mode="replace")

    stored = by_id(backend.read("things"))
    assert column_values(stored, "text") == [
        "Atenção: não há solução 🙂",
        None,
        "São Paulo — 日本 🚀",
    ]
    assert column_values(stored, "score") == [1.5, None, 3.0]
    assert column_values(stored, "count") == [1, None, 3]
    assert column_values(stored, "solved") == [True, None, False]


def test_nested_objects_are_stored_as_json_text(backend: Backend) -> None:
    frame = pd.DataFrame(
        {
            "id": [1, 2, 3],
            "payload": [{"tags": ["vip", "ação"], "n": 1}, None, [1, 2]],
        }
    )
    write(backend, frame, write_mode="replace")

    stored = by_id(backend.read("things"))
    assert column_values(stored, "payload") == [
        '{"tags": ["vip", "ação"], "n": 1}',
        None,
        "[1, 2]",
    ]


def _lists(df: pd.DataFrame, column: str) -> list:
    """A stored list column as Python lists (readers give numpy arrays or lists)."""
    missing = [v is None or v is pd.NA or isinstance(v, float) for v in df[column]]
    return [None if m else list(v) for m, v in zip(missing, df[column], strict=True)]


#: How each backend names a list-of-text column's stored type.
LIST_OF_TEXT = {
    "duckdb": "VARCHAR[]",
    "lake": "list<element: string>",
    "s3": "list<element: string>",
    "bigquery": "ARRAY<STRING>",
}


def test_lists_of_scalars_are_stored_as_list_columns(backend: Backend) -> None:
    frame = pd.DataFrame(
        {
            "id": [1, 2, 3],
            "tags": [["vip", "ação"], [], None],
            "chat_ids": [[30, 10], [20], []],
        }
    )
    meta = write(backend, frame, write_mode="replace")

    stored = by_id(backend.read("things"))
    missing = [] if backend.name == "bigquery" else None  # BigQuery has no NULL array
    assert _lists(stored, "tags") == [["vip", "ação"], [], missing]
    assert _lists(stored, "chat_ids") == [[30, 10], [20], []]
    types = {c.name: c.type for c in meta["dagster/column_schema"].columns}
    assert types["tags"] == LIST_OF_TEXT[backend.name], types


def test_list_columns_evolve_with_the_schema(backend: Backend) -> None:
    """A list column first seen empty waits for a typed chunk; a list for a column stored as
    JSON text (a table from before list columns) is written as JSON text."""
    merge = {"write_mode": "merge", "primary_key": ["id"]}
    write(backend, pd.DataFrame({"id": [1], "payload": ['{"a": 1}']}), **merge)
    write(backend, pd.DataFrame({"id": [2], "tags": [[]]}), **merge)
    write(backend, pd.DataFrame({"id": [3], "tags": [["x", "y"]]}), **merge)
    write(backend, pd.DataFrame({"id": [4], "payload": [["p", "q"]]}), **merge)

    stored = by_id(backend.read("things"))
    missing = [] if backend.name == "bigquery" else None
    assert _lists(stored, "tags") == [missing, missing, ["x", "y"], missing]
    assert column_values(stored, "payload") == ['{"a": 1}', None, None, '["p", "q"]']


def test_audit_columns_record_the_load(backend: Backend) -> None:
    before = pd.Timestamp.now(tz="UTC")
    definition = table_asset(pd.DataFrame({"id": [1, 2]}), metadata={"write_mode": "replace"})
    result = materialize([definition], resources={"io_manager": backend.io_manager})
    after = pd.Timestamp.now(tz="UTC")

    stored = backend.read("things")
    assert set(stored["_run_id"]) == {result.run_id}
    loaded_at = stored["_loaded_at"]
    assert str(loaded_at.dt.tz) == "UTC"
    assert loaded_at.nunique() == 1
    assert before <= loaded_at.iloc[0] <= after


def test_empty_output_writes_nothing(backend: Backend) -> None:
    empty = pd.DataFrame({"id": pd.Series([], dtype="int64"), "name": pd.Series([], dtype=str)})
    meta = write(backend, empty, write_mode="append")

    assert (meta["rows_written"], meta["dagster/row_count"]) == (0, 0)
    stored = backend.read("things")
    assert stored is None or len(stored) == 0


def test_empty_output_without_columns_is_accepted(backend: Backend) -> None:
    write(backend, pd.DataFrame({"id": [1]}), write_mode="append")
    meta = write(backend, pd.DataFrame(), write_mode="merge", primary_key=["id"])

    assert meta["rows_written"] == 0
    assert by_id(backend.read("things"))["id"].tolist() == [1]


#: How an asset says that an empty answer is legitimate for it (docs/io-managers.md).
ALLOW_EMPTY = {"allow_empty_replace": "the source may legitimately hold nothing"}


def test_replace_with_an_empty_output_empties_the_table_when_the_asset_allows_it(
    backend: Backend,
) -> None:
    write(backend, pd.DataFrame({"id": [1, 2]}), write_mode="replace")
    meta = write(
        backend,
        pd.DataFrame({"id": pd.Series([], dtype="int64")}),
        write_mode="replace",
        **ALLOW_EMPTY,
    )

    assert meta["dagster/row_count"] == 0
    stored = backend.read("things")
    assert stored is None or len(stored) == 0


def test_replace_with_a_stream_of_no_chunks_empties_the_table_when_the_asset_allows_it(
    backend: Backend,
) -> None:
    write(backend, pd.DataFrame({"id": [1, 2]}), write_mode="replace")
    meta = write(backend, TableStream(iter(())), write_mode="replace", **ALLOW_EMPTY)

    assert (meta["rows_written"], meta["chunks"], meta["dagster/row_count"]) == (0, 0, 0)
    stored = backend.read("things")
    assert stored is None or len(stored) == 0


@pytest.mark.parametrize(
    "empty",
    [
        pd.DataFrame({"id": pd.Series([], dtype="int64")}),
        TableStream(iter(())),
        TableStream([pd.DataFrame({"id": pd.Series([], dtype="int64")})] * 2),
    ],
    ids=["empty-frame", "no-chunks", "empty-chunks"],
)
def test_an_empty_replace_of_a_table_that_holds_rows_fails_and_keeps_them(
    backend: Backend, empty: pd.DataFrame | TableStream
) -> None:
    write(backend, pd.DataFrame({"id": [1, 2]}), write_mode="replace")
    definition = table_asset(empty, metadata={"write_mode": "replace"})
    with pytest.raises(EmptyReplaceRefused, match=r"2 stored row\(s\).*allow_empty_replace"):
        materialize([definition], resources={"io_manager": backend.io_manager})

    assert by_id(backend.read("things"))["id"].tolist() == [1, 2]


def test_an_empty_replace_of_an_empty_or_new_table_is_accepted(backend: Backend) -> None:
    empty = pd.DataFrame({"id": pd.Series([], dtype="int64")})
    first = write(backend, empty, write_mode="replace")
    second = write(backend, empty, write_mode="replace")

    assert first["dagster/row_count"] == second["dagster/row_count"] == 0


def test_an_empty_partition_replace_fails_and_keeps_the_partition(backend: Backend) -> None:
    spec = {"write_mode": "replace", "partition_column": "date"}
    day = dt.date(2024, 1, 1)
    write(backend, pd.DataFrame({"id": [1], "date": [day]}), partition="2024-01-01", **spec)
    empty = pd.DataFrame({"id": pd.Series([], dtype="int64"), "date": pd.Series([], dtype=object)})
    definition = table_asset(empty, metadata=spec, partitioned=True)
    with pytest.raises(EmptyReplaceRefused):
        materialize(
            [definition], resources={"io_manager": backend.io_manager}, partition_key="2024-01-01"
        )

    assert by_id(backend.read("things", "2024-01-01"))["id"].tolist() == [1]


def test_an_empty_replace_that_is_not_a_string_reason_is_refused_as_metadata() -> None:
    with pytest.raises(ValueError, match="allow_empty_replace must say why"):
        WriteSpec.from_metadata({"write_mode": "replace", "allow_empty_replace": True})


def test_partition_replace_leaves_other_partitions(backend: Backend) -> None:
    def day(date: str, ids: list[int], label: str) -> pd.DataFrame:
        return pd.DataFrame(
            {"id": ids, "date": [dt.date.fromisoformat(date)] * len(ids), "v": label}
        )

    spec = {"write_mode": "replace", "partition_column": "date"}
    write(backend, day("2024-01-01", [1, 2], "old"), partition="2024-01-01", **spec)
    write(backend, day("2024-01-02", [3, 4], "keep"), partition="2024-01-02", **spec)
    meta = write(backend, day("2024-01-01", [5], "new"), partition="2024-01-01", **spec)

    assert meta["dagster/row_count"] == 1
    assert meta["partition"] == "2024-01-01"
    assert by_id(backend.read("things", "2024-01-01"))[["id", "v"]].to_dict("records") == [
        {"id": 5, "v": "new"}
    ]
    assert by_id(backend.read("things", "2024-01-02"))["v"].tolist() == ["keep", "keep"]
    everything = by_id(backend.read("things"))
    assert everything["id"].tolist() == [3, 4, 5]
    assert [pd.Timestamp(d).date() for d in everything["date"]] == [
        dt.date(2024, 1, 2),
        dt.date(2024, 1, 2),
        dt.date(2024, 1, 1),
    ]


def test_partition_rows_outside_the_partition_are_refused(backend: Backend) -> None:
    frame = pd.DataFrame({"id": [1], "date": [dt.date(2024, 1, 5)]})
    definition = table_asset(
        frame, metadata={"write_mode": "replace", "partition_column": "date"}, partitioned=True
    )
    with pytest.raises(Exception, match="outside partition"):
        materialize(
            [definition], resources={"io_manager": backend.io_manager}, partition_key="2024-01-01"
        )


def test_partitioned_merge_updates_within_the_partition(backend: Backend) -> None:
    spec = {"write_mode": "merge", "primary_key": ["id"], "partition_column": "date"}
    day = dt.date(2024, 1, 3)
    write(
        backend,
        pd.DataFrame({"id": [1, 2], "date": [day] * 2, "v": ["a", "b"]}),
        partition="2024-01-03",
        **spec,
    )
    meta = write(
        backend,
        pd.DataFrame({"id": [2, 3], "date": [day] * 2, "v": ["B", "c"]}),
        partition="2024-01-03",
        **spec,
    )

    assert (meta["rows_inserted"], meta["rows_updated"], meta["dagster/row_count"]) == (1, 1, 3)
    assert by_id(backend.read("things", "2024-01-03"))["v"].tolist() == ["a", "B", "c"]


def test_table_stream_writes_every_chunk_and_reports_its_metadata(backend: Backend) -> None:
    def produce(context) -> TableStream:  # noqa: ANN001 - Dagster context
        stream = TableStream([])

        def frames():
            for start in (0, 3, 6):
                frame = pd.DataFrame({"id": range(start, start + 3), "v": f"chunk{start}"})
                stream.metadata["high_water_mark"] = int(frame["id"].max())
                yield frame

        stream.frames = frames()
        return stream

    write(backend, pd.DataFrame({"id": [100]}), write_mode="replace")
    meta = write(backend, produce, write_mode="replace", primary_key=["id"])

    assert meta["high_water_mark"] == 8
    assert (meta["rows_written"], meta["chunks"], meta["dagster/row_count"]) == (9, 3, 9)
    # The first chunk replaced the old rows; the others were appended.
    assert by_id(backend.read("things"))["id"].tolist() == list(range(9))
    assert "| id |" in meta["preview"]


@pytest.mark.parametrize("partitioned", [False, True], ids=["table", "partition"])
def test_a_replace_failing_on_a_later_chunk_keeps_the_old_rows(
    backend: Backend, partitioned: bool
) -> None:
    """Pages 1..N-1 written and page N failing must not leave a half-replaced target."""
    day = dt.date(2024, 1, 4)
    spec = {"write_mode": "replace", "partition_column": "date"}
    partition = day.isoformat() if partitioned else None

    def rows(ids: list[int], label: str) -> pd.DataFrame:
        return pd.DataFrame({"id": ids, "date": [day] * len(ids), "v": label})

    write(backend, rows([1, 2], "old"), partition=partition, **spec)

    def frames():
        yield rows([10, 11], "new")
        yield rows([12], "new").assign(extra=1.5)  # a new column on a later chunk, too
        raise RuntimeError("page 3 failed (injected)")

    definition = table_asset(
        lambda context: TableStream(frames()), metadata=spec, partitioned=partitioned
    )
    result = materialize(
        [definition],
        resources={"io_manager": backend.io_manager},
        partition_key=partition,
        raise_on_error=False,
    )

    assert not result.success
    stored = by_id(backend.read("things", partition))
    assert stored[["id", "v"]].to_dict("records") == [{"id": 1, "v": "old"}, {"id": 2, "v": "old"}]
    # The next replace works and leaves exactly its own rows.
    meta = write(backend, rows([20], "next"), partition=partition, **spec)
    assert meta["dagster/row_count"] == 1
    assert by_id(backend.read("things", partition))["id"].tolist() == [20]


def test_merge_stream_counts_updates_across_chunks(backend: Backend) -> None:
    stream = TableStream(
        [
            pd.DataFrame({"id": [1, 2], "v": ["a", "b"]}),
            pd.DataFrame({"id": [2, 3], "v": ["B", "c"]}),
        ],
        metadata={"cursor": dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)},
    )
    meta = write(backend, stream, write_mode="merge", primary_key=["id"])

    assert (meta["rows_written"], meta["rows_inserted"], meta["rows_updated"]) == (4, 3, 1)
    assert meta["cursor"] == dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC).timestamp()
    assert by_id(backend.read("things"))["v"].tolist() == ["a", "B", "c"]


def test_arrow_table_output(backend: Backend) -> None:
    table = pa.table({"id": [1, 2], "name": ["x", "y"]})
    write(backend, table, write_mode="replace")

    assert by_id(backend.read("things"))["name"].tolist() == ["x", "y"]


def test_metadata_describes_the_write(backend: Backend) -> None:
    meta = write(backend, pd.DataFrame({"id": [1, 2], "name": ["a|b", "c"]}), write_mode="replace")

    schema = meta["dagster/column_schema"]
    assert isinstance(schema, TableSchema)
    assert [c.name for c in schema.columns if not c.name.startswith("_")][:2] == ["id", "name"]
    assert {"_loaded_at", "_run_id"} <= {c.name for c in schema.columns}
    preview = meta["preview"]
    assert preview.splitlines()[0].startswith("| id | name |")
    assert "a\\|b" in preview
    if backend.name in ("lake", "s3"):
        assert meta["files_written"] == 1
        assert meta["dagster/uri"].startswith("s3://" if backend.name == "s3" else "file://")
    else:
        assert meta["dagster/table_name"].endswith(f"{PREFIX}.things")


PERSONAL = {
    "cpf": "390.533.447-05",
    "cpf_digits": "39053344705",
    "name": "Ana Maria Souza",
    "email": "ana.souza@example.com.br",
    "phone": "(11) 98765-4321",
    "text": "oi, meu pedido não chegou",
}


def test_metadata_and_preview_carry_no_personal_data(backend: Backend) -> None:
    """Run storage keeps metadata for ever: documents, names, e-mails, phones and message text
    written to a store, or put in a stream's metadata, never reach it."""
    frame = pd.DataFrame(
        {
            "id": [1, 2],
            "status": ["open", "closed"],
            "cpf": [PERSONAL["cpf"], None],
            "document_number": [int(PERSONAL["cpf_digits"]), 5],
            "name": [PERSONAL["name"], "Ana"],
            "requester_email": [PERSONAL["email"], None],
            "contact": [PERSONAL["phone"], None],
            "text": [PERSONAL["text"], None],
            "record": [json.dumps({"cpf": PERSONAL["cpf_digits"]}), None],
        }
    )
    stream = TableStream(
        [frame],
        metadata={
            "would_create": MetadataValue.json([{"name": PERSONAL["name"], "id": 7}]),
            "note": f"contact {PERSONAL['email']} or {PERSONAL['phone']}",
            "reasons": MetadataValue.json({f"CPF {PERSONAL['cpf']} is invalid": 1}),
            "cursor": "2024-05-01T12:00:00+00:00",
        },
    )
    meta = write(backend, stream, write_mode="replace")

    text = json.dumps({k: str(v) for k, v in meta.items()}, ensure_ascii=False)
    leaked = [k for k, v in PERSONAL.items() if v in text or v.split()[-1] in text]
    assert not leaked, text
    assert "Ana" not in meta["preview"]  # a first name alone is a name too
    # What is not personal stays useful: ids, statuses, the cursor, the column names.
    assert "| open |" in meta["preview"] and "requester_email" in meta["preview"]
    assert meta["cursor"] == "2024-05-01T12:00:00+00:00"
    assert meta["would_create"] == [{"name": "‹masked›", "id": 7}]
    # The store itself keeps every value as written.
    assert by_id(backend.read("things"))["cpf"].tolist()[0] == PERSONAL["cpf"]


def test_a_downstream_asset_reads_what_was_written(backend: Backend) -> None:
    local = pd.Timestamp("2024-06-01 09:00", tz="America/Sao_Paulo")
    upstream = table_asset(
        pd.DataFrame({"id": [1, 2], "at": [local, None], "name": ["Ana 🙂", None]}),
        metadata={"write_mode": "replace"},
    )
    seen: dict[str, pd.DataFrame] = {}

    @asset(ins={"things": AssetIn(key=[PREFIX, "things"])}, key_prefix=["staging"])
    def downstream(things: pd.DataFrame) -> pd.DataFrame:
        seen["things"] = things
        return things[["id"]]

    result = materialize([upstream, downstream], resources={"io_manager": backend.io_manager})

    assert result.success
    got = seen["things"].sort_values("id").reset_index(drop=True)
    assert got["id"].tolist() == [1, 2]
    assert got["at"][0] == local.tz_convert("UTC") and pd.isna(got["at"][1])
    assert str(got["at"].dt.tz) == "UTC"
    assert column_values(got, "name") == ["Ana 🙂", None]
    assert set(got["_run_id"]) == {result.run_id}


def test_an_unpartitioned_downstream_reads_every_partition(backend: Backend) -> None:
    spec = {"write_mode": "replace", "partition_column": "date"}
    for date, ids in (("2024-01-01", [1, 2]), ("2024-01-03", [3])):
        frame = pd.DataFrame({"id": ids, "date": [dt.date.fromisoformat(date)] * len(ids)})
        write(backend, frame, partition=date, **spec)
    upstream = table_asset(pd.DataFrame(), metadata=spec, partitioned=True)
    seen: dict[str, pd.DataFrame] = {}

    @asset(ins={"things": AssetIn(key=[PREFIX, "things"])}, key_prefix=["marts"])
    def summary(things: pd.DataFrame) -> pd.DataFrame:
        seen["things"] = things
        return things.groupby("date", as_index=False).size()

    result = materialize(
        [upstream.to_source_assets()[0], summary],
        resources={"io_manager": backend.io_manager},
        selection=[summary.key],
    )

    assert result.success
    got = seen["things"].sort_values("id")
    assert got["id"].tolist() == [1, 2, 3]
    assert [pd.Timestamp(d).date().isoformat() for d in got["date"]] == [
        "2024-01-01",
        "2024-01-01",
        "2024-01-03",
    ]


def test_a_downstream_partition_reads_only_its_partition(backend: Backend) -> None:
    spec = {"write_mode": "replace", "partition_column": "date"}
    for date, ids in (("2024-01-01", [1, 2]), ("2024-01-02", [3])):
        write(
            backend,
            pd.DataFrame({"id": ids, "date": [dt.date.fromisoformat(date)] * len(ids)}),
            partition=date,
            **spec,
        )
    seen: dict[str, pd.DataFrame] = {}
    upstream = table_asset(pd.DataFrame(), metadata=spec, partitioned=True)

    @asset(
        ins={"things": AssetIn(key=[PREFIX, "things"])},
        partitions_def=upstream.partitions_def,
        key_prefix=["staging"],
        metadata={"partition_column": "date"},
    )
    def per_day(things: pd.DataFrame) -> pd.DataFrame:
        seen["things"] = things
        return things[["id", "date"]]

    result = materialize(
        [upstream.to_source_assets()[0], per_day],
        resources={"io_manager": backend.io_manager},
        partition_key="2024-01-02",
        selection=[per_day.key],
    )

    assert result.success
    assert seen["things"]["id"].tolist() == [3]


def test_a_run_over_a_partition_range_replaces_exactly_that_range(backend: Backend) -> None:
    spec = {"write_mode": "replace", "partition_column": "date"}
    day = dt.date.fromisoformat
    for date in ("2024-01-01", "2024-01-02", "2024-01-03"):
        write(
            backend,
            pd.DataFrame({"id": [int(date[-1])], "date": [day(date)], "v": "old"}),
            partition=date,
            **spec,
        )

    frame = pd.DataFrame(
        {"id": [11, 12, 13], "date": [day("2024-01-01"), day("2024-01-02"), day("2024-01-02")]}
    )
    definition = table_asset(frame.assign(v="new"), metadata=spec, partitioned=True)
    result = materialize(
        [definition],
        resources={"io_manager": backend.io_manager},
        tags={
            "dagster/asset_partition_range_start": "2024-01-01",
            "dagster/asset_partition_range_end": "2024-01-02",
        },
    )

    assert result.success
    stored = by_id(backend.read("things"))
    assert stored["id"].tolist() == [3, 11, 12, 13]
    assert stored["v"].tolist() == ["old", "new", "new", "new"]
