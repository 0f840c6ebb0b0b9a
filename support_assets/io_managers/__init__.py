"""IO managers: where assets' outputs are stored (warehouse, lake) and with which semantics.

See ``docs/io-managers.md`` for the contract assets are written against.
"""

from support_assets.io_managers.base import TableRef, TableStream, WriteSpec, table_ref
from support_assets.io_managers.duckdb import DuckDBWarehouseIOManager
from support_assets.io_managers.lake import LakeIOManager
from support_assets.io_managers.normalise import add_audit_columns
from support_assets.io_managers.store import TableStoreIOManager
from support_assets.io_managers.warehouse import WarehouseIOManager

__all__ = [
    "DuckDBWarehouseIOManager",
    "LakeIOManager",
    "TableRef",
    "TableStoreIOManager",
    "TableStream",
    "WarehouseIOManager",
    "WriteSpec",
    "add_audit_columns",
    "table_ref",
]
