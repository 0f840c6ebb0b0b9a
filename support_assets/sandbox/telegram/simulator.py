"""The simulated Bot API's route (`/bot<token>/<method>`), its webhook deliveries and the
admin endpoints that feed it.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from support_assets.core.sandbox_defaults import SANDBOX_TELEGRAM_BOT_TOKEN
from support_assets.sandbox import telegram_data as data
from support_assets.sandbox.base import SandboxConfig, Simulator, error, json_body, sandbox_now_ms
from support_assets.sandbox.telegram.params import (
    SECRET_TOKEN,
    BotApiError,
    allowed_kinds,
    bool_param,
    check_webhook_url,
    int_param,
    read_params,
)
from support_assets.sandbox.telegram.world import (
    DELIVERY_TIMEOUT_SECONDS,
    IDLE_SECONDS,
    POLL_STEP_SECONDS,
    TelegramWorld,
    Webhook,
)


class TelegramSimulator(Simulator):
    """The Bot API of one bot, plus the admin API that feeds it and reports its truth."""

    name = "telegram"
    prefix = "/telegram"

    def routes(self) -> list[Route]:
        return [Route("/bot{token}/{method}", self.api, methods=["GET", "POST"])]

    def admin_routes(self) -> list[Route]:
        return [
            Route("/generate", self.admin_generate, methods=["POST"]),
            Route("/inject", self.admin_inject, methods=["POST"]),
            Route("/delivery", self.admin_delivery, methods=["GET"]),
        ]

    def reset(self, config: SandboxConfig) -> None:
        # Deliveries of the previous world stop: their webhook is no longer the current one.
        self.world = TelegramWorld(config, now=sandbox_now_ms() / 1000)

    def truth(self) -> dict[str, Any]:
        return self.world.truth()

    # ---- public API --------------------------------------------------------------------------

    async def api(self, request: Request) -> Response:
        if request.path_params["token"] != SANDBOX_TELEGRAM_BOT_TOKEN:
            return BotApiError(401, "Unauthorized").response()
        method = request.path_params["method"].lower()
        handler = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
        }.get(method)
        if handler is None:
            return BotApiError(404, "Not Found: method not found").response()
        try:
            result = await handler(await read_params(request))
        except BotApiError as exc:
            return exc.response()
        return JSONResponse({"ok": True, **result})

    async def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "result": {**data.BOT_USER, "can_join_groups": True, "supports_inline_queries": True}
        }

    async def _get_updates(self, params: dict[str, Any]) -> dict[str, Any]:
        world = self.world
        if world.webhook is not None:
            raise BotApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        offset = params.get("offset")
        offset = None if offset in (None, "") else int_param(params, "offset", 0, -(2**62), 2**62)
        limit = int_param(params, "limit", 100, 1, 100)
        timeout = int_param(params, "timeout", 0, 0, 50)
        kinds = allowed_kinds(params)
        if kinds is not None:
            world.poll_allowed = kinds
        if offset is not None:
            world.confirm_below(offset)
        with world.lock:
            world.poll_serial += 1
            serial = world.poll_serial
        deadline = time.monotonic() + timeout
        world.polls_waiting += 1
        try:
            return await self._wait_for_updates(world, serial, offset, limit, deadline)
        finally:
            world.polls_waiting -= 1

    async def _wait_for_updates(
        self, world: TelegramWorld, serial: int, offset: int | None, limit: int, deadline: float
    ) -> dict[str, Any]:
        while True:
            if self.world is not world:
                return {"result": []}
            if world.webhook is not None:
                raise BotApiError(409, "Conflict: webhook was set while getUpdates was waiting")
            if world.poll_serial != serial:
                raise BotApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one "
                    "bot instance is running",
                )
            updates = world.available(offset, limit)
            if updates or time.monotonic() >= deadline:
                world.polls_served += 1
                self.context.stats.count_records("telegram_updates", len(updates))
                return {"result": updates}
            await asyncio.sleep(POLL_STEP_SECONDS)

    async def _set_webhook(self, params: dict[str, Any]) -> dict[str, Any]:
        world = self.world
        url = str(params.get("url") or "").strip()
        if bool_param(params, "drop_pending_updates"):
            world.drop_pending()
        if not url:
            return self._deleted(world.delete_webhook())
        check_webhook_url(url)
        secret = params.get("secret_token")
        if secret in (None, ""):
            secret = None
        elif not isinstance(secret, str) or not SECRET_TOKEN.match(secret):
            raise BotApiError(400, "Bad Request: secret token contains unallowed characters")
        max_connections = int_param(params, "max_connections", 40, 1, 100)
        kinds = allowed_kinds(params)
        previous = world.webhook
        same = previous is not None and (previous.url, previous.secret) == (url, secret)
        hook = world.set_webhook(url, secret, max_connections, kinds or ())
        asyncio.get_running_loop().create_task(self._deliver(world, hook))
        description = "Webhook is already set" if same else "Webhook was set"
        return {"result": True, "description": description}

    async def _delete_webhook(self, params: dict[str, Any]) -> dict[str, Any]:
        world = self.world
        if bool_param(params, "drop_pending_updates"):
            world.drop_pending()
        return self._deleted(world.delete_webhook())

    @staticmethod
    def _deleted(had: bool) -> dict[str, Any]:
        description = "Webhook was deleted" if had else "Webhook is already deleted"
        return {"result": True, "description": description}

    async def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"result": self.world.webhook_info()}

    # ---- webhook deliveries ------------------------------------------------------------------

    async def _deliver(self, world: TelegramWorld, hook: Webhook) -> None:
        await asyncio.gather(*(self._worker(world, hook) for _ in range(hook.max_connections)))

    async def _worker(self, world: TelegramWorld, hook: Webhook) -> None:
        """One connection's worth of deliveries (a client each: httpx's shared pool slows
        down badly with dozens of concurrent connections)."""
        headers = {"Content-Type": "application/json"}
        if hook.secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(timeout=DELIVERY_TIMEOUT_SECONDS, limits=limits) as client:
            await self._deliveries(world, hook, client, headers)

    async def _deliveries(
        self,
        world: TelegramWorld,
        hook: Webhook,
        client: httpx.AsyncClient,
        headers: dict[str, str],
    ) -> None:
        while world.webhook is hook and self.world is world:
            taken = world.take(hook)
            if taken is None:
                await asyncio.sleep(IDLE_SECONDS)
                continue
            item, update = taken
            body = json.dumps(update, ensure_ascii=False, separators=(",", ":")).encode()
            try:
                response = await client.post(hook.url, content=body, headers=headers)
                problem = None
                if not 200 <= response.status_code < 300:
                    problem = (
                        "Wrong response from the webhook: "
                        f"{response.status_code} {response.reason_phrase}"
                    )
            except httpx.HTTPError as exc:
                problem = f"Connection failed: {type(exc).__name__}"
            except asyncio.CancelledError:
                world.settle(hook, item, "delivery cancelled")
                raise
            world.settle(hook, item, problem)
            if problem is None:
                self.context.stats.count_records("telegram_deliveries", 1)

    # ---- admin -------------------------------------------------------------------------------

    async def admin_generate(self, request: Request) -> Response:
        try:
            body = await json_body(request)
            count = body.get("count", 1)
            spread = body.get("spread_seconds", 0)
            if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 100_000:
                raise ValueError("count must be an integer between 0 and 100000")
            if isinstance(spread, bool) or not isinstance(spread, int | float) or spread < 0:
                raise ValueError("spread_seconds must be a non-negative number")
        except ValueError as exc:
            return error(400, str(exc))
        ids = self.world.generate(count, spread_seconds=float(spread))
        return JSONResponse({"update_ids": ids})

    async def admin_inject(self, request: Request) -> Response:
        try:
            body = await json_body(request)
            update_id = self.world.inject(body.get("update"))
        except ValueError as exc:
            return error(400, str(exc))
        return JSONResponse({"update_id": update_id})

    async def admin_delivery(self, request: Request) -> Response:
        return JSONResponse(self.world.delivery_status())
