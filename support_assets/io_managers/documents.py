"""Documents IO manager: bulk upserts into MongoDB (or the embedded store) by a declared key.

An asset returns a :class:`DocumentBatch` (valid documents, and those it already found invalid
with the reason) or a plain list of dicts. For an asset ``raw/service_events`` declaring
``metadata={"primary_key": ["id"]}`` the manager:

1. makes sure the collection ``raw_service_events`` has a unique index on the key (and the
   quarantine collection ``raw_service_events_quarantine`` one on the payload fingerprint);
2. sends to quarantine every document that cannot be stored as it is (key missing or null,
   field names MongoDB would misread, values BSON cannot encode), with the reason;
3. keeps the last of several documents with the same key, reads which keys exist already and
   how they are stored, and writes only new or changed documents: one ``bulk_write`` per chunk
   of ``batch_size``, ``InsertOne`` for a new key and ``UpdateOne(key, {"$set": document})``
   for a changed one (an insert that meets another writer's document becomes that upsert);
4. reports inserted, updated, unchanged and quarantined counts as metadata.

Writing the same batch twice therefore leaves the same documents and reports them unchanged.
Fields a later document lacks keep their stored values (``$set``), as in the warehouse's merge.
Each written document carries ``_loaded_at`` and ``_run_id`` of the run that last changed it and
``_first_loaded_at``. See ``docs/io-managers.md``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import bson
from bson.codec_options import CodecOptions
from dagster import (
    ConfigurableIOManager,
    InputContext,
    MetadataValue,
    OutputContext,
)
from pydantic import Field
from pymongo import ASCENDING, InsertOne, UpdateOne

from support_assets.core.mongo import MongoDBResource, bulk_upsert
from support_assets.core.records import InvalidRecord
from support_assets.io_managers.privacy import safe_metadata

logger = logging.getLogger(__name__)

#: Fields the manager writes itself; a document may not carry them.
AUDIT_FIELDS = ("_loaded_at", "_run_id", "_first_loaded_at")
PRIMARY_KEY_INDEX = "primary_key"
QUARANTINE_INDEX = "payload_sha256"
_CODEC = CodecOptions(tz_aware=True, tzinfo=dt.UTC)


@dataclass(frozen=True)
class QuarantinedDocument:
    """A document that failed validation: why, and the payload exactly as received."""

    reason: str
    payload: Any
    record_id: Any = None


@dataclass
class DocumentBatch:
    """What a documents asset returns: documents to upsert and documents to quarantine.

    ``metadata`` is added to the materialization (e.g. the high-water mark the batch reached).
    """

    valid: list[Mapping[str, Any]] = field(default_factory=list)
    quarantined: list[QuarantinedDocument] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def validate(
        cls,
        records: Iterable[Any],
        validator: Callable[[Any], Mapping[str, Any]],
        *,
        record_id: Callable[[Any], Any] | None = None,
    ) -> DocumentBatch:
        """Run ``validator`` on each record: what it returns is a valid document; a record it
        rejects with ``ValueError`` (e.g. ``InvalidRecord``), ``TypeError`` or ``KeyError`` is
        quarantined with the error as the reason. Other errors are bugs and propagate."""
        batch = cls()
        for record in records:
            try:
                batch.valid.append(validator(record))
            except (ValueError, TypeError, KeyError) as exc:
                reason = str(exc) if isinstance(exc, InvalidRecord) else _describe_error(exc)
                rid = _safe_record_id(record_id, record)
                batch.quarantined.append(QuarantinedDocument(reason, record, rid))
        return batch

    @classmethod
    def coerce(cls, obj: Any) -> DocumentBatch:
        if isinstance(obj, DocumentBatch):
            return obj
        if isinstance(obj, Mapping | str | bytes) or not isinstance(obj, Iterable):
            raise TypeError(
                "a documents asset returns a DocumentBatch or a list of dicts, "
                f"not {type(obj).__name__}"
            )
        return cls(valid=list(obj))


class DocumentStream:
    """Batches an asset returns to be written one after another (e.g. read from a broker).

    The IO manager writes each batch completely before it asks for the next, so in a generator
    the code after ``yield batch`` runs only once that batch is stored: the place to
    acknowledge it. ``metadata`` (filled while the batches are produced) and each batch's
    are added to the output's metadata after the last batch.
    """

    def __init__(
        self, batches: Iterable[DocumentBatch], metadata: dict[str, Any] | None = None
    ) -> None:
        self.batches = batches
        self.metadata: dict[str, Any] = metadata if metadata is not None else {}

    def __iter__(self) -> Iterator[DocumentBatch]:
        return iter(self.batches)

    @classmethod
    def coerce(cls, obj: Any) -> DocumentStream:
        if isinstance(obj, DocumentStream):
            return obj
        return cls([DocumentBatch.coerce(obj)])


@dataclass
class WriteCounts:
    received: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deduplicated: int = 0
    bulk_writes: int = 0


def collection_name(path: Sequence[str]) -> str:
    """``raw/service_events`` -> ``raw_service_events``."""
    return "_".join(path)


def primary_key_of(metadata: Mapping[str, Any], asset: str) -> tuple[str, ...]:
    key = metadata.get("primary_key")
    if isinstance(key, str):
        key = [key]
    if not key or not all(isinstance(k, str) and k for k in key):
        raise ValueError(
            f"{asset}: the documents store needs primary_key in the asset's metadata "
            f"(a field name or a list of them), got {key!r}"
        )
    if "_id" in key and len(key) > 1:
        raise ValueError(f"{asset}: _id can only be the whole primary key, got {list(key)}")
    return tuple(key)


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    return repr(value)


def payload_json(payload: Any) -> str:
    """The payload as compact JSON with sorted keys (accents and emoji kept), so equal payloads
    get equal text; values JSON lacks become text (dates in ISO 8601)."""
    compact = {"ensure_ascii": False, "separators": (",", ":"), "default": _json_default}
    try:
        return json.dumps(payload, sort_keys=True, **compact)
    except (TypeError, ValueError):  # keys of mixed types cannot be sorted
        return json.dumps(payload, **compact)


def payload_sha256(payload: Any) -> str:
    return hashlib.sha256(payload_json(payload).encode()).hexdigest()


def _describe_error(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc}"
    return f"{type(exc).__name__}: {exc}"


def _safe_record_id(record_id: Callable[[Any], Any] | None, record: Any) -> Any:
    if record_id is None:
        return None
    try:
        return record_id(record)
    except Exception:  # noqa: BLE001 - an id is a convenience, never a reason to fail
        return None


#: Values with no field names inside: checked by exact type, far cheaper than ``Mapping``.
_LEAVES = frozenset({str, int, float, bool, type(None), bytes, dt.datetime})


def _bad_field_name(document: Any, path: str = "") -> str | None:
    """The first field name MongoDB's ``$set`` would misread (not text, empty, a ``$`` operator
    or a dotted path), searched through nested documents and lists."""
    if isinstance(document, Mapping):
        for name, value in document.items():
            if not isinstance(name, str):
                return f"field name {name!r} at {path or 'top level'} is not text"
            if not name or name[0] == "$" or "." in name or "\x00" in name:
                return (
                    f"field name {path + name!r} cannot be stored (empty, '$' prefix, '.' or NUL)"
                )
            if type(value) not in _LEAVES and (found := _bad_field_name(value, f"{path}{name}.")):
                return found
    elif isinstance(document, list | tuple):
        for i, value in enumerate(document):
            if type(value) not in _LEAVES and (found := _bad_field_name(value, f"{path}{i}.")):
                return found
    return None


def check_document(document: Any, key: tuple[str, ...]) -> tuple[dict[str, Any] | None, str]:
    """``(normalized document, "")`` when it can be stored, else ``(None, reason)``.

    Normalized is the document as MongoDB will hand it back: BSON-encoded and decoded, so
    datetimes are UTC with millisecond precision and tuples are lists (used to compare with what
    is stored).
    """
    if not isinstance(document, Mapping):
        return None, f"not a document: {type(document).__name__}"
    try:
        bad = _bad_field_name(document)
    except RecursionError:
        return None, "cannot be stored as BSON: nested too deeply"
    if bad:
        return None, bad
    for name in key:
        value = document.get(name)
        if value is None:
            return None, f"primary key field {name!r} is missing or null"
        if isinstance(value, Mapping | list | tuple):
            return None, f"primary key field {name!r} must be a single value, not {value!r}"
    reserved = [f for f in (*AUDIT_FIELDS, "_id") if f in document and f not in key]
    if reserved:
        return None, f"field {reserved[0]!r} is reserved for the store"
    try:
        normalized = bson.decode(bson.encode(document, codec_options=_CODEC), codec_options=_CODEC)
    except (bson.errors.InvalidDocument, OverflowError, TypeError, ValueError) as exc:
        return None, f"cannot be stored as BSON: {exc}"
    except RecursionError:
        return None, "cannot be stored as BSON: nested too deeply"
    return normalized, ""


def _key_of(document: Mapping[str, Any], key: tuple[str, ...]) -> tuple[Any, ...]:
    """Key values as a tuple (scalars: they hash; datetimes compare by instant)."""
    return tuple(document.get(k) for k in key)


class DocumentsIOManager(ConfigurableIOManager):
    """Bulk upserts by ``primary_key`` into a collection per asset, with a quarantine collection.

    Asset metadata: ``primary_key`` (a field name or a list of them; required).
    """

    mongo: MongoDBResource
    batch_size: int = Field(
        default=1000, description="Documents per bulk_write (and per lookup of existing keys)."
    )

    # ---- writing --------------------------------------------------------------------------

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        asset = context.asset_key.to_user_string()
        key = primary_key_of(context.definition_metadata or {}, asset)
        metadata = self.write(context.asset_key.path, key, obj, context.run_id)
        context.add_output_metadata(safe_metadata(metadata))
        context.log.info(
            f"{metadata['collection']}: {metadata['documents_inserted']} inserted, "
            f"{metadata['documents_updated']} updated, {metadata['documents_unchanged']} "
            f"unchanged, {metadata['documents_quarantined']} quarantined"
        )

    def write(
        self, path: Sequence[str], key: tuple[str, ...], obj: Any, run_id: str
    ) -> dict[str, Any]:
        """Writes a batch, a :class:`DocumentStream` or a list of dicts into the collection of
        the asset at ``path``, batch after batch; returns the output's metadata."""
        stream = DocumentStream.coerce(obj)
        db = self.mongo.get_database()
        name = collection_name(path)
        collection = db[name]
        quarantine = db[f"{name}_quarantine"]
        self.ensure_indexes(collection, quarantine, key)
        counts = WriteCounts()
        reasons: Counter[str] = Counter()
        batch_metadata: dict[str, Any] = {}
        for batch in stream:
            quarantined = self._write_batch(path, collection, key, batch, run_id, counts)
            reasons.update(q.reason for q in quarantined)
            counts.received += len(batch.valid) + len(batch.quarantined)
            batch_metadata.update(batch.metadata)
        metadata: dict[str, Any] = {
            "collection": name,
            "quarantine_collection": quarantine.name,
            "database": db.name,
            "dagster/uri": f"{self.mongo.describe()}/{name}",
            "primary_key": ", ".join(key),
            "documents_received": counts.received,
            "documents_inserted": counts.inserted,
            "documents_updated": counts.updated,
            "documents_unchanged": counts.unchanged,
            "documents_deduplicated": counts.deduplicated,
            "documents_quarantined": reasons.total(),
            "bulk_writes": counts.bulk_writes,
            "dagster/row_count": self.mongo.document_count(name),
            "quarantine_count": self.mongo.document_count(quarantine.name),
        }
        if reasons:
            metadata["quarantine_reasons"] = MetadataValue.json(dict(reasons.most_common(20)))
        return {**metadata, **batch_metadata, **stream.metadata}

    def _write_batch(
        self,
        path: Sequence[str],
        collection: Any,
        key: tuple[str, ...],
        batch: DocumentBatch,
        run_id: str,
        counts: WriteCounts,
    ) -> list[QuarantinedDocument]:
        """Checks, deduplicates and writes one batch; returns what went to quarantine."""
        valid: dict[tuple[Any, ...], dict[str, Any]] = {}
        quarantined = list(batch.quarantined)
        for document in batch.valid:
            normalized, reason = check_document(document, key)
            if normalized is None:
                rid = document.get(key[0]) if isinstance(document, Mapping) else None
                quarantined.append(QuarantinedDocument(reason, document, rid))
                continue
            doc_key = _key_of(normalized, key)
            if doc_key in valid:
                counts.deduplicated += 1
                del valid[doc_key]  # the last one wins, in its own position
            valid[doc_key] = normalized

        now = dt.datetime.now(dt.UTC)
        items = list(valid.values())
        for start in range(0, len(items), self.batch_size):
            chunk = items[start : start + self.batch_size]
            self._upsert_chunk(collection, key, chunk, now, run_id, counts)
        quarantine = collection.database[f"{collection.name}_quarantine"]
        self._quarantine(quarantine, "/".join(path), quarantined, now, run_id)
        return quarantined

    def ensure_indexes(self, collection: Any, quarantine: Any, key: tuple[str, ...]) -> None:
        """Unique index on the key (and on the quarantine fingerprint); refuse a changed key.

        An index already there as declared is left alone: the embedded store would otherwise
        re-check every stored document for duplicates on each write."""
        if key != ("_id",):
            spec = [(k, ASCENDING) for k in key]
            existing = collection.index_information().get(PRIMARY_KEY_INDEX)
            if existing is not None and [tuple(k) for k in existing["key"]] != spec:
                raise ValueError(
                    f"collection {collection.name} has a unique index on "
                    f"{[k for k, _ in existing['key']]} but the asset declares primary_key "
                    f"{list(key)}: drop the index {PRIMARY_KEY_INDEX!r} to change the key"
                )
            if existing is None or not existing.get("unique"):
                collection.create_index(spec, unique=True, name=PRIMARY_KEY_INDEX)
        existing = quarantine.index_information().get(QUARANTINE_INDEX)
        if existing is None or not existing.get("unique"):
            spec = [(QUARANTINE_INDEX, ASCENDING)]
            quarantine.create_index(spec, unique=True, name=QUARANTINE_INDEX)

    def _upsert_chunk(
        self,
        collection: Any,
        key: tuple[str, ...],
        items: list[dict[str, Any]],
        now: dt.datetime,
        run_id: str,
        counts: WriteCounts,
    ) -> None:
        """Compare the chunk with what is stored; one bulk_write of the new and changed ones.

        A key not stored yet is an ``InsertOne`` of the whole document (a store-side upsert
        costs a lookup and a field-by-field ``$set`` more, several times the insert in the
        embedded store); a stored key that changed is an ``UpdateOne`` with ``$set``. The
        unique index on the key keeps an insert from duplicating a document another writer
        stored in between: that insert fails and is retried as the upsert it stands for.
        """
        stored = self._stored(collection, key, items)
        ops: list[InsertOne | UpdateOne] = []
        upserts: list[UpdateOne] = []
        for normalized in items:
            current = stored.get(_key_of(normalized, key))
            if current is not None and all(
                f in current and current[f] == v for f, v in normalized.items()
            ):
                counts.unchanged += 1
                continue
            fields = {f: v for f, v in normalized.items() if f != "_id"}
            upsert = UpdateOne(
                {k: normalized[k] for k in key},
                {
                    "$set": {**fields, "_loaded_at": now, "_run_id": run_id},
                    "$setOnInsert": {"_first_loaded_at": now},
                },
                upsert=True,
            )
            upserts.append(upsert)
            if current is None:
                document = {**normalized, "_loaded_at": now, "_run_id": run_id}
                ops.append(InsertOne({**document, "_first_loaded_at": now}))
            else:
                ops.append(upsert)
        if ops:
            inserted, updated = bulk_upsert(collection, ops, upserts)
            counts.inserted += inserted
            counts.updated += updated
            counts.bulk_writes += 1

    def _stored(
        self, collection: Any, key: tuple[str, ...], documents: list[dict[str, Any]]
    ) -> dict[tuple[Any, ...], dict[str, Any]]:
        """Stored documents with the keys of ``documents``: one ``$in`` query per key field
        (a superset for composite keys, narrowed here), served by the unique index."""
        query = {k: {"$in": list({d[k] for d in documents})} for k in key}
        wanted = {_key_of(d, key) for d in documents}
        found = {}
        for current in collection.find(query):
            current_key = _key_of(current, key)
            if current_key in wanted:
                found[current_key] = current
        return found

    def _quarantine(
        self,
        quarantine: Any,
        asset: str,
        documents: list[QuarantinedDocument],
        now: dt.datetime,
        run_id: str,
    ) -> None:
        """Upsert by the payload's fingerprint: the same bad payload twice stays one document."""
        ops = {}
        for q in documents:
            text = payload_json(q.payload)
            sha = hashlib.sha256(text.encode()).hexdigest()
            ops[sha] = UpdateOne(
                {QUARANTINE_INDEX: sha},
                {
                    "$set": {
                        "source": asset,
                        "record_id": None if q.record_id is None else str(q.record_id),
                        "reason": q.reason,
                        "payload": text,
                        "quarantined_at": now,
                        "_run_id": run_id,
                    },
                    "$setOnInsert": {"first_quarantined_at": now},
                },
                upsert=True,
            )
        if ops:
            bulk_upsert(quarantine, list(ops.values()))

    # ---- reading --------------------------------------------------------------------------

    def load_input(self, context: InputContext) -> list[dict[str, Any]]:
        """Every document of the upstream asset's collection (without ``_id``), by key."""
        upstream = context.upstream_output
        asset_key = context.asset_key
        metadata = (upstream.definition_metadata if upstream else None) or {}
        name = collection_name(asset_key.path)
        cursor = self.mongo.get_database()[name].find({}, {"_id": 0})
        key = metadata.get("primary_key")
        if key:
            keys = [key] if isinstance(key, str) else list(key)
            cursor = cursor.sort([(k, ASCENDING) for k in keys])
        return list(cursor)
