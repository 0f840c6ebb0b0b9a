"""Values read out of an update's JSON, defensively: an update is whatever Telegram (or anyone
who knows the webhook's URL) sent, so a field may be missing, of another type, or past what
Parquet holds."""

import datetime as dt
import json
import re
from typing import Any

import pyarrow as pa

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
UTC_TS = pa.timestamp("us", tz="UTC")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def compact_json(value: Any) -> str:
    """Compact JSON; text Parquet cannot hold (lone surrogates) goes as ``\\u`` escapes."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if _LONE_SURROGATE.search(text):
        return json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return text


def as_int(value: Any) -> int | None:
    """An int64 column's value; anything else (a bool, text, a number past int64) is None."""
    if isinstance(value, int) and not isinstance(value, bool) and INT64_MIN <= value <= INT64_MAX:
        return value
    return None


def as_text(value: Any) -> str | None:
    """Text for a column; a lone surrogate (valid JSON, not UTF-8) becomes U+FFFD (the raw
    layer keeps the exact text as a JSON escape)."""
    return _LONE_SURROGATE.sub("\ufffd", value) if isinstance(value, str) else None


def as_object(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_time(value: Any) -> dt.datetime | None:
    """A Unix time as UTC; one no calendar date holds (e.g. 10**12 s, year 33658) is None."""
    seconds = as_int(value)
    if seconds is None:
        return None
    try:
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None


def update_kind(update: dict[str, Any]) -> str:
    """The update's kind: its one field besides ``update_id`` (several are joined by ``+``)."""
    keys = sorted(as_text(k) or "" for k in update if k != "update_id")
    return "+".join(keys) if keys else "(empty)"
