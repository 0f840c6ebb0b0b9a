"""The simulated web helpdesk's state: tickets, the test switches (`Behaviour`), pending logins,
sessions and counters, on a clock that `advance` can move.
"""

from __future__ import annotations

import copy
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from support_assets.core.sandbox_defaults import SANDBOX_HELPDESK_WEB_USER
from support_assets.sandbox import octadesk_data as data
from support_assets.sandbox.base import SandboxConfig
from support_assets.sandbox.helpdesk_web.tickets import (
    CLIENTS,
    CREATED_SPAN_MS,
    MAX_LAG_MS,
    PRIORITIES,
    S_ADVANCE,
    S_AUTH,
    S_MALFORMED,
    S_SHAPE,
    S_STATUS,
    S_TICKET,
    S_TIME,
    STAGES,
    STATUSES,
    Ticket,
    iso_utc,
)


@dataclass
class Behaviour:
    """What the admin API can switch: OTP e-mails, wrong OTPs, failing report pages."""

    deliver_otp: bool = True
    wrong_otps: int = 0
    fail_reports_after_pages: int | None = None
    fail_status: int = 500
    #: How the report answers: ``list`` (documented), ``envelope`` (``{"data", "total",
    #: "offset"}``, no header; what the divergent mode does) or ``unknown`` (a shape no client
    #: knows); None follows the divergent mode.
    report_shape: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "deliver_otp": self.deliver_otp,
            "wrong_otps": self.wrong_otps,
            "fail_reports_after_pages": self.fail_reports_after_pages,
            "fail_status": self.fail_status,
            "report_shape": self.report_shape,
        }


@dataclass
class PendingLogin:
    user: str
    otp: str
    issued_at: float


@dataclass
class Session:
    user: str
    opened_at: float
    last_seen: float


@dataclass
class Counters:
    logins: int = 0
    login_conflicts: int = 0
    login_refused: int = 0
    otp_accepted: int = 0
    otp_rejected: int = 0
    logouts: int = 0
    report_pages: int = 0
    api_pages: int = 0
    issued: dict[str, list[str]] = field(
        default_factory=lambda: {"codes": [], "otps": [], "session_tokens": []}
    )


class HelpdeskWebWorld:
    """Tickets, sessions and the OTP mailbox of the simulated web helpdesk, behind one lock."""

    def __init__(self, config: SandboxConfig) -> None:
        self.lock = threading.RLock()
        self.seed = config.seed
        self.anchor_ms = config.anchor_ms
        self.record_clock_ms = self.anchor_ms
        self.otp_delay_s = config.helpdesk_web_otp_delay_ms / 1000
        self.otp_ttl_s = config.helpdesk_web_otp_ttl_s
        self.session_ttl_s = config.helpdesk_web_session_ttl_s
        self.offset_s = 0.0
        self.behaviour = Behaviour()
        self.counters = Counters()
        self.pending: dict[str, PendingLogin] = {}
        self.sessions: dict[str, Session] = {}
        self.auth_events = 0
        self.advances = 0
        staff = data.rng_for(self.seed, S_TICKET, 1 << 40)
        self.agents = [
            {
                "id": 1800 + k,
                "name": name,
                "email": f"{data.ascii_slug(name)}@empresa.com.br",
                "_type": "admin",
                "active": True,
            }
            for k, name in enumerate(data.AGENT_NAMES)
        ]
        self.desks = [
            {"id": 42800 + k, "name": name, "display_name": f"Mesa {name}", "active": True}
            for k, name in enumerate(data.GROUP_NAMES)
        ]
        self.clients = [
            {"id": 1_201_100 + k, "name": name, "status": True} for k, name in enumerate(CLIENTS)
        ]
        staff.shuffle(self.agents)
        n = config.helpdesk_web_tickets
        self.tickets: dict[int, Ticket] = {}
        for i in range(n):
            self.tickets[1001 + i] = self._base_ticket(i, n)
        picked = data.rng_for(self.seed, S_MALFORMED).sample(
            sorted(self.tickets), min(config.helpdesk_web_malformed, n)
        )
        for k, number in enumerate(sorted(picked)):
            self.tickets[number].malformed = "missing_number" if k % 2 else "bad_created_at"
        self.created = 0

    # ----- clocks --------------------------------------------------------------------------

    def now(self) -> float:
        """The auth clock: real time plus what `advance(seconds=...)` added."""
        return time.time() + self.offset_s

    def tick(self, rng: random.Random) -> int:
        self.record_clock_ms += rng.randint(1_000, 5_000)
        return self.record_clock_ms

    # ----- tickets -------------------------------------------------------------------------

    def _status_for(self, i: int, n: int) -> tuple[int, str, bool]:
        h = data.mix(self.seed, S_STATUS, i)
        age = 1 - i / max(n, 1)  # 1 = oldest
        if (h % 10_000) / 10_000 < 0.05 + 0.7 * (1 - age) ** 3:
            return STATUSES[(h >> 20) % 3]
        return STATUSES[3 + (h >> 24) % 3]

    def _record(
        self, key: int, number: int, created_ms: int, updated_ms: int, status: tuple
    ) -> dict[str, Any]:
        rng = data.rng_for(self.seed, S_TICKET, key)
        shape = data.mix(self.seed, S_SHAPE, key)
        sid, name, closed = status
        title = rng.choice(data.SUMMARIES)
        person, _ = data.person(rng)
        priority = rng.choice(PRIORITIES) if rng.random() < 0.8 else None
        responsible = None if name == "Aberto" and rng.random() < 0.6 else rng.choice(self.agents)
        return {
            "ticket_number": str(number) if shape % 4 == 0 else number,
            "title": title,
            "description": f"{title}. Aberto por {person}.",
            "status": name if shape % 3 == 0 else {"id": sid, "name": name},
            "is_closed": closed,
            "priority": None if priority is None else {"id": priority[0], "name": priority[1]},
            "desk": dict(rng.choice(self.desks)),
            "stage": {"id": 256_300 + (shape >> 8) % 4, "name": STAGES[(shape >> 8) % 4]},
            "responsible": None if responsible is None else dict(responsible),
            "client": dict(rng.choice(self.clients)),
            "created_by_way_of": rng.choice(("E-mail", "Portal do cliente", "Tiflux API")),
            "created_at": iso_utc(created_ms),
            "updated_at": iso_utc(updated_ms),
        }

    def _base_ticket(self, i: int, n: int) -> Ticket:
        """Ticket ``i``: older for smaller ``i``, spread over the 240 days before the anchor."""
        h = data.mix(self.seed, S_TIME, i)
        f = 0.05 + (h % 9000) / 10_000
        created = self.anchor_ms - int(CREATED_SPAN_MS * (n - i - f) / n)
        lag = (h >> 16) % MAX_LAG_MS
        updated = min(self.anchor_ms - 1_000, created + 60_000 + lag)
        record = self._record(i, 1001 + i, created, updated, self._status_for(i, n))
        return Ticket(1001 + i, created, updated, record)

    def ordered(self) -> list[Ticket]:
        return [self.tickets[n] for n in sorted(self.tickets)]

    def update(self, number: int, rng: random.Random) -> None:
        ticket = self.tickets[number]
        current = ticket.record["status"]
        current_name = current["name"] if isinstance(current, dict) else current
        sid, name, closed = rng.choice([s for s in STATUSES if s[1] != current_name])
        now = self.tick(rng)
        record = copy.deepcopy(ticket.record)
        record["status"] = name if isinstance(current, str) else {"id": sid, "name": name}
        record["is_closed"] = closed
        record["updated_at"] = iso_utc(now)
        if record["responsible"] is None and name != "Aberto":
            record["responsible"] = dict(rng.choice(self.agents))
        ticket.record, ticket.updated_ms = record, now

    def create(self, rng: random.Random) -> int:
        number = 1001 + len(self.tickets)
        self.created += 1
        now = self.tick(rng)
        record = self._record(10_000_000 + self.created, number, now, now, STATUSES[0])
        self.tickets[number] = Ticket(number, now, now, record)
        return number

    def advance(
        self, update: int, update_numbers: list[int], create: int, seconds: float
    ) -> dict[str, Any]:
        with self.lock:
            rng = data.rng_for(self.seed, S_ADVANCE, self.advances)
            self.advances += 1
            valid = [n for n, t in sorted(self.tickets.items()) if t.malformed is None]
            numbers = [n for n in update_numbers if n in self.tickets]
            others = [n for n in valid if n not in numbers]
            numbers += rng.sample(others, min(update, len(others)))
            for number in numbers:
                self.update(number, rng)
            created = [self.create(rng) for _ in range(create)]
            self.offset_s += seconds
            return {
                "updated": numbers,
                "created": created,
                "record_clock": iso_utc(self.record_clock_ms),
                "clock": datetime.fromtimestamp(self.now(), tz=UTC).isoformat(),
            }

    # ----- auth ----------------------------------------------------------------------------

    def _secret(self, kind: str, length: int, alphabet: str | None = None) -> str:
        self.auth_events += 1
        rng = data.rng_for(self.seed, S_AUTH, self.auth_events)
        chars = alphabet or "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
        value = "".join(rng.choice(chars) for _ in range(length))
        self.counters.issued[kind].append(value)
        return value

    def open_session(self, user: str) -> Session | None:
        """The user's open session (expired ones are dropped first)."""
        now = self.now()
        for token, session in list(self.sessions.items()):
            if session.last_seen + self.session_ttl_s <= now:
                del self.sessions[token]
        return next((s for s in self.sessions.values() if s.user == user), None)

    def session_for(self, token: str) -> Session | None:
        with self.lock:
            session = self.sessions.get(token)
            if session is None:
                return None
            now = self.now()
            if session.last_seen + self.session_ttl_s <= now:
                del self.sessions[token]
                return None
            session.last_seen = now
            return session

    def expires_at(self, session: Session) -> str:
        moment = datetime.fromtimestamp(session.last_seen + self.session_ttl_s, tz=UTC)
        return moment.isoformat(timespec="seconds")

    def truth(self) -> dict[str, Any]:
        with self.lock:
            valid = [t for t in self.ordered() if t.malformed is None]
            malformed = [t for t in self.ordered() if t.malformed is not None]
            self.open_session(SANDBOX_HELPDESK_WEB_USER)
            c = self.counters
            return {
                "tickets": [t.api() for t in valid],
                "tickets_local": [t.report() for t in valid],
                "malformed_tickets": [t.report() for t in malformed],
                "open_sessions": [
                    {
                        "user": s.user,
                        "opened_at": datetime.fromtimestamp(s.opened_at, tz=UTC).isoformat(),
                        "expires_at": self.expires_at(s),
                    }
                    for s in self.sessions.values()
                ],
                "counters": {
                    "logins": c.logins,
                    "login_conflicts": c.login_conflicts,
                    "login_refused": c.login_refused,
                    "otp_accepted": c.otp_accepted,
                    "otp_rejected": c.otp_rejected,
                    "logouts": c.logouts,
                    "report_pages": c.report_pages,
                    "api_pages": c.api_pages,
                },
                "behaviour": self.behaviour.to_dict(),
                "record_clock": iso_utc(self.record_clock_ms),
                "clock": datetime.fromtimestamp(self.now(), tz=UTC).isoformat(),
            }
