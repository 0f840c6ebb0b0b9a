"""The Telegram Bot API simulator: getUpdates long polling, webhooks with redeliveries, a generator.

Public routes live under `/telegram/bot<token>/<method>` (GET or POST; parameters in the query,
a form or a JSON body, as the real API takes them) and answer the Bot API envelope
`{"ok": true, "result": ...}` or `{"ok": false, "error_code": N, "description": "..."}`:

* `getMe`; `getUpdates(offset, limit 1-100, timeout, allowed_updates)`: long polling, `offset`
  confirms every update below it (a negative offset keeps only the last `-offset`); a newer
  `getUpdates` ends a waiting one with 409, and while a webhook is set it answers 409;
* `setWebhook(url, secret_token, max_connections 1-100, allowed_updates, drop_pending_updates)`,
  `deleteWebhook(drop_pending_updates)`, `getWebhookInfo`.

While a webhook is set, up to `max_connections` deliveries are in flight at once: each POSTs
one update with `X-Telegram-Bot-Api-Secret-Token`; an update is confirmed by a 2xx answer and
retried (backoff 50 ms doubling to 1 s) on anything else, including a dropped connection.
`SandboxConfig.telegram_redelivery_percent` of the updates (picked by a seeded hash of the
update id) are delivered a second time after their first success, as Telegram does when it
did not see an answer. `allowed_updates` behaves as Telegram documents: an empty or missing list
means every kind except `chat_member`, `message_reaction` and `message_reaction_count`; an
update whose kind is not allowed is skipped and never delivered.

The world: `SandboxConfig.telegram_updates` updates are waiting at reset (dates spread over the
previous 20 hours); `POST /_admin/telegram/generate` adds more, `POST /_admin/telegram/inject`
adds a given update (e.g. of a kind the platform does not know). The content is a pure
function of the seed; update `date`s are taken from the wall clock at generation, because
Telegram only keeps a day of updates and the lake partitions by the day an update arrives.
Relaxations, stated: webhook URLs on loopback may be plain `http://` on any port (Telegram
wants HTTPS on 443, 80, 88 or 8443 and that is enforced for any other host).
"""

from __future__ import annotations

import asyncio
import heapq
import ipaddress
import itertools
import json
import logging
import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from support_assets.sandbox import telegram_data as data
from support_assets.sandbox.base import (
    SandboxConfig,
    Simulator,
    error,
    json_body,
    sandbox_now_ms,
)
from support_assets.sandbox.octadesk_data import mix

logger = logging.getLogger(__name__)

#: The bot token the simulated Bot API accepts (`<bot id>:<35 characters>`, as real ones are).
SANDBOX_TELEGRAM_BOT_TOKEN = "7412300001:AAH-sandbox_Telegram_bot_token_0123"
#: The webhook secret the demo registers and the receiver expects by default.
SANDBOX_TELEGRAM_WEBHOOK_SECRET = "sandbox-telegram-webhook-secret"

#: Every update kind of the Bot API (9.x) that `allowed_updates` can name.
ALL_UPDATE_KINDS = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
)
#: Kinds Telegram leaves out unless `allowed_updates` names them.
NOT_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

_S_WORLD, _S_REDELIVER = 41, 42
BACKLOG_SPREAD_SECONDS = 20 * 3600
FIRST_UPDATE_ID = 310_000_000
RETRY_BASE_SECONDS = 0.05
RETRY_MAX_SECONDS = 1.0
REDELIVERY_MAX_ATTEMPTS = 5
DELIVERY_TIMEOUT_SECONDS = 30.0
IDLE_SECONDS = 0.01
POLL_STEP_SECONDS = 0.02
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_WEBHOOK_PORTS = {443, 80, 88, 8443}


class BotApiError(Exception):
    """A Bot API error answer (`{"ok": false, ...}`) with the HTTP status equal to the code."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description

    def response(self) -> JSONResponse:
        return JSONResponse(
            {"ok": False, "error_code": self.code, "description": self.description},
            status_code=self.code,
        )


def update_kind(update: dict[str, Any]) -> str | None:
    """The kind of an update: its one key besides `update_id`."""
    keys = [k for k in update if k != "update_id"]
    return keys[0] if len(keys) == 1 else None


@dataclass
class Webhook:
    """The webhook a bot has set."""

    url: str
    secret: str | None
    max_connections: int
    allowed: tuple[str, ...]
    generation: int
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass(order=True)
class _Delivery:
    due: float
    seq: int
    update_id: int = field(compare=False)
    redelivery: bool = field(compare=False, default=False)
    attempt: int = field(compare=False, default=0)


@dataclass
class DeliveryStats:
    attempts: int = 0
    delivered: int = 0
    redelivered: int = 0
    redeliveries_planned: int = 0
    failed_attempts: int = 0
    skipped_not_allowed: int = 0
    dropped_pending: int = 0


def _allowed(kinds: tuple[str, ...]) -> set[str] | None:
    """The kinds an `allowed_updates` list lets through; None means Telegram's default."""
    return set(kinds) if kinds else None


def is_allowed(kind: str | None, kinds: tuple[str, ...]) -> bool:
    allowed = _allowed(kinds)
    if allowed is None:
        return kind not in NOT_BY_DEFAULT
    return kind in allowed


class TelegramWorld:
    """Updates, the unconfirmed queue, the webhook and its deliveries, behind one lock."""

    def __init__(self, config: SandboxConfig, now: float | None = None) -> None:
        self.lock = threading.RLock()
        self.seed = config.seed
        self.redelivery_percent = config.telegram_redelivery_percent
        rng = random.Random(mix(config.seed, _S_WORLD))
        self.rng = rng
        self.factory = data.UpdateFactory(rng)
        self.next_update_id = FIRST_UPDATE_ID + rng.randint(0, 9_000_000)
        self.updates: dict[int, dict[str, Any]] = {}
        self.meta: dict[int, dict[str, Any]] = {}
        self.pending: dict[int, None] = {}
        self.poll_allowed: tuple[str, ...] = ()
        self.webhook: Webhook | None = None
        self.generations = itertools.count(1)
        self.heap: list[_Delivery] = []
        self.seq = itertools.count()
        self.in_flight = 0
        self.stats = DeliveryStats()
        self.polls_served = 0
        self.polls_waiting = 0
        self.poll_serial = 0
        if config.telegram_updates:
            self.generate(config.telegram_updates, now=now, spread_seconds=BACKLOG_SPREAD_SECONDS)

    # ---- creating updates ------------------------------------------------------------------

    def _add(self, update: dict[str, Any], meta: dict[str, Any]) -> int:
        update_id = update["update_id"]
        self.updates[update_id] = update
        self.meta[update_id] = meta
        self.pending[update_id] = None
        if self.webhook is not None:
            self._queue(update_id, False, 0, time.monotonic())
        return update_id

    def generate(
        self, count: int, now: float | None = None, spread_seconds: float = 0.0
    ) -> list[int]:
        """Add `count` new updates (dates spread over the `spread_seconds` before `now`)."""
        with self.lock:
            now = time.time() if now is None else now
            plan = self.factory.plan(count)
            forced_left = len(data.SCENARIOS) if count >= 4 * len(data.SCENARIOS) else 0
            forced_seen: set[str] = set()
            offsets = sorted(
                (self.rng.uniform(0, spread_seconds) for _ in range(count)), reverse=True
            )
            made: list[int] = []
            for scenario in plan:
                if len(made) >= count:
                    break
                first_time = scenario not in forced_seen and forced_left > 0
                if not first_time and count - len(made) <= forced_left:
                    continue
                date = int(now - offsets[len(made)])
                # Leave room for the scenarios not seen yet (a media group may be cut short).
                room = max(1, count - len(made) - (forced_left - (1 if first_time else 0)))
                for produced, generated in enumerate(self.factory.scenario(scenario, date)):
                    if produced >= room:
                        break
                    update = {"update_id": self.next_update_id, **generated.update}
                    self.next_update_id += 1
                    made.append(self._add(update, generated.meta))
                if first_time:
                    forced_seen.add(scenario)
                    forced_left -= 1
            return made

    def inject(self, update: dict[str, Any]) -> int:
        """Add a given update; its `update_id` is assigned when missing."""
        with self.lock:
            if not isinstance(update, dict):
                raise ValueError("update must be a JSON object")
            update = dict(update)
            if "update_id" not in update:
                update = {"update_id": self.next_update_id, **update}
            update_id = update["update_id"]
            if isinstance(update_id, bool) or not isinstance(update_id, int):
                raise ValueError("update_id must be an integer")
            if update_id in self.updates:
                raise ValueError(f"update {update_id} already exists")
            self.next_update_id = max(self.next_update_id, update_id + 1)
            kind = update_kind(update)
            meta = {"kind": kind, "scenario": "injected", "chat_id": None, "chat_type": None,
                    "question": None, "handoff": False}  # fmt: skip
            return self._add(update, meta)

    # ---- getUpdates ------------------------------------------------------------------------

    def confirm_below(self, offset: int) -> None:
        with self.lock:
            if offset < 0:
                keep = list(self.pending)[offset:]
                self.pending = dict.fromkeys(keep)
                return
            for update_id in [u for u in self.pending if u < offset]:
                del self.pending[update_id]

    def available(self, offset: int | None, limit: int) -> list[dict[str, Any]]:
        """Unconfirmed updates from `offset`, skipping (and forgetting) kinds not allowed."""
        with self.lock:
            out: list[dict[str, Any]] = []
            for update_id in list(self.pending):
                if offset is not None and offset > 0 and update_id < offset:
                    continue
                if not is_allowed(self.meta[update_id]["kind"], self.poll_allowed):
                    del self.pending[update_id]
                    self.stats.skipped_not_allowed += 1
                    continue
                out.append(self.updates[update_id])
                if len(out) >= limit:
                    break
            return out

    # ---- webhook ---------------------------------------------------------------------------

    def _queue(self, update_id: int, redelivery: bool, attempt: int, due: float) -> None:
        heapq.heappush(self.heap, _Delivery(due, next(self.seq), update_id, redelivery, attempt))

    def set_webhook(
        self, url: str, secret: str | None, max_connections: int, allowed: tuple[str, ...]
    ) -> Webhook:
        with self.lock:
            self.webhook = Webhook(url, secret, max_connections, allowed, next(self.generations))
            self.heap = []
            now = time.monotonic()
            for update_id in self.pending:
                self._queue(update_id, False, 0, now)
            return self.webhook

    def delete_webhook(self) -> bool:
        with self.lock:
            had = self.webhook is not None
            self.webhook = None
            self.heap = []
            return had

    def drop_pending(self) -> None:
        with self.lock:
            self.stats.dropped_pending += len(self.pending)
            self.pending = {}
            self.heap = []

    def take(self, hook: Webhook) -> tuple[_Delivery, dict[str, Any]] | None:
        """The next delivery that is due, or None."""
        with self.lock:
            now = time.monotonic()
            while self.heap and self.webhook is hook and self.heap[0].due <= now:
                item = heapq.heappop(self.heap)
                if not item.redelivery:
                    if item.update_id not in self.pending:
                        continue
                    if not is_allowed(self.meta[item.update_id]["kind"], hook.allowed):
                        del self.pending[item.update_id]
                        self.stats.skipped_not_allowed += 1
                        continue
                self.in_flight += 1
                return item, self.updates[item.update_id]
            return None

    def _redelivers(self, update_id: int) -> bool:
        return mix(self.seed, _S_REDELIVER, update_id) % 100 < self.redelivery_percent

    def settle(self, hook: Webhook, item: _Delivery, error_message: str | None) -> None:
        with self.lock:
            self.in_flight -= 1
            self.stats.attempts += 1
            now = time.monotonic()
            if error_message is None:
                if item.redelivery:
                    self.stats.redelivered += 1
                elif item.update_id in self.pending:
                    del self.pending[item.update_id]
                    self.stats.delivered += 1
                    if self._redelivers(item.update_id) and self.webhook is hook:
                        self.stats.redeliveries_planned += 1
                        self._queue(item.update_id, True, 0, now)
                return
            self.stats.failed_attempts += 1
            hook.last_error_date = int(time.time())
            hook.last_error_message = error_message
            if self.webhook is not hook:
                return
            if item.redelivery and item.attempt + 1 >= REDELIVERY_MAX_ATTEMPTS:
                return
            delay = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2**item.attempt)
            self._queue(item.update_id, item.redelivery, item.attempt + 1, now + delay)

    def webhook_info(self) -> dict[str, Any]:
        with self.lock:
            hook = self.webhook
            info: dict[str, Any] = {
                "url": hook.url if hook else "",
                "has_custom_certificate": False,
                "pending_update_count": len(self.pending),
            }
            if hook is not None:
                info["max_connections"] = hook.max_connections
                info["ip_address"] = "127.0.0.1"
                if hook.allowed:
                    info["allowed_updates"] = list(hook.allowed)
                if hook.last_error_date is not None:
                    info["last_error_date"] = hook.last_error_date
                    info["last_error_message"] = hook.last_error_message
            return info

    def delivery_status(self) -> dict[str, Any]:
        with self.lock:
            return {
                "webhook": self.webhook.url if self.webhook else None,
                "pending": len(self.pending),
                "queued": len(self.heap),
                "in_flight": self.in_flight,
                "idle": not self.pending and not self.heap and self.in_flight == 0,
                "polls_waiting": self.polls_waiting,
                "redelivery_percent": self.redelivery_percent,
                **self.stats.__dict__,
            }

    def truth(self) -> dict[str, Any]:
        with self.lock:
            return {
                "updates": [
                    {
                        "update_id": i,
                        "kind": self.meta[i]["kind"],
                        "meta": self.meta[i],
                        "update": u,
                    }
                    for i, u in self.updates.items()
                ],
                "pending": list(self.pending),
                "webhook": self.webhook_info(),
                "delivery": self.delivery_status(),
                "next_update_id": self.next_update_id,
            }


# ---- request parsing ---------------------------------------------------------------------------


async def _params(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query_params)
    if request.method == "POST":
        content_type = request.headers.get("content-type", "")
        if "application/json" in content_type:
            try:
                params.update(await json_body(request))
            except ValueError as exc:
                raise BotApiError(400, f"Bad Request: {exc}") from None
        elif "application/x-www-form-urlencoded" in content_type:
            body = (await request.body()).decode("utf-8", "replace")
            params.update(parse_qsl(body, keep_blank_values=True))
    return params


def _int(params: dict[str, Any], name: str, default: int, lo: int, hi: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise BotApiError(400, f"Bad Request: {name} must be an integer") from None
    return max(lo, min(hi, value))


def _bool(params: dict[str, Any], name: str) -> bool:
    raw = params.get(name)
    if isinstance(raw, str):
        return raw.strip().lower() in ("1", "true", "yes")
    return bool(raw)


def _kinds(params: dict[str, Any]) -> tuple[str, ...] | None:
    raw = params.get("allowed_updates")
    if raw is None:
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else []
        except json.JSONDecodeError:
            raise BotApiError(400, "Bad Request: can't parse allowed updates JSON") from None
    if not isinstance(raw, list) or not all(isinstance(k, str) for k in raw):
        raise BotApiError(400, "Bad Request: allowed_updates must be a list of strings")
    return tuple(raw)


def _check_webhook_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BotApiError(
            400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
        )
    try:
        loopback = ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        loopback = parts.hostname == "localhost"
    if loopback:
        return
    if parts.scheme != "https":
        raise BotApiError(
            400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
        )
    if (parts.port or 443) not in _WEBHOOK_PORTS:
        raise BotApiError(
            400, "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
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
            result = await handler(await _params(request))
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
        offset = None if offset in (None, "") else _int(params, "offset", 0, -(2**62), 2**62)
        limit = _int(params, "limit", 100, 1, 100)
        timeout = _int(params, "timeout", 0, 0, 50)
        kinds = _kinds(params)
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
        if _bool(params, "drop_pending_updates"):
            world.drop_pending()
        if not url:
            return self._deleted(world.delete_webhook())
        _check_webhook_url(url)
        secret = params.get("secret_token")
        if secret in (None, ""):
            secret = None
        elif not isinstance(secret, str) or not _SECRET.match(secret):
            raise BotApiError(400, "Bad Request: secret token contains unallowed characters")
        max_connections = _int(params, "max_connections", 40, 1, 100)
        kinds = _kinds(params)
        previous = world.webhook
        same = previous is not None and (previous.url, previous.secret) == (url, secret)
        hook = world.set_webhook(url, secret, max_connections, kinds or ())
        asyncio.get_running_loop().create_task(self._deliver(world, hook))
        description = "Webhook is already set" if same else "Webhook was set"
        return {"result": True, "description": description}

    async def _delete_webhook(self, params: dict[str, Any]) -> dict[str, Any]:
        world = self.world
        if _bool(params, "drop_pending_updates"):
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
