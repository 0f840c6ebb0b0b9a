"""The simulated web helpdesk's HTTP routes (OTP login, reports, API v2) and admin endpoints."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from support_assets.core.sandbox_defaults import (
    SANDBOX_HELPDESK_WEB_API_TOKEN,
    SANDBOX_HELPDESK_WEB_PASSWORD,
    SANDBOX_HELPDESK_WEB_USER,
    SANDBOX_OTP_CELL,
    SANDBOX_OTP_SHEET_ID,
)
from support_assets.sandbox.base import (
    SandboxConfig,
    Simulator,
    error,
    json_body,
    read_counts,
    refuse_unknown,
)
from support_assets.sandbox.helpdesk_web.tickets import (
    REPORT_PAGE_MAX,
    REPORT_SHAPES,
    diverge_record,
    iso_utc,
    local_date,
)
from support_assets.sandbox.helpdesk_web.world import (
    Behaviour,
    HelpdeskWebWorld,
    PendingLogin,
    Session,
)
from support_assets.sandbox.sheets import sheet_store

OTP_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
#: Where the sandbox's Apps Script writes: the OTP, then the time its e-mail arrived.
OTP_RANGE = f"{SANDBOX_OTP_CELL}:B2"


def parse_int(request: Request, name: str, default: int, low: int, high: int) -> int:
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


def parse_date(request: Request, name: str) -> date | None:
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
            start = parse_date(request, "start_date")
            end = parse_date(request, "end_date")
            offset = parse_int(request, "offset", 0, 0, 10**9)
            # Like many web apps, the report caps its pages silently instead of refusing.
            limit = min(parse_int(request, "limit", 50, 1, 10**6), REPORT_PAGE_MAX)
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
            page = parse_int(request, "offset", 1, 1, 10**9)
            limit = parse_int(request, "limit", 20, 1, 200)
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
        try:
            counts = read_counts(body, ("update", "create"), known=("update_numbers", "seconds"))
        except ValueError as exc:
            return error(400, str(exc))
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
                refuse_unknown(body, tuple(Behaviour().to_dict()))
            except ValueError as exc:
                return error(400, str(exc))
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
