"""The OTP sheet reader: real gspread against the Sheets simulator, token endpoint included."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import gspread
import httpx
import pytest
import requests

from support_assets.core.sandbox_defaults import (
    SANDBOX_HELPDESK_WEB_PASSWORD,
    SANDBOX_HELPDESK_WEB_USER,
    SANDBOX_OTP_SHEET_ID,
    SANDBOX_SA_MARKER,
    write_sandbox_service_account,
)
from support_assets.core.sandbox_defaults import SANDBOX_SHEETS_TOKEN_PATH as TOKEN_PATH
from support_assets.sandbox.server import SandboxConfig, SandboxServer
from support_assets.sources.helpdesk_web.otp_sheet import (
    OtpSheetError,
    OtpSheetResource,
    OtpTimeoutError,
    SheetsHTTPClient,
    otp_and_time_range,
)
from support_assets_tests.support.network_guard import network_guard
from support_assets_tests.support.sandbox import module_sandbox, resetting_admin

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).isoformat()
# google-auth's switch (opt-in since 2.63) for its regional access boundary lookup.
RAB_LOOKUP_SWITCH = "GOOGLE_SDK_EXPERIMENTAL_PYTHON_REGIONAL_ACCESS_BOUNDARY_LOOKUP_ENABLED"


CONFIG = SandboxConfig(seed=3, octadesk_tickets=5, octadesk_chats=2, helpdesk_web_otp_delay_ms=40)


sandbox = module_sandbox(CONFIG)


admin = resetting_admin()


def reader(sandbox: SandboxServer, tmp_path: Path, **overrides: object) -> OtpSheetResource:
    """A reader with a service-account file generated for this test (fresh RSA key)."""
    key_file = write_sandbox_service_account(
        tmp_path / "sa.json", f"{sandbox.url}/sheets{TOKEN_PATH}"
    )
    settings = {
        "sheet_id": SANDBOX_OTP_SHEET_ID,
        "cell": "OTP!A2",
        "service_account_file": str(key_file),
        "sheets_base_url": f"{sandbox.url}/sheets",
        "timeout_seconds": 10.0,
        "poll_interval_seconds": 0.05,
    }
    return OtpSheetResource(**{**settings, **overrides})


def set_cells(admin: httpx.Client, values: list[list[object]], range_: str = "OTP!A2:B2") -> None:
    admin.put("/sheets/cells", json={"range": range_, "values": values}).raise_for_status()


def test_range_of_the_otp_and_its_arrival_time() -> None:
    assert otp_and_time_range("OTP!A2") == "OTP!A2:B2"
    assert otp_and_time_range("'Códigos'!Z9") == "'Códigos'!Z9:AA9"
    assert otp_and_time_range("c3") == "C3:D3"
    with pytest.raises(OtpSheetError):
        otp_and_time_range("OTP!A2:B2")


def test_reads_the_cell_with_gspread_through_the_token_endpoint(
    sandbox: SandboxServer, admin: httpx.Client, tmp_path: Path
) -> None:
    set_cells(admin, [["K7Q2XPMA", "2026-11-23T10:00:00.5Z"]])
    sheet = reader(sandbox, tmp_path)
    reading = sheet.read()
    assert reading.otp == "K7Q2XPMA"
    assert reading.received_at == datetime(2026, 11, 23, 10, 0, 0, 500000, tzinfo=UTC)
    assert "K7Q2XPMA" not in repr(reading)
    requests_seen = admin.get("/stats").json()["requests"]
    assert requests_seen["POST /sheets/oauth2/token"] == 1
    assert requests_seen["GET /sheets/v4/spreadsheets/{id}"] == 1
    assert requests_seen["GET /sheets/v4/spreadsheets/{id}/values/{range:path}"] == 1


def test_date_and_number_cells_are_read_in_the_sheet_time_zone(
    sandbox: SandboxServer, admin: httpx.Client, tmp_path: Path
) -> None:
    serial = (datetime(2026, 11, 23) - datetime(1899, 12, 30)).days + 0.5  # noon
    set_cells(admin, [[12345678, serial]])
    reading = reader(sandbox, tmp_path).read()
    assert reading.otp == "12345678"
    assert reading.received_at == datetime(2026, 11, 23, 12, tzinfo=SAO_PAULO)
    set_cells(admin, [["ABCD2345", "2026-11-23 09:30:00"]])  # naive: the sheet's zone
    assert reader(sandbox, tmp_path).read().received_at == datetime(
        2026, 11, 23, 12, 30, tzinfo=UTC
    )


def test_waits_for_an_otp_newer_than_the_login_and_ignores_the_stale_one(
    sandbox: SandboxServer, admin: httpx.Client, tmp_path: Path
) -> None:
    set_cells(admin, [["STALE234", YESTERDAY]])
    sheet = reader(sandbox, tmp_path)
    baseline = sheet.snapshot()
    since = datetime.now(UTC)
    assert not sheet.is_new(baseline, since, baseline)
    login = httpx.post(
        f"{sandbox.url}/helpdesk_web/login",
        json={"user": SANDBOX_HELPDESK_WEB_USER, "password": SANDBOX_HELPDESK_WEB_PASSWORD},
    )
    assert login.status_code == 200
    otp = sheet.wait_for_otp(since, baseline)
    assert otp == admin.get("/helpdesk_web/secrets").json()["otps"][-1]
    assert otp != "STALE234"
    # An OTP the helpdesk already refused is not taken again.
    assert not sheet.is_new(sheet.read(), since, baseline, reject=[otp])


def test_an_otp_that_never_arrives_times_out_naming_the_sheet_and_the_cell(
    sandbox: SandboxServer, admin: httpx.Client, tmp_path: Path
) -> None:
    set_cells(admin, [["STALE234", YESTERDAY]])
    sheet = reader(sandbox, tmp_path, timeout_seconds=0.3, cell="OTP!A2")
    with pytest.raises(OtpTimeoutError) as failure:
        sheet.wait_for_otp(datetime.now(UTC), sheet.snapshot())
    message = str(failure.value)
    assert "cell OTP!A2 of Google Sheet sandbox-otp-sheet" in message
    assert "within 0.3 s" in message and "Apps Script" in message
    assert "STALE234" not in message


def test_without_an_arrival_time_new_means_different_from_before_the_login(
    sandbox: SandboxServer, admin: httpx.Client, tmp_path: Path
) -> None:
    set_cells(admin, [["AAAA1111", ""]])
    sheet = reader(sandbox, tmp_path, timeout_seconds=0.3)
    baseline = sheet.snapshot()
    since = datetime.now(UTC)
    assert baseline.received_at is None
    with pytest.raises(OtpTimeoutError):
        sheet.wait_for_otp(since, baseline)
    set_cells(admin, [["BBBB2222"]], "OTP!A2")
    assert sheet.wait_for_otp(since, baseline) == "BBBB2222"


def test_a_missing_spreadsheet_fails_at_once_not_after_the_timeout(
    sandbox: SandboxServer, admin: httpx.Client, tmp_path: Path
) -> None:
    sheet = reader(sandbox, tmp_path, sheet_id="no-such-sheet", timeout_seconds=600)
    with pytest.raises(OtpSheetError) as failure:
        sheet.wait_for_otp(datetime.now(UTC))
    assert not isinstance(failure.value, OtpTimeoutError)
    assert "no-such-sheet" in str(failure.value) and "not found" in str(failure.value)


def test_a_real_google_sheet_needs_a_service_account_file(tmp_path: Path) -> None:
    sheet = OtpSheetResource(sheet_id="1AbC", sandbox_credentials_dir=str(tmp_path))
    with pytest.raises(OtpSheetError, match="GOOGLE_SERVICE_ACCOUNT_FILE"):
        sheet.snapshot()
    assert list(tmp_path.iterdir()) == []  # no sandbox key is ever made for Google


def test_without_a_file_the_sandbox_gets_a_throwaway_service_account(
    sandbox: SandboxServer, admin: httpx.Client, tmp_path: Path
) -> None:
    set_cells(admin, [["ZXCV2345", YESTERDAY]])
    sheet = reader(sandbox, tmp_path, service_account_file=None)
    sheet = sheet.model_copy(update={"sandbox_credentials_dir": str(tmp_path / "data")})
    assert sheet.read().otp == "ZXCV2345"
    [key_file] = (tmp_path / "data").iterdir()
    info = json.loads(key_file.read_text())
    assert info["_comment"] == SANDBOX_SA_MARKER
    assert info["token_uri"] == f"{sandbox.url}/sheets{TOKEN_PATH}"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_the_http_client_sends_googles_urls_to_the_base_url(sandbox: SandboxServer) -> None:
    client = SheetsHTTPClient(None, requests.Session(), base_url=f"{sandbox.url}/sheets")
    with pytest.raises(gspread.exceptions.APIError) as failure:
        client.request(
            "get", f"https://sheets.googleapis.com/v4/spreadsheets/{SANDBOX_OTP_SHEET_ID}"
        )
    assert failure.value.response.status_code == 401  # the simulator answered (no token)
    assert failure.value.response.url.startswith(sandbox.url)


def test_against_a_local_server_google_auth_makes_no_call_to_google(
    sandbox: SandboxServer,
    admin: httpx.Client,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Token refresh and the sheet read reach the local server only. google-auth can look up a
    "regional access boundary" at iamcredentials.googleapis.com after a refresh (switched on
    here, as a future default would); against a local server that would send Google a token
    Google never issued, so it must not happen."""
    monkeypatch.setenv(RAB_LOOKUP_SWITCH, "1")
    set_cells(admin, [["QWER5678", YESTERDAY]])
    sheet = reader(sandbox, tmp_path)
    with network_guard() as guard:
        assert sheet.read().otp == "QWER5678"
    assert guard.hosts, "the guard saw the read's connections"
    assert guard.foreign_hosts == []


def test_the_network_guard_catches_a_call_to_google(sandbox: SandboxServer, tmp_path: Path) -> None:
    """The guard under the previous test can fail: the same client pointed at Google's URL is
    seen (and refused before anything leaves the machine)."""
    client = SheetsHTTPClient(None, requests.Session())
    with network_guard() as guard, pytest.raises(requests.exceptions.ConnectionError):
        client.request("get", "https://sheets.googleapis.com/v4/spreadsheets/x")
    assert guard.foreign_hosts == ["sheets.googleapis.com"]
