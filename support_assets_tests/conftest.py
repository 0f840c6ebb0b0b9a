"""Fixtures shared by the suite: a sandbox over real HTTP, a private Dagster instance, and the
environment that points the platform at both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from dagster import DagsterInstance, instance_for_test

from support_assets.core.sandbox_defaults import (
    SANDBOX_OCTADESK_API_KEY,
    SANDBOX_TELEGRAM_BOT_TOKEN,
    SANDBOX_TELEGRAM_WEBHOOK_SECRET,
)
from support_assets.sandbox.server import SandboxConfig, SandboxServer
from support_assets_tests.support.bigquery_backend import (  # noqa: F401 - fixtures
    bigquery_emulator,
    bigquery_emulator_session,
)


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(seed=11, octadesk_tickets=240, octadesk_chats=120)


@pytest.fixture
def sandbox(sandbox_config: SandboxConfig) -> Iterator[SandboxServer]:
    with SandboxServer(sandbox_config) as server:
        yield server


@pytest.fixture
def admin(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    """A client for the sandbox's admin API."""
    with httpx.Client(base_url=f"{sandbox.url}/_admin", timeout=30) as client:
        yield client


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as dagster_instance:
        yield dagster_instance


@pytest.fixture(scope="session")
def postgres():
    """A private PostgreSQL server for the session (support_assets_tests/support/postgres_server.py,
    run by tools/postgres.sh): a free port on loopback, password auth, stopped and deleted at the
    end. Fails, never skips, without one."""
    from support_assets_tests.support.postgres_server import running_postgres

    with running_postgres() as server:
        yield server


@pytest.fixture(scope="session")
def activemq():
    """A real ActiveMQ broker for the session (support_assets_tests/support/activemq_broker.py):
    free ports, private data under .activemq/, stopped at the end. Fails, never skips, without
    one."""
    from support_assets_tests.support.activemq_broker import running_activemq

    with running_activemq() as broker:
        yield broker


@pytest.fixture
def platform_env(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Settings that point every resource at the sandbox and every store at ``tmp_path``."""
    env = {
        # Sources whose own URL settings are unset (the web helpdesk, its OTP sheet) default to
        # this sandbox, as a deployment with nothing set defaults to the demo's.
        "SUPPORT_SANDBOX_URL": sandbox.url,
        "SUPPORT_DATA_DIR": str(tmp_path / "data"),
        "SUPPORT_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
        "SUPPORT_LAKE_URL": str(tmp_path / "lake"),
        "OCTADESK_BASE_URL": f"{sandbox.url}/octadesk",
        "OCTADESK_API_KEY": SANDBOX_OCTADESK_API_KEY,
        "OCTADESK_AGENT_EMAIL": "analista@empresa.com.br",
        "OCTADESK_TIMEOUT_SECONDS": "5",
        "OCTADESK_RATE_LIMIT_PER_SECOND": "500",
        "TELEGRAM_API_BASE_URL": f"{sandbox.url}/telegram",
        "TELEGRAM_BOT_TOKEN": SANDBOX_TELEGRAM_BOT_TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": SANDBOX_TELEGRAM_WEBHOOK_SECRET,
        "TELEGRAM_POLL_TIMEOUT_SECONDS": "1",
        # Source URLs are set, so the deployment counts as real and needs its own key.
        "SUPPORT_PSEUDONYM_KEY": "test-pseudonym-key-0b7e",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env
