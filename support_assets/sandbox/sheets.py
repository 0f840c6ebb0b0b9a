"""A Google-Sheets-shaped simulator: the OAuth token endpoint and the v4 calls gspread makes.

gspread (6.2.1) reads one cell as: an OAuth token request to the service-account file's
``token_uri`` (a JWT-bearer grant), ``GET /v4/spreadsheets/{id}`` for the metadata, then
``GET /v4/spreadsheets/{id}/values/{range}``. This simulator answers exactly those (plus
``values:batchGet``), with Google's error shape (``{"error": {"code", "message", "status"}}``)
so gspread raises its own ``APIError``. Every Sheets call needs a bearer token this endpoint
issued; the JWT's signature is not checked (the sandbox never sees a real key), its shape is.

The web helpdesk simulator "e-mails" OTPs here: `SheetStore.deliver` schedules a write that
becomes visible once the sender's clock reaches its due time, as the Apps Script copying Gmail
into the sheet would. Writes are applied lazily on read, so no timer threads exist.

`support_assets.core.sandbox_defaults.write_sandbox_service_account` makes a throwaway
service-account file (fresh RSA key, token endpoint of this simulator) so gspread can talk to
the sandbox with no Google account at all.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

# `SANDBOX_OTP_CELL` and `write_sandbox_service_account` stay importable from here for the
# production modules that still import them from here; `core.sandbox_defaults` is their home.
from support_assets.core.sandbox_defaults import SANDBOX_OTP_CELL as SANDBOX_OTP_CELL
from support_assets.core.sandbox_defaults import SANDBOX_OTP_SHEET_ID, SANDBOX_SHEETS_TOKEN_PATH
from support_assets.core.sandbox_defaults import (
    write_sandbox_service_account as write_sandbox_service_account,
)
from support_assets.sandbox.base import SandboxConfig, SandboxContext, Simulator, error, json_body

#: The sheet of the OTP spreadsheet the sandbox's Apps Script writes to.
SANDBOX_OTP_SHEET_TITLE = "OTP"
#: The token endpoint's path (the OTP sheet reader imports it from here until it imports
#: `SANDBOX_SHEETS_TOKEN_PATH` from core).
TOKEN_PATH = SANDBOX_SHEETS_TOKEN_PATH
SANDBOX_SPREADSHEET_TIME_ZONE = "America/Sao_Paulo"
#: google-auth always signs its grant for Google's token endpoint, whatever ``token_uri`` is.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ACCESS_TOKEN_SECONDS = 3600

_A1 = re.compile(
    r"^(?:(?P<sheet>'(?:[^']|'')+'|[^!]+)!)?(?P<a>[A-Za-z]+\d+)(?::(?P<b>[A-Za-z]+\d+))?$"
)
_CELL = re.compile(r"^([A-Za-z]+)(\d+)$")


class A1Error(ValueError):
    """A range the simulator cannot read."""


def column_index(letters: str) -> int:
    """``A`` → 0, ``Z`` → 25, ``AA`` → 26."""
    index = 0
    for char in letters.upper():
        index = index * 26 + (ord(char) - ord("A") + 1)
    return index - 1


def column_letters(index: int) -> str:
    """0 → ``A``, 26 → ``AA``."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def parse_cell(text: str) -> tuple[int, int]:
    """``B2`` → (row 1, column 1), zero-based."""
    match = _CELL.match(text)
    if not match:
        raise A1Error(f"not a cell: {text!r}")
    return int(match.group(2)) - 1, column_index(match.group(1))


def parse_a1(text: str) -> tuple[str | None, tuple[int, int], tuple[int, int]]:
    """``'My sheet'!A2:B3`` → (sheet title or None, top-left, bottom-right), zero-based."""
    match = _A1.match(text.strip())
    if not match:
        raise A1Error(f"Unable to parse range: {text}")
    sheet = match.group("sheet")
    if sheet and sheet.startswith("'"):
        sheet = sheet[1:-1].replace("''", "'")
    start = parse_cell(match.group("a"))
    end = parse_cell(match.group("b") or match.group("a"))
    top, bottom = sorted((start[0], end[0]))
    left, right = sorted((start[1], end[1]))
    return sheet, (top, left), (bottom, right)


def a1(row: int, col: int) -> str:
    return f"{column_letters(col)}{row + 1}"


@dataclass
class Spreadsheet:
    """One spreadsheet: ordered sheets of sparse cells."""

    id: str
    title: str
    time_zone: str = SANDBOX_SPREADSHEET_TIME_ZONE
    sheets: dict[str, dict[tuple[int, int], Any]] = field(default_factory=dict)

    def sheet(self, title: str | None) -> tuple[str, dict[tuple[int, int], Any]]:
        if title is None:
            title = next(iter(self.sheets))
        if title not in self.sheets:
            raise A1Error(f"Unable to parse range: {title}")
        return title, self.sheets[title]

    def metadata(self) -> dict[str, Any]:
        return {
            "spreadsheetId": self.id,
            "properties": {
                "title": self.title,
                "locale": "pt_BR",
                "autoRecalc": "ON_CHANGE",
                "timeZone": self.time_zone,
            },
            "sheets": [
                {
                    "properties": {
                        "sheetId": index,
                        "title": title,
                        "index": index,
                        "sheetType": "GRID",
                        "gridProperties": {"rowCount": 1000, "columnCount": 26},
                    }
                }
                for index, title in enumerate(self.sheets)
            ],
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{self.id}/edit",
        }

    def write(self, range_: str, values: list[list[Any]]) -> None:
        title, (top, left), _ = parse_a1(range_)
        _, cells = self.sheet(title)
        for r, row in enumerate(values):
            for c, value in enumerate(row):
                if value is None or value == "":
                    cells.pop((top + r, left + c), None)
                else:
                    cells[(top + r, left + c)] = value

    def read(self, range_: str) -> dict[str, Any]:
        """A ``ValueRange`` as the API answers it (trailing empty rows and cells dropped)."""
        title, (top, left), (bottom, right) = parse_a1(range_)
        title, cells = self.sheet(title)
        rows: list[list[Any]] = []
        for r in range(top, bottom + 1):
            row = [cells.get((r, c), "") for c in range(left, right + 1)]
            while row and row[-1] == "":
                row.pop()
            rows.append(row)
        while rows and not rows[-1]:
            rows.pop()
        quoted = f"'{title}'" if not title.isalnum() else title
        body: dict[str, Any] = {
            "range": f"{quoted}!{a1(top, left)}:{a1(bottom, right)}",
            "majorDimension": "ROWS",
        }
        if rows:
            body["values"] = rows
        return body

    def truth(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "timeZone": self.time_zone,
            "sheets": {
                title: {a1(r, c): v for (r, c), v in sorted(cells.items())}
                for title, cells in self.sheets.items()
            },
        }


@dataclass
class _Delivery:
    due: float
    clock: Callable[[], float]
    spreadsheet_id: str
    range: str
    values: list[list[Any]]


class SheetStore:
    """The spreadsheets of one sandbox, shared by the Sheets and web helpdesk simulators."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            otp = Spreadsheet(SANDBOX_OTP_SHEET_ID, "Códigos OTP do helpdesk")
            otp.sheets[SANDBOX_OTP_SHEET_TITLE] = {(0, 0): "otp", (0, 1): "received_at"}
            self.spreadsheets: dict[str, Spreadsheet] = {otp.id: otp}
            self.pending: list[_Delivery] = []
            self.tokens: dict[str, float] = {}
            self.tokens_issued = 0

    def deliver(
        self,
        spreadsheet_id: str,
        range_: str,
        values: list[list[Any]],
        due: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Write ``values`` at ``range_`` once ``clock()`` reaches ``due`` (seconds)."""
        with self.lock:
            self.pending.append(_Delivery(due, clock, spreadsheet_id, range_, values))

    def _apply_due(self) -> None:
        due = [d for d in self.pending if d.clock() >= d.due]
        if not due:
            return
        self.pending = [d for d in self.pending if d not in due]
        for delivery in sorted(due, key=lambda d: d.due):
            sheet = self.spreadsheets.get(delivery.spreadsheet_id)
            if sheet is not None:
                sheet.write(delivery.range, delivery.values)

    def get(self, spreadsheet_id: str) -> Spreadsheet | None:
        with self.lock:
            self._apply_due()
            return self.spreadsheets.get(spreadsheet_id)

    def issue_token(self) -> str:
        with self.lock:
            self.tokens_issued += 1
            token = f"ya29.sandbox-{self.tokens_issued}-{secrets.token_urlsafe(16)}"
            self.tokens[token] = time.time() + ACCESS_TOKEN_SECONDS
            return token

    def token_valid(self, token: str) -> bool:
        with self.lock:
            expires = self.tokens.get(token)
            return expires is not None and expires > time.time()

    def truth(self) -> dict[str, Any]:
        with self.lock:
            self._apply_due()
            return {
                "spreadsheets": {sid: s.truth() for sid, s in self.spreadsheets.items()},
                "pending_deliveries": len(self.pending),
                "tokens_issued": self.tokens_issued,
            }


_STORES: dict[int, SheetStore] = {}
_STORES_LOCK = threading.Lock()


def sheet_store(context: SandboxContext) -> SheetStore:
    """The one `SheetStore` of a sandbox (keyed by its context, forgotten with it)."""
    key = id(context)
    with _STORES_LOCK:
        store = _STORES.get(key)
        if store is None:
            store = _STORES[key] = SheetStore()
            weakref.finalize(context, _STORES.pop, key, None)
        return store


def google_error(status: int, message: str, reason: str) -> JSONResponse:
    """Google's JSON error body, which gspread's ``APIError`` parses."""
    return JSONResponse(
        {"error": {"code": status, "message": message, "status": reason}}, status_code=status
    )


def _b64json(segment: str) -> dict[str, Any]:
    padded = segment + "=" * (-len(segment) % 4)
    value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


class SheetsSimulator(Simulator):
    """The token endpoint and the Sheets v4 reads gspread makes, under ``/sheets``."""

    name = "sheets"
    prefix = "/sheets"

    def reset(self, config: SandboxConfig) -> None:
        self.store = sheet_store(self.context)
        self.store.reset()

    def truth(self) -> dict[str, Any]:
        return self.store.truth()

    def routes(self) -> list[Route]:
        return [
            Route(TOKEN_PATH, self.token, methods=["POST"]),
            Route("/v4/spreadsheets/{id}", self.metadata, methods=["GET"]),
            Route("/v4/spreadsheets/{id}/values:batchGet", self.batch_get, methods=["GET"]),
            Route("/v4/spreadsheets/{id}/values/{range:path}", self.values_get, methods=["GET"]),
        ]

    def admin_routes(self) -> list[Route]:
        return [Route("/cells", self.admin_cells, methods=["PUT"])]

    # ----- public endpoints ----------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        form = {k: v[-1] for k, v in parse_qs((await request.body()).decode()).items()}
        if form.get("grant_type") != JWT_BEARER:
            return JSONResponse(
                {"error": "unsupported_grant_type", "error_description": "JWT bearer only"},
                status_code=400,
            )
        try:
            header, claims, signature = str(form.get("assertion", "")).split(".")
            header_json, claims_json = _b64json(header), _b64json(claims)
        except ValueError:
            return JSONResponse(
                {"error": "invalid_grant", "error_description": "malformed assertion"},
                status_code=400,
            )
        now = time.time()
        problems = []
        if header_json.get("alg") != "RS256" or not signature:
            problems.append("assertion must be signed with RS256")
        if not claims_json.get("iss"):
            problems.append("iss missing")
        if claims_json.get("aud") != GOOGLE_TOKEN_AUDIENCE:
            problems.append(f"aud must be {GOOGLE_TOKEN_AUDIENCE}")
        if "spreadsheets" not in str(claims_json.get("scope", "")):
            problems.append("scope must include spreadsheets")
        if not isinstance(claims_json.get("exp"), int | float) or claims_json["exp"] < now:
            problems.append("assertion expired")
        if problems:
            return JSONResponse(
                {"error": "invalid_grant", "error_description": "; ".join(problems)},
                status_code=400,
            )
        return JSONResponse(
            {
                "access_token": self.store.issue_token(),
                "expires_in": ACCESS_TOKEN_SECONDS,
                "token_type": "Bearer",
            }
        )

    def _spreadsheet(self, request: Request) -> Spreadsheet | Response:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not self.store.token_valid(auth[7:].strip()):
            return google_error(
                401,
                "Request is missing required authentication credential.",
                "UNAUTHENTICATED",
            )
        spreadsheet = self.store.get(request.path_params["id"])
        if spreadsheet is None:
            return google_error(404, "Requested entity was not found.", "NOT_FOUND")
        return spreadsheet

    async def metadata(self, request: Request) -> Response:
        spreadsheet = self._spreadsheet(request)
        if isinstance(spreadsheet, Response):
            return spreadsheet
        return JSONResponse(spreadsheet.metadata())

    def _read(self, spreadsheet: Spreadsheet, range_: str) -> dict[str, Any] | Response:
        try:
            with self.store.lock:
                return spreadsheet.read(range_)
        except A1Error as exc:
            return google_error(400, str(exc), "INVALID_ARGUMENT")

    async def values_get(self, request: Request) -> Response:
        spreadsheet = self._spreadsheet(request)
        if isinstance(spreadsheet, Response):
            return spreadsheet
        body = self._read(spreadsheet, request.path_params["range"])
        return body if isinstance(body, Response) else JSONResponse(body)

    async def batch_get(self, request: Request) -> Response:
        spreadsheet = self._spreadsheet(request)
        if isinstance(spreadsheet, Response):
            return spreadsheet
        ranges = []
        for range_ in request.query_params.getlist("ranges"):
            body = self._read(spreadsheet, range_)
            if isinstance(body, Response):
                return body
            ranges.append(body)
        return JSONResponse({"spreadsheetId": spreadsheet.id, "valueRanges": ranges})

    # ----- admin ---------------------------------------------------------------------------

    async def admin_cells(self, request: Request) -> Response:
        """Sets cells: ``{"spreadsheet": id (default: the OTP sheet), "range", "values"}``."""
        try:
            body = await json_body(request)
            values = body.get("values")
            if not isinstance(values, list) or not all(isinstance(r, list) for r in values):
                raise ValueError("values must be a list of rows")
            spreadsheet = self.store.get(str(body.get("spreadsheet", SANDBOX_OTP_SHEET_ID)))
            if spreadsheet is None:
                return error(404, "unknown spreadsheet")
            with self.store.lock:
                spreadsheet.write(str(body.get("range", "")), values)
        except (A1Error, ValueError) as exc:
            return error(400, str(exc))
        return JSONResponse(self.truth())
