"""JSON in and out at C speed (orjson), with the standard library for what orjson refuses.

Parsing and re-serialising records was a third of the Octadesk load's CPU with the standard
library (``BENCHMARKS.md``, "Where the time goes"). orjson refuses a few things the standard
library accepts: integers beyond 64 bits, ``NaN``, lone surrogates, non-string keys. Those fall
back to the standard library, so what was accepted before still is, with the same result.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# Datetimes and dataclasses are refused (as by the standard library), not silently encoded.
_DUMP_OPTIONS = (
    orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)


def loads(data: bytes | str) -> Any:
    """A JSON document (UTF-8 bytes or text) as Python values."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def dumps(value: Any) -> str:
    """Compact JSON with sorted keys that keeps accents and emoji readable."""
    try:
        return orjson.dumps(value, option=_DUMP_OPTIONS).decode()
    except TypeError:
        return canonical_dumps(value)


def canonical_dumps(value: Any) -> str:
    """The standard library's compact, sorted JSON: the stable text behind fingerprints, which
    must not change with a faster encoder's number formatting."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
