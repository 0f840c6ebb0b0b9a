"""Hostile Telegram updates (update_id past int64, a date of 10**12 s, a lone surrogate, deep
nesting, ids past int64): the webhook never answers 500, the poller never fetches the same batch
for ever, landing files stay readable, and the day's partitions are rebuilt."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from pathlib import Path
from typing import Any

import httpx
import pyarrow.compute as pc
from dagster import DagsterInstance
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from support_assets.io_managers.landing import LandingZone, ReadStats
from support_assets.sources.telegram.assets import RAW_UPDATES, STAGING_MESSAGES
from support_assets.sources.telegram.client import TelegramPoller, TelegramResource
from support_assets.sources.telegram.webhook import SECRET_HEADER, build_app
from support_assets_tests.support.loopback import serve_app
from support_assets_tests.support.telegram_helpers import (
    lake_table,
    materialize_landed,
    metadata,
    zone,
)

SECRET = "hostile-tests-secret"
NOW = 1_795_400_000
DEEP = "[" * 100_000 + "]" * 100_000


def message(update_id: int, **fields: Any) -> dict[str, Any]:
    body = {
        "message_id": 1,
        "chat": {"id": 42, "type": "private"},
        "from": {"id": 42, "is_bot": False},
        "date": NOW,
        "text": "oi",
    }
    return {"update_id": update_id, "message": {**body, **fields}}


#: JSON texts as Telegram (or someone with the secret) could send them.
HOSTILE = {
    "update_id past int64": json.dumps(message(2**64)),
    "a date of 10**12 s": json.dumps(message(900_000_002, date=10**12)),
    "a lone surrogate": json.dumps(message(900_000_003, text="oi \ud800 tchau")),
    "a chat id past int64": json.dumps(message(900_000_005, chat={"id": 2**70, "type": "group"})),
    "nested 100000 deep": '{"update_id": 900000004, "message": ' + DEEP + "}",
    "a plain update": json.dumps(message(900_000_006)),
}


def quarantined_bodies(landing: LandingZone) -> list[str]:
    folder = Path(landing.base, "_quarantine")
    lines = [ln for f in sorted(folder.rglob("*.jsonl")) for ln in f.read_text().splitlines()]
    return [json.loads(line)["body"] for line in lines]


def assert_day_rebuilds(instance: DagsterInstance, env: dict[str, str], landing: LandingZone):
    stats = ReadStats()
    for day in landing.days():
        list(landing.read(day, stats))
    assert stats.invalid_lines == 0 and stats.incomplete_tails == 0
    results = materialize_landed(instance)
    [raw_meta] = metadata(results, RAW_UPDATES)
    assert raw_meta["quarantined_updates"] == 1  # 2**64 cannot be an int64
    staging = lake_table(env, STAGING_MESSAGES)
    rows = {r["update_id"]: r for r in staging.to_pylist()}
    assert set(rows) == {900_000_002, 900_000_003, 900_000_005, 900_000_006}
    assert rows[900_000_002]["sent_at"] is None
    assert rows[900_000_003]["text"] == "oi \ufffd tchau"
    assert rows[900_000_005]["chat_id"] is None
    raw = lake_table(env, RAW_UPDATES)
    surrogate = raw.filter(pc.equal(raw["update_id"], 900_000_003))["update_json"][0].as_py()
    assert json.loads(surrogate)["message"]["text"] == "oi \ud800 tchau"  # kept exactly


def test_the_webhook_lands_or_quarantines_hostile_updates_and_the_day_rebuilds(
    platform_env: dict[str, str], instance: DagsterInstance
) -> None:
    landing = zone()
    with serve_app(build_app(landing, SECRET)) as url, httpx.Client(base_url=url) as client:
        for name, body in HOSTILE.items():
            response = client.post(
                "/telegram/webhook",
                content=body.encode(),
                headers={SECRET_HEADER: SECRET, "Content-Type": "application/json"},
            )
            assert response.status_code == 200, (name, response.status_code)
    assert quarantined_bodies(landing) == [HOSTILE["nested 100000 deep"]]
    assert_day_rebuilds(instance, platform_env, landing)


class HostileTelegram:
    """getUpdates answers every hostile update once, as one raw JSON text, until confirmed."""

    def __init__(self) -> None:
        self.offsets: list[int | None] = []
        self.lock = threading.Lock()
        ids = [int(re.search(r'"update_id": (\d+)', t).group(1)) for t in HOSTILE.values()]
        self.pending = dict(sorted(zip(ids, HOSTILE.values(), strict=True)))

    async def method(self, request: Request) -> Response:
        name = request.path_params["method"]
        params = await request.json()
        if name == "getWebhookInfo":
            return JSONResponse({"ok": True, "result": {"url": ""}})
        offset = params.get("offset")
        with self.lock:
            self.offsets.append(offset)
            if offset is not None:
                self.pending = {k: v for k, v in self.pending.items() if k >= offset}
            texts = list(self.pending.values())[: params.get("limit", 100)]
        body = '{"ok": true, "result": [' + ", ".join(texts) + "]}"
        return Response(body, media_type="application/json")

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/bot{token}/{method}", self.method, methods=["POST"])])


def test_the_poller_lands_hostile_updates_and_moves_on(
    platform_env: dict[str, str], instance: DagsterInstance
) -> None:
    server = HostileTelegram()
    landing = zone()
    with serve_app(server.app()) as url:
        telegram = TelegramResource(base_url=url, bot_token="123:hostile", poll_timeout_seconds=0)
        done = threading.Event()
        stats_box: list[Any] = []

        def run() -> None:
            stats_box.append(TelegramPoller(telegram, landing).run(until_empty=True))
            done.set()

        threading.Thread(target=run, daemon=True).start()
        assert done.wait(60), f"the poller is still fetching: offsets {server.offsets[-5:]}"
    assert len(server.offsets) < 20, server.offsets
    assert server.pending == {}  # everything confirmed
    # Only the answer holding the deep update is kept whole; the rest landed as records.
    bodies = quarantined_bodies(landing)
    assert len(bodies) == 1 and DEEP in bodies[0] and "900000004" in bodies[0]
    assert landing.days() == [dt.datetime.now(dt.UTC).date()]
    assert_day_rebuilds(instance, platform_env, landing)
