"""Lake-specific behaviour: folder layout, file names, Arrow schema, staged replaces."""

from __future__ import annotations

import datetime as dt
import pathlib

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from dagster import AssetIn, asset, materialize

from support_assets.io_managers import LakeIOManager, TableStream
from support_assets.io_managers.base import Partition, TableRef
from support_assets.io_managers.store import Target
from support_assets_tests.io_managers.backends import table_asset


def files(root: pathlib.Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def run(root: pathlib.Path, value: object, partition: str | None = None, **metadata: object):
    definition = table_asset(value, metadata=metadata, partitioned=partition is not None)
    result = materialize(
        [definition],
        resources={"io_manager": LakeIOManager(url=str(root))},
        partition_key=partition,
    )
    assert result.success
    return result


def test_layout_of_partitioned_and_unpartitioned_assets(tmp_path: pathlib.Path) -> None:
    first = run(tmp_path, pd.DataFrame({"id": [1], "v": ["a"]}), partition="2024-01-01")
    second = run(tmp_path, pd.DataFrame({"id": [2]}), partition="2024-01-02")
    assert files(tmp_path) == [
        f"raw/things/date=2024-01-01/part-{first.run_id}-0.parquet",
        f"raw/things/date=2024-01-02/part-{second.run_id}-0.parquet",
    ]
    # The folder holds the partition: no date column needed in the output, none in the file.
    schema = pq.read_schema(tmp_path / files(tmp_path)[0])
    assert "date" not in schema.names

    other = tmp_path / "other"
    result = run(other, TableStream([pd.DataFrame({"id": [1]}), pd.DataFrame({"id": [2]})]))
    assert files(other) == [
        f"raw/things/part-{result.run_id}-0.parquet",
        f"raw/things/part-{result.run_id}-1.parquet",
    ]


def test_a_replace_removes_the_files_it_replaces(tmp_path: pathlib.Path) -> None:
    run(tmp_path, TableStream([pd.DataFrame({"id": [1]}), pd.DataFrame({"id": [2]})]))
    latest = run(tmp_path, pd.DataFrame({"id": [3]}))
    assert files(tmp_path) == [f"raw/things/part-{latest.run_id}-0.parquet"]


def test_files_have_a_stable_arrow_schema(tmp_path: pathlib.Path) -> None:
    frame = pd.DataFrame(
        {
            "id": pd.array([1, 2], dtype="Int64"),
            "at": pd.to_datetime(["2024-01-01 10:00", "2024-01-02 11:00"]).tz_localize(
                "America/Sao_Paulo"
            ),
            "raw": [{"update_id": 1}, {"update_id": 2}],
            "category": pd.Categorical(["x", "y"]),
        }
    )
    run(tmp_path, frame)
    (path,) = (tmp_path / "raw" / "things").glob("*.parquet")
    schema = pq.read_schema(path)
    assert schema.field("at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("_loaded_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("raw").type == pa.string()
    assert schema.field("category").type == pa.string()
    assert schema.field("id").type == pa.int64()
    assert pq.read_table(path).column("at").to_pylist()[0] == dt.datetime(
        2024, 1, 1, 13, tzinfo=dt.UTC
    )


def test_files_written_and_uri_in_metadata(tmp_path: pathlib.Path) -> None:
    result = run(
        tmp_path,
        TableStream([pd.DataFrame({"id": [1]}), pd.DataFrame({"id": [2]})]),
        partition="2024-01-03",
    )
    (materialization,) = result.asset_materializations_for_node("raw__things")
    meta = {k: v.value for k, v in materialization.metadata.items()}
    assert meta["files_written"] == 2
    assert meta["rows_written"] == 2
    assert meta["dagster/uri"] == (tmp_path / "raw/things/date=2024-01-03").resolve().as_uri()


def test_load_input_reads_all_partitions_with_the_date_column(tmp_path: pathlib.Path) -> None:
    for day, ids in (("2024-01-01", [1, 2]), ("2024-01-02", [3])):
        run(tmp_path, pd.DataFrame({"id": ids}), partition=day)
    upstream = table_asset(pd.DataFrame(), partitioned=True)
    seen: dict[str, object] = {}

    @asset(ins={"things": AssetIn(key=["raw", "things"])})
    def everything(things: pd.DataFrame) -> None:
        seen["df"] = things

    @asset(ins={"things": AssetIn(key=["raw", "things"])})
    def as_arrow(things: pa.Table) -> None:
        seen["arrow"] = things

    result = materialize(
        [upstream.to_source_assets()[0], everything, as_arrow],
        resources={"io_manager": LakeIOManager(url=str(tmp_path))},
        selection=[everything.key, as_arrow.key],
    )
    assert result.success
    df = seen["df"].sort_values("id")
    assert df["id"].tolist() == [1, 2, 3]
    assert df["date"].tolist() == [dt.date(2024, 1, 1)] * 2 + [dt.date(2024, 1, 2)]
    assert isinstance(seen["arrow"], pa.Table) and seen["arrow"].num_rows == 3


def test_a_failed_chunk_leaves_the_stored_files(tmp_path: pathlib.Path) -> None:
    manager = LakeIOManager(url=str(tmp_path))
    target = Target(
        ref=TableRef("raw", "things"),
        key_path=("raw", "things"),
        partition=Partition("date", (dt.date(2024, 1, 1),)),
        run_id="r1",
    )
    with manager._transaction(target) as tx:
        manager._append(tx, target, pa.table({"id": [1]}))
    before = files(tmp_path)

    target.run_id = "r2"
    with pytest.raises(RuntimeError), manager._transaction(target) as tx:
        manager._delete(tx, target)
        manager._append(tx, target, pa.table({"id": [2]}))
        raise RuntimeError("boom")

    assert files(tmp_path) == before == ["raw/things/date=2024-01-01/part-r1-0.parquet"]


def test_several_partitions_in_one_run_are_split_by_the_partition_column(
    tmp_path: pathlib.Path,
) -> None:
    manager = LakeIOManager(url=str(tmp_path))
    days = (dt.date(2024, 1, 1), dt.date(2024, 1, 2))
    target = Target(
        ref=TableRef("raw", "things"),
        key_path=("raw", "things"),
        partition=Partition("day", days),
        run_id="r1",
    )
    data = pa.table({"id": [1, 2, 3], "day": pa.array([days[0], days[1], days[1]], pa.date32())})
    with manager._transaction(target) as tx:
        manager._append(tx, target, data)
        assert manager._count(tx, target) == 3
    assert files(tmp_path) == [
        "raw/things/date=2024-01-01/part-r1-0.parquet",
        "raw/things/date=2024-01-02/part-r1-0.parquet",
    ]
    assert pq.read_table(tmp_path / files(tmp_path)[1]).column("id").to_pylist() == [2, 3]


def test_a_file_url_and_another_filesystem_work_the_same(tmp_path: pathlib.Path) -> None:
    run(tmp_path, pd.DataFrame({"id": [1]}))  # plain folder
    url_root = tmp_path / "by_url"
    manager = LakeIOManager(url=url_root.as_uri())
    assert materialize(
        [table_asset(pd.DataFrame({"id": [2]}))], resources={"io_manager": manager}
    ).success
    assert [p.endswith(".parquet") for p in files(url_root)] == [True]

    class SubTreeLake(LakeIOManager):
        """What an S3 backend changes: the filesystem (and the root inside it)."""

        def filesystem(self) -> pafs.FileSystem:
            return pafs.SubTreeFileSystem(str(tmp_path / "bucket"), pafs.LocalFileSystem())

        def root(self) -> str:
            return "lake"

    result = materialize(
        [
            table_asset(
                pd.DataFrame({"id": [3]}), metadata={"write_mode": "merge", "primary_key": ["id"]}
            )
        ],
        resources={"io_manager": SubTreeLake(url="subtree://lake")},
    )
    assert result.success
    (materialization,) = result.asset_materializations_for_node("raw__things")
    assert materialization.metadata["dagster/uri"].value == "subtree://lake/raw/things"
    assert files(tmp_path / "bucket") == [f"lake/raw/things/part-{result.run_id}-0.parquet"]
