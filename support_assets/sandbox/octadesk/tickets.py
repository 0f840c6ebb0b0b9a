"""Tickets of the simulated Octadesk: base tickets generated from `(seed, index)`, and the
changes and creations that live in the overlay.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence
from typing import Any

from support_assets.sandbox import crm_world
from support_assets.sandbox import octadesk_data as data
from support_assets.sandbox.base import format_ms
from support_assets.sandbox.octadesk.model import (
    CLOSED_STATUSES,
    DAY_MS,
    MALFORMED_TIMESTAMPS,
    OPEN_STATUSES,
    S_TICKET,
    S_TICKET_STATUS,
    SHARED_POOL_CLIENT,
    TICKET_CHANNELS,
    TICKET_STATUSES,
    Collection,
    Entry,
)


class TicketBook:
    """The ticket half of `OctadeskWorld`, which holds the state these methods read."""

    seed: int
    n_tickets: int
    tickets_created: int
    agents: list[dict[str, Any]]
    groups: list[dict[str, Any]]
    malformed: dict[int, str]
    tickets: Collection

    def tick(self, rng: random.Random) -> int:
        """Move the world clock on (`OctadeskWorld.tick`)."""
        raise NotImplementedError

    def ticket_status(self, i: int) -> str:
        """Status of base ticket `i` (older tickets are mostly closed)."""
        h = data.mix(self.seed, S_TICKET_STATUS, i)
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
        rng = data.rng_for(self.seed, S_TICKET, key)
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
            record["updatedAt"] = MALFORMED_TIMESTAMPS[i % len(MALFORMED_TIMESTAMPS)]
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
