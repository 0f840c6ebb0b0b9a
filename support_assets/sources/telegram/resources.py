"""Telegram's resources from the settings: the bot's API and the landing zone."""

import os
from collections.abc import Mapping
from typing import Any

from dagster import EnvVar

from support_assets.core.sandbox_defaults import SANDBOX_TELEGRAM_BOT_TOKEN
from support_assets.core.settings import http_bounds, is_set, local_value, sandbox_url, setting
from support_assets.io_managers.landing import LandingZoneResource
from support_assets.sources.telegram.client import TELEGRAM_API_URL, TelegramResource


def telegram_resource(environ: Mapping[str, str] | None = None) -> TelegramResource:
    """The bot's API: Telegram's once TELEGRAM_BOT_TOKEN is set (the sandbox's token is never
    sent anywhere else), the sandbox while both it and TELEGRAM_API_BASE_URL are unset."""
    env = os.environ if environ is None else environ
    real = is_set("TELEGRAM_BOT_TOKEN", env) or is_set("TELEGRAM_API_BASE_URL", env)
    default_url = (
        TELEGRAM_API_URL if is_set("TELEGRAM_BOT_TOKEN", env) else f"{sandbox_url(env)}/telegram"
    )
    return TelegramResource(
        base_url=local_value("TELEGRAM_API_BASE_URL", default_url, env),
        bot_token=EnvVar("TELEGRAM_BOT_TOKEN") if real else SANDBOX_TELEGRAM_BOT_TOKEN,
        poll_timeout_seconds=setting("TELEGRAM_POLL_TIMEOUT_SECONDS", env),
        **http_bounds(env),
    )


def resources(env: Mapping[str, str]) -> dict[str, Any]:
    """The resource keys Telegram's assets and sensor use."""
    return {
        "telegram": telegram_resource(env),
        "telegram_landing": LandingZoneResource.from_settings("telegram", env),
    }
