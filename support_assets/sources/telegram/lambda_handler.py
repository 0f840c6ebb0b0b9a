"""The Telegram webhook as an AWS Lambda function behind an API Gateway HTTP API.

For a company whose bot already answers on Lambda:
``support_assets.sources.telegram.lambda_handler.handler``
takes the HTTP API's event (payload format 2.0) and does what the long-running receiver
(``webhook.py``) does, with the same checks in the same order:

1. the ``X-Telegram-Bot-Api-Secret-Token`` header must equal ``TELEGRAM_WEBHOOK_SECRET``
   (constant-time); otherwise 403 and nothing is decoded or landed;
2. the body may not exceed ``TELEGRAM_WEBHOOK_MAX_BODY_BYTES`` (``Content-Length`` first, then
   the decoded bytes); otherwise 413;
3. it must be a JSON object with an integer ``update_id``; otherwise 400;
4. the update is written to the lake's landing zone on S3 (``SUPPORT_LAKE_URL=s3://…``, the same
   ``landing/telegram/date=<UTC day received>/`` layout, one object per update) through the
   lake's S3 resource, and 200 is answered only once the upload completed. A failed upload (or
   no credentials) answers 503, so Telegram delivers the update again later.

``telegram_landing_sensor`` lists those objects as it lists the receiver's files. Unlike the
receiver, the function never falls back to the sandbox's secret: ``TELEGRAM_WEBHOOK_SECRET`` is
required, and a lake that is not on S3 is refused (a function's disk does not outlive it).
Configuration is read once per execution environment (cold start). Deployment: README,
"Telegram on AWS Lambda".
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from support_assets.io_managers.landing import LandingWriteError, LandingZone, LandingZoneResource
from support_assets.sources.telegram.webhook import (
    LANDING_SOURCE,
    SECRET_HEADER,
    RefusedUpdate,
    parse_update,
    receiver_settings,
    secret_matches,
)

logger = logging.getLogger("support_assets.sources.telegram.lambda_handler")

VIA = "lambda"


def _answer(status: int, description: str | None = None) -> dict[str, Any]:
    """An HTTP API response; errors carry Telegram's ``{"ok": false, "description"}`` body."""
    if description is None:
        return {"statusCode": status}
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"ok": False, "description": description}),
    }


def _header(event: Mapping[str, Any], name: str) -> str:
    """A request header (HTTP API lower-cases names; look case-insensitively anyway)."""
    headers = event.get("headers") or {}
    wanted = name.lower()
    for key, value in headers.items():
        if str(key).lower() == wanted:
            return str(value)
    return ""


def _body(event: Mapping[str, Any], limit: int) -> bytes:
    """The request body as bytes, within ``limit``; :class:`RefusedUpdate` otherwise."""
    declared = _header(event, "content-length")
    if declared.isdigit() and int(declared) > limit:
        raise RefusedUpdate(413, f"Request body over {limit} bytes")
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise RefusedUpdate(400, "Bad Request: the body is not valid base64") from None
    else:
        body = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
    if len(body) > limit:
        raise RefusedUpdate(413, f"Request body over {limit} bytes")
    return body


@dataclass
class LambdaReceiver:
    """The checks and the landing of one function instance."""

    landing: LandingZone
    secret: str
    max_body_bytes: int

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Answer one HTTP API event (see the module docstring for the order of checks)."""
        method = ((event.get("requestContext") or {}).get("http") or {}).get("method", "POST")
        if str(method).upper() != "POST":
            return _answer(405, "Method Not Allowed")
        if not secret_matches(_header(event, SECRET_HEADER), self.secret.encode()):
            logger.warning("refused a webhook request: missing or wrong secret token")
            return _answer(403, "Forbidden: wrong or missing secret token")
        try:
            update = parse_update(_body(event, self.max_body_bytes))
        except RefusedUpdate as refused:
            logger.warning("refused a webhook request: %s", refused.description)
            return _answer(refused.status, refused.description)
        update_id = update["update_id"]
        try:
            landed = self.landing.append([update], via=VIA)
        except (LandingWriteError, OSError) as exc:
            logger.error("could not land update %d: %s; answering 503", update_id, exc)
            return _answer(503, "Could not store the update; send it again later")
        logger.info("landed update %d in %s", update_id, landed.path)
        return _answer(200)


def receiver_from_settings(environ: Mapping[str, str] | None = None) -> LambdaReceiver:
    """The function's receiver from its environment variables (the platform's settings)."""
    env = os.environ if environ is None else environ
    if not env.get("TELEGRAM_WEBHOOK_SECRET"):
        raise ValueError(
            "TELEGRAM_WEBHOOK_SECRET is not set: the function must check the secret token "
            "Telegram sends (give the same value to setWebhook)"
        )
    secret, max_body = receiver_settings(env)
    resource = LandingZoneResource.from_settings(LANDING_SOURCE, env)
    if not resource.url.startswith("s3://"):
        raise ValueError(
            "SUPPORT_LAKE_URL must be s3://bucket/prefix for the Lambda receiver: a function's "
            "disk does not outlive it"
        )
    return LambdaReceiver(resource.zone(), secret, max_body)


@functools.cache
def _receiver() -> LambdaReceiver:
    return receiver_from_settings()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point: ``support_assets.sources.telegram.lambda_handler.handler``."""
    return _receiver().handle(event)
