"""The Sheets simulator over real HTTP: the OAuth token endpoint and the v4 reads gspread makes."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import httpx
import pytest

from support_assets.sandbox.sheets import (
    GOOGLE_TOKEN_AUDIENCE,
    JWT_BEARER,
    A1Error,
    column_index,
    column_letters,
    parse_a1,
)

SHEET = "sandbox-otp-sheet"


def _segment(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def assertion(**claims: object) -> str:
    now = int(time.time())
    body = {
        "iss": "otp-reader@support-assets-sandbox.iam.gserviceaccount.com",
        "aud": GOOGLE_TOKEN_AUDIENCE,
        "scope": "https://www.googleapis.com/auth/spreadsheets.readonly",
        "iat": now,
        "exp": now + 3600,
        **claims,
    }
    return ".".join([_segment({"alg": "RS256", "typ": "JWT"}), _segment(body), "c2lnbmF0dXJl"])


@pytest.fixture
def sheets(sandbox, admin: httpx.Client) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{sandbox.url}/sheets", timeout=10) as client:
        yield client


def token(sheets: httpx.Client, jwt: str | None = None) -> httpx.Response:
    return sheets.post(
        "/oauth2/token", data={"grant_type": JWT_BEARER, "assertion": jwt or assertion()}
    )


def test_a1_notation() -> None:
    assert parse_a1("OTP!A2") == ("OTP", (1, 0), (1, 0))
    assert parse_a1("'Códigos do mês'!B3:A1") == ("Códigos do mês", (0, 0), (2, 1))
    assert parse_a1("'It''s'!AA10") == ("It's", (9, 26), (9, 26))
    assert parse_a1("C5:D6") == (None, (4, 2), (5, 3))
    for bad in ("OTP!", "A", "OTP!2A", ""):
        with pytest.raises(A1Error):
            parse_a1(bad)
    for index in (0, 25, 26, 701, 702):
        assert column_index(column_letters(index)) == index


def test_token_endpoint_checks_the_grant_and_the_assertion(sheets: httpx.Client) -> None:
    ok = token(sheets)
    assert ok.status_code == 200
    assert ok.json()["token_type"] == "Bearer" and ok.json()["expires_in"] == 3600
    assert sheets.post("/oauth2/token", data={"grant_type": "password"}).status_code == 400
    assert token(sheets, "not-a-jwt").status_code == 400
    for claims in ({"aud": "https://elsewhere/token"}, {"exp": 1}, {"scope": "drive"}):
        refused = token(sheets, assertion(**claims))
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_reads_need_a_token_it_issued_and_answer_google_shapes(
    sheets: httpx.Client, admin: httpx.Client
) -> None:
    for headers in ({}, {"Authorization": "Bearer ya29.made-up"}):
        denied = sheets.get(f"/v4/spreadsheets/{SHEET}", headers=headers)
        assert denied.status_code == 401
        assert denied.json()["error"]["status"] == "UNAUTHENTICATED"
    auth = {"Authorization": f"Bearer {token(sheets).json()['access_token']}"}
    meta = sheets.get(f"/v4/spreadsheets/{SHEET}", headers=auth).json()
    assert meta["properties"]["timeZone"] == "America/Sao_Paulo"
    assert [s["properties"]["title"] for s in meta["sheets"]] == ["OTP"]
    missing = sheets.get("/v4/spreadsheets/nope", headers=auth)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == 404

    empty = sheets.get(f"/v4/spreadsheets/{SHEET}/values/OTP%21A2%3AB2", headers=auth).json()
    assert empty == {"range": "OTP!A2:B2", "majorDimension": "ROWS"}
    admin.put(
        "/sheets/cells", json={"range": "OTP!A2:B2", "values": [["K7Q2XPMA", 46327.5]]}
    ).raise_for_status()
    values = sheets.get(f"/v4/spreadsheets/{SHEET}/values/OTP!A1:C2", headers=auth).json()
    assert values["values"] == [["otp", "received_at"], ["K7Q2XPMA", 46327.5]]
    first_sheet = sheets.get(f"/v4/spreadsheets/{SHEET}/values/A2", headers=auth).json()
    assert first_sheet["values"] == [["K7Q2XPMA"]]
    batch = sheets.get(
        f"/v4/spreadsheets/{SHEET}/values:batchGet",
        params=[("ranges", "OTP!A2"), ("ranges", "OTP!B2")],
        headers=auth,
    ).json()
    assert [r["values"] for r in batch["valueRanges"]] == [[["K7Q2XPMA"]], [[46327.5]]]
    bad = sheets.get(f"/v4/spreadsheets/{SHEET}/values/Nope!A1", headers=auth)
    assert bad.status_code == 400 and bad.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert admin.put("/sheets/cells", json={"range": "OTP!A2", "values": "x"}).status_code == 400
