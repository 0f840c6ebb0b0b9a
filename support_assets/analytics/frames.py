"""Reading source tables as the marts need them: missing values as None, rows as dicts, tables
never written as empty frames with the expected columns."""

import json
from typing import Any

import numpy as np
import pandas as pd


def value_or_none(value: Any) -> Any:
    """None for NaN/NaT/NA, the value otherwise."""
    if value is None:
        return None
    if isinstance(value, float | np.floating) and np.isnan(value):
        return None
    if value is pd.NaT or value is pd.NA:
        return None
    return value


def with_columns(frame: pd.DataFrame | None, columns: list[str]) -> pd.DataFrame:
    """``frame`` with at least ``columns`` (a table never written loads as an empty frame with
    no columns)."""
    if frame is None:
        return pd.DataFrame(columns=columns)
    missing = [c for c in columns if c not in frame.columns]
    return frame.assign(**dict.fromkeys(missing)) if missing else frame


def rows(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    """The rows of ``frame`` as dicts (none for a missing or empty table)."""
    if frame is None or frame.empty:
        return []
    return frame.to_dict("records")


def raw_records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    """The source records of a raw table (its JSON ``record`` column), parsed."""
    return [json.loads(r["record"]) for r in rows(frame) if isinstance(r.get("record"), str)]
