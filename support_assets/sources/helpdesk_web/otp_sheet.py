"""The Google Sheet an Apps Script fills with the web helpdesk's one-time passwords.

The script copies the latest OTP e-mail from Gmail into one cell and, in the cell to its right,
the time the e-mail arrived (ISO 8601 text, or a date cell). `OtpSheetResource.wait_for_otp`
polls that pair of cells with gspread until an OTP newer than the login shows up, or fails
after ``timeout_seconds`` with a message naming the sheet and the cell. When the script writes
no time, "newer" means "different from the value read just before the login".

gspread 6.2.1 has no base-URL setting (its URLs are module constants copied at import), so
`SheetsHTTPClient` swaps Google's prefix for ``sheets_base_url``; the OAuth token request goes
to the service-account file's ``token_uri``. Without a service-account file, and only when the
base URL is not Google's, a throwaway sandbox file is written at run time (see
`support_assets.core.sandbox_defaults.write_sandbox_service_account`).

The OTP is a secret: nothing here logs or returns it except ``wait_for_otp``'s return value.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import gspread
import requests
from dagster import ConfigurableResource, InitResourceContext, get_dagster_logger
from google.auth.exceptions import GoogleAuthError, TransportError
from gspread.http_client import HTTPClient
from pydantic import Field, PrivateAttr

from support_assets.core.sandbox_defaults import (
    SANDBOX_SHEETS_TOKEN_PATH,
    write_sandbox_service_account,
)

GOOGLE_SHEETS_URL = "https://sheets.googleapis.com"
SANDBOX_SERVICE_ACCOUNT_NAME = "sandbox-google-service-account.json"
_CELL = re.compile(r"^(?:(?P<sheet>.+)!)?(?P<col>[A-Za-z]{1,3})(?P<row>\d+)$")
_SERIAL_EPOCH = datetime(1899, 12, 30)
_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class OtpSheetError(Exception):
    """The OTP sheet cannot be read (credentials, permissions, a wrong id or cell)."""


class OtpTimeoutError(OtpSheetError):
    """No OTP newer than the login appeared in time."""


class SheetsHTTPClient(HTTPClient):
    """gspread's HTTP client, sending Google's Sheets URLs to ``base_url`` instead."""

    def __init__(self, auth: Any, session: Any = None, *, base_url: str = GOOGLE_SHEETS_URL):
        super().__init__(auth, session)
        self.base_url = base_url.rstrip("/")
        if self.base_url != GOOGLE_SHEETS_URL and auth is not None:
            # google-auth can look up a "regional access boundary" at
            # iamcredentials.googleapis.com after each token refresh (on by default in 2.50 to
            # 2.62, opt-in since 2.63); against a local Sheets server that is a call to Google
            # with a token Google never issued. Off there; google-auth has no public switch per
            # credential, so a socket-guarded test proves the effect on every upgrade.
            credentials = getattr(self, "auth", auth)
            if hasattr(credentials, "_is_regional_access_boundary_lookup_required"):
                credentials._is_regional_access_boundary_lookup_required = lambda: False

    def request(self, method: str, endpoint: str, *args: Any, **kwargs: Any) -> Any:
        if endpoint.startswith(GOOGLE_SHEETS_URL) and self.base_url != GOOGLE_SHEETS_URL:
            endpoint = self.base_url + endpoint[len(GOOGLE_SHEETS_URL) :]
        return super().request(method, endpoint, *args, **kwargs)


def column_letters(index: int) -> str:
    """0 → ``A``, 26 → ``AA``."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def column_index(letters: str) -> int:
    index = 0
    for char in letters.upper():
        index = index * 26 + (ord(char) - ord("A") + 1)
    return index - 1


def otp_and_time_range(cell: str) -> str:
    """``OTP!A2`` → ``OTP!A2:B2``: the OTP cell and the arrival time to its right."""
    match = _CELL.match(cell.strip())
    if not match:
        raise OtpSheetError(f"OTP_SHEET_CELL must be one cell in A1 notation, got {cell!r}")
    sheet, col, row = match.group("sheet"), match.group("col").upper(), match.group("row")
    right = column_letters(column_index(col) + 1)
    prefix = f"{sheet}!" if sheet else ""
    return f"{prefix}{col}{row}:{right}{row}"


@dataclass(frozen=True)
class OtpReading:
    """What the cells held: the OTP (never log it) and when its e-mail arrived, if known."""

    otp: str | None
    received_at: datetime | None

    def __repr__(self) -> str:  # keep the OTP out of reprs, tracebacks and logs
        return f"OtpReading(otp={'***' if self.otp else None}, received_at={self.received_at})"


def parse_received_at(value: Any, time_zone: ZoneInfo) -> datetime | None:
    """The arrival time: ISO 8601 text (naive means the sheet's zone) or a date serial number."""
    if value in (None, ""):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        moment = _SERIAL_EPOCH + timedelta(days=float(value))
        return moment.replace(tzinfo=time_zone).astimezone(UTC)
    text = str(value).strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=time_zone)
    return moment.astimezone(UTC)


def otp_text(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


class OtpSheetResource(ConfigurableResource):
    """Reads the web helpdesk's OTP from a Google Sheet with gspread (service account)."""

    sheet_id: str = Field(description="Id of the spreadsheet the Apps Script writes to.")
    cell: str = Field(
        default="OTP!A2",
        description="Cell with the OTP (A1 notation); the e-mail's arrival time is to its right.",
    )
    service_account_file: str | None = Field(
        default=None,
        description="Service-account JSON with read access to the sheet. Unset: a throwaway "
        "sandbox file (only allowed when sheets_base_url is not Google's).",
    )
    sandbox_credentials_dir: str = Field(
        default="./data", description="Where the sandbox service-account file is written."
    )
    sheets_base_url: str = Field(default=GOOGLE_SHEETS_URL)
    timeout_seconds: float = Field(default=180.0, gt=0)
    poll_interval_seconds: float = Field(
        default=2.0, gt=0, description="Longest pause between reads (the first ones are shorter)."
    )
    request_timeout_seconds: float = Field(default=20.0, gt=0)
    clock_skew_seconds: float = Field(
        default=2.0,
        ge=0,
        description="An OTP whose e-mail arrived this much before the login still counts as new.",
    )

    _spreadsheet: Any = PrivateAttr(default=None)
    _time_zone: ZoneInfo = PrivateAttr(default=ZoneInfo("UTC"))

    def describe(self) -> str:
        return f"cell {self.cell} of Google Sheet {self.sheet_id}"

    def _credentials_file(self) -> str:
        if self.service_account_file:
            return self.service_account_file
        if self.sheets_base_url.rstrip("/") == GOOGLE_SHEETS_URL:
            raise OtpSheetError(
                "GOOGLE_SERVICE_ACCOUNT_FILE must be set to read the OTP from a real Google Sheet"
            )
        path = Path(self.sandbox_credentials_dir) / SANDBOX_SERVICE_ACCOUNT_NAME
        token_uri = self.sheets_base_url.rstrip("/") + SANDBOX_SHEETS_TOKEN_PATH
        return str(write_sandbox_service_account(path, token_uri))

    def _open(self) -> Any:
        if self._spreadsheet is None:
            try:
                client = gspread.service_account(
                    filename=self._credentials_file(),
                    scopes=gspread.auth.READONLY_SCOPES,
                    http_client=functools.partial(SheetsHTTPClient, base_url=self.sheets_base_url),
                )
                client.set_timeout(self.request_timeout_seconds)
                spreadsheet = client.open_by_key(self.sheet_id)
            except (OSError, ValueError) as exc:
                raise OtpSheetError(
                    f"cannot use the service-account file for {self.describe()}: "
                    f"{type(exc).__name__}"
                ) from None
            except gspread.exceptions.SpreadsheetNotFound:
                raise OtpSheetError(f"{self.describe()}: spreadsheet not found") from None
            try:
                self._time_zone = ZoneInfo(spreadsheet.timezone)
            except (KeyError, ZoneInfoNotFoundError):
                self._time_zone = ZoneInfo("UTC")
            self._spreadsheet = spreadsheet
        return self._spreadsheet

    def read(self) -> OtpReading:
        """The OTP and its arrival time as the sheet holds them now (one values request)."""
        body = self._open().values_get(
            otp_and_time_range(self.cell),
            params={
                "valueRenderOption": "UNFORMATTED_VALUE",
                "dateTimeRenderOption": "SERIAL_NUMBER",
            },
        )
        row = (body.get("values") or [[]])[0]
        otp = otp_text(row[0]) if row else None
        received = parse_received_at(row[1], self._time_zone) if len(row) > 1 else None
        return OtpReading(otp, received)

    def snapshot(self) -> OtpReading:
        """`read`, with any failure turned into an `OtpSheetError` that names the sheet."""
        try:
            return self.read()
        except OtpSheetError:
            raise
        except gspread.exceptions.APIError as exc:
            raise OtpSheetError(
                f"{self.describe()}: Google Sheets answered HTTP {exc.response.status_code}"
            ) from None
        except (requests.RequestException, GoogleAuthError) as exc:
            raise OtpSheetError(f"{self.describe()}: {type(exc).__name__}") from None

    def is_new(
        self,
        reading: OtpReading,
        since: datetime,
        baseline: OtpReading | None,
        reject: Collection[str] = (),
    ) -> bool:
        """Whether ``reading`` holds an OTP that arrived after ``since`` (the login).

        What the cells held just before the login (``baseline``) never counts, even when it
        arrived within the allowed clock skew (a login right after another one); a code the
        helpdesk already refused (``reject``) neither.
        """
        if not reading.otp or reading.otp in reject:
            return False
        if baseline is not None and (reading.otp, reading.received_at) == (
            baseline.otp,
            baseline.received_at,
        ):
            return False
        if reading.received_at is not None:
            return reading.received_at >= since - timedelta(seconds=self.clock_skew_seconds)
        return baseline is not None

    def wait_for_otp(
        self,
        since: datetime,
        baseline: OtpReading | None = None,
        reject: Collection[str] = (),
    ) -> str:
        """Polls until an OTP newer than ``since`` appears; `OtpTimeoutError` after the timeout.

        Transient failures (429, 5xx, connection errors) are retried until the deadline;
        credential, permission and not-found errors fail at once.
        """
        log = get_dagster_logger("support_assets.otp_sheet")
        started = time.monotonic()
        deadline = started + self.timeout_seconds
        pause = min(0.05, self.poll_interval_seconds)
        last: OtpReading | None = None
        last_problem = ""
        reads = 0
        while True:
            try:
                reads += 1
                last = self.read()
            except gspread.exceptions.APIError as exc:
                status = exc.response.status_code
                if status not in _TRANSIENT_STATUS:
                    raise OtpSheetError(
                        f"{self.describe()}: Google Sheets answered HTTP {status}"
                    ) from None
                last_problem = f"HTTP {status}"
                log.warning("Reading %s: HTTP %s; trying again", self.describe(), status)
            except (requests.RequestException, TransportError) as exc:
                last_problem = type(exc).__name__
                log.warning("Reading %s: %s; trying again", self.describe(), last_problem)
            except GoogleAuthError as exc:
                if getattr(exc, "retryable", False):
                    last_problem = type(exc).__name__
                    log.warning("Reading %s: %s; trying again", self.describe(), last_problem)
                else:
                    raise OtpSheetError(
                        f"{self.describe()}: the service account was refused ({type(exc).__name__})"
                    ) from None
            else:
                last_problem = ""
                if self.is_new(last, since, baseline, reject):
                    log.info(
                        "An OTP newer than the login arrived in %s after %.1f s (%d reads)",
                        self.describe(),
                        time.monotonic() - started,
                        reads,
                    )
                    return str(last.otp)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = (
                    "the cell was empty"
                    if last is None or not last.otp
                    else "the OTP there arrived at "
                    + (last.received_at.isoformat() if last.received_at else "an unknown time")
                    + (" and was already refused" if last.otp in reject else "")
                )
                problem = f"; last read failed with {last_problem}" if last_problem else ""
                raise OtpTimeoutError(
                    f"No OTP newer than the login ({since.astimezone(UTC).isoformat()}) appeared "
                    f"in {self.describe()} within {self.timeout_seconds:g} s ({reads} reads; "
                    f"{seen}{problem}). Check the Apps Script that copies the OTP e-mail "
                    "into the sheet."
                )
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, self.poll_interval_seconds)

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._spreadsheet is not None:
            self._spreadsheet.client.session.close()
        self._spreadsheet = None
