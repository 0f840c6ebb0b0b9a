"""The sandbox follows the clock: its generated data ends at the current time, whatever the date,
and the same seed at the same instant gives the same world."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from support_assets.sandbox.base import CLOCK_ENV, SandboxConfig, parse_instant_ms
from support_assets.sandbox.server import SandboxServer

SAO_PAULO = ZoneInfo("America/Sao_Paulo")


def _instant(text: str) -> datetime:
    return datetime.fromtimestamp(parse_instant_ms(text) / 1000, tz=UTC)


def _milvus_time(text: str) -> datetime:
    """Milvus writes São Paulo wall time without an offset."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SAO_PAULO)


def _truths(now: datetime, monkeypatch: pytest.MonkeyPatch) -> tuple[str, dict[str, Any]]:
    """The anchor and the ground truth of a sandbox started while the clock reads ``now``."""
    monkeypatch.setenv(CLOCK_ENV, now.isoformat())
    config = SandboxConfig(seed=3, octadesk_tickets=80, octadesk_chats=30)
    with SandboxServer(config) as server:
        truths = {
            name: httpx.get(f"{server.url}/_admin/{name}/truth", timeout=30).json()
            for name in ("octadesk", "helpdesk_web", "milvus", "ploomes", "telegram")
        }
    return config.anchor, truths


def _record_times(truths: dict[str, Any]) -> dict[str, list[datetime]]:
    octadesk = truths["octadesk"]
    return {
        "octadesk tickets": [_instant(t["updatedAt"]) for t in octadesk["tickets"]],
        "octadesk chats": [_instant(c["updatedAt"]) for c in octadesk["chats"]],
        "helpdesk_web tickets": [
            _instant(t["updated_at"] or t["created_at"]) for t in truths["helpdesk_web"]["tickets"]
        ],
        "milvus tickets": [_milvus_time(t["data_criacao"]) for t in truths["milvus"]["tickets"]],
        "ploomes contacts": [
            _instant(c["LastUpdateDate"]) for c in truths["ploomes"]["contacts"] if c.get("Id")
        ],
        "telegram updates": [
            datetime.fromtimestamp(date, tz=UTC)
            for u in truths["telegram"]["updates"]
            for date in _dates(u["update"])
        ],
    }


def _dates(update: dict[str, Any]) -> list[int]:
    """The ``date`` of the update's message-like payloads (callback queries have none)."""
    dates = [v["date"] for v in update.values() if isinstance(v, dict) and "date" in v]
    dates += [
        v["message"]["date"]
        for v in update.values()
        if isinstance(v, dict) and isinstance(v.get("message"), dict)
    ]
    return dates


def test_data_ends_at_the_then_current_time_a_month_apart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = datetime(2027, 3, 14, 15, 9, 26, tzinfo=UTC)
    for now in (first, first + timedelta(days=31)):
        anchor, truths = _truths(now, monkeypatch)
        assert _instant(anchor) == now
        for source, times in _record_times(truths).items():
            assert times, source
            newest, oldest = max(times), min(times)
            # Every record is in the past, the newest of each source recent (the sparse CRM
            # within weeks), and nothing reaches back further than the sandbox's history.
            assert newest <= now, (source, newest, now)
            recent = timedelta(days=60 if source.startswith(("milvus", "ploomes")) else 7)
            assert newest >= now - recent, (source, newest, now)
            assert oldest >= now - timedelta(days=1001), (source, oldest, now)
        assert truths["octadesk"]["clock"] == now.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_same_seed_and_clock_same_world_and_the_default_is_now(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = datetime(2027, 6, 1, 8, 0, tzinfo=UTC)
    (anchor_a, a), (anchor_b, b) = _truths(now, monkeypatch), _truths(now, monkeypatch)
    assert anchor_a == anchor_b
    for name in ("octadesk", "helpdesk_web", "milvus", "ploomes"):
        assert a[name] == b[name] or name == "helpdesk_web" and _tickets(a) == _tickets(b), name

    monkeypatch.delenv(CLOCK_ENV)
    before = datetime.now(UTC).replace(microsecond=0)
    anchor = _instant(SandboxConfig().anchor)
    assert before <= anchor <= datetime.now(UTC)


def _tickets(truth: dict[str, Any]) -> Any:
    """The web helpdesk's records (its truth also reports the wall-clock auth clock)."""
    return truth["helpdesk_web"]["tickets"]
