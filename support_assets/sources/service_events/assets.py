"""Service events: attendance records from an ActiveMQ topic, kept in MongoDB, cleaned in the
warehouse. At least once, nothing lost.

``raw/service_events`` (documents store) reads the platform's durable subscription in batches
of at most the prefetch, until it is idle (or ``max_messages``, ``max_seconds``), validates every
message, and returns a ``DocumentStream`` of ``DocumentBatch``: valid events keyed by
``event_key``, invalid ones for the quarantine collection with their reasons and the message
exactly as received. The documents IO manager writes each batch before it asks for the next;
only *after* a batch's write returned does the stream acknowledge it (one cumulative ACK), and
while the broker confirms that, the next batch is read and written. A failed write, a crash or
a kill leaves the batch (and any later one) unacknowledged, so the broker delivers it again, and
the key on ``event_key`` (the SHA-256 of the event's canonical JSON) makes the second delivery a
no-op: never a second document.

``staging/service_events`` (warehouse) merges, on ``event_key``, the raw documents loaded since
its last high-water mark: typed columns, answers as booleans, services as a list, the time in
UTC, the COVID test result as one of ``COVID_TEST_RESULTS``, and the pseudonymous
``customer_key`` instead of the CPF (the name stays in raw).
"""

import contextlib
import time
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
from support_assets.io_managers.documents import DocumentBatch, DocumentStream, collection_name
from support_assets.sources.service_events.staging import (
    ServiceEventsStagingConfig,
    staging_frame,
    staging_row,
)
from support_assets.sources.service_events.stomp import (
    BrokerUnavailable,
    ClientIdBusy,
    ReceivedMessage,
    ServiceConsumer,
    StompResource,
)
from support_assets.sources.service_events.validation import validate_messages

GROUP = "service_events"
RAW = AssetKey(["raw", "service_events"])
STAGING = AssetKey(["staging", "service_events"])
RAW_COLLECTION = collection_name(RAW.path)


# ---- raw/service_events --------------------------------------------------------------------


class ServiceEventsConsumeConfig(Config):
    """How much one run reads from the subscription, in batches of at most the prefetch."""

    max_messages: int | None = Field(
        default=None,
        ge=1,
        description="Messages one run reads at most; default: until the subscription is idle "
        "or max_seconds have passed.",
    )
    first_wait_seconds: float = Field(
        default=5.0, ge=0, description="How long to wait for the first message."
    )
    idle_seconds: float = Field(
        default=2.0,
        ge=0,
        description="A batch ends after this long without a new message, and the run with it.",
    )
    max_seconds: float = Field(
        default=120.0, gt=0, description="The run reads no new batch after this long."
    )


def event_batches(
    consumer: ServiceConsumer,
    config: ServiceEventsConsumeConfig,
    metadata: dict[str, Any],
    first: list[ReceivedMessage] | None = None,
) -> Iterator[DocumentBatch]:
    """The subscription's messages, batch after batch, validated, each acknowledged once stored.

    Meant to be written by the documents IO manager as a ``DocumentStream``: it asks for the
    next batch only after the previous one is written, so the code after ``yield`` runs once a
    batch is stored, and acknowledges it there without waiting for the broker's receipt; the
    next batch is read and written meanwhile. A failed write never resumes the generator: that
    batch and the later ones stay unacknowledged and come back. ``first`` is a batch already
    read; ``metadata`` receives the totals."""
    deadline = time.monotonic() + config.max_seconds
    limit = config.max_messages or float("inf")
    messages = first if first is not None else _receive(consumer, config, limit, first=True)
    received = batches = quarantined = 0
    while messages:
        received += len(messages)
        batches += 1
        batch = validate_messages(messages)
        quarantined += len(batch.quarantined)
        yield batch
        consumer.ack(messages, wait=False)
        if received >= limit or time.monotonic() >= deadline:
            break
        messages = _receive(consumer, config, limit - received, first=False)
    consumer.wait_for_acks()
    metadata.update(
        {
            "messages_received": received,
            "messages_invalid": quarantined,
            "batches": batches,
            "messages_acknowledged": received,
        }
    )


def _receive(
    consumer: ServiceConsumer, config: ServiceEventsConsumeConfig, limit: float, first: bool
) -> list[ReceivedMessage]:
    """One batch: at most ``limit`` messages (and the prefetch)."""
    return consumer.receive_batch(
        max_messages=None if limit == float("inf") else int(limit),
        first_wait_seconds=config.first_wait_seconds if first else config.idle_seconds,
        idle_seconds=config.idle_seconds,
        max_seconds=config.max_seconds,
    )


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
        "raw_service_events_quarantine with the reasons and the message as received. A run reads "
        "batches of at most the prefetch until the subscription is idle; each batch is "
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
        first = _receive(consumer, config, config.max_messages or float("inf"), first=True)
        if not first:
            context.log.info(f"no service events pending for {stomp.subscription}")
            return
        stream = DocumentStream(
            [],
            metadata={
                "broker": stomp.describe(),
                "subscription": stomp.subscription,
                "prefetch_size": stomp.prefetch_size,
            },
        )
        stream.batches = event_batches(consumer, config, stream.metadata, first)
        # The IO manager writes the batches here, acknowledging each after its write; the
        # asset resumes only once every batch is written and every acknowledgement confirmed.
        yield Output(stream)
        context.log.info(
            f"acknowledged {consumer.acknowledged} messages in {stream.metadata['batches']} "
            f"batches on {stomp.subscription}"
        )
        if stream.metadata["messages_invalid"]:
            context.log.warning(
                f"{stream.metadata['messages_invalid']} of {stream.metadata['messages_received']} "
                "service events quarantined (quarantine_reasons in the materialization)"
            )
        yield AssetObservation(
            asset_key=RAW,
            metadata={"messages_acknowledged": consumer.acknowledged, "run_id": context.run_id},
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
