"""Tickets of the simulated web helpdesk: statuses, clients, the two ways their times are
written (the web app's local time, the API's UTC), and how a divergent tenant serves them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
REPORT_PAGE_MAX = 100
DAY_MS = 86_400_000
CREATED_SPAN_MS = 240 * DAY_MS
MAX_LAG_MS = 7 * DAY_MS

#: (id, name, closed) of the ticket statuses the simulated helpdesk uses.
STATUSES = (
    (1, "Aberto", False),
    (2, "Em Progresso", False),
    (3, "Aguardando cliente", False),
    (4, "Resolvido", True),
    (5, "Fechado", True),
    (6, "Cancelado", True),
)
STATUS_BY_NAME = {name: (sid, closed) for sid, name, closed in STATUSES}
STAGES = ("To do", "In Progress", "Waiting", "Done")
PRIORITIES = ((1, "Baixa"), (2, "Normal"), (3, "Alta"), (4, "Urgente"))
CLIENTS = (
    "Padaria Pão Dourado", "Clínica São Lucas", "Transportes Rápidos Ltda", "Escola Aprender",
    "Mercado Bom Preço", "Construtora Horizonte", "Ótica Visão Clara", "Farmácia Vida",
)  # fmt: skip
MALFORMED_CREATED = ("ontem às 14h", "0000-00-00 00:00:00", "31/02/2026 25:61")

# Hash streams of this simulator.
S_TICKET, S_TIME, S_STATUS, S_SHAPE, S_AUTH, S_ADVANCE, S_MALFORMED = (
    41, 42, 43, 44, 45, 46, 47,
)  # fmt: skip


def iso_utc(ms: int) -> str:
    """UTC with ``Z`` and whole seconds, as Tiflux's API answers."""
    return datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_naive(ms: int) -> str:
    """São Paulo wall-clock time without an offset, as the web application shows it."""
    return (
        datetime.fromtimestamp(ms // 1000, tz=UTC)
        .astimezone(SAO_PAULO)
        .strftime("%Y-%m-%d %H:%M:%S")
    )


def local_date(ms: int) -> date:
    return datetime.fromtimestamp(ms // 1000, tz=UTC).astimezone(SAO_PAULO).date()


REPORT_SHAPES = ("list", "envelope", "unknown")


def diverge_record(record: dict[str, Any]) -> dict[str, Any]:
    """A ticket as a divergent tenant serves it: the ticket number and the ids of its client,
    agent and priority as strings where the docs show numbers."""
    served = copy.deepcopy(record)
    if "ticket_number" in served and not isinstance(served["ticket_number"], str):
        served["ticket_number"] = str(served["ticket_number"])
    for name in ("client", "responsible", "priority"):
        value = served.get(name)
        if isinstance(value, dict) and isinstance(value.get("id"), int):
            value["id"] = str(value["id"])
    return served


@dataclass
class Ticket:
    """One ticket: the record served (API shape) and the values the simulator filters on."""

    number: int
    created_ms: int
    updated_ms: int
    record: dict[str, Any]
    malformed: str | None = None

    def api(self) -> dict[str, Any]:
        record = copy.deepcopy(self.record)
        if self.malformed == "bad_created_at":
            record["created_at"] = MALFORMED_CREATED[self.number % len(MALFORMED_CREATED)]
        elif self.malformed == "missing_number":
            record.pop("ticket_number")
        return record

    def report(self) -> dict[str, Any]:
        record = self.api()
        if self.malformed != "bad_created_at":
            record["created_at"] = local_naive(self.created_ms)
        record["updated_at"] = local_naive(self.updated_ms)
        return record

    @property
    def is_closed(self) -> bool:
        return bool(self.record["is_closed"])
