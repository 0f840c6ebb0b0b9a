"""The service events' resource from the settings: the ActiveMQ broker over STOMP."""

import os
from collections.abc import Mapping
from typing import Any

from dagster import EnvVar

from support_assets.core.settings import is_set, local_value
from support_assets.sources.service_events.stomp import StompResource


def stomp_resource(environ: Mapping[str, str] | None = None) -> StompResource:
    """The service events' ActiveMQ broker. STOMP_HOST unset means the local broker of the
    demo, which may not be running: then a run consumes nothing instead of failing."""
    env = os.environ if environ is None else environ
    return StompResource(
        host=local_value("STOMP_HOST", "127.0.0.1", env),
        port=int(local_value("STOMP_PORT", "61613", env)),
        user=local_value("STOMP_USER", "", env) or None,
        password=EnvVar("STOMP_PASSWORD") if is_set("STOMP_PASSWORD", env) else None,
        destination=local_value("STOMP_DESTINATION", "/topic/support.service_events", env),
        client_id=local_value("STOMP_CLIENT_ID", "support-assets", env),
        subscription_name=local_value(
            "STOMP_SUBSCRIPTION_NAME", "support-assets.service_events", env
        ),
        prefetch_size=int(local_value("STOMP_PREFETCH", "1000", env)),
        fail_if_unreachable=is_set("STOMP_HOST", env),
    )


def resources(env: Mapping[str, str]) -> dict[str, Any]:
    """The resource key the service events' assets and sensor use."""
    return {"stomp": stomp_resource(env)}
