"""One parser per response shape: what each source may answer a listing with, in one place.

Real tenants differ from their docs: a list comes bare or wrapped in an envelope
(``{"data": [...], "total": N}``), totals arrive as numbers or strings. Every source declares
here the shapes it accepts; `records_from` (or `Shape.page`) answers the records of a body in one
of them and raises `UnexpectedShape` for anything else, naming the keys and types it saw and
never a value. A JSON object is never iterated as if it were a list of records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Envelope keys real APIs put a list under, in the order they are tried.
COMMON_ENVELOPE_KEYS: tuple[str, ...] = ("data", "items", "results", "lista", "value", "tickets")
#: Keys an envelope reports the listing's total under.
COMMON_TOTAL_KEYS: tuple[str, ...] = ("total", "total_count", "totalItems", "@odata.count")

_MAX_KEYS_SHOWN = 20
_MAX_KEY_LENGTH = 40


class SourceContractError(Exception):
    """A source answered something the platform cannot trust; the run must not write it."""


class TotalShortfall(SourceContractError):
    """Fewer distinct records than the source's own total, beyond what changed during the run."""


class UnexpectedShape(SourceContractError):
    """A response body in a shape the source's declaration does not accept."""

    def __init__(self, source: str, shape: str, expected: str) -> None:
        super().__init__(f"{source} answered {shape}; expected {expected}")
        self.source = source
        self.shape = shape
        self.expected = expected


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return f"list[{len(value)}]"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _key_name(key: Any) -> str:
    text = str(key)
    return text if len(text) <= _MAX_KEY_LENGTH else text[: _MAX_KEY_LENGTH - 1] + "…"


def describe_shape(body: Any) -> str:
    """Keys and types of a body, one level deep, never a value: ``object{data: object, ...}``."""
    if isinstance(body, dict):
        keys = list(body)
        shown = [f"{_key_name(k)}: {_type_name(body[k])}" for k in keys[:_MAX_KEYS_SHOWN]]
        if len(keys) > _MAX_KEYS_SHOWN:
            shown.append(f"… {len(keys) - _MAX_KEYS_SHOWN} more keys")
        return "object{" + ", ".join(shown) + "}"
    if isinstance(body, list):
        kinds = sorted({_type_name(item).split("[")[0] for item in body})
        return f"list[{len(body)}] of {'|'.join(kinds) or 'nothing'}"
    return _type_name(body)


def _as_total(value: Any) -> int | None:
    """A reported total as an int: a JSON number or a string of digits; anything else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


@dataclass(frozen=True)
class Page:
    """The records of one response and the total it reported, if any."""

    records: list[Any]
    total: int | None = None
    envelope_key: str | None = None


@dataclass(frozen=True)
class Shape:
    """The shapes one source's listing may take: a bare list and/or a list under a known key.

    Elements are returned as received: an element that is not an object is the asset's to
    quarantine with its payload, so one bad record never hides the rest.
    """

    source: str
    envelope_keys: tuple[str, ...] = COMMON_ENVELOPE_KEYS
    bare_list: bool = True
    total_keys: tuple[str, ...] = COMMON_TOTAL_KEYS

    def expected(self) -> str:
        forms = ["a list"] if self.bare_list else []
        if self.envelope_keys:
            forms.append("an object with a list under " + " or ".join(self.envelope_keys))
        return " or ".join(forms) or "nothing (no shape declared)"

    def page(self, body: Any) -> Page:
        """The records of ``body`` and its envelope's total; `UnexpectedShape` otherwise."""
        if isinstance(body, list):
            if self.bare_list:
                return Page(body)
        elif isinstance(body, dict):
            present = [k for k in self.envelope_keys if k in body]
            if len(present) == 1 and isinstance(body[present[0]], list):
                key = present[0]
                total = next(
                    (t for t in (_as_total(body.get(k)) for k in self.total_keys) if t is not None),
                    None,
                )
                return Page(body[key], total, key)
        raise UnexpectedShape(self.source, describe_shape(body), self.expected())

    def records(self, body: Any) -> list[Any]:
        """The records of ``body``; `UnexpectedShape` if it is in no accepted shape."""
        return self.page(body).records


def records_from(
    body: Any,
    *,
    source: str,
    envelope_keys: tuple[str, ...] = COMMON_ENVELOPE_KEYS,
    bare_list: bool = True,
) -> list[Any]:
    """The records of a listing answer: a bare list, or the list under one of ``envelope_keys``.

    Raises `UnexpectedShape` naming the keys and types found when the body is anything else: an
    object without exactly one of those keys holding a list, a scalar, a list where only an
    envelope is accepted.
    """
    return Shape(source, envelope_keys, bare_list).page(body).records


def reconcile_total(
    source: str, reported: int | None, distinct: int, changed_during_run: int = 0
) -> dict[str, Any]:
    """Compares the distinct records fetched with the total the source reported.

    Answers metadata with both numbers; raises `TotalShortfall` when fewer were fetched than
    reported by more than the records that changed while the run read (those may shift pages).
    A source that reports no total is said so in the metadata, not guessed.
    """
    if reported is None:
        return {"total_reported": "not reported", "distinct_fetched": distinct}
    shortfall = reported - distinct
    if shortfall > changed_during_run:
        raise TotalShortfall(
            f"{source} reported {reported} records but {distinct} distinct were fetched: "
            f"{shortfall} missing, more than the {changed_during_run} that changed during the run"
        )
    return {"total_reported": reported, "distinct_fetched": distinct}


# What each source accepts ------------------------------------------------------------------

#: Octadesk lists are documented bare; tenants behind a gateway wrap them.
OCTADESK_LIST = Shape("octadesk")
#: The web helpdesk's ticket report: documented bare, seen as ``{"data": [...], "total": N}``.
HELPDESK_WEB_REPORT = Shape("helpdesk_web report")
#: Tiflux's API v2 ticket list.
HELPDESK_WEB_API = Shape("helpdesk_web api v2")
#: Telegram's ``getUpdates`` result: always a bare list (the Bot API's own envelope is
#: ``{"ok": true, "result": ...}``, unwrapped before this).
TELEGRAM_UPDATES = Shape("telegram getUpdates", envelope_keys=())
#: Ploomes (OData): ``{"value": [...], "@odata.count": N}``.
PLOOMES_ODATA = Shape("ploomes", envelope_keys=("value",), bare_list=False)
#: Milvus: ``{"lista": [...], "meta": {...}}``.
MILVUS_LIST = Shape("milvus", envelope_keys=("lista",), bare_list=False)
