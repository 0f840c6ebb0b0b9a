"""What the simulated Octadesk's records are made of: statuses, hash streams, overlay entries,
the base records' timeline and the listing adapter over one kind of record.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from support_assets.sandbox import octadesk_data as data
from support_assets.sandbox.base import format_ms, parse_instant_ms
from support_assets.sandbox.listing import MergedCollection

OPEN_STATUSES = ("Novo", "Pendente", "Em andamento")
CLOSED_STATUSES = ("Resolvido", "Rejeitado", "Cancelado")
TICKET_STATUSES = OPEN_STATUSES + CLOSED_STATUSES
TICKET_CHANNELS = ("email", "whatsapp", "web", "phone")
CHAT_STATUSES = ("waiting", "talking", "closed", "missed", "started", "offline", "hidden")
CHAT_OPEN_STATUSES = ("waiting", "talking", "started")
CHAT_CHANNELS = ("whatsapp", "instagram", "web")

DAY_MS = 86_400_000
UPDATED_SPAN_MS = 180 * DAY_MS
TICKET_CREATED_SPAN_MS = 185 * DAY_MS
CHAT_CREATED_SPAN_MS = 180 * DAY_MS
MIN_LAG_MS = 60_000

# Hash streams, so every property of a record draws from its own independent sequence.
S_TICKET, S_TICKET_U, S_TICKET_C, S_TICKET_STATUS = 11, 12, 13, 14
S_CHAT, S_CHAT_U, S_CHAT_C, S_CHAT_STATUS, S_CHAT_ID, S_LINK = 21, 22, 23, 24, 25, 26
S_MESSAGES, S_STAFF, S_MALFORMED, S_ADVANCE, S_MUTATE = 31, 32, 33, 34, 35
#: Base ticket 0 and base chat 0 belong to the CRM pool's client 0 (in Ploomes and Milvus too),
#: written as people type: the ticket with the CPF spaced and the e-mail in capitals, the chat
#: with only the phone, without +55.
SHARED_POOL_CLIENT = 0


TICKET_PROPERTIES = {
    "updatedAt": "updatedAt",
    "createdAt": "createdAt",
    "number": "number",
    "status": "status",
    "status.name": "status",
}
CHAT_PROPERTIES = {
    "updatedAt": "updatedAt",
    "createdAt": "createdAt",
    "number": "number",
    "status": "status",
}
MALFORMED_TIMESTAMPS = ("ontem às 14h", "0000-00-00 00:00:00", "", "31/10/2026 25:61")


def parse_filter_value(prop: str, raw: str) -> Any:
    """Turn a raw filter value into the comparable value the collections use."""
    if prop in ("updatedAt", "createdAt"):
        return parse_instant_ms(raw)
    if prop == "number":
        return int(raw)
    return raw.strip().casefold()


def chat_event(kind: str, ms: int, payload: dict[str, Any]) -> dict[str, Any]:
    """A chat event as `GET /chat/{id}/events` lists it."""
    return {"type": kind, "createdAt": format_ms(ms), "data": payload}


def _fraction(h: int) -> float:
    """A fraction in [0.05, 0.95) from a hash."""
    return 0.05 + (h % 9000) / 10_000


@dataclass
class Entry:
    """An overlay record: the JSON served plus the values listings sort and filter on."""

    record: dict[str, Any]
    number: int
    created_ms: int
    updated_ms: int
    status: str
    index: int | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    messages_key: int = 0

    def value(self, prop: str) -> Any:
        """Comparable value of a listing property."""
        if prop == "updatedAt":
            return self.updated_ms
        if prop == "createdAt":
            return self.created_ms
        if prop == "number":
            return self.number
        return self.status.casefold()


class Timeline:
    """Strictly decreasing `updatedAt`/`createdAt` for base indices, with createdAt < updatedAt."""

    def __init__(
        self, seed: int, size: int, anchor_ms: int, streams: tuple[int, int], created_span: int
    ) -> None:
        self.seed, self.size, self.anchor_ms = seed, max(size, 1), anchor_ms
        self.s_updated, self.s_created = streams
        self.created_span = created_span

    def updated(self, i: int) -> int:
        f = _fraction(data.mix(self.seed, self.s_updated, i))
        return self.anchor_ms - 1 - math.floor(UPDATED_SPAN_MS * (i + f) / self.size)

    def created(self, i: int) -> int:
        g = _fraction(data.mix(self.seed, self.s_created, i))
        return self.anchor_ms - MIN_LAG_MS - math.floor(self.created_span * (i + 1 + g) / self.size)


class Collection(MergedCollection):
    """Listing adapter over one kind of record of the world."""

    overlay_newer = frozenset({"updatedAt"})

    def __init__(self, size: int, timeline: Timeline, status_of: Any) -> None:
        super().__init__()
        self._size = size
        self.timeline = timeline
        self.status_of = status_of
        self.entries: dict[Any, Entry] = {}
        self.overridden_indices: list[int] = []

    @property
    def size(self) -> int:
        return self._size

    def base_value(self, prop: str, index: int) -> Any:
        if prop == "updatedAt":
            return self.timeline.updated(index)
        if prop == "createdAt":
            return self.timeline.created(index)
        if prop == "number":
            return self._size - index
        return self.status_of(index).casefold()

    def overlay_value(self, prop: str, entry: Any) -> Any:
        return entry.value(prop)

    def overridden(self) -> Sequence[int]:
        return self.overridden_indices

    def overlay_entries(self) -> Sequence[Any]:
        return list(self.entries.values())

    def put(self, key: Any, entry: Entry) -> None:
        """Add or replace an overlay entry, hiding its base index if it has one."""
        if entry.index is not None and key not in self.entries:
            bisect.insort(self.overridden_indices, entry.index)
        self.entries[key] = entry
        self.version += 1
