"""The service-event model, without a broker: what is accepted, how it is typed, and the readable
reason for everything that is refused. The generator's broken events are all refused, its valid
ones all accepted."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from support_assets.core.identity import PseudonymResource
from support_assets.core.records import InvalidRecord
from support_assets.sandbox.service_events import DEFECTS, generate_events
from support_assets.sources.service_events.staging import staging_row
from support_assets.sources.service_events.stomp import ReceivedMessage
from support_assets.sources.service_events.validation import (
    COVID_TEST_RESULTS,
    covid_test_result,
    event_document,
    parse_local_time,
    validate_event,
    validate_messages,
)

EVENT = {
    "name": "  José   Conceição ",
    "document": "390.533.447-05",
    "age": "7",
    "sex": "M",
    "channel": " Telefone ",
    "services": {"1": "agendar consulta"},
    "date": "15/01/2024 08:00:00",
    "headache": "SIM",
    "otherSymptoms": "n",
    "covidContact": False,
    "covidTest": "não",
    "serviceScore": 0,
    "solved": "nao",
}


def message(body: str | bytes, n: int = 1) -> ReceivedMessage:
    raw = body.encode() if isinstance(body, str) else body
    headers = {"message-id": f"ID:test-{n}", "ack": f"a-{n}", "timestamp": "1700000000000"}
    return ReceivedMessage(body=raw, headers=headers)


def test_a_valid_event_is_typed() -> None:
    event = validate_event(EVENT)
    assert event == {
        "name": "José Conceição",
        "cpf": "39053344705",
        "age": 7,
        "sex": "masculino",
        "channel": "telefone",
        "services": ["agendar consulta"],
        "occurred_at": datetime(2024, 1, 15, 11, 0, tzinfo=UTC),
        "headache": True,
        "other_symptoms": False,
        "covid_contact": False,
        "covid_test_result": "nao_testado",
        "service_score": 0,
        "solved": False,
    }


@pytest.mark.parametrize(
    ("local", "utc"),
    [
        ("02/08/2021 11:35:42", datetime(2021, 8, 2, 14, 35, 42, tzinfo=UTC)),
        ("31/12/2023 23:59:59", datetime(2024, 1, 1, 2, 59, 59, tzinfo=UTC)),
        # Summer time (until 2019): UTC-2.
        ("15/01/2019 12:00:00", datetime(2019, 1, 15, 14, 0, tzinfo=UTC)),
        # 16/02/2019 23:30 happened twice when summer time ended: the first one (UTC-2).
        ("16/02/2019 23:30:00", datetime(2019, 2, 17, 1, 30, tzinfo=UTC)),
    ],
)
def test_dates_are_sao_paulo_local_times(local: str, utc: datetime) -> None:
    assert parse_local_time(local) == utc


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("29/02/2023 10:00:00", "does not exist on the calendar"),
        ("10/10/2023 24:00:00", "does not exist on the calendar"),
        ("2023-10-10 10:00:00", "is not dd/mm/yyyy HH:MM:SS"),
        ("1/2/2023 10:00:00", "is not dd/mm/yyyy HH:MM:SS"),
        (20231010, "is not dd/mm/yyyy HH:MM:SS"),
        # Summer time began at midnight on 04/11/2018: 00:30 never happened in São Paulo.
        ("04/11/2018 00:30:00", "skipped by a daylight-saving change"),
    ],
)
def test_impossible_dates_are_refused(value: object, reason: str) -> None:
    with pytest.raises(InvalidRecord, match=reason):
        parse_local_time(value)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"document": "390.533.447-00"}, "document: CPF check digits do not match"),
        ({"document": "11.222.333/0001-81"}, "document is a CNPJ"),
        ({"document": ""}, "document: document is missing"),
        ({"age": "7.5"}, "age must be a whole number from 0 to 130"),
        ({"age": "131"}, "age must be a whole number from 0 to 130"),
        ({"sex": "x"}, "sex must be feminino, masculino, outro or nao informado"),
        ({"channel": " "}, "channel must be non-empty text"),
        ({"services": "agendar"}, "services must be an object of numbered services"),
        ({"services": {"a": "agendar"}}, "services keys must be numbers"),
        ({"services": {"1": ""}}, "every service must be non-empty text"),
        ({"headache": "talvez"}, "headache must be sim or nao"),
        ({"serviceScore": "10.0"}, "serviceScore must be a whole number from 0 to 10"),
        ({"serviceScore": True}, "serviceScore must be a whole number from 0 to 10"),
        ({"solved": "yes"}, "solved must be sim or nao"),
        ({"covidTest": "sim"}, "covidTest must be a test result (negativo, positivo, nao_testado)"),
        ({"covidTest": "inconclusivo"}, "covidTest must be a test result"),
        ({"covidTest": True}, "covidTest must be a test result"),
        ({"name": None, "date": None}, "missing fields: name, date"),
    ],
)
def test_each_problem_has_a_readable_reason(changes: dict, reason: str) -> None:
    with pytest.raises(InvalidRecord) as caught:
        validate_event({**EVENT, **changes})
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    ("value", "result"),
    [
        ("negativo", "negativo"),
        ("Negativo", "negativo"),
        (" NEGATIVO ", "negativo"),
        ("não reagente", "negativo"),
        ("positivo", "positivo"),
        ("POSITIVO", "positivo"),
        ("Reagente", "positivo"),
        ("nao_testado", "nao_testado"),
        ("não testado", "nao_testado"),
        ("Não-Testado", "nao_testado"),
        ("NÃO  TESTADO", "nao_testado"),
        ("não", "nao_testado"),
        ("", "nao_testado"),
        (None, "nao_testado"),
    ],
)
def test_covid_test_is_a_result_in_the_spellings_a_real_system_sends(
    value: str | None, result: str
) -> None:
    assert covid_test_result(value) == result
    payload = {k: v for k, v in {**EVENT, "covidTest": value}.items() if v is not None}
    assert validate_event(payload)["covid_test_result"] == result
    assert result in COVID_TEST_RESULTS


def test_a_raw_document_stored_before_results_were_typed_is_read_from_its_payload() -> None:
    """A document written when covidTest was a yes/no (covid_test: True) stages its result."""
    document = {
        **validate_event({**EVENT, "covidTest": "Positivo"}),
        "event_key": "k",
        "_loaded_at": datetime(2024, 1, 15, tzinfo=UTC),
        "payload": {**EVENT, "covidTest": "Positivo"},
    }
    document.pop("covid_test_result")
    document["covid_test"] = True
    row = staging_row(document, PseudonymResource(key="test-key"))
    assert row["covid_test_result"] == "positivo"
    assert "covid_test" not in row


def test_the_event_key_is_the_canonical_payload_and_ignores_key_order() -> None:
    body = json.dumps(EVENT, ensure_ascii=False)
    reordered = json.dumps(dict(reversed(list(EVENT.items()))))
    spaced = json.dumps(EVENT, indent=2)
    keys = {event_document(message(b, i))["event_key"] for i, b in enumerate([body, reordered])}
    keys.add(event_document(message(spaced, 3))["event_key"])
    assert len(keys) == 1
    changed = json.dumps({**EVENT, "serviceScore": "1"})
    assert event_document(message(changed))["event_key"] not in keys


def test_a_quarantined_message_keeps_its_body_exactly() -> None:
    raw = b"\x00\xffnot text"
    batch = validate_messages([message(raw, 1), message("{oops", 2)])
    assert not batch.valid
    first, second = batch.quarantined
    assert first.reason == "body is not UTF-8 text" and first.record_id == "ID:test-1"
    assert first.payload["body_base64"] == "AP9ub3QgdGV4dA=="
    assert second.payload["body"] == "{oops" and second.reason.startswith("body is not JSON:")
    assert second.payload["published_at"] == "2023-11-14T22:13:20+00:00"


def test_the_generator_breaks_exactly_the_events_it_says() -> None:
    events = generate_events(400, invalid_share=0.25, seed=3)
    tests = {json.loads(e.body).get("covidTest") for e in events if e.valid}
    assert {"Negativo", "POSITIVO", "não testado", None} <= tests  # results, spelled variously
    assert len({e.body for e in events}) == 400
    assert sum(not e.valid for e in events) == 100
    assert {e.defect for e in events if not e.valid} == set(DEFECTS)
    batch = validate_messages([message(e.body, i) for i, e in enumerate(events)])
    accepted = {json.dumps(d["payload"], ensure_ascii=False) for d in batch.valid}
    assert accepted == {e.body for e in events if e.valid}
    assert len(batch.quarantined) == 100


#: Bodies that made the validator raise something other than InvalidRecord (before, the run
#: failed before its acknowledgement, so the broker redelivered them to every later run).
POISON = {
    "a number of 5000 digits": '{"age": ' + "7" * 5000 + "}",
    "an age of 5000 digits as text": json.dumps({**EVENT, "age": "7" * 5000}),
    "a services key that is a superscript digit": json.dumps(
        {**EVENT, "services": {"²": "agendar consulta"}}, ensure_ascii=False
    ),
    "a body nested 100000 deep": "[" * 100_000 + "]" * 100_000,
    "an extra field nested 200 deep": json.dumps(
        {**EVENT, "extra": json.loads("[" * 200 + "]" * 200)}
    ),
}


@pytest.mark.parametrize("name", sorted(POISON))
def test_a_poison_message_is_quarantined_and_the_rest_is_kept(name: str) -> None:
    good = message(json.dumps(EVENT), 1)
    batch = validate_messages([good, message(POISON[name], 2), message(json.dumps(EVENT), 3)])
    assert [d["message_id"] for d in batch.valid] == ["ID:test-1", "ID:test-3"]
    [poison] = batch.quarantined
    assert poison.record_id == "ID:test-2" and poison.reason
    assert poison.payload["body"] == POISON[name]
