"""Documents store pieces on their own: document checks, batches, the upsert race retry, the
resource (embedded files, threads, credentials kept out of descriptions) and the wiring of
``build_resources``."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import pytest
from dagster import EnvVar, asset, materialize
from pymongo import InsertOne, UpdateOne
from pymongo.errors import BulkWriteError

from support_assets.core.mongo import MongoDBResource, bulk_upsert
from support_assets.definitions import build_resources
from support_assets.io_managers.documents import (
    DocumentBatch,
    check_document,
    collection_name,
    payload_json,
    payload_sha256,
    primary_key_of,
)


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"v": 1}, "primary key field 'id' is missing or null"),
        ({"id": None}, "primary key field 'id' is missing or null"),
        ({"id": [1]}, "primary key field 'id' must be a single value"),
        ({"id": {"a": 1}}, "primary key field 'id' must be a single value"),
        ({"id": 1, "a.b": 1}, "field name 'a.b' cannot be stored"),
        ({"id": 1, "$set": 1}, "field name '$set' cannot be stored"),
        ({"id": 1, "": 1}, "field name '' cannot be stored"),
        ({"id": 1, "x": {"ok": {"$bad": 1}}}, "field name 'x.ok.$bad' cannot be stored"),
        ({"id": 1, "x": [{"a.b": 1}]}, "field name 'x.0.a.b' cannot be stored"),
        ({"id": 1, 5: "x"}, "field name 5 at top level is not text"),
        ({"id": 1, "_loaded_at": 1}, "field '_loaded_at' is reserved for the store"),
        ({"id": 1, "_id": 1}, "field '_id' is reserved for the store"),
        ({"id": 1, "d": dt.date(2024, 1, 1)}, "cannot be stored as BSON"),
        ({"id": 1, "big": 2**70}, "cannot be stored as BSON"),
        ("not a dict", "not a document: str"),
    ],
)
def test_documents_that_cannot_be_stored_get_a_reason(document: Any, reason: str) -> None:
    normalized, why = check_document(document, ("id",))
    assert normalized is None
    assert why.startswith(reason), why


def test_a_storable_document_is_normalized_as_mongodb_returns_it() -> None:
    at = dt.datetime(2024, 1, 1, 9, 0, 0, 999999, tzinfo=dt.timezone(dt.timedelta(hours=-3)))
    normalized, why = check_document({"id": 1, "at": at, "t": (1, 2), "ok_$": 1}, ("id",))
    assert why == ""
    assert normalized == {
        "id": 1,
        "at": dt.datetime(2024, 1, 1, 12, 0, 0, 999000, tzinfo=dt.UTC),
        "t": [1, 2],
        "ok_$": 1,
    }


def test_id_may_be_the_whole_primary_key_only() -> None:
    assert check_document({"_id": "a", "v": 1}, ("_id",))[1] == ""
    assert primary_key_of({"primary_key": "_id"}, "raw/x") == ("_id",)
    with pytest.raises(ValueError, match="_id can only be the whole primary key"):
        primary_key_of({"primary_key": ["_id", "v"]}, "raw/x")
    with pytest.raises(ValueError, match="needs primary_key"):
        primary_key_of({"primary_key": []}, "raw/x")


def test_collection_names_and_payload_fingerprints() -> None:
    assert collection_name(["raw", "service_events"]) == "raw_service_events"
    assert collection_name(["crm", "ploomes", "clients"]) == "crm_ploomes_clients"
    # Key order does not change the fingerprint; accents stay readable in the JSON.
    assert payload_sha256({"a": 1, "b": "ç"}) == payload_sha256({"b": "ç", "a": 1})
    assert payload_json({"b": "ç"}) == '{"b":"ç"}'
    # Values JSON lacks do not break quarantining.
    assert "2024-01-01" in payload_json({"d": dt.date(2024, 1, 1), "s": {1}})


def test_a_batch_is_a_document_batch_or_a_list_of_documents() -> None:
    assert DocumentBatch.coerce([{"id": 1}]).valid == [{"id": 1}]
    assert DocumentBatch.coerce({"id": i} for i in range(2)).valid == [{"id": 0}, {"id": 1}]
    for wrong in ({"id": 1}, "text", None, 3):
        with pytest.raises(TypeError, match="DocumentBatch or a list of dicts"):
            DocumentBatch.coerce(wrong)


def test_a_validator_bug_is_not_quarantined() -> None:
    def buggy(record: dict[str, Any]) -> dict[str, Any]:
        return record.nonexistent  # type: ignore[attr-defined]

    with pytest.raises(AttributeError):
        DocumentBatch.validate([{"id": 1}], buggy)


class _RacingCollection:
    """A collection whose first bulk_write loses an upsert race on one operation."""

    name = "raw_things"

    def __init__(self) -> None:
        self.calls: list[list[UpdateOne]] = []

    def bulk_write(self, ops: list[UpdateOne], ordered: bool) -> Any:
        self.calls.append(list(ops))
        if len(self.calls) == 1:
            raise BulkWriteError(
                {
                    "writeErrors": [{"index": 1, "code": 11000, "errmsg": "E11000 duplicate"}],
                    "nUpserted": 2,
                    "nMatched": 0,
                }
            )

        class Result:
            inserted_count = 0
            upserted_count = 0
            matched_count = len(ops)

        return Result()


def test_an_upsert_that_races_another_writer_is_retried_once() -> None:
    ops = [UpdateOne({"id": i}, {"$set": {"id": i}}, upsert=True) for i in range(3)]
    collection = _RacingCollection()

    assert bulk_upsert(collection, ops) == (2, 1)
    assert collection.calls[1] == [ops[1]]


def test_an_insert_that_meets_another_writers_document_is_retried_as_its_upsert() -> None:
    ops = [InsertOne({"id": i}) for i in range(3)]
    upserts = [UpdateOne({"id": i}, {"$set": {"id": i}}, upsert=True) for i in range(3)]
    collection = _RacingCollection()

    assert bulk_upsert(collection, ops, upserts) == (2, 1)
    assert collection.calls[1] == [upserts[1]]


def test_other_bulk_errors_are_raised() -> None:
    class Failing(_RacingCollection):
        def bulk_write(self, ops: list[UpdateOne], ordered: bool) -> Any:
            raise BulkWriteError({"writeErrors": [{"index": 0, "code": 121, "errmsg": "invalid"}]})

    with pytest.raises(BulkWriteError):
        bulk_upsert(Failing(), [UpdateOne({"id": 1}, {"$set": {"id": 1}}, upsert=True)])


# ---- the resource ----------------------------------------------------------------------------


def test_the_embedded_store_is_files_under_its_folder_and_survives_a_new_client(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "documents"
    first = MongoDBResource(embedded_path=str(folder))
    first.get_database()["raw_service_events"].insert_one({"id": 1, "nome": "Conceição"})
    first.close()

    assert (folder / "support_assets" / "raw_service_events").is_file()
    again = MongoDBResource(embedded_path=str(folder))
    try:
        assert again.is_embedded
        doc = again.get_database()["raw_service_events"].find_one({"id": 1}, {"_id": 0})
        assert doc == {"id": 1, "nome": "Conceição"}
        assert again.describe() == (folder.resolve() / "support_assets").as_uri()
    finally:
        again.close()


def test_the_embedded_store_counts_a_collection_without_reading_it(tmp_path: Path) -> None:
    mongo = MongoDBResource(embedded_path=str(tmp_path / "documents"))
    try:
        assert mongo.document_count("things") == 0  # no such collection yet
        things = mongo.get_database()["things"]
        things.insert_many([{"id": i} for i in range(30)])
        things.delete_one({"id": 3})
        assert mongo.document_count("things") == things.count_documents({}) == 29
    finally:
        mongo.close()


def test_the_embedded_store_works_from_several_threads(tmp_path: Path) -> None:
    mongo = MongoDBResource(embedded_path=str(tmp_path / "documents"))
    mongo.get_database()["things"].insert_one({"id": 0})
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            mongo.get_database()["things"].insert_one({"id": i})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(1, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        assert mongo.get_database()["things"].count_documents({}) == 4
    finally:
        mongo.close()


def test_a_server_uri_is_never_described_with_its_credentials() -> None:
    mongo = MongoDBResource(
        uri="mongodb+srv://robot:s3cr3t@cluster0.example.net/?retryWrites=true", database="prod"
    )
    assert not mongo.is_embedded
    assert mongo.describe() == "mongodb+srv://cluster0.example.net/prod"
    assert "s3cr3t" not in mongo.describe()


# ---- wiring ---------------------------------------------------------------------------------


def test_build_resources_defaults_to_the_embedded_store_under_the_data_folder(
    tmp_path: Path,
) -> None:
    resources = build_resources({"SUPPORT_DATA_DIR": str(tmp_path / "data")})
    documents = resources["documents"]
    assert isinstance(documents, MongoDBResource)
    assert documents.uri is None
    assert documents.embedded_path == f"{tmp_path}/data/documents"
    assert documents.database == "support_assets"
    assert resources["documents_io_manager"].mongo is documents

    own = build_resources({"SUPPORT_DOCUMENTS_PATH": "/srv/docs", "MONGODB_DATABASE": "crm"})
    assert (own["documents"].embedded_path, own["documents"].database) == ("/srv/docs", "crm")


def test_a_mongodb_uri_reaches_the_resource_as_an_env_var_name_only() -> None:
    resources = build_resources({"MONGODB_URI": "mongodb://robot:s3cr3t@db:27017"})
    uri = resources["documents"].uri
    assert isinstance(uri, EnvVar)
    assert uri.env_var_name == "MONGODB_URI"
    assert "s3cr3t" not in repr(resources["documents"])


def test_assets_write_through_the_deployment_resources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keys ``documents`` and ``documents_io_manager`` of ``build_resources``: an asset
    stored by the IO manager, and a downstream asset querying the store through the resource."""
    monkeypatch.delenv("MONGODB_URI", raising=False)
    resources = build_resources({"SUPPORT_DATA_DIR": str(tmp_path / "data")})

    @asset(
        key_prefix=["raw"],
        io_manager_key="documents_io_manager",
        metadata={"primary_key": ["id"]},
    )
    def service_events() -> list[dict[str, Any]]:
        return [{"id": 1, "canal": "WhatsApp"}, {"id": 2, "canal": "telefone"}]

    @asset(deps=[service_events])
    def channels(documents: MongoDBResource) -> list[str]:
        return sorted(documents.get_database()["raw_service_events"].distinct("canal"))

    result = materialize(
        [service_events, channels],
        resources={
            "documents": resources["documents"],
            "documents_io_manager": resources["documents_io_manager"],
        },
    )
    assert result.success
    assert result.output_for_node("channels") == ["WhatsApp", "telefone"]
    assert (tmp_path / "data" / "documents" / "support_assets" / "raw_service_events").is_file()


def test_a_mongodb_uri_alone_switches_to_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``MONGODB_URI`` set the run talks to that server (here none listens: the write fails
    naming it) and never falls back to the embedded store."""
    monkeypatch.setenv("MONGODB_URI", "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300")
    env = {"SUPPORT_DATA_DIR": str(tmp_path / "data"), "MONGODB_URI": "set"}
    resources = build_resources(env)

    @asset(key_prefix=["raw"], metadata={"primary_key": ["id"]})
    def service_events() -> list[dict[str, Any]]:
        return [{"id": 1}]

    result = materialize(
        [service_events],
        resources={"io_manager": resources["documents_io_manager"]},
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    error = str(failure.event_specific_data.error)
    assert "ServerSelectionTimeoutError" in error and "127.0.0.1:1" in error
    assert not (tmp_path / "data" / "documents").exists()
