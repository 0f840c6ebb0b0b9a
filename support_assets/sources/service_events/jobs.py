"""What the service-events sensor runs."""

from support_assets.core.runs import source_job

service_events_job = source_job(
    "service_events",
    (
        "Reads one batch of service events from the durable ActiveMQ subscription into "
        "raw/service_events (acknowledged after the write) and merges them into "
        "staging/service_events. Requested by service_events_sensor while messages are pending."
    ),
)
