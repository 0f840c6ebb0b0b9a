"""The documents-store contract (docs/io-managers.md, "Documents"), on every backend.

Each test materializes tiny assets in process with real Dagster and reads the store back with a
client of its own, so it fails when what was stored is wrong, not only when a write raises.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dagster import AssetIn, asset, materialize
from pymongo.errors import DuplicateKeyError

from support_assets.core.records import InvalidRecord
from support_assets.io_managers.documents import (
    DocumentBatch,
    DocumentStream,
    QuarantinedDocument,
)
from support_assets_tests.io_managers.documents.stores import DocumentsBackend, write

SAO_PAULO = ZoneInfo("America/Sao_Paulo")


def payload(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Documents without the store's audit fields."""
    return [{k: v for k, v in d.items() if not k.startswith("_")} for d in docs]


def test_upsert_inserts_new_keys_and_updates_existing_ones(
    documents_backend: DocumentsBackend,
) -> None:
    first = write(
        documents_backend,
        [
            {"id": 1, "status": "open", "channel": "chat"},
            {"id": 2, "status": "open", "channel": "phone"},
            {"id": 3, "status": "open", "channel": "chat"},
        ],
    )
    # 2 changes, 3 is the same, 4 is new; 2 lacks "channel": the stored value stays.
    second = write(
        documents_backend,
        [
            {"id": 2, "status": "solved"},
            {"id": 3, "status": "open", "channel": "chat"},
            {"id": 4, "status": "open", "channel": "e-mail"},
        ],
    )

    assert (first["documents_inserted"], first["documents_updated"]) == (3, 0)
    assert (
        second["documents_inserted"],
        second["documents_updated"],
        second["documents_unchanged"],
        second["documents_quarantined"],
    ) == (1, 1, 1, 0)
    assert second["dagster/row_count"] == 4
    assert payload(documents_backend.documents("service_events")) == [
        {"id": 1, "status": "open", "channel": "chat"},
        {"id": 2, "status": "solved", "channel": "phone"},
        {"id": 3, "status": "open", "channel": "chat"},
        {"id": 4, "status": "open", "channel": "e-mail"},
    ]


def test_writing_the_same_batch_twice_changes_nothing(documents_backend: DocumentsBackend) -> None:
    batch = [{"id": i, "name": f"cliente {i}", "score": i / 2} for i in range(1, 6)]
    first = write(documents_backend, batch)
    stored_first = documents_backend.documents("service_events")
    second = write(documents_backend, batch)
    stored_second = documents_backend.documents("service_events")

    assert first["documents_inserted"] == 5
    assert (
        second["documents_inserted"],
        second["documents_updated"],
        second["documents_unchanged"],
    ) == (0, 0, 5)
    assert second["bulk_writes"] == 0  # nothing to write
    # Same documents, not rewritten: the audit fields still name the first run.
    assert stored_second == stored_first
    assert len(stored_second) == 5
    assert {d["_run_id"] for d in stored_second} == {stored_first[0]["_run_id"]}


def test_the_audit_fields_record_the_run_that_last_changed_a_document(
    documents_backend: DocumentsBackend,
) -> None:
    write(documents_backend, [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}])
    before = {d["id"]: d for d in documents_backend.documents("service_events")}
    write(documents_backend, [{"id": 1, "v": "A"}, {"id": 2, "v": "b"}])
    after = {d["id"]: d for d in documents_backend.documents("service_events")}

    assert after[1]["_run_id"] != before[1]["_run_id"]
    assert after[1]["_loaded_at"] > before[1]["_loaded_at"]
    assert after[1]["_first_loaded_at"] == before[1]["_first_loaded_at"]
    assert after[2] == before[2]
    assert after[1]["_loaded_at"].utcoffset() == dt.timedelta(0)


def test_a_unique_index_on_the_key_prevents_duplicates(documents_backend: DocumentsBackend) -> None:
    write(documents_backend, [{"id": 1, "v": "a"}])
    collection = documents_backend.collection("raw_service_events")

    index = collection.index_information()["primary_key"]
    assert index["unique"] is True
    assert [tuple(k) for k in index["key"]] == [("id", 1)]
    # Even a writer that bypasses the IO manager cannot add a second document with the key.
    with pytest.raises(DuplicateKeyError):
        collection.insert_one({"id": 1, "v": "other"})
    assert collection.count_documents({}) == 1


def test_composite_keys(documents_backend: DocumentsBackend) -> None:
    write(
        documents_backend,
        [{"tenant": "a", "id": 1, "v": "a1"}, {"tenant": "b", "id": 1, "v": "b1"}],
        primary_key=["tenant", "id"],
    )
    meta = write(
        documents_backend,
        [{"tenant": "b", "id": 1, "v": "B1"}, {"tenant": "c", "id": 1, "v": "c1"}],
        primary_key=["tenant", "id"],
    )

    assert (meta["documents_inserted"], meta["documents_updated"]) == (1, 1)
    stored = documents_backend.documents("service_events", key="tenant")
    assert [(d["tenant"], d["v"]) for d in stored] == [("a", "a1"), ("b", "B1"), ("c", "c1")]
    index = documents_backend.collection("raw_service_events").index_information()
    assert [tuple(k) for k in index["primary_key"]["key"]] == [("tenant", 1), ("id", 1)]


def test_duplicate_keys_within_a_batch_keep_the_last(documents_backend: DocumentsBackend) -> None:
    meta = write(
        documents_backend,
        [{"id": 1, "v": "first"}, {"id": 2, "v": "x"}, {"id": 1, "v": "last"}],
    )

    assert (meta["documents_inserted"], meta["documents_deduplicated"]) == (2, 1)
    assert payload(documents_backend.documents("service_events")) == [
        {"id": 1, "v": "last"},
        {"id": 2, "v": "x"},
    ]


def test_invalid_documents_go_to_quarantine_with_reason_and_payload(
    documents_backend: DocumentsBackend,
) -> None:
    batch = DocumentBatch(
        valid=[
            {"id": 1, "name": "Ana"},
            {"name": "sem id"},  # no key
            {"id": None, "name": "null id"},
            {"id": 3, "a.b": 1},  # a dotted field name MongoDB would read as a path
            {"id": 4, "$where": "x"},
            {"id": 5, "tags": {"a", "b"}},  # a set: not BSON
        ],
        quarantined=[QuarantinedDocument("date is not dd/mm/yyyy: '31/02/2024'", {"id": 9})],
        metadata={"high_water_mark": "2024-02-01T00:00:00+00:00"},
    )
    meta = write(documents_backend, batch)

    assert (meta["documents_inserted"], meta["documents_quarantined"]) == (1, 6)
    assert meta["documents_received"] == 7
    assert meta["high_water_mark"] == "2024-02-01T00:00:00+00:00"
    assert meta["quarantine_collection"] == "raw_service_events_quarantine"
    assert sum(meta["quarantine_reasons"].values()) == 6
    assert payload(documents_backend.documents("service_events")) == [{"id": 1, "name": "Ana"}]

    quarantine = documents_backend.collection("raw_service_events_quarantine")
    stored = {q["payload"]: q for q in quarantine.find({}, {"_id": 0})}
    assert len(stored) == 6
    assert stored['{"name":"sem id"}']["reason"] == "primary key field 'id' is missing or null"
    assert "'a.b'" in stored['{"a.b":1,"id":3}']["reason"]
    assert stored['{"a.b":1,"id":3}']["record_id"] == "3"
    assert "'$where'" in stored['{"$where":"x","id":4}']["reason"]
    assert any("BSON" in q["reason"] for q in stored.values())
    assert stored['{"id":9}']["reason"] == "date is not dd/mm/yyyy: '31/02/2024'"
    assert {q["source"] for q in stored.values()} == {"raw/service_events"}
    assert all(q["quarantined_at"].utcoffset() == dt.timedelta(0) for q in stored.values())

    # The same bad payloads again: still one quarantine document each.
    write(documents_backend, batch)
    assert quarantine.count_documents({}) == 6
    index = quarantine.index_information()["payload_sha256"]
    assert index["unique"] is True


def test_a_validator_splits_records_into_valid_and_quarantined(
    documents_backend: DocumentsBackend,
) -> None:
    def parse(record: dict[str, Any]) -> dict[str, Any]:
        at = dt.datetime.strptime(record["date"], "%d/%m/%Y %H:%M:%S")
        if record["score"] > 10:
            raise InvalidRecord(f"score out of range: {record['score']}")
        return {"id": record["id"], "at": at.replace(tzinfo=SAO_PAULO), "score": record["score"]}

    records = [
        {"id": 1, "date": "23/11/2026 09:30:00", "score": 9},
        {"id": 2, "date": "31/02/2026 09:30:00", "score": 9},  # no such day
        {"id": 3, "date": "23/11/2026 09:30:00", "score": 11},
        {"id": 4, "score": 1},  # no date
    ]
    batch = DocumentBatch.validate(records, parse, record_id=lambda r: r["id"])
    meta = write(documents_backend, batch)

    assert (meta["documents_inserted"], meta["documents_quarantined"]) == (1, 3)
    (stored,) = documents_backend.documents("service_events")
    assert stored["at"] == dt.datetime(2026, 11, 23, 12, 30, tzinfo=dt.UTC)
    reasons = {
        q["record_id"]: q["reason"]
        for q in documents_backend.collection("raw_service_events_quarantine").find()
    }
    assert reasons["2"].startswith("ValueError: day is out of range")
    assert reasons["3"] == "score out of range: 11"
    assert reasons["4"] == "missing field 'date'"


def test_an_empty_batch_creates_the_collection_and_writes_nothing(
    documents_backend: DocumentsBackend,
) -> None:
    meta = write(documents_backend, [])
    assert (
        meta["documents_received"],
        meta["documents_inserted"],
        meta["documents_updated"],
        meta["documents_quarantined"],
        meta["bulk_writes"],
        meta["dagster/row_count"],
    ) == (0, 0, 0, 0, 0, 0)
    # The unique index exists before the first document arrives.
    index = documents_backend.collection("raw_service_events").index_information()
    assert index["primary_key"]["unique"] is True

    write(documents_backend, [{"id": 1}])
    meta = write(documents_backend, DocumentBatch())
    assert meta["dagster/row_count"] == 1  # an empty batch deletes nothing
    assert len(documents_backend.documents("service_events")) == 1


def test_accents_and_emoji_are_kept_in_values_and_field_names(
    documents_backend: DocumentsBackend,
) -> None:
    doc = {
        "id": "atendimento-ção-1",
        "nome": "João Conceição",
        "observação": "Cliente satisfeito 😀👍🏽, voltará amanhã",
        "sintomas": ["dor de cabeça", "náusea"],
        "cjk": "客服",
    }
    write(documents_backend, [doc])
    meta = write(documents_backend, [doc])

    assert meta["documents_unchanged"] == 1
    assert payload(documents_backend.documents("service_events")) == [doc]


def test_datetimes_round_trip_as_the_same_instant_in_utc(
    documents_backend: DocumentsBackend,
) -> None:
    local = dt.datetime(2024, 6, 1, 9, 15, 30, 123456, tzinfo=SAO_PAULO)
    naive = dt.datetime(2024, 6, 1, 12, 0)  # taken as UTC already
    write(
        documents_backend,
        [{"id": 1, "at": local, "naive": naive, "history": [{"at": local}], "none": None}],
    )
    (stored,) = documents_backend.documents("service_events")

    # MongoDB keeps milliseconds: the same instant, truncated to the millisecond, in UTC.
    expected = dt.datetime(2024, 6, 1, 12, 15, 30, 123000, tzinfo=dt.UTC)
    assert stored["at"] == expected
    assert stored["at"].utcoffset() == dt.timedelta(0)
    assert stored["naive"] == dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)
    assert stored["history"][0]["at"] == expected
    assert stored["none"] is None
    # Comparing with what is stored uses the same precision: a re-write is unchanged.
    meta = write(
        documents_backend,
        [{"id": 1, "at": local, "naive": naive, "history": [{"at": local}], "none": None}],
    )
    assert meta["documents_unchanged"] == 1


def test_nested_documents_round_trip_and_a_changed_nested_value_updates(
    documents_backend: DocumentsBackend,
) -> None:
    doc = {
        "id": 7,
        "client": {"cpf": "52998224725", "address": {"city": "São Paulo", "zip": "01001-000"}},
        "services": [{"code": "INSTALAÇÃO", "items": [1, 2]}, {"code": "ENTREGA", "items": []}],
        "tuple": (1, 2),
    }
    write(documents_backend, [doc])
    (stored,) = documents_backend.documents("service_events")
    assert stored["client"] == doc["client"]
    assert stored["services"] == doc["services"]
    assert stored["tuple"] == [1, 2]  # BSON has arrays, not tuples

    unchanged = write(documents_backend, [doc])
    changed = {**doc, "client": {"cpf": "52998224725", "address": {"city": "Campinas"}}}
    updated = write(documents_backend, [changed])

    assert unchanged["documents_unchanged"] == 1
    assert updated["documents_updated"] == 1
    # A top-level field is replaced as a whole: the nested document is the new one.
    (stored,) = documents_backend.documents("service_events")
    assert stored["client"] == {"cpf": "52998224725", "address": {"city": "Campinas"}}


def test_one_bulk_write_per_chunk_not_one_call_per_document(
    documents_backend: DocumentsBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    collection_class = type(documents_backend.mongo.get_database()["anything"])
    calls: dict[str, int] = {}
    depth = [0]  # calls the store makes to itself (the embedded bulk_write) are not ours
    for method in ("bulk_write", "update_one", "insert_one", "replace_one", "insert_many"):
        original = getattr(collection_class, method)

        def spy(self: Any, *args: Any, _original: Any = original, _m: str = method, **kw: Any):
            if self.name == "raw_service_events" and not depth[0]:
                calls[_m] = calls.get(_m, 0) + 1
            depth[0] += 1
            try:
                return _original(self, *args, **kw)
            finally:
                depth[0] -= 1

        monkeypatch.setattr(collection_class, method, spy)

    docs = [{"id": i, "v": "x"} for i in range(2500)]
    meta = write(documents_backend, docs, io_manager=documents_backend.io_manager(batch_size=1000))

    assert calls == {"bulk_write": 3}
    assert (meta["bulk_writes"], meta["documents_inserted"]) == (3, 2500)
    assert meta["dagster/row_count"] == 2500


def test_the_collection_is_named_after_the_asset_key(documents_backend: DocumentsBackend) -> None:
    meta = write(documents_backend, [{"id": 1}], name="crm_sync_state")

    assert meta["collection"] == "raw_crm_sync_state"
    assert meta["database"] == documents_backend.mongo.database
    assert meta["dagster/uri"].endswith(f"/{documents_backend.mongo.database}/raw_crm_sync_state")
    assert documents_backend.collection("raw_crm_sync_state").count_documents({}) == 1


def test_a_downstream_asset_reads_the_documents(documents_backend: DocumentsBackend) -> None:
    at = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    write(documents_backend, [{"id": 2, "v": "b"}, {"id": 1, "v": "a", "at": at}])
    seen: list[Any] = []

    @asset(ins={"events": AssetIn(key=["raw", "service_events"])})
    def downstream(events: list[dict[str, Any]]) -> None:
        seen.append(events)

    from support_assets_tests.io_managers.documents.stores import documents_asset

    upstream = documents_asset([], metadata={"primary_key": ["id"]})
    result = materialize(
        [upstream.to_source_assets()[0], downstream],
        resources={"io_manager": documents_backend.io_manager()},
        selection=[downstream],
    )
    assert result.success
    (events,) = seen
    assert payload(events) == [{"id": 1, "v": "a", "at": at}, {"id": 2, "v": "b"}]
    assert all("_id" not in e for e in events)


def test_a_changed_primary_key_is_refused(documents_backend: DocumentsBackend) -> None:
    write(documents_backend, [{"id": 1, "code": "a"}])
    definition_meta = {"primary_key": ["code"]}
    from support_assets_tests.io_managers.documents.stores import documents_asset

    result = materialize(
        [documents_asset([{"id": 1, "code": "a"}], metadata=definition_meta)],
        resources={"io_manager": documents_backend.io_manager()},
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = str(failure.event_specific_data.error.cause or failure.event_specific_data.error)
    assert "primary_key" in message and "['code']" in message


def test_an_asset_without_a_primary_key_fails_clearly(documents_backend: DocumentsBackend) -> None:
    from support_assets_tests.io_managers.documents.stores import documents_asset

    result = materialize(
        [documents_asset([{"id": 1}])],
        resources={"io_manager": documents_backend.io_manager()},
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "needs primary_key" in str(failure.event_specific_data.error)


def test_a_stream_is_written_batch_after_batch_before_the_next_is_asked_for(
    documents_backend: DocumentsBackend,
) -> None:
    """The code after a generator's ``yield`` runs once that batch is stored: what an asset
    reading a broker relies on to acknowledge a batch only after its write."""
    stored_when_resumed: list[list[int]] = []

    def batches() -> Iterator[DocumentBatch]:
        for start in (0, 3, 6):
            ids = range(start, start + 3)
            yield DocumentBatch(
                valid=[{"id": i, "v": "x"} for i in ids],
                quarantined=[QuarantinedDocument("bad", {"n": start})] if start == 3 else [],
                metadata={"last_batch_start": start},
            )
            stored = documents_backend.documents("service_events")
            stored_when_resumed.append(sorted(d["id"] for d in stored))
        stream.metadata["batches"] = 3

    stream = DocumentStream(batches())
    meta = write(documents_backend, stream)

    assert stored_when_resumed == [[0, 1, 2], list(range(6)), list(range(9))]
    assert (meta["documents_received"], meta["documents_inserted"]) == (10, 9)
    assert (meta["documents_quarantined"], meta["bulk_writes"]) == (1, 3)
    assert (meta["last_batch_start"], meta["batches"], meta["dagster/row_count"]) == (6, 3, 9)
