"""The web helpdesk (Tiflux-like): a two-step login through an e-mailed OTP, or a static token.

``auth_mode="otp"`` (the web application): ``POST login`` with user and password answers a
temporary code and e-mails an OTP, which an Apps Script copies into a Google Sheet
(`OtpSheetResource`); ``POST login/otp`` with the code and the OTP answers the session token in
the ``Authorization`` response header; ``GET reports/tickets`` pages by record offset and
filters on the opening date (São Paulo dates); ``POST logout`` ends the session. The user may
hold one session at a time, so `HelpdeskWebResource.session` always logs out, also when the
work inside it fails, and a wrong OTP is retried once with a fresh login. The token of an open
session is kept in ``session_state_dir`` until its logout succeeds, so a run that was killed
(no ``finally`` runs on SIGKILL) has its session closed by the next run instead of blocking it.

``auth_mode="token"``: Tiflux's public API v2 with a static ``Authorization: Bearer`` token,
``GET /api/v2/tickets?offset=<page>&limit=<n>&filter_by=all``; no sheet, no login. Whether
that API filters by date is not documented, so the window is applied here, on the same
São Paulo opening dates the reports filter on.

The web application's paths and bodies are not public: the defaults are the sandbox's contract
and are fields here, so a real deployment can adjust them without code. Password, OTP, login
code and session token are registered with the HTTP layer's redaction and never logged.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from dagster import get_dagster_logger
from pydantic import Field

from support_assets.core.http import HttpApiResource, ResilientClient
from support_assets.core.http_errors import HttpError, Redactor
from support_assets.core.shapes import (
    HELPDESK_WEB_API,
    HELPDESK_WEB_REPORT,
    SourceContractError,
)
from support_assets.sources.helpdesk_web.otp_sheet import OtpReading, OtpSheetResource

SOURCE_TIME_ZONE = ZoneInfo("America/Sao_Paulo")
SESSION_FILE = "helpdesk_web_session.json"
TOTAL_HEADER = "X-Total-Count"
_WITH_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:?\d{2})$")
_LOCAL_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%d %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
)


def parse_helpdesk_time(value: Any) -> datetime:
    """A helpdesk timestamp as aware UTC: with an offset (the API) as given; without one (the
    web reports) as São Paulo wall-clock time. Anything else is a ``ValueError``."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"not a timestamp: {value!r}")
    text = value.strip()
    if _WITH_OFFSET.match(text):
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    for fmt in _LOCAL_FORMATS:
        try:
            local = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return local.replace(tzinfo=SOURCE_TIME_ZONE).astimezone(UTC)
    raise ValueError(f"not a timestamp in a known format: {value!r}")


def local_date(moment: datetime) -> date:
    """The São Paulo calendar date of an instant."""
    return moment.astimezone(SOURCE_TIME_ZONE).date()


class HelpdeskWebError(SourceContractError):
    """The web helpdesk answered something the extraction cannot trust."""


class HelpdeskWebLoginError(Exception):
    """The login did not yield a session (refused credentials, OTP refused twice, ...)."""


class HelpdeskWebSessionOpenError(HelpdeskWebLoginError):
    """The user already has an open session (someone, or a killed run, did not log out)."""


@dataclass
class SessionReport:
    """What a session did, for materialization metadata (no secrets in here)."""

    auth_mode: str
    login_attempts: int = 0
    otp_refused: int = 0
    stale_session_closed: bool = False
    logged_out: bool = False
    pages: int = 0
    records: int = 0
    outside_window: int = 0
    total_reported: int | None = None
    distinct: set[str] = field(default_factory=set)
    http: dict[str, int] = field(default_factory=dict)

    def tally(self, client: ResilientClient) -> None:
        """Adds what a client did (requests, retries, 429s) to the report."""
        for name, value in client.stats.as_dict().items():
            self.http[name] = self.http.get(name, 0) + value

    def as_metadata(self) -> dict[str, Any]:
        return {
            "auth_mode": self.auth_mode,
            "login_attempts": self.login_attempts,
            "otp_refused": self.otp_refused,
            "stale_session_closed": self.stale_session_closed,
            "logged_out": self.logged_out,
            "pages_fetched": self.pages,
            "records_fetched": self.records,
            "records_outside_window": self.outside_window,
            "total_reported": "not reported"
            if self.total_reported is None
            else self.total_reported,
            "distinct_fetched": len(self.distinct),
        }


class HelpdeskWebSession:
    """An authenticated view of the helpdesk, valid inside `HelpdeskWebResource.session`."""

    def __init__(
        self, resource: HelpdeskWebResource, client: ResilientClient, report: SessionReport
    ) -> None:
        self._resource = resource
        self._client = client
        self.report = report

    def ticket_pages(self, start: date, end: date) -> Iterator[list[dict[str, Any]]]:
        """Pages of the tickets opened from ``start`` to ``end`` (São Paulo dates, inclusive).

        The window is applied here whatever the server filtered; answers are read through the
        source's declared shapes (bare list or envelope), and the distinct tickets read are
        reconciled with the total the server reported (``X-Total-Count`` or the envelope's).
        """
        resource = self._resource
        report = self.report
        shape = HELPDESK_WEB_REPORT if resource.auth_mode == "otp" else HELPDESK_WEB_API

        def items(response: Any) -> list[Any]:
            page = shape.page(response.json())
            header = response.headers.get(TOTAL_HEADER, "")
            total = int(header) if header.strip().isdigit() else page.total
            if report.total_reported is None and total is not None:
                report.total_reported = total
            return page.records

        if resource.auth_mode == "otp":
            pages = self._client.paginate_offset(
                resource.report_path,
                {"start_date": start.isoformat(), "end_date": end.isoformat()},
                limit=resource.page_size,
                items=items,
            )
        else:
            pages = self._client.paginate_offset(
                resource.api_tickets_path,
                {"filter_by": "all"},
                limit=resource.page_size,
                offset_counts_pages=True,
                items=items,
            )
        for page in pages:
            report.pages += 1
            report.records += len(page)
            report.distinct.update(_identity(record) for record in page)
            kept = [t for t in page if _opened_within(t, start, end)]
            report.outside_window += len(page) - len(kept)
            if kept:
                yield kept
        distinct = len(report.distinct)
        if report.total_reported is not None and distinct < report.total_reported:
            # Fewer than announced: the server caps pages below page_size, or lost records.
            raise HelpdeskWebError(
                f"the ticket report announced {report.total_reported} tickets but {distinct} "
                "were read (distinct); lower page_size below the server's limit"
            )


def _identity(record: Any) -> str:
    """A served ticket's identity for counting distinct ones: its number, else the payload."""
    number = record.get("ticket_number") if isinstance(record, dict) else None
    if isinstance(number, int | str) and not isinstance(number, bool) and str(number).strip():
        text = str(number).strip()
        return str(int(text)) if text.isdigit() else text
    return json.dumps(record, sort_keys=True, default=str)


def _opened_within(ticket: Any, start: date, end: date) -> bool:
    """True when the ticket was opened in the window, or when that cannot be told (it is then
    kept, so the assets quarantine it instead of dropping it silently)."""
    try:
        opened = local_date(parse_helpdesk_time(ticket.get("created_at")))
    except (AttributeError, ValueError):
        return True
    return start <= opened <= end


class HelpdeskWebResource(HttpApiResource):
    """The web helpdesk, through its OTP login (``otp``) or Tiflux's API v2 token (``token``)."""

    auth_mode: Literal["otp", "token"] = Field(
        default="otp", description="otp: web login through the OTP sheet; token: API v2 token."
    )
    user: str | None = Field(default=None, description="Web login user (otp mode).")
    password: str | None = Field(default=None, description="Web login password; as EnvVar.")
    api_token: str | None = Field(default=None, description="API v2 token (token mode); EnvVar.")
    otp_sheet: OtpSheetResource
    page_size: int = Field(default=100, ge=1, le=200)
    #: Ceiling of the adaptive rate: public scripts see about 3 a second; a 429 brings 6 down
    #: to 2.7 and recovery stays at or under 3.
    rate_limit_per_second: float | None = 6.0
    session_state_dir: str | None = Field(
        default=None,
        description="Where an open session's token is kept until logout (None: not kept).",
    )
    login_path: str = "login"
    otp_path: str = "login/otp"
    logout_path: str = "logout"
    report_path: str = "reports/tickets"
    api_tickets_path: str = "api/v2/tickets"

    def _api_name(self) -> str:
        return "helpdesk_web"

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.auth_mode == "token" and self.api_token:
            headers["Authorization"] = f"Bearer {self.api_token}"
        return headers

    def _secrets(self) -> list[str]:
        return [s for s in (self.password, self.api_token) if s]

    def _new_client(
        self, headers: dict[str, str] | None = None, secrets: list[str] | None = None
    ) -> ResilientClient:
        """A client like `get_client`'s, with extra headers and extra secrets to redact."""
        return ResilientClient(
            headers={**self._headers(), **(headers or {})},
            secrets=[*self._secrets(), *(secrets or [])],
            **self.client_options(),
        )

    # ----- the session ---------------------------------------------------------------------

    @contextmanager
    def session(self) -> Iterator[HelpdeskWebSession]:
        """Logged in for the duration of the block; always logged out after it."""
        report = SessionReport(self.auth_mode)
        if self.auth_mode == "token":
            if not self.api_token:
                raise HelpdeskWebLoginError("HELPDESK_WEB_API_TOKEN must be set in token mode")
            try:
                yield HelpdeskWebSession(self, self.get_client(), report)
            finally:
                report.tally(self.get_client())
            return
        log = get_dagster_logger("support_assets.helpdesk_web")
        report.stale_session_closed = self._close_stale_session()
        token = self.login(report)
        client = self._new_client({"Authorization": token}, [token])
        succeeded = False
        try:
            yield HelpdeskWebSession(self, client, report)
            succeeded = True
        finally:
            try:
                report.logged_out = self._logout(client)
                log.info("Logged out of the web helpdesk")
            except Exception as exc:
                if succeeded:
                    raise
                log.error("Logout after the failure failed too: %s", client.redact(exc))
            finally:
                report.tally(client)
                client.close()
            if report.logged_out:
                self._forget_session()

    def login(self, report: SessionReport | None = None) -> str:
        """The two-step login; answers the session token. A refused OTP is retried once with
        a fresh login. Prefer `session`, which also logs out."""
        report = report or SessionReport(self.auth_mode)
        if not self.user or not self.password:
            raise HelpdeskWebLoginError(
                "HELPDESK_WEB_USER and HELPDESK_WEB_PASSWORD must be set in otp mode"
            )
        client = self._new_client()
        try:
            return self._login(client, report)
        finally:
            report.tally(client)
            client.close()

    def _login(self, client: ResilientClient, report: SessionReport) -> str:
        log = get_dagster_logger("support_assets.helpdesk_web")
        sheet = self.otp_sheet
        secrets: list[str] = []
        refused: list[str] = []
        for attempt in (1, 2):
            report.login_attempts = attempt
            baseline: OtpReading = sheet.snapshot()
            since = datetime.now(UTC)
            code = self._start_login(client)
            secrets.append(code)
            client.redact = Redactor([*self._secrets(), *secrets])
            log.info(
                "Web helpdesk login %d: password accepted; waiting for the OTP in %s",
                attempt,
                sheet.describe(),
            )
            otp = sheet.wait_for_otp(since, baseline, refused)
            secrets.append(otp)
            client.redact = Redactor([*self._secrets(), *secrets])
            try:
                response = client.post(self.otp_path, json={"code": code, "otp": otp})
            except HttpError as exc:
                if exc.status_code != 401:
                    raise HelpdeskWebLoginError(f"OTP step failed: {exc}") from None
                report.otp_refused += 1
                refused.append(otp)
                if attempt == 1:
                    log.warning(
                        "The web helpdesk refused the OTP read from %s (HTTP 401); "
                        "logging in again once",
                        sheet.describe(),
                    )
                    continue
                raise HelpdeskWebLoginError(
                    f"The web helpdesk refused the OTP read from {sheet.describe()} twice "
                    f"(HTTP 401, fresh login each time): {exc}"
                ) from None
            token = response.headers.get("Authorization", "").strip()
            if not token:
                raise HelpdeskWebLoginError("the OTP step answered no Authorization header")
            self._remember_session(token)
            log.info("Logged in to the web helpdesk as %s", self.user)
            return token
        raise AssertionError("unreachable")

    def _start_login(self, client: ResilientClient) -> str:
        try:
            response = client.post(
                self.login_path, json={"user": self.user, "password": self.password}
            )
        except HttpError as exc:
            if exc.status_code == 409:
                until = _json_field(exc.body, "session_expires_at")
                raise HelpdeskWebSessionOpenError(
                    f"{self.user} already has an open web helpdesk session"
                    + (f" (it expires at {until})" if until else "")
                    + "; a previous run or a person did not log out. Log it out, or run "
                    "again after it expires."
                ) from None
            if exc.status_code == 401:
                raise HelpdeskWebLoginError(
                    f"The web helpdesk refused user {self.user} or its password (HTTP 401)"
                ) from None
            raise HelpdeskWebLoginError(f"login failed: {exc}") from None
        code = _json_field(response.text, "code")
        if not code:
            raise HelpdeskWebLoginError("the login answered no temporary code")
        return str(code)

    def _logout(self, client: ResilientClient) -> bool:
        try:
            client.post(self.logout_path)
        except HttpError as exc:
            if exc.status_code == 401:  # already gone (expired): nothing left open
                return True
            raise
        return True

    # ----- a session left open by a killed run ---------------------------------------------

    def _session_file(self) -> Path | None:
        return Path(self.session_state_dir) / SESSION_FILE if self.session_state_dir else None

    def _remember_session(self, token: str) -> None:
        path = self._session_file()
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"base_url": self.base_url, "user": self.user, "token": token}, out)

    def _forget_session(self) -> None:
        path = self._session_file()
        if path is not None:
            path.unlink(missing_ok=True)

    def _close_stale_session(self) -> bool:
        """Logs out a session an earlier run opened and never closed; True if there was one."""
        path = self._session_file()
        if path is None or not path.exists():
            return False
        try:
            state = json.loads(path.read_text())
            token = str(state["token"])
        except (OSError, ValueError, KeyError, TypeError):
            path.unlink(missing_ok=True)
            return False
        if state.get("base_url") != self.base_url or state.get("user") != self.user:
            return False
        log = get_dagster_logger("support_assets.helpdesk_web")
        with self._new_client({"Authorization": token}, [token]) as client:
            try:
                self._logout(client)
            except HttpError as exc:
                log.warning("Could not close the session a previous run left open: %s", exc)
                return False
        path.unlink(missing_ok=True)
        log.warning("Closed a web helpdesk session a previous run had left open")
        return True


def _json_field(text: str, name: str) -> Any:
    try:
        body = json.loads(text)
    except ValueError:
        return None
    return body.get(name) if isinstance(body, dict) else None
