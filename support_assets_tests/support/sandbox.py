"""The sandbox fixtures every test module shares.

The suite's default ``sandbox`` (a fresh one per test, ``sandbox_config`` overridable) and
``admin`` live in ``support_assets_tests/conftest.py``. A module whose tests share one sandbox
declares it in one line: ``sandbox = module_sandbox(CONFIG)``; one whose tests each want the
world, sheet, faults and stats reset adds ``admin = resetting_admin()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from support_assets.sandbox.server import SandboxConfig, SandboxServer


def module_sandbox(config: SandboxConfig) -> Callable[..., Any]:
    """A module-scoped ``sandbox`` fixture serving ``config`` over real HTTP on loopback."""

    @pytest.fixture(scope="module", name="sandbox")
    def _sandbox() -> Iterator[SandboxServer]:
        with SandboxServer(config) as server:
            yield server

    return _sandbox


def resetting_admin(timeout: float = 10) -> Callable[..., Any]:
    """An ``admin`` fixture (the sandbox's admin API) that resets the sandbox before each test."""

    @pytest.fixture(name="admin")
    def _admin(sandbox: SandboxServer) -> Iterator[httpx.Client]:
        with httpx.Client(base_url=f"{sandbox.url}/_admin", timeout=timeout) as client:
            client.post("/reset", json={}).raise_for_status()
            yield client

    return _admin
