"""Property-based tests of the Telegram update parser and the landing reader: whatever JSON an
update holds, its staging row fits the fixed Parquet schema; whatever is landed reads back equal;
whatever bytes a landing file holds, reading it never raises."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from tempfile import TemporaryDirectory

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support_assets.io_managers.landing import LandingZone, ReadStats
from support_assets.sources.telegram.assets import (
    KNOWN_KINDS,
    STAGING_SCHEMA,
    build_raw_updates,
    build_staging_messages,
    staging_row,
)

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
RECEIVED = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)

#: Any text, lone surrogates included (valid in JSON as escapes, not in UTF-8).
texts = st.text(st.characters(codec=None, blacklist_categories=()), max_size=12)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=15,
)
field_names = st.sampled_from(
    ["chat", "from", "date", "text", "caption", "entities", "id", "type", "message_id", "data"]
)
objects = st.dictionaries(field_names | texts, json_values, max_size=6)
updates = st.builds(
    lambda uid, kind, obj: {"update_id": uid, kind: obj},
    st.integers(min_value=0, max_value=2**63 - 1),
    st.sampled_from(sorted(KNOWN_KINDS)) | texts,
    objects | json_values,
)


@SETTINGS
@given(st.lists(updates, max_size=4))
def test_every_update_fits_the_staging_schema(batch: list[dict]) -> None:
    rows = [staging_row(update, RECEIVED) for update in batch]
    table = pa.Table.from_pylist(rows, schema=STAGING_SCHEMA)
    assert table.num_rows == len(batch)


@SETTINGS
@given(st.lists(updates | st.builds(lambda u: {"update_id": u}, st.integers()), max_size=5))
def test_whatever_lands_reads_back_equal_and_the_day_rebuilds(batch: list[dict]) -> None:
    with TemporaryDirectory() as folder:
        zone = LandingZone.from_url(folder, "telegram", clock=lambda: RECEIVED)
        zone.append(batch, via="webhook")
        zone.close()
        stats = ReadStats()
        assert [r.payload for r in zone.read(RECEIVED.date(), stats)] == batch
        assert stats.invalid_lines == 0
        raw, _ = build_raw_updates(zone, RECEIVED.date(), RECEIVED.date())
        staging, _ = build_staging_messages(raw)
        in_int64 = {u["update_id"] for u in batch if -(2**63) <= u["update_id"] < 2**63}
        assert set(raw.column("update_id").to_pylist()) == in_int64
        assert staging.num_rows == raw.num_rows


@SETTINGS
@given(st.binary(max_size=400))
def test_reading_any_bytes_never_raises(content: bytes) -> None:
    with TemporaryDirectory() as folder:
        zone = LandingZone.from_url(folder, "telegram")
        day_folder = Path(zone.folder(RECEIVED.date()))
        day_folder.mkdir(parents=True)
        (day_folder / "20261204T120000000000-1-000001-abc.jsonl").write_bytes(content)
        stats = ReadStats()
        records = list(zone.read(RECEIVED.date(), stats))
        assert stats.lines == len(records)
        build_raw_updates(zone, RECEIVED.date(), RECEIVED.date())
