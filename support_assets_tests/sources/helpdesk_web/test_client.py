"""The web helpdesk resource against the simulator over HTTP: login, logout, retries, modes,
and how settings become resources."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from dagster import EnvVar

from support_assets.core.sandbox_defaults import (
    SANDBOX_HELPDESK_WEB_API_TOKEN,
    SANDBOX_HELPDESK_WEB_PASSWORD,
    SANDBOX_HELPDESK_WEB_USER,
    SANDBOX_OTP_SHEET_ID,
)
from support_assets.definitions import build_resources
from support_assets.sandbox.server import SandboxConfig, SandboxServer
from support_assets.sources.helpdesk_web.client import (
    SESSION_FILE,
    HelpdeskWebError,
    HelpdeskWebLoginError,
    HelpdeskWebResource,
    HelpdeskWebSessionOpenError,
    parse_helpdesk_time,
)
from support_assets.sources.helpdesk_web.otp_sheet import GOOGLE_SHEETS_URL, OtpSheetResource
from support_assets_tests.support.sandbox import module_sandbox, resetting_admin

WINDOW = (date(2026, 5, 5), date(2026, 11, 1))
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
CONFIG = SandboxConfig(
    seed=4,
    octadesk_tickets=5,
    octadesk_chats=2,
    helpdesk_web_tickets=90,
    helpdesk_web_otp_delay_ms=30,
    helpdesk_web_session_ttl_s=600,
)


sandbox = module_sandbox(CONFIG)


admin = resetting_admin()


def helpdesk(
    sandbox: SandboxServer, state_dir: Path, auth_mode: str = "otp", **overrides: object
) -> HelpdeskWebResource:
    sheet = OtpSheetResource(
        sheet_id=SANDBOX_OTP_SHEET_ID,
        sheets_base_url=f"{sandbox.url}/sheets",
        sandbox_credentials_dir=str(state_dir),
        timeout_seconds=10,
        poll_interval_seconds=0.05,
    )
    settings = {
        "base_url": f"{sandbox.url}/helpdesk_web",
        "auth_mode": auth_mode,
        "user": SANDBOX_HELPDESK_WEB_USER,
        "password": SANDBOX_HELPDESK_WEB_PASSWORD,
        "api_token": SANDBOX_HELPDESK_WEB_API_TOKEN,
        "otp_sheet": sheet,
        "session_state_dir": str(state_dir),
        "page_size": 40,
        "rate_limit_per_second": None,
        "max_attempts": 2,
        "backoff_initial_seconds": 0.01,
    }
    return HelpdeskWebResource(**{**settings, **overrides})


def truth(admin: httpx.Client) -> dict:
    return admin.get("/helpdesk_web/truth").raise_for_status().json()


def behave(admin: httpx.Client, **behaviour: object) -> None:
    admin.put("/helpdesk_web/behaviour", json=behaviour).raise_for_status()


def opened_in_window(tickets: list[dict]) -> set[str]:
    start, end = WINDOW
    return {
        str(t["ticket_number"])
        for t in tickets
        if start <= parse_helpdesk_time(t["created_at"]).astimezone(SAO_PAULO).date() <= end
    }


def test_a_session_logs_in_through_the_sheet_reads_the_window_and_logs_out(
    sandbox: SandboxServer, admin: httpx.Client, tmp_path: Path
) -> None:
    resource = helpdesk(sandbox, tmp_path)
    with resource.session() as session:
        assert len(truth(admin)["open_sessions"]) == 1
        assert (tmp_path / SESSION_FILE).exists()  # kept until the logout succeeds
        pages = list(session.ticket_pages(*WINDOW))
    tickets = [t for page in pages for t in page]
    assert {str(t["ticket_number"]) for t in tickets} == opened_in_window(truth(admin)["tickets"])
    assert len(pages) == -(-len(tickets) // 40)
    state = truth(admin)
    assert state["open_sessions"] == []
    assert state["counters"]["logins"] == state["counters"]["logouts"] == 1
    assert session.report.logged_out and session.report.login_attempts == 1
    assert not (tmp_path / SESSION_FILE).exists()


def test_the_session_logs_out_when_the_work_inside_it_fails(
    sandbox: SandboxServer, admin: httpx.Client, tmp_path: Path
) -> None:
    behave(admin, fail_reports_after_pages=1, fail_status=422)
    resource = helpdesk(sandbox, tmp_path)
    with pytest.raises(Exception, match="HTTP 422"), resource.session() as session:
        for _ in session.ticket_pages(*WINDOW):
            pass
    with pytest.raises(RuntimeError), resource.session():
        raise RuntimeError("boom")
    state = truth(admin)
    assert state["open_sessions"] == [] and state["counters"]["logouts"] == 2
    assert not (tmp_path / SESSION_FILE).exists()


def test_a_wrong_otp_is_retried_once_with_a_fresh_login(
    sandbox: SandboxServer, admin: httpx.Client, tmp_path: Path
) -> None:
    behave(admin, wrong_otps=1)
    resource = helpdesk(sandbox, tmp_path)
    with resource.session() as session:
        pass
    assert session.report.login_attempts == 2 and session.report.otp_refused == 1
    counters = truth(admin)["counters"]
    assert counters["logins"] == 2 and counters["otp_rejected"] == 1
    assert counters["otp_accepted"] == counters["logouts"] == 1

    behave(admin, wrong_otps=2)
    with pytest.raises(HelpdeskWebLoginError, match="twice"), resource.session():
        pass
    state = truth(admin)
    assert state["counters"]["logins"] == 4 and state["counters"]["otp_rejected"] == 3
    assert state["open_sessions"] == []


def test_a_forgotten_logout_blocks_the_next_login_and_the_next_run_closes_it(
    sandbox: SandboxServer, admin: httpx.Client, tmp_path: Path
) -> None:
    killed = helpdesk(sandbox, tmp_path / "here")
    killed.login()  # a run that died (SIGKILL) before its logout
    assert len(truth(admin)["open_sessions"]) == 1

    elsewhere = helpdesk(sandbox, tmp_path / "elsewhere")  # does not know that token
    with pytest.raises(HelpdeskWebSessionOpenError, match="open web helpdesk session .*expires"):
        with elsewhere.session():
            pass
    assert truth(admin)["counters"]["login_conflicts"] == 1

    again = helpdesk(sandbox, tmp_path / "here")  # the same deployment, next run
    with again.session() as session:
        pass
    assert session.report.stale_session_closed
    state = truth(admin)
    assert state["open_sessions"] == [] and state["counters"]["logouts"] == 2
    assert not (tmp_path / "here" / SESSION_FILE).exists()


@pytest.mark.parametrize("divergent", [False, True], ids=["documented", "divergent"])
def test_a_report_that_caps_its_pages_below_page_size_fails_instead_of_losing_tickets(
    sandbox: SandboxServer, admin: httpx.Client, tmp_path: Path, divergent: bool
) -> None:
    """The total comes in X-Total-Count (documented) or in the envelope (divergent)."""
    admin.post("/reset", json={"helpdesk_web_tickets": 130}).raise_for_status()
    admin.put("/helpdesk_web/divergent", json={"divergent": divergent}).raise_for_status()
    resource = helpdesk(sandbox, tmp_path, page_size=150)  # the report serves at most 100
    with pytest.raises(HelpdeskWebError, match="announced .* but 100 were read"):
        with resource.session() as session:
            list(session.ticket_pages(date(2025, 1, 1), date(2026, 12, 31)))
    assert truth(admin)["open_sessions"] == []


def test_refused_credentials_fail_clearly(
    sandbox: SandboxServer, admin: httpx.Client, tmp_path: Path
) -> None:
    resource = helpdesk(sandbox, tmp_path, password="wrong-password-1234")
    with pytest.raises(HelpdeskWebLoginError, match="refused user .* or its password"):
        with resource.session():
            pass
    assert truth(admin)["counters"]["login_refused"] == 1


def test_token_mode_reads_the_same_window_with_no_sheet_and_no_login(
    sandbox: SandboxServer, admin: httpx.Client, tmp_path: Path
) -> None:
    with helpdesk(sandbox, tmp_path, auth_mode="token").session() as session:
        tickets = [t for page in session.ticket_pages(*WINDOW) for t in page]
    assert {str(t["ticket_number"]) for t in tickets} == opened_in_window(truth(admin)["tickets"])
    assert session.report.outside_window > 0
    requests_seen = admin.get("/stats").json()["requests"]
    assert not [k for k in requests_seen if "/sheets/" in k or "login" in k or "logout" in k]
    assert truth(admin)["counters"]["api_pages"] == -(-90 // 40)


def test_helpdesk_times_are_read_as_sao_paulo_unless_they_carry_an_offset() -> None:
    assert parse_helpdesk_time("2026-10-02 13:04:05") == datetime(2026, 10, 2, 16, 4, 5, tzinfo=UTC)
    assert parse_helpdesk_time("02/10/2026 13:04") == datetime(2026, 10, 2, 16, 4, tzinfo=UTC)
    assert parse_helpdesk_time("2026-10-02T16:04:05Z") == datetime(
        2026, 10, 2, 16, 4, 5, tzinfo=UTC
    )
    assert parse_helpdesk_time("2026-10-02T13:04:05-03:00") == datetime(
        2026, 10, 2, 16, 4, 5, tzinfo=UTC
    )
    # Before 2019 Brazil had summer time: the zone's rules apply, not a fixed -03:00.
    assert parse_helpdesk_time("2018-01-15 12:00:00") == datetime(2018, 1, 15, 14, tzinfo=UTC)
    for bad in ("ontem às 14h", "0000-00-00 00:00:00", "31/02/2026 25:61", "", None, 1700000000):
        with pytest.raises(ValueError):
            parse_helpdesk_time(bad)


def test_settings_choose_the_sandbox_only_while_nothing_real_is_configured(
    tmp_path: Path,
) -> None:
    data = {"SUPPORT_DATA_DIR": str(tmp_path), "SUPPORT_SANDBOX_URL": "http://127.0.0.1:9999"}
    sandbox = build_resources(data)["helpdesk_web"]
    assert sandbox.base_url == "http://127.0.0.1:9999/helpdesk_web"
    assert sandbox.otp_sheet.sheets_base_url == "http://127.0.0.1:9999/sheets"
    assert sandbox.otp_sheet.service_account_file is None
    assert sandbox.password == SANDBOX_HELPDESK_WEB_PASSWORD
    assert sandbox.session_state_dir == str(tmp_path)

    for key in ("OTP_SHEET_ID", "GOOGLE_SERVICE_ACCOUNT_FILE"):
        assert build_resources({**data, key: "x"})["helpdesk_web"].otp_sheet.sheets_base_url == (
            GOOGLE_SHEETS_URL
        )
    custom = build_resources({**data, "GOOGLE_SHEETS_BASE_URL": "http://sheets.local"})
    assert custom["helpdesk_web"].otp_sheet.sheets_base_url == "http://sheets.local"

    real = build_resources(
        {**data, "HELPDESK_WEB_BASE_URL": "https://helpdesk.example", "OTP_TIMEOUT_SECONDS": "90"}
    )["helpdesk_web"]
    assert real.otp_sheet.sheets_base_url == GOOGLE_SHEETS_URL
    assert real.otp_sheet.timeout_seconds == 90
    # Nothing of the sandbox's is sent to a real helpdesk: unset secrets stay EnvVars and fail
    # the run by name.
    assert real.password == EnvVar("HELPDESK_WEB_PASSWORD")
    assert real.user == EnvVar("HELPDESK_WEB_USER")
    assert real.api_token is None

    token = build_resources(
        {**data, "HELPDESK_WEB_BASE_URL": "https://api.tiflux.com", "HELPDESK_WEB_AUTH": "token"}
    )["helpdesk_web"]
    assert token.auth_mode == "token"
    assert token.api_token == EnvVar("HELPDESK_WEB_API_TOKEN")
    assert token.password is None and token.user is None
