"""A private PostgreSQL server for tests, run by ``tools/postgres.sh`` (Debian's postgresql).

    with running_postgres() as server:          # the session fixture ``postgres`` in conftest
        server.env                              # DAGSTER_PG_* for deploy/dagster.yaml
        server.create_database("dagster_e2e")   # a fresh database per test

Each context gets its own cluster: a free port on 127.0.0.1 and a private ``PG_BASE`` (data,
socket, log) in a temporary folder, deleted on exit. Installing the package is ``make
test-deps``' job (``tools/postgres.sh install``); when it is missing, or the server cannot start,
this raises with the script's output and the server's log. Nothing is skipped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from support_assets_tests.support.e2e_helpers import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "tools" / "postgres.sh"
USER = "support_assets"
PASSWORD = "s3cret-for-tests"


class PostgresError(RuntimeError):
    """The server could not be started or stopped (the message has its log)."""


@dataclasses.dataclass
class PostgresServer:
    base: Path
    port: int
    user: str = USER
    password: str = PASSWORD
    db: str = "dagster"
    host: str = "127.0.0.1"

    @property
    def script_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PG_BASE": str(self.base),
            "PG_PORT": str(self.port),
            "PG_USER": self.user,
            "PG_PASSWORD": self.password,
            "PG_DB": self.db,
        }

    def env(self, db: str | None = None) -> dict[str, str]:
        """The DAGSTER_PG_* settings deploy/dagster.yaml reads, for database ``db``."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": db or self.db,
        }

    def script(self, command: str, timeout: float = 90) -> str:
        result = subprocess.run(
            [str(SCRIPT), command],
            env=self.script_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise PostgresError(
                f"tools/postgres.sh {command} exited {result.returncode}:\n"
                f"{result.stdout}{result.stderr}\n--- log ---\n{self.log_tail()}"
            )
        return result.stdout

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = (self.base / "postgres.log").read_text(errors="replace")
        except OSError as error:
            return f"<no log: {error}>"
        return "\n".join(text.splitlines()[-lines:])

    def connect(self, db: str = "postgres"):
        import psycopg2

        return psycopg2.connect(
            host=self.host, port=self.port, user=self.user, password=self.password, dbname=db
        )

    def create_database(self, name: str) -> str:
        """A new, empty database owned by the test user (``name`` must be an identifier)."""
        if not name.replace("_", "").isalnum():
            raise ValueError(f"not a plain identifier: {name!r}")
        con = self.connect()
        try:
            con.autocommit = True
            with con.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            con.close()
        return name


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A private server on a free port, stopped and deleted when the block ends."""
    # /tmp is world-traversable, so the postgres system user (used when tests run as root)
    # can reach the folder once tools/postgres.sh hands it over.
    base = Path(tempfile.mkdtemp(prefix="support-assets-pg-"))
    server = PostgresServer(base=base, port=free_port())
    try:
        server.script("start")
        yield server
    finally:
        try:
            server.script("stop")
        finally:
            shutil.rmtree(base, ignore_errors=True)
