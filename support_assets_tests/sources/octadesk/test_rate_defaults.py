"""Octadesk with the platform's defaults (no rate setting) over real HTTP: polite on a strict
tenant, unthrottled on a generous one.

The client starts at its ceiling (OCTADESK_RATE_LIMIT_PER_SECOND's default) with its default
pages in flight; a sandbox enforcing 10 requests a second answers 429 to what goes over, and the
client's adaptive rate must settle under the limit after a handful of them.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from dagster import DagsterInstance

from support_assets.core.settings import setting
from support_assets.sandbox.server import SandboxConfig
from support_assets.sources.octadesk.assets import RAW_TICKETS
from support_assets_tests.sources.octadesk.test_assets import (
    materialization_metadata,
    run_octadesk,
    table,
    truth,
)

TICKETS = 3000
STRICT_LIMIT = 10
#: At most this many 429s in a whole run against a tenant allowing 10 requests a second: the
#: one time the client meets the limit, the requests already on their way (at most the default
#: 8 pages in flight) are refused too; after that the client stays under the limit.
HANDFUL = 8


@pytest.fixture
def sandbox_config(request: pytest.FixtureRequest) -> SandboxConfig:
    return SandboxConfig(
        seed=5,
        octadesk_tickets=TICKETS,
        octadesk_chats=4,
        octadesk_rate_limit_per_second=getattr(request, "param", 0),
    )


@pytest.fixture
def defaults_env(platform_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The test platform's environment without any Octadesk rate or concurrency setting."""
    for name in ("OCTADESK_RATE_LIMIT_PER_SECOND", "OCTADESK_MAX_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    return platform_env


def full_ingest(
    env: dict[str, str], instance: DagsterInstance, admin: httpx.Client
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Runs octadesk_job, checks every ticket landed; the raw tickets' metadata and the
    sandbox's rate limit record."""
    result = run_octadesk(instance)
    assert result.success
    world = truth(admin)
    raw = table(env, "raw.octadesk_tickets")
    assert len(raw) == raw["id"].nunique() == len(world["tickets"]) == TICKETS
    assert set(raw["id"]) == {t["id"] for t in world["tickets"]}
    limit = admin.get("/octadesk/rate_limit").raise_for_status().json()
    return materialization_metadata(result, RAW_TICKETS), limit


@pytest.mark.parametrize("sandbox_config", [STRICT_LIMIT], indirect=True)
def test_defaults_meet_a_strict_tenant_with_a_handful_of_429s_and_read_everything(
    defaults_env: dict[str, str], instance: DagsterInstance, admin: httpx.Client
) -> None:
    meta, limit = full_ingest(defaults_env, instance, admin)
    assert limit["limit_per_second"] == STRICT_LIMIT
    assert limit["accepted"] > STRICT_LIMIT  # more than one second's worth of requests
    # The client met the limit (it starts far above it) a handful of times ...
    assert 1 <= limit["rate_limited"] <= HANDFUL, limit
    # ... all at once: one request found the limit, the others refused were on their way while
    # its Retry-After ran; after it the client settled under the limit and never met it again.
    assert limit["rate_limited"] - limit["requests_before_retry_after"] == 1, limit
    assert meta["rate_limit_per_second_at_end"] < STRICT_LIMIT
    assert meta["http_requests"]["rate_limited"] >= 1


def test_defaults_are_not_throttled_by_a_generous_tenant(
    defaults_env: dict[str, str], instance: DagsterInstance, admin: httpx.Client
) -> None:
    meta, limit = full_ingest(defaults_env, instance, admin)
    assert limit["limit_per_second"] == 0 and limit["rate_limited"] == 0
    ceiling = setting("OCTADESK_RATE_LIMIT_PER_SECOND", {})
    assert ceiling >= 200 and setting("OCTADESK_MAX_CONCURRENCY", {}) >= 8
    assert meta["rate_limit_per_second_at_end"] == ceiling
    requests = meta["http_requests"]
    assert requests["rate_limited"] == 0 and requests["requests"] >= TICKETS // 100
    # Hardly a request waited for the client's own limit: the ceiling is not the bottleneck.
    assert requests["throttled"] <= max(2, requests["requests"] // 20), requests
