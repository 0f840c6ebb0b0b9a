"""Backends the documents-store contract suite runs against, and a helper to materialize.

* ``embedded``: litemongo's file-backed store in ``tmp_path`` (always runs);
* ``mongodb``: the real server at ``MONGODB_URI`` (a fresh database per test, dropped after).
  With ``MONGODB_URI`` unset that parameter is skipped and the session ends with a line saying
  the real MongoDB part did NOT run (see ``conftest.py``): it is never reported as passed.

Each backend reads the store through a client of its own, not through the code under test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import AssetsDefinition, asset, materialize

from support_assets.core.mongo import MongoDBResource
from support_assets.io_managers.documents import DocumentsIOManager

PREFIX = "raw"
NOT_RUN = "real MongoDB part NOT run: MONGODB_URI unset"


@dataclass
class DocumentsBackend:
    name: str
    mongo: MongoDBResource
    #: A client of its own (pymongo's or litemongo's), to look at what was stored.
    reader: Any

    def io_manager(self, **config: Any) -> DocumentsIOManager:
        return DocumentsIOManager(mongo=self.mongo, **config)

    def collection(self, name: str) -> Any:
        return self.reader[self.mongo.database][name]

    def documents(self, name: str, key: str = "id") -> list[dict[str, Any]]:
        """Stored documents of ``raw_<name>``, without ``_id``, by ``key``."""
        return list(self.collection(f"{PREFIX}_{name}").find({}, {"_id": 0}).sort(key, 1))

    def close(self) -> None:
        self.reader.close()
        self.mongo.close()


def embedded_backend(tmp_path: Path) -> DocumentsBackend:
    import datetime as dt

    import litemongo
    from litemongo import sqlite_store

    folder = tmp_path / "documents"
    mongo = MongoDBResource(embedded_path=str(folder), database="support_assets_test")
    folder.mkdir(parents=True, exist_ok=True)
    reader = litemongo.MongoClient(sqlite_store.ServerStore(folder), tz_aware=True, tzinfo=dt.UTC)
    return DocumentsBackend("embedded", mongo, reader)


def server_backend() -> DocumentsBackend | None:
    """The real MongoDB at ``MONGODB_URI``, or ``None`` when it is unset."""
    uri = os.environ.get("MONGODB_URI")
    if not uri:
        return None
    import datetime as dt

    import pymongo

    database = f"support_assets_test_{uuid.uuid4().hex[:10]}"
    mongo = MongoDBResource(uri=uri, database=database, server_selection_timeout_ms=5000)
    reader = pymongo.MongoClient(uri, tz_aware=True, tzinfo=dt.UTC, serverSelectionTimeoutMS=5000)
    return DocumentsBackend("mongodb", mongo, reader)


def documents_asset(
    value: Any,
    *,
    name: str = "service_events",
    metadata: Mapping[str, Any] | None = None,
) -> AssetsDefinition:
    """An asset ``raw/<name>`` returning ``value`` (or ``value(context)`` if callable)."""

    @asset(name=name, key_prefix=[PREFIX], metadata=dict(metadata or {}))
    def _asset(context) -> Any:  # noqa: ANN001 - Dagster injects the context
        return value(context) if callable(value) else value

    return _asset


def write(
    backend: DocumentsBackend,
    value: Any,
    *,
    name: str = "service_events",
    primary_key: Sequence[str] | str | None = ("id",),
    extra_assets: Sequence[AssetsDefinition] = (),
    io_manager: DocumentsIOManager | None = None,
    **metadata: Any,
) -> dict[str, Any]:
    """Materialize ``raw/<name>`` with ``value``; return its materialization metadata."""
    if primary_key is not None:
        metadata["primary_key"] = primary_key if isinstance(primary_key, str) else list(primary_key)
    definition = documents_asset(value, name=name, metadata=metadata)
    result = materialize(
        [definition, *extra_assets],
        resources={"io_manager": io_manager or backend.io_manager()},
    )
    assert result.success
    (materialization,) = result.asset_materializations_for_node(definition.op.name)
    return {key: getattr(v, "value", v) for key, v in materialization.metadata.items()}
