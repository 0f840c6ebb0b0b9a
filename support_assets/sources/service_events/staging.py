"""Staging rows: a raw service-event document as a typed warehouse row, without the CPF.

The CPF becomes the pseudonymous ``customer_key``; the name stays in raw. Frames are typed
explicitly so that an all-empty chunk has the same columns as a full one.
"""

from collections.abc import Mapping
from typing import Any

import pandas as pd
import pyarrow as pa
from dagster import Config
from pydantic import Field

from support_assets.core.identity import PseudonymResource
from support_assets.sources.service_events.validation import (
    ANSWERS,
    COVID_TEST_COLUMN,
    COVID_TEST_FIELD,
    COVID_TEST_RESULTS,
    SOURCE_TIME_ZONE,
    covid_test_result,
)


class ServiceEventsStagingConfig(Config):
    """Which raw documents a staging run reads, and in what chunks it writes them."""

    full_refresh: bool = Field(
        default=False, description="Re-read every raw document instead of those loaded lately."
    )
    lookback_minutes: int = Field(
        default=10, ge=0, description="Re-read this far behind the last high-water mark."
    )
    chunk_size: int = Field(default=5000, ge=1, description="Rows per warehouse write.")


SERVICES_DTYPE = pd.ArrowDtype(pa.list_(pa.string()))

STAGING_COLUMNS = (
    "event_key",
    "customer_key",
    "occurred_at",
    "source_time_zone",
    "age",
    "sex",
    "channel",
    "services",
    "service_count",
    "headache",
    "other_symptoms",
    "covid_contact",
    COVID_TEST_COLUMN,
    "service_score",
    "solved",
    "message_id",
    "published_at",
    "raw_loaded_at",
)


def staging_row(document: Mapping[str, Any], pseudonym: PseudonymResource) -> dict[str, Any]:
    """The staging row of one raw document."""
    """The staging row of one raw document."""
    services = list(document.get("services") or [])
    return {
        "event_key": document["event_key"],
        "customer_key": pseudonym.customer_key(document["cpf"]),
        "occurred_at": document["occurred_at"],
        "source_time_zone": document.get("source_time_zone", SOURCE_TIME_ZONE),
        "age": document["age"],
        "sex": document["sex"],
        "channel": document["channel"],
        "services": services,
        "service_count": len(services),
        **{column: bool(document[column]) for column in ANSWERS.values()},
        COVID_TEST_COLUMN: _stored_covid_test(document),
        "service_score": document["service_score"],
        "solved": bool(document["solved"]),
        "message_id": document.get("message_id"),
        "published_at": document.get("published_at"),
        "raw_loaded_at": document["_loaded_at"],
    }


def _stored_covid_test(document: Mapping[str, Any]) -> str:
    """The result of a raw document; one written before results were typed is read again from
    its payload."""
    stored = document.get(COVID_TEST_COLUMN)
    if stored in COVID_TEST_RESULTS:
        return stored
    return covid_test_result((document.get("payload") or {}).get(COVID_TEST_FIELD))


def staging_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Staging rows as a frame with every column typed."""
    frame = pd.DataFrame(rows, columns=list(STAGING_COLUMNS))
    for column in ("occurred_at", "published_at", "raw_loaded_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    for column in ("age", "service_count", "service_score"):
        frame[column] = frame[column].astype("int64")
    for column in (*ANSWERS.values(), "solved"):
        frame[column] = frame[column].astype("bool")
    # A list column (DuckDB VARCHAR[], BigQuery REPEATED STRING), typed even when all are empty.
    frame["services"] = frame["services"].astype(SERVICES_DTYPE)
    return frame
