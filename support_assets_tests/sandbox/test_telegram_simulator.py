"""The Telegram Bot API simulator over real HTTP: getUpdates, webhooks, the update generator."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from support_assets.core.sandbox_defaults import SANDBOX_TELEGRAM_BOT_TOKEN
from support_assets.sandbox.server import SandboxServer
from support_assets.sandbox.telegram.world import ALL_UPDATE_KINDS, update_kind
from support_assets.sandbox.telegram_data import GENERATED_KINDS, SCENARIOS, utf16_len
from support_assets.sources.telegram.client import BOT_API_UPDATE_KINDS
from support_assets_tests.support.loopback import serve_app

DEFAULT_EXCLUDED = {"chat_member", "message_reaction", "message_reaction_count"}


@pytest.fixture
def bot(sandbox: SandboxServer, admin: httpx.Client) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{sandbox.url}/telegram/bot{SANDBOX_TELEGRAM_BOT_TOKEN}", timeout=30
    ) as client:
        yield client


def ok(response: httpx.Response) -> Any:
    body = response.json()
    assert response.status_code == 200 and body["ok"] is True, body
    return body["result"]


def truth(admin: httpx.Client) -> dict[str, Any]:
    return admin.get("/telegram/truth").json()


def wait_idle(admin: httpx.Client, seconds: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        status = admin.get("/telegram/delivery").json()
        if status["idle"]:
            return status
        assert time.monotonic() < deadline, f"deliveries did not finish: {status}"
        time.sleep(0.05)


def undated(value: Any) -> Any:
    """``value`` without its wall-clock fields (``date``, ``edit_date``)."""
    if isinstance(value, dict):
        return {k: undated(v) for k, v in value.items() if k not in ("date", "edit_date")}
    if isinstance(value, list):
        return [undated(v) for v in value]
    return value


def test_auth_unknown_methods_and_the_envelope(sandbox: SandboxServer, bot: httpx.Client) -> None:
    wrong = httpx.get(f"{sandbox.url}/telegram/bot123:wrong/getMe")
    assert wrong.status_code == 401
    assert wrong.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    assert ok(bot.get("/getMe"))["username"] == "aurora_atendimento_bot"
    assert ok(bot.post("/GETME"))["is_bot"] is True  # method names are case-insensitive
    missing = bot.get("/sendRocket")
    assert missing.status_code == 404 and missing.json()["ok"] is False


def test_get_updates_offsets_confirm_and_limit_bounds(
    bot: httpx.Client, admin: httpx.Client
) -> None:
    every_kind = json.dumps(list(BOT_API_UPDATE_KINDS))
    world = [u["update_id"] for u in truth(admin)["updates"]]
    assert world == sorted(world) and len(world) == 120

    first = ok(bot.get("/getUpdates", params={"limit": 10, "allowed_updates": every_kind}))
    assert [u["update_id"] for u in first] == world[:10]
    again = ok(bot.get("/getUpdates", params={"limit": 10}))  # nothing confirmed yet
    assert again == first
    after = ok(bot.post("/getUpdates", json={"offset": world[10], "limit": 5}))
    assert [u["update_id"] for u in after] == world[10:15]
    assert truth(admin)["pending"] == world[10:]  # the offset confirmed the first ten
    assert len(ok(bot.get("/getUpdates", params={"limit": 500}))) == 100  # capped at 100

    last_two = ok(bot.post("/getUpdates", data={"offset": "-2"}))  # form-encoded
    assert [u["update_id"] for u in last_two] == world[-2:]
    assert truth(admin)["pending"] == world[-2:]
    assert ok(bot.get("/getUpdates", params={"offset": world[-1] + 1})) == []
    assert truth(admin)["pending"] == []


def test_default_allowed_updates_leave_out_chat_member_and_reactions(
    bot: httpx.Client, admin: httpx.Client
) -> None:
    world = truth(admin)["updates"]
    default = ok(bot.get("/getUpdates", params={"limit": 100, "allowed_updates": "[]"}))
    kinds = {update_kind(u) for u in default}
    assert not kinds & DEFAULT_EXCLUDED
    admin.post("/reset", json={})
    everything: list[dict] = []
    offset = None
    params = {"limit": 100, "allowed_updates": json.dumps(list(BOT_API_UPDATE_KINDS))}
    while batch := ok(bot.get("/getUpdates", params={**params, "offset": offset or ""})):
        everything += batch
        offset = batch[-1]["update_id"] + 1
    assert [u["update_id"] for u in everything] == [u["update_id"] for u in world]
    assert {"chat_member", "message_reaction"} <= {update_kind(u) for u in everything}


def test_long_polling_waits_for_an_update_and_a_newer_poll_ends_an_older_one(
    bot: httpx.Client, admin: httpx.Client
) -> None:
    world = truth(admin)["updates"]
    ok(bot.get("/getUpdates", params={"offset": world[-1]["update_id"] + 1}))
    assert ok(bot.get("/getUpdates", params={"timeout": 1})) == []

    results: dict[str, httpx.Response] = {}

    def poll(name: str, timeout: int) -> None:
        results[name] = bot.get("/getUpdates", params={"timeout": timeout})

    older = threading.Thread(target=poll, args=("older", 20))
    older.start()
    while admin.get("/telegram/delivery").json()["polls_waiting"] < 1:
        time.sleep(0.01)
    newer = threading.Thread(target=poll, args=("newer", 20))
    newer.start()
    older.join()
    while admin.get("/telegram/delivery").json()["polls_waiting"] < 1:
        time.sleep(0.01)
    assert results["older"].status_code == 409
    assert "terminated by other getUpdates" in results["older"].json()["description"]
    [new_id] = admin.post("/telegram/generate", json={"count": 1}).json()["update_ids"]
    newer.join()
    assert [u["update_id"] for u in ok(results["newer"])] == [new_id]


def test_webhook_settings_are_validated_and_block_get_updates(
    bot: httpx.Client, admin: httpx.Client
) -> None:
    bad = [
        {"url": "http://127.0.0.1:9/hook", "secret_token": "has spaces"},
        {"url": "http://bot.example.com/hook", "secret_token": "ok"},
        {"url": "https://bot.example.com:8080/hook", "secret_token": "ok"},
        {"url": "ftp://127.0.0.1/hook"},
        {"url": "http://127.0.0.1:9/hook", "secret_token": "x" * 257},
    ]
    for params in bad:
        response = bot.post("/setWebhook", json=params)
        assert response.status_code == 400, params
    assert ok(bot.get("/getWebhookInfo"))["url"] == ""

    hook = {"url": "http://127.0.0.1:9/hook", "secret_token": "Ab_9-z", "max_connections": 3}
    assert bot.post("/setWebhook", json=hook).json()["description"] == "Webhook was set"
    assert bot.post("/setWebhook", json=hook).json()["description"] == "Webhook is already set"
    info = ok(bot.get("/getWebhookInfo"))
    assert info["url"] == hook["url"] and info["max_connections"] == 3
    assert info["pending_update_count"] == 120
    blocked = bot.get("/getUpdates")
    assert blocked.status_code == 409
    assert "can't use getUpdates method while webhook is active" in blocked.json()["description"]

    assert ok(bot.post("/deleteWebhook", json={"drop_pending_updates": True})) is True
    assert ok(bot.get("/getWebhookInfo")) == {
        "url": "",
        "has_custom_certificate": False,
        "pending_update_count": 0,
    }
    assert ok(bot.get("/getUpdates")) == []


def test_generated_updates_are_realistic_and_cover_every_kind(admin: httpx.Client) -> None:
    ids = admin.post("/telegram/generate", json={"count": 400}).json()["update_ids"]
    updates = {u["update_id"]: u for u in truth(admin)["updates"]}
    batch = [updates[i] for i in ids]
    assert set(GENERATED_KINDS) == {u["kind"] for u in batch}
    assert set(SCENARIOS) == {u["meta"]["scenario"] for u in batch}
    assert {"private", "group", "supergroup", "channel"} <= {u["meta"]["chat_type"] for u in batch}
    texts = [
        obj.get("text") or obj.get("caption") or ""
        for u in batch
        for obj in [u["update"][u["kind"]]]
        if isinstance(obj, dict)
    ]
    joined = " ".join(texts)
    assert any(c in joined for c in "ãçéêóú"), "no Portuguese accents"
    assert any(ord(c) > 0x1F000 for c in joined), "no emoji"

    entity_types: Counter[str] = Counter()
    groups: dict[str, int] = Counter()
    for item in batch:
        obj = item["update"][item["kind"]]
        text = obj.get("text") if isinstance(obj, dict) else None
        for entity in (obj.get("entities") or []) if isinstance(obj, dict) else []:
            entity_types[entity["type"]] += 1
            end = entity["offset"] + entity["length"]
            assert end <= utf16_len(text)
            covered = text.encode("utf-16-le")[2 * entity["offset"] : 2 * end].decode("utf-16-le")
            if entity["type"] == "url":
                assert covered.startswith("https://")
            if entity["type"] in ("bot_command", "hashtag"):
                assert covered[0] in "/#" and " " not in covered
        if item["meta"]["scenario"] == "reply":
            assert "reply_to_message" not in obj["reply_to_message"]
        if item["meta"]["scenario"] == "media_group":
            groups[obj["media_group_id"]] += 1
    assert {"bot_command", "url", "hashtag", "email", "phone_number", "mention", "bold"} <= set(
        entity_types
    )
    assert groups and all(2 <= n <= 4 for n in list(groups.values())[:-1])
    assert any(u["meta"]["handoff"] for u in batch) and any(u["meta"]["question"] for u in batch)

    admin.post("/reset", json={})
    again = admin.post("/telegram/generate", json={"count": 400}).json()["update_ids"]
    regenerated = {u["update_id"]: u for u in truth(admin)["updates"]}
    assert again == ids  # same seed, same world (only the wall-clock dates differ)
    assert [undated(regenerated[i]["update"]) for i in again] == [
        undated(updates[i]["update"]) for i in ids
    ]


def test_webhook_pushes_concurrently_retries_failures_and_redelivers_a_share(
    sandbox: SandboxServer, admin: httpx.Client, bot: httpx.Client
) -> None:
    """Every update reaches the webhook with the secret header; a failed delivery is retried;
    the configured share of updates arrives twice."""
    admin.post("/reset", json={"telegram_updates": 200, "telegram_redelivery_percent": 10})
    received: list[int] = []
    headers: set[str | None] = set()
    in_flight = {"now": 0, "max": 0}
    refused_once: set[int] = set()
    lock = threading.Lock()

    async def hook(request: Request) -> Response:
        update = json.loads(await request.body())
        with lock:
            in_flight["now"] += 1
            in_flight["max"] = max(in_flight["max"], in_flight["now"])
        try:
            import asyncio

            await asyncio.sleep(0.005)
            headers.add(request.headers.get("X-Telegram-Bot-Api-Secret-Token"))
            if update["update_id"] % 17 == 0 and update["update_id"] not in refused_once:
                refused_once.add(update["update_id"])
                return Response(status_code=502)
            received.append(update["update_id"])
            return Response(status_code=200)
        finally:
            with lock:
                in_flight["now"] -= 1

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    with serve_app(app) as url:
        ok(
            bot.post(
                "/setWebhook",
                json={
                    "url": f"{url}/hook",
                    "secret_token": "hook_secret",
                    "max_connections": 8,
                    "allowed_updates": list(ALL_UPDATE_KINDS),
                },
            )
        )
        status = wait_idle(admin)
    world = [u["update_id"] for u in truth(admin)["updates"]]
    counts = Counter(received)
    assert set(counts) == set(world)
    twice = [i for i, n in counts.items() if n == 2]
    assert status["delivered"] == 200 and status["redelivered"] == len(twice)
    assert 5 <= len(twice) <= 40 and max(counts.values()) == 2
    assert refused_once and status["failed_attempts"] >= len(refused_once)
    assert headers == {"hook_secret"}
    assert in_flight["max"] > 1, "deliveries were not concurrent"
    assert ok(bot.get("/getWebhookInfo"))["pending_update_count"] == 0
