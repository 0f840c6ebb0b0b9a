"""The web helpdesk simulator over real HTTP: OTP login, one session per user, reports, API v2.

The OTP e-mail takes a minute here; tests deliver it by moving the simulator's clock
(``advance`` with ``seconds``), so nothing depends on how fast this machine is.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from support_assets.core.sandbox_defaults import (
    SANDBOX_HELPDESK_WEB_API_TOKEN,
    SANDBOX_HELPDESK_WEB_PASSWORD,
    SANDBOX_HELPDESK_WEB_USER,
)
from support_assets.sandbox.server import SandboxConfig, SandboxServer
from support_assets_tests.support.sandbox import module_sandbox

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
CONFIG = SandboxConfig(
    seed=5,
    octadesk_tickets=10,
    octadesk_chats=5,
    helpdesk_web_tickets=120,
    helpdesk_web_otp_delay_ms=60_000,
    helpdesk_web_otp_ttl_s=300,
    helpdesk_web_session_ttl_s=900,
)
CREDENTIALS = {"user": SANDBOX_HELPDESK_WEB_USER, "password": SANDBOX_HELPDESK_WEB_PASSWORD}
BEARER = {"Authorization": f"Bearer {SANDBOX_HELPDESK_WEB_API_TOKEN}"}


sandbox = module_sandbox(CONFIG)


@pytest.fixture
def web(sandbox: SandboxServer, admin: httpx.Client) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{sandbox.url}/helpdesk_web", timeout=10) as client:
        yield client


def advance(admin: httpx.Client, **body: object) -> dict:
    return admin.post("/helpdesk_web/advance", json=body).raise_for_status().json()


def sheet_cells(admin: httpx.Client) -> dict[str, object]:
    truth = admin.get("/sheets/truth").raise_for_status().json()
    return truth["spreadsheets"]["sandbox-otp-sheet"]["sheets"]["OTP"]


def truth(admin: httpx.Client) -> dict:
    return admin.get("/helpdesk_web/truth").raise_for_status().json()


def start_login(web: httpx.Client) -> str:
    response = web.post("/login", json=CREDENTIALS)
    assert response.status_code == 200, response.text
    return response.json()["code"]


def delivered_otp(admin: httpx.Client) -> str:
    advance(admin, seconds=61)
    return str(sheet_cells(admin)["A2"])


def full_login(web: httpx.Client, admin: httpx.Client) -> str:
    code = start_login(web)
    response = web.post("/login/otp", json={"code": code, "otp": delivered_otp(admin)})
    assert response.status_code == 200, response.text
    return response.headers["Authorization"]


def test_the_otp_reaches_the_sheet_only_after_the_delay_and_opens_a_session(
    web: httpx.Client, admin: httpx.Client
) -> None:
    before = datetime.now(UTC)
    code = start_login(web)
    assert "A2" not in sheet_cells(admin)  # the e-mail is still on its way
    assert truth(admin)["open_sessions"] == []
    otp = delivered_otp(admin)
    cells = sheet_cells(admin)
    assert len(otp) == 8 and otp.isalnum() and otp == otp.upper()
    received = datetime.fromisoformat(str(cells["B2"]).replace("Z", "+00:00"))
    assert received > before
    response = web.post("/login/otp", json={"code": code, "otp": otp})
    assert response.status_code == 200
    token = response.headers["Authorization"]
    assert len(token) >= 32 and token not in response.text
    state = truth(admin)
    assert [s["user"] for s in state["open_sessions"]] == [SANDBOX_HELPDESK_WEB_USER]
    assert state["counters"]["logins"] == state["counters"]["otp_accepted"] == 1


def test_wrong_or_expired_otp_answers_401_and_burns_the_code(
    web: httpx.Client, admin: httpx.Client
) -> None:
    code = start_login(web)
    otp = delivered_otp(admin)
    wrong = web.post("/login/otp", json={"code": code, "otp": "ZZZZ9999"})
    assert wrong.status_code == 401 and "Authorization" not in wrong.headers
    again = web.post("/login/otp", json={"code": code, "otp": otp})
    assert again.status_code == 401  # a refused code needs a fresh login

    code = start_login(web)
    otp = delivered_otp(admin)
    advance(admin, seconds=CONFIG.helpdesk_web_otp_ttl_s)
    expired = web.post("/login/otp", json={"code": code, "otp": otp})
    assert expired.status_code == 401 and "expirado" in expired.json()["message"]
    state = truth(admin)
    assert state["counters"]["otp_rejected"] == 3 and state["open_sessions"] == []


def test_wrong_credentials_are_refused(web: httpx.Client, admin: httpx.Client) -> None:
    for body in (
        {**CREDENTIALS, "password": "nope-nope"},
        {**CREDENTIALS, "user": "alguem@empresa.com.br"},
        {},
    ):
        assert web.post("/login", json=body).status_code == 401
    assert web.post("/login", content=b"not json").status_code == 400
    assert truth(admin)["counters"]["login_refused"] == 3


def test_an_open_session_blocks_the_next_login_until_logout_or_expiry(
    web: httpx.Client, admin: httpx.Client
) -> None:
    first = full_login(web, admin)
    blocked = web.post("/login", json=CREDENTIALS)
    assert blocked.status_code == 409
    assert blocked.json()["session_expires_at"]
    assert web.post("/logout", headers={"Authorization": first}).status_code == 200
    assert web.post("/logout", headers={"Authorization": first}).status_code == 401

    forgotten = full_login(web, admin)  # never logged out
    assert web.post("/login", json=CREDENTIALS).status_code == 409
    advance(admin, seconds=CONFIG.helpdesk_web_session_ttl_s + 1)
    assert truth(admin)["open_sessions"] == []
    report = web.get("/reports/tickets", headers={"Authorization": forgotten})
    assert report.status_code == 401
    assert web.post("/login", json=CREDENTIALS).status_code == 200
    counters = truth(admin)["counters"]
    assert counters["login_conflicts"] == 2 and counters["logouts"] == 1


def test_reports_need_a_session_and_page_by_offset_filtered_by_opening_date(
    web: httpx.Client, admin: httpx.Client
) -> None:
    assert web.get("/reports/tickets").status_code == 401
    token = full_login(web, admin)
    auth = {"Authorization": token}
    world = truth(admin)
    walked: list[dict] = []
    offset = 0
    while True:
        page = web.get("/reports/tickets", params={"offset": offset, "limit": 25}, headers=auth)
        assert page.status_code == 200
        assert page.headers["X-Total-Count"] == str(CONFIG.helpdesk_web_tickets)
        walked += page.json()
        if len(page.json()) < 25:
            break
        offset += 25
    assert walked == world["tickets_local"]

    start, end = date(2026, 6, 1), date(2026, 9, 30)
    expected = [
        t
        for t in world["tickets"]
        if start
        <= datetime.fromisoformat(t["created_at"].replace("Z", "+00:00"))
        .astimezone(SAO_PAULO)
        .date()
        <= end
    ]
    assert 0 < len(expected) < len(world["tickets"])
    filtered = web.get(
        "/reports/tickets",
        params={"start_date": start.isoformat(), "end_date": end.isoformat(), "limit": 100},
        headers=auth,
    )
    assert filtered.headers["X-Total-Count"] == str(len(expected))
    assert [str(t["ticket_number"]) for t in filtered.json()] == [
        str(t["ticket_number"]) for t in expected
    ]
    for params in ({"limit": 0}, {"offset": -1}, {"start_date": "01/06/2026"}):
        assert web.get("/reports/tickets", params=params, headers=auth).status_code == 400
    capped = web.get("/reports/tickets", params={"limit": 150}, headers=auth)
    assert len(capped.json()) == 100  # silently, as web apps do
    assert web.post("/logout", headers=auth).status_code == 200
    assert web.get("/reports/tickets", headers=auth).status_code == 401


def test_reports_show_sao_paulo_wall_clock_and_the_api_utc(
    web: httpx.Client, admin: httpx.Client
) -> None:
    world = truth(admin)
    for api, local in zip(world["tickets"], world["tickets_local"], strict=True):
        utc = datetime.fromisoformat(api["created_at"].replace("Z", "+00:00"))
        shown = datetime.strptime(local["created_at"], "%Y-%m-%d %H:%M:%S")
        assert shown.replace(tzinfo=SAO_PAULO) == utc
        assert utc - shown.replace(tzinfo=UTC) == timedelta(hours=3)  # no DST in Brazil now


def test_api_v2_takes_the_bearer_token_pages_by_number_and_lists_only_open_by_default(
    web: httpx.Client, admin: httpx.Client
) -> None:
    assert web.get("/api/v2/tickets").status_code == 401
    assert web.get("/api/v2/tickets", headers={"Authorization": "Bearer nope"}).status_code == 401
    world = truth(admin)
    default = web.get("/api/v2/tickets", params={"limit": 200}, headers=BEARER).json()
    assert default and all(t["is_closed"] is False for t in default)
    walked: list[dict] = []
    page = 1
    while True:
        body = web.get(
            "/api/v2/tickets",
            params={"offset": page, "limit": 50, "filter_by": "all"},
            headers=BEARER,
        ).json()
        walked += body
        if len(body) < 50:
            break
        page += 1
    assert walked == world["tickets"]
    assert page == 3


def test_payloads_vary_as_in_the_wild(admin: httpx.Client) -> None:
    tickets = truth(admin)["tickets"]
    numbers = {type(t["ticket_number"]) for t in tickets}
    statuses = {type(t["status"]) for t in tickets}
    assert numbers == {int, str} and statuses == {str, dict}
    assert all(t["created_at"].endswith("Z") for t in tickets)


def test_advance_changes_statuses_creates_tickets_and_validates(admin: httpx.Client) -> None:
    before = {str(t["ticket_number"]): t for t in truth(admin)["tickets"]}
    change = advance(admin, update_numbers=[1001], update=2, create=2)
    assert change["updated"][0] == 1001 and len(change["updated"]) == 3
    assert change["created"] == [1121, 1122]
    after = {str(t["ticket_number"]): t for t in truth(admin)["tickets"]}
    for number in change["updated"]:
        old, new = before[str(number)], after[str(number)]
        assert old["status"] != new["status"] and new["updated_at"] > old["updated_at"]
        assert old["created_at"] == new["created_at"]
    assert {"1121", "1122"} <= set(after)
    for body in ({"update": -1}, {"seconds": "x"}, {"update_numbers": "1"}, {"nope": 1}):
        assert admin.post("/helpdesk_web/advance", json=body).status_code == 400


def test_behaviour_switches_otp_mail_wrong_otps_and_failing_reports(
    web: httpx.Client, admin: httpx.Client
) -> None:
    admin.put("/helpdesk_web/behaviour", json={"deliver_otp": False}).raise_for_status()
    start_login(web)
    advance(admin, seconds=120)
    assert "A2" not in sheet_cells(admin)

    admin.put(
        "/helpdesk_web/behaviour", json={"deliver_otp": True, "wrong_otps": 1}
    ).raise_for_status()
    code = start_login(web)
    refused = web.post("/login/otp", json={"code": code, "otp": delivered_otp(admin)})
    assert refused.status_code == 401
    token = full_login(web, admin)  # only the first OTP was wrong

    admin.put(
        "/helpdesk_web/behaviour", json={"fail_reports_after_pages": 1, "fail_status": 422}
    ).raise_for_status()
    auth = {"Authorization": token}
    assert web.get("/reports/tickets", headers=auth).status_code == 200
    assert web.get("/reports/tickets", headers=auth).status_code == 422
    for body in ({"wrong_otps": -1}, {"fail_status": 200}, {"deliver_otp": 1}, {"x": 1}):
        assert admin.put("/helpdesk_web/behaviour", json=body).status_code == 400
    secrets = admin.get("/helpdesk_web/secrets").json()
    assert len(secrets["codes"]) == 3 and len(secrets["session_tokens"]) == 1
    assert len(secrets["otps"]) == 4  # three real ones and the wrong one that was mailed
