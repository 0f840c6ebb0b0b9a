"""The Apps Script that copies the OTP e-mail into the sheet (deploy/apps_script/otp_to_sheet.gs),
run by node with in-memory stand-ins for Gmail, Sheets, properties and triggers
(support_assets_tests/apps_script_harness.js). What it writes is read back with the platform's
own reader functions, so both halves of the login agree on the cells."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from support_assets.sources.helpdesk_web.otp_sheet import (
    otp_and_time_range,
    otp_text,
    parse_received_at,
)

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "deploy" / "apps_script" / "otp_to_sheet.gs"
HARNESS = Path(__file__).with_name("apps_script_harness.js")


def run_script(call: str, *args: Any, **state: Any) -> dict[str, Any]:
    node = shutil.which("node") or shutil.which("nodejs")
    assert node, "node is needed to test the Apps Script (Debian's nodejs package)"
    payload = {"source": str(SCRIPT), "call": call, "args": list(args), **state}
    done = subprocess.run(
        [node, str(HARNESS)], input=json.dumps(payload), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    ("subject", "body", "code"),
    [
        (
            "Código de acesso",
            "Olá,\nSeu código de acesso é 483920.\nEle expira em 10 minutos.",
            "483920",
        ),
        ("Your verification code", "Your verification code is: 019283", "019283"),
        ("Login", "Código: 7391", "7391"),
        ("Token de login", "Use o token AB12CD para entrar", "AB12CD"),
        (
            "Acesso ao sistema",
            "Enviado em 04/12/2026 às 14:23.\n\n   582913   \n\nSuporte: (11) 98888-7777",
            "582913",
        ),
        ("Bem-vindo", "Obrigado! Clientes desde 2021 e 2024.", None),
        ("Aviso", "Nenhum código hoje. Valor: R$ 1.234,56", None),
    ],
)
def test_the_code_is_found_in_sample_emails(subject: str, body: str, code: str | None) -> None:
    assert run_script("extractOtp", subject, body)["result"] == code


@pytest.mark.parametrize("cell", ["OTP!A2", "Z9", "Códigos!AZ10", "'Aba 1'!B3"])
def test_the_script_and_the_reader_agree_on_the_two_cells(cell: str) -> None:
    assert run_script("otpAndTimeRange", cell)["result"] == otp_and_time_range(cell)


def test_the_newest_email_with_a_code_is_written_with_its_time() -> None:
    emails = [
        {
            "subject": "Código de acesso",
            "body": "Seu código é 111111",
            "date": "2026-12-04T12:00:00Z",
        },
        {
            "subject": "Código de acesso",
            "body": "Seu código é 048213",
            "date": "2026-12-04T12:05:07Z",
        },
        {"subject": "Promoção", "body": "Sem código aqui", "date": "2026-12-04T12:09:00Z"},
    ]
    properties = {"OTP_SHEET_ID": "sheet-123", "OTP_SHEET_CELL": "OTP!A2"}
    out = run_script("copyNewestOtp", emails=emails, properties=properties)
    assert out["error"] is None and out["result"] is True
    assert out["sheetId"] == "sheet-123" and out["ranges"] == ["OTP!A2:B2"]
    assert out["formats"] == ["@"]  # text: the leading zero stays
    [[code, arrived]] = out["cells"]
    # The platform's reader takes what the script wrote.
    assert otp_text(code) == "048213"
    moment = parse_received_at(arrived, ZoneInfo("America/Sao_Paulo"))
    assert moment == datetime(2026, 12, 4, 12, 5, 7, tzinfo=UTC)
    assert not any("048213" in line for line in out["logs"]), "the code reached the log"
    assert "newer_than:1d" in out["query"]

    again = run_script("copyNewestOtp", emails=emails, properties=properties, cells=out["cells"])
    assert again["result"] is False and again["formats"] == []  # nothing new: not rewritten


def test_a_missing_sheet_id_is_named_and_no_email_writes_nothing() -> None:
    missing = run_script("copyNewestOtp", emails=[], properties={})
    assert "OTP_SHEET_ID" in missing["error"]
    none = run_script("copyNewestOtp", emails=[], properties={"OTP_SHEET_ID": "s"})
    assert none["result"] is False and none["cells"] == [["", ""]]
    assert none["logs"] == ["no OTP e-mail found"]


def test_the_trigger_runs_every_minute_and_replaces_an_earlier_one() -> None:
    out = run_script("installTrigger", triggers=["copyNewestOtp", "other"])
    assert out["triggers"] == [
        {"handler": "other"},
        {"handler": "copyNewestOtp", "minutes": 1},
    ]
