"""Telegram Bot API: the resource, and the polling path that lands updates without a webhook.

Every call is ``POST <base>/bot<token>/<method>`` with a JSON body; answers are
``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": N, "description": "...",
"parameters": {"retry_after": S}}``. The bot token sits in the URL path, so it is registered
as a secret of the resilient HTTP layer and redacted from every log line and error. A 429
carries its wait in ``parameters.retry_after`` (not always in a ``Retry-After`` header); both are
honoured.

Polling (:class:`TelegramPoller`) is the alternative for bots without a public URL:
``getUpdates`` long polling, where calling with ``offset`` = last ``update_id`` + 1 confirms
every earlier update to Telegram, which then forgets them. The poller therefore lands each
batch durably *before* the call that carries the next offset, so a crash between the two only
means the batch is fetched and landed again (the raw asset deduplicates by ``update_id``).
``getUpdates`` does not work while a webhook is set; the poller checks first and refuses,
naming the webhook, rather than deleting someone's webhook.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import Field, PrivateAttr

from support_assets.core.http import HttpApiResource, ResilientClient
from support_assets.core.http_errors import HttpError, RetryableHttpError
from support_assets.core.shapes import TELEGRAM_UPDATES
from support_assets.io_managers.landing import LandingWriteError, LandingZone

logger = logging.getLogger(__name__)
_UPDATE_ID = re.compile(r'"update_id"\s*:\s*(-?[0-9]{1,30})')

TELEGRAM_API_URL = "https://api.telegram.org"

#: Every update kind of the Bot API (9.x). Asking for all of them explicitly matters:
#: without ``allowed_updates`` Telegram leaves out chat_member, message_reaction and
#: message_reaction_count. A kind Telegram adds later must be added here to be received.
BOT_API_UPDATE_KINDS = (
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


class TelegramApiError(HttpError):
    """An ``{"ok": false}`` answer; ``description`` is Telegram's text (redacted)."""

    def __init__(self, method: str, error_code: int | None, description: str) -> None:
        super().__init__(f"telegram {method}: {error_code} {description}", error_code)
        self.method = method
        self.error_code = error_code
        self.description = description


class UnreadableAnswer(TelegramApiError):
    """An answer that is JSON but past what the parser takes (nested too deeply, a number of
    too many digits); ``body`` is the answer exactly as received."""

    def __init__(self, method: str, body: bytes, reason: str) -> None:
        super().__init__(method, None, f"the answer cannot be read: {reason}")
        self.body = body


class WebhookActiveError(RuntimeError):
    """``getUpdates`` cannot run while a webhook is set."""


def _body_retry_after(body: str) -> float | None:
    try:
        value = json.loads(body).get("parameters", {}).get("retry_after")
    except (ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, int | float) and value >= 0 else None


class TelegramClient(ResilientClient):
    """The resilient client, also reading a 429's wait from ``parameters.retry_after``."""

    def _send_once(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return super()._send_once(method, url, **kwargs)
        except RetryableHttpError as exc:
            if exc.status_code == 429 and exc.retry_after is None:
                exc.retry_after = _body_retry_after(exc.body)
            raise


class TelegramResource(HttpApiResource):
    """One bot's Bot API (``https://api.telegram.org`` or a local Bot API server)."""

    base_url: str = TELEGRAM_API_URL
    bot_token: str = Field(description="The bot's token from @BotFather; give it as EnvVar.")
    allowed_updates: list[str] = Field(
        default_factory=lambda: list(BOT_API_UPDATE_KINDS),
        description="Update kinds to receive (getUpdates and setWebhook); [] = Telegram's default.",
    )
    poll_timeout_seconds: int = Field(
        default=30, ge=0, le=50, description="Long-polling wait of getUpdates, in seconds."
    )
    poll_limit: int = Field(default=100, ge=1, le=100, description="Updates per getUpdates call.")
    #: Ceiling of the adaptive rate: the Bot API's documented 30 requests a second.
    rate_limit_per_second: float | None = 30.0

    # The last answer's body as received (the poller quarantines it whole when it cannot be
    # landed record by record).
    _last_answer: bytes = PrivateAttr(default=b"")

    @property
    def last_answer(self) -> bytes:
        return self._last_answer

    def _api_name(self) -> str:
        return "telegram"

    def _secrets(self) -> list[str]:
        # The whole token, and its secret half on its own (after "<bot id>:"), in case some
        # layer splits the URL at the colon.
        return [self.bot_token, self.bot_token.partition(":")[2]]

    def get_client(self) -> ResilientClient:
        if self._client is None:
            self._client = TelegramClient(
                headers={"Accept": "application/json"},
                secrets=self._secrets(),
                **self.client_options(),
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # ---- methods --------------------------------------------------------------------------

    def call(self, method: str, http_timeout: float | None = None, **params: Any) -> Any:
        """Calls a Bot API method and returns its ``result``; raises :class:`TelegramApiError`.

        ``http_timeout`` overrides the client's timeout for this call (long polls need more).
        """
        client = self.get_client()
        body = {k: v for k, v in params.items() if v is not None}
        extra: dict[str, Any] = {} if http_timeout is None else {"timeout": http_timeout}
        try:
            # "./": "bot123:ABC/..." alone would parse as a URL with the scheme "bot123".
            response = client.post(f"./bot{self.bot_token}/{method}", json=body, **extra)
            self._last_answer = response.content
            answer = response.json()
        except json.JSONDecodeError:
            raise TelegramApiError(method, None, "the answer is not JSON") from None
        except (RecursionError, ValueError) as exc:
            raise UnreadableAnswer(method, response.content, type(exc).__name__) from None
        except HttpError as exc:
            description = exc.body
            try:
                description = json.loads(exc.body).get("description") or exc.body
            except (ValueError, AttributeError):
                pass
            raise TelegramApiError(method, exc.status_code, client.redact(description)) from None
        if not isinstance(answer, dict) or not answer.get("ok"):
            answer = answer if isinstance(answer, dict) else {}
            raise TelegramApiError(
                method, answer.get("error_code"), client.redact(answer.get("description") or "")
            )
        return answer.get("result")

    def get_me(self) -> dict[str, Any]:
        return self.call("getMe")

    def get_updates(
        self, offset: int | None = None, timeout: int | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """One ``getUpdates``; ``offset`` confirms every update below it. Its ``result`` must be a
        list (`shapes.TELEGRAM_UPDATES`); anything else raises `UnexpectedShape`, naming it."""
        wait = self.poll_timeout_seconds if timeout is None else timeout
        result = self.call(
            "getUpdates",
            http_timeout=wait + self.timeout_seconds,
            offset=offset,
            limit=limit or self.poll_limit,
            timeout=wait,
            allowed_updates=self.allowed_updates,
        )
        return TELEGRAM_UPDATES.records(result)

    def set_webhook(
        self,
        url: str,
        secret_token: str,
        *,
        max_connections: int = 40,
        drop_pending_updates: bool = False,
    ) -> bool:
        return self.call(
            "setWebhook",
            url=url,
            secret_token=secret_token,
            max_connections=max_connections,
            allowed_updates=self.allowed_updates,
            drop_pending_updates=drop_pending_updates,
        )

    def delete_webhook(self, drop_pending_updates: bool = False) -> bool:
        return self.call("deleteWebhook", drop_pending_updates=drop_pending_updates)

    def get_webhook_info(self) -> dict[str, Any]:
        return self.call("getWebhookInfo")


# ---- polling ----------------------------------------------------------------------------------


@dataclass
class PollStats:
    calls: int = 0
    batches: int = 0
    updates: int = 0
    last_update_id: int | None = None


class TelegramPoller:
    """Long-polls ``getUpdates`` and lands every batch before confirming it.

    ``offset`` lives in memory only: Telegram keeps the confirmation, so a restarted poller
    begins at the earliest unconfirmed update, which at worst repeats the last landed batch.
    """

    def __init__(
        self,
        telegram: TelegramResource,
        landing: LandingZone,
        *,
        on_landed: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> None:
        self.telegram = telegram
        self.landing = landing
        self.offset: int | None = None
        self.stats = PollStats()
        self.on_landed = on_landed

    def ensure_no_webhook(self) -> None:
        info = self.telegram.get_webhook_info()
        url = (info or {}).get("url")
        if url:
            raise WebhookActiveError(
                f"a webhook is set for this bot ({url}, {info.get('pending_update_count', 0)} "
                "updates pending); getUpdates does not work while it is. Use the webhook "
                "receiver (support-assets webhook), or delete the webhook first if polling is "
                "really wanted (support-assets telegram-webhook delete)."
            )

    def _get(self, timeout: int, limit: int | None = None) -> list[dict[str, Any]]:
        try:
            updates = self.telegram.get_updates(offset=self.offset, timeout=timeout, limit=limit)
        except TelegramApiError as exc:
            if exc.error_code == 409 and "webhook" in exc.description.lower():
                raise WebhookActiveError(
                    f"Telegram refused getUpdates: {exc.description}. A webhook was set while "
                    "polling; stop the poller or delete the webhook."
                ) from None
            raise
        self.stats.calls += 1
        return updates or []

    def poll_once(self, timeout: int | None = None) -> int:
        """One ``getUpdates`` (confirming what was landed before), landing what it returns.

        Returns how many updates were landed. The new offset is only used by the next call.
        """
        wait = self.telegram.poll_timeout_seconds if timeout is None else timeout
        try:
            updates = self._get(wait)
        except UnreadableAnswer as exc:
            return self._isolate(exc.body, exc.description)
        if not updates:
            return 0
        try:
            self.landing.append(updates, via="polling")
        except (RecursionError, ValueError) as exc:  # parsed, but cannot be written back
            return self._isolate(self.telegram.last_answer, type(exc).__name__)
        ids = [
            u["update_id"]
            for u in updates
            if isinstance(u, dict) and isinstance(u.get("update_id"), int)
        ]
        self.stats.batches += 1
        self.stats.updates += len(updates)
        if ids:
            self.stats.last_update_id = max(ids)
            self.offset = max(ids) + 1
        if self.on_landed is not None:
            self.on_landed(updates)
        return len(updates)

    def _isolate(self, body: bytes, reason: str) -> int:
        """A batch that cannot be landed: the updates it holds are fetched one at a time, so
        only the one that cannot be landed is quarantined; returns how many were handled."""
        ids = [int(i) for i in _UPDATE_ID.findall(body.decode("utf-8", errors="replace"))]
        if len(ids) <= 1:
            return self._quarantine_answer(body, reason)
        handled, last = 0, max(ids)
        while self.offset is None or self.offset <= last:
            try:
                [update] = self._get(timeout=0, limit=1) or [None]
            except UnreadableAnswer as exc:
                handled += self._quarantine_answer(exc.body, exc.description)
                continue
            if update is None:
                break
            try:
                self.landing.append([update], via="polling")
            except (RecursionError, ValueError) as exc:
                handled += self._quarantine_answer(self.telegram.last_answer, type(exc).__name__)
                continue
            update_id = update.get("update_id") if isinstance(update, dict) else None
            if not isinstance(update_id, int) or isinstance(update_id, bool):
                handled += self._quarantine_answer(self.telegram.last_answer, "no update_id")
                continue
            self.stats.batches += 1
            self.stats.updates += 1
            self.stats.last_update_id = update_id
            self.offset = update_id + 1
            handled += 1
            if self.on_landed is not None:
                self.on_landed([update])
        return handled

    def _quarantine_answer(self, body: bytes, reason: str) -> int:
        """Keeps a getUpdates answer that cannot be landed whole in the landing quarantine,
        then moves the offset past the update ids it holds, so the poller never fetches the
        same batch for ever. Without a readable update id it cannot move on: it raises."""
        ids = [int(i) for i in _UPDATE_ID.findall(body.decode("utf-8", errors="replace"))]
        if not ids:
            raise TelegramApiError(
                "getUpdates", None, f"an answer that cannot be read ({reason}) and holds no "
                "update_id: it cannot be confirmed"
            )  # fmt: skip
        path = self.landing.quarantine(body, f"getUpdates answer: {reason}", via="polling")
        logger.warning(
            "telegram polling: an answer with update ids %d..%d cannot be landed as records "
            "(%s); kept whole in %s and confirmed",
            min(ids),
            max(ids),
            reason,
            path,
        )
        self.stats.batches += 1
        self.stats.last_update_id = max(ids)
        self.offset = max(ids) + 1
        return len(ids)

    def confirm(self) -> None:
        """Tell Telegram everything landed so far is done (``getUpdates`` with the offset).

        Whatever that call returns is left unconfirmed: the next poll fetches it again.
        """
        if self.offset is not None:
            self._get(timeout=0, limit=1)

    def run(
        self,
        *,
        until_empty: bool = False,
        stop: threading.Event | None = None,
        error_pause_seconds: float = 5.0,
    ) -> PollStats:
        """Poll until ``stop`` is set (or, with ``until_empty``, until a call returns nothing).

        Running on (not ``until_empty``), a failed landing, or a call that failed for good after
        the HTTP layer's retries (5xx, 429, network), is logged and retried after
        ``error_pause_seconds``: nothing was confirmed, so nothing is lost. A refusal (4xx: bad
        token, a webhook set meanwhile, another poller) stops the poller.
        """
        self.ensure_no_webhook()
        stop = stop or threading.Event()
        while not stop.is_set():
            try:
                landed = self.poll_once(timeout=0 if until_empty else None)
            except (HttpError, LandingWriteError) as exc:
                code = exc.status_code if isinstance(exc, HttpError) else None
                if until_empty or (code is not None and 400 <= code < 500 and code != 429):
                    raise  # a refusal (bad token, conflict) does not go away by waiting
                logger.warning(
                    "telegram polling: %s; nothing confirmed, retrying in %.0fs",
                    exc,
                    error_pause_seconds,
                )
                stop.wait(error_pause_seconds)
                continue
            if landed:
                logger.info(
                    "telegram polling: landed %d update(s) up to %s",
                    landed,
                    self.stats.last_update_id,
                )
            elif until_empty:
                break
        self.confirm()
        return self.stats
