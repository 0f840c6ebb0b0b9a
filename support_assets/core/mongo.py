"""The documents store: a real MongoDB through pymongo, or an embedded store with the same API.

``MongoDBResource.get_database()`` returns a pymongo-API ``Database`` either way:

* with ``uri`` set (``MONGODB_URI``, given as ``EnvVar`` so run storage keeps only its name):
  ``pymongo.MongoClient(uri)`` and the database ``database`` (``MONGODB_DATABASE``);
* without it: litemongo's file-backed store under ``embedded_path`` (a folder: one SQLite file
  per collection, ``<embedded_path>/<database>/<collection>``), so the demo and the tests run
  the same code with no server.

Both clients are time-zone aware: datetimes come back as UTC.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr
from pymongo import InsertOne, UpdateOne
from pymongo.errors import BulkWriteError

logger = logging.getLogger(__name__)

#: MongoDB's error code for a write that would duplicate a unique index's key.
DUPLICATE_KEY = 11000
#: The default database name, for both the server and the embedded store.
DEFAULT_DATABASE = "support_assets"


class MongoDBResource(ConfigurableResource):
    """The documents store (MongoDB, or embedded litemongo when no URI is configured)."""

    uri: str | None = Field(
        default=None,
        description=(
            "mongodb:// or mongodb+srv:// URI of a real server (a secret: pass "
            "EnvVar('MONGODB_URI')). Unset: the embedded store under embedded_path."
        ),
    )
    database: str = Field(default=DEFAULT_DATABASE, description="Database name.")
    embedded_path: str = Field(
        default="./data/documents",
        description="Folder of the embedded store, used when uri is unset.",
    )
    server_selection_timeout_ms: int = Field(
        default=10_000,
        description=(
            "How long pymongo waits for a reachable server before an operation fails (a "
            "serverSelectionTimeoutMS option in the URI wins)."
        ),
    )

    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _server_client: Any = PrivateAttr(default=None)
    # litemongo's SQLite connections belong to the thread that opened them: one client a thread.
    _embedded_clients: dict[int, Any] = PrivateAttr(default_factory=dict)

    @property
    def is_embedded(self) -> bool:
        return not self.uri

    def get_client(self) -> Any:
        """A ``pymongo.MongoClient``, or litemongo's client with the same API (cached)."""
        with self._lock:
            if not self.is_embedded:
                if self._server_client is None:
                    self._server_client = self._connect_server()
                return self._server_client
            thread = threading.get_ident()
            client = self._embedded_clients.get(thread)
            if client is None:
                client = self._embedded_clients[thread] = self._connect_embedded()
            return client

    def get_database(self) -> Any:
        """The configured database (a ``pymongo.database.Database`` or its litemongo twin)."""
        return self.get_client()[self.database]

    def describe(self) -> str:
        """Where the documents live, without credentials (safe for logs and metadata)."""
        if self.is_embedded:
            return (Path(self.embedded_path).expanduser().resolve() / self.database).as_uri()
        parts = urlsplit(self.uri or "")
        hosts = parts.netloc.rsplit("@", 1)[-1]
        return f"{parts.scheme}://{hosts}/{self.database}"

    def document_count(self, collection: str) -> int:
        """How many documents ``collection`` holds, cheaply.

        A server answers from its metadata (``estimated_document_count``). The embedded store
        would decode every document to count them, so its collection file (SQLite, one row a
        document in ``documents``) is asked ``count(*)`` read-only; should that layout not be
        there, the store counts the slow way.
        """
        if not self.is_embedded:
            return self.get_database()[collection].estimated_document_count()
        path = Path(self.embedded_path).expanduser().resolve() / self.database / collection
        if not path.is_file():
            return 0
        try:
            with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as con:
                (count,) = con.execute("SELECT count(*) FROM documents").fetchone()
            return int(count)
        except sqlite3.Error:
            return self.get_database()[collection].estimated_document_count()

    def close(self) -> None:
        """Close every client this resource opened (they reopen on the next use)."""
        with self._lock:
            server, embedded = self._server_client, self._embedded_clients
            self._server_client = None
            self._embedded_clients = {}
        if server is not None:
            server.close()
        for client in embedded.values():
            try:
                client.close()
            except sqlite3.ProgrammingError:
                # Opened by another thread: SQLite lets only that thread close it. Dropping the
                # reference lets the garbage collector close it.
                continue

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        self.close()

    # ---- connections ----------------------------------------------------------------------

    def _connect_server(self) -> Any:
        import pymongo

        options: dict[str, Any] = {"tz_aware": True, "tzinfo": dt.UTC}
        # Keyword options override the URI's: set these only where the URI does not.
        query = urlsplit(self.uri or "").query.lower()
        if "appname=" not in query:
            options["appname"] = "support_assets"
        if "serverselectiontimeoutms=" not in query:
            options["serverSelectionTimeoutMS"] = self.server_selection_timeout_ms
        return pymongo.MongoClient(self.uri, **options)

    def _connect_embedded(self) -> Any:
        import litemongo
        from litemongo import sqlite_store

        folder = Path(self.embedded_path).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        return litemongo.MongoClient(sqlite_store.ServerStore(folder), tz_aware=True, tzinfo=dt.UTC)


def bulk_upsert(
    collection: Any,
    ops: list[InsertOne | UpdateOne],
    upserts: list[UpdateOne] | None = None,
) -> tuple[int, int]:
    """One unordered ``bulk_write``; returns (inserted, updated).

    An operation that fails on the unique key (an ``InsertOne`` whose key another writer stored
    since the lookup, or two upserts of the same new key at once: MongoDB's documented upsert
    race) is retried once as its upsert (``upserts[i]`` for ``ops[i]``; the operation itself
    when not given), which finds the other writer's document and updates it.
    """
    try:
        result = collection.bulk_write(ops, ordered=False)
        return result.inserted_count + result.upserted_count, result.matched_count
    except BulkWriteError as exc:
        details = exc.details
        errors = details.get("writeErrors", [])
        if not errors or any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        inserted = details.get("nInserted", 0) + details.get("nUpserted", 0)
        updated = details.get("nMatched", 0)
        logger.info(
            "%s: retrying %d writes that raced another writer", collection.name, len(errors)
        )
        retry_ops = [(upserts or ops)[e["index"]] for e in errors]
        retry = collection.bulk_write(retry_ops, ordered=False)
        return inserted + retry.upserted_count, updated + retry.matched_count
