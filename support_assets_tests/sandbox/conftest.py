"""Fixtures: one small sandbox on loopback per module, reset before every test."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from support_assets.core.sandbox_defaults import SANDBOX_OCTADESK_API_KEY
from support_assets.sandbox.server import SandboxConfig, SandboxServer
from support_assets_tests.support.sandbox import module_sandbox, resetting_admin

SMALL = SandboxConfig(seed=7, octadesk_tickets=60, octadesk_chats=30)
AUTH = {"X-API-KEY": SANDBOX_OCTADESK_API_KEY, "octa-agent-email": "robo@empresa.com.br"}


def octadesk_client(server: SandboxServer, **kwargs: object) -> httpx.Client:
    """An httpx client authenticated against the simulated Octadesk."""
    return httpx.Client(base_url=f"{server.url}/octadesk", headers=AUTH, timeout=10, **kwargs)


sandbox = module_sandbox(SMALL)


admin = resetting_admin()


@pytest.fixture
def octa(sandbox: SandboxServer, admin: httpx.Client) -> Iterator[httpx.Client]:
    with octadesk_client(sandbox) as client:
        yield client


def walk(client: httpx.Client, path: str, **params: object) -> list[dict]:
    """Every record of a listing, following X-Next-Page."""
    records: list[dict] = []
    page = 1
    while True:
        response = client.get(path, params={**params, "page": page})
        response.raise_for_status()
        records.extend(response.json())
        next_page = response.headers.get("X-Next-Page")
        if next_page is None:
            return records
        page = int(next_page)
