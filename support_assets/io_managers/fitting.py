"""Text that arrives in a typed column does not change the column's type.

A source that sends ``"A-7"`` once in a field that always held numbers would otherwise turn the
stored column into text for ever, and every ``SUM`` downstream with it. Instead, before a chunk
is written, a text column whose stored column is a number, a boolean, a date or a timestamp is
converted value by value: values that read as that type (``"10"``, ``"2024-01-02"``) are stored
typed (a number written with leading zeros is an identifier, and does not read as a number);
the others leave the column NULL for their row and go, as text, to the companion column
``<column>__raw`` (created when first needed). Nothing is lost, the type stays, and
``values_not_of_the_column_type`` in the write's metadata counts them per column.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

logger = logging.getLogger(__name__)

#: Suffix of the text column that keeps values a typed column could not hold.
RAW_SUFFIX = "__raw"

_TRUE = {"true", "t", "1", "yes", "sim"}
_FALSE = {"false", "f", "0", "no", "nao", "não"}


def stored_kind(type_name: str) -> str | None:
    """``integer``, ``number``, ``bool``, ``date``, ``timestamp`` or ``text`` for a stored type
    as DuckDB, BigQuery or Arrow names it; None for any other (lists, structs, bytes, ...)."""
    name = type_name.strip().upper()
    if any(word in name for word in ("LIST", "STRUCT", "MAP", "ARRAY", "[]", "<", "INTERVAL")):
        return None
    if any(word in name for word in ("CHAR", "STRING", "TEXT", "JSON")):
        return "text"
    if "TIMESTAMP" in name:
        return "timestamp"
    if name.startswith("DATE"):
        return "date"
    if name.startswith("BOOL"):
        return "bool"
    numeric = ("INT", "DOUBLE", "FLOAT", "DECIMAL", "NUMERIC", "REAL", "HUGEINT")
    if any(word in name for word in numeric):
        return "integer" if "INT" in name else "number"
    return None


def _convert(values: pd.Series, kind: str) -> pd.Series:
    """``values`` (text) read as ``kind``; NaN/NaT/None where a value does not read as one."""
    if kind in ("integer", "number"):
        # "00123" is an identifier whose zeros matter, not the number 123.
        numbers = pd.to_numeric(values, errors="coerce")
        return numbers.where(~values.str.match(r"^\s*[+-]?0\d", na=False), None)
    if kind in ("timestamp", "date"):
        stamps = pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601")
        return stamps.dt.date if kind == "date" else stamps
    folded = values.str.strip().str.casefold()
    return folded.map(lambda v: True if v in _TRUE else False if v in _FALSE else None)


def _typed_array(converted: pd.Series, kind: str) -> pa.Array:
    """Arrow values of ``kind``: whole numbers stay integers when the column holds integers
    (a decimal among them widens the column, as decimals always do)."""
    values = [None if pd.isna(v) else v for v in converted.astype(object)]
    if kind == "bool":
        return pa.array(values, type=pa.bool_())
    if kind == "integer" and all(_whole(v) for v in values if v is not None):
        return pa.array([None if v is None else int(v) for v in values], type=pa.int64())
    if kind in ("integer", "number"):
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    if kind == "date":
        return pa.array(values, type=pa.date32())
    return pa.array(values, type=pa.timestamp("us", tz="UTC"))


def _whole(value: float) -> bool:
    return float(value).is_integer() and abs(value) < 2**53


def fit_to_stored(
    data: pa.Table, stored: Mapping[str, str] | None
) -> tuple[pa.Table, dict[str, int]]:
    """``data`` with text columns converted to their stored column's type, values that do not
    convert moved to ``<column>__raw``; also how many values each column kept as text."""
    if not stored:
        return data, {}
    by_lower = {name.lower(): typ for name, typ in stored.items()}
    kept: dict[str, int] = {}
    for field in data.schema:
        if not pa.types.is_string(field.type) or field.name.endswith(RAW_SUFFIX):
            continue
        kind = stored_kind(by_lower.get(field.name.lower(), ""))
        if kind in (None, "text"):
            continue
        values = data.column(field.name).to_pandas()
        converted = _convert(values, kind)
        failed = values.notna() & converted.isna()
        array = _typed_array(converted, kind)
        index = data.column_names.index(field.name)
        data = data.set_column(index, pa.field(field.name, array.type), array)
        if failed.any():
            kept[field.name] = int(failed.sum())
            raw = pa.array(values.where(failed, None), type=pa.string(), from_pandas=True)
            raw_name = field.name + RAW_SUFFIX
            if raw_name in data.column_names:
                merged = pc.coalesce(raw, data.column(raw_name).cast(pa.string()))
                data = data.set_column(data.column_names.index(raw_name), raw_name, merged)
            else:
                data = data.append_column(pa.field(raw_name, pa.string()), raw)
            logger.warning(
                "%d value(s) of %s do not read as the stored %s; kept as text in %s",
                kept[field.name],
                field.name,
                kind,
                raw_name,
            )
    return data, kept
