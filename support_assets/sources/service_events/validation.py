"""Service-event validation: a broker message to a typed event document, or the reasons not.

Every problem in a message is named (``; `` between), and whatever a validator raises
quarantines that one message, never the batch. Quarantined messages keep their body exactly as
received (base64 too when it is not UTF-8).
"""

import base64
import json
import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from support_assets.core.identity import PERSON, document_or_reason
from support_assets.core.records import InvalidRecord
from support_assets.io_managers.documents import DocumentBatch, QuarantinedDocument, payload_sha256
from support_assets.sources.service_events.stomp import ReceivedMessage

SOURCE_TIME_ZONE = "America/Sao_Paulo"
_SAO_PAULO = ZoneInfo(SOURCE_TIME_ZONE)
_DATE = re.compile(r"^(\d{2})/(\d{2})/(\d{4}) (\d{2}):(\d{2}):(\d{2})$")
_WHOLE = re.compile(r"^[+-]?[0-9]{1,6}$")
#: Nesting a body may have: Telegram-like payloads are shallow; MongoDB refuses past 100 levels.
MAX_BODY_DEPTH = 32

REQUIRED_FIELDS = (
    "name",
    "document",
    "age",
    "sex",
    "channel",
    "services",
    "date",
    "headache",
    "otherSymptoms",
    "covidContact",
    "serviceScore",
    "solved",
)
#: Yes/no answers: source field -> column.
ANSWERS = {
    "headache": "headache",
    "otherSymptoms": "other_symptoms",
    "covidContact": "covid_contact",
}
#: ``covidTest`` is a test result, not a yes/no answer; absent means not tested.
COVID_TEST_FIELD = "covidTest"
COVID_TEST_COLUMN = "covid_test_result"
COVID_TEST_RESULTS = ("negativo", "positivo", "nao_testado")
#: Spellings seen for each result, compared without accents, case, ``_``/``-`` or extra spaces.
_COVID_TEST_SPELLINGS = {
    "negativo": "negativo",
    "neg": "negativo",
    "nao reagente": "negativo",
    "nao detectado": "negativo",
    "positivo": "positivo",
    "pos": "positivo",
    "reagente": "positivo",
    "detectado": "positivo",
    "nao testado": "nao_testado",
    "nao realizado": "nao_testado",
    "nao fez": "nao_testado",
    "nao": "nao_testado",
    "": "nao_testado",
}
_YES = {"sim", "s"}
_NO = {"nao", "não", "n"}
_SEXES = {
    "f": "feminino",
    "feminino": "feminino",
    "m": "masculino",
    "masculino": "masculino",
    "outro": "outro",
    "nao informado": "nao_informado",
    "não informado": "nao_informado",
}
MAX_AGE = 130


def parse_local_time(value: Any) -> datetime:
    """``dd/mm/yyyy HH:MM:SS`` in America/Sao_Paulo, as an aware UTC datetime.

    Refused: any other shape, dates and times that do not exist on the calendar, and local
    times skipped by a daylight-saving change (Brazil had one until 2019). A time repeated when
    daylight saving ended is read as its first occurrence.
    """
    match = _DATE.match(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidRecord(f"date {value!r} is not dd/mm/yyyy HH:MM:SS")
    day, month, year, hour, minute, second = (int(g) for g in match.groups())
    try:
        naive = datetime(year, month, day, hour, minute, second)
    except ValueError:
        raise InvalidRecord(f"date {value!r} does not exist on the calendar") from None
    utc = naive.replace(tzinfo=_SAO_PAULO).astimezone(UTC)
    if utc.astimezone(_SAO_PAULO).replace(tzinfo=None) != naive:
        raise InvalidRecord(f"date {value!r} was skipped by a daylight-saving change in São Paulo")
    return utc


def _answer(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    text = value.strip().casefold() if isinstance(value, str) else None
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise InvalidRecord(f"{field} must be sim or nao, got {value!r}")


def _folded(text: str) -> str:
    """``text`` without accents, case, ``_``/``-`` and repeated spaces: ``Não_Testado`` ->
    ``nao testado``."""
    bare = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(bare.casefold().replace("_", " ").replace("-", " ").split())


def covid_test_result(value: Any) -> str:
    """One of ``COVID_TEST_RESULTS`` for a ``covidTest`` value; absent (None) is ``nao_testado``.

    ``sim`` is refused: it says a test was done, not its result, and guessing one would be
    worse than a quarantine row a person can read.
    """
    if value is None:
        return "nao_testado"
    result = _COVID_TEST_SPELLINGS.get(_folded(value)) if isinstance(value, str) else None
    if result is None:
        raise InvalidRecord(
            f"{COVID_TEST_FIELD} must be a test result ({', '.join(COVID_TEST_RESULTS)}), "
            f"got {value!r}"
        )
    return result


def _whole(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _WHOLE.match(value.strip()):
        number = int(value.strip())
    else:
        raise InvalidRecord(f"{field} must be a whole number from {low} to {high}, got {value!r}")
    if not low <= number <= high:
        raise InvalidRecord(f"{field} must be a whole number from {low} to {high}, got {value!r}")
    return number


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRecord(f"{field} must be non-empty text, got {value!r}")
    return " ".join(value.split())


def _services(value: Any) -> list[str]:
    """``{"1": "agendar consulta", "2": ...}`` in key order (or a list) as a list of names."""
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) and _WHOLE.match(k.strip()) for k in value):
            raise InvalidRecord(f"services keys must be numbers, got {sorted(value)!r}")
        items = [value[k] for k in sorted(value, key=lambda k: int(k))]
    elif isinstance(value, list):
        items = value
    else:
        raise InvalidRecord(f"services must be an object of numbered services, got {value!r}")
    if not all(isinstance(s, str) and s.strip() for s in items):
        raise InvalidRecord(f"every service must be non-empty text, got {items!r}")
    return [" ".join(s.split()) for s in items]


def validate_event(payload: Any) -> dict[str, Any]:
    """The typed event, or ``InvalidRecord`` naming every problem found (``; `` between)."""
    if not isinstance(payload, Mapping):
        raise InvalidRecord(f"body is JSON but not an object: {type(payload).__name__}")
    reasons: list[str] = []
    missing = [f for f in REQUIRED_FIELDS if payload.get(f) is None]
    if missing:
        reasons.append(f"missing fields: {', '.join(missing)}")
    event: dict[str, Any] = {}

    def field(name: str, parse: Any) -> None:
        if name in missing:
            return
        try:
            event.update(parse(payload[name]))
        except InvalidRecord as exc:
            reasons.append(str(exc))

    def cpf(value: Any) -> dict[str, Any]:
        document, reason = document_or_reason(value, hint=PERSON)
        if document is None:
            raise InvalidRecord(f"document: {reason}")
        if not document.is_person:
            raise InvalidRecord("document is a CNPJ; an attendance needs the person's CPF")
        return {"cpf": document.number}

    def sex(value: Any) -> dict[str, Any]:
        key = " ".join(value.split()).casefold() if isinstance(value, str) else None
        if key not in _SEXES:
            raise InvalidRecord(
                f"sex must be feminino, masculino, outro or nao informado: {value!r}"
            )
        return {"sex": _SEXES[key]}

    field("name", lambda v: {"name": _text(v, "name")})
    field("document", cpf)
    field("age", lambda v: {"age": _whole(v, "age", 0, MAX_AGE)})
    field("sex", sex)
    field("channel", lambda v: {"channel": _text(v, "channel").casefold()})
    field("services", lambda v: {"services": _services(v)})
    field("date", lambda v: {"occurred_at": parse_local_time(v)})
    for source, column in ANSWERS.items():
        field(source, lambda v, s=source, c=column: {c: _answer(v, s)})
    try:
        event[COVID_TEST_COLUMN] = covid_test_result(payload.get(COVID_TEST_FIELD))
    except InvalidRecord as exc:
        reasons.append(str(exc))
    field("serviceScore", lambda v: {"service_score": _whole(v, "serviceScore", 0, 10)})
    field("solved", lambda v: {"solved": _answer(v, "solved")})
    if reasons:
        raise InvalidRecord("; ".join(reasons))
    return event


def _body_text(message: ReceivedMessage) -> tuple[str, bool]:
    try:
        return message.body.decode("utf-8"), True
    except UnicodeDecodeError:
        return message.body.decode("utf-8", errors="replace"), False


def quarantine_payload(message: ReceivedMessage) -> dict[str, Any]:
    """The message as received: its body exactly (base64 too when it is not UTF-8), its id and
    when the broker got it. A redelivery carries the same, so it stays one quarantine entry."""
    text, utf8 = _body_text(message)
    payload: dict[str, Any] = {
        "body": text,
        "message_id": message.message_id,
        "destination": message.destination,
        "published_at": message.published_at.isoformat() if message.published_at else None,
    }
    if not utf8:
        payload["body_base64"] = base64.b64encode(message.body).decode()
    return payload


def json_depth(value: Any, limit: int) -> int:
    """How deeply ``value`` nests (a scalar is 0), counted without recursion up to ``limit + 1``."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping | list):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            stack.extend(
                (child, depth) for child in (item.values() if isinstance(item, Mapping) else item)
            )
    return deepest


def event_document(message: ReceivedMessage) -> dict[str, Any]:
    """The raw document of one message, or ``InvalidRecord`` with the reasons."""
    text, utf8 = _body_text(message)
    if not utf8:
        raise InvalidRecord("body is not UTF-8 text")
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRecord(
            f"body is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise InvalidRecord("body is not JSON this reader can take: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise InvalidRecord(f"body is not JSON this reader can take: {exc}") from None
    # Each level opens a bracket: a body with few brackets cannot nest too deeply.
    brackets = text.count("{") + text.count("[")
    if brackets > MAX_BODY_DEPTH and json_depth(payload, MAX_BODY_DEPTH) > MAX_BODY_DEPTH:
        raise InvalidRecord(f"body nests deeper than {MAX_BODY_DEPTH} levels")
    typed = validate_event(payload)
    return {
        "event_key": payload_sha256(payload),
        "message_id": message.message_id,
        "published_at": message.published_at,
        "source_time_zone": SOURCE_TIME_ZONE,
        **typed,
        "payload": payload,
    }


def validate_messages(messages: list[ReceivedMessage]) -> DocumentBatch:
    """Valid events for the collection, the rest for quarantine (reason + original message).

    Whatever validating one message raises quarantines that message, never the batch: a poison
    message that failed the run would stay unacknowledged and block every later run."""
    batch = DocumentBatch()
    for message in messages:
        try:
            batch.valid.append(event_document(message))
        except InvalidRecord as exc:
            reason = str(exc)
        except Exception as exc:  # noqa: BLE001 - anything a validator raises is a reason
            reason = f"could not be validated ({type(exc).__name__}): {str(exc)[:300]}"
        else:
            continue
        batch.quarantined.append(
            QuarantinedDocument(reason, quarantine_payload(message), message.message_id)
        )
    return batch
