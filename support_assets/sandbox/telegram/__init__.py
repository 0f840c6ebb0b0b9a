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

`world` holds the bot's updates, webhook and deliveries, `params` the method parameters and
error answers, `simulator` the route, the deliveries and the admin endpoints; the vocabulary
of generated updates is `support_assets.sandbox.telegram_data`.
"""

from support_assets.core.sandbox_defaults import (
    SANDBOX_TELEGRAM_BOT_TOKEN,
    SANDBOX_TELEGRAM_WEBHOOK_SECRET,
)
from support_assets.sandbox.telegram.simulator import TelegramSimulator

__all__ = ["SANDBOX_TELEGRAM_BOT_TOKEN", "SANDBOX_TELEGRAM_WEBHOOK_SECRET", "TelegramSimulator"]
