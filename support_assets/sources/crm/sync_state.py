"""The sync's state in the documents store and the protocol that keeps creates idempotent: look
the record up, record the intent, create once, and look again when the answer was lost."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from dagster import MetadataValue

from support_assets.core.http_errors import HttpError
from support_assets.core.mongo import MongoDBResource
from support_assets.sources.crm.http import CreateOutcomeUnknown, CrmApiResource
from support_assets.sources.crm.verify import single_match

#: State of a client the old script sent: linked when Milvus has it, never created again.
LEGACY_SENT = "legacy_sent"
LEGACY_SKIP_REASON = (
    "the previous integration sent this client (legacy sent-state) and Milvus no longer has it"
)
#: The documents-store collection of the sync state.
STATE_COLLECTION = "crm_sync_state"
#: States an item is looked at again on every run, whatever the cursors say (a quarantined
#: ticket is re-checked locally: its client's document may have been fixed).
RETRY_STATES = ("pending", "creating", "quarantined")
#: What a sync does per record (counted in its metadata): ``ambiguous`` when several target
#: records match one lookup, ``failed`` when a created record's document read back differs.
OUTCOMES = ("created", "linked", "rejected", "ambiguous", "failed")
#: How many times a create whose outcome was lost is looked up and tried again.
CREATE_ATTEMPTS = 3


class SyncState:
    """The sync's state in the documents store: one document per synced item.

    ``_id`` is ``<kind>:<key>`` (e.g. ``milvus_client:39053344705``, ``milvus_ticket:task:5``);
    ``status`` is ``creating`` (a create was about to be sent), ``created`` or ``linked``
    (the target's ids are known), ``pending`` (retry next run), ``rejected`` (the target
    refused it; retried when the source changes) or ``quarantined``.
    """

    def __init__(self, documents: MongoDBResource, run_id: str) -> None:
        self.collection = documents.get_database()[STATE_COLLECTION]
        self.run_id = run_id

    def get(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """State documents by ``_id``, read in batches."""
        if not ids:
            return {}
        found = {}
        for start in range(0, len(ids), 500):
            for doc in self.collection.find({"_id": {"$in": ids[start : start + 500]}}):
                found[doc["_id"]] = doc
        return found

    def retry(self, kind: str) -> list[dict[str, Any]]:
        """The items of ``kind`` looked at again on every run (``RETRY_STATES``)."""
        return list(self.collection.find({"kind": kind, "status": {"$in": list(RETRY_STATES)}}))

    def held(self, kind: str) -> set[str]:
        """Keys of the items left to a person (``failed``): never created again automatically."""
        return {doc["key"] for doc in self.collection.find({"kind": kind, "status": "failed"})}

    def mark(self, kind: str, key: str, status: str, **fields: Any) -> None:
        """Records an item's status (and fields) for this run; the first sighting is kept."""
        now = datetime.now(UTC)
        self.collection.update_one(
            {"_id": f"{kind}:{key}"},
            {
                "$set": {
                    "kind": kind,
                    "key": key,
                    "status": status,
                    "updated_at": now,
                    "run_id": self.run_id,
                    **fields,
                },
                "$setOnInsert": {"first_seen_at": now},
            },
            upsert=True,
        )


def legacy_plan(frame: pd.DataFrame | None, dry_run: bool) -> tuple[set[str], dict[str, int]]:
    """What a dry run of the legacy import planned (the state holds nothing yet): customer keys
    of sent clients, and item key -> Milvus ticket id. Empty outside a dry run."""
    if not dry_run or frame is None or frame.empty:
        return set(), {}
    rows = frame.to_dict("records")
    clients = {r["key"] for r in rows if r["kind"] == "client" and r["action"] == "would_import"}
    tickets = {
        r["key"]: int(r["milvus_ticket_id"])
        for r in rows
        if r["kind"] == "ticket" and r["action"] == "would_link"
    }
    return clients, tickets


def create_without_duplicates(
    lookup: Callable[[], Any], create: Callable[[], Any], attempts: int = CREATE_ATTEMPTS
) -> tuple[str, Any]:
    """``("linked", found)`` when the lookup finds the record, else ``("created", result)``.

    A create whose outcome was lost is followed by a lookup, and sent again only if the
    record is still not there."""
    found = lookup()
    if found:
        return "linked", found
    last: CreateOutcomeUnknown | None = None
    for _ in range(attempts):
        try:
            return "created", create()
        except CreateOutcomeUnknown as exc:
            last = exc
            found = lookup()
            if found:
                return "created", found
    assert last is not None
    raise last


#: Answers that mean the target refused the record itself (not the credentials or the
#: service): the item is marked rejected and the run goes on.
REFUSAL_STATUSES = frozenset({400, 409, 422})


def create_or_refusal(lookup: Callable[[], Any], create: Callable[[], Any]) -> tuple[str, Any, str]:
    """``create_without_duplicates``, with a refusal of the record answered as
    ``("rejected", None, reason)``; any other failure fails the run (no cursor moves)."""
    try:
        action, value = create_without_duplicates(lookup, create)
    except HttpError as exc:
        if exc.status_code not in REFUSAL_STATUSES:
            raise
        return "rejected", None, f"HTTP {exc.status_code}: {exc.body[:200]}"
    return action, value, ""


@dataclass
class SyncReport:
    """What one sync run did: counts per outcome, one table row per item, the dry run's plan and
    the items left to a person (named by their source id, never their document)."""

    counts: dict[str, int]
    rows: list[dict[str, Any]] = field(default_factory=list)
    would_create: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)

    def add(self, result: dict[str, Any], action: str, **values: Any) -> None:
        """Count ``action`` and add the item's row with it."""
        self.counts[action] += 1
        self.settle(result, action=action, **values)

    def settle(self, result: dict[str, Any], **values: Any) -> None:
        """Add the item's row, updated with ``values``, without counting it."""
        result.update(values)
        self.rows.append(result)

    def plan(self, result: dict[str, Any], entry: dict[str, Any]) -> None:
        """A dry run's ``would_create`` item."""
        self.would_create.append(entry)
        self.settle(result, action="would_create")

    def looked_up(
        self,
        result: dict[str, Any],
        found: list[dict[str, Any]],
        match: tuple[str, str],
        ids_of: Callable[[dict[str, Any]], dict[str, Any]],
        entry: dict[str, Any],
    ) -> None:
        """A dry run's answer for one item: linked to the one record ``found`` (``match``: its
        id key and what it is), ambiguous among several, else planned as ``entry``."""
        if not found:
            self.plan(result, entry)
            return
        record, reason = single_match(found, *match)
        if record is None:
            self.add(result, "ambiguous", reason=reason)
        else:
            self.add(result, "linked", **ids_of(record))

    def metadata(self, dry_run: bool, extra: Mapping[str, Any]) -> dict[str, Any]:
        """The sync asset's metadata: dry run, counts, the plan, and ``extra``."""
        return {
            "dry_run": dry_run,
            **{name: int(value) for name, value in self.counts.items()},
            "would_create": MetadataValue.json(self.would_create),
            **extra,
        }


def resource_metadata(resource: CrmApiResource) -> dict[str, Any]:
    """What a sync's API answered its lookups, its request stats and its rate at the end."""
    return {
        "lookups": MetadataValue.json(dict(resource.lookup_stats)),
        "http_requests": MetadataValue.json(resource.get_client().stats.as_dict()),
        "rate_limit_per_second_at_end": resource.rate_at_end,
    }
