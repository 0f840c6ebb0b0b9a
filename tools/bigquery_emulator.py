"""A real local BigQuery emulator (local-bigquery 0.3.2) for tests and benchmarks, via
tools/bigquery_emulator.sh.

    with running_bigquery_emulator(DEFAULT_BASE_DIR) as bq:   # e.g. in a session fixture
        client = bq.client()               # or code that builds its own client: setenv(bq.env)

The emulator runs in its own Python 3.13 venv under ``base_dir`` (installed once, reused; needs
pyenv's python3.13 or BQ_PYTHON), each context gets its own free ports and data folder (deleted
on exit), and failures raise with the server log. Nothing is skipped.

What the official client (google-cloud-bigquery 3.47.0 + db-dtypes 1.9.0, pandas 2.3.3,
pyarrow 26.0.1, Python 3.11) did against it, checked by hand:
  worked  create_dataset / create_table (REQUIRED + NULLABLE, TIMESTAMP with microseconds,
          STRING with accents and emoji round-trip intact); load_table_from_dataframe (Parquet,
          nullable Int64); load_table_from_json; insert_rows_json (a missing REQUIRED field
          comes back as a row error, as in BigQuery); queries with scalar, TIMESTAMP, DATE and
          ARRAY parameters; MERGE from a staging table (matched -> UPDATE, not matched ->
          INSERT, num_dml_affected_rows right); ALTER TABLE ADD COLUMN and update_table(schema)
          and schema_update_options=ALLOW_FIELD_ADDITION; table partitioned by a DATE column
          (+ clustering) then DELETE ... WHERE day = @d then an append load; INFORMATION_SCHEMA
          COLUMNS / PARTITIONS / JOBS; DML and load NOT NULL violations raise BadRequest.
          list_jobs() records load and query jobs (type, state, statement_type; newest first),
          get_job() too; insert_rows_json makes no job (as in BigQuery). AnonymousCredentials
          and the env-variable route (fake authorized_user token) both work.
  differs get_table().num_rows ignores DML (after DELETE 11 for 7 rows, after MERGE 8 for 6; an
          UPDATE adds): count with a query. A load into a partition decorator (``t$20240102``,
          WRITE_TRUNCATE) silently creates a separate table named ``t$20240102``: replace a
          partition with DELETE WHERE day = @d + a WRITE_APPEND load instead (works).
          list_partitions() -> 404 (use INFORMATION_SCHEMA.PARTITIONS). A WRITE_TRUNCATE load
          turns REQUIRED columns into NULLABLE (BigQuery keeps the job schema's modes; the
          partitioning and clustering stay): don't test NOT NULL after one.
  noise   the client warns (FutureWarning) that DataFrame loads will need pandas-gbq, and
          (UserWarning) that the BigQuery Storage module is missing; both harmless. Keep
          google-cloud-bigquery-storage uninstalled or pass create_bqstorage_client=False: it
          ignores the emulator endpoint.
Timings here (2 cores): install 37 s from PyPI with no pip cache (21 s warm; 770 MB), 1.6-3 s
when already installed; start 1.5-2.2 s; stop ~1.5-2 s (the server's own shutdown).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from google.cloud import bigquery

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "tools" / "bigquery_emulator.sh"
DEFAULT_BASE_DIR = REPO_ROOT / ".bigquery"  # the script's own default when run from the repo
DEFAULT_PROJECT = "support-assets-test"
INSTALL_TIMEOUT_S = 900
START_TIMEOUT_S = 60


class BigQueryEmulatorError(RuntimeError):
    """The emulator could not be installed, started or kept running (message has its log)."""


@dataclasses.dataclass(frozen=True)
class BigQueryEmulator:
    project: str
    endpoint: str  # REST base URL, e.g. http://127.0.0.1:40123
    grpc_endpoint: str  # host:port of its BigQuery Storage API (unused by our code)
    env: dict[str, str]  # BIGQUERY_EMULATOR_HOST, GOOGLE_APPLICATION_CREDENTIALS, NO_GCE_CHECK,
    #                      GOOGLE_CLOUD_PROJECT: what code that builds its own client needs
    log_file: Path

    def client(self, **kwargs: Any) -> bigquery.Client:
        """A google.cloud.bigquery.Client on the emulator with anonymous credentials."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery

        kwargs.setdefault("project", self.project)
        kwargs.setdefault("credentials", AnonymousCredentials())
        kwargs.setdefault("client_options", {"api_endpoint": self.endpoint})
        return bigquery.Client(**kwargs)

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_file, lines)


@contextlib.contextmanager
def running_bigquery_emulator(
    base_dir: str | os.PathLike[str], project: str = DEFAULT_PROJECT
) -> Iterator[BigQueryEmulator]:
    """Installs (idempotent, once per ``base_dir``) and starts an emulator on free ports.

    Yields a :class:`BigQueryEmulator`; stops the server and deletes its data on exit. Raises
    :class:`BigQueryEmulatorError` with the script output and the server log tail when the
    emulator cannot be installed or started, or dies while in use. Never skips.
    """
    base = Path(base_dir).resolve()
    base.mkdir(parents=True, exist_ok=True)
    with open(base / ".install.lock", "w") as lock:  # parallel test workers share one venv
        fcntl.flock(lock, fcntl.LOCK_EX)
        _run_script("install", _script_env(base), INSTALL_TIMEOUT_S)
    state = Path(tempfile.mkdtemp(prefix="state-", dir=base))
    env = _script_env(base, state, project)
    try:
        for attempt in range(3):  # a free port can be taken between our probe and the bind
            port, grpc_port = _free_ports(2)
            env |= {"BQ_PORT": str(port), "BQ_GRPC_PORT": str(grpc_port)}
            try:
                _run_script("start", env, START_TIMEOUT_S + 30)
                break
            except BigQueryEmulatorError as error:
                message = str(error).lower()
                if attempt == 2 or not ("already in use" in message or "bind" in message):
                    raise
        endpoint = f"http://127.0.0.1:{port}"
        emulator = BigQueryEmulator(
            project=project,
            endpoint=endpoint,
            grpc_endpoint=f"127.0.0.1:{grpc_port}",
            env={
                "BIGQUERY_EMULATOR_HOST": endpoint,
                "GOOGLE_APPLICATION_CREDENTIALS": str(base / "fake-credentials.json"),
                "NO_GCE_CHECK": "true",
                "GOOGLE_CLOUD_PROJECT": project,
            },
            log_file=state / "local-bigquery.log",
        )
        try:
            yield emulator
        except Exception as error:
            if not _alive(env):
                raise BigQueryEmulatorError(
                    f"local-bigquery died during the test; log tail:\n{emulator.log_tail()}"
                ) from error
            if type(error).__module__.startswith("google."):  # API errors: show the server side
                error.add_note(f"local-bigquery log tail:\n{emulator.log_tail(20)}")
            raise
        if not _alive(env):
            raise BigQueryEmulatorError(
                f"local-bigquery died during the test; log tail:\n{emulator.log_tail()}"
            )
    finally:
        with contextlib.suppress(BigQueryEmulatorError):
            _run_script("stop", env, 30)
        shutil.rmtree(state, ignore_errors=True)


def _script_env(base: Path, state: Path | None = None, project: str = DEFAULT_PROJECT):
    env = dict(os.environ)  # BQ_PYTHON, PATH, HOME (pyenv) pass through
    env |= {"BQ_BASE": str(base), "BQ_PROJECT": project, "BQ_START_TIMEOUT": str(START_TIMEOUT_S)}
    if state is not None:
        env["BQ_STATE"] = str(state)
    return env


def _run_script(command: str, env: dict[str, str], timeout: float) -> str:
    if not SCRIPT.is_file():
        raise BigQueryEmulatorError(f"{SCRIPT} is missing")
    try:
        done = subprocess.run(
            ["bash", str(SCRIPT), command],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as error:
        log = _tail(Path(env.get("BQ_STATE", "")) / "local-bigquery.log")
        raise BigQueryEmulatorError(
            f"`{SCRIPT.name} {command}` timed out after {timeout:.0f}s\n"
            f"{error.stdout or ''}{error.stderr or ''}\nlog tail:\n{log}"
        ) from error
    if done.returncode != 0:
        raise BigQueryEmulatorError(
            f"`{SCRIPT.name} {command}` failed (exit {done.returncode}):\n"
            f"{done.stdout}{done.stderr}"
        )
    return done.stdout


def _alive(env: dict[str, str]) -> bool:
    try:
        _run_script("status", env, 30)
    except BigQueryEmulatorError:
        return False
    return True


def _free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"(no log: {error})"
