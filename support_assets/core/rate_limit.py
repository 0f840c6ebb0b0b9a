"""One API's request budget shared by every process of a deployment.

The multiprocess executor runs steps side by side, each in its own process with its own client:
a token bucket per process lets N processes send N times what the API allows. The
:class:`SharedRateLimiter` keeps the bucket in a small SQLite file every process of the
deployment opens (``SUPPORT_RATE_LIMIT_STATE``, under ``DAGSTER_HOME`` by default), as a
generic cell rate algorithm: one row per API holds the theoretical arrival time of the next
request, and each request takes its slot in a ``BEGIN IMMEDIATE`` transaction, so processes
queue one behind another. A ``Retry-After`` answer pauses every process until it is over.

Steps on other machines (the k8s executor) do not share a file: limit those with Dagster's
concurrency pools instead.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator

from support_assets.core.http_retry import RateLimiter

_SCHEMA = "CREATE TABLE IF NOT EXISTS buckets (api TEXT PRIMARY KEY, tat REAL NOT NULL)"


class SharedRateLimiter(RateLimiter):
    """``rate`` requests a second (bursts up to ``burst``) for ``key``, across processes."""

    def __init__(self, path: str, key: str, rate: float | None, burst: int = 1) -> None:
        super().__init__(rate, burst)
        self.path = path
        self.key = key
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        with self._transaction() as con:
            con.execute(_SCHEMA)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()

    def _tat(self, con: sqlite3.Connection) -> float | None:
        row = con.execute("SELECT tat FROM buckets WHERE api = ?", (self.key,)).fetchone()
        return None if row is None else float(row[0])

    def _store(self, con: sqlite3.Connection, tat: float) -> None:
        con.execute(
            "INSERT INTO buckets (api, tat) VALUES (?, ?) "
            "ON CONFLICT (api) DO UPDATE SET tat = excluded.tat",
            (self.key, tat),
        )

    def acquire(self) -> float:
        """Takes the next slot of the shared budget and sleeps until it; returns the wait."""
        rate = self.rate
        if rate is None:
            return 0.0
        interval = 1.0 / rate
        tolerance = (self.burst - 1) * interval
        with self._transaction() as con:
            now = time.time()
            tat = max(self._tat(con) or now, now)
            slot = max(now, tat - tolerance)
            self._store(con, tat + interval)
        wait = slot - now
        if wait > 0:
            time.sleep(wait)
        return max(wait, 0.0)

    def pause_for(self, seconds: float) -> None:
        """No process of the deployment sends to this API for ``seconds`` (a Retry-After)."""
        if seconds <= 0:
            return
        interval = 1.0 / self.rate if self.rate else 0.0
        with self._transaction() as con:
            until = time.time() + seconds + (self.burst - 1) * interval
            self._store(con, max(self._tat(con) or 0.0, until))
