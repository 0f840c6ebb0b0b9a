"""The Telegram resource: token never in logs or errors, 429 waits from the body, settings."""

from __future__ import annotations

import io
import logging

import httpx
import pytest
from dagster import EnvVar
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from support_assets.core.http_errors import RetryableHttpError
from support_assets.core.sandbox_defaults import SANDBOX_TELEGRAM_BOT_TOKEN
from support_assets.sandbox.server import SandboxConfig, SandboxServer
from support_assets.sandbox.telegram.world import ALL_UPDATE_KINDS
from support_assets.sources.telegram.client import (
    BOT_API_UPDATE_KINDS,
    TelegramApiError,
    TelegramResource,
)
from support_assets.sources.telegram.resources import telegram_resource
from support_assets_tests.support.loopback import serve_app
from support_assets_tests.support.sandbox import module_sandbox

TOKEN = "987654321:AAFsecret-Part_of-the-token-XYZ"


sandbox = module_sandbox(
    SandboxConfig(seed=2, octadesk_tickets=1, octadesk_chats=1, telegram_updates=5)
)


def captured(resource: TelegramResource) -> io.StringIO:
    """Everything the resource's HTTP client logs."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    client = resource.get_client()
    client.log.addHandler(handler)
    client.log.setLevel(logging.DEBUG)
    return stream


def test_the_token_never_reaches_logs_or_errors(sandbox: SandboxServer) -> None:
    """A wrong token (401) and retried 5xx answers: the messages name the method, not the token."""
    wrong = TelegramResource(base_url=f"{sandbox.url}/telegram", bot_token=TOKEN, max_attempts=2)
    logs = captured(wrong)
    with pytest.raises(TelegramApiError) as refused:
        wrong.get_me()
    assert refused.value.error_code == 401
    httpx.put(f"{sandbox.url}/_admin/faults", json={"error_every": 1, "max_faults": 2})
    try:
        right = TelegramResource(
            base_url=f"{sandbox.url}/telegram",
            bot_token=SANDBOX_TELEGRAM_BOT_TOKEN,
            backoff_initial_seconds=0.01,
        )
        right_logs = captured(right)
        assert right.get_me()["is_bot"] is True
    finally:
        httpx.delete(f"{sandbox.url}/_admin/faults")
    text = f"{refused.value} {refused.value.body} {logs.getvalue()} {right_logs.getvalue()}"
    assert "getMe" in text and "retry" in text  # the lines were written...
    for secret in (TOKEN, TOKEN.split(":")[1], SANDBOX_TELEGRAM_BOT_TOKEN):
        assert secret not in text  # ...without the token or its secret half
        assert secret.split(":")[-1] not in text
    wrong.close()
    right.close()


def test_a_429_waits_for_parameters_retry_after() -> None:
    calls: list[int] = []

    async def method(request: Request) -> JSONResponse:
        calls.append(1)
        if len(calls) <= 2:  # the first two calls are refused
            body = {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 2",
                "parameters": {"retry_after": 2},
            }
            return JSONResponse(body, status_code=429)
        return JSONResponse({"ok": True, "result": {"url": ""}})

    app = Starlette(routes=[Route("/bot{token}/{method}", method, methods=["POST"])])
    with serve_app(app) as url:
        resource = TelegramResource(base_url=url, bot_token=TOKEN, retry_after_cap_seconds=0.01)
        client = resource.get_client()
        with pytest.raises(RetryableHttpError) as limited:
            client._send_once("POST", client.url(f"./bot{TOKEN}/getWebhookInfo"), json={})
        assert limited.value.retry_after == 2.0  # read from the body, no Retry-After header
        assert resource.get_webhook_info() == {"url": ""}  # waits (capped here) and retries
        assert client.stats.rate_limited == 2 and client.stats.retries == 1
        resource.close()


def test_every_update_kind_is_asked_for_by_default() -> None:
    assert set(BOT_API_UPDATE_KINDS) == set(ALL_UPDATE_KINDS)
    resource = TelegramResource(base_url="http://127.0.0.1:9", bot_token=TOKEN)
    assert {"chat_member", "message_reaction"} <= set(resource.allowed_updates)


def test_settings_choose_the_sandbox_or_telegram() -> None:
    sandbox = telegram_resource({"SUPPORT_SANDBOX_URL": "http://127.0.0.1:1234"})
    assert sandbox.base_url == "http://127.0.0.1:1234/telegram"
    assert sandbox.bot_token == SANDBOX_TELEGRAM_BOT_TOKEN
    real = telegram_resource({"TELEGRAM_BOT_TOKEN": TOKEN})
    assert real.base_url == "https://api.telegram.org"
    assert real.bot_token == EnvVar("TELEGRAM_BOT_TOKEN")  # run storage keeps only the name
    local = telegram_resource({"TELEGRAM_API_BASE_URL": "http://bot-api.internal:8081"})
    assert local.base_url == "http://bot-api.internal:8081"
    assert local.bot_token == EnvVar("TELEGRAM_BOT_TOKEN")  # never the sandbox token
