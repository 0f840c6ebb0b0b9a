"""Lake IO manager: Hive-partitioned Parquet under a folder or an S3 bucket prefix.

Layout: ``<root>/<key path>/date=YYYY-MM-DD/part-<run_id>-<n>.parquet`` for daily-partitioned
assets, ``<root>/<key path>/part-<run_id>-<n>.parquet`` otherwise. Everything goes through a
``pyarrow.fs.FileSystem`` built by :meth:`LakeIOManager.filesystem`, so an S3 backend only
builds a different filesystem, configured by dagster-aws's ``S3Resource``.

Object stores have no transactions, so a write is staged: new files are written first and the
files they replace are deleted only when the chunk succeeded; on failure the new files are
removed and the old ones stay. A ``replace`` keeps every chunk under a hidden name
(``.part-….parquet.staged``, which readers skip) until the last chunk is written, then renames
them and deletes the old files; a stream failing half-way deletes its hidden files and leaves
the old ones in place.
"""

from __future__ import annotations

import datetime as dt
import logging
import posixpath
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from dagster_aws.s3 import S3Resource
from pydantic import Field

from support_assets.io_managers.base import Partition, WriteMode
from support_assets.io_managers.duckdb import add_columns, merge_into, widen_columns
from support_assets.io_managers.normalise import (
    check_partition,
    is_untyped,
    lists_as_json_where_text,
    to_arrow,
)
from support_assets.io_managers.s3 import s3_filesystem
from support_assets.io_managers.store import TableStoreIOManager, Target

logger = logging.getLogger(__name__)

#: The Hive partition key of daily partitions (folder ``date=YYYY-MM-DD``).
PARTITION_KEY = "date"
#: ``target.stats`` key of the hidden files a ``replace`` wrote so far.
_STAGED = "lake_replace_staged"
_STAGED_SUFFIX = ".staged"
_HIVE = ds.partitioning(pa.schema([(PARTITION_KEY, pa.date32())]), flavor="hive")


@dataclass
class LakeTransaction:
    """Files a chunk wrote and files it replaces; deletes happen only on commit."""

    fs: pafs.FileSystem
    written: list[str] = field(default_factory=list)
    replaced: set[str] = field(default_factory=set)

    def commit(self) -> None:
        for path in sorted(self.replaced - set(self.written)):
            self.fs.delete_file(path)

    def rollback(self) -> None:
        for path in self.written:
            try:
                self.fs.delete_file(path)
            except FileNotFoundError:
                continue


def _promote(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """The type both ``a`` and ``b`` values fit in, as the warehouse would widen a column."""
    if a == b or pa.types.is_null(b):
        return a
    if pa.types.is_null(a):
        return b
    numeric = (pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal)
    both_numeric = any(p(a) for p in numeric) and any(p(b) for p in numeric)
    if both_numeric and not (pa.types.is_integer(a) and pa.types.is_integer(b)):
        return pa.float64()
    try:
        unified = pa.unify_schemas(
            [pa.schema([("x", a)]), pa.schema([("x", b)])], promote_options="permissive"
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.string()
    return unified.field(0).type


def _is_data_file(path: str) -> bool:
    name = posixpath.basename(path)
    return name.endswith(".parquet") and not name.startswith((".", "_"))


class LakeIOManager(TableStoreIOManager):
    """Parquet lake; see ``docs/io-managers.md``.

    Without a declared ``write_mode`` a write replaces its partition folder (or the asset
    folder); ``append`` adds files and ``merge`` rewrites the partition with rows updated by key.
    Accepts a DataFrame, a pyarrow Table or a ``TableStream`` of either.
    """

    url: str = Field(
        default="./data/lake",
        description="Root of the lake: a local folder, or s3://bucket/prefix.",
    )
    s3: S3Resource = Field(
        default_factory=S3Resource,
        description=(
            "dagster-aws's S3 resource for s3:// lakes: endpoint (MinIO, moto), region, profile; "
            "keys from the AWS credential chain unless it is given them (as EnvVars)."
        ),
    )

    default_write_mode: ClassVar[WriteMode] = "replace"
    requires_partition_column: ClassVar[bool] = False

    # ---- filesystem -----------------------------------------------------------------------

    def filesystem(self) -> pafs.FileSystem:
        """The filesystem the lake lives in: S3 for ``s3://`` URLs, else local (or by URI)."""
        if self.url.startswith("s3://"):
            return s3_filesystem(self.s3)
        if "://" in self.url:
            return pafs.FileSystem.from_uri(self.url)[0]
        return pafs.LocalFileSystem()

    def root(self) -> str:
        """The lake's root as a path inside :meth:`filesystem` (``bucket/prefix`` on S3)."""
        if "://" in self.url:
            return self.url.split("://", 1)[1].rstrip("/")
        return Path(self.url).expanduser().resolve().as_posix()

    def uri(self, path: str) -> str:
        """A URI a person can open for ``path`` (a path inside the filesystem)."""
        if "://" in self.url:
            scheme = self.url.split("://", 1)[0]
            return f"{scheme}://{path}"
        return Path(path).as_uri()

    def _asset_dir(self, target: Target) -> str:
        return posixpath.join(self.root(), *target.key_path)

    def _dirs(self, target: Target) -> dict[dt.date | None, str]:
        base = self._asset_dir(target)
        if target.partition is None:
            return {None: base}
        return {
            d: posixpath.join(base, f"{PARTITION_KEY}={d.isoformat()}")
            for d in target.partition.dates
        }

    def _files(self, fs: pafs.FileSystem, folder: str) -> list[str]:
        selector = pafs.FileSelector(folder, recursive=True, allow_not_found=True)
        infos = fs.get_file_info(selector)
        return sorted(
            i.path for i in infos if i.type == pafs.FileType.File and _is_data_file(i.path)
        )

    def _target_files(self, tx: LakeTransaction, target: Target) -> list[str]:
        dirs = self._dirs(target)
        if len(dirs) == 1:
            return self._files(tx.fs, next(iter(dirs.values())))
        # Several partitions: one listing of the asset folder, not one per day.
        wanted = {d + "/" for d in dirs.values()}
        files = self._files(tx.fs, self._asset_dir(target))
        return [f for f in files if posixpath.dirname(f) + "/" in wanted]

    def _schema(self, fs: pafs.FileSystem, files: list[str]) -> pa.Schema:
        """One schema for all files: new columns added, types promoted (int64 + double ->
        double); a column whose types cannot be reconciled (number then text) is read as text.
        """
        fields: dict[str, pa.Field] = {}
        for path in files:
            for f in pq.read_schema(path, filesystem=fs).remove_metadata():
                seen = fields.get(f.name)
                fields[f.name] = (
                    f if seen is None else pa.field(f.name, _promote(seen.type, f.type))
                )
        return pa.schema(list(fields.values()))

    def _dataset(self, fs: pafs.FileSystem, target: Target, files: list[str]) -> ds.Dataset:
        schema = self._schema(fs, files)
        hive = any(f"/{PARTITION_KEY}=" in f for f in files)
        if hive and PARTITION_KEY not in schema.names:
            schema = schema.append(pa.field(PARTITION_KEY, pa.date32()))
        return ds.dataset(
            files,
            schema=schema,
            format="parquet",
            filesystem=fs,
            partitioning=_HIVE if hive else None,
            partition_base_dir=self._asset_dir(target) if hive else None,
        )

    # ---- primitives -----------------------------------------------------------------------

    @contextmanager
    def _transaction(self, target: Target) -> Iterator[LakeTransaction]:
        tx = LakeTransaction(self.filesystem())
        try:
            yield tx
        except BaseException:
            tx.rollback()
            raise
        tx.commit()
        visible = [path for path in tx.written if _is_data_file(path)]
        target.stats["files_written"] = target.stats.get("files_written", 0) + len(visible)

    def _ensure_columns(self, tx: LakeTransaction, target: Target, data: pa.Table) -> pa.Table:
        """Parquet files carry their own schema; reads unify the schemas of all files. A list
        column the stored files hold as (JSON) text is written as JSON text, and text arriving
        where the stored files hold another type keeps that type (``fitting.py``)."""
        nested = any(pa.types.is_nested(f.type) for f in data.schema)
        text = any(pa.types.is_string(f.type) for f in data.schema)
        if not (nested or text):
            return data
        stored = self._describe(tx, target) or {}
        if nested:
            data = lists_as_json_where_text(data, {n.lower(): t for n, t in stored.items()})
        return self._fit_to_stored(target, data, stored)

    def _create_table(self, tx: LakeTransaction, target: Target, data: pa.Table) -> None:
        """Nothing to create: a folder appears with its first file."""

    def _add_columns(
        self, tx: LakeTransaction, target: Target, data: pa.Table, names: list[str]
    ) -> None:
        """Nothing to alter: new columns live in the new files."""

    def _describe(self, tx: LakeTransaction, target: Target) -> dict[str, str] | None:
        files = self._target_files(tx, target)
        if not files:
            return None
        schema = self._dataset(tx.fs, target, files).schema
        return {f.name: str(f.type) for f in schema}

    def _split(self, target: Target, data: pa.Table) -> dict[dt.date | None, pa.Table]:
        """Rows of ``data`` per partition folder, without the Hive key column."""
        partition = target.partition
        if partition is None:
            return {None: data}
        if PARTITION_KEY in data.column_names:
            data = check_partition(data, Partition(PARTITION_KEY, partition.dates), True)
        if len(partition.dates) == 1:
            parts = {partition.dates[0]: data}
        elif partition.column and partition.column in data.column_names:
            values = data.column(partition.column)
            parts = {
                d: data.filter(pc.equal(values, pa.scalar(d, pa.date32()))) for d in partition.dates
            }
        else:
            raise ValueError(
                f"{target.ref}: writing several partitions at once needs the partition column "
                "in the output to split rows into folders"
            )
        if PARTITION_KEY in data.column_names:
            parts = {d: t.drop_columns([PARTITION_KEY]) for d, t in parts.items()}
        return parts

    def _write_file(
        self, tx: LakeTransaction, folder: str, target: Target, data: pa.Table, hidden: bool = False
    ) -> str:
        """Write one Parquet file; ``hidden`` leaves it under its staged name for a replace."""
        tx.fs.create_dir(folder, recursive=True)
        name = f"part-{target.run_id}-{target.chunk_index}.parquet"
        final = posixpath.join(folder, name)
        if hidden:
            final = posixpath.join(folder, f".{name}{_STAGED_SUFFIX}")
            pq.write_table(data, final, filesystem=tx.fs)
        else:
            staging = posixpath.join(folder, f".{name}.tmp")
            pq.write_table(data, staging, filesystem=tx.fs)
            tx.fs.move(staging, final)
        tx.written.append(final)
        return final

    def _delete(self, tx: LakeTransaction, target: Target) -> None:
        tx.replaced.update(self._target_files(tx, target))

    def _append(self, tx: LakeTransaction, target: Target, data: pa.Table) -> None:
        dirs = self._dirs(target)
        for day, part in self._split(target, data).items():
            if part.num_rows:
                self._write_file(tx, dirs[day], target, part)

    def _stage(self, tx: LakeTransaction, target: Target, data: pa.Table) -> None:
        dirs = self._dirs(target)
        staged = target.stats.setdefault(_STAGED, [])
        for day, part in self._split(target, data).items():
            if part.num_rows:
                staged.append(self._write_file(tx, dirs[day], target, part, hidden=True))

    def _swap_in(self, tx: LakeTransaction, target: Target) -> None:
        """Rename the hidden files to their final names; the commit then deletes the old files
        (and a failed rename deletes the renamed ones, leaving the old files untouched)."""
        tx.replaced.update(self._target_files(tx, target))
        for path in target.stats.get(_STAGED, []):
            folder, name = posixpath.split(path)
            final = posixpath.join(folder, name[1 : -len(_STAGED_SUFFIX)])
            tx.fs.move(path, final)
            tx.written.append(final)

    def _discard_staged(self, target: Target) -> None:
        staged = target.stats.pop(_STAGED, [])
        if not staged:
            return
        fs = self.filesystem()
        for path in staged:
            try:
                fs.delete_file(path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                logger.warning("%s: could not delete staged file %s: %s", target.ref, path, exc)

    def _merge(
        self, tx: LakeTransaction, target: Target, data: pa.Table, key: tuple[str, ...]
    ) -> int:
        """Rewrite each partition folder with ``data`` merged in (same SQL as the warehouse)."""
        dirs = self._dirs(target)
        key = tuple(k for k in key if not (target.partition and k == PARTITION_KEY))
        updated = 0
        for day, part in self._split(target, data).items():
            if not part.num_rows:
                continue
            folder = dirs[day]
            old_files = self._files(tx.fs, folder)
            con = duckdb.connect()
            try:
                con.execute("SET TimeZone = 'UTC'")
                if old_files:
                    old = ds.dataset(
                        old_files, schema=self._schema(tx.fs, old_files), filesystem=tx.fs
                    ).to_table()
                    con.register("stored", old)
                    con.execute("CREATE TABLE current AS SELECT * FROM stored")
                    described = con.execute("DESCRIBE current").fetchall()
                    stored = {r[0].lower(): r[1] for r in described}
                    untyped = [
                        f.name
                        for f in part.schema
                        if is_untyped(f.type) and f.name.lower() not in stored
                    ]
                    part = part.drop_columns(untyped)
                    con.register("chunk", part)
                    missing = [n for n in part.column_names if n.lower() not in stored]
                    add_columns(con, "current", "chunk", missing)
                    common = {
                        n: stored[n.lower()] for n in part.column_names if n.lower() in stored
                    }
                    widen_columns(con, "current", "chunk", common)
                else:
                    con.register("chunk", part)
                    con.execute("CREATE TABLE current AS SELECT * FROM chunk WITH NO DATA")
                updated += merge_into(con, "current", "chunk", part.column_names, key)
                merged = to_arrow(con.sql("SELECT * FROM current").to_arrow_table())
            finally:
                con.close()
            self._write_file(tx, folder, target, merged)
            tx.replaced.update(old_files)
        return updated

    def _count(self, tx: LakeTransaction, target: Target) -> int:
        files = self._target_files(tx, target)
        return sum(pq.ParquetFile(f, filesystem=tx.fs).metadata.num_rows for f in files)

    def _read(self, tx: LakeTransaction, target: Target) -> pa.Table:
        files = self._target_files(tx, target)
        if not files:
            return pa.table({})
        return self._dataset(tx.fs, target, files).to_table()

    def _location_metadata(self, target: Target) -> dict[str, Any]:
        dirs = list(self._dirs(target).values())
        return {
            "dagster/uri": self.uri(dirs[0] if len(dirs) == 1 else self._asset_dir(target)),
            "files_written": target.stats.get("files_written", 0),
        }
