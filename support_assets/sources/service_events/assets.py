"""Service events: attendance records from an ActiveMQ topic, kept in MongoDB, cleaned in the
warehouse. At least once, nothing lost.

``raw/service_events`` (documents store) reads one batch from the platform's durable
subscription (at most the prefetch), validates every message, and returns a ``DocumentBatch``:
valid events keyed by ``event_key``, invalid ones for the quarantine collection with their
reasons and the message exactly as received. The documents IO manager bulk-upserts it; only
*after* that write returned does the asset acknowledge the batch (Dagster stores a yielded
output before the asset's code resumes). A failed write, a crash or a kill leaves the batch
unacknowledged, so the broker delivers it again, and the upsert on ``event_key`` (the SHA-256 of
the event's canonical JSON) makes the second delivery a no-op: never a second document.

``staging/service_events`` (warehouse) merges, on ``event_key``, the raw documents loaded since
its last high-water mark: typed columns, answers as booleans, services as a list, the time in
UTC, the COVID test result as one of ``COVID_TEST_RESULTS``, and the pseudonymous
``customer_key`` instead of the CPF (the name stays in raw).
"""

import contextlib
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetObservation,
    Config,
    Output,
    asset,
)
from pydantic import Field

from support_assets.core.constants import OWNERS
from support_assets.core.identity import PseudonymResource
from support_assets.core.mongo import MongoDBResource
from support_assets.core.records import last_materialization_value
from support_assets.io_managers.base import TableStream
from support_assets.io_managers.documents import collection_name
from support_assets.sources.service_events.staging import (
    ServiceEventsStagingConfig,
    staging_frame,
    staging_row,
)
from support_assets.sources.service_events.stomp import (
    BrokerUnavailable,
    ClientIdBusy,
    StompResource,
)
from support_assets.sources.service_events.validation import validate_messages

GROUP = "service_events"
RAW = AssetKey(["raw", "service_events"])
STAGING = AssetKey(["staging", "service_events"])
RAW_COLLECTION = collection_name(RAW.path)


# ---- raw/service_events --------------------------------------------------------------------


class ServiceEventsConsumeConfig(Config):
    """How long one run reads from the subscription (a batch is at most the prefetch)."""

    max_messages: int | None = Field(
        default=None, ge=1, description="Messages in the run's batch; default: the prefetch."
    )
    first_wait_seconds: float = Field(
        default=5.0, ge=0, description="How long to wait for the first message."
    )
    idle_seconds: float = Field(
        default=2.0, ge=0, description="A batch ends after this long without a new message."
    )
    max_seconds: float = Field(default=120.0, gt=0, description="A batch ends after this long.")


@asset(
    key=RAW,
    group_name=GROUP,
    io_manager_key="documents_io_manager",
    metadata={"primary_key": ["event_key"]},
    owners=OWNERS,
    kinds={"mongodb", "python"},
    tags={"layer": "raw", "source": "service_events"},
    output_required=False,
    description=(
        "Every attendance event from the ActiveMQ topic (durable subscription), one document per "
        "event keyed by event_key (SHA-256 of its canonical JSON): the payload as received plus "
        "typed fields (CPF compacted, UTC time, booleans). Invalid messages go to "
        "raw_service_events_quarantine with the reasons and the message as received. A batch is "
        "acknowledged only after its bulk write succeeded; redeliveries never duplicate."
    ),
)
def service_events_raw(
    context: AssetExecutionContext, config: ServiceEventsConsumeConfig, stomp: StompResource
) -> Iterator[Output | AssetObservation]:
    with contextlib.ExitStack() as stack:
        try:
            consumer = stack.enter_context(stomp.consumer())
        except BrokerUnavailable as exc:
            if stomp.fail_if_unreachable or isinstance(exc, ClientIdBusy):
                raise
            context.log.warning(
                f"no service events read: {exc}. STOMP_HOST is unset, so this is the local "
                "default broker: start one with `tools/activemq.sh start` (make demo does) or "
                "set STOMP_HOST."
            )
            return
        messages = consumer.receive_batch(
            max_messages=config.max_messages,
            first_wait_seconds=config.first_wait_seconds,
            idle_seconds=config.idle_seconds,
            max_seconds=config.max_seconds,
        )
        if not messages:
            context.log.info(f"no service events pending for {stomp.subscription}")
            return
        batch = validate_messages(messages)
        batch.metadata.update(
            {
                "broker": stomp.describe(),
                "subscription": stomp.subscription,
                "messages_received": len(messages),
                "prefetch_size": stomp.prefetch_size,
            }
        )
        if batch.quarantined:
            reasons = Counter(q.reason.split(";")[0] for q in batch.quarantined)
            context.log.warning(
                f"{len(batch.quarantined)} of {len(messages)} service events quarantined: "
                f"{dict(reasons.most_common(5))}"
            )
        # The IO manager writes the batch here; the asset resumes only if that succeeded, so
        # a failed write leaves the batch unacknowledged and the broker delivers it again.
        yield Output(batch)
        consumer.ack(messages)
        context.log.info(f"acknowledged {len(messages)} messages on {stomp.subscription}")
        yield AssetObservation(
            asset_key=RAW,
            metadata={"messages_acknowledged": len(messages), "run_id": context.run_id},
        )


@asset(
    key=STAGING,
    deps=[RAW],
    group_name=GROUP,
    io_manager_key="warehouse_io_manager",
    metadata={"write_mode": "merge", "primary_key": ["event_key"]},
    owners=OWNERS,
    kinds={"duckdb", "python"},
    tags={"layer": "staging", "source": "service_events"},
    description=(
        "One row per attendance event: occurred_at in UTC (source time zone America/Sao_Paulo), "
        "age, sex, channel, services (a list column) and service_count, symptom answers and "
        "solved as booleans, covid_test_result (negativo, positivo or nao_testado; an absent "
        "covidTest is nao_testado), service_score 0-10, and customer_key (HMAC of the CPF with "
        "SUPPORT_PSEUDONYM_KEY) instead of the CPF; no name. Merged on event_key from the raw "
        "documents loaded since the last high-water mark."
    ),
)
def service_events_staging(
    context: AssetExecutionContext,
    config: ServiceEventsStagingConfig,
    documents: MongoDBResource,
    pseudonym: PseudonymResource,
) -> TableStream:
    previous = last_materialization_value(context.instance, STAGING, "high_water_mark")
    since = None
    if previous and not config.full_refresh:
        since = datetime.fromisoformat(previous) - timedelta(minutes=config.lookback_minutes)
    collection = documents.get_database()[RAW_COLLECTION]
    query = {"_loaded_at": {"$gte": since}} if since else {}
    stream = TableStream([])
    stream.metadata.update(
        {"read_since": since.isoformat() if since else "everything", "source": RAW_COLLECTION}
    )

    def frames() -> Iterator[pd.DataFrame]:
        rows: list[dict[str, Any]] = []
        high_water_mark = datetime.fromisoformat(previous) if previous else None
        read = 0
        # The payload comes along for documents written before covid_test_result was typed.
        for document in collection.find(query, {"_id": 0, "name": 0}):
            rows.append(staging_row(document, pseudonym))
            read += 1
            loaded = document["_loaded_at"]
            if high_water_mark is None or loaded > high_water_mark:
                high_water_mark = loaded
            if len(rows) >= config.chunk_size:
                yield staging_frame(rows)
                rows = []
        if rows:
            yield staging_frame(rows)
        stream.metadata.update(
            {
                "raw_documents_read": read,
                "high_water_mark": high_water_mark.isoformat() if high_water_mark else "",
            }
        )

    stream.frames = frames()
    return stream
