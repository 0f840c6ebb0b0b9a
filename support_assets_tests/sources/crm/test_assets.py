"""CRM sync end to end: the real assets against the Ploomes and Milvus simulators over HTTP, into
a real DuckDB file and the embedded documents store.

Every end-to-end test runs twice: against the simulators as the APIs are documented, and against
their divergent mode (``SandboxConfig.divergent``: Ploomes ignores the lookups' ``or`` filters,
documents come back as JSON numbers without their leading zeros, ids as strings, no totals), and
asserts the same ground truth.

What "converged" means is computed from the simulators' own truth, not from the platform's code:
each simulator knows which of its records are real clients (``pool_of_contact`` and
``pool_of_client``, indices into the shared pool of ``crm_world``) and their true documents; a
stored document is matched to a pool document by digits and letters only, zero-padded to the
true length.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pandas as pd
import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    DagsterRunStatus,
    ExecuteInProcessResult,
    build_schedule_context,
    instance_for_test,
)

from support_assets.core.mongo import MongoDBResource
from support_assets.core.sandbox_defaults import SANDBOX_MILVUS_API_TOKEN, SANDBOX_PLOOMES_USER_KEY
from support_assets.definitions import build_definitions
from support_assets.sandbox import crm_world
from support_assets.sandbox.ploomes.schema import TAG_ENTREGA, TAG_INSTALACAO
from support_assets.sandbox.server import SandboxConfig, SandboxServer
from support_assets.sources.crm.assets import (
    SYNC_MILVUS_CLIENTS,
    SYNC_MILVUS_TICKETS,
    SYNC_PLOOMES_CONTACTS,
)
from support_assets.sources.crm.sync_state import STATE_COLLECTION
from support_assets.sources.crm.ticket_items import ticket_marker

START = datetime.fromisoformat("2024-02-24T00:00:00-03:00")
TICKET_TAGS = {TAG_INSTALACAO, TAG_ENTREGA}
SYNC_KEYS = [SYNC_MILVUS_CLIENTS, SYNC_PLOOMES_CONTACTS, SYNC_MILVUS_TICKETS]
#: Limits high enough that the simulators never slow these tests (the storm test lowers them).
FAST = {"PLOOMES_RATE_LIMIT_PER_SECOND": "500", "MILVUS_RATE_LIMIT_PER_SECOND": "500"}


def crm_config(divergent: bool) -> SandboxConfig:
    return SandboxConfig(
        divergent=divergent,
        seed=23,
        octadesk_tickets=10,
        octadesk_chats=5,
        ploomes_contacts=26,
        milvus_clients=22,
        crm_shared_clients=12,
        crm_invalid_documents=4,
        ploomes_tasks=21,
        ploomes_interactions=10,
        milvus_tickets=6,
        ploomes_rate_limit_per_second=0,
        milvus_rate_limit_per_second=0,
    )


@pytest.fixture(params=[False, True], ids=["documented", "divergent"])
def sandbox_config(request: pytest.FixtureRequest) -> SandboxConfig:
    return crm_config(request.param)


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    """An in-memory instance: the cursors live in materialization metadata either way, and
    SQLite event logs would only slow these many-step runs down."""
    with DagsterInstance.ephemeral() as dagster_instance:
        yield dagster_instance


@pytest.fixture
def crm_env(platform_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in FAST.items():
        monkeypatch.setenv(name, value)
    return {**platform_env, **FAST}


# Helpers -----------------------------------------------------------------------------------------


def run_crm(
    instance: DagsterInstance,
    raise_on_error: bool = True,
    selection: list | None = None,
    run_config: dict[str, Any] | None = None,
) -> ExecuteInProcessResult:
    job = build_definitions().resolve_job_def("crm_job")
    return job.execute_in_process(
        instance=instance,
        raise_on_error=raise_on_error,
        asset_selection=selection,
        run_config=run_config,
    )


def truth(admin: httpx.Client, system: str) -> dict[str, Any]:
    return admin.get(f"/{system}/truth").raise_for_status().json()


def creates(admin: httpx.Client, system: str) -> dict[str, int]:
    return admin.get(f"/{system}/stats").raise_for_status().json()["create_calls"]


def meta(result: ExecuteInProcessResult, key: AssetKey | list[str]) -> dict[str, Any]:
    key = AssetKey(key) if isinstance(key, list) else key
    [materialization] = [
        e.event_specific_data.materialization
        for e in result.get_asset_materialization_events()
        if e.event_specific_data.materialization.asset_key == key
    ]
    return {k: v.value for k, v in materialization.metadata.items()}


def table(env: dict[str, str], name: str) -> pd.DataFrame:
    with duckdb.connect(env["SUPPORT_DUCKDB_PATH"], read_only=True) as con:
        return con.execute(f"select * from {name}").df()


def _compact(value: Any) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", "" if value is None else str(value)).upper()


class World:
    """Both simulators' truth, read in terms of the pool of real clients."""

    def __init__(self, admin: httpx.Client, seed: int) -> None:
        self.ploomes = truth(admin, "ploomes")
        self.milvus = truth(admin, "milvus")
        self.seed = seed
        ploomes_pool = {int(k): v for k, v in self.ploomes["pool_of_contact"].items()}
        milvus_pool = {int(k): v for k, v in self.milvus["pool_of_client"].items()}
        self.pool = set(ploomes_pool.values()) | set(milvus_pool.values())
        self.documents = {i: crm_world.real_client(seed, i).document for i in self.pool}
        self.contact_pool = ploomes_pool
        self.invalid_contacts = set(self.ploomes["invalid_contacts"])
        # Stored documents by their digits and letters without leading zeros.
        self._ploomes: dict[str, list[str]] = defaultdict(list)
        for contact in self.ploomes["contacts"]:
            for value in {_compact(contact.get("CPF")), _compact(contact.get("CNPJ"))} - {""}:
                self._ploomes[value.lstrip("0")].append(value)
        self._milvus: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        for client in self.milvus["clients"]:
            value = _compact(client["cnpj_cpf"])
            if value:
                self._milvus[value.lstrip("0")].append((value, client))

    def ploomes_count(self, index: int) -> int:
        document = self.documents[index]
        stored = self._ploomes.get(document.lstrip("0"), [])
        return sum(1 for value in stored if value.zfill(len(document)) == document)

    def milvus_clients(self, index: int) -> list[dict[str, Any]]:
        document = self.documents[index]
        stored = self._milvus.get(document.lstrip("0"), [])
        return [client for value, client in stored if value.zfill(len(document)) == document]

    def in_ploomes_only(self) -> set[int]:
        return {i for i in self.pool if self.ploomes_count(i) and not self.milvus_clients(i)}

    def in_milvus_only(self) -> set[int]:
        return {i for i in self.pool if self.milvus_clients(i) and not self.ploomes_count(i)}

    def expected_ticket_items(self) -> dict[str, int]:
        """Marker → pool index of its client, for every item that must become a ticket."""
        expected = {}
        for source, records in (("task", "tasks"), ("interaction", "interactions")):
            for record in self.ploomes[records]:
                tags = {t["TagId"] for t in record["Tags"]}
                created = datetime.fromisoformat(record["CreateDate"])
                contact = record["ContactId"]
                if tags & TICKET_TAGS and created >= START and contact in self.contact_pool:
                    expected[ticket_marker(source, record["Id"])] = self.contact_pool[contact]
        return expected

    def tagged_but_not_expected(self) -> dict[str, str]:
        """Marker → why, for tagged items that must never become tickets."""
        reasons = {}
        for source, records in (("task", "tasks"), ("interaction", "interactions")):
            for record in self.ploomes[records]:
                if not {t["TagId"] for t in record["Tags"]} & TICKET_TAGS:
                    continue
                marker = ticket_marker(source, record["Id"])
                if datetime.fromisoformat(record["CreateDate"]) < START:
                    reasons[marker] = "before the start date"
                elif record["ContactId"] in self.invalid_contacts:
                    reasons[marker] = "client's document invalid"
        return reasons

    def tickets_with(self, marker: str) -> list[dict[str, Any]]:
        return [t for t in self.milvus["tickets"] if marker in t["assunto"]]


def assert_converged(before: World, after: World) -> None:
    """Every real client in both systems, no new duplicate, one ticket per tagged item."""
    for index in before.pool:
        assert after.ploomes_count(index) >= 1, f"pool client {index} missing in Ploomes"
        assert after.milvus_clients(index), f"pool client {index} missing in Milvus"
        assert after.ploomes_count(index) == max(before.ploomes_count(index), 1), index
        assert len(after.milvus_clients(index)) == max(len(before.milvus_clients(index)), 1), index
    for marker, index in before.expected_ticket_items().items():
        tickets = after.tickets_with(marker)
        assert len(tickets) == 1, (marker, tickets)
        tokens = {c["token"] for c in after.milvus_clients(index)}
        assert tickets[0]["cliente_token"] in tokens, (marker, tickets[0]["cliente_token"])
    for marker in before.tagged_but_not_expected():
        assert after.tickets_with(marker) == [], marker


# Tests ------------------------------------------------------------------------------------------


def test_one_run_converges_then_a_second_creates_nothing_and_a_late_one_catches_up(
    crm_env: dict[str, str],
    instance: DagsterInstance,
    admin: httpx.Client,
    sandbox_config: SandboxConfig,
) -> None:
    before = World(admin, sandbox_config.seed)
    ploomes_only, milvus_only = before.in_ploomes_only(), before.in_milvus_only()
    expected_tickets = before.expected_ticket_items()
    not_tickets = before.tagged_but_not_expected()
    # The seeded worlds disagree in every way the sync must handle.
    assert ploomes_only and milvus_only and expected_tickets
    assert set(not_tickets.values()) == {"before the start date", "client's document invalid"}
    assert any(c["CPF"] and len(_compact(c["CPF"])) == 14 for c in before.ploomes["contacts"]), (
        "a company typed as a person (CNPJ in the CPF field)"
    )
    assert any(not before.documents[i].isdigit() for i in before.pool), "an alphanumeric CNPJ"
    assert any(not c["is_ativo"] for c in before.milvus["clients"]), "a blocked Milvus client"

    first = run_crm(instance)
    assert first.success
    after = World(admin, sandbox_config.seed)
    assert_converged(before, after)
    assert creates(admin, "milvus") == {
        "cliente/criar": len(ploomes_only),
        "chamado/criar": len(expected_tickets),
    }
    assert creates(admin, "ploomes") == {"Contacts": len(milvus_only)}
    # Created clients: person or company by the document, ids tying both systems together.
    for index in ploomes_only:
        [client] = after.milvus_clients(index)
        assert client["is_fisica"] == (len(before.documents[index]) == 11)
        assert client["cliente_id_integracao"] in before.contact_pool
    assert meta(first, SYNC_MILVUS_CLIENTS)["created"] == len(ploomes_only)
    # Every listing shows the source's own total next to the distinct records read.
    for raw in (["raw", "ploomes_contacts"], ["raw", "milvus_clients"]):
        raw_meta = meta(first, raw)
        assert raw_meta["distinct_fetched"] == raw_meta["records_fetched"], raw
        expected = "not reported" if sandbox_config.divergent else raw_meta["distinct_fetched"]
        assert raw_meta["total_reported"] == expected, raw
    assert meta(first, SYNC_PLOOMES_CONTACTS)["created"] == len(milvus_only)
    tickets_meta = meta(first, SYNC_MILVUS_TICKETS)
    assert tickets_meta["created"] == len(expected_tickets)
    assert tickets_meta["skipped_before_start_date"] == sum(
        1 for why in not_tickets.values() if why == "before the start date"
    )

    # Invalid documents: quarantined with their reasons, counted in the metadata, never sent.
    shape = crm_world.WorldShape.from_config(sandbox_config)
    staging_meta = meta(first, ["staging", "crm_clients"])
    assert staging_meta["quarantined"] == shape.ploomes_invalid + shape.milvus_invalid
    assert sum(staging_meta["quarantine_reasons"].values()) == staging_meta["quarantined"]
    assert staging_meta["quarantined_by_source"] == {
        "ploomes/Contacts": shape.ploomes_invalid,
        "milvus/clientes": shape.milvus_invalid,
    }
    quarantine = table(crm_env, "staging.crm_clients_quarantine")
    assert len(quarantine) == staging_meta["quarantined"]
    assert quarantine["reason"].str.len().min() > 0
    assert set(quarantine["reason"]) >= {"CPF check digits do not match", "document is missing"}
    invalid_tickets = sum(1 for why in not_tickets.values() if why == "client's document invalid")
    assert tickets_meta["quarantined"] == invalid_tickets
    assert all(
        r.startswith("the client's document is invalid") for r in tickets_meta["quarantine_reasons"]
    )
    new_clients = after.milvus["clients"][len(before.milvus["clients"]) :]
    assert not {c["cliente_id_integracao"] for c in new_clients} & before.invalid_contacts, (
        "a client with an invalid document was sent to Milvus"
    )

    # A second run: nothing to create, and staging now has both ids for every client.
    second = run_crm(instance)
    assert second.success
    assert creates(admin, "milvus") == {
        "cliente/criar": len(ploomes_only),
        "chamado/criar": len(expected_tickets),
    }
    assert creates(admin, "ploomes") == {"Contacts": len(milvus_only)}
    for key in SYNC_KEYS:
        assert meta(second, key)["created"] == 0, key
    staging = table(crm_env, "staging.crm_clients")
    assert len(staging) == len(before.pool) == staging["customer_key"].nunique()
    assert "document" not in staging.columns  # customer_key replaces it outside raw
    assert staging["in_ploomes"].all() and staging["in_milvus"].all()
    assert staging["ploomes_contact_id"].notna().all() and staging["milvus_token"].notna().all()
    checks = {c.check_name: c for c in second.get_asset_check_evaluations()}
    assert checks["milvus_tickets_one_per_synced_item"].passed
    assert checks["crm_clients_key_unique_and_present"].passed

    # Hours later (a late run; no ten-minute window): new contacts, tasks and interactions.
    advanced = admin.post(
        "/ploomes/advance", json={"contacts": 2, "tasks": 3, "interactions": 2, "minutes": 180}
    ).json()
    later = World(admin, sandbox_config.seed)
    third = run_crm(instance)
    assert third.success
    final = World(admin, sandbox_config.seed)
    assert_converged(later, final)
    assert creates(admin, "milvus") == {
        "cliente/criar": len(ploomes_only) + 2,
        "chamado/criar": len(expected_tickets) + 5,
    }
    for task in advanced["tasks"]:
        assert len(final.tickets_with(ticket_marker("task", task))) == 1
    assert meta(third, SYNC_MILVUS_TICKETS)["created"] == 5


@pytest.mark.parametrize("sandbox_config", [crm_config(True)], ids=["divergent"])
def test_a_tenant_ignoring_the_lookup_filter_gets_milvus_only_clients_created_not_linked(
    crm_env: dict[str, str],
    instance: DagsterInstance,
    admin: httpx.Client,
    sandbox: SandboxServer,
    sandbox_config: SandboxConfig,
) -> None:
    before = World(admin, sandbox_config.seed)
    milvus_only = before.in_milvus_only()
    assert milvus_only
    # The tenant answers a lookup by document with unrelated contacts.
    lookup = httpx.get(
        f"{sandbox.url}/ploomes/Contacts",
        params={"$filter": "CPF eq '390.533.447-05' or CNPJ eq '39053344705'"},
        headers={"User-Key": SANDBOX_PLOOMES_USER_KEY},
    ).json()["value"]
    assert len(lookup) == len(before.ploomes["contacts"])

    result = run_crm(instance)
    assert result.success
    # Before: every lookup "found" an unrelated contact, nothing was created in Ploomes.
    assert creates(admin, "ploomes") == {"Contacts": len(milvus_only)}
    after = World(admin, sandbox_config.seed)
    for index in milvus_only:
        assert after.ploomes_count(index) == 1, index
    contacts_meta = meta(result, SYNC_PLOOMES_CONTACTS)
    assert (contacts_meta["created"], contacts_meta["linked"]) == (len(milvus_only), 0)
    assert contacts_meta["lookups"]["unrelated_results"] > 0
    assert contacts_meta["failed"] == contacts_meta["ambiguous"] == 0


@pytest.mark.parametrize("sandbox_config", [crm_config(True)], ids=["divergent"])
def test_milvus_answering_documents_as_numbers_keeps_a_leading_zero_and_creates_once(
    crm_env: dict[str, str],
    instance: DagsterInstance,
    admin: httpx.Client,
    sandbox: SandboxServer,
    sandbox_config: SandboxConfig,
) -> None:
    before = World(admin, sandbox_config.seed)
    with_zero = {i for i in before.in_ploomes_only() if before.documents[i][0] == "0"}
    assert any(len(before.documents[i]) == 11 for i in with_zero), "a CPF starting with 0"
    # The tenant answers cnpj_cpf as a JSON number (its zeros gone) and ids as text.
    answered = httpx.get(
        f"{sandbox.url}/milvus/api/cliente/busca",
        params={"status": 3},
        headers={"Authorization": SANDBOX_MILVUS_API_TOKEN},
    ).json()
    assert "meta" not in answered
    assert any(isinstance(c["cnpj_cpf"], int) for c in answered["lista"])
    assert all(isinstance(c["id"], str) for c in answered["lista"])

    first = run_crm(instance)
    assert first.success
    after = World(admin, sandbox_config.seed)
    for index in with_zero:
        [client] = after.milvus_clients(index)
        # Before: sent as a JSON number, stored without its leading zero.
        assert _compact(client["cnpj_cpf"]) == before.documents[index], index
    created = creates(admin, "milvus")
    assert created["cliente/criar"] == len(before.in_ploomes_only())
    assert meta(first, SYNC_MILVUS_CLIENTS)["failed"] == 0

    second = run_crm(instance)
    assert second.success
    assert creates(admin, "milvus") == created
    for key in SYNC_KEYS:
        assert meta(second, key)["created"] == 0, key


@pytest.mark.parametrize("sandbox_config", [crm_config(False)], ids=["documented"])
def test_a_created_client_whose_stored_document_differs_is_failed_reported_and_not_resent(
    crm_env: dict[str, str],
    instance: DagsterInstance,
    admin: httpx.Client,
    sandbox_config: SandboxConfig,
) -> None:
    before = World(admin, sandbox_config.seed)
    ploomes_only = before.in_ploomes_only()
    companies = {i for i in ploomes_only if len(before.documents[i]) == 14}
    assert companies and ploomes_only - companies
    # A tenant with a CPF-sized column: a CNPJ is stored cut to 11 characters.
    admin.put("/milvus/document_length", json={"length": 11}).raise_for_status()

    first = run_crm(instance)
    assert first.success
    assert creates(admin, "milvus")["cliente/criar"] == len(ploomes_only)
    clients_meta = meta(first, SYNC_MILVUS_CLIENTS)
    assert clients_meta["failed"] == len(companies)
    assert clients_meta["created"] == len(ploomes_only - companies)
    assert len(clients_meta["failures"]) == len(companies)
    assert all("stored a different document" in f["reason"] for f in clients_meta["failures"])
    assert {f["ploomes_contact_id"] for f in clients_meta["failures"]} == {
        contact for contact, index in before.contact_pool.items() if index in companies
    }
    text = str(clients_meta)
    assert not any(before.documents[i] in text for i in companies), "a document in metadata"
    synced = table(crm_env, "marts.crm_milvus_clients_sync")
    assert (synced["action"] == "failed").sum() == len(companies)

    # Even a full resync from the same (stale) staging leaves them to a person instead of
    # creating them again; the others are found by the lookup and linked.
    resync = {"ops": {"marts__crm_milvus_clients_sync": {"config": {"full_resync": True}}}}
    second = run_crm(instance, selection=[SYNC_MILVUS_CLIENTS], run_config=resync)
    assert second.success
    assert creates(admin, "milvus")["cliente/criar"] == len(ploomes_only)
    second_meta = meta(second, SYNC_MILVUS_CLIENTS)
    assert second_meta["held_for_a_person"] == len(companies)
    assert (second_meta["created"], second_meta["linked"]) == (0, len(ploomes_only - companies))


@pytest.mark.parametrize("sandbox_config", [crm_config(False)], ids=["documented"])
def test_a_listing_short_of_the_sources_own_total_fails_the_run_before_any_create(
    crm_env: dict[str, str],
    instance: DagsterInstance,
    admin: httpx.Client,
    sandbox_config: SandboxConfig,
) -> None:
    total = len(World(admin, sandbox_config.seed).milvus["clients"])
    # The tenant serves 5 clients where its meta.paginate says a page of 1000 was served.
    admin.put("/milvus/page_cap", json={"records": 5}).raise_for_status()

    result = run_crm(instance, raise_on_error=False)
    assert not result.success
    [failure] = [
        e for e in result.all_events if e.is_step_failure and e.step_key == "raw__milvus_clients"
    ]
    message = failure.event_specific_data.error.to_string()
    assert f"reported {total} records but 5 distinct were fetched" in message
    # Nothing downstream ran: no client was created from a partial view of Milvus.
    assert creates(admin, "milvus") == {} and creates(admin, "ploomes") == {}


def test_dry_run_reports_what_it_would_create_and_calls_no_create_endpoint(
    crm_env: dict[str, str],
    instance: DagsterInstance,
    admin: httpx.Client,
    sandbox_config: SandboxConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = World(admin, sandbox_config.seed)
    monkeypatch.setenv("CRM_SYNC_DRY_RUN", "true")
    dry = run_crm(instance)
    assert dry.success
    assert creates(admin, "milvus") == {} and creates(admin, "ploomes") == {}
    assert World(admin, sandbox_config.seed).milvus["clients"] == before.milvus["clients"]
    clients_meta = meta(dry, SYNC_MILVUS_CLIENTS)
    contacts_meta = meta(dry, SYNC_PLOOMES_CONTACTS)
    tickets_meta = meta(dry, SYNC_MILVUS_TICKETS)
    assert clients_meta["dry_run"] is True
    assert len(clients_meta["would_create"]) == len(before.in_ploomes_only())
    assert len(contacts_meta["would_create"]) == len(before.in_milvus_only())
    assert len(tickets_meta["would_create"]) == len(before.expected_ticket_items())
    # What it reports names the records by ids and customer_key, never by a name or a whole
    # document: run storage keeps it for ever.
    sample = clients_meta["would_create"][0]
    assert {"ploomes_contact_id", "customer_key", "document_type", "document"} <= set(sample)
    assert "*" in sample["document"]
    for entries in (clients_meta, contacts_meta, tickets_meta):
        assert not {"name", "client"} & {k for e in entries["would_create"] for k in e}
    # A dry run leaves the cursors where they were: the real run afterwards does everything.
    assert clients_meta["cursor"] == "" and tickets_meta["cursor"] == ""

    monkeypatch.setenv("CRM_SYNC_DRY_RUN", "false")
    real = run_crm(instance)
    assert real.success
    assert_converged(before, World(admin, sandbox_config.seed))
    assert creates(admin, "milvus")["cliente/criar"] == len(before.in_ploomes_only())


@pytest.mark.parametrize(
    "sandbox_config",
    [
        SandboxConfig(
            divergent=divergent,
            seed=5,
            octadesk_tickets=10,
            octadesk_chats=5,
            ploomes_contacts=2512,
            milvus_clients=2524,
            crm_shared_clients=2500,
            crm_invalid_documents=2,
            ploomes_tasks=0,
            ploomes_interactions=0,
            milvus_tickets=0,
            ploomes_rate_limit_per_second=0,
            milvus_rate_limit_per_second=0,
        )
        for divergent in (False, True)
    ],
    ids=["documented", "divergent"],
)
def test_with_2500_clients_in_milvus_none_is_created_again(
    crm_env: dict[str, str],
    instance: DagsterInstance,
    admin: httpx.Client,
    sandbox_config: SandboxConfig,
) -> None:
    before = World(admin, sandbox_config.seed)
    assert len(before.milvus["clients"]) == 2524
    # Clients in both systems sit on every Milvus page, the last ones included.
    shared_positions = [
        position
        for position, client in enumerate(before.milvus["clients"])
        if str(client["id"]) in before.milvus["pool_of_client"]
        and before.milvus["pool_of_client"][str(client["id"])] < 2500
    ]
    assert max(shared_positions) >= 2000
    ploomes_only = before.in_ploomes_only()
    assert len(ploomes_only) == 10

    result = run_crm(instance)
    assert result.success
    assert creates(admin, "milvus") == {"cliente/criar": len(ploomes_only)}
    raw_meta = meta(result, ["raw", "milvus_clients"])
    assert raw_meta["records_fetched"] == raw_meta["distinct_fetched"] == 2524
    if sandbox_config.divergent:
        # No meta.paginate: read on until a page brings nothing new.
        assert raw_meta["pages_fetched"] == 4 and raw_meta["total_reported"] == "not reported"
    else:
        assert raw_meta["pages_fetched"] == 3 and raw_meta["total_reported"] == 2524
    after = World(admin, sandbox_config.seed)
    for index in before.pool:
        assert len(after.milvus_clients(index)) == max(len(before.milvus_clients(index)), 1)
    created = after.milvus["clients"][len(before.milvus["clients"]) :]
    assert {before.contact_pool[c["cliente_id_integracao"]] for c in created} == ploomes_only


@pytest.mark.parametrize(
    "sandbox_config",
    [
        SandboxConfig(
            seed=31,
            octadesk_tickets=10,
            octadesk_chats=5,
            ploomes_contacts=14,
            milvus_clients=10,
            crm_shared_clients=4,
            crm_invalid_documents=1,
            ploomes_tasks=4,
            ploomes_interactions=1,
            milvus_tickets=2,
            # Ploomes's own limit (two a second); Milvus's is undocumented.
            ploomes_rate_limit_per_second=2,
            milvus_rate_limit_per_second=3,
        )
    ],
)
def test_a_429_storm_slows_the_run_which_succeeds_without_staying_over_the_limit(
    crm_env: dict[str, str],
    instance: DagsterInstance,
    admin: httpx.Client,
    sandbox_config: SandboxConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Clients configured four times faster than the APIs allow: a storm of 429s.
    monkeypatch.setenv("PLOOMES_RATE_LIMIT_PER_SECOND", "8")
    monkeypatch.setenv("MILVUS_RATE_LIMIT_PER_SECOND", "12")
    before = World(admin, sandbox_config.seed)
    result = run_crm(instance)
    assert result.success
    assert_converged(before, World(admin, sandbox_config.seed))

    for system in ("ploomes", "milvus"):
        limit = admin.get(f"/{system}/stats").json()["rate_limit"]
        # The storm happened ...
        assert limit["rate_limited"] >= 1, (system, limit)
        # ... the client waited as long as told every time ...
        assert limit["requests_before_retry_after"] == 0, (system, limit)
        # ... and slowed down to the limit instead of hitting it again and again (a client
        # that only honours Retry-After meets a 429 every few requests, second after second).
        assert limit["rate_limited"] <= 4, (system, limit)
        assert limit["seconds_over_limit"] <= 3, (system, limit)
        assert limit["longest_run_of_seconds_over_limit"] <= 2, (system, limit)
    # The clients saw the 429s and lowered their own rates below what they were set to.
    assert meta(result, SYNC_PLOOMES_CONTACTS)["rate_limit_per_second_at_end"] < 8
    assert meta(result, SYNC_MILVUS_TICKETS)["rate_limit_per_second_at_end"] < 12


# A run killed right after a create ----------------------------------------------------------

RUN_JOB = """
import sys
from dagster import DagsterInstance
from support_assets.definitions import build_definitions

with DagsterInstance.ephemeral() as instance:
    result = build_definitions().resolve_job_def("crm_job").execute_in_process(
        instance=instance, raise_on_error=False
    )
sys.exit(0 if result.success else 1)
"""


def _wait_until_held(admin: httpx.Client, system: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 90
    while admin.get(f"/{system}/hold").json()["held"] < 1:
        if proc.poll() is not None:
            pytest.fail(
                f"the run ended (exit {proc.returncode}) before the hold:\n"
                f"{log.read_text()[-3000:]}"
            )
        if time.monotonic() > deadline:
            pytest.fail(f"no create was held in 90s:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("system", "endpoint", "state_kind", "sync_key"),
    [
        ("milvus", "cliente/criar", "milvus_client", SYNC_MILVUS_CLIENTS),
        ("ploomes", "Contacts", "ploomes_contact", SYNC_PLOOMES_CONTACTS),
        ("milvus", "chamado/criar", "milvus_ticket", SYNC_MILVUS_TICKETS),
    ],
    ids=["milvus-client", "ploomes-contact", "milvus-ticket"],
)
def test_a_run_killed_right_after_a_create_then_rerun_creates_no_duplicate(
    crm_env: dict[str, str],
    instance: DagsterInstance,
    admin: httpx.Client,
    sandbox_config: SandboxConfig,
    tmp_path: Path,
    system: str,
    endpoint: str,
    state_kind: str,
    sync_key: AssetKey,
) -> None:
    before = World(admin, sandbox_config.seed)
    # The simulator applies the second create and holds its answer: the run is then killed
    # after the create and before it could write the result down.
    admin.put(f"/{system}/hold", json={"endpoint": endpoint, "after": 2, "seconds": 120})
    log = tmp_path / "killed-run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", RUN_JOB],
            env=dict(os.environ),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_held(admin, system, proc, log)
        os.killpg(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        admin.delete(f"/{system}/hold")
    assert creates(admin, system)[endpoint] == 2
    # The state says a create was under way and never got its result.
    documents = MongoDBResource(embedded_path=str(Path(crm_env["SUPPORT_DATA_DIR"]) / "documents"))
    try:
        states = list(documents.get_database()[STATE_COLLECTION].find({"kind": state_kind}))
    finally:
        documents.close()
    assert Counter(s["status"] for s in states)["creating"] == 1, states

    # Re-executing only the sync steps (as "re-execute from failure" does) works from the
    # killed run's listings, which do not show what it created: only the lookup before
    # creating stands between it and a duplicate. (The killed run's Dagster instance held no
    # cursor of these assets: only successful materializations write one.)
    retry = run_crm(instance, selection=SYNC_KEYS)
    assert retry.success
    assert_converged(before, World(admin, sandbox_config.seed))
    total = creates(admin, "milvus") | creates(admin, "ploomes")
    assert total == {
        "cliente/criar": len(before.in_ploomes_only()),
        "Contacts": len(before.in_milvus_only()),
        "chamado/criar": len(before.expected_ticket_items()),
    }
    # The held record was found by the lookup and linked, not created again.
    assert meta(retry, sync_key)["linked"] >= 1


def test_the_job_and_the_five_minute_schedule_that_skips_while_a_run_is_in_flight() -> None:
    with instance_for_test() as instance:
        check_job_and_schedule(instance)


def check_job_and_schedule(instance: DagsterInstance) -> None:
    defs = build_definitions()
    job = defs.resolve_job_def("crm_job")
    crm_keys = {s.key for s in defs.resolve_all_asset_specs() if s.group_name == "crm"}
    assert set(job.asset_layer.selected_asset_keys) == crm_keys
    assert {k.to_user_string() for k in crm_keys} >= {
        "raw/ploomes_contacts",
        "raw/ploomes_tasks",
        "raw/ploomes_interactions",
        "raw/milvus_clients",
        "raw/milvus_tickets",
        "staging/crm_clients",
    }
    assert job.tags["support_assets/source"] == "crm"
    schedule = defs.resolve_schedule_def("crm_sync_schedule")
    assert schedule.job_name == "crm_job" and schedule.cron_schedule == "*/5 * * * *"
    tick = datetime.fromisoformat("2026-11-02T10:05:00-03:00")
    context = build_schedule_context(instance=instance, scheduled_execution_time=tick)
    [request] = schedule.evaluate_tick(context).run_requests
    assert request.run_key == "crm-2026-11-02T10:05"
    instance.create_run_for_job(job_def=job, status=DagsterRunStatus.STARTED)
    result = schedule.evaluate_tick(
        build_schedule_context(instance=instance, scheduled_execution_time=tick)
    )
    assert not result.run_requests and "still in flight" in result.skip_message
