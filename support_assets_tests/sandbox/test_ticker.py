"""The sandbox's world on a timer (``--tick-seconds``): off by default, and when on, records change
and appear at the current time on every tick."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from support_assets.sandbox.base import CLOCK_ENV, SandboxConfig, parse_instant_ms
from support_assets.sandbox.server import SandboxServer
from support_assets.sandbox.ticker import LAG_MS, OCTADESK_TICK

CONFIG = {"seed": 5, "octadesk_tickets": 40, "octadesk_chats": 10}


def _octadesk(server: SandboxServer) -> dict:
    return httpx.get(f"{server.url}/_admin/octadesk/truth", timeout=10).json()


def _ploomes_contacts(server: SandboxServer) -> int:
    return len(httpx.get(f"{server.url}/_admin/ploomes/truth", timeout=10).json()["contacts"])


def test_the_world_stands_still_without_ticks() -> None:
    with SandboxServer(SandboxConfig(**CONFIG)) as server:
        before = _octadesk(server)
        time.sleep(1.0)
        assert _octadesk(server) == before


def test_each_tick_changes_and_creates_records_at_the_current_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The anchor a day ago: what the ticks write must carry today's time, not the anchor's.
    now = datetime.now(UTC).replace(microsecond=0)
    monkeypatch.setenv(CLOCK_ENV, (now - timedelta(days=1)).isoformat())
    config = SandboxConfig(**CONFIG)
    monkeypatch.delenv(CLOCK_ENV)
    with SandboxServer(config, tick_seconds=0.3) as server:
        contacts = _ploomes_contacts(server)
        deadline = time.monotonic() + 30
        while len(_octadesk(server)["tickets"]) < 40 + 2 * OCTADESK_TICK["create"]:
            assert time.monotonic() < deadline, "the sandbox never ticked twice"
            time.sleep(0.1)
        truth = _octadesk(server)
        assert _ploomes_contacts(server) > contacts
    newest = max(parse_instant_ms(t["updatedAt"]) for t in truth["tickets"])
    since = now.timestamp() * 1000 - LAG_MS
    changed = [t for t in truth["tickets"] if parse_instant_ms(t["updatedAt"]) >= since]
    # The records the ticks wrote carry the current time (a minute's lag), not the anchor's.
    assert newest >= since
    assert len(changed) >= 2 * OCTADESK_TICK["create"] + OCTADESK_TICK["update"]
