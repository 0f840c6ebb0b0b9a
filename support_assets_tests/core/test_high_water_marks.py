"""High-water marks never pass the current time: one record dated in the future must not stop
incremental reads (a Ploomes-shaped OData server on loopback that applies its filter)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from support_assets.sources.crm.extraction import PloomesExtraction
from support_assets.sources.crm.extraction import task_row as _task_row
from support_assets.sources.crm.ploomes import PloomesResource
from support_assets_tests.support.loopback import serve_app


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Tasks:
    """Tasks whose listing honours ``LastUpdateDate ge <instant>``, as Ploomes does."""

    def __init__(self) -> None:
        self.tasks: list[dict] = []

    def add(self, task_id: int, updated: datetime) -> None:
        self.tasks.append(
            {"Id": task_id, "CreateDate": iso(updated), "LastUpdateDate": iso(updated)}
        )

    async def list(self, request: Request) -> Response:
        found = self.tasks
        condition = request.query_params.get("$filter", "")
        if condition.startswith("LastUpdateDate ge "):
            since = datetime.fromisoformat(condition.removeprefix("LastUpdateDate ge "))
            found = [t for t in found if datetime.fromisoformat(t["LastUpdateDate"]) >= since]
        return JSONResponse({"value": found})


def read(ploomes: PloomesResource, previous: datetime | None) -> tuple[list[int], datetime]:
    since = None if previous is None else previous - timedelta(minutes=10)
    extraction = PloomesExtraction(ploomes, "Tasks", _task_row, since, previous)
    ids = [int(i) for frame in extraction.frames() for i in frame["id"]]
    return ids, datetime.fromisoformat(extraction.metadata()["high_water_mark"])


def test_a_record_dated_in_the_future_does_not_stop_incremental_reads(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = datetime.now(UTC)
    tasks = Tasks()
    tasks.add(1, now - timedelta(days=1))
    tasks.add(2, now + timedelta(days=365 * 70))  # someone's typo, or a broken clock
    app = Starlette(routes=[Route("/Tasks", tasks.list)])
    with serve_app(app) as url:
        ploomes = PloomesResource(
            base_url=url, user_key="test-user-key", rate_limit_per_second=None
        )
        with caplog.at_level(logging.WARNING):
            ids, mark = read(ploomes, None)
        assert sorted(ids) == [1, 2]
        assert mark <= datetime.now(UTC)
        assert any("in the future" in r.getMessage() for r in caplog.records)

        tasks.add(3, datetime.now(UTC))  # changed after the first run
        ids, _ = read(ploomes, mark)
    assert 3 in ids


def test_the_cap_keeps_marks_in_the_past_and_small_clock_skew() -> None:
    from support_assets.core.records import cap_high_water_mark

    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    assert cap_high_water_mark(None, "x", now) is None
    assert cap_high_water_mark(now - timedelta(hours=1), "x", now) == now - timedelta(hours=1)
    assert cap_high_water_mark(now + timedelta(minutes=1), "x", now) == now + timedelta(minutes=1)
    assert cap_high_water_mark(now + timedelta(days=1), "x", now) == now
