"""Attendance events as the attendance system publishes them, for the demo and the tests.

One event per service: a JSON object whose values are all strings, as in the original design::

    {"name": "Luíza Araújo", "document": "390.533.447-05", "age": "34", "sex": "feminino",
     "channel": "whatsapp", "services": {"1": "agendar consulta", "2": "resultado de exame"},
     "date": "02/08/2021 11:35:42", "headache": "nao", "otherSymptoms": "sim",
     "covidContact": "nao", "covidTest": "negativo", "serviceScore": "9", "solved": "sim"}

``covidTest`` is a test result in the spellings a real attendance system sends (``Negativo``,
``POSITIVO``, ``não testado``, ``nao_testado``...), or absent when no test was done.

``generate_events`` makes ``count`` distinct bodies from a seed, a share of them broken on
purpose in one of the ways ``DEFECTS`` lists (each says what the platform must quarantine).
Dates are local times in America/Sao_Paulo within the week before ``now``.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from support_assets.sandbox.octadesk_data import FIRST_NAMES, LAST_NAMES, valid_cpf

SAO_PAULO = ZoneInfo("America/Sao_Paulo")

CHANNELS = ("telefone", "whatsapp", "chat", "presencial", "e-mail")
SEXES = ("feminino", "masculino")
SERVICES = (
    "agendar consulta",
    "remarcar consulta",
    "cancelar consulta",
    "resultado de exame",
    "segunda via de boleto",
    "autorização de procedimento",
    "dúvida sobre cobertura",
    "orientação sobre sintomas",
    "atualização cadastral",
    "reclamação",
)
ANSWER_FIELDS = ("headache", "otherSymptoms", "covidContact")
#: Spellings of each COVID test result; ``None`` leaves the field out (not tested).
COVID_TEST_SPELLINGS = {
    "negativo": ("negativo", "Negativo", "NEGATIVO", " negativo "),
    "positivo": ("positivo", "Positivo", "POSITIVO"),
    "nao_testado": ("nao_testado", "não testado", "Não Testado", "NAO TESTADO", None),
}
#: Fields whose absence the platform refuses (``covidTest`` may be absent).
REQUIRED_FIELDS = (
    "name",
    "document",
    "age",
    "sex",
    "channel",
    "services",
    "date",
    *ANSWER_FIELDS,
    "serviceScore",
    "solved",
)

#: The ways an event is broken on purpose, and what each one is.
DEFECTS = {
    "invalid_cpf": "the CPF's check digits do not match",
    "impossible_date": "a date that does not exist (31 February, month 13, 25 o'clock)",
    "score_out_of_range": "a service score outside 0-10",
    "missing_field": "a required field is absent",
    "not_json": "the body is not JSON",
    "bad_answer": "solved or a symptom answer that is neither sim nor nao",
    "bad_covid_test": "a covidTest that is not a test result (sim, talvez, inconclusivo)",
}


@dataclass(frozen=True)
class GeneratedEvent:
    """A message body, and whether the platform must accept it (``defect`` says why not)."""

    body: str
    valid: bool
    defect: str | None = None


def event_payload(rng: random.Random, now: datetime) -> dict:
    """One valid attendance, every value a string."""
    services = rng.sample(SERVICES, k=rng.choice((1, 1, 1, 2, 2, 3)))
    local = (now - timedelta(seconds=rng.randint(60, 7 * 24 * 3600))).astimezone(SAO_PAULO)
    symptomatic = rng.random() < 0.3
    covid_test = rng.choices(tuple(COVID_TEST_SPELLINGS), weights=(6, 1, 3))[0]
    payload = {
        "name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)} {rng.choice(LAST_NAMES)}",
        "document": valid_cpf(rng),
        "age": str(rng.randint(0, 95)),
        "sex": rng.choice(SEXES),
        "channel": rng.choice(CHANNELS),
        "services": {str(i): s for i, s in enumerate(services, start=1)},
        "date": local.strftime("%d/%m/%Y %H:%M:%S"),
        "headache": "sim" if symptomatic and rng.random() < 0.6 else "nao",
        "otherSymptoms": "sim" if symptomatic and rng.random() < 0.5 else "nao",
        "covidContact": "sim" if rng.random() < 0.1 else "nao",
        "covidTest": rng.choice(COVID_TEST_SPELLINGS[covid_test]),
        "serviceScore": str(rng.choices(range(11), weights=(1, 1, 1, 1, 2, 3, 4, 6, 8, 8, 7))[0]),
        "solved": "sim" if rng.random() < 0.8 else "nao",
    }
    return {k: v for k, v in payload.items() if v is not None}


def break_event(payload: dict, defect: str, rng: random.Random) -> str:
    """The body of ``payload`` broken in the way ``defect`` names."""
    event = dict(payload)
    if defect == "invalid_cpf":
        digits = event["document"]
        event["document"] = digits[:-1] + str((int(digits[-1]) + rng.randint(1, 9)) % 10)
    elif defect == "impossible_date":
        year, time = event["date"][6:10], event["date"][11:]
        event["date"] = rng.choice(
            (f"31/02/{year} {time}", f"15/13/{year} {time}", f"{event['date'][:10]} 25:10:00")
        )
    elif defect == "score_out_of_range":
        event["serviceScore"] = rng.choice(("11", "-1", "42"))
    elif defect == "missing_field":
        del event[rng.choice(REQUIRED_FIELDS)]
    elif defect == "bad_answer":
        event[rng.choice(("solved", *ANSWER_FIELDS))] = rng.choice(("talvez", "", "yes"))
    elif defect == "bad_covid_test":
        event["covidTest"] = rng.choice(("sim", "talvez", "inconclusivo"))
    elif defect == "not_json":
        text = json.dumps(event, ensure_ascii=False)
        return rng.choice((text[: len(text) // 2], f"name={event['name']};cpf={event['document']}"))
    else:
        raise ValueError(f"unknown defect {defect!r}; one of {sorted(DEFECTS)}")
    return json.dumps(event, ensure_ascii=False)


def generate_events(
    count: int,
    invalid_share: float = 0.1,
    seed: int | None = None,
    now: datetime | None = None,
) -> list[GeneratedEvent]:
    """``count`` distinct event bodies; ``round(count * invalid_share)`` of them broken."""
    if count < 0:
        raise ValueError("count must be >= 0")
    if not 0 <= invalid_share <= 1:
        raise ValueError("invalid_share must be between 0 and 1")
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    broken = set(rng.sample(range(count), k=round(count * invalid_share)))
    defects = sorted(DEFECTS)
    events: list[GeneratedEvent] = []
    seen: set[str] = set()
    for i in range(count):
        while True:
            payload = event_payload(rng, now)
            if i in broken:
                defect = defects[len(events) % len(defects)] if rng.random() < 0.5 else None
                defect = defect or rng.choice(defects)
                event = GeneratedEvent(break_event(payload, defect, rng), False, defect)
            else:
                event = GeneratedEvent(json.dumps(payload, ensure_ascii=False), True)
            if event.body not in seen:  # every message distinct, so counts add up exactly
                seen.add(event.body)
                events.append(event)
                break
    return events
