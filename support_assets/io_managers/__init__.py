"""IO managers: where assets' outputs are stored (warehouse, lake) and with which semantics.

See ``docs/io-managers.md`` for the contract assets are written against. The names below are
imported on first use: a process that writes only to DuckDB does not load the lake's S3 stack
(about 60 MB of resident memory and a second of start-up).
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "DuckDBWarehouseIOManager": "duckdb",
    "LakeIOManager": "lake",
    "TableRef": "base",
    "TableStoreIOManager": "store",
    "TableStream": "base",
    "WarehouseIOManager": "warehouse",
    "WriteSpec": "base",
    "add_audit_columns": "normalise",
    "table_ref": "base",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
