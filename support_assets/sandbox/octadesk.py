"""The Octadesk simulator: tickets, chats, chat events and messages over real HTTP.

The world is a pure function of `(seed, index)` for its base records, so a million tickets cost
no memory: base record `i` has `updatedAt` and `createdAt` strictly decreasing in `i` (spread
over the 180 days before the anchor) and number `size - i`. Changed and created records live in
an overlay and carry the world clock, which starts at the anchor and only moves forward, so
every overlay record is newer than every base record. The admin API moves the world on
(`advance`) and reports it (`truth`). Facts the real API leaves unknown (filters on `/tickets`,
rate limits) are simulated with the most defensive assumption: they exist.
"""

from __future__ import annotations

import bisect
import copy
import itertools
import logging
import math
import random
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from support_assets.sandbox import crm_world
from support_assets.sandbox import octadesk_data as data
from support_assets.sandbox.base import (
    SandboxConfig,
    Simulator,
    error,
    format_ms,
    json_body,
    parse_instant_ms,
)
from support_assets.sandbox.faults import DUPLICATE, MUTATE
from support_assets.sandbox.listing import (
    MergedCollection,
    QueryError,
    parse_int_param,
    parse_list_query,
)

logger = logging.getLogger(__name__)

#: The API key every request to the simulated Octadesk must carry in `X-API-KEY`.
SANDBOX_OCTADESK_API_KEY = "sandbox-octadesk-key"

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
_S_TICKET, _S_TICKET_U, _S_TICKET_C, _S_TICKET_STATUS = 11, 12, 13, 14
_S_CHAT, _S_CHAT_U, _S_CHAT_C, _S_CHAT_STATUS, _S_CHAT_ID, _S_LINK = 21, 22, 23, 24, 25, 26
_S_MESSAGES, _S_STAFF, _S_MALFORMED, _S_ADVANCE, _S_MUTATE = 31, 32, 33, 34, 35
#: Base ticket 0 and base chat 0 belong to the CRM pool's client 0 (in Ploomes and Milvus too),
#: written as people type: the ticket with the CPF spaced and the e-mail in capitals, the chat
#: with only the phone, without +55.
SHARED_POOL_CLIENT = 0

_MASK48 = (1 << 48) - 1
_ID_MULTIPLIER = 0x5DEECE66D3B1
_ID_INVERSE = pow(_ID_MULTIPLIER, -1, 1 << 48)

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
_MALFORMED_TIMESTAMPS = ("ontem às 14h", "0000-00-00 00:00:00", "", "31/10/2026 25:61")


def parse_filter_value(prop: str, raw: str) -> Any:
    """Turn a raw filter value into the comparable value the collections use."""
    if prop in ("updatedAt", "createdAt"):
        return parse_instant_ms(raw)
    if prop == "number":
        return int(raw)
    return raw.strip().casefold()


def _event(kind: str, ms: int, payload: dict[str, Any]) -> dict[str, Any]:
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


class _Timeline:
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


class _Collection(MergedCollection):
    """Listing adapter over one kind of record of the world."""

    overlay_newer = frozenset({"updatedAt"})

    def __init__(self, size: int, timeline: _Timeline, status_of: Any) -> None:
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


class OctadeskWorld:
    """The simulated tenant: lazily generated base records plus an overlay, behind one lock."""

    def __init__(self, config: SandboxConfig) -> None:
        self.lock = threading.RLock()
        self.seed = config.seed
        self.n_tickets = config.octadesk_tickets
        self.n_chats = config.octadesk_chats
        self.anchor_ms = config.anchor_ms
        self.clock_ms = self.anchor_ms
        self.advances = 0
        self.mutations = 0
        self.tickets_created = 0
        self.chats_created = 0
        staff = data.rng_for(self.seed, _S_STAFF)
        self.agents = [
            {"id": data.uuid_from(staff), "name": name, "email": self._agent_email(name)}
            for name in data.AGENT_NAMES
        ]
        self.groups = [{"id": data.uuid_from(staff), "name": name} for name in data.GROUP_NAMES]
        self.id_mask = staff.getrandbits(48)
        malformed_rng = data.rng_for(self.seed, _S_MALFORMED)
        count = min(config.octadesk_malformed, self.n_tickets)
        picked = sorted(malformed_rng.sample(range(self.n_tickets), count))
        self.malformed = {
            i: ("missing_id" if k % 2 == 0 else "bad_updated_at") for k, i in enumerate(picked)
        }
        self.tickets = _Collection(
            self.n_tickets,
            _Timeline(
                self.seed,
                self.n_tickets,
                self.anchor_ms,
                (_S_TICKET_U, _S_TICKET_C),
                TICKET_CREATED_SPAN_MS,
            ),
            self.ticket_status,
        )
        self.chats = _Collection(
            self.n_chats,
            _Timeline(
                self.seed,
                self.n_chats,
                self.anchor_ms,
                (_S_CHAT_U, _S_CHAT_C),
                CHAT_CREATED_SPAN_MS,
            ),
            self.chat_status,
        )

    @staticmethod
    def _agent_email(name: str) -> str:
        return f"{data.ascii_slug(name)}@empresa.com.br"

    def tick(self, rng: random.Random) -> int:
        """Move the world clock forward a few seconds and answer it."""
        self.clock_ms += rng.randint(1_000, 5_000)
        return self.clock_ms

    # ----- tickets -------------------------------------------------------------------------

    def ticket_status(self, i: int) -> str:
        """Status of base ticket `i` (older tickets are mostly closed)."""
        h = data.mix(self.seed, _S_TICKET_STATUS, i)
        age = i / max(self.n_tickets, 1)
        open_probability = 0.05 + 0.6 * (1 - age) ** 3
        if (h % 10_000) / 10_000 < open_probability:
            return OPEN_STATUSES[(h >> 20) % 3]
        pick = (h >> 24) % 20
        return "Resolvido" if pick < 15 else ("Cancelado" if pick < 18 else "Rejeitado")

    def _ticket_record(
        self,
        key: int,
        number: int,
        created_ms: int,
        updated_ms: int,
        status: str,
        extra_keys: Sequence[str] = (),
    ) -> dict[str, Any]:
        rng = data.rng_for(self.seed, _S_TICKET, key)
        name, email = data.person(rng)
        summary = rng.choice(data.SUMMARIES)
        order = f"PD-{rng.randint(10_000, 99_999)}"
        if rng.random() < 0.2:
            summary = f"{summary} - pedido {order}"
        tags = sorted(rng.sample(data.TAGS, rng.randint(0, 3)))
        agent = rng.choice(self.agents)
        assigned = None if status == "Novo" and rng.random() < 0.7 else dict(agent)
        custom: list[dict[str, Any]] = []
        for field_key in data.CUSTOM_FIELD_KEYS:
            chance = 0.8 if field_key in ("cpf", "n_do_pedido") else 0.45
            if rng.random() < chance:
                custom.append(
                    {
                        "key": field_key,
                        "value": self._custom_value(field_key, rng, email, order, created_ms),
                    }
                )
        for field_key in extra_keys:
            custom.append({"key": field_key, "value": rng.choice(data.SALES_CHANNELS)})
        requester_fields = (
            [{"key": "cpf", "value": data.valid_cpf(rng)}] if rng.random() < 0.3 else []
        )
        closed = status in CLOSED_STATUSES
        record = {
            "id": data.uuid_from(rng),
            "number": number,
            "summary": summary,
            "tags": tags,
            "createdAt": format_ms(created_ms),
            "updatedAt": format_ms(updated_ms),
            "closedAt": format_ms(updated_ms) if closed else None,
            "status": {"name": status},
            "channel": {"name": rng.choice(TICKET_CHANNELS)},
            "requester": {
                "id": data.uuid_from(rng),
                "name": name,
                "email": email,
                "customField": requester_fields,
            },
            "assignedTo": assigned,
            "group": dict(rng.choice(self.groups)),
            "lastHumanInteraction": (
                {"propertiesChanges": {"status": status}} if assigned else None
            ),
            "customField": custom,
        }
        if key == 0:
            shared = crm_world.real_client(self.seed, SHARED_POOL_CLIENT)
            doc = shared.document
            record["requester"]["email"] = shared.email.upper()
            record["customField"] = [c for c in custom if c["key"] != "cpf"] + [
                {"key": "cpf", "value": f"{doc[:3]} {doc[3:6]} {doc[6:9]} {doc[9:]}"}
            ]
        return record

    @staticmethod
    def _custom_value(key: str, rng: random.Random, email: str, order: str, created_ms: int) -> str:
        if key == "codigo_de_rastreio":
            return data.tracking_code(rng)
        if key == "cpf":
            return data.valid_cpf(rng)
        if key == "data_de_pagamento":
            paid = created_ms - rng.randint(0, 20) * DAY_MS
            iso = format_ms(paid)
            return f"{iso[8:10]}/{iso[5:7]}/{iso[0:4]}"
        if key == "email_do_cliente":
            return email
        if key == "motivo_de_contatos":
            return rng.choice(data.CONTACT_REASONS)
        if key == "n_da_nota_fiscal":
            return f"{rng.randint(1, 999_999):09d}"
        if key == "n_do_pedido":
            return order
        if key == "n_do_pedido_bling":
            return str(rng.randint(1_000_000, 9_999_999))
        if key == "produto":
            return rng.choice(data.PRODUCTS)
        return rng.choice(data.PROBLEM_TYPES)

    def base_ticket(self, i: int) -> dict[str, Any]:
        """Base ticket `i` as served (malformed ones broken on purpose)."""
        timeline = self.tickets.timeline
        record = self._ticket_record(
            i, self.n_tickets - i, timeline.created(i), timeline.updated(i), self.ticket_status(i)
        )
        kind = self.malformed.get(i)
        if kind == "missing_id":
            del record["id"]
        elif kind == "bad_updated_at":
            record["updatedAt"] = _MALFORMED_TIMESTAMPS[i % len(_MALFORMED_TIMESTAMPS)]
        return record

    def ticket_item(self, item: Any) -> dict[str, Any]:
        """Materialise a listing item (base index or overlay entry)."""
        return self.base_ticket(item) if isinstance(item, int) else item.record

    def ticket_by_number(self, number: int) -> dict[str, Any] | None:
        """One ticket as served, or None."""
        entry = self.tickets.entries.get(number)
        if entry is not None:
            return entry.record
        if 1 <= number <= self.n_tickets:
            return self.base_ticket(self.n_tickets - number)
        return None

    def _ticket_entry(self, number: int) -> Entry | None:
        entry = self.tickets.entries.get(number)
        if entry is not None:
            return entry
        if not 1 <= number <= self.n_tickets:
            return None
        i = self.n_tickets - number
        timeline = self.tickets.timeline
        return Entry(
            self.base_ticket(i),
            number,
            timeline.created(i),
            timeline.updated(i),
            self.ticket_status(i),
            index=i,
        )

    def is_malformed_ticket(self, number: int) -> bool:
        """Whether a ticket number is one of the deliberately broken ones."""
        return number not in self.tickets.entries and (self.n_tickets - number) in self.malformed

    def update_ticket(self, number: int, rng: random.Random) -> None:
        """Give a ticket a new status and `updatedAt` (the world clock)."""
        entry = self._ticket_entry(number)
        if entry is None:
            return
        status = rng.choice([s for s in TICKET_STATUSES if s != entry.status])
        now = self.tick(rng)
        record = copy.deepcopy(entry.record)
        record["status"] = {"name": status}
        record["updatedAt"] = format_ms(now)
        record["closedAt"] = format_ms(now) if status in CLOSED_STATUSES else None
        if record["assignedTo"] is None and status != "Novo":
            record["assignedTo"] = dict(rng.choice(self.agents))
        if record["assignedTo"] is not None:
            record["lastHumanInteraction"] = {"propertiesChanges": {"status": status}}
        self.tickets.put(
            number, Entry(record, number, entry.created_ms, now, status, index=entry.index)
        )

    def create_ticket(self, rng: random.Random) -> int:
        """Create a new ticket at the world clock; every fourth carries a brand-new field key."""
        k = self.tickets_created
        self.tickets_created += 1
        number = self.n_tickets + 1 + k
        now = self.tick(rng)
        status = "Novo" if rng.random() < 0.8 else "Pendente"
        extra = data.NEW_CUSTOM_FIELD_KEYS if k % 4 == 1 else ()
        record = self._ticket_record(self.n_tickets + k, number, now, now, status, extra)
        self.tickets.put(number, Entry(record, number, now, now, status))
        return number

    def valid_ticket_numbers(self) -> int:
        """Highest ticket number in the world (numbers 1..this all exist)."""
        return self.n_tickets + self.tickets_created

    # ----- chats ---------------------------------------------------------------------------

    def chat_status(self, j: int) -> str:
        """Status of base chat `j` (recent chats are mostly still open)."""
        h = data.mix(self.seed, _S_CHAT_STATUS, j)
        age = j / max(self.n_chats, 1)
        if (h % 10_000) / 10_000 < 0.04 + 0.5 * (1 - age) ** 4:
            return CHAT_OPEN_STATUSES[(h >> 20) % 3]
        pick = (h >> 24) % 20
        if pick < 15:
            return "closed"
        return ("missed", "offline", "hidden")[pick % 3]

    def chat_id(self, j: int) -> str:
        """UUID of chat index `j`; its last 48 bits scramble the index, so lookups are O(1)."""
        bits = data.mix(self.seed, _S_CHAT_ID, j) << 64 | data.mix(self.seed, _S_CHAT_ID, j, 1)
        node = ((j * _ID_MULTIPLIER) & _MASK48) ^ self.id_mask
        return str(uuid.UUID(int=(bits & ~_MASK48) | node, version=4))

    def chat_index(self, chat_id: str) -> int | None:
        """Base or created index of a chat id, or None if it is not one of this world's."""
        try:
            parsed = uuid.UUID(chat_id)
        except ValueError:
            return None
        j = (((parsed.int & _MASK48) ^ self.id_mask) * _ID_INVERSE) & _MASK48
        if j < self.n_chats and self.chat_id(j) == str(parsed):
            return j
        return None

    def _chat_link(self, j: int) -> int | str | None:
        """The ticket number base chat `j` links to (int or string, as in the wild), if any."""
        h = data.mix(self.seed, _S_LINK, j)
        if h % 3 != 0 or self.n_tickets == 0:
            return None
        i = min(self.n_tickets - 1, j * self.n_tickets // max(self.n_chats, 1) + (h >> 8) % 5)
        nearby = itertools.chain(
            range(i, min(i + 50, self.n_tickets)), range(i - 1, max(i - 50, -1), -1)
        )
        for candidate in nearby:
            if candidate not in self.malformed:
                number = self.n_tickets - candidate
                return number if (h >> 4) % 2 == 0 else str(number)
        return None

    def _chat_bundle(
        self,
        key: int,
        number: int,
        created_ms: int,
        updated_ms: int,
        status: str,
        link: int | str | None,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        rng = data.rng_for(self.seed, _S_CHAT, key)
        name, email = data.person(rng)
        with_bot = rng.random() < 0.7
        staffed = status not in ("waiting", "missed", "started") and (
            not with_bot or rng.random() < 0.75
        )
        agent = dict(rng.choice(self.agents)) if staffed else None
        tags = (["bot"] if with_bot else []) + sorted(rng.sample(data.TAGS, rng.randint(0, 2)))
        custom = []
        if rng.random() < 0.6:
            custom.append({"key": "produto", "value": rng.choice(data.PRODUCTS)})
        contact_fields = [] if link is None else [{"key": "n_mero_do_ticket", "value": str(link)}]
        closed = status == "closed"
        record = {
            "id": self.chat_id(key),
            "number": number,
            "channel": rng.choice(CHAT_CHANNELS),
            "status": status,
            "statusDetail": "Cliente não respondeu" if status == "missed" else None,
            "contact": {
                "id": data.uuid_from(rng),
                "name": name,
                "email": email,
                "phone": data.phone(rng),
                "customFields": contact_fields,
            },
            "agent": agent,
            "lastMessageDate": format_ms(updated_ms),
            "createdAt": format_ms(created_ms),
            "updatedAt": format_ms(updated_ms),
            "closedAt": format_ms(updated_ms) if closed else None,
            "unreadMessages": 0 if closed or status == "hidden" else rng.randint(0, 5),
            "withBot": with_bot,
            "tags": tags,
            "customFields": custom,
        }
        if key == 0:
            shared = crm_world.real_client(self.seed, SHARED_POOL_CLIENT)
            national = shared.phone.removeprefix("+55 ")
            record["contact"]["email"] = None  # a WhatsApp contact: known by the phone only
            record["contact"]["phone"] = f"({national[:2]}) {national[3:]}"
        span = updated_ms - created_ms
        events = [
            _event("created", created_ms, {"channel": record["channel"], "withBot": with_bot})
        ]
        if agent is not None and with_bot:
            events.append(
                _event(
                    "transferred",
                    created_ms + span // 4,
                    {
                        "from": {"type": "bot", "name": "Octabot 🤖"},
                        "to": {"type": "agent", **agent},
                    },
                )
            )
        if link is not None:
            events.append(_event("ticket", created_ms + span // 2, {"ticketNumber": link}))
        if closed:
            if rng.random() < 0.6:
                events.append(
                    _event(
                        "satisfaction",
                        updated_ms - 1,
                        {
                            "score": rng.randint(1, 5),
                            "comment": rng.choice(data.SATISFACTION_COMMENTS),
                        },
                    )
                )
            events.append(
                _event("closed", updated_ms, {"by": agent["name"] if agent else "Octabot 🤖"})
            )
        return record, events

    def base_chat(self, j: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Base chat `j` and its events."""
        timeline = self.chats.timeline
        return self._chat_bundle(
            j,
            self.n_chats - j,
            timeline.created(j),
            timeline.updated(j),
            self.chat_status(j),
            self._chat_link(j),
        )

    def chat_item(self, item: Any) -> dict[str, Any]:
        """Materialise a chat listing item."""
        return self.base_chat(item)[0] if isinstance(item, int) else item.record

    def _chat_entry(self, chat_id: str) -> Entry | None:
        entry = self.chats.entries.get(chat_id)
        if entry is not None:
            return entry
        j = self.chat_index(chat_id)
        if j is None:
            return None
        record, events = self.base_chat(j)
        timeline = self.chats.timeline
        return Entry(
            record,
            self.n_chats - j,
            timeline.created(j),
            timeline.updated(j),
            record["status"],
            index=j,
            events=events,
            messages_key=j,
        )

    def chat_by_id(self, chat_id: str) -> Entry | None:
        """A chat's entry (record, events), or None."""
        return self._chat_entry(chat_id)

    def chat_id_at(self, item: Any) -> str:
        """The id of a chat listing item."""
        return self.chat_id(item) if isinstance(item, int) else item.record["id"]

    def update_chat(self, chat_id: str, rng: random.Random) -> None:
        """Give a chat a new status and `updatedAt`; closing it adds a `closed` event."""
        entry = self._chat_entry(chat_id)
        if entry is None:
            return
        status = rng.choice([s for s in CHAT_STATUSES if s != entry.status])
        now = self.tick(rng)
        record = copy.deepcopy(entry.record)
        events = copy.deepcopy(entry.events)
        record["status"] = status
        record["updatedAt"] = format_ms(now)
        record["lastMessageDate"] = format_ms(now)
        record["closedAt"] = format_ms(now) if status == "closed" else None
        if status in ("talking", "closed") and record["agent"] is None:
            record["agent"] = dict(rng.choice(self.agents))
            events.append(
                _event(
                    "transferred",
                    now,
                    {
                        "from": {"type": "bot", "name": "Octabot 🤖"},
                        "to": {"type": "agent", **record["agent"]},
                    },
                )
            )
        if status == "closed":
            record["unreadMessages"] = 0
            events.append(_event("closed", now, {"by": record["agent"]["name"]}))
        self.chats.put(
            chat_id,
            Entry(
                record,
                entry.number,
                entry.created_ms,
                now,
                status,
                index=entry.index,
                events=events,
                messages_key=entry.messages_key,
            ),
        )

    def create_chat(self, rng: random.Random) -> str:
        """Create a new open chat at the world clock; a third link to an existing ticket."""
        k = self.chats_created
        self.chats_created += 1
        key = self.n_chats + k
        now = self.tick(rng)
        link: int | str | None = None
        highest = self.valid_ticket_numbers()
        if highest and rng.random() < 1 / 3:
            for _ in range(20):
                number = rng.randint(max(1, highest - 50), highest)
                if not self.is_malformed_ticket(number):
                    link = number if rng.random() < 0.5 else str(number)
                    break
        status = rng.choice(CHAT_OPEN_STATUSES)
        record, events = self._chat_bundle(key, key + 1, now, now, status, link)
        self.chats.put(
            record["id"], Entry(record, key + 1, now, now, status, events=events, messages_key=key)
        )
        return record["id"]

    def messages(self, entry: Entry) -> list[dict[str, Any]]:
        """The conversation of a chat, oldest first."""
        record = entry.record
        rng = data.rng_for(self.seed, _S_MESSAGES, entry.messages_key)
        contact = record["contact"]["name"]
        agent = record["agent"]
        script: list[tuple[str, str, str]] = [
            ("contact", contact, rng.choice(data.CONTACT_OPENERS))
        ]
        if record["withBot"]:
            script.append(("bot", "Octabot 🤖", data.BOT_LINES[0]))
            script.append(("contact", contact, rng.choice(data.CONTACT_LINES)))
            script.append(("bot", "Octabot 🤖", rng.choice(data.BOT_LINES[1:])))
            script.append(("contact", contact, f"PD-{rng.randint(10_000, 99_999)}"))
            if agent is not None:
                script.append(("bot", "Octabot 🤖", data.BOT_HANDOVER))
        else:
            script.append(("contact", contact, rng.choice(data.CONTACT_LINES)))
        if agent is not None:
            first_contact, first_agent = contact.split()[0], agent["name"].split()[0]
            script.append(
                (
                    "agent",
                    agent["name"],
                    f"Olá, {first_contact}! Aqui é {first_agent}, vou verificar para você.",
                )
            )
            for line in rng.sample(data.AGENT_LINES, rng.randint(1, 3)):
                script.append(("agent", agent["name"], line))
            link = next(
                (e["data"]["ticketNumber"] for e in entry.events if e["type"] == "ticket"), None
            )
            if link is not None:
                script.append(
                    ("agent", agent["name"], f"Abri o chamado nº {link} para acompanharmos.")
                )
            script.append(("contact", contact, rng.choice(data.CONTACT_CLOSERS)))
        start = entry.created_ms
        end = parse_instant_ms(record["lastMessageDate"])
        step = max((end - start) // max(len(script) - 1, 1), 1)
        messages = []
        for position, (author_type, author_name, body) in enumerate(script):
            sent = min(start + position * step, end) if position < len(script) - 1 else end
            messages.append(
                {
                    "id": data.uuid_from(rng),
                    "body": body,
                    "sentAt": format_ms(sent),
                    "author": {"type": author_type, "name": author_name},
                }
            )
        return messages

    # ----- world-wide operations -----------------------------------------------------------

    def advance(self, update: int, create: int, chats_update: int, chats_create: int) -> dict:
        """Move the world on: change and create tickets and chats at the world clock."""
        with self.lock:
            rng = data.rng_for(self.seed, _S_ADVANCE, self.advances)
            self.advances += 1
            valid = self._sample_ticket_numbers(rng, update)
            for number in valid:
                self.update_ticket(number, rng)
            created = [self.create_ticket(rng) for _ in range(create)]
            chat_ids = self._sample_chat_ids(rng, chats_update)
            for chat_id in chat_ids:
                self.update_chat(chat_id, rng)
            chats_created = [self.create_chat(rng) for _ in range(chats_create)]
            logger.info(
                "octadesk advanced: %d/%d tickets, %d/%d chats",
                len(valid),
                len(created),
                len(chat_ids),
                len(chats_created),
            )
            return {
                "updated": valid,
                "created": created,
                "chats_updated": chat_ids,
                "chats_created": chats_created,
                "clock": format_ms(self.clock_ms),
            }

    def _sample_ticket_numbers(self, rng: random.Random, k: int) -> list[int]:
        highest = self.valid_ticket_numbers()
        available = highest - len(
            [i for i in self.malformed if self.n_tickets - i not in self.tickets.entries]
        )
        k = min(k, available)
        picked: list[int] = []
        seen: set[int] = set()
        while len(picked) < k:
            number = rng.randint(1, highest)
            if number in seen or self.is_malformed_ticket(number):
                continue
            seen.add(number)
            picked.append(number)
        return picked

    def _sample_chat_ids(self, rng: random.Random, k: int) -> list[str]:
        total = self.n_chats + self.chats_created
        positions = rng.sample(range(total), min(k, total))
        created_ids = [e.record["id"] for e in self.chats.entries.values() if e.index is None]
        created_ids.sort(key=lambda chat_id: self.chats.entries[chat_id].number)
        return [
            self.chat_id(p) if p < self.n_chats else created_ids[p - self.n_chats]
            for p in positions
        ]

    def mutate(self, kind: str, item: Any) -> None:
        """The `mutate_during_pagination` fault: one listed record gets a new status now."""
        with self.lock:
            rng = data.rng_for(self.seed, _S_MUTATE, self.mutations)
            self.mutations += 1
            if kind == "tickets":
                self.update_ticket(self.ticket_item(item)["number"], rng)
            else:
                self.update_chat(self.chat_id_at(item), rng)

    def truth(self) -> dict[str, Any]:
        """The whole current world (valid records only in `tickets`/`chats`)."""
        with self.lock:
            _, ticket_items = self.tickets.select((), "updatedAt", True, 0, 1 << 62)
            tickets, malformed = [], []
            for item in ticket_items:
                record = self.ticket_item(item)
                if isinstance(item, int) and item in self.malformed:
                    malformed.append(record)
                else:
                    tickets.append(record)
            _, chat_items = self.chats.select((), "updatedAt", True, 0, 1 << 62)
            chats, events = [], {}
            for item in chat_items:
                if isinstance(item, int):
                    record, chat_events = self.base_chat(item)
                else:
                    record, chat_events = item.record, item.events
                chats.append(record)
                events[record["id"]] = chat_events
            return {
                "tickets": tickets,
                "chats": chats,
                "chat_events": events,
                "malformed_tickets": malformed,
                "clock": format_ms(self.clock_ms),
            }


def _check_auth(request: Request) -> Response | None:
    """401 unless the request carries the sandbox key and an agent e-mail."""
    if request.headers.get("x-api-key") != SANDBOX_OCTADESK_API_KEY:
        return error(401, "Invalid or missing X-API-KEY")
    if not request.headers.get("octa-agent-email", "").strip():
        return error(401, "Missing octa-agent-email header")
    return None


#: How a listing may differ from the docs, one knob each (`/_admin/octadesk/behaviour`).
KNOBS = ("ignore_filters", "ignore_sort", "envelope", "retype", "omit_totals", "cap_pages")
#: What the divergent mode turns on: everything real tenants were seen doing. The sort is kept.
#: ``cap_pages`` (a page silently holds half the records asked while the headers count full
#: pages) loses records, so it is only ever switched on alone, to test the reconciliation.
DIVERGENT_KNOBS = frozenset(KNOBS) - {"ignore_sort", "cap_pages"}


def diverge_ticket(record: dict[str, Any]) -> dict[str, Any]:
    """A ticket as a divergent tenant serves it: ``number`` as a string, and the Bling order
    number (documented as a string of digits) as a JSON number."""
    served = copy.deepcopy(record)
    if isinstance(served.get("number"), int):
        served["number"] = str(served["number"])
    for custom in served.get("customField") or []:
        value = custom.get("value")
        if custom.get("key") == "n_do_pedido_bling" and isinstance(value, str) and value.isdigit():
            custom["value"] = int(value)
    return served


def diverge_chat(record: dict[str, Any]) -> dict[str, Any]:
    """A chat as a divergent tenant serves it: ``number`` as a string."""
    served = dict(record)
    if isinstance(served.get("number"), int):
        served["number"] = str(served["number"])
    return served


def _page_headers(total: int, page: int, limit: int) -> dict[str, str]:
    pages = math.ceil(total / limit)
    headers = {"X-Total-Items": str(total), "X-Total-Pages": str(pages)}
    if page < pages:
        headers["X-Next-Page"] = str(page + 1)
    return headers


class OctadeskSimulator(Simulator):
    """Routes of the simulated Octadesk API and its admin endpoints."""

    name = "octadesk"
    prefix = "/octadesk"

    def reset(self, config: SandboxConfig) -> None:
        self.world = OctadeskWorld(config)
        self.overrides: dict[str, bool] = {}

    def behaves(self, knob: str) -> bool:
        """Whether one divergence is on: its admin override, else the divergent mode (which
        turns on every knob but ``ignore_sort``)."""
        if knob in self.overrides:
            return self.overrides[knob]
        return self.divergent and knob in DIVERGENT_KNOBS

    def _answer(
        self, body: list[dict[str, Any]], headers: dict[str, str], page: int, limit: int
    ) -> Response:
        """A list as documented (bare, totals in headers) or as a divergent tenant answers it
        (in a ``data`` envelope, without the total headers)."""
        if self.behaves("omit_totals"):
            headers = {}
        if self.behaves("envelope"):
            return JSONResponse({"data": body, "page": page, "limit": limit}, headers=headers)
        return JSONResponse(body, headers=headers)

    def truth(self) -> dict[str, Any]:
        return self.world.truth()

    def routes(self) -> list[Route]:
        return [
            Route("/auth/check", self.auth_check, methods=["GET"]),
            Route("/tickets", self.list_tickets, methods=["GET"]),
            Route("/tickets/{number}", self.get_ticket, methods=["GET"]),
            Route("/chat", self.list_chats, methods=["GET"]),
            Route("/chat/{id}", self.get_chat, methods=["GET"]),
            Route("/chat/{id}/events", self.chat_events, methods=["GET"]),
            Route("/chat/{id}/messages", self.chat_messages, methods=["GET"]),
        ]

    def admin_routes(self) -> list[Route]:
        return [
            Route("/advance", self.admin_advance, methods=["POST"]),
            Route("/truth", self.admin_truth, methods=["GET"]),
            Route("/behaviour", self.admin_behaviour, methods=["GET", "PUT"]),
        ]

    # ----- public endpoints ----------------------------------------------------------------

    async def auth_check(self, request: Request) -> Response:
        return _check_auth(request) or JSONResponse({"ok": True})

    async def list_tickets(self, request: Request) -> Response:
        return self._list(request, "tickets")

    async def list_chats(self, request: Request) -> Response:
        return self._list(request, "chats")

    def _list(self, request: Request, kind: str) -> Response:
        denied = _check_auth(request)
        if denied:
            return denied
        properties = TICKET_PROPERTIES if kind == "tickets" else CHAT_PROPERTIES
        try:
            query = parse_list_query(
                request.query_params.multi_items(), properties, parse_filter_value
            )
        except QueryError as exc:
            return error(400, str(exc))
        world = self.world
        with world.lock:
            collection = world.tickets if kind == "tickets" else world.chats
            materialise = world.ticket_item if kind == "tickets" else world.chat_item
            # A divergent tenant ignores filters and keeps the sort; `ignore_sort` lists in the
            # server's own order (by number, ascending) whatever was asked.
            filters = () if self.behaves("ignore_filters") else query.filters
            if self.behaves("ignore_sort"):
                args: tuple = (filters, "number", False)
            else:
                args = (filters, query.sort_property, query.descending)
            total, items = collection.select(*args, query.offset, query.limit)
            if self.behaves("cap_pages"):
                items = items[: max(1, query.limit // 2)]
            body = [materialise(item) for item in items]
            if (
                query.page > 1
                and body
                and 0 < query.offset <= total
                and self.context.faults.take(DUPLICATE)
            ):
                _, previous = collection.select(*args, query.offset - 1, 1)
                body.insert(0, materialise(previous[0]))
            headers = _page_headers(total, query.page, query.limit)
            if query.page == 1 and total > query.limit and self.context.faults.enabled(MUTATE):
                target = self._mutation_target(kind, collection, args, total)
                if target is not None and self.context.faults.take(MUTATE):
                    world.mutate(kind, target)
        if self.behaves("retype"):
            body = [(diverge_ticket if kind == "tickets" else diverge_chat)(r) for r in body]
        self.context.stats.count_records(kind, len(body))
        return self._answer(body, headers, query.page, query.limit)

    def _mutation_target(self, kind: str, collection: Any, args: tuple, total: int) -> Any:
        """The last valid record of a listing (it sits on the last page)."""
        for offset in range(total - 1, max(total - 10, 0) - 1, -1):
            _, items = collection.select(*args, offset, 1)
            item = items[0]
            if kind == "tickets" and isinstance(item, int) and item in self.world.malformed:
                continue
            return item
        return None

    async def get_ticket(self, request: Request) -> Response:
        denied = _check_auth(request)
        if denied:
            return denied
        try:
            number = int(request.path_params["number"])
        except ValueError:
            return error(404, "Ticket not found")
        with self.world.lock:
            record = self.world.ticket_by_number(number)
        if record is None:
            return error(404, "Ticket not found")
        self.context.stats.count_records("tickets", 1)
        return JSONResponse(record)

    def _chat(self, request: Request) -> Entry | Response:
        denied = _check_auth(request)
        if denied:
            return denied
        with self.world.lock:
            entry = self.world.chat_by_id(request.path_params["id"])
        if entry is None:
            return error(404, "Chat not found")
        return entry

    async def get_chat(self, request: Request) -> Response:
        entry = self._chat(request)
        if isinstance(entry, Response):
            return entry
        self.context.stats.count_records("chats", 1)
        return JSONResponse(entry.record)

    async def chat_events(self, request: Request) -> Response:
        entry = self._chat(request)
        if isinstance(entry, Response):
            return entry
        self.context.stats.count_records("chat_events", len(entry.events))
        if self.behaves("envelope"):
            return JSONResponse({"data": entry.events})
        return JSONResponse(entry.events)

    async def chat_messages(self, request: Request) -> Response:
        entry = self._chat(request)
        if isinstance(entry, Response):
            return entry
        params = request.query_params
        try:
            page = parse_int_param(params, "page", 1, 1, 10**9)
            limit = parse_int_param(params, "limit", 100, 1, 100)
        except QueryError as exc:
            return error(400, str(exc))
        with self.world.lock:
            messages = self.world.messages(entry)
        offset = (page - 1) * limit
        body = messages[offset : offset + limit]
        if page > 1 and body and self.context.faults.take(DUPLICATE):
            body.insert(0, messages[offset - 1])
        self.context.stats.count_records("messages", len(body))
        return self._answer(body, _page_headers(len(messages), page, limit), page, limit)

    # ----- admin endpoints -----------------------------------------------------------------

    async def admin_advance(self, request: Request) -> Response:
        try:
            body = await json_body(request)
        except ValueError as exc:
            return error(400, str(exc))
        names = ("update", "create", "chats_update", "chats_create")
        unknown = sorted(set(body) - set(names))
        if unknown:
            return error(400, f"unknown fields: {', '.join(unknown)}")
        counts = {}
        for name in names:
            value = body.get(name, 0)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                return error(400, f"{name} must be a non-negative integer")
            counts[name] = value
        return JSONResponse(self.world.advance(**counts))

    async def admin_truth(self, request: Request) -> Response:
        return JSONResponse(self.truth())

    async def admin_behaviour(self, request: Request) -> Response:
        """Each divergence alone: ``{"ignore_filters": true, "ignore_sort": true, ...}``; a
        knob set to null follows the divergent mode again."""
        if request.method == "PUT":
            try:
                body = await json_body(request)
            except ValueError as exc:
                return error(400, str(exc))
            unknown = sorted(set(body) - set(KNOBS))
            if unknown:
                return error(400, f"unknown fields: {', '.join(unknown)}")
            for knob, value in body.items():
                if value is not None and not isinstance(value, bool):
                    return error(400, f"{knob} must be true, false or null")
            for knob, value in body.items():
                if value is None:
                    self.overrides.pop(knob, None)
                else:
                    self.overrides[knob] = value
        return JSONResponse({"divergent": self.divergent, **{k: self.behaves(k) for k in KNOBS}})
