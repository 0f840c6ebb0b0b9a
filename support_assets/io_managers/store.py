"""The chunk loop every table store shares; backends implement a handful of primitives.

``TableStoreIOManager.handle_output`` turns whatever an asset returned into a stream of chunks,
normalises each one (:func:`~support_assets.io_managers.normalise.prepare_chunk`), makes sure the
table exists with every column, and applies the write mode through the backend's primitives,
one transaction per chunk, inside the backend's :meth:`~TableStoreIOManager._output_scope` (where
a backend may keep one handle across the output's chunks). It then reports the same metadata for
every backend.
"""

from __future__ import annotations

import datetime as dt
import logging
from abc import abstractmethod
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pandas as pd
import pyarrow as pa
from dagster import ConfigurableIOManager, InputContext, MetadataValue, OutputContext

from support_assets.io_managers.base import (
    Partition,
    TableRef,
    WriteMode,
    WriteSpec,
    WriteTotals,
    as_stream,
    partition_from_context,
    refuse_empty_replace,
    table_ref,
)
from support_assets.io_managers.fitting import fit_to_stored
from support_assets.io_managers.normalise import (
    arrow_to_pandas,
    is_untyped,
    lists_as_json_where_text,
    prepare_chunk,
)
from support_assets.io_managers.privacy import masked_preview, safe_metadata
from support_assets.io_managers.write_metadata import schema_from_columns, to_metadata_value

logger = logging.getLogger(__name__)

#: ``target.stats`` key: values per column that did not read as the column's stored type.
KEPT_AS_TEXT = "values_kept_as_text"


@dataclass
class Target:
    """What one write or read addresses: the table, the partition (if any) and the run."""

    ref: TableRef
    key_path: tuple[str, ...]
    partition: Partition | None
    run_id: str
    chunk_index: int = 0
    #: Backend counters accumulated over a write (e.g. files written), reported as metadata.
    stats: dict[str, Any] = field(default_factory=dict)
    #: The backend's handle kept across one output's transactions (see ``_output_scope``).
    session: Any = field(default=None, repr=False, compare=False)


class TableStoreIOManager(ConfigurableIOManager):
    """Abstract IO manager storing tables with ``append``/``replace``/``merge`` semantics.

    Subclasses implement the primitives below; each receives the handle yielded by
    :meth:`_transaction`, which commits when the block ends and rolls back on error.
    """

    #: Mode used when an asset declares no ``write_mode``.
    default_write_mode: ClassVar[WriteMode] = "append"
    #: Whether a partitioned asset's output must carry its partition column.
    requires_partition_column: ClassVar[bool] = True

    # ---- primitives -----------------------------------------------------------------------

    @abstractmethod
    def _transaction(self, target: Target) -> AbstractContextManager[Any]:
        """A handle to the store, atomic where the store allows it."""

    @abstractmethod
    def _describe(self, tx: Any, target: Target) -> dict[str, str] | None:
        """Stored columns and their types, or ``None`` when the table does not exist."""

    @abstractmethod
    def _create_table(self, tx: Any, target: Target, data: pa.Table) -> None:
        """Create the schema and the table with the columns (and types) of ``data``."""

    @abstractmethod
    def _add_columns(self, tx: Any, target: Target, data: pa.Table, names: list[str]) -> None:
        """Add the columns ``names`` of ``data`` (typed from the data) to the table."""

    def _widen_columns(
        self, tx: Any, target: Target, data: pa.Table, stored: dict[str, str]
    ) -> None:
        """Change stored column types that ``data``'s values do not fit into (e.g. BIGINT ->
        DOUBLE when decimals arrive), so a write never silently rounds or truncates.

        ``stored`` maps ``data``'s column names to their stored types. Default: nothing.
        """

    @abstractmethod
    def _delete(self, tx: Any, target: Target) -> None:
        """Delete the table's rows, or only the partition's when ``target.partition`` is set."""

    @abstractmethod
    def _append(self, tx: Any, target: Target, data: pa.Table) -> None:
        """Insert ``data`` by column name; columns it lacks are NULL."""

    @abstractmethod
    def _merge(self, tx: Any, target: Target, data: pa.Table, key: tuple[str, ...]) -> int:
        """Update rows whose ``key`` exists (only ``data``'s columns), insert the rest.

        Returns how many rows were updated.
        """

    @abstractmethod
    def _count(self, tx: Any, target: Target) -> int:
        """Rows in the table (or the partition)."""

    @abstractmethod
    def _read(self, tx: Any, target: Target) -> pa.Table:
        """The table (or the partition) as Arrow."""

    def _stage(self, tx: Any, target: Target, data: pa.Table) -> None:
        """Keep a chunk of a ``replace`` where readers of the target do not see it yet."""
        raise NotImplementedError(f"{type(self).__name__} does not stage replace chunks")

    def _swap_in(self, tx: Any, target: Target) -> None:
        """Delete the target's rows (or its partition's) and make every staged chunk visible,
        atomically: either the old rows or the new ones are there, never a mix or nothing."""
        raise NotImplementedError(f"{type(self).__name__} does not stage replace chunks")

    def _discard_staged(self, target: Target) -> None:
        """Remove what a ``replace`` staged before it failed (best effort, never raises)."""

    def _location_metadata(self, target: Target) -> dict[str, Any]:
        """Metadata naming where the data landed (table name, URI)."""
        return {}

    def _finish_write(self, target: Target, spec: WriteSpec, totals: WriteTotals) -> None:
        """Called once per output, after the last chunk and before the final count.

        A backend that only collects chunks in ``_write_chunk`` and writes them once per run
        (BigQuery: one load job, and one MERGE, per asset per run) writes them here and sets
        ``totals.rows_inserted`` / ``totals.rows_updated``, which its ``_write_chunk`` could only
        estimate. Default: a ``replace`` that wrote chunks swaps its staged rows in.
        """
        if spec.mode == "replace" and totals.rows_written:
            with self._transaction(target) as tx:
                self._swap_in(tx, target)

    def _output_scope(self, target: Target) -> AbstractContextManager[None]:
        """Entered around one output's whole write (chunks, finish, abort, final count); it may set
        ``target.session``, and must release it on every path. Default: nothing to keep."""
        return nullcontext()

    def _abort_write(self, target: Target) -> None:
        """Called when a write fails before it finished: drop what it staged."""
        self._discard_staged(target)

    # ---- shared logic ---------------------------------------------------------------------

    def _target(self, context: OutputContext | InputContext, spec: WriteSpec) -> Target:
        return Target(
            ref=table_ref(context.asset_key),
            key_path=tuple(context.asset_key.path),
            partition=partition_from_context(context, spec),
            run_id=context.run_id if isinstance(context, OutputContext) else "",
        )

    def _ensure_columns(self, tx: Any, target: Target, data: pa.Table) -> pa.Table:
        """Create the table or add the chunk's new columns, widening types that do not fit.

        A column the table lacks and whose values are all null (Arrow type ``null``, or only empty
        lists) is left out rather than created with a guessed type; it is added once a chunk
        carries values. A list column the table stores as text (JSON, as before list columns
        existed) is written as JSON text, so older tables keep one format.
        Returns the chunk to write.
        """
        stored = self._describe(tx, target)
        data = self._fit_to_stored(target, data, stored)
        known = {name.lower(): name for name in stored or {}}
        untyped = [
            f.name for f in data.schema if is_untyped(f.type) and f.name.lower() not in known
        ]
        if untyped:
            data = data.drop_columns(untyped)
        if stored is not None:
            data = lists_as_json_where_text(data, {n.lower(): t for n, t in stored.items()})
        if stored is None:
            self._create_table(tx, target, data)
            return data
        missing = [n for n in data.column_names if n.lower() not in known]
        if missing:
            logger.info("%s: adding column(s) %s", target.ref, missing)
            self._add_columns(tx, target, data, missing)
        common = {
            f.name: stored[known[f.name.lower()]]
            for f in data.schema
            if f.name.lower() in known and not is_untyped(f.type)
        }
        self._widen_columns(tx, target, data, common)
        return data

    def _fit_to_stored(
        self, target: Target, data: pa.Table, stored: Mapping[str, str] | None
    ) -> pa.Table:
        """Text arriving in a typed column keeps the column's type (see ``fitting.py``)."""
        data, kept = fit_to_stored(data, stored)
        counts = target.stats.setdefault(KEPT_AS_TEXT, {})
        for name, count in kept.items():
            counts[name] = counts.get(name, 0) + count
        return data

    def _write_chunk(
        self, target: Target, data: pa.Table, mode: WriteMode, spec: WriteSpec
    ) -> tuple[int, int]:
        """Write one normalised chunk (a ``replace``'s is staged); return (inserted, updated)."""
        with self._transaction(target) as tx:
            data = self._ensure_columns(tx, target, data)
            if spec.mode == "replace":
                if data.num_rows:
                    self._stage(tx, target, data)
                return data.num_rows, 0
            if not data.num_rows:
                return 0, 0
            if mode == "append":
                self._append(tx, target, data)
                return data.num_rows, 0
            key = spec.merge_key(partitioned=target.partition is not None)
            updated = self._merge(tx, target, data, key)
            return data.num_rows - updated, updated

    def _write_stream(
        self,
        context: OutputContext,
        spec: WriteSpec,
        target: Target,
        frames: Iterable[Any],
        totals: WriteTotals,
    ) -> None:
        """Normalise and write every chunk, counting into ``totals``."""
        loaded_at = dt.datetime.now(dt.UTC)
        replaced = False
        for index, frame in enumerate(frames):
            data, dropped = prepare_chunk(
                frame,
                spec,
                target.partition,
                run_id=context.run_id,
                loaded_at=loaded_at,
                require_partition_column=self.requires_partition_column,
            )
            if data.num_columns == 0:
                context.log.debug(f"{target.ref}: chunk {index} has no columns; skipped")
                continue
            mode: WriteMode = spec.mode
            if mode == "replace" and (replaced or not data.num_rows):
                # An empty chunk only shapes the table; the replace waits for rows (or the end).
                mode = "append"
            target.chunk_index = index
            inserted, updated = self._write_chunk(target, data, mode, spec)
            replaced = replaced or mode == "replace"
            totals.chunks += 1
            totals.rows_written += data.num_rows
            totals.rows_inserted += inserted
            totals.rows_updated += updated
            totals.rows_deduplicated += dropped
            if totals.preview is None and data.num_rows:
                totals.preview = masked_preview(data)
            context.log.debug(
                f"{target.ref}: chunk {index} {mode}: {data.num_rows} rows "
                f"({inserted} inserted, {updated} updated, {dropped} duplicates dropped)"
            )
        if spec.mode == "replace" and not replaced:
            # Replace means the target equals the output, even when the stream yielded nothing:
            # but replacing stored rows with none is refused unless the asset allows it.
            with self._transaction(target) as tx:
                if self._describe(tx, target) is not None:
                    refuse_empty_replace(spec, str(target.ref), self._count(tx, target))
                    self._delete(tx, target)
            if spec.allow_empty_replace is not None:
                context.log.info(f"{target.ref}: empty replace: {spec.allow_empty_replace}")

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        """Write what the asset returned, chunk by chunk, and report what was written."""
        spec = WriteSpec.from_context(context, default_mode=self.default_write_mode)
        target = self._target(context, spec)
        stream = as_stream(obj)
        totals = WriteTotals()
        with self._output_scope(target):
            try:
                self._write_stream(context, spec, target, stream.frames, totals)
                self._finish_write(target, spec, totals)
            except BaseException:
                self._abort_write(target)
                raise
            with self._transaction(target) as tx:
                stored = self._describe(tx, target)
                row_count = self._count(tx, target) if stored is not None else 0
        context.log.info(
            f"{target.ref}: {spec.mode} wrote {totals.rows_written} rows in {totals.chunks} "
            f"chunk(s): {totals.rows_inserted} inserted, {totals.rows_updated} updated; "
            f"{row_count} rows now"
        )
        context.add_output_metadata(
            self._output_metadata(target, spec, totals, stored, row_count, stream.metadata)
        )

    def _output_metadata(
        self,
        target: Target,
        spec: WriteSpec,
        totals: WriteTotals,
        stored: Mapping[str, str] | None,
        row_count: int,
        stream_metadata: Mapping[str, Any],
    ) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "write_mode": spec.mode,
            "rows_written": totals.rows_written,
            "rows_inserted": totals.rows_inserted,
            "rows_updated": totals.rows_updated,
            "rows_deduplicated": totals.rows_deduplicated,
            "chunks": totals.chunks,
            "dagster/row_count": row_count,
            "dagster/column_schema": schema_from_columns(stored or {}),
            "preview": MetadataValue.md(totals.preview or "*(nothing written)*"),
        }
        if target.partition is not None:
            metadata["partition"] = ", ".join(target.partition.keys)
        if target.stats.get(KEPT_AS_TEXT):
            metadata["values_not_of_the_column_type"] = MetadataValue.json(
                target.stats[KEPT_AS_TEXT]
            )
        metadata.update(self._location_metadata(target))
        for key, value in stream_metadata.items():
            metadata[str(key)] = to_metadata_value(value)
        return safe_metadata(metadata)

    def load_input(self, context: InputContext) -> pd.DataFrame | pa.Table:
        """Read the upstream table (or its partitions) back; a DataFrame unless the input is
        typed as a ``pyarrow.Table``."""
        spec = WriteSpec.from_context(context, default_mode=self.default_write_mode)
        target = self._target(context, spec)
        with self._transaction(target) as tx:
            table = self._read(tx, target)
        context.log.debug(f"{target.ref}: loaded {table.num_rows} rows")
        if context.dagster_type.typing_type is pa.Table:
            return table
        return arrow_to_pandas(table)
