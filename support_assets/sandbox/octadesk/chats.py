"""Chats of the simulated Octadesk: ids that encode their index, base chats with their events
and conversation, and the changes and creations that live in the overlay.
"""

from __future__ import annotations

import copy
import itertools
import random
import uuid
from typing import Any

from support_assets.sandbox import crm_world
from support_assets.sandbox import octadesk_data as data
from support_assets.sandbox.base import format_ms, parse_instant_ms
from support_assets.sandbox.octadesk.model import (
    CHAT_CHANNELS,
    CHAT_OPEN_STATUSES,
    CHAT_STATUSES,
    S_CHAT,
    S_CHAT_ID,
    S_CHAT_STATUS,
    S_LINK,
    S_MESSAGES,
    SHARED_POOL_CLIENT,
    Collection,
    Entry,
    chat_event,
)

_MASK48 = (1 << 48) - 1
_ID_MULTIPLIER = 0x5DEECE66D3B1
_ID_INVERSE = pow(_ID_MULTIPLIER, -1, 1 << 48)


class ChatBook:
    """The chat half of `OctadeskWorld`, which holds the state these methods read."""

    seed: int
    n_tickets: int
    n_chats: int
    chats_created: int
    id_mask: int
    agents: list[dict[str, Any]]
    malformed: dict[int, str]
    chats: Collection

    def tick(self, rng: random.Random) -> int:
        """Move the world clock on (`OctadeskWorld.tick`)."""
        raise NotImplementedError

    def valid_ticket_numbers(self) -> int:
        """Highest ticket number (`TicketBook.valid_ticket_numbers`)."""
        raise NotImplementedError

    def is_malformed_ticket(self, number: int) -> bool:
        """Whether a ticket is broken on purpose (`TicketBook`)."""
        raise NotImplementedError

    def chat_status(self, j: int) -> str:
        """Status of base chat `j` (recent chats are mostly still open)."""
        h = data.mix(self.seed, S_CHAT_STATUS, j)
        age = j / max(self.n_chats, 1)
        if (h % 10_000) / 10_000 < 0.04 + 0.5 * (1 - age) ** 4:
            return CHAT_OPEN_STATUSES[(h >> 20) % 3]
        pick = (h >> 24) % 20
        if pick < 15:
            return "closed"
        return ("missed", "offline", "hidden")[pick % 3]

    def chat_id(self, j: int) -> str:
        """UUID of chat index `j`; its last 48 bits scramble the index, so lookups are O(1)."""
        bits = data.mix(self.seed, S_CHAT_ID, j) << 64 | data.mix(self.seed, S_CHAT_ID, j, 1)
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
        h = data.mix(self.seed, S_LINK, j)
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
        rng = data.rng_for(self.seed, S_CHAT, key)
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
        events = _chat_events(rng, record, created_ms, updated_ms, link)
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
            events.append(handover(now, record["agent"]))
        if status == "closed":
            record["unreadMessages"] = 0
            events.append(chat_event("closed", now, {"by": record["agent"]["name"]}))
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
        rng = data.rng_for(self.seed, S_MESSAGES, entry.messages_key)
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

    def _sample_chat_ids(self, rng: random.Random, k: int) -> list[str]:
        total = self.n_chats + self.chats_created
        positions = rng.sample(range(total), min(k, total))
        created_ids = [e.record["id"] for e in self.chats.entries.values() if e.index is None]
        created_ids.sort(key=lambda chat_id: self.chats.entries[chat_id].number)
        return [
            self.chat_id(p) if p < self.n_chats else created_ids[p - self.n_chats]
            for p in positions
        ]


def handover(ms: int, agent: dict[str, Any]) -> dict[str, Any]:
    """The event of the bot handing a chat over to an agent."""
    return chat_event(
        "transferred",
        ms,
        {"from": {"type": "bot", "name": "Octabot 🤖"}, "to": {"type": "agent", **agent}},
    )


def _chat_events(
    rng: random.Random,
    record: dict[str, Any],
    created_ms: int,
    updated_ms: int,
    link: int | str | None,
) -> list[dict[str, Any]]:
    """A base chat's events, from its creation to its close (and the satisfaction survey)."""
    agent, with_bot, closed = record["agent"], record["withBot"], record["status"] == "closed"
    span = updated_ms - created_ms
    events = [
        chat_event("created", created_ms, {"channel": record["channel"], "withBot": with_bot})
    ]
    if agent is not None and with_bot:
        events.append(handover(created_ms + span // 4, agent))
    if link is not None:
        events.append(chat_event("ticket", created_ms + span // 2, {"ticketNumber": link}))
    if closed:
        if rng.random() < 0.6:
            events.append(
                chat_event(
                    "satisfaction",
                    updated_ms - 1,
                    {"score": rng.randint(1, 5), "comment": rng.choice(data.SATISFACTION_COMMENTS)},
                )
            )
        events.append(
            chat_event("closed", updated_ms, {"by": agent["name"] if agent else "Octabot 🤖"})
        )
    return events
