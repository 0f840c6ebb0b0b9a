"""The simulated Octadesk tenant: tickets and chats behind one lock, moved on by the admin API."""

from __future__ import annotations

import logging
import random
import threading
from typing import Any

from support_assets.sandbox import octadesk_data as data
from support_assets.sandbox.base import SandboxConfig, format_ms
from support_assets.sandbox.octadesk.chats import ChatBook
from support_assets.sandbox.octadesk.model import (
    CHAT_CREATED_SPAN_MS,
    S_ADVANCE,
    S_CHAT_C,
    S_CHAT_U,
    S_MALFORMED,
    S_MUTATE,
    S_STAFF,
    S_TICKET_C,
    S_TICKET_U,
    TICKET_CREATED_SPAN_MS,
    Collection,
    Timeline,
)
from support_assets.sandbox.octadesk.tickets import TicketBook

logger = logging.getLogger(__name__)


class OctadeskWorld(TicketBook, ChatBook):
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
        staff = data.rng_for(self.seed, S_STAFF)
        self.agents = [
            {"id": data.uuid_from(staff), "name": name, "email": self._agent_email(name)}
            for name in data.AGENT_NAMES
        ]
        self.groups = [{"id": data.uuid_from(staff), "name": name} for name in data.GROUP_NAMES]
        self.id_mask = staff.getrandbits(48)
        malformed_rng = data.rng_for(self.seed, S_MALFORMED)
        count = min(config.octadesk_malformed, self.n_tickets)
        picked = sorted(malformed_rng.sample(range(self.n_tickets), count))
        self.malformed = {
            i: ("missing_id" if k % 2 == 0 else "bad_updated_at") for k, i in enumerate(picked)
        }
        self.tickets = Collection(
            self.n_tickets,
            Timeline(
                self.seed,
                self.n_tickets,
                self.anchor_ms,
                (S_TICKET_U, S_TICKET_C),
                TICKET_CREATED_SPAN_MS,
            ),
            self.ticket_status,
        )
        self.chats = Collection(
            self.n_chats,
            Timeline(
                self.seed,
                self.n_chats,
                self.anchor_ms,
                (S_CHAT_U, S_CHAT_C),
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

    def advance(self, update: int, create: int, chats_update: int, chats_create: int) -> dict:
        """Move the world on: change and create tickets and chats at the world clock."""
        with self.lock:
            rng = data.rng_for(self.seed, S_ADVANCE, self.advances)
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

    def mutate(self, kind: str, item: Any) -> None:
        """The `mutate_during_pagination` fault: one listed record gets a new status now."""
        with self.lock:
            rng = data.rng_for(self.seed, S_MUTATE, self.mutations)
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
