"""DuckDB warehouse backend: one local DuckDB file, one schema per asset-key prefix.

Unlike dagster-duckdb's IO manager (which inserts by column position and fails when a source
grows a column), rows are inserted by column name and new columns are added first. Values reach
SQL only as parameters or as registered Arrow tables; identifiers are always quoted.

Connections and the file lock. DuckDB's lock is per process, so Dagster's multiprocess executor
(each step a process opening the same file) needs every writer to hand the file back. Each chunk
is its own transaction (a failed chunk rolls back alone), but an output keeps one connection across
its chunks (:class:`HeldConnection`) and hands the file back, with one explicit ``CHECKPOINT``,
once ``hold_seconds`` have passed and at the end of the output. While the connection is held,
commits only append to the write-ahead log (``checkpoint_threshold`` raised): a commit that
checkpoints rewrites the row groups it touched, and after updates scattered over a large table
that is most of the table (seconds per 5,000-row chunk on 1,000,000 rows); with the default
threshold such a commit checkpoints even on an open connection. So an incremental run
pays one checkpoint instead of one per chunk, a long load one per hold window, and the WAL never
outlives a hold window, so no other process replays a long one. Deferring checkpoints across
connections instead (``checkpoint_threshold`` alone) would leave that WAL to whoever opens next.
A process waiting for the lock polls every ~0.1 s; after a hand-back in the middle of an output
the holder waits ``HANDOFF_PAUSE`` (at most ``hold_seconds``) before opening again, so a waiter
gets in within about one hold window plus one checkpoint (``bench/bench_lock.py`` measures it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb
import pyarrow as pa
from pydantic import Field
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_delay,
    wait_exponential_jitter,
)

from support_assets.io_managers.base import TableRef
from support_assets.io_managers.store import Target
from support_assets.io_managers.warehouse import WarehouseIOManager, quote_identifier

logger = logging.getLogger(__name__)

_CHUNK = "__support_assets_chunk"
#: ``target.stats`` key of the staging table a ``replace`` writes its chunks to.
_STAGING = "duckdb_replace_staging"
#: Longest sleep between two attempts to open a locked file.
LOCK_POLL_SECONDS = 0.1
#: After handing the file back in the middle of an output, how long the holder waits before
#: opening it again (at most ``hold_seconds``): more than one poll interval, so a waiting
#: process gets its turn.
HANDOFF_PAUSE = 0.25
#: ``checkpoint_threshold`` while an output holds the file: commits stay in the WAL until the
#: hand-back's explicit checkpoint (a hold window writes far less than this).
HELD_CHECKPOINT_THRESHOLD = "4GB"


def is_lock_error(exc: BaseException) -> bool:
    """True for the IOException DuckDB raises when another process holds the file's lock."""
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


def _table(target: Target) -> str:
    return f"{quote_identifier(target.ref.schema)}.{quote_identifier(target.ref.name)}"


def _staging(target: Target, name: str) -> Target:
    """The unpartitioned table ``name`` beside the target, where a replace stages its rows."""
    staging = Target(TableRef(target.ref.schema, name), target.key_path, None, target.run_id)
    staging.session = target.session
    return staging


def _log_first_wait(state: RetryCallState) -> None:
    if state.attempt_number == 1:
        logger.info("the DuckDB file is locked by another process; waiting for it")


class HeldConnection:
    """One output's connection, kept across its transactions and handed back (checkpoint, close)
    once ``hold_seconds`` have passed since it was opened, and at the end of the output."""

    def __init__(self, manager: DuckDBWarehouseIOManager) -> None:
        self.manager = manager
        self.con: duckdb.DuckDBPyConnection | None = None
        self.opened_at = 0.0
        self.released_at: float | None = None

    def connection(self) -> duckdb.DuckDBPyConnection:
        """The open connection, or a new one (after the hand-off pause, if the file was just
        handed back in the middle of the output)."""
        if self.con is None:
            if self.released_at is not None:
                wait = min(HANDOFF_PAUSE, self.manager.hold_seconds)
                pause = wait - (time.monotonic() - self.released_at)
                if pause > 0:
                    time.sleep(pause)
            con = self.manager.connect()
            con.execute(f"SET checkpoint_threshold = '{HELD_CHECKPOINT_THRESHOLD}'")
            self.con, self.opened_at = con, time.monotonic()
        return self.con

    def after_transaction(self) -> None:
        """Hand the file back if the hold window is over."""
        if self.con is not None and time.monotonic() - self.opened_at >= self.manager.hold_seconds:
            self.release()

    def release(self) -> None:
        """Checkpoint (best effort: the WAL is durable anyway) and close; never raises a
        checkpoint error, always closes."""
        con, self.con = self.con, None
        if con is None:
            return
        try:
            con.execute("RESET checkpoint_threshold")
            con.execute("CHECKPOINT")
        except duckdb.Error as exc:
            logger.warning("checkpoint before closing the DuckDB file failed: %s", exc)
        finally:
            con.close()
            self.released_at = time.monotonic()


def _partition_filter(target: Target) -> tuple[str, list[Any]]:
    """``WHERE`` clause (and its parameters) restricting to the target's partition(s)."""
    if target.partition is None:
        return "", []
    shape, column, dates = target.partition.selection(target.ref)
    column = quote_identifier(column)
    condition = {
        "one": f"{column} = ?",
        "between": f"{column} BETWEEN ? AND ?",
        "among": f"{column} IN ({', '.join('?' for _ in dates)})",
    }[shape]
    return f" WHERE {condition}", list(dates)


class DuckDBWarehouseIOManager(WarehouseIOManager):
    """Warehouse in one DuckDB file (``path``); see ``docs/io-managers.md`` for semantics.

    Nested Python objects (lists, dicts) in object columns are stored as JSON text (VARCHAR).
    """

    path: str = Field(description="DuckDB database file; its folder is created if missing.")
    lock_timeout_seconds: float = Field(
        default=30.0,
        description="How long to keep retrying while another process holds the file's lock.",
    )
    hold_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How long one output keeps the file open across its chunks (each chunk "
        "still its own transaction) before checkpointing and handing it back to other "
        "processes; it is always handed back at the end of the output. 0: after every chunk.",
    )
    memory_limit: str | None = Field(
        default="128MB",
        pattern=r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
        description="DuckDB's memory_limit for this file (None: DuckDB's default, 80% of RAM). "
        "DuckDB keeps the blocks it wrote cached up to the limit, so without one a long "
        "streamed load grows with the table (1.2 GB at 1M tickets); bigger work spills to disk. "
        "64MB keeps a 100,000-ticket load under 400 MB resident, but a MERGE of a "
        "100,000-row chunk into 1,000,000 rows fails under it (BENCHMARKS.md).",
    )

    # ---- connection -----------------------------------------------------------------------

    def connect(self) -> duckdb.DuckDBPyConnection:
        """Open the database file (session time zone UTC), retrying while it is locked."""
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        retrying = Retrying(
            retry=retry_if_exception(is_lock_error),
            wait=wait_exponential_jitter(initial=0.02, max=LOCK_POLL_SECONDS, jitter=0.02),
            stop=stop_after_delay(self.lock_timeout_seconds),
            before_sleep=_log_first_wait,
            reraise=True,
        )
        con = retrying(duckdb.connect, self.path)
        con.execute("SET TimeZone = 'UTC'")
        if self.memory_limit:
            con.execute(f"SET memory_limit = '{self.memory_limit}'")
        return con

    @contextmanager
    def _output_scope(self, target: Target) -> Iterator[None]:
        """Hold one connection across the output (see the module docstring); always released."""
        target.session = HeldConnection(self)
        try:
            yield
        finally:
            target.session.release()
            target.session = None

    @contextmanager
    def _transaction(self, target: Target) -> Iterator[duckdb.DuckDBPyConnection]:
        """One transaction, on the output's held connection when there is one."""
        session: HeldConnection | None = target.session
        con = session.connection() if session is not None else self.connect()
        try:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                try:
                    con.execute("ROLLBACK")
                except duckdb.Error:
                    logger.warning("%s: rollback failed; closing the connection", target.ref)
                    if session is not None:
                        session.release()
                raise
        finally:
            if session is None:
                con.close()
            else:
                session.after_transaction()

    @contextmanager
    def _registered(self, con: duckdb.DuckDBPyConnection, data: pa.Table) -> Iterator[str]:
        con.register(_CHUNK, data)
        try:
            yield _CHUNK
        except BaseException:
            # A failed statement aborts the transaction, and unregistering then fails too: the
            # statement's own error is the one to report; the rollback drops the view anyway.
            with contextlib.suppress(duckdb.Error):
                con.unregister(_CHUNK)
            raise
        con.unregister(_CHUNK)

    # ---- primitives -----------------------------------------------------------------------

    def _qualified_name(self, target: Target) -> str:
        database = os.path.splitext(os.path.basename(self.path))[0]
        return f"{database}.{target.ref}"

    def _describe(self, tx: duckdb.DuckDBPyConnection, target: Target) -> dict[str, str] | None:
        rows = tx.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ? "
            "ORDER BY ordinal_position",
            [target.ref.schema, target.ref.name],
        ).fetchall()
        return {name: typ for name, typ in rows} or None

    def _create_table(self, tx: duckdb.DuckDBPyConnection, target: Target, data: pa.Table) -> None:
        tx.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(target.ref.schema)}")
        with self._registered(tx, data) as chunk:
            tx.execute(
                f"CREATE TABLE IF NOT EXISTS {_table(target)} AS SELECT * FROM {chunk} WITH NO DATA"
            )

    def _add_columns(
        self, tx: duckdb.DuckDBPyConnection, target: Target, data: pa.Table, names: list[str]
    ) -> None:
        with self._registered(tx, data) as chunk:
            add_columns(tx, _table(target), chunk, names)

    def _widen_columns(
        self,
        tx: duckdb.DuckDBPyConnection,
        target: Target,
        data: pa.Table,
        stored: dict[str, str],
    ) -> None:
        with self._registered(tx, data) as chunk:
            widen_columns(tx, _table(target), chunk, stored)

    def _delete(self, tx: duckdb.DuckDBPyConnection, target: Target) -> None:
        where, params = _partition_filter(target)
        tx.execute(f"DELETE FROM {_table(target)}{where}", params)

    def _append(self, tx: duckdb.DuckDBPyConnection, target: Target, data: pa.Table) -> None:
        columns = ", ".join(quote_identifier(n) for n in data.column_names)
        with self._registered(tx, data) as chunk:
            tx.execute(f"INSERT INTO {_table(target)} ({columns}) SELECT {columns} FROM {chunk}")

    def _merge(
        self,
        tx: duckdb.DuckDBPyConnection,
        target: Target,
        data: pa.Table,
        key: tuple[str, ...],
    ) -> int:
        with self._registered(tx, data) as chunk:
            return merge_into(tx, _table(target), chunk, data.column_names, key)

    def _stage(self, tx: duckdb.DuckDBPyConnection, target: Target, data: pa.Table) -> None:
        """Append the chunk to the table the replace collects its chunks in
        (``_<table>__replace_<id>``, same schema), created by the first chunk."""
        if _STAGING not in target.stats:
            target.stats[_STAGING] = f"_{target.ref.name}__replace_{uuid.uuid4().hex[:12]}"
        staging = _staging(target, target.stats[_STAGING])
        self._append(tx, staging, self._ensure_columns(tx, staging, data))

    def _swap_in(self, tx: duckdb.DuckDBPyConnection, target: Target) -> None:
        self._delete(tx, target)
        name = target.stats.get(_STAGING)
        if name is None:
            return
        staging = _staging(target, name)
        columns = ", ".join(quote_identifier(c) for c in self._describe(tx, staging) or {})
        tx.execute(
            f"INSERT INTO {_table(target)} ({columns}) SELECT {columns} FROM {_table(staging)}"
        )
        tx.execute(f"DROP TABLE {_table(staging)}")

    def _discard_staged(self, target: Target) -> None:
        name = target.stats.pop(_STAGING, None)
        if name is None:
            return
        staging = _staging(target, name)
        try:
            with self._transaction(staging) as tx:
                tx.execute(f"DROP TABLE IF EXISTS {_table(staging)}")
        except duckdb.Error as exc:
            logger.warning("%s: could not drop the staging table %s: %s", target.ref, name, exc)

    def _count(self, tx: duckdb.DuckDBPyConnection, target: Target) -> int:
        where, params = _partition_filter(target)
        rows = tx.execute(f"SELECT count(*) FROM {_table(target)}{where}", params).fetchall()
        return int(rows[0][0])

    def _read(self, tx: duckdb.DuckDBPyConnection, target: Target) -> pa.Table:
        if self._describe(tx, target) is None:
            return pa.table({})
        where, params = _partition_filter(target)
        return tx.sql(f"SELECT * FROM {_table(target)}{where}", params=params).to_arrow_table()


def merge_into(
    con: duckdb.DuckDBPyConnection,
    table: str,
    source: str,
    columns: list[str],
    key: tuple[str, ...],
) -> int:
    """``MERGE INTO table`` from the registered ``source``; returns how many rows were updated.

    Matched rows get only ``columns`` (others keep their stored values); unmatched rows are
    inserted by name (others NULL). ``table`` and ``source`` are already-quoted SQL names.
    Shared with the lake, which merges a partition in an in-memory DuckDB.
    """
    on = " AND ".join(f"t.{quote_identifier(k)} = s.{quote_identifier(k)}" for k in key)
    updated = con.execute(
        f"SELECT count(*) FROM {source} AS s WHERE EXISTS (SELECT 1 FROM {table} AS t WHERE {on})"
    ).fetchall()[0][0]
    quoted = [quote_identifier(c) for c in columns]
    settable = [quote_identifier(c) for c in columns if c not in key]
    when_matched = (
        "UPDATE SET " + ", ".join(f"{c} = s.{c}" for c in settable) if settable else "DO NOTHING"
    )
    con.execute(
        f"MERGE INTO {table} AS t USING {source} AS s ON ({on}) "
        f"WHEN MATCHED THEN {when_matched} "
        f"WHEN NOT MATCHED THEN INSERT ({', '.join(quoted)}) "
        f"VALUES ({', '.join('s.' + c for c in quoted)})"
    )
    return int(updated)


def source_types(con: duckdb.DuckDBPyConnection, source: str) -> dict[str, str]:
    """DuckDB's type for each column of a registered source."""
    return {row[0]: row[1] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}


def add_columns(con: duckdb.DuckDBPyConnection, table: str, source: str, names: list[str]) -> None:
    """Add ``names`` to ``table`` with the types DuckDB gives them in ``source``."""
    types = source_types(con, source)
    for name in names:
        con.execute(
            f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {quote_identifier(name)} {types[name]}"
        )


def supertype(con: duckdb.DuckDBPyConnection, stored: str, incoming: str) -> str:
    """The type both ``stored`` and ``incoming`` values fit in, as DuckDB's UNION decides it."""
    rows = con.execute(
        f"SELECT typeof(c) FROM (SELECT NULL::{stored} AS c UNION ALL SELECT NULL::{incoming})"
    ).fetchall()
    return str(rows[0][0])


def widen_columns(
    con: duckdb.DuckDBPyConnection, table: str, source: str, stored: dict[str, str]
) -> None:
    """Alter columns of ``table`` whose type cannot hold ``source``'s values without loss.

    Inserting 1.5 into a BIGINT column would round it silently; the column becomes DOUBLE
    first. ``stored`` maps source column names to the table's types (types come from DuckDB
    itself, never from data).
    """
    incoming = source_types(con, source)
    for name, current in stored.items():
        new = incoming.get(name)
        if new is None or new == current or new == '"NULL"':
            continue
        wider = supertype(con, current, new)
        if wider != current:
            logger.info("widening column %s of %s from %s to %s", name, table, current, wider)
            con.execute(f"ALTER TABLE {table} ALTER COLUMN {quote_identifier(name)} TYPE {wider}")
