"""The simulated bot's state: its updates, who confirmed what, the webhook and the deliveries
in flight or due for a retry or a second delivery.
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from support_assets.sandbox import telegram_data as data
from support_assets.sandbox.base import SandboxConfig
from support_assets.sandbox.octadesk_data import mix

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

S_WORLD, S_REDELIVER = 41, 42
BACKLOG_SPREAD_SECONDS = 20 * 3600
FIRST_UPDATE_ID = 310_000_000
RETRY_BASE_SECONDS = 0.05
RETRY_MAX_SECONDS = 1.0
REDELIVERY_MAX_ATTEMPTS = 5
DELIVERY_TIMEOUT_SECONDS = 30.0
IDLE_SECONDS = 0.01
POLL_STEP_SECONDS = 0.02


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
class Delivery:
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
        rng = random.Random(mix(config.seed, S_WORLD))
        self.rng = rng
        self.factory = data.UpdateFactory(rng)
        self.next_update_id = FIRST_UPDATE_ID + rng.randint(0, 9_000_000)
        self.updates: dict[int, dict[str, Any]] = {}
        self.meta: dict[int, dict[str, Any]] = {}
        self.pending: dict[int, None] = {}
        self.poll_allowed: tuple[str, ...] = ()
        self.webhook: Webhook | None = None
        self.generations = itertools.count(1)
        self.heap: list[Delivery] = []
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
        heapq.heappush(self.heap, Delivery(due, next(self.seq), update_id, redelivery, attempt))

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

    def take(self, hook: Webhook) -> tuple[Delivery, dict[str, Any]] | None:
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
        return mix(self.seed, S_REDELIVER, update_id) % 100 < self.redelivery_percent

    def settle(self, hook: Webhook, item: Delivery, error_message: str | None) -> None:
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
