"""Unit tests of the storage helpers: spec parsing, table refs, chunk normalisation, metadata."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pytest
from dagster import AssetKey, build_output_context

from support_assets.io_managers import (
    TableRef,
    TableStream,
    WriteSpec,
    add_audit_columns,
    table_ref,
)
from support_assets.io_managers.base import as_stream
from support_assets.io_managers.normalise import dedupe, to_arrow
from support_assets.io_managers.write_metadata import markdown_preview, schema_from_dataframe


def test_write_spec_defaults_and_parsing() -> None:
    assert WriteSpec.from_metadata({}) == WriteSpec("append", (), None)
    spec = WriteSpec.from_metadata(
        {"write_mode": "MERGE", "primary_key": ["tenant", "id"], "partition_column": "day"}
    )
    assert spec == WriteSpec("merge", ("tenant", "id"), "day")
    assert spec.merge_key(partitioned=True) == ("tenant", "id", "day")
    assert spec.merge_key(partitioned=False) == ("tenant", "id")
    assert WriteSpec.from_metadata({"write_mode": "merge", "primary_key": "id"}).primary_key == (
        "id",
    )
    assert WriteSpec.from_metadata({}, default_mode="replace").mode == "replace"


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"write_mode": "upsert"}, "write_mode must be one of"),
        ({"write_mode": "merge"}, "needs a primary_key"),
        ({"write_mode": "merge", "primary_key": []}, "needs a primary_key"),
        ({"primary_key": [1]}, "list of column names"),
        ({"primary_key": ["id", "id"]}, "repeated"),
        ({"partition_column": ""}, "partition_column"),
    ],
)
def test_write_spec_rejects_bad_metadata(metadata: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WriteSpec.from_metadata(metadata)


def test_write_spec_from_context_names_the_asset() -> None:
    context = build_output_context(
        asset_key=AssetKey(["raw", "tickets"]), definition_metadata={"write_mode": "merge"}
    )
    with pytest.raises(ValueError, match="raw/tickets: invalid storage metadata"):
        WriteSpec.from_context(context)
    context = build_output_context(
        asset_key=AssetKey(["raw", "tickets"]),
        definition_metadata={"write_mode": "merge", "primary_key": ["id"]},
    )
    assert WriteSpec.from_context(context).primary_key == ("id",)


def test_table_ref() -> None:
    assert table_ref(AssetKey(["raw", "octadesk_tickets"])) == TableRef("raw", "octadesk_tickets")
    assert table_ref(AssetKey(["raw", "octadesk", "tickets"])) == TableRef(
        "raw", "octadesk__tickets"
    )
    assert table_ref(AssetKey(["tickets"])) == TableRef("public", "tickets")
    assert str(table_ref(AssetKey(["marts", "x"]))) == "marts.x"


def test_add_audit_columns_on_frames_and_tables() -> None:
    loaded_at = dt.datetime(2024, 1, 1, 9, tzinfo=dt.timezone(dt.timedelta(hours=-3)))
    df = add_audit_columns(pd.DataFrame({"id": [1, 2]}), "run-1", loaded_at)
    assert df["_run_id"].tolist() == ["run-1", "run-1"]
    assert df["_loaded_at"].tolist() == [pd.Timestamp("2024-01-01 12:00", tz="UTC")] * 2
    table = add_audit_columns(pa.table({"id": [1], "_run_id": ["old"]}), "run-2", loaded_at)
    assert table.column_names == ["id", "_loaded_at", "_run_id"]
    assert table.column("_run_id").to_pylist() == ["run-2"]
    assert table.schema.field("_loaded_at").type == pa.timestamp("us", tz="UTC")


def test_table_stream_and_as_stream() -> None:
    frames = [pd.DataFrame({"a": [1]}), pd.DataFrame({"a": [2]})]
    stream = TableStream(iter(frames))
    assert stream.metadata == {}
    assert as_stream(stream) is stream
    assert [len(f) for f in as_stream(frames[0]).frames] == [1]
    with pytest.raises(TypeError, match="returned list"):
        as_stream([1, 2])


def test_to_arrow_normalises_types() -> None:
    frame = pd.DataFrame(
        {
            "naive": pd.to_datetime(["2024-01-01 10:00"]),
            "local": pd.to_datetime(["2024-01-01 10:00"]).tz_localize("America/Sao_Paulo"),
            "nested": [[{"k": "ç"}]],
            "nothing": [None],
        }
    )
    table = to_arrow(frame)
    assert table.schema.field("naive").type == pa.timestamp("us", tz="UTC")
    assert table.column("local").to_pylist() == [dt.datetime(2024, 1, 1, 13, tzinfo=dt.UTC)]
    assert table.column("naive").to_pylist() == [dt.datetime(2024, 1, 1, 10, tzinfo=dt.UTC)]
    assert table.column("nested").to_pylist() == ['[{"k": "ç"}]']
    assert table.schema.field("nothing").type == pa.null()
    assert to_arrow(pd.DataFrame({"e": pd.Series([], dtype=object)})).schema.field("e").type == (
        pa.string()
    )


def test_to_arrow_stringifies_mixed_objects_and_rejects_repeated_names() -> None:
    table = to_arrow(pd.DataFrame({"v": pd.Series([1, "a", None], dtype=object)}))
    assert table.column("v").to_pylist() == ["1", "a", None]
    with pytest.raises(ValueError, match="repeat"):
        to_arrow(pd.DataFrame([[1, 2]], columns=["Id", "id"]))


def test_dedupe_keeps_the_last_row() -> None:
    table = pa.table({"k": [1, 1, 2, 1], "v": ["a", "b", "c", "d"]})
    assert dedupe(table, ["k"]).to_pydict() == {"k": [2, 1], "v": ["c", "d"]}
    assert dedupe(table, []).num_rows == 4


def test_markdown_preview_escapes_and_truncates() -> None:
    df = pd.DataFrame({"id": range(10), "text": ["a|b\nc"] + ["x" * 100] * 9})
    lines = markdown_preview(df).splitlines()
    assert lines[0] == "| id | text |"
    assert lines[2] == "| 0 | a\\|b c |"
    assert len(lines) == 2 + 5
    assert lines[3].endswith("… |")


def test_schema_from_dataframe() -> None:
    schema = schema_from_dataframe(pd.DataFrame({"id": [1], "name": ["x"]}))
    assert [(c.name, c.type) for c in schema.columns] == [("id", "int64"), ("name", "object")]
