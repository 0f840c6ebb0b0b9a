"""Web helpdesk end to end: the real job and schedule, against the sandbox over HTTP (web
helpdesk and Google Sheets simulators, gspread and its OAuth token request included), into a
real DuckDB file.

Every test runs against the documented sandbox and the divergent one (the date filter ignored,
the report in a ``{"data", "total", "offset"}`` envelope, numbers sent as strings) and asserts
the same ground truth.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import httpx
import pandas as pd
import pytest
from dagster import (
    DagsterInstance,
    ExecuteInProcessResult,
    RunRequest,
    build_schedule_context,
)

from support_assets.core.records import COMMON_STATUSES
from support_assets.core.sandbox_defaults import SANDBOX_SA_MARKER, write_sandbox_service_account
from support_assets.core.sandbox_defaults import SANDBOX_SHEETS_TOKEN_PATH as TOKEN_PATH
from support_assets.core.settings import SETTINGS
from support_assets.core.tickets import TICKET_STATUS_MAP
from support_assets.definitions import build_definitions
from support_assets.sandbox.helpdesk_web.tickets import diverge_record
from support_assets.sandbox.server import SandboxConfig
from support_assets.sources.helpdesk_web.assets import RAW_TICKETS, TICKET_STATUS_MAP_WEB
from support_assets.sources.helpdesk_web.client import parse_helpdesk_time
from support_assets.sources.helpdesk_web.schedules import helpdesk_web_daily

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
# The sandbox's tickets were opened over the 240 days before its anchor, pinned here so that the
# schedule's tick and its window can be fixed dates too.
ANCHOR = "2026-11-01T12:00:00Z"
TICK = datetime(2026, 11, 2, 5, 30, tzinfo=SAO_PAULO)
OWN_SETTINGS = [s.name for s in SETTINGS if s.name.startswith(("HELPDESK_WEB_", "OTP_", "GOOGLE_"))]


@pytest.fixture(params=[False, True], ids=["documented", "divergent"])
def sandbox_config(request: pytest.FixtureRequest) -> SandboxConfig:
    return SandboxConfig(
        seed=11,
        octadesk_tickets=10,
        octadesk_chats=5,
        helpdesk_web_tickets=160,
        helpdesk_web_otp_delay_ms=30,
        divergent=request.param,
        anchor=ANCHOR,
    )


def served(admin: httpx.Client, record: dict[str, Any]) -> dict[str, Any]:
    """A report record as the sandbox serves it (retyped when divergent): what raw keeps."""
    divergent = admin.get("/helpdesk_web/divergent").raise_for_status().json()["divergent"]
    return diverge_record(record) if divergent else record


@pytest.fixture
def web_env(platform_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The platform pointed at the sandbox, with no web helpdesk setting from the shell: the
    web helpdesk and its sheet then default to the sandbox, as in the demo."""
    for name in OWN_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OTP_TIMEOUT_SECONDS", "20")
    return {**platform_env, "OTP_TIMEOUT_SECONDS": "20"}


def run_job(
    instance: DagsterInstance,
    as_of: datetime | None = TICK,
    raise_on_error: bool = True,
    **config: Any,
) -> ExecuteInProcessResult:
    if as_of is not None:
        config["as_of"] = as_of.isoformat()
    job = build_definitions().resolve_job_def("helpdesk_web_job")
    return job.execute_in_process(
        instance=instance,
        raise_on_error=raise_on_error,
        run_config={"ops": {"helpdesk_web_raw_tickets": {"config": config}}},
    )


def scheduled_run(instance: DagsterInstance, tick: datetime) -> ExecuteInProcessResult:
    """What the daily schedule asks for at ``tick``, executed."""
    with build_schedule_context(instance=instance, scheduled_execution_time=tick) as context:
        request = helpdesk_web_daily(context)
    assert isinstance(request, RunRequest)
    job = build_definitions().resolve_job_def("helpdesk_web_job")
    return job.execute_in_process(
        instance=instance, run_config=request.run_config, tags=request.tags
    )


def web_truth(admin: httpx.Client) -> dict[str, Any]:
    return admin.get("/helpdesk_web/truth").raise_for_status().json()


def table(path: str, name: str) -> pd.DataFrame:
    with duckdb.connect(path, read_only=True) as con:
        return con.execute(f"select * from {name}").df()


def table_exists(path: str, name: str) -> bool:
    if not Path(path).exists():
        return False
    schema, table_name = name.split(".")
    with duckdb.connect(path, read_only=True) as con:
        return bool(
            con.execute(
                "select count(*) from information_schema.tables "
                "where table_schema = ? and table_name = ?",
                [schema, table_name],
            ).fetchone()[0]
        )


def metadata(result: ExecuteInProcessResult, key=RAW_TICKETS) -> dict[str, Any]:
    [materialization] = [
        e.event_specific_data.materialization
        for e in result.get_asset_materialization_events()
        if e.event_specific_data.materialization.asset_key == key
    ]
    return {k: v.value for k, v in materialization.metadata.items()}


def opened(ticket: dict[str, Any]) -> date:
    return parse_helpdesk_time(ticket["created_at"]).astimezone(SAO_PAULO).date()


def in_window(tickets: list[dict[str, Any]], tick: datetime, days: int = 180) -> dict[str, dict]:
    start, end = (tick - timedelta(days=days)).date(), tick.date()
    return {str(t["ticket_number"]): t for t in tickets if start <= opened(t) <= end}


def status_name(ticket: dict[str, Any]) -> str:
    status = ticket["status"]
    return status["name"] if isinstance(status, dict) else status


def failure_message(result: ExecuteInProcessResult) -> str:
    failures = [e for e in result.all_events if e.is_step_failure]
    assert failures, "the run was expected to fail"
    return "\n".join(str(e.event_specific_data.error) for e in failures)


def test_a_scheduled_run_logs_in_through_the_sheet_loads_the_window_and_logs_out(
    web_env: dict[str, str], instance: DagsterInstance, admin: httpx.Client
) -> None:
    result = scheduled_run(instance, TICK)
    assert result.success
    world = web_truth(admin)
    expected = in_window(world["tickets"], TICK)
    assert 60 < len(expected) < len(world["tickets"])  # the window cuts the world

    # Logged in through the sheet (gspread: token, metadata, the OTP cell) and logged out.
    assert world["open_sessions"] == []
    counters = world["counters"]
    assert counters["logins"] == counters["otp_accepted"] == counters["logouts"] == 1
    requests_seen = admin.get("/stats").json()["requests"]
    assert requests_seen["POST /sheets/oauth2/token"] == 1
    assert requests_seen["GET /sheets/v4/spreadsheets/{id}/values/{range:path}"] >= 2
    key_file = Path(web_env["SUPPORT_DATA_DIR"]) / "sandbox-google-service-account.json"
    assert json.loads(key_file.read_text())["_comment"] == SANDBOX_SA_MARKER

    raw = table(web_env["SUPPORT_DUCKDB_PATH"], "raw.helpdesk_web_tickets")
    assert len(raw) == raw["ticket_id"].nunique() == len(expected)
    assert set(raw["ticket_id"]) == set(expected)
    assert set(raw["source"]) == {"web_report"}
    local = {str(t["ticket_number"]): t for t in world["tickets_local"]}
    for row in raw.itertuples():
        assert json.loads(row.record) == served(admin, local[row.ticket_id])  # as received
        assert row.status == status_name(expected[row.ticket_id])

    staging = table(web_env["SUPPORT_DUCKDB_PATH"], "staging.helpdesk_web_tickets")
    staging = staging.set_index("ticket_id")
    assert set(staging.index) == set(expected)
    for ticket_id, ticket in expected.items():
        row = staging.loc[ticket_id]
        assert row["ticket_number"] == int(ticket["ticket_number"])
        assert row["status"] == status_name(ticket)
        assert row["status_common"] == TICKET_STATUS_MAP_WEB[status_name(ticket).lower()]
        # The report said São Paulo wall-clock time; staging holds the UTC instant.
        assert row["created_at"] == pd.Timestamp(ticket["created_at"])
        assert row["updated_at"] == pd.Timestamp(ticket["updated_at"])
        shown = datetime.strptime(local[ticket_id]["created_at"], "%Y-%m-%d %H:%M:%S")
        assert row["created_at"].to_pydatetime() == shown.replace(tzinfo=SAO_PAULO)
        assert row["summary"] == ticket["title"]
        assert row["is_closed"] == ticket["is_closed"]
    # Both shapes of the wild payloads were in this load.
    assert {type(t["ticket_number"]) for t in expected.values()} == {int, str}
    assert {type(t["status"]) for t in expected.values()} == {str, dict}
    assert set(staging["status_common"]) <= set(COMMON_STATUSES)

    meta = metadata(result)
    assert meta["window_start"] == "2026-05-06" and meta["window_end"] == "2026-11-02"
    assert meta["logged_out"] is True and meta["login_attempts"] == 1
    assert meta["rows_inserted"] == len(expected) and meta["quarantined"] == 0
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 3 and all(c.passed for c in checks)


def test_statuses_shared_with_octadesk_map_the_same() -> None:
    for name, common in TICKET_STATUS_MAP.items():
        assert TICKET_STATUS_MAP_WEB[name] == common


def test_a_changed_status_lands_in_place_and_tickets_that_left_the_window_are_kept(
    web_env: dict[str, str], instance: DagsterInstance, admin: httpx.Client
) -> None:
    assert run_job(instance, TICK).success
    before = table(web_env["SUPPORT_DUCKDB_PATH"], "raw.helpdesk_web_tickets")
    world = web_truth(admin)
    later = TICK + timedelta(days=30)
    first_window = in_window(world["tickets"], TICK)
    second_window = in_window(world["tickets"], later)
    left = set(first_window) - set(second_window)
    staying = sorted(set(first_window) & set(second_window), key=int)
    assert left and len(staying) > 3

    changed = admin.post(
        "/helpdesk_web/advance",
        json={"update_numbers": [int(n) for n in staying[:3]], "create": 2},
    ).json()
    result = run_job(instance, later)
    assert result.success

    after = table(web_env["SUPPORT_DUCKDB_PATH"], "raw.helpdesk_web_tickets").set_index("ticket_id")
    assert after.index.is_unique
    assert len(after) == len(before) + 2
    assert {str(n) for n in changed["created"]} <= set(after.index)
    now = {str(t["ticket_number"]): t for t in web_truth(admin)["tickets"]}
    for number in staying[:3]:
        assert after.loc[number, "status"] == status_name(now[number])
        assert after.loc[number, "status"] != status_name(first_window[number])
    old = before.set_index("ticket_id")
    for number in left:  # no longer read, still there, as last seen
        assert after.loc[number, "status"] == old.loc[number, "status"]
        assert after.loc[number, "_run_id"] == old.loc[number, "_run_id"]
    meta = metadata(result)
    assert meta["rows_inserted"] == 2
    assert meta["rows_updated"] == len(second_window) - len(set(second_window) - set(old.index))

    staging = table(web_env["SUPPORT_DUCKDB_PATH"], "staging.helpdesk_web_tickets")
    staging = staging.set_index("ticket_id")
    assert set(staging.index) == set(after.index)
    for number in staying[:3]:
        assert staging.loc[number, "status"] == status_name(now[number])


def test_a_failure_during_extraction_still_logs_out(
    web_env: dict[str, str], instance: DagsterInstance, admin: httpx.Client
) -> None:
    admin.put(
        "/helpdesk_web/behaviour", json={"fail_reports_after_pages": 1, "fail_status": 422}
    ).raise_for_status()
    failed = run_job(instance, raise_on_error=False)
    assert not failed.success
    assert "HTTP 422" in failure_message(failed)
    world = web_truth(admin)
    assert world["counters"]["report_pages"] == 1  # it did fail mid-extraction
    assert world["open_sessions"] == []
    assert world["counters"]["logins"] == world["counters"]["logouts"] == 1
    assert not table_exists(web_env["SUPPORT_DUCKDB_PATH"], "raw.helpdesk_web_tickets")
    assert not (Path(web_env["SUPPORT_DATA_DIR"]) / "helpdesk_web_session.json").exists()

    admin.put("/helpdesk_web/behaviour", json={"fail_reports_after_pages": None})
    assert run_job(instance).success  # nothing was left open to block this login


def test_an_otp_that_never_arrives_fails_the_run_naming_the_sheet_and_the_cell(
    web_env: dict[str, str],
    instance: DagsterInstance,
    admin: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    admin.put(
        "/sheets/cells", json={"range": "OTP!A2:B2", "values": [["OLDCODE9", yesterday]]}
    ).raise_for_status()
    admin.put("/helpdesk_web/behaviour", json={"deliver_otp": False}).raise_for_status()
    monkeypatch.setenv("OTP_TIMEOUT_SECONDS", "0.5")
    failed = run_job(instance, raise_on_error=False)
    assert not failed.success
    message = failure_message(failed)
    assert "No OTP newer than the login" in message
    assert "cell OTP!A2 of Google Sheet sandbox-otp-sheet" in message
    assert "within 0.5 s" in message
    counters = web_truth(admin)["counters"]
    assert counters["logins"] == 1 and counters["otp_accepted"] == counters["otp_rejected"] == 0
    assert web_truth(admin)["open_sessions"] == []


def test_a_wrong_otp_is_retried_once_with_a_fresh_login(
    web_env: dict[str, str], instance: DagsterInstance, admin: httpx.Client
) -> None:
    admin.put("/helpdesk_web/behaviour", json={"wrong_otps": 1}).raise_for_status()
    result = run_job(instance)
    assert result.success
    counters = web_truth(admin)["counters"]
    assert counters["logins"] == 2 and counters["otp_rejected"] == 1
    assert counters["otp_accepted"] == counters["logouts"] == 1
    meta = metadata(result)
    assert meta["login_attempts"] == 2 and meta["otp_refused"] == 1
    messages = [e.message for e in instance.all_logs(result.run_id)]
    assert any("refused the OTP" in m and "logging in again once" in m for m in messages)

    admin.put("/helpdesk_web/behaviour", json={"wrong_otps": 2}).raise_for_status()
    failed = run_job(instance, raise_on_error=False)
    assert not failed.success
    assert "refused the OTP read from cell OTP!A2" in failure_message(failed)
    assert "twice" in failure_message(failed)
    world = web_truth(admin)
    assert world["counters"]["logins"] == 4 and world["open_sessions"] == []


def test_static_token_mode_loads_the_same_tickets_with_no_sheet(
    web_env: dict[str, str],
    instance: DagsterInstance,
    admin: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    assert run_job(instance).success
    otp_path = web_env["SUPPORT_DUCKDB_PATH"]
    token_path = str(tmp_path / "token-warehouse.duckdb")
    monkeypatch.setenv("SUPPORT_DUCKDB_PATH", token_path)
    monkeypatch.setenv("HELPDESK_WEB_AUTH", "token")
    admin.delete("/stats").raise_for_status()
    logins_before = web_truth(admin)["counters"]["logins"]

    result = run_job(instance)
    assert result.success
    requests_seen = admin.get("/stats").json()["requests"]
    assert requests_seen.get("GET /helpdesk_web/api/v2/tickets", 0) >= 1
    assert not [k for k in requests_seen if "/sheets/" in k or "/login" in k or "logout" in k]
    assert web_truth(admin)["counters"]["logins"] == logins_before
    assert metadata(result)["auth_mode"] == "token"

    raw_otp, raw_token = (table(p, "raw.helpdesk_web_tickets") for p in (otp_path, token_path))
    assert set(raw_token["ticket_id"]) == set(raw_otp["ticket_id"])
    assert set(raw_token["source"]) == {"api_v2"}

    def comparable(path: str) -> pd.DataFrame:
        frame = table(path, "staging.helpdesk_web_tickets").drop(columns=["_loaded_at", "_run_id"])
        return frame.sort_values("ticket_id", ignore_index=True)

    pd.testing.assert_frame_equal(comparable(otp_path), comparable(token_path))


def test_real_settings_with_a_service_account_file_made_at_test_time(
    web_env: dict[str, str],
    instance: DagsterInstance,
    admin: httpx.Client,
    sandbox,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Every setting given explicitly, as production would (sandbox URLs standing in)."""
    from support_assets.core.sandbox_defaults import (
        SANDBOX_HELPDESK_WEB_PASSWORD,
        SANDBOX_HELPDESK_WEB_USER,
    )

    key_file = write_sandbox_service_account(
        tmp_path / "otp-reader.json", f"{sandbox.url}/sheets{TOKEN_PATH}"
    )
    settings = {
        "HELPDESK_WEB_BASE_URL": f"{sandbox.url}/helpdesk_web",
        "HELPDESK_WEB_AUTH": "otp",
        "HELPDESK_WEB_USER": SANDBOX_HELPDESK_WEB_USER,
        "HELPDESK_WEB_PASSWORD": SANDBOX_HELPDESK_WEB_PASSWORD,
        "OTP_SHEET_ID": "sandbox-otp-sheet",
        "OTP_SHEET_CELL": "OTP!A2",
        "GOOGLE_SERVICE_ACCOUNT_FILE": str(key_file),
        "GOOGLE_SHEETS_BASE_URL": f"{sandbox.url}/sheets",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    assert run_job(instance).success
    assert not (Path(web_env["SUPPORT_DATA_DIR"]) / "sandbox-google-service-account.json").exists()
    assert web_truth(admin)["counters"]["logouts"] == 1


def test_malformed_records_are_quarantined_once(
    web_env: dict[str, str], instance: DagsterInstance, admin: httpx.Client
) -> None:
    admin.post("/reset", json={"helpdesk_web_malformed": 4}).raise_for_status()
    assert run_job(instance, window_days=300).success
    assert run_job(instance, window_days=300).success
    path = web_env["SUPPORT_DUCKDB_PATH"]
    quarantine = table(path, "raw.helpdesk_web_tickets_quarantine")
    malformed = web_truth(admin)["malformed_tickets"]
    assert len(malformed) == len(quarantine) == 4
    assert {json.dumps(json.loads(p), sort_keys=True) for p in quarantine["payload"]} == {
        json.dumps(served(admin, r), sort_keys=True) for r in malformed
    }
    assert all(quarantine["reason"].str.len() > 5)
    assert len(table(path, "raw.helpdesk_web_tickets")) == len(web_truth(admin)["tickets"])


def test_passwords_otps_and_session_tokens_never_appear_in_logs_or_metadata(
    web_env: dict[str, str],
    instance: DagsterInstance,
    admin: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A run with a refused OTP then a good one, a run failing mid-extraction, a token-mode run,
    a run whose OTPs are refused twice (the helpdesk echoes them) and a run with a wrong
    password: no credential, login code, OTP or session token is ever shown."""
    from dagster import serialize_value

    from support_assets.core.sandbox_defaults import (
        SANDBOX_HELPDESK_WEB_API_TOKEN,
        SANDBOX_HELPDESK_WEB_PASSWORD,
    )

    # Secrets given as a deployment gives them (the sandbox's own demo values otherwise sit in
    # the resource config as public constants, like Octadesk's demo key).
    monkeypatch.setenv("HELPDESK_WEB_PASSWORD", SANDBOX_HELPDESK_WEB_PASSWORD)
    monkeypatch.setenv("HELPDESK_WEB_API_TOKEN", SANDBOX_HELPDESK_WEB_API_TOKEN)
    admin.put("/helpdesk_web/behaviour", json={"wrong_otps": 1}).raise_for_status()
    runs = [run_job(instance)]
    admin.put(
        "/helpdesk_web/behaviour", json={"fail_reports_after_pages": 0, "fail_status": 422}
    ).raise_for_status()
    runs.append(run_job(instance, raise_on_error=False))
    admin.put("/helpdesk_web/behaviour", json={"fail_reports_after_pages": None})
    monkeypatch.setenv("HELPDESK_WEB_AUTH", "token")
    runs.append(run_job(instance))
    monkeypatch.setenv("HELPDESK_WEB_AUTH", "otp")
    admin.put("/helpdesk_web/behaviour", json={"wrong_otps": 2}).raise_for_status()
    runs.append(run_job(instance, raise_on_error=False))  # the 401 body echoes the OTP
    assert "Código de acesso *** incorreto" in failure_message(runs[-1])
    wrong_password = "wrong-pass-Qx81-never-print-me"
    monkeypatch.setenv("HELPDESK_WEB_PASSWORD", wrong_password)
    runs.append(run_job(instance, raise_on_error=False))
    assert [r.success for r in runs] == [True, False, True, False, False]

    texts = []
    for run in runs:
        texts += [serialize_value(e) for e in instance.all_logs(run.run_id)]
        dagster_run = instance.get_run_by_id(run.run_id)
        texts.append(serialize_value(dagster_run))
        plan = instance.get_execution_plan_snapshot(dagster_run.execution_plan_snapshot_id)
        texts.append(serialize_value(plan))
        texts.append(serialize_value(instance.get_job_snapshot(dagster_run.job_snapshot_id)))
        texts += [str(e.event_specific_data.error) for e in run.all_events if e.is_step_failure]
    captured = capfd.readouterr()
    texts += [captured.out, captured.err]
    blob = "\n".join(texts)
    assert "HTTP 401" in blob and "HTTP 422" in blob  # the failures are there, readable
    assert "refused the OTP" in blob
    assert "HELPDESK_WEB_PASSWORD" in blob  # the setting is referenced by name...

    secrets = admin.get("/helpdesk_web/secrets").json()
    assert len(secrets["otps"]) >= 6 and len(secrets["session_tokens"]) == 2
    leaked = [
        value
        for value in [
            secrets["password"],
            secrets["api_token"],
            wrong_password,
            *secrets["codes"],
            *secrets["otps"],
            *secrets["session_tokens"],
        ]
        if value in blob
    ]
    assert leaked == []


def test_helpdesk_web_assets_job_and_daily_schedule_are_defined() -> None:
    defs = build_definitions({})
    specs = {s.key: s for s in defs.resolve_all_asset_specs() if s.group_name == "helpdesk_web"}
    assert {k.to_user_string() for k in specs} == {
        "raw/helpdesk_web_tickets",
        "raw/helpdesk_web_tickets_quarantine",
        "staging/helpdesk_web_tickets",
    }
    assert specs[RAW_TICKETS].metadata["write_mode"] == "merge"
    assert specs[RAW_TICKETS].metadata["primary_key"] == ["ticket_id"]
    job = defs.resolve_job_def("helpdesk_web_job")
    assert set(job.asset_layer.selected_asset_keys) == set(specs)
    assert job.tags["support_assets/source"] == "helpdesk_web"
    schedule = defs.resolve_schedule_def("helpdesk_web_daily")
    assert schedule.job_name == "helpdesk_web_job"
    assert schedule.cron_schedule == "30 5 * * *"
    assert schedule.execution_timezone == "America/Sao_Paulo"
    with build_schedule_context(scheduled_execution_time=TICK) as context:
        request = helpdesk_web_daily(context)
    assert request.run_config["ops"]["helpdesk_web_raw_tickets"]["config"] == {
        "as_of": TICK.isoformat()
    }


def _warehouse_tables(path: str) -> dict[str, pd.DataFrame]:
    names = ["raw.helpdesk_web_tickets", "staging.helpdesk_web_tickets"]
    names.append("raw.helpdesk_web_tickets_quarantine")
    return {n: table(path, n) for n in names if table_exists(path, n)}


def test_a_report_in_an_enveloped_shape_writes_every_ticket(
    web_env: dict[str, str], instance: DagsterInstance, admin: httpx.Client
) -> None:
    """``{"data": [...], "total": N, "offset": ...}`` instead of a bare list: every ticket of
    the window is written, nothing is quarantined, and the total is reconciled."""
    admin.put("/helpdesk_web/behaviour", json={"report_shape": "envelope"}).raise_for_status()
    result = run_job(instance)
    assert result.success
    world = web_truth(admin)
    expected = in_window(world["tickets"], TICK)
    meta = metadata(result)
    assert meta["quarantined"] == 0 and meta["rows_inserted"] == len(expected)
    assert meta["total_reported"] == meta["distinct_fetched"]
    raw = table(web_env["SUPPORT_DUCKDB_PATH"], "raw.helpdesk_web_tickets")
    assert len(raw) == raw["ticket_id"].nunique() == len(expected) > 60
    assert set(raw["ticket_id"]) == set(expected)
    staging = table(web_env["SUPPORT_DUCKDB_PATH"], "staging.helpdesk_web_tickets")
    assert set(staging["ticket_id"]) == set(expected)
    # Nothing quarantined: the quarantine is materialized empty (zero is recorded, not skipped).
    assert table(web_env["SUPPORT_DUCKDB_PATH"], "raw.helpdesk_web_tickets_quarantine").empty


def test_an_answer_in_an_unknown_shape_fails_the_run_naming_it_and_changes_no_table(
    web_env: dict[str, str], instance: DagsterInstance, admin: httpx.Client
) -> None:
    assert run_job(instance).success
    path = web_env["SUPPORT_DUCKDB_PATH"]
    before = _warehouse_tables(path)
    assert len(before["staging.helpdesk_web_tickets"]) > 60

    admin.put("/helpdesk_web/behaviour", json={"report_shape": "unknown"}).raise_for_status()
    failed = run_job(instance, TICK + timedelta(days=1), raise_on_error=False)
    assert not failed.success
    message = failure_message(failed)
    assert "helpdesk_web report answered object{report: object, generated_at: string}" in message
    assert "Aberto" not in message and "2026-" not in message  # keys and types, no values
    after = _warehouse_tables(path)
    assert after.keys() == before.keys()
    for name, frame in before.items():
        pd.testing.assert_frame_equal(after[name], frame, obj=name)
    assert web_truth(admin)["open_sessions"] == []  # logged out all the same
