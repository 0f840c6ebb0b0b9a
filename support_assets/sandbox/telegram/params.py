"""Bot API method parameters (query, form or JSON, as the real API takes them), the webhook
URL check and the Bot API error answer.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse

from support_assets.sandbox.base import json_body

#: What `setWebhook` accepts as a `secret_token`, and the ports it accepts off loopback.
SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
WEBHOOK_PORTS = {443, 80, 88, 8443}


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


async def read_params(request: Request) -> dict[str, Any]:
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


def int_param(params: dict[str, Any], name: str, default: int, lo: int, hi: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise BotApiError(400, f"Bad Request: {name} must be an integer") from None
    return max(lo, min(hi, value))


def bool_param(params: dict[str, Any], name: str) -> bool:
    raw = params.get(name)
    if isinstance(raw, str):
        return raw.strip().lower() in ("1", "true", "yes")
    return bool(raw)


def allowed_kinds(params: dict[str, Any]) -> tuple[str, ...] | None:
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


def check_webhook_url(url: str) -> None:
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
    if (parts.port or 443) not in WEBHOOK_PORTS:
        raise BotApiError(
            400, "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
        )
