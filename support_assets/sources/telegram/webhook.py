"""The Telegram webhook receiver: an ASGI app (Starlette, served by uvicorn).

``POST /telegram/webhook`` takes one update per request, as Telegram sends them:

1. the ``X-Telegram-Bot-Api-Secret-Token`` header must equal the configured secret (compared in
   constant time); otherwise 403 and nothing is read or landed;
2. the body may not exceed ``max_body_bytes`` (``Content-Length`` is checked first, then the
   bytes actually streamed); otherwise 413;
3. it must be a JSON object with an integer ``update_id``; otherwise 400. Its kind is not
   checked: a kind this code has never heard of is landed like any other;
4. the update is appended to the landing zone (``landing/telegram/date=<UTC day received>/``)
   and the answer waits until that append is durable (fsync, or a completed upload). Only then
   200. If landing fails the answer is 503, and Telegram delivers the update again later.

Anything that dies before step 4 completes loses nothing: Telegram only forgets an update once
it got a 2xx. A crash after step 4 but before the answer means the update is landed twice; the
raw asset deduplicates by ``update_id``.

``GET /health`` answers ``{"ok": true}`` (200) or ``{"ok": false}`` (503) and nothing else: the
receiver is public, so where it lands and what it counted stay private (``app.state.counts``,
the log). It makes no storage call per request: the landing zone is checked once at start-up,
and after that health follows the outcome of the last landing.

The secret is compared as exact bytes in constant time; a configured secret with anything
outside ``A-Z a-z 0-9 _ -`` (a trailing newline from a secrets file included) refuses to start.
Without ``TELEGRAM_WEBHOOK_SECRET`` the receiver refuses to start, unless it was started in
sandbox mode on purpose (``support-assets webhook --sandbox``), which uses the sandbox's
published secret.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import os
import re
import threading
from collections import Counter
from collections.abc import AsyncIterator, Mapping

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from support_assets.core.settings import setting
from support_assets.io_managers.landing import LandingWriteError, LandingZone, LandingZoneResource
from support_assets.sources.telegram.client import PollStats

logger = logging.getLogger("support_assets.sources.telegram.webhook")

WEBHOOK_PATH = "/telegram/webhook"
HEALTH_PATH = "/health"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
LANDING_SOURCE = "telegram"
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


class _BodyTooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise _BodyTooLarge
        except ValueError:
            pass
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _BodyTooLarge
    return bytes(body)


def _problem(status: int, description: str) -> JSONResponse:
    return JSONResponse({"ok": False, "description": description}, status_code=status)


class RefusedUpdate(ValueError):
    """A request the receiver refuses: its HTTP status and a description for the answer."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def secret_matches(supplied: str, expected: bytes) -> bool:
    """The secret header equals the configured secret: exact bytes, compared in constant time."""
    return hmac.compare_digest(supplied.encode("latin-1", "replace"), expected)


class UnreadableUpdate(RefusedUpdate):
    """JSON the parser cannot take (nested too deeply, a number of thousands of digits): the
    webhook keeps the body whole in the landing quarantine instead of refusing it."""


def parse_update(body: bytes) -> dict:
    """The update in ``body``: a JSON object with an integer ``update_id`` (its kind is not
    checked); otherwise :class:`RefusedUpdate` with 400 (:class:`UnreadableUpdate` when it may
    be JSON the parser cannot take)."""
    try:
        update = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RefusedUpdate(400, "Bad Request: the body is not JSON") from None
    except (ValueError, RecursionError) as exc:
        reason = f"not readable as JSON: {type(exc).__name__}: {exc}"
        raise UnreadableUpdate(400, reason[:500]) from None
    update_id = update.get("update_id") if isinstance(update, dict) else None
    if isinstance(update_id, bool) or not isinstance(update_id, int):
        raise RefusedUpdate(400, "Bad Request: not a Telegram update (no integer update_id)")
    return update


def check_secret(secret: str) -> str:
    if not secret or not _SECRET.fullmatch(secret):
        raise ValueError(
            "the webhook secret must be 1-256 characters of A-Z, a-z, 0-9, _ and - "
            "(TELEGRAM_WEBHOOK_SECRET)"
        )
    return secret


class _Receiver:
    """The receiver's request handlers and what they share: the landing zone, the secret, the
    counts and the health the last landing left."""

    def __init__(self, landing: LandingZone, secret: bytes, max_body_bytes: int) -> None:
        self.landing, self.expected, self.max_body_bytes = landing, secret, max_body_bytes
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.healthy = True
        try:  # once, at start-up: the landing folder exists or can be created where the lake lives
            landing.fs.create_dir(landing.base, recursive=True)
        except OSError as exc:
            self.healthy = False
            logger.error("the landing zone cannot be written: %s", exc)

    def count(self, name: str) -> None:
        with self.lock:
            self.counts[name] += 1

    def landing_failed(self, what: str, exc: Exception) -> Response:
        self.healthy = False
        self.count("landing_failed")
        logger.error("could not %s: %s; answering 503", what, exc)
        return _problem(503, "Could not store the update; send it again later")

    async def quarantine(self, body: bytes, reason: str) -> Response:
        """Keeps a body that cannot be a landed record whole, then 200: answering an error
        would only make Telegram send it again and again."""
        try:
            path = await run_in_threadpool(
                self.landing.quarantine, body, reason[:500], via="webhook"
            )
        except (LandingWriteError, OSError) as exc:
            return self.landing_failed("quarantine a webhook body", exc)
        self.count("quarantined")
        logger.warning("quarantined a webhook body (%s) in %s", reason[:200], path)
        return Response(status_code=200)

    async def read_update(self, request: Request) -> tuple[bytes, dict] | Response:
        """The request's body and update, or the answer refusing (or quarantining) it."""
        if not secret_matches(request.headers.get(SECRET_HEADER, ""), self.expected):
            self.count("forbidden")
            logger.warning("refused a webhook request: missing or wrong secret token")
            return _problem(403, "Forbidden: wrong or missing secret token")
        try:
            body = await _read_body(request, self.max_body_bytes)
        except _BodyTooLarge:
            self.count("too_large")
            logger.warning("refused a webhook request: body over %d bytes", self.max_body_bytes)
            return _problem(413, f"Request body over {self.max_body_bytes} bytes")
        try:
            return body, parse_update(body)
        except UnreadableUpdate as unreadable:  # JSON, but past what the parser takes
            return await self.quarantine(body, unreadable.description)
        except RefusedUpdate as refused:
            self.count("bad_request")
            return _problem(refused.status, refused.description)

    async def receive(self, request: Request) -> Response:
        self.count("requests")
        read = await self.read_update(request)
        if isinstance(read, Response):
            return read
        body, update = read
        try:
            await run_in_threadpool(self.landing.append, [update], via="webhook")
        except (RecursionError, ValueError) as exc:  # parsed, but cannot be written back
            return await self.quarantine(body, f"cannot be landed: {type(exc).__name__}: {exc}")
        except (LandingWriteError, OSError) as exc:
            return self.landing_failed(f"land update {update['update_id']}", exc)
        self.healthy = True
        self.count("landed")
        return Response(status_code=200)

    async def health(self, request: Request) -> Response:
        return JSONResponse({"ok": self.healthy}, status_code=200 if self.healthy else 503)


def build_app(
    landing: LandingZone, secret: str, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
) -> Starlette:
    """The receiver app landing into ``landing``; ``secret`` is the one given to setWebhook."""
    receiver = _Receiver(landing, check_secret(secret).encode(), max_body_bytes)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        landing.close()

    app = Starlette(
        routes=[
            Route(WEBHOOK_PATH, receiver.receive, methods=["POST"]),
            Route(HEALTH_PATH, receiver.health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.counts = receiver.counts
    app.state.landing = landing
    return app


def receiver_settings(environ: Mapping[str, str], *, sandbox: bool = False) -> tuple[str, int]:
    """The secret (``TELEGRAM_WEBHOOK_SECRET``) and the body limit
    (``TELEGRAM_WEBHOOK_MAX_BODY_BYTES``) every receiver checks.

    Without the secret a receiver refuses to start: its own environment usually lacks
    ``TELEGRAM_BOT_TOKEN`` (only the poller and the assets need it), so that absence says
    nothing about being a sandbox. ``sandbox=True`` (``webhook --sandbox``) is the only way to
    the sandbox's published secret."""

    env = environ
    secret = env.get("TELEGRAM_WEBHOOK_SECRET")
    if not secret:
        if not sandbox:
            raise ValueError(
                "TELEGRAM_WEBHOOK_SECRET is not set: the receiver must check the secret token "
                "Telegram sends (give the same value to setWebhook). For the sandbox only, start "
                "it with --sandbox to use the sandbox's published secret"
            )
        from support_assets.core.sandbox_defaults import SANDBOX_TELEGRAM_WEBHOOK_SECRET

        secret = SANDBOX_TELEGRAM_WEBHOOK_SECRET
    max_body = setting("TELEGRAM_WEBHOOK_MAX_BODY_BYTES", env)
    return check_secret(secret), max_body


def app_from_settings(
    environ: Mapping[str, str] | None = None, *, sandbox: bool = False
) -> Starlette:
    """The receiver configured from the settings (``TELEGRAM_WEBHOOK_SECRET``, the lake's)."""
    env = os.environ if environ is None else environ
    secret, max_body = receiver_settings(env, sandbox=sandbox)
    landing = LandingZoneResource.from_settings(LANDING_SOURCE, env).zone()
    return build_app(landing, secret, max_body_bytes=max_body)


def serve(
    host: str, port: int, environ: Mapping[str, str] | None = None, *, sandbox: bool = False
) -> None:
    """Run the receiver in the foreground until interrupted (for the CLI)."""
    app = app_from_settings(environ, sandbox=sandbox)
    landing: LandingZone = app.state.landing
    logger.info(
        "telegram webhook receiver on http://%s:%d%s, landing in %s", host, port, WEBHOOK_PATH,
        landing.base,
    )  # fmt: skip
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)


# ---- commands behind the CLI ------------------------------------------------------------------


def telegram_is_sandbox(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the Telegram settings point at the sandbox (no token, no API URL set)."""
    from support_assets.core.settings import is_set

    env = os.environ if environ is None else environ
    return not (is_set("TELEGRAM_BOT_TOKEN", env) or is_set("TELEGRAM_API_BASE_URL", env))


def run_poller(*, until_empty: bool = False, environ: Mapping[str, str] | None = None) -> PollStats:
    """Long-poll the bot configured by the settings into the landing zone.

    Raises :class:`~support_assets.sources.telegram.client.WebhookActiveError` while a webhook
    is set.
    """
    from support_assets.sources.telegram.client import TelegramPoller
    from support_assets.sources.telegram.resources import telegram_resource

    env = os.environ if environ is None else environ
    landing = LandingZoneResource.from_settings(LANDING_SOURCE, env).zone()
    try:
        with telegram_resource(env).process_config_and_initialize_cm() as telegram:
            poller = TelegramPoller(telegram, landing)
            try:
                return poller.run(until_empty=until_empty)
            except KeyboardInterrupt:
                return poller.stats
    finally:
        landing.close()


def manage_webhook(
    action: str,
    url: str | None = None,
    *,
    drop_pending_updates: bool = False,
    environ: Mapping[str, str] | None = None,
) -> dict:
    """``info``, ``set`` (to ``url``, with TELEGRAM_WEBHOOK_SECRET) or ``delete`` the webhook."""
    from support_assets.sources.telegram.resources import telegram_resource

    env = os.environ if environ is None else environ
    with telegram_resource(env).process_config_and_initialize_cm() as telegram:
        if action == "set":
            if not url:
                raise ValueError("set needs the public HTTPS URL of the receiver (--url)")
            secret = env.get("TELEGRAM_WEBHOOK_SECRET")
            if not secret:
                if not telegram_is_sandbox(env):
                    raise ValueError("TELEGRAM_WEBHOOK_SECRET is not set")
                from support_assets.core.sandbox_defaults import SANDBOX_TELEGRAM_WEBHOOK_SECRET

                secret = SANDBOX_TELEGRAM_WEBHOOK_SECRET
            telegram.set_webhook(
                url, check_secret(secret), drop_pending_updates=drop_pending_updates
            )
        elif action == "delete":
            telegram.delete_webhook(drop_pending_updates=drop_pending_updates)
        elif action != "info":
            raise ValueError(f"unknown action {action!r}")
        return telegram.get_webhook_info()
