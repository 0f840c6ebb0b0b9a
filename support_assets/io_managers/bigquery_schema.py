"""BigQuery identifiers and column types: validation and quoting of names, the mapping between
Arrow and BigQuery types, widening (supertypes) and conforming a column to a stored type.

Identifiers are validated and quoted with backticks; values reach SQL only as query parameters.
"""

from __future__ import annotations

import re

import pyarrow as pa
from google.cloud import bigquery

from support_assets.io_managers.base import UTC_TIMESTAMP
from support_assets.io_managers.normalise import to_json_text

# ---- identifiers ----------------------------------------------------------------------------

_PROJECT_RE = re.compile(r"^(?:[a-z0-9][a-z0-9.-]*:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_DATASET_RE = re.compile(r"^[A-Za-z0-9_]{1,1024}$")
_TABLE_RE = re.compile(r"^[\w-]{1,1024}$")  # letters (any script), digits, _ and -
#: Characters BigQuery's flexible column names may not contain (and the backtick we quote with).
_COLUMN_FORBIDDEN = set('!"$()*,./;?@[\\]^`{}~')
_COLUMN_RESERVED_PREFIXES = (
    "_table_",
    "_file_",
    "_partition",
    "_row_timestamp",
    "__root__",
    "_colidentifier",
)


def validate_project(project: str) -> str:
    if not _PROJECT_RE.match(project or ""):
        raise ValueError(f"invalid BigQuery project id {project!r}")
    return project


def validate_dataset(name: str) -> str:
    if not _DATASET_RE.match(name or ""):
        raise ValueError(
            f"invalid BigQuery dataset name {name!r}: letters, digits and underscores only"
        )
    return name


def validate_table(name: str) -> str:
    if not _TABLE_RE.match(name or "") or len(name.encode()) > 1024:
        raise ValueError(
            f"invalid BigQuery table name {name!r}: letters, digits, underscores and dashes only"
        )
    return name


def validate_column(name: str) -> str:
    """A column name BigQuery accepts (flexible names: accents and spaces are fine)."""
    if not name or len(name) > 300:
        raise ValueError(f"invalid BigQuery column name {name!r}: 1 to 300 characters")
    bad = sorted({c for c in name if c in _COLUMN_FORBIDDEN or ord(c) < 32 or ord(c) == 127})
    if bad:
        raise ValueError(f"invalid BigQuery column name {name!r}: may not contain {bad}")
    if name.lower().startswith(_COLUMN_RESERVED_PREFIXES):
        raise ValueError(f"invalid BigQuery column name {name!r}: reserved prefix")
    return name


def quote_column(name: str) -> str:
    """A validated column name in backticks (validation rules out backticks and backslashes)."""
    return f"`{validate_column(name)}`"


# ---- types ----------------------------------------------------------------------------------

#: Standard SQL names of the (legacy) type names the API reports.
STANDARD_TYPES = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL"}
_LEGACY = {v: k for k, v in STANDARD_TYPES.items()}
_ARROW: dict[str, pa.DataType] = {
    "INTEGER": pa.int64(),
    "FLOAT": pa.float64(),
    "NUMERIC": pa.decimal128(38, 9),
    "BIGNUMERIC": pa.decimal256(76, 38),
    "BOOLEAN": pa.bool_(),
    "STRING": pa.string(),
    "BYTES": pa.binary(),
    "DATE": pa.date32(),
    "TIMESTAMP": UTC_TIMESTAMP,
    "DATETIME": pa.timestamp("us"),
    "TIME": pa.time64("us"),
}
#: Numeric types from narrowest to widest; a mix widens to the later one.
_NUMERIC_ORDER = ("BOOLEAN", "INTEGER", "NUMERIC", "BIGNUMERIC", "FLOAT")
#: Type changes ``ALTER COLUMN … SET DATA TYPE`` can make; others rewrite the table.
IN_PLACE_WIDENINGS = {
    ("INTEGER", "NUMERIC"),
    ("INTEGER", "BIGNUMERIC"),
    ("INTEGER", "FLOAT"),
    ("NUMERIC", "BIGNUMERIC"),
    ("NUMERIC", "FLOAT"),
}


def legacy_type(name: str) -> str:
    """The API's name for a type (``INT64`` -> ``INTEGER``)."""
    upper = name.upper()
    return _LEGACY.get(upper, upper)


def array_item(typ: str) -> str | None:
    """The item type of ``ARRAY<X>`` (how a REPEATED column's type is written here), else None."""
    if typ.startswith("ARRAY<") and typ.endswith(">"):
        return typ[len("ARRAY<") : -1]
    return None


def arrow_type(typ: str) -> pa.DataType:
    """The Arrow type a load into a column of type ``typ`` expects."""
    item = array_item(typ)
    if item is not None:
        return pa.list_(_ARROW.get(item, pa.string()))
    return _ARROW.get(typ, pa.string())


def sql_type(typ: str) -> str:
    """``typ`` as GoogleSQL spells it in DDL (``INTEGER`` -> ``INT64``, ``ARRAY<INT64>``)."""
    item = array_item(typ)
    if item is not None:
        return f"ARRAY<{STANDARD_TYPES.get(item, item)}>"
    return STANDARD_TYPES.get(typ, typ)


def schema_field(name: str, typ: str) -> bigquery.SchemaField:
    """A table schema field: ``ARRAY<X>`` is a REPEATED ``X`` column."""
    item = array_item(typ)
    if item is not None:
        return bigquery.SchemaField(name, item, mode="REPEATED")
    return bigquery.SchemaField(name, typ)


def stored_type(field: bigquery.SchemaField) -> str:
    """A table field's type as written here: REPEATED ``X`` is ``ARRAY<X>``."""
    typ = legacy_type(field.field_type)
    return f"ARRAY<{typ}>" if field.mode == "REPEATED" else typ


def bigquery_type(typ: pa.DataType) -> str | None:
    """The column type an Arrow type is stored as; ``None`` for the untyped ``null`` (and
    lists of it). A list of scalars is ``ARRAY<X>``, a REPEATED column."""
    if pa.types.is_null(typ):
        return None
    if pa.types.is_list(typ) or pa.types.is_large_list(typ):
        if pa.types.is_null(typ.value_type):
            return None
        if not pa.types.is_nested(typ.value_type):
            item = bigquery_type(typ.value_type)
            return f"ARRAY<{item}>" if item is not None else None
    if pa.types.is_boolean(typ):
        return "BOOLEAN"
    if pa.types.is_unsigned_integer(typ) and typ.bit_width == 64:
        return "NUMERIC"  # does not fit INT64
    if pa.types.is_integer(typ):
        return "INTEGER"
    if pa.types.is_floating(typ):
        return "FLOAT"
    if pa.types.is_decimal(typ):
        integer_digits = typ.precision - typ.scale
        if typ.scale <= 9 and integer_digits <= 29:
            return "NUMERIC"
        if typ.scale <= 38 and integer_digits <= 38:
            return "BIGNUMERIC"
        return "STRING"
    if pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_string_view(typ):
        return "STRING"
    if (
        pa.types.is_binary(typ)
        or pa.types.is_large_binary(typ)
        or pa.types.is_fixed_size_binary(typ)
    ):
        return "BYTES"
    if pa.types.is_date(typ):
        return "DATE"
    if pa.types.is_timestamp(typ):
        return "TIMESTAMP"
    if pa.types.is_time(typ):
        return "TIME"
    return "STRING"  # structs, maps, nested lists (as JSON text), durations, ... (as text)


def supertype(stored: str, incoming: str) -> str:
    """The type both ``stored`` and ``incoming`` values fit in without loss.

    A REPEATED column cannot change its item type in place nor become text: a list whose items
    do not fit it, or a scalar for it, is an error rather than a silent rewrite.
    """
    if stored == incoming or stored == "STRING":
        return stored
    stored_item, incoming_item = array_item(stored), array_item(incoming)
    if stored_item is not None or incoming_item is not None:
        if stored_item is not None and incoming_item is not None:
            if supertype(stored_item, incoming_item) == stored_item:
                return stored
        raise ValueError(f"{incoming} values do not fit a {stored} column")
    if stored in _NUMERIC_ORDER and incoming in _NUMERIC_ORDER:
        return max(stored, incoming, key=_NUMERIC_ORDER.index)
    if {stored, incoming} == {"DATE", "TIMESTAMP"}:
        return "TIMESTAMP"
    return "STRING"


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    typ = column.type
    nested = pa.types.is_nested(typ)
    if not nested:
        try:
            return column.cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    values = column.to_pylist()
    if nested:
        return pa.chunked_array([pa.array([to_json_text(v) for v in values], pa.string())])
    return pa.chunked_array(
        [pa.array([None if v is None else str(v) for v in values], pa.string())]
    )


def conform_column(column: pa.ChunkedArray, bq_type: str, name: str) -> pa.ChunkedArray:
    """``column`` as the Arrow type a load into a ``bq_type`` column expects (a REPEATED
    column has no NULL: a missing list is stored as an empty one)."""
    target = arrow_type(bq_type)
    if array_item(bq_type) is not None:
        if column.null_count or pa.types.is_null(column.type):
            values = [[] if v is None else v for v in column.to_pylist()]
            column = pa.chunked_array([pa.array(values, type=target)], type=target)
        if column.type == target:
            return column
    if column.type == target:
        return column
    if pa.types.is_null(column.type):
        return pa.chunked_array([pa.nulls(len(column), target)], type=target)
    if target == pa.string():
        return _as_text(column)
    try:
        return column.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ValueError(
            f"column {name!r}: {column.type} values do not fit its BigQuery type {bq_type}: {exc}"
        ) from exc
