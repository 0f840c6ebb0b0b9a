"""The web helpdesk simulator (Tiflux-like): OTP login, one session per user, ticket reports.

Two ways in, over the same tickets:

* the web application: ``POST /login`` (user, password) answers a temporary ``code`` and
  "e-mails" a one-time password, which the sandbox's Apps Script copies into the simulated
  Google Sheet (`support_assets.sandbox.sheets`) after ``helpdesk_web_otp_delay_ms``;
  ``POST /login/otp`` (code, OTP) answers the session token in the ``Authorization`` response
  header; ``GET /reports/tickets`` pages by record offset and filters on the opening date;
  ``POST /logout`` ends the session. A user has at most one open session: one that was never
  closed blocks the next login (409) until it has been idle ``helpdesk_web_session_ttl_s``.
* Tiflux's public API v2 shape: ``GET /api/v2/tickets`` with ``Authorization: Bearer <token>``,
  ``offset`` a page number, ``limit`` up to 200, only open tickets unless ``filter_by=all``.

The web reports show times as the web app does, in São Paulo local time without an offset
(``2026-10-02 13:04:05``); the API answers UTC (``2026-10-02T16:04:05Z``). ``status`` is a string
for some tickets and an object for others, ``ticket_number`` a number or a string, as in the
payloads collected in the wild. What the real web application's paths and bodies look like is
not public: these are the simulator's contract (see ``docs/sandbox.md``).

Two clocks: ticket times are anchored at ``SandboxConfig.anchor`` and move forward only with
``advance``; sessions, codes and OTP e-mails use the real clock plus an offset that ``advance``
can move (``seconds``), so expiry is testable without sleeping.
"""

from __future__ import annotations

import copy
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from support_assets.sandbox import octadesk_data as data
from support_assets.sandbox.base import SandboxConfig, Simulator, error, json_body
from support_assets.sandbox.sheets import SANDBOX_OTP_CELL, SANDBOX_OTP_SHEET_ID, sheet_store

logger = logging.getLogger(__name__)

#: Credentials the simulated web helpdesk accepts (sandbox only).
SANDBOX_HELPDESK_WEB_USER = "robo@empresa.com.br"
SANDBOX_HELPDESK_WEB_PASSWORD = "sandbox-helpdesk-pass-7Hq2"
SANDBOX_HELPDESK_WEB_API_TOKEN = "sandbox-tiflux-token-Vb81xQ"

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
REPORT_PAGE_MAX = 100
DAY_MS = 86_400_000
CREATED_SPAN_MS = 240 * DAY_MS
MAX_LAG_MS = 7 * DAY_MS
OTP_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
#: Where the sandbox's Apps Script writes: the OTP, then the time its e-mail arrived.
OTP_RANGE = f"{SANDBOX_OTP_CELL}:B2"

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
_MALFORMED_CREATED = ("ontem às 14h", "0000-00-00 00:00:00", "31/02/2026 25:61")

# Hash streams of this simulator.
_S_TICKET, _S_TIME, _S_STATUS, _S_SHAPE, _S_AUTH, _S_ADVANCE, _S_MALFORMED = (
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
            record["created_at"] = _MALFORMED_CREATED[self.number % len(_MALFORMED_CREATED)]
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
        staff = data.rng_for(self.seed, _S_TICKET, 1 << 40)
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
        picked = data.rng_for(self.seed, _S_MALFORMED).sample(
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
        h = data.mix(self.seed, _S_STATUS, i)
        age = 1 - i / max(n, 1)  # 1 = oldest
        if (h % 10_000) / 10_000 < 0.05 + 0.7 * (1 - age) ** 3:
            return STATUSES[(h >> 20) % 3]
        return STATUSES[3 + (h >> 24) % 3]

    def _record(
        self, key: int, number: int, created_ms: int, updated_ms: int, status: tuple
    ) -> dict[str, Any]:
        rng = data.rng_for(self.seed, _S_TICKET, key)
        shape = data.mix(self.seed, _S_SHAPE, key)
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
        h = data.mix(self.seed, _S_TIME, i)
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
            rng = data.rng_for(self.seed, _S_ADVANCE, self.advances)
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
        rng = data.rng_for(self.seed, _S_AUTH, self.auth_events)
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


def _parse_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}")
    return value


def _parse_date(request: Request, name: str) -> date | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{name} must be a date YYYY-MM-DD") from None


class HelpdeskWebSimulator(Simulator):
    """Routes of the simulated web helpdesk and its admin endpoints."""

    name = "helpdesk_web"
    prefix = "/helpdesk_web"

    def reset(self, config: SandboxConfig) -> None:
        self.world = HelpdeskWebWorld(config)
        self.sheets = sheet_store(self.context)

    def truth(self) -> dict[str, Any]:
        return self.world.truth()

    def routes(self) -> list[Route]:
        return [
            Route("/login", self.login, methods=["POST"]),
            Route("/login/otp", self.login_otp, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/reports/tickets", self.report_tickets, methods=["GET"]),
            Route("/api/v2/tickets", self.api_tickets, methods=["GET"]),
        ]

    def admin_routes(self) -> list[Route]:
        return [
            Route("/advance", self.admin_advance, methods=["POST"]),
            Route("/behaviour", self.admin_behaviour, methods=["GET", "PUT"]),
            Route("/secrets", self.admin_secrets, methods=["GET"]),
        ]

    # ----- login ---------------------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        try:
            body = await json_body(request)
        except ValueError as exc:
            return error(400, str(exc))
        world = self.world
        with world.lock:
            user, password = body.get("user"), body.get("password")
            if user != SANDBOX_HELPDESK_WEB_USER or password != SANDBOX_HELPDESK_WEB_PASSWORD:
                world.counters.login_refused += 1
                return error(401, "Usuário ou senha inválidos")
            session = world.open_session(user)
            if session is not None:
                world.counters.login_conflicts += 1
                return JSONResponse(
                    {
                        "message": "Já existe uma sessão aberta para este usuário; saia dela ou "
                        "aguarde que expire",
                        "session_expires_at": world.expires_at(session),
                    },
                    status_code=409,
                )
            world.counters.logins += 1
            code = world._secret("codes", 24)
            otp = world._secret("otps", 8, OTP_ALPHABET)
            issued = world.now()
            world.pending[code] = PendingLogin(user, otp, issued)
            if world.behaviour.deliver_otp:
                sent = otp
                if world.behaviour.wrong_otps > 0:
                    world.behaviour.wrong_otps -= 1
                    sent = world._secret("otps", 8, OTP_ALPHABET)
                received = datetime.fromtimestamp(issued + world.otp_delay_s, tz=UTC)
                self.sheets.deliver(
                    SANDBOX_OTP_SHEET_ID,
                    OTP_RANGE,
                    [[sent, received.isoformat(timespec="microseconds").replace("+00:00", "Z")]],
                    issued + world.otp_delay_s,
                    world.now,
                )
        return JSONResponse(
            {
                "code": code,
                "message": "Enviamos um código de acesso para o seu e-mail",
                "otp_expires_in": world.otp_ttl_s,
            }
        )

    async def login_otp(self, request: Request) -> Response:
        try:
            body = await json_body(request)
        except ValueError as exc:
            return error(400, str(exc))
        world = self.world
        with world.lock:
            pending = world.pending.pop(str(body.get("code", "")), None)
            if pending is None:
                world.counters.otp_rejected += 1
                return error(401, "Código de login inválido ou já usado; faça login novamente")
            if world.now() > pending.issued_at + world.otp_ttl_s:
                world.counters.otp_rejected += 1
                return error(401, "Código de acesso expirado; faça login novamente")
            sent = str(body.get("otp", "")).strip()
            if sent.upper() != pending.otp:
                world.counters.otp_rejected += 1
                # Echoes what was sent, as some web apps do: clients must redact it.
                return error(401, f"Código de acesso {sent} incorreto; faça login novamente")
            if world.open_session(pending.user) is not None:
                world.counters.login_conflicts += 1
                return error(409, "Já existe uma sessão aberta para este usuário")
            token = world._secret("session_tokens", 40)
            now = world.now()
            world.sessions[token] = Session(pending.user, now, now)
            world.counters.otp_accepted += 1
        return JSONResponse(
            {"message": "ok", "user": {"email": pending.user}},
            headers={"Authorization": token},
        )

    def _session_token(self, request: Request) -> str:
        value = request.headers.get("authorization", "").strip()
        return value[7:].strip() if value.lower().startswith("bearer ") else value

    async def logout(self, request: Request) -> Response:
        world = self.world
        with world.lock:
            token = self._session_token(request)
            if world.session_for(token) is None:
                return error(401, "Sessão inválida ou expirada")
            del world.sessions[token]
            world.counters.logouts += 1
        return JSONResponse({"message": "Sessão encerrada"})

    # ----- reports -------------------------------------------------------------------------

    async def report_tickets(self, request: Request) -> Response:
        world = self.world
        if world.session_for(self._session_token(request)) is None:
            return error(401, "Sessão inválida ou expirada")
        try:
            start = _parse_date(request, "start_date")
            end = _parse_date(request, "end_date")
            offset = _parse_int(request, "offset", 0, 0, 10**9)
            # Like many web apps, the report caps its pages silently instead of refusing.
            limit = min(_parse_int(request, "limit", 50, 1, 10**6), REPORT_PAGE_MAX)
        except ValueError as exc:
            return error(400, str(exc))
        divergent = self.divergent
        if divergent:  # a divergent tenant ignores the date filter
            start = end = None
        with world.lock:
            behaviour = world.behaviour
            failing = behaviour.fail_reports_after_pages
            if failing is not None and world.counters.report_pages >= failing:
                return error(behaviour.fail_status, "Falha ao gerar o relatório")
            selected = [
                t
                for t in world.ordered()
                if (start is None or local_date(t.created_ms) >= start)
                and (end is None or local_date(t.created_ms) <= end)
            ]
            body = [t.report() for t in selected[offset : offset + limit]]
            world.counters.report_pages += 1
            shape = behaviour.report_shape or ("envelope" if divergent else "list")
        if divergent:
            body = [diverge_record(record) for record in body]
        self.context.stats.count_records("helpdesk_web_tickets", len(body))
        if shape == "envelope":
            return JSONResponse({"data": body, "total": len(selected), "offset": offset})
        if shape == "unknown":
            return JSONResponse(
                {"report": {"rows": body}, "generated_at": iso_utc(world.anchor_ms)}
            )
        return JSONResponse(body, headers={"X-Total-Count": str(len(selected))})

    async def api_tickets(self, request: Request) -> Response:
        world = self.world
        auth = request.headers.get("authorization", "")
        if auth != f"Bearer {SANDBOX_HELPDESK_WEB_API_TOKEN}":
            return JSONResponse({"error": "Token de API inválido ou expirado"}, status_code=401)
        try:
            page = _parse_int(request, "offset", 1, 1, 10**9)
            limit = _parse_int(request, "limit", 20, 1, 200)
        except ValueError as exc:
            return error(400, str(exc))
        every = request.query_params.get("filter_by") == "all"
        closed = request.query_params.get("is_closed", "false").lower() == "true"
        with world.lock:
            selected = [t for t in world.ordered() if every or t.is_closed == closed]
            body = [t.api() for t in selected[(page - 1) * limit : page * limit]]
            world.counters.api_pages += 1
        self.context.stats.count_records("helpdesk_web_tickets", len(body))
        if self.divergent:
            return JSONResponse({"data": [diverge_record(record) for record in body]})
        return JSONResponse(body)

    # ----- admin ---------------------------------------------------------------------------

    async def admin_advance(self, request: Request) -> Response:
        try:
            body = await json_body(request)
        except ValueError as exc:
            return error(400, str(exc))
        unknown = sorted(set(body) - {"update", "update_numbers", "create", "seconds"})
        if unknown:
            return error(400, f"unknown fields: {', '.join(unknown)}")
        counts = {}
        for name in ("update", "create"):
            value = body.get(name, 0)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                return error(400, f"{name} must be a non-negative integer")
            counts[name] = value
        numbers = body.get("update_numbers", [])
        if not isinstance(numbers, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) for n in numbers
        ):
            return error(400, "update_numbers must be a list of ticket numbers")
        seconds = body.get("seconds", 0)
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            return error(400, "seconds must be a non-negative number")
        return JSONResponse(
            self.world.advance(counts["update"], numbers, counts["create"], float(seconds))
        )

    async def admin_behaviour(self, request: Request) -> Response:
        world = self.world
        if request.method == "PUT":
            try:
                body = await json_body(request)
            except ValueError as exc:
                return error(400, str(exc))
            known = set(Behaviour().to_dict())
            unknown = sorted(set(body) - known)
            if unknown:
                return error(400, f"unknown fields: {', '.join(unknown)}")
            merged = {**world.behaviour.to_dict(), **body}
            if not isinstance(merged["deliver_otp"], bool):
                return error(400, "deliver_otp must be true or false")
            for name in ("wrong_otps", "fail_reports_after_pages", "fail_status"):
                value = merged[name]
                if name == "fail_reports_after_pages" and value is None:
                    continue
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    return error(400, f"{name} must be a non-negative integer")
            if not 400 <= merged["fail_status"] <= 599:
                return error(400, "fail_status must be an HTTP error status")
            if merged["report_shape"] not in (None, *REPORT_SHAPES):
                return error(400, f"report_shape must be one of {', '.join(REPORT_SHAPES)}")
            with world.lock:
                world.behaviour = Behaviour(**merged)
                world.counters.report_pages = 0
        return JSONResponse(world.behaviour.to_dict())

    async def admin_secrets(self, request: Request) -> Response:
        """Every credential and code issued so far: for tests that prove none leaks."""
        with self.world.lock:
            issued = self.world.counters.issued
            return JSONResponse(
                {
                    "password": SANDBOX_HELPDESK_WEB_PASSWORD,
                    "api_token": SANDBOX_HELPDESK_WEB_API_TOKEN,
                    **{kind: list(values) for kind, values in issued.items()},
                }
            )
