# ruff: noqa: T201 - a command-line benchmark reports on stdout
"""Row 4: service events from ActiveMQ into the documents store, at least once.

A private broker (``tools/activemq.sh`` under the scratch folder, free ports) and the embedded
documents store (litemongo, as the local default). Per run, a fresh durable subscription on its
own topic receives ``events`` persistent messages (publishing is not timed); then a subprocess
consumes them:

* ours: the platform's ``StompResource`` consumer, prefetch-sized batches, one bulk upsert on
  ``event_id`` per batch, then one batch acknowledgement (confirmed by receipt);
* the loop: the same subscription read one message at a time, one upsert, one acknowledgement
  (confirmed by receipt) per message.

The store must hold every event exactly once (count, distinct ids, a sample's bodies).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
AMQ = ROOT / "tools" / "activemq.sh"


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


def _event(i: int, run: str) -> str:
    return json.dumps(
        {
            "event_id": f"{run}-{i:07d}",
            "type": ("ticket_opened", "message", "closed")[i % 3],
            "ticket_number": 1000 + i % 5000,
            "at": "2026-11-01T12:00:00.000Z",
            "payload": {"channel": "whatsapp", "agent": "Carla Dias", "text": "Olá, pedido " * 4},
        }
    )


def consume(mode: str, port: int, topic: str, events: int, store: str, out: str) -> None:
    from pymongo import UpdateOne

    from support_assets.core.mongo import MongoDBResource

    docs = MongoDBResource(embedded_path=store)
    collection = docs.get_database()["service_events"]
    collection.create_index("event_id", unique=True)
    resource = _resource(port, topic)
    received = 0
    spent = {"receive": 0.0, "write": 0.0, "ack": 0.0}
    started = time.perf_counter()
    with resource.consumer() as consumer:
        while received < events:
            if mode == "ours":
                t0 = time.perf_counter()
                batch = consumer.receive_batch(first_wait_seconds=10, idle_seconds=0.2)
                t1 = time.perf_counter()
                if not batch:
                    break
                bodies = [json.loads(m.body) for m in batch]
                collection.bulk_write(
                    [
                        UpdateOne({"event_id": b["event_id"]}, {"$set": b}, upsert=True)
                        for b in bodies
                    ],
                    ordered=False,
                )
                t2 = time.perf_counter()
                consumer.ack(batch)
                t3 = time.perf_counter()
                spent["receive"] += t1 - t0
                spent["write"] += t2 - t1
                spent["ack"] += t3 - t2
                received += len(batch)
            else:
                batch = consumer.receive_batch(max_messages=1, first_wait_seconds=10)
                if not batch:
                    break
                body = json.loads(batch[0].body)
                collection.update_one({"event_id": body["event_id"]}, {"$set": body}, upsert=True)
                consumer.ack(batch)
                received += 1
    seconds = time.perf_counter() - started
    stored = collection.count_documents({})
    docs.close()
    with open(out, "w") as fh:
        json.dump({"seconds": seconds, "received": received, "stored": stored, "spent": spent}, fh)


def _check(store: str, run: str, events: int) -> None:
    from support_assets.core.mongo import MongoDBResource

    docs = MongoDBResource(embedded_path=store)
    try:
        collection = docs.get_database()["service_events"]
        count = collection.count_documents({})
        if count != events:
            raise AssertionError(f"documents store holds {count} events, {events} were published")
        for i in (0, events // 2, events - 1):
            doc = collection.find_one({"event_id": f"{run}-{i:07d}"})
            expected = json.loads(_event(i, run))
            if doc is None or any(doc.get(k) != v for k, v in expected.items()):
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
                resource.publish(_event(k, run) for k in range(counts[mode]))
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
                _check(store, run, counts[mode])
                rates[mode].append(counts[mode] / result.seconds)
                rss[mode].append(result.peak_rss_mb)
                spent = result.data.get("spent") if mode == "ours" else None
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
            "batches of 1000",
            ours,
            "per-message upsert + ack",
            loop,
            "events/s",
            ours / loop,
            f"goal: >= 5,000/s and 10x the loop; embedded store (litemongo); peak RSS "
            f"{statistics.median(rss['ours']):.0f} MB vs {statistics.median(rss['loop']):.0f} MB",
        )
    )


if __name__ == "__main__":
    if sys.argv[1] == "consume":
        consume(
            sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), sys.argv[6], sys.argv[7]
        )
