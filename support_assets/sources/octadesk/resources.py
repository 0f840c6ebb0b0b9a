"""Octadesk's resources from the settings: the API client (the sandbox's while
OCTADESK_BASE_URL is unset) and the compatibility view's name."""

from collections.abc import Mapping
from typing import Any

from dagster import EnvVar

from support_assets.core.sandbox_defaults import SANDBOX_OCTADESK_API_KEY
from support_assets.core.settings import (
    env_or,
    http_bounds,
    is_set,
    sandbox_url,
    setting,
    text_setting,
)
from support_assets.sources.octadesk.client import OctadeskResource
from support_assets.sources.octadesk.compat import CompatViewsSettings


def octadesk_resource(env: Mapping[str, str]) -> OctadeskResource:
    """The Octadesk API: the tenant OCTADESK_BASE_URL names with OCTADESK_API_KEY, else the
    sandbox with its published key."""
    api_key: str | EnvVar = (
        EnvVar("OCTADESK_API_KEY")
        if is_set("OCTADESK_API_KEY", env) or is_set("OCTADESK_BASE_URL", env)
        else SANDBOX_OCTADESK_API_KEY
    )
    return OctadeskResource(
        base_url=env_or("OCTADESK_BASE_URL", f"{sandbox_url(env)}/octadesk", env),
        api_key=api_key,
        agent_email=env_or("OCTADESK_AGENT_EMAIL", "sandbox@support-assets.local", env),
        rate_limit_per_second=setting("OCTADESK_RATE_LIMIT_PER_SECOND", env),
        max_concurrency=setting("OCTADESK_MAX_CONCURRENCY", env),
        timeout_seconds=setting("OCTADESK_TIMEOUT_SECONDS", env),
        **http_bounds(env),
    )


def resources(env: Mapping[str, str]) -> dict[str, Any]:
    """The resource keys Octadesk's assets and sensor use."""
    return {
        "octadesk": octadesk_resource(env),
        "compat_views": CompatViewsSettings(
            octadesk_view=text_setting("SUPPORT_COMPAT_OCTADESK_VIEW", env) or None
        ),
    }
