"""What the service-events sensor runs."""

from support_assets.core.runs import source_job

service_events_job = source_job(
    "service_events",
    (
        "Reads the service events pending on the durable ActiveMQ subscription into "
        "raw/service_events, batch by batch (each acknowledged after its write), and merges "
        "them into staging/service_events. Requested by service_events_sensor while messages "
        "are pending."
    ),
)
