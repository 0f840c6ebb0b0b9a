"""Analytics marts end to end: every source materialized from the sandbox over HTTP into a real
DuckDB file, then the marts, compared with values computed here from the sandbox's ground truth.

One sandbox and one pipeline run serve the module (the sources take most of the time); the tests
that change things (a source re-materialized, a planted CPF) run last.
"""

from __future__ import annotations

import json
import statistics
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import httpx
import numpy as np
import pandas as pd
import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    ExecuteInProcessResult,
    evaluate_automation_conditions,
    instance_for_test,
)

from support_assets.assets import crm, helpdesk_web, octadesk, service_events
from support_assets.assets.marts import (
    ALL_AGENTS,
    CUSTOMER_IDENTIFIERS,
    CUSTOMERS,
    INTERACTIONS,
    KPIS,
    MART_KEYS,
    MILVUS_STATUS_MAP,
    looks_like_document,
)
from support_assets.definitions import build_definitions, stomp_resource
from support_assets.identity import SANDBOX_PSEUDONYM_KEY, customer_key
from support_assets.sandbox import crm_world
from support_assets.sandbox.octadesk import SANDBOX_OCTADESK_API_KEY, SHARED_POOL_CLIENT
from support_assets.sandbox.server import SandboxConfig, SandboxServer
from support_assets.sandbox.service_events import generate_events
from support_assets.sandbox.telegram import SANDBOX_TELEGRAM_BOT_TOKEN
from support_assets.settings import SETTINGS

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
SEED = 11
AS_OF = datetime(2026, 11, 2, 5, 30, tzinfo=SAO_PAULO)
CONFIG = SandboxConfig(
    seed=SEED,
    octadesk_tickets=150,
    octadesk_chats=90,
    helpdesk_web_tickets=60,
    helpdesk_web_otp_delay_ms=30,
)
SOURCE_KEYS = [
    octadesk.STAGING_TICKETS,
    octadesk.STAGING_CHATS,
    helpdesk_web.STAGING_TICKETS,
    crm.RAW_CONTACTS,
    crm.RAW_MILVUS_CLIENTS,
    crm.RAW_MILVUS_TICKETS,
    service_events.STAGING,
]


class Pipeline:
    """The sandbox, the platform's settings, the instance and what the first runs produced."""

    def __init__(self, sandbox: SandboxServer, env: dict[str, str], instance: DagsterInstance):
        self.sandbox, self.env, self.instance = sandbox, env, instance
        self.admin = httpx.Client(base_url=f"{sandbox.url}/_admin", timeout=30)
        self.day: date | None = None
        #: Valid service events published to the broker (payloads), when there is one.
        self.events: list[dict[str, Any]] = []
        self.kpi_result: ExecuteInProcessResult | None = None
        self.marts_result: ExecuteInProcessResult | None = None

    def truth(self, system: str) -> dict[str, Any]:
        return self.admin.get(f"/{system}/truth").raise_for_status().json()

    def table(self, name: str) -> pd.DataFrame:
        with duckdb.connect(self.env["SUPPORT_DUCKDB_PATH"], read_only=True) as con:
            return con.execute(f"select * from {name}").df()

    def run_sources(self) -> None:
        defs = build_definitions()
        config = {"full_refresh": True, "lookback_minutes": 10}
        defs.resolve_job_def("octadesk_job").execute_in_process(
            instance=self.instance,
            run_config={
                "ops": {
                    "octadesk_raw_tickets": {"config": config},
                    "octadesk_raw_chats": {"config": config},
                }
            },
        )
        defs.resolve_job_def("helpdesk_web_job").execute_in_process(
            instance=self.instance,
            run_config={
                "ops": {
                    "helpdesk_web_raw_tickets": {
                        "config": {"as_of": AS_OF.isoformat(), "window_days": 400}
                    }
                }
            },
        )
        defs.resolve_job_def("crm_job").execute_in_process(
            instance=self.instance,
            asset_selection=[crm.RAW_CONTACTS, crm.RAW_MILVUS_CLIENTS, crm.RAW_MILVUS_TICKETS],
        )
        if "STOMP_HOST" in self.env:
            defs.resolve_job_def("service_events_job").execute_in_process(
                instance=self.instance,
                run_config={
                    "ops": {
                        "raw__service_events": {
                            "config": {"first_wait_seconds": 5.0, "idle_seconds": 1.0}
                        }
                    }
                },
            )
        else:  # no broker: staging/service_events from the (empty) documents store
            defs.resolve_job_def("service_events_job").execute_in_process(
                instance=self.instance, asset_selection=[service_events.STAGING]
            )

    def publish_service_events(self, day: date) -> None:
        """Generated attendance events of the week to ``day`` (a few broken ones, which the
        platform quarantines) and one of the shared customer on ``day``, on the test broker."""
        now = datetime.combine(day, datetime.min.time(), tzinfo=SAO_PAULO) + timedelta(hours=22)
        generated = generate_events(30, invalid_share=0.1, seed=SEED, now=now)
        shared = crm_world.real_client(SEED, SHARED_POOL_CLIENT)
        planted = {
            **json.loads(next(e.body for e in generated if e.valid)),
            "name": shared.name,
            "document": shared.document,  # bare digits, leading zero kept
            "date": f"{day:%d/%m/%Y} 10:15:00",
        }
        bodies = [e.body for e in generated] + [json.dumps(planted, ensure_ascii=False)]
        self.events = [json.loads(e.body) for e in generated if e.valid] + [planted]
        stomp = stomp_resource()
        assert stomp.ensure_subscription()
        stomp.publish(bodies)

    def run_marts(self, raise_on_error: bool = True) -> ExecuteInProcessResult:
        job = build_definitions().resolve_implicit_global_asset_job_def()
        self.marts_result = job.execute_in_process(
            instance=self.instance,
            asset_selection=[CUSTOMERS, CUSTOMER_IDENTIFIERS, INTERACTIONS],
            raise_on_error=raise_on_error,
        )
        return self.marts_result

    def run_kpis(self, day: date) -> ExecuteInProcessResult:
        job = build_definitions().resolve_implicit_global_asset_job_def()
        self.kpi_result = job.execute_in_process(
            instance=self.instance, asset_selection=[KPIS], partition_key=day.isoformat()
        )
        return self.kpi_result


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, activemq: Any) -> Iterator[Pipeline]:
    tmp: Path = tmp_path_factory.mktemp("marts")
    name = uuid.uuid4().hex[:10]
    with SandboxServer(CONFIG) as sandbox, instance_for_test() as instance:
        env = {
            "SUPPORT_SANDBOX_URL": sandbox.url,
            "SUPPORT_DATA_DIR": str(tmp / "data"),
            "SUPPORT_DUCKDB_PATH": str(tmp / "warehouse.duckdb"),
            "SUPPORT_LAKE_URL": str(tmp / "lake"),
            "OCTADESK_BASE_URL": f"{sandbox.url}/octadesk",
            "OCTADESK_API_KEY": SANDBOX_OCTADESK_API_KEY,
            "OCTADESK_AGENT_EMAIL": "analista@empresa.com.br",
            "OCTADESK_RATE_LIMIT_PER_SECOND": "500",
            "TELEGRAM_API_BASE_URL": f"{sandbox.url}/telegram",
            "TELEGRAM_BOT_TOKEN": SANDBOX_TELEGRAM_BOT_TOKEN,
            "PLOOMES_RATE_LIMIT_PER_SECOND": "500",
            "MILVUS_RATE_LIMIT_PER_SECOND": "500",
            "OTP_TIMEOUT_SECONDS": "20",
            **activemq.env,
            "STOMP_DESTINATION": f"/topic/test.marts.{name}",
            "STOMP_CLIENT_ID": f"support-assets-marts-{name}",
            "STOMP_SUBSCRIPTION_NAME": f"marts-{name}",
        }
        with pytest.MonkeyPatch.context() as mp:
            for setting in SETTINGS:
                if setting.name.startswith(
                    ("HELPDESK_WEB_", "OTP_", "GOOGLE_", "STOMP_", "MONGODB_", "SUPPORT_")
                ):
                    mp.delenv(setting.name, raising=False)
            for name, value in env.items():
                mp.setenv(name, value)
            p = Pipeline(sandbox, env, instance)
            p.day = busiest_chat_day(expected_interactions(p))
            p.publish_service_events(p.day)
            p.run_sources()
            p.run_marts()
            yield p
            p.admin.close()


# Ground truth, computed here from the sandbox's admin API -------------------------------------


def _utc(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _milvus_utc(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SAO_PAULO).astimezone(UTC)


def _sp_day(moment: datetime) -> date:
    return moment.astimezone(SAO_PAULO).date()


def _first_reply_seconds(sandbox_url: str, chat: dict[str, Any]) -> float | None:
    """From the sandbox's own messages endpoint: first bot or agent message after creation."""
    headers = {"X-API-KEY": SANDBOX_OCTADESK_API_KEY, "octa-agent-email": "a@b.com"}
    replies = []
    with httpx.Client(base_url=f"{sandbox_url}/octadesk", headers=headers, timeout=30) as client:
        page = 1
        while True:
            response = client.get(f"/chat/{chat['id']}/messages", params={"page": page})
            response.raise_for_status()
            for message in response.json():
                if (message.get("author") or {}).get("type") in ("agent", "bot"):
                    replies.append(_utc(message["sentAt"]))
            if page >= int(response.headers.get("X-Total-Pages", "1")):
                break
            page += 1
    if not replies:
        return None
    return (min(replies) - _utc(chat["createdAt"])).total_seconds()


def expected_interactions(p: Pipeline) -> list[dict[str, Any]]:
    """Every interaction the sources hold, from the sandboxes' truth (not from the platform)."""
    octa = p.truth("octadesk")
    rows: list[dict[str, Any]] = []
    for t in octa["tickets"]:
        status = t["status"]["name"]
        rows.append(
            {
                "interaction_id": f"octadesk_ticket:{t['id']}",
                "source": "octadesk_ticket",
                "channel": t["channel"]["name"].lower(),
                "agent": (t.get("assignedTo") or {}).get("name"),
                "created": _utc(t["createdAt"]),
                "closed": _utc(t.get("closedAt")),
                "status_common": octadesk.TICKET_STATUS_MAP[status.lower()],
                "chat": None,
            }
        )
    for c in octa["chats"]:
        events = octa["chat_events"].get(c["id"], [])
        scores = sorted(
            (e["createdAt"], e["data"]["score"]) for e in events if e["type"] == "satisfaction"
        )
        agent = (c.get("agent") or {}).get("name")
        contained = bool(c["withBot"]) and agent is None
        rows.append(
            {
                "interaction_id": f"octadesk_chat:{c['id']}",
                "source": "octadesk_chat",
                "channel": c["channel"].lower(),
                "agent": agent or ("bot" if contained else None),
                "created": _utc(c["createdAt"]),
                "closed": _utc(c.get("closedAt")),
                "status_common": octadesk.CHAT_STATUS_MAP[c["status"].lower()],
                "satisfaction": float(scores[-1][1]) if scores else None,
                "with_bot": bool(c["withBot"]),
                "contained": contained,
                "chat": c,
            }
        )
    web = p.truth("helpdesk_web")
    for t in web["tickets"]:
        status = t["status"]["name"] if isinstance(t["status"], dict) else t["status"]
        rows.append(
            {
                "interaction_id": f"helpdesk_web:{t['ticket_number']}",
                "source": "helpdesk_web",
                "channel": t["created_by_way_of"].lower(),
                "agent": (t.get("responsible") or {}).get("name"),
                "created": _utc(t["created_at"]),
                "closed": _utc(t["updated_at"]) if t["is_closed"] else None,
                "status_common": helpdesk_web.common_status(status),
            }
        )
    for t in p.truth("milvus")["tickets"]:
        rows.append(
            {
                "interaction_id": f"milvus:{t['id']}",
                "source": "milvus",
                "channel": "milvus",
                "agent": t["tecnico"],
                "created": _milvus_utc(t["data_criacao"]),
                "closed": _milvus_utc(t.get("data_solucao")),
                "status_common": MILVUS_STATUS_MAP[t["status"].lower()],
            }
        )
    for e in p.events:
        occurred = datetime.strptime(e["date"], "%d/%m/%Y %H:%M:%S").replace(tzinfo=SAO_PAULO)
        rows.append(
            {
                "interaction_id": None,  # a hash of the payload, compared by content instead
                "source": "service_events",
                "channel": e["channel"].casefold(),
                "agent": None,
                "created": occurred.astimezone(UTC),
                "closed": occurred.astimezone(UTC),
                "status_common": "solved" if e["solved"] == "sim" else None,
                "satisfaction": float(e["serviceScore"]),
                "solved": e["solved"] == "sim",
            }
        )
    return rows


def busiest_chat_day(rows: list[dict[str, Any]]) -> date:
    days = [_sp_day(r["created"]) for r in rows if r["source"] == "octadesk_chat"]
    return max(sorted(set(days)), key=days.count)


def _quantile(values: list[float], q: float) -> float | None:
    return float(np.quantile(values, q)) if values else None


# Tests -----------------------------------------------------------------------------------------


def test_customer_in_three_systems_is_one_row_with_all_three_sources(pipeline: Pipeline) -> None:
    shared = crm_world.real_client(SEED, SHARED_POOL_CLIENT)
    # The sandboxes write the same person differently in each system.
    ploomes = [
        c for c in pipeline.truth("ploomes")["contacts"] if (c.get("Email") or "") == shared.email
    ]
    milvus = [
        c
        for c in pipeline.truth("milvus")["clients"]
        if str(c.get("cnpj_cpf") or "").replace(".", "").replace("-", "").lstrip("0")
        == shared.document.lstrip("0")
    ]
    octa = pipeline.truth("octadesk")
    [ticket] = [t for t in octa["tickets"] if t["requester"]["email"] == shared.email.upper()]
    [chat] = [c for c in octa["chats"] if c["contact"]["phone"].startswith("(")]
    assert ploomes and milvus
    documents = {
        ploomes[0]["CPF"],
        str(milvus[0]["cnpj_cpf"]),
        next(f["value"] for f in ticket["customField"] if f["key"] == "cpf"),
    }
    assert len(documents) >= 2, documents  # one CPF, spelt differently across systems
    phones = {ploomes[0]["Phones"][0]["PhoneNumber"], chat["contact"]["phone"]}
    assert len(phones) == 2 and chat["contact"]["email"] is None

    customers = pipeline.table("marts.customers")
    key = customer_key(shared.document, SANDBOX_PSEUDONYM_KEY)
    row = customers[customers["customer_key"] == key]
    assert len(row) == 1
    row = row.iloc[0]
    # Three systems by document, e-mail and phone; the service events (its CPF as bare digits)
    # make a fourth.
    assert row["sources"] == "milvus,octadesk,ploomes,service_events"
    assert row["source_count"] == 4
    assert row["in_ploomes"] and row["in_milvus"] and row["in_octadesk"]
    assert row["in_service_events"] and not row["in_helpdesk_web"]
    assert row["document_type"] == "cpf" and row["document_count"] == 1
    assert row["phone_count"] >= 1 and row["email_count"] >= 1
    # The chat (phone only) and the ticket (CPF spaced, e-mail in capitals) both resolve to it.
    interactions = pipeline.table("marts.support_interactions").set_index("interaction_id")
    assert interactions.loc[f"octadesk_chat:{chat['id']}", "customer_key"] == key
    assert interactions.loc[f"octadesk_ticket:{ticket['id']}", "customer_key"] == key
    # The key is pseudonymous: no raw document in any column, and keys are unique.
    assert customers["customer_key"].is_unique
    assert not customers.astype(str).map(looks_like_document).any().any()
    checks = {
        (c.asset_key, c.check_name): c.passed
        for c in pipeline.marts_result.get_asset_check_evaluations()
    }
    assert len(checks) == 9 and all(checks.values()), checks


def test_interactions_and_kpis_equal_ground_truth_for_a_day(pipeline: Pipeline) -> None:
    expected = expected_interactions(pipeline)
    got = pipeline.table("marts.support_interactions").set_index("interaction_id")
    events = [r for r in expected if r["source"] == "service_events"]
    expected_ids = {r["interaction_id"] for r in expected if r not in events}
    assert set(got.index[got["source"] != "service_events"]) == expected_ids
    # Service events (keyed by a hash of the payload) compared by content; the broken ones the
    # generator made were quarantined, not loaded.
    assert len(events) >= 20

    def content(channel, created, score, solved):
        return (channel, pd.Timestamp(created), float(score), bool(solved))

    got_events = got[got["source"] == "service_events"]
    assert sorted(
        content(r.channel, r.created_at_utc, r.satisfaction_score, r.solved)
        for r in got_events.itertuples()
    ) == sorted(content(r["channel"], r["created"], r["satisfaction"], r["solved"]) for r in events)
    for r in expected:
        if r["source"] == "service_events":
            continue
        row = got.loc[r["interaction_id"]]
        assert row["source"] == r["source"]
        assert row["channel"] == r["channel"]
        assert (None if pd.isna(row["agent"]) else row["agent"]) == r["agent"], r
        assert row["created_at_utc"] == pd.Timestamp(r["created"])
        if r["closed"] is None:
            assert pd.isna(row["closed_at_utc"]), r
        else:
            assert row["closed_at_utc"] == pd.Timestamp(r["closed"])
            local = r["closed"].astimezone(SAO_PAULO)
            assert datetime.fromisoformat(row["closed_at_sao_paulo"]) == local
            assert row["closed_at_sao_paulo"] == local.isoformat(timespec="milliseconds")
        local = r["created"].astimezone(SAO_PAULO)
        assert row["created_at_sao_paulo"] == local.isoformat(timespec="milliseconds")
        assert row["created_date_sao_paulo"] == pd.Timestamp(local.date())
        assert row["status_common"] == r["status_common"]
        assert bool(row["solved"]) == (r["status_common"] == "solved")

    day = busiest_chat_day(expected)
    result = pipeline.run_kpis(day)
    assert result.success
    kpis = pipeline.table("marts.support_kpis_daily")
    kpis = kpis[kpis["day"] == pd.Timestamp(day)]
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=SAO_PAULO)
    on_day = [r for r in expected if _sp_day(r["created"]) == day]
    groups = {(r["source"], r["channel"]) for r in on_day}
    assert groups
    assert "service_events" in {source for source, _ in groups}
    rollups = kpis[kpis["agent"] == ALL_AGENTS].set_index(["source", "channel"])
    for source, channel in groups:
        mine = [r for r in on_day if (r["source"], r["channel"]) == (source, channel)]
        row = rollups.loc[(source, channel)]
        assert row["volume"] == len(mine)
        backlog = [
            r
            for r in expected
            if (r["source"], r["channel"]) == (source, channel)
            and r["created"] < end
            and (r["closed"] is None or r["closed"] >= end)
        ]
        assert row["backlog_end_of_day"] == len(backlog), (source, channel)
        solved = sum(r["status_common"] == "solved" for r in mine)
        assert row["solved_count"] == solved
        assert row["solved_rate"] == pytest.approx(solved / len(mine))
        resolutions = [
            (r["closed"] - r["created"]).total_seconds()
            for r in mine
            if r["closed"] and source != "service_events"  # attendance records: no resolution
        ]
        if resolutions:
            median = statistics.median(resolutions)
            assert row["resolution_median_seconds"] == pytest.approx(median)
            assert row["resolution_p90_seconds"] == pytest.approx(_quantile(resolutions, 0.9))
        else:
            assert pd.isna(row["resolution_median_seconds"]), (source, channel)
            assert pd.isna(row["resolution_p90_seconds"]), (source, channel)
        if source in ("octadesk_chat", "service_events"):
            scores = [r["satisfaction"] for r in mine if r["satisfaction"] is not None]
            assert row["satisfaction_count"] == len(scores)
            if scores:
                assert row["satisfaction_avg"] == pytest.approx(statistics.mean(scores))
        if source == "octadesk_chat":
            started = [r for r in mine if r["with_bot"]]
            assert row["bot_started"] == len(started)
            assert row["bot_contained"] == sum(r["contained"] for r in started)
            if started:
                assert row["bot_containment_share"] == pytest.approx(
                    sum(r["contained"] for r in started) / len(started)
                )
            firsts = [_first_reply_seconds(pipeline.sandbox.url, r["chat"]) for r in mine]
            firsts = [f for f in firsts if f is not None]
            if firsts:
                assert row["first_response_median_seconds"] == pytest.approx(
                    statistics.median(firsts)
                )
                assert row["first_response_p90_seconds"] == pytest.approx(_quantile(firsts, 0.9))
    # Per-agent rows add up to the rollups; no source/channel the truth lacks.
    by_agent = kpis[kpis["agent"] != ALL_AGENTS]
    assert by_agent["volume"].sum() == len(on_day) == rollups["volume"].sum()
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {
        "unique_key": True,
        "no_raw_documents": True,
        "row_count_matches_sources": True,
    }

    # The chart is attached to the materialization, as an embedded PNG the UI renders.
    [materialization] = [
        e.event_specific_data.materialization
        for e in result.get_asset_materialization_events()
        if e.event_specific_data.materialization.asset_key == KPIS
    ]
    chart = materialization.metadata["chart"].value
    assert chart.startswith("![") and "data:image/png;base64," in chart
    import base64

    png = base64.b64decode(chart.split("base64,", 1)[1].rstrip(")"))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000


def test_materializing_a_source_marks_the_marts_for_update(pipeline: Pipeline) -> None:
    defs = build_definitions()
    first = evaluate_automation_conditions(defs=defs, instance=pipeline.instance)
    # Everything is fresh: nothing of the marts' unpartitioned tables is requested again.
    assert first.get_num_requested(CUSTOMERS) == 0
    assert first.get_num_requested(INTERACTIONS) == 0
    settled = evaluate_automation_conditions(
        defs=defs, instance=pipeline.instance, cursor=first.cursor
    )
    assert settled.get_num_requested(CUSTOMERS) == 0

    defs.resolve_job_def("octadesk_job").execute_in_process(
        instance=pipeline.instance, asset_selection=[octadesk.STAGING_CHATS]
    )
    after = evaluate_automation_conditions(
        defs=defs, instance=pipeline.instance, cursor=settled.cursor
    )
    assert after.get_num_requested(CUSTOMERS) == 1
    assert after.get_num_requested(CUSTOMER_IDENTIFIERS) == 1
    assert after.get_num_requested(INTERACTIONS) == 1
    # Sources are not marts: they have no automation condition.
    assert after.get_num_requested(octadesk.STAGING_TICKETS) == 0
    # The KPIs (partitioned) follow once the interactions they read have updated: their
    # latest partition, today's in São Paulo.
    assert after.get_num_requested(KPIS) == 0
    assert pipeline.run_marts().success
    later = evaluate_automation_conditions(
        defs=defs, instance=pipeline.instance, cursor=after.cursor
    )
    assert later.get_num_requested(KPIS) == 1
    today = datetime.now(SAO_PAULO).date().isoformat()
    assert {str(p) for p in later.get_requested_partitions(KPIS)} == {today}
    assert later.get_num_requested(CUSTOMERS) == 0
    assert later.get_num_requested(INTERACTIONS) == 0


def test_planted_cpf_fails_the_no_raw_document_check(pipeline: Pipeline) -> None:
    for text in ("390.533.447-05", "39053344705", "cpf 390 533 447 05.", "12.ABC.345/01DE-35"):
        assert looks_like_document(text), text
    for text in ("390.533.447-06", "12345678900", "+5585915943772", "a" * 64, "PD-98353"):
        assert not looks_like_document(text), text
    # A CPF typed where a name belongs, in a source, reaches the mart and the check says so.
    with duckdb.connect(pipeline.env["SUPPORT_DUCKDB_PATH"]) as con:
        [(ticket_id,)] = con.execute(
            "select ticket_id from staging.helpdesk_web_tickets order by ticket_id limit 1"
        ).fetchall()
        con.execute(
            "update staging.helpdesk_web_tickets set agent_name = ? where ticket_id = ?",
            ["390.533.447-05", ticket_id],
        )
    result = pipeline.run_marts()
    assert result.success  # the check reports; it does not lose the run
    evaluations = {(c.asset_key, c.check_name): c for c in result.get_asset_check_evaluations()}
    failed = evaluations[(INTERACTIONS, "no_raw_documents")]
    assert not failed.passed
    assert failed.metadata["columns_with_documents"].value == {"agent": 1}
    assert evaluations[(CUSTOMERS, "no_raw_documents")].passed
    assert evaluations[(INTERACTIONS, "unique_key")].passed


def test_every_mart_describes_its_columns_and_follows_its_sources() -> None:
    defs = build_definitions()
    specs = {s.key: s for s in defs.resolve_all_asset_specs()}
    for key in (CUSTOMERS, CUSTOMER_IDENTIFIERS, INTERACTIONS, KPIS):
        spec = specs[key]
        assert spec.group_name == "analytics"
        assert spec.automation_condition is not None
        assert len(spec.description or "") > 300
    assert specs[KPIS].partitions_def is not None
    # A sensor of the group evaluates those conditions (no schedule anywhere for the marts).
    sensors = {s.name: s for s in defs.get_repository_def().sensor_defs}
    assert sensors["analytics_automation_sensor"].asset_selection.resolve(
        defs.resolve_asset_graph()
    ) == {CUSTOMERS, CUSTOMER_IDENTIFIERS, INTERACTIONS, KPIS}
    for schedule in defs.get_repository_def().schedule_defs:
        job = defs.resolve_job_def(schedule.job_name)
        assert not set(job.asset_layer.selected_asset_keys) & set(MART_KEYS), schedule.name
    # Every source the marts read carries a freshness policy: WARN after the configured age.
    for key in SOURCE_KEYS:
        policy = specs[key].freshness_policy
        assert policy is not None, key
        assert policy.warn_window.to_timedelta() == timedelta(hours=26)
        assert policy.fail_window.to_timedelta() == timedelta(hours=52)
    assert AssetKey(["marts", "customers"]) == CUSTOMERS
