"""Service events end to end against a real ActiveMQ broker (tools/activemq.sh, session fixture
``activemq``): the producer CLI, the durable subscription, the real assets and the documents
store on disk, a consumer killed with SIGKILL, a broker restart, and the sensor.

Every test gets its own topic, client id and subscription, so tests share the broker and nothing
else. Nothing here is skipped: without a broker the ``activemq`` fixture fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from dagster import (
    DagsterInstance,
    ExecuteInProcessResult,
    RunRequest,
    SkipReason,
    build_sensor_context,
)

from support_assets.core.identity import SANDBOX_PSEUDONYM_KEY, customer_key
from support_assets.core.mongo import MongoDBResource
from support_assets.definitions import build_definitions
from support_assets.io_managers.documents import payload_sha256
from support_assets.sandbox.service_events import generate_events
from support_assets.sources.service_events.assets import RAW, STAGING
from support_assets.sources.service_events.resources import stomp_resource
from support_assets.sources.service_events.sensors import service_events_sensor
from support_assets.sources.service_events.stomp import StompResource
from support_assets_tests.support.activemq_broker import ActiveMQBroker
from support_assets_tests.support.e2e_helpers import REPO_ROOT, tail, venv_executable

PSEUDONYM_KEY = "test-pseudonym-key-5b1f"
#: Short waits for a batch (how long a run listens after the last message); not asserted on.
FAST_BATCH = {"first_wait_seconds": 5.0, "idle_seconds": 1.0}


@pytest.fixture
def env(
    activemq: ActiveMQBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Settings of a deployment whose service events come from the test broker, on a topic and
    durable subscription of this test's own, into stores under ``tmp_path``."""
    name = uuid.uuid4().hex[:10]
    values = {
        **activemq.env,
        "STOMP_DESTINATION": f"/topic/test.service_events.{name}",
        "STOMP_CLIENT_ID": f"support-assets-test-{name}",
        "STOMP_SUBSCRIPTION_NAME": f"service_events-{name}",
        "SUPPORT_DATA_DIR": str(tmp_path / "data"),
        "SUPPORT_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
        "SUPPORT_PSEUDONYM_KEY": PSEUDONYM_KEY,
    }
    for key in ("STOMP_USER", "STOMP_PASSWORD", "STOMP_PREFETCH", "MONGODB_URI"):
        monkeypatch.delenv(key, raising=False)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@pytest.fixture
def stomp(env: dict[str, str]) -> StompResource:
    """The platform's own STOMP resource for this deployment, its subscription registered."""
    resource = stomp_resource()
    assert resource.ensure_subscription()
    return resource


@pytest.fixture
def documents(env: dict[str, str]) -> Iterator[Any]:
    """The documents store's database, as the platform configures it."""
    resource = MongoDBResource(embedded_path=f"{env['SUPPORT_DATA_DIR']}/documents")
    yield resource.get_database()
    resource.close()


def run_job(
    instance: DagsterInstance, raise_on_error: bool = True, **raw_config: Any
) -> ExecuteInProcessResult:
    job = build_definitions().resolve_job_def("service_events_job")
    config = {**FAST_BATCH, **raw_config}
    return job.execute_in_process(
        instance=instance,
        raise_on_error=raise_on_error,
        run_config={"ops": {"raw__service_events": {"config": config}}},
    )


def materialization(result: ExecuteInProcessResult, key) -> dict[str, Any] | None:
    found = [
        e.event_specific_data.materialization
        for e in result.get_asset_materialization_events()
        if e.event_specific_data.materialization.asset_key == key
    ]
    if not found:
        return None
    [one] = found
    return {k: v.value for k, v in one.metadata.items()}


def raw_keys(documents: Any) -> list[str]:
    return [d["event_key"] for d in documents["raw_service_events"].find({}, {"event_key": 1})]


def quarantined(documents: Any) -> list[dict[str, Any]]:
    return list(documents["raw_service_events_quarantine"].find({}, {"_id": 0}))


def assert_acknowledged_and_drained(
    result: ExecuteInProcessResult, count: int, stomp: StompResource, instance: DagsterInstance
) -> None:
    """The run acknowledged ``count`` messages, and a next run finds nothing pending."""
    [acked] = [
        e.event_specific_data.asset_observation.metadata["messages_acknowledged"].value
        for e in result.get_asset_observation_events()
    ]
    assert acked == count
    assert stomp.pending(wait_seconds=1) == 0
    assert materialization(run_job(instance, first_wait_seconds=1.0), RAW) is None


def staging(env: dict[str, str]) -> pd.DataFrame:
    with duckdb.connect(env["SUPPORT_DUCKDB_PATH"], read_only=True) as con:
        return con.execute("select * from staging.service_events").df()


def key_of(body: str) -> str:
    return payload_sha256(json.loads(body))


def produce_with_cli(count: int, invalid_share: float, seed: int) -> str:
    done = subprocess.run(
        [
            venv_executable("support-assets"),
            "produce-events",
            "--count",
            str(count),
            "--invalid-share",
            str(invalid_share),
            "--seed",
            str(seed),
        ],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@contextlib.contextmanager
def killed_before_ack(marker: Path, log: Path, *options: str) -> Iterator[None]:
    """The platform's consumer in a subprocess, paused after a batch's write and before its ACK
    (it writes ``marker`` then); the body runs while it waits, then it is killed with SIGKILL."""
    with log.open("w") as out:
        consumer = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "support_assets_tests.support.service_events_consumer",
                "--pause-before-ack",
                str(marker),
                *options,
            ],
            env=dict(os.environ),
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert consumer.poll() is None, f"the consumer exited early:\n{tail(log)}"
            assert time.monotonic() < deadline, f"the consumer never wrote:\n{tail(log)}"
            time.sleep(0.2)
        yield
    finally:
        consumer.send_signal(signal.SIGKILL)
        consumer.wait(timeout=30)
    assert consumer.returncode == -signal.SIGKILL


def test_every_produced_event_ends_in_raw_or_quarantine(
    env: dict[str, str], instance: DagsterInstance, documents: Any, monkeypatch
) -> None:
    """N produced by ``support-assets produce-events`` = valid in raw + quarantined, over runs
    that read batches of at most STOMP_PREFETCH messages, each acknowledged after its write;
    staging holds every valid event once."""
    monkeypatch.setenv("STOMP_PREFETCH", "50")
    out = produce_with_cli(200, 0.1, seed=5)
    assert "published 200 persistent events" in out and "180 valid, 20 invalid" in out, out

    # 200 messages: a run limited to 150 reads three batches of 50; the next one drains the
    # rest; a third finds nothing.
    runs = []
    for limit in (150, None, None):
        meta = materialization(run_job(instance, max_messages=limit), RAW)
        runs.append(meta and (meta["messages_received"], meta["batches"]))
    assert runs == [(150, 3), (50, 1), None]

    keys = raw_keys(documents)
    assert len(keys) == len(set(keys)) == 180
    bad = quarantined(documents)
    assert len(bad) == 20
    assert len(keys) + len(bad) == 200
    assert all(q["reason"] and json.loads(q["payload"])["body"] for q in bad)

    table = staging(env)
    assert len(table) == table["event_key"].nunique() == 180
    assert set(table["event_key"]) == set(keys)
    assert stomp_resource().pending(wait_seconds=1) == 0


def test_consumer_killed_after_write_before_ack_gets_the_batch_again_without_duplicates(
    env: dict[str, str],
    stomp: StompResource,
    instance: DagsterInstance,
    documents: Any,
    tmp_path: Path,
) -> None:
    events = generate_events(60, invalid_share=0.1, seed=21)
    valid = {key_of(e.body) for e in events if e.valid}
    stomp.publish(e.body for e in events)

    marker = tmp_path / "written-not-acked"
    with killed_before_ack(marker, tmp_path / "consumer.log"):
        # Written, not acknowledged: every valid event is in the store already.
        assert marker.read_text() == "60"
        assert set(raw_keys(documents)) == valid
        assert len(quarantined(documents)) == 6

    # The broker delivers the unacknowledged batch again; the upsert makes it a no-op.
    result = run_job(instance)
    meta = materialization(result, RAW)
    assert meta is not None
    assert meta["messages_received"] == 60
    assert meta["documents_inserted"] == 0
    assert meta["documents_unchanged"] == 54
    keys = raw_keys(documents)
    assert len(keys) == 54 and set(keys) == valid
    assert len(quarantined(documents)) == 6
    assert len(staging(env)) == 54
    # This time it was acknowledged, after the write (the observation follows the output).
    assert_acknowledged_and_drained(result, 60, stomp, instance)


def test_killed_between_batches_the_acknowledged_batch_stays_and_the_written_one_comes_back(
    env: dict[str, str],
    stomp: StompResource,
    instance: DagsterInstance,
    documents: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run of several batches killed after the second batch's write and before its ACK: the
    first batch (acknowledged) is never delivered again, the second comes back and changes
    nothing, the rest follows."""
    monkeypatch.setenv("STOMP_PREFETCH", "20")
    events = generate_events(50, invalid_share=0.0, seed=23)
    stomp.publish(e.body for e in events)
    marker = tmp_path / "second-written-not-acked"
    with killed_before_ack(marker, tmp_path / "consumer.log", "--after-acks", "1"):
        assert marker.read_text() == "20"
        assert set(raw_keys(documents)) == {key_of(e.body) for e in events[:40]}

    result = run_job(instance)
    meta = materialization(result, RAW)
    assert meta is not None
    assert (meta["messages_received"], meta["batches"]) == (30, 2)  # the second batch + 10
    assert (meta["documents_unchanged"], meta["documents_inserted"]) == (20, 10)
    assert sorted(raw_keys(documents)) == sorted(key_of(e.body) for e in events)
    assert_acknowledged_and_drained(result, 30, stomp, instance)


def test_events_published_while_no_consumer_runs_survive_a_broker_restart(
    env: dict[str, str],
    stomp: StompResource,
    activemq: ActiveMQBroker,
    instance: DagsterInstance,
    documents: Any,
) -> None:
    before = generate_events(30, invalid_share=0.0, seed=31)
    after = generate_events(10, invalid_share=0.0, seed=32)
    stomp.publish(e.body for e in before)
    activemq.restart()  # tools/activemq.sh stop + start, same KahaDB
    stomp.publish(e.body for e in after)

    result = run_job(instance)
    assert materialization(result, RAW)["messages_received"] == 40
    assert set(raw_keys(documents)) == {key_of(e.body) for e in before + after}
    assert len(staging(env)) == 40
    assert stomp.pending(wait_seconds=1) == 0


VALID_EVENT = {
    "name": "Luíza Araújo Brandão",
    "document": "390.533.447-05",
    "age": "34",
    "sex": "feminino",
    "channel": "WhatsApp",
    "services": {"2": "resultado de exame", "10": "reclamação", "1": "agendar consulta"},
    "date": "02/08/2021 11:35:42",
    "headache": "nao",
    "otherSymptoms": "sim",
    "covidContact": "não",
    "covidTest": "nao",
    "serviceScore": "9",
    "solved": "sim",
}


def event(**changes: Any) -> str:
    body = {**VALID_EVENT, **changes}
    return json.dumps({k: v for k, v in body.items() if v is not None}, ensure_ascii=False)


MALFORMED: dict[str, tuple[str | bytes, str]] = {
    "not JSON": ("name=Luíza;cpf=390.533.447-05", "body is not JSON"),
    "truncated JSON": (event()[:40], "body is not JSON"),
    "not an object": ('["a", "list"]', "body is JSON but not an object"),
    "not UTF-8": (b'{"name": "Lu\xedza"}', "body is not UTF-8 text"),
    "missing fields": (event(document=None, solved=None), "missing fields: document, solved"),
    "impossible date": (event(date="31/02/2021 11:35:42"), "does not exist on the calendar"),
    "date format": (event(date="2021-08-02T11:35:42"), "is not dd/mm/yyyy HH:MM:SS"),
    "invalid CPF": (event(document="390.533.447-06"), "document: CPF check digits do not match"),
    "score": (event(serviceScore="11"), "serviceScore must be a whole number from 0 to 10"),
    "answer": (event(solved="talvez"), "solved must be sim or nao"),
}


def test_malformed_messages_are_quarantined_with_readable_reasons_and_acknowledged(
    env: dict[str, str], stomp: StompResource, instance: DagsterInstance, documents: Any
) -> None:
    stomp.publish([body for body, _ in MALFORMED.values()] + [event()])
    several = event(document="111.111.111-11", age="-3", date="30/02/2021 10:00:00")
    stomp.publish([several])

    result = run_job(instance)
    meta = materialization(result, RAW)
    assert meta["messages_received"] == len(MALFORMED) + 2
    assert meta["documents_inserted"] == 1
    assert meta["documents_quarantined"] == meta["messages_invalid"] == len(MALFORMED) + 1
    assert raw_keys(documents) == [key_of(event())]

    bad = {json.loads(q["payload"])["body"]: q for q in quarantined(documents)}
    for case, (body, reason) in MALFORMED.items():
        text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
        assert text in bad, case
        assert reason in bad[text]["reason"], (case, bad[text]["reason"])
        assert bad[text]["record_id"].startswith("ID:"), case  # the message id
    [not_utf8] = [q for q in bad.values() if "not UTF-8" in q["reason"]]
    assert "body_base64" in json.loads(not_utf8["payload"])
    # One message with several problems names them all.
    reasons = bad[several]["reason"]
    assert "document is one digit repeated" in reasons
    assert "age must be a whole number from 0 to 130, got '-3'" in reasons
    assert "date '30/02/2021 10:00:00' does not exist on the calendar" in reasons

    # Quarantined messages were acknowledged: nothing is pending and a re-run finds nothing.
    assert stomp.pending(wait_seconds=1) == 0
    assert materialization(run_job(instance, first_wait_seconds=1.0), RAW) is None


def test_staging_is_typed_in_utc_and_pseudonymous(
    env: dict[str, str], stomp: StompResource, instance: DagsterInstance, documents: Any
) -> None:
    stomp.publish([event()])
    run_job(instance)
    # The same event published again (a producer retry, keys in another order) stays one
    # document and one row; the document now names the latest message.
    stomp.publish([json.dumps(dict(reversed(list(VALID_EVENT.items()))), ensure_ascii=False)])
    second = run_job(instance)
    assert materialization(second, RAW)["documents_inserted"] == 0

    [raw] = list(documents["raw_service_events"].find({}, {"_id": 0}))
    assert raw["cpf"] == "39053344705" and raw["payload"] == VALID_EVENT
    assert raw["occurred_at"] == datetime(2021, 8, 2, 14, 35, 42, tzinfo=UTC)

    table = staging(env)
    assert len(table) == 1
    row = table.iloc[0]
    assert row["occurred_at"] == pd.Timestamp("2021-08-02 14:35:42", tz="UTC")
    assert row["source_time_zone"] == "America/Sao_Paulo"
    assert row["customer_key"] == customer_key("390.533.447-05", PSEUDONYM_KEY)
    assert row["customer_key"] != customer_key("390.533.447-05", SANDBOX_PSEUDONYM_KEY)
    # A list column, not JSON text.
    assert list(row["services"]) == ["agendar consulta", "resultado de exame", "reclamação"]
    with duckdb.connect(env["SUPPORT_DUCKDB_PATH"], read_only=True) as con:
        (services_type,) = con.execute(
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_schema = 'staging' AND table_name = 'service_events' "
            "AND column_name = 'services'"
        ).fetchone()
    assert services_type == "VARCHAR[]"
    assert row["service_count"] == 3
    assert (row["age"], row["sex"], row["channel"], row["service_score"]) == (
        34,
        "feminino",
        "whatsapp",
        9,
    )
    answers = ["headache", "other_symptoms", "covid_contact", "solved"]
    assert [bool(row[c]) for c in answers] == [False, True, False, True]
    assert row["covid_test_result"] == "nao_testado"
    assert str(table["solved"].dtype) == "bool"
    # No CPF and no name outside the raw layer.
    assert not {"cpf", "document", "name"} & set(table.columns)
    text = " ".join(str(v) for v in row.to_numpy())
    assert not re.search(r"390\.?533\.?447-?05", text) and "Luíza" not in text
    checks = second.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks)


#: covidTest as real attendance systems send it -> the result staging keeps (None: absent).
COVID_TEST_SPELLINGS = {
    "negativo": "negativo",
    "Negativo": "negativo",
    "NEGATIVO": "negativo",
    "positivo": "positivo",
    "Positivo": "positivo",
    "não testado": "nao_testado",
    "NÃO TESTADO": "nao_testado",
    "nao_testado": "nao_testado",
    None: "nao_testado",
}


def test_each_covid_test_result_lands_in_staging_and_none_is_quarantined_for_it(
    env: dict[str, str], stomp: StompResource, instance: DagsterInstance, documents: Any
) -> None:
    """One event per spelling, each a different attendance (its services say which spelling);
    plus a yes/no ``sim``, which names no result and is the only one quarantined."""
    bodies = {
        spelling: event(covidTest=spelling, services={"1": f"caso {n}"})
        for n, spelling in enumerate(COVID_TEST_SPELLINGS)
    }
    assert "covidTest" not in json.loads(bodies[None])
    not_a_result = event(covidTest="sim", services={"1": "sem resultado"})
    stomp.publish([*bodies.values(), not_a_result])

    meta = materialization(run_job(instance), RAW)
    assert meta["messages_received"] == len(bodies) + 1
    assert meta["documents_inserted"] == len(bodies)
    [refused] = quarantined(documents)
    assert json.loads(refused["payload"])["body"] == not_a_result
    assert "covidTest must be a test result" in refused["reason"]

    table = staging(env).set_index("event_key")
    assert len(table) == len(bodies)
    for spelling, body in bodies.items():
        assert table.loc[key_of(body), "covid_test_result"] == COVID_TEST_SPELLINGS[spelling]
    assert set(table["covid_test_result"]) == {"negativo", "positivo", "nao_testado"}


def test_a_failed_write_acknowledges_nothing(
    env: dict[str, str], stomp: StompResource, instance: DagsterInstance, documents: Any
) -> None:
    """The documents store refuses the batch (a unique index on another key): the run fails,
    nothing is acknowledged, and the next run, once the store is fixed, gets every message."""
    events = generate_events(25, invalid_share=0.0, seed=41)
    stomp.publish(e.body for e in events)
    documents["raw_service_events"].create_index("message_id", unique=True, name="primary_key")

    failed = run_job(instance, raise_on_error=False)
    assert not failed.success
    assert raw_keys(documents) == []
    assert stomp.pending(wait_seconds=5) == 25

    documents["raw_service_events"].drop_index("primary_key")
    result = run_job(instance)
    assert materialization(result, RAW)["documents_inserted"] == 25
    assert set(raw_keys(documents)) == {key_of(e.body) for e in events}


def test_sensor_requests_a_run_only_when_messages_are_pending(
    env: dict[str, str], stomp: StompResource, instance: DagsterInstance
) -> None:
    def tick() -> RunRequest | SkipReason:
        with build_sensor_context(instance=instance, resources={"stomp": stomp}) as context:
            return service_events_sensor(context)

    idle = tick()
    assert isinstance(idle, SkipReason)
    assert "no service events pending" in idle.skip_message
    assert env["STOMP_SUBSCRIPTION_NAME"] in idle.skip_message

    stomp.publish(e.body for e in generate_events(3, invalid_share=0.0, seed=51))
    busy = tick()
    assert isinstance(busy, RunRequest)
    assert busy.tags["support_assets/pending"] == "3"
    # Looking did not consume anything: the run gets all three.
    result = run_job(instance)
    assert materialization(result, RAW)["messages_received"] == 3

    after = tick()
    assert isinstance(after, SkipReason) and "no service events pending" in after.skip_message

    with stomp.consumer():  # a run holding the subscription right now
        held = tick()
    assert isinstance(held, SkipReason) and "a consumer is running" in held.skip_message

    stomp.publish(e.body for e in generate_events(2, invalid_share=0.0, seed=52))
    job = build_definitions().resolve_job_def("service_events_job")
    queued = instance.create_run_for_job(job_def=job)  # not started yet: still in flight
    waiting = tick()
    assert isinstance(waiting, SkipReason)
    assert f"run {queued.run_id} is still consuming" in waiting.skip_message


def test_sensor_skips_with_the_reason_when_the_broker_does_not_answer(
    env: dict[str, str], instance: DagsterInstance
) -> None:
    down = StompResource(host="127.0.0.1", port=1, client_id="x", subscription_name="y")
    with build_sensor_context(instance=instance, resources={"stomp": down}) as context:
        result = service_events_sensor(context)
    assert isinstance(result, SkipReason)
    assert "127.0.0.1:1" in result.skip_message


def test_no_broker_fails_the_run_only_when_one_is_configured(
    env: dict[str, str], instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOMP_PORT", "1")  # nothing listens there
    configured = run_job(instance, raise_on_error=False)
    assert not configured.success
    failure = next(e for e in configured.all_events if e.is_step_failure)
    assert "cannot connect to the STOMP broker at 127.0.0.1:1" in (
        failure.event_specific_data.error.to_string()
    )

    monkeypatch.delenv("STOMP_HOST")  # the local default: say so and consume nothing
    local = run_job(instance, raise_on_error=False)
    assert local.success
    assert materialization(local, RAW) is None and materialization(local, STAGING) is None


def test_a_batch_with_poison_messages_lands_the_rest_and_is_acknowledged(
    env: dict[str, str], stomp: StompResource, instance: DagsterInstance, documents: Any
) -> None:
    """Poison among good events: the good ones land, each poison message is quarantined whole
    with its reason, the batch is acknowledged, and the next run finds nothing pending."""
    events = generate_events(20, invalid_share=0.0, seed=41)
    good = json.loads(events[0].body)
    poison = [
        '{"age": ' + "9" * 5000 + "}",  # int() refuses more than 4300 digits
        json.dumps({**good, "services": {"²": "agendar consulta"}}, ensure_ascii=False),
        "[" * 50_000 + "]" * 50_000,  # RecursionError in the JSON decoder
    ]
    bodies = [e.body for e in events[:10]] + poison + [e.body for e in events[10:]]
    stomp.publish(bodies)

    result = run_job(instance)
    assert result.success
    meta = materialization(result, RAW)
    assert meta is not None and meta["messages_received"] == 23
    assert set(raw_keys(documents)) == {key_of(e.body) for e in events}
    bad = quarantined(documents)
    assert sorted(json.loads(q["payload"])["body"] for q in bad) == sorted(poison)
    assert all(q["reason"] for q in bad)
    assert_acknowledged_and_drained(result, 23, stomp, instance)
