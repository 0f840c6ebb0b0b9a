"""Warehouse IO managers: one table per asset, schema named after the asset key's prefix.

``WarehouseIOManager`` is the abstract base; backends (DuckDB now, BigQuery next) implement the
primitives of :class:`~support_assets.io_managers.store.TableStoreIOManager` in SQL.
"""

from __future__ import annotations

from typing import Any, ClassVar

from support_assets.io_managers.base import WriteMode
from support_assets.io_managers.store import TableStoreIOManager, Target


def quote_identifier(name: str) -> str:
    """Quote a SQL identifier (``"`` doubled), so any column name is safe in SQL text."""
    if not name or "\x00" in name:
        raise ValueError(f"invalid identifier {name!r}")
    return '"' + name.replace('"', '""') + '"'


class WarehouseIOManager(TableStoreIOManager):
    """Abstract warehouse IO manager.

    Per chunk: audit columns, dedupe on the primary key (last wins), create the schema and table
    if missing, add new columns, then append / replace (the table or the partition) / merge.
    A daily-partitioned asset's output must carry its ``partition_column`` (a DATE).
    """

    default_write_mode: ClassVar[WriteMode] = "append"
    requires_partition_column: ClassVar[bool] = True

    def _qualified_name(self, target: Target) -> str:
        """The table's name as a person would type it in the warehouse's console."""
        return str(target.ref)

    def _location_metadata(self, target: Target) -> dict[str, Any]:
        return {"dagster/table_name": self._qualified_name(target)}
