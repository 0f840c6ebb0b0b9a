"""The service events' resource from the settings: the ActiveMQ broker over STOMP."""

import os
from collections.abc import Mapping
from typing import Any

from dagster import EnvVar

from support_assets.core.settings import is_set, setting, text_setting
from support_assets.sources.service_events.stomp import StompResource


def stomp_resource(environ: Mapping[str, str] | None = None) -> StompResource:
    """The service events' ActiveMQ broker. STOMP_HOST unset means the local broker of the
    demo, which may not be running: then a run consumes nothing instead of failing."""
    env = os.environ if environ is None else environ
    return StompResource(
        host=text_setting("STOMP_HOST", env),
        port=setting("STOMP_PORT", env),
        user=text_setting("STOMP_USER", env) or None,
        password=EnvVar("STOMP_PASSWORD") if is_set("STOMP_PASSWORD", env) else None,
        destination=text_setting("STOMP_DESTINATION", env),
        client_id=text_setting("STOMP_CLIENT_ID", env),
        subscription_name=text_setting("STOMP_SUBSCRIPTION_NAME", env),
        prefetch_size=setting("STOMP_PREFETCH", env),
        fail_if_unreachable=is_set("STOMP_HOST", env),
    )


def resources(env: Mapping[str, str]) -> dict[str, Any]:
    """The resource key the service events' assets and sensor use."""
    return {"stomp": stomp_resource(env)}
