# ruff: noqa: T201 - a command-line benchmark reports on stdout
"""Row 4: service events from ActiveMQ into the documents store, at least once.

A private broker (``tools/activemq.sh`` under the scratch folder, free ports) and the embedded
documents store (litemongo, as the local default). Per run, a fresh durable subscription on its
own topic receives ``events`` persistent service events from the sandbox's generator
(publishing is not timed); then a subprocess consumes them:

* ours: the platform's own path, nothing re-implemented: ``StompResource.consumer()``,
  ``event_batches`` of ``raw/service_events`` (prefetch-sized batches, validated, one
  cumulative ACK per batch after its write, sent while the next batch is read and written)
  written by ``DocumentsIOManager.write`` (insert new keys, update changed ones, quarantine);
* the loop: the same subscription read one message at a time, one upsert on the event key,
  one acknowledgement (confirmed by receipt) per message.

The store must hold every event exactly once (count, distinct keys, a sample's payloads).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import uuid
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
AMQ = ROOT / "tools" / "activemq.sh"
COLLECTION = "raw_service_events"
GOAL_EVENTS_PER_SECOND = 5_000
GOAL_RATIO = 10
GOAL = f">= {GOAL_EVENTS_PER_SECOND:,} events/s and >= {GOAL_RATIO}x the loop"


def _resource(port: int, topic: str, prefetch: int = 1000) -> Any:
    from support_assets.sources.service_events.stomp import StompResource

    return StompResource(
        host="127.0.0.1",
        port=port,
        destination=f"/topic/{topic}",
        client_id=f"bench-{topic}",
        subscription_name=f"bench-{topic}",
        prefetch_size=prefetch,
    )


def _events(count: int, run: str) -> list[str]:
    """``count`` distinct, valid service events (the sandbox's generator, seeded by the run)."""
    from support_assets.sandbox.service_events import generate_events

    return [
        e.body for e in generate_events(count, invalid_share=0.0, seed=zlib.crc32(run.encode()))
    ]


def _timed(batches: Iterable[Any], spent: dict[str, float]) -> Iterator[Any]:
    """The batches as they are; the time spent producing them (read, validate, acknowledge)."""
    iterator = iter(batches)
    while True:
        started = time.perf_counter()
        try:
            batch = next(iterator)
        except StopIteration:
            spent["read_validate_ack"] += time.perf_counter() - started
            return
        spent["read_validate_ack"] += time.perf_counter() - started
        yield batch


def _consume_ours(port: int, topic: str, events: int, store: str) -> dict[str, Any]:
    from support_assets.core.mongo import MongoDBResource
    from support_assets.io_managers.documents import DocumentsIOManager, DocumentStream
    from support_assets.sources.service_events.assets import (
        RAW,
        ServiceEventsConsumeConfig,
        event_batches,
    )

    docs = MongoDBResource(embedded_path=store)
    io_manager = DocumentsIOManager(mongo=docs)
    config = ServiceEventsConsumeConfig(
        max_messages=events, first_wait_seconds=10, idle_seconds=1, max_seconds=3600
    )
    spent = {"read_validate_ack": 0.0}
    started = time.perf_counter()
    with _resource(port, topic).consumer() as consumer:
        stream = DocumentStream([])
        stream.batches = _timed(event_batches(consumer, config, stream.metadata), spent)
        metadata = io_manager.write(RAW.path, ("event_key",), stream, run_id="bench")
    seconds = time.perf_counter() - started
    spent["store"] = seconds - spent["read_validate_ack"]
    docs.close()
    return {
        "seconds": seconds,
        "received": metadata["messages_received"],
        "stored": metadata["dagster/row_count"],
        "batches": metadata["batches"],
        "spent": {k: round(v, 2) for k, v in spent.items()},
    }


def _consume_loop(port: int, topic: str, events: int, store: str) -> dict[str, Any]:
    from support_assets.core.mongo import MongoDBResource
    from support_assets.io_managers.documents import payload_sha256

    docs = MongoDBResource(embedded_path=store)
    collection = docs.get_database()[COLLECTION]
    collection.create_index("event_key", unique=True)
    received = 0
    started = time.perf_counter()
    with _resource(port, topic).consumer() as consumer:
        while received < events:
            batch = consumer.receive_batch(max_messages=1, first_wait_seconds=10)
            if not batch:
                break
            payload = json.loads(batch[0].body)
            key = payload_sha256(payload)
            collection.update_one(
                {"event_key": key}, {"$set": {"event_key": key, "payload": payload}}, upsert=True
            )
            consumer.ack(batch)
            received += 1
    seconds = time.perf_counter() - started
    stored = docs.document_count(COLLECTION)
    docs.close()
    return {"seconds": seconds, "received": received, "stored": stored}


def consume(mode: str, port: int, topic: str, events: int, store: str, out: str) -> None:
    consumer = _consume_ours if mode == "ours" else _consume_loop
    result = consumer(port, topic, events, store)
    with open(out, "w") as fh:
        json.dump(result, fh)


def _check(store: str, bodies: list[str]) -> None:
    from support_assets.core.mongo import MongoDBResource
    from support_assets.io_managers.documents import payload_sha256

    docs = MongoDBResource(embedded_path=store)
    try:
        collection = docs.get_database()[COLLECTION]
        count = docs.document_count(COLLECTION)
        if count != len(bodies):
            raise AssertionError(
                f"documents store holds {count} events, {len(bodies)} were published"
            )
        for i in (0, len(bodies) // 2, len(bodies) - 1):
            expected = json.loads(bodies[i])
            doc = collection.find_one({"event_key": payload_sha256(expected)})
            if doc is None or doc.get("payload") != expected:
                raise AssertionError(f"event {i} stored as {doc}")
    finally:
        docs.close()


def row_queue(s: Any, report: Any) -> None:
    from harness import PYTHON, Row, free_port, run_child

    base = s.work / "activemq"
    port = free_port()
    env = {
        **os.environ,
        "AMQ_BASE": str(base),
        "AMQ_STOMP_PORT": str(port),
        "AMQ_OPENWIRE_PORT": str(free_port()),
    }
    counts = {"ours": s.events, "loop": max(1, s.events // 25)}
    print(
        f"[4] ActiveMQ -> documents store: {counts['ours']:,} events (ours), "
        f"{counts['loop']:,} (per-message loop)",
        flush=True,
    )
    started = subprocess.run([str(AMQ), "start"], env=env, capture_output=True, text=True)
    if started.returncode != 0:
        reason = (started.stderr or started.stdout).strip().splitlines()[-1:] or ["no output"]
        report.rows.append(
            Row(
                "4. ActiveMQ -> documents store: events/s",
                "ours",
                None,
                "loop",
                None,
                "events/s",
                None,
                f"not measured: broker: {reason[0]}",
                goal=GOAL,
                met=False,
            )
        )
        return
    rates: dict[str, list[float]] = {"ours": [], "loop": []}
    rss: dict[str, list[float]] = {"ours": [], "loop": []}
    try:
        for i in range(s.runs):
            for mode in ("ours", "loop"):
                run = f"{mode}{i}-{uuid.uuid4().hex[:6]}"
                topic = f"bench.events.{run}"
                resource = _resource(port, topic)
                resource.ensure_subscription()
                bodies = _events(counts[mode], run)
                resource.publish(bodies)
                store = str(s.work / f"documents-{run}")
                out = s.work / f"queue-{run}.json"
                result = run_child(
                    [
                        PYTHON,
                        str(Path(__file__)),
                        "consume",
                        mode,
                        str(port),
                        topic,
                        str(counts[mode]),
                        store,
                        str(out),
                    ],
                    out,
                )
                _check(store, bodies)
                rates[mode].append(counts[mode] / result.seconds)
                rss[mode].append(result.peak_rss_mb)
                spent = result.data.get("spent")
                print(
                    f"  {mode} run {i + 1}/{s.runs}: {rates[mode][-1]:,.0f} events/s"
                    + (f" (s spent: {spent})" if spent else ""),
                    flush=True,
                )
    finally:
        subprocess.run([str(AMQ), "stop"], env=env, capture_output=True)
    ours, loop = statistics.median(rates["ours"]), statistics.median(rates["loop"])
    report.raw["queue"] = {"rates": rates, "rss_mb": rss, "events": counts}
    report.rows.append(
        Row(
            "4. ActiveMQ -> documents store (at least once): events/s",
            "raw/service_events path, batches of 1000",
            ours,
            "per-message upsert + ack",
            loop,
            "events/s",
            ours / loop,
            f"embedded store (litemongo); validation, inserts and one cumulative ACK per batch "
            f"included; peak RSS {statistics.median(rss['ours']):.0f} MB vs "
            f"{statistics.median(rss['loop']):.0f} MB",
            goal=GOAL,
            met=ours >= GOAL_EVENTS_PER_SECOND and ours >= GOAL_RATIO * loop,
        )
    )


if __name__ == "__main__":
    if sys.argv[1] == "consume":
        consume(
            sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), sys.argv[6], sys.argv[7]
        )
