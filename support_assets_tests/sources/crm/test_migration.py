"""Switching from the old Ploomes → Milvus script: a sandbox world where that script already ran
(clients it sent, kept in its MongoDB "sent" collection; tickets it opened without a marker), and
a real deployment's tag ids, looked up by name. Assertions are on the simulators' own create
counts and truth, over real HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from dagster import DagsterInstance

from support_assets.core.identity import parse_document
from support_assets.core.mongo import MongoDBResource
from support_assets.core.sandbox_defaults import SANDBOX_PLOOMES_USER_KEY
from support_assets.sandbox.ploomes.schema import TAG_ENTREGA, TAG_INSTALACAO
from support_assets.sandbox.server import SandboxConfig
from support_assets.sources.crm.assets import (
    LEGACY_IMPORT,
    SYNC_MILVUS_CLIENTS,
    SYNC_MILVUS_TICKETS,
)
from support_assets.sources.crm.migration import (
    LegacyItem,
    match_legacy_tickets,
    sent_documents,
)
from support_assets.sources.crm.payloads import milvus_client_payload, ploomes_contact_payload
from support_assets_tests.sources.crm.test_assets import (
    FAST,
    World,
    assert_converged,
    creates,
    meta,
    run_crm,
    table,
)

OLD_COLLECTION = "clientes_enviados"


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(
        seed=31,
        octadesk_tickets=5,
        octadesk_chats=5,
        ploomes_contacts=24,
        milvus_clients=20,
        crm_shared_clients=12,
        crm_invalid_documents=2,
        ploomes_tasks=21,
        ploomes_interactions=10,
        milvus_tickets=6,
        ploomes_rate_limit_per_second=0,
        milvus_rate_limit_per_second=0,
    )


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as dagster_instance:
        yield dagster_instance


@pytest.fixture
def crm_env(platform_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in FAST.items():
        monkeypatch.setenv(name, value)
    return {**platform_env, **FAST}


@pytest.fixture
def documents(crm_env: dict[str, str]) -> Iterator[Any]:
    resource = MongoDBResource(embedded_path=f"{crm_env['SUPPORT_DATA_DIR']}/documents")
    yield resource.get_database()
    resource.close()


def _token_of(world: World, index: int, n: int) -> str:
    """One of the client's Milvus tokens (the old script used either of a duplicated client)."""
    clients = sorted(world.milvus_clients(index), key=lambda c: c["id"])
    return clients[n % len(clients)]["token"]


def old_script_tickets(world: World) -> dict[str, dict[str, Any]]:
    """What the old script did for every item that must become a ticket and whose client is
    in Milvus: a ticket without a marker, for the client's token, opened 2 to 9 minutes after
    the item (its ten-minute window), subject as the item's title. Marker -> ticket."""
    records = {("task", r["Id"]): r for r in world.ploomes["tasks"]}
    records |= {("interaction", r["Id"]): r for r in world.ploomes["interactions"]}
    tickets = {}
    for n, (marker, index) in enumerate(sorted(world.expected_ticket_items().items())):
        if not world.milvus_clients(index):
            continue
        word, source_id = re.match(r"\[Ploomes (\w+) (\d+)\]", marker).groups()
        record = records[("task" if word == "tarefa" else "interaction", int(source_id))]
        created = datetime.fromisoformat(record["CreateDate"]) + timedelta(minutes=2 + n % 8)
        title = record.get("Title") or (record.get("Content") or "Interação")[:60]
        tickets[marker] = {
            "token": _token_of(world, index, n),
            "subject": f"INSTALAÇÃO/ENTREGA: {title}",
            "description": "Aberto pelo script",
            "created_at": created.isoformat(),
        }
    return tickets


def test_the_first_sync_after_the_old_script_opens_no_ticket_and_creates_no_client_twice(
    crm_env: dict[str, str],
    instance: DagsterInstance,
    admin: httpx.Client,
    sandbox_config: SandboxConfig,
    documents: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World(admin, sandbox_config.seed)
    # The old script's tickets, in Milvus before the switch.
    legacy = old_script_tickets(world)
    assert len(legacy) >= 5
    answer = admin.post("/milvus/tickets", json={"tickets": list(legacy.values())})
    legacy_ids = dict(zip(legacy, answer.raise_for_status().json()["ids"], strict=True))
    # Its sent collection: every shared client, as the old script stored them (formatted), a
    # client someone has since removed from Milvus (in Ploomes only now), and a broken entry.
    shared = [i for i in world.pool if world.ploomes_count(i) and world.milvus_clients(i)]
    removed = sorted(world.in_ploomes_only())[0]
    sent = [{"cnpj_cpf": world.documents[i]} for i in [*shared, removed]]
    documents[OLD_COLLECTION].insert_many([*sent, {"cnpj_cpf": "000.000.000-00"}])
    before = World(admin, sandbox_config.seed)
    ploomes_only, milvus_only = before.in_ploomes_only(), before.in_milvus_only()
    expected = before.expected_ticket_items()
    monkeypatch.setenv("CRM_LEGACY_SENT_COLLECTION", OLD_COLLECTION)

    # A dry run shows the plan and changes nothing.
    monkeypatch.setenv("CRM_SYNC_DRY_RUN", "true")
    dry = run_crm(instance)
    assert creates(admin, "milvus") == {} and creates(admin, "ploomes") == {}
    plan = meta(dry, LEGACY_IMPORT)
    assert plan["dry_run"] is True and plan["tickets_linked"] == len(legacy)
    assert {p["milvus_ticket_id"] for p in plan["tickets_plan"]} == set(legacy_ids.values())
    assert plan["clients_imported"] == len(shared) + 1 and plan["sent_documents_invalid"] == 1, plan
    assert len(meta(dry, SYNC_MILVUS_TICKETS)["would_create"]) == len(expected) - len(legacy)
    dry_clients = meta(dry, SYNC_MILVUS_CLIENTS)
    assert len(dry_clients["would_create"]) == len(ploomes_only) - 1
    assert dry_clients["skipped"] == 1
    state = documents["crm_sync_state"]
    assert state.count_documents({"status": {"$in": ["legacy_sent", "linked", "created"]}}) == 0
    assert state.count_documents({"kind": "migration"}) == 0

    monkeypatch.setenv("CRM_SYNC_DRY_RUN", "false")
    first = run_crm(instance)
    after = World(admin, sandbox_config.seed)
    # No item got a second ticket: the old ones were linked, the rest opened once.
    assert creates(admin, "milvus") == {
        "cliente/criar": len(ploomes_only) - 1,
        "chamado/criar": len(expected) - len(legacy),
    }
    assert creates(admin, "ploomes") == {"Contacts": len(milvus_only)}
    for marker in expected:
        opened = after.tickets_with(marker)
        if marker in legacy:
            assert opened == [], marker
        else:
            assert len(opened) == 1, marker
    assert not after.milvus_clients(removed), "a client the old script had sent was created again"
    # Created clients carry the Ploomes contact's e-mail, phone and address, as the old script's.
    contacts = {c["Id"]: c for c in before.ploomes["contacts"]}
    created = [c for c in after.milvus["clients"] if c not in before.milvus["clients"]]
    assert len(created) == len(ploomes_only) - 1
    for client in created:
        contact = contacts[client["cliente_id_integracao"]]
        [person] = client["contatos"]
        assert person["contato_email"] == (contact["Email"] or "")
        assert person["contato_celular"] == contact["Phones"][0]["PhoneNumber"]
        [address] = client["enderecos"]
        assert address["endereco_logradouro"] == contact["StreetAddress"]
        assert address["endereco_cep"] == contact["ZipCode"]
    imported = meta(first, LEGACY_IMPORT)
    assert imported["tickets_linked"] == len(legacy) and imported["dry_run"] is False
    linked = table(crm_env, "marts.crm_legacy_import")
    linked = linked[linked["kind"] == "ticket"].set_index("key")
    for marker, ticket_id in legacy_ids.items():
        word, source_id = re.match(r"\[Ploomes (\w+) (\d+)\]", marker).groups()
        key = f"{'task' if word == 'tarefa' else 'interaction'}:{source_id}"
        assert linked.loc[key, "milvus_ticket_id"] == ticket_id, key
    skipped = table(crm_env, "marts.crm_milvus_clients_sync").query("action == 'skipped'")
    assert len(skipped) == 1 and "previous integration" in skipped.iloc[0]["reason"]

    # The import ran once: a second run finds it done and creates nothing.
    second = run_crm(instance)
    assert "already_imported_at" in meta(second, LEGACY_IMPORT)
    assert creates(admin, "milvus")["chamado/criar"] == len(expected) - len(legacy)
    checks = {c.check_name: c for c in second.get_asset_check_evaluations()}
    assert checks["milvus_tickets_one_per_synced_item"].passed


def test_without_the_migration_the_old_tickets_would_be_opened_again(
    crm_env: dict[str, str],
    instance: DagsterInstance,
    admin: httpx.Client,
    sandbox_config: SandboxConfig,
) -> None:
    """The same world without CRM_LEGACY_SENT_COLLECTION: every expected item gets a ticket
    (its old one is not recognised), which is what the import exists to prevent."""
    world = World(admin, sandbox_config.seed)
    legacy = old_script_tickets(world)
    admin.post("/milvus/tickets", json={"tickets": list(legacy.values())}).raise_for_status()
    before = World(admin, sandbox_config.seed)
    result = run_crm(instance)
    assert meta(result, LEGACY_IMPORT)["enabled"] is False
    assert creates(admin, "milvus")["chamado/criar"] == len(before.expected_ticket_items())
    assert_converged(before, World(admin, sandbox_config.seed))


def test_tag_ids_come_from_ploomes_by_name_and_a_missing_tag_fails_naming_its_setting(
    crm_env: dict[str, str],
    instance: DagsterInstance,
    admin: httpx.Client,
    sandbox: Any,
    sandbox_config: SandboxConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A real deployment (PLOOMES_BASE_URL set) with no tag id settings: the ids are Ploomes's
    tags named INSTALAÇÃO and ENTREGA, never the sandbox's defaults."""
    monkeypatch.setenv("PLOOMES_BASE_URL", f"{sandbox.url}/ploomes")
    monkeypatch.setenv("PLOOMES_USER_KEY", SANDBOX_PLOOMES_USER_KEY)
    for name in ("PLOOMES_TAG_INSTALACAO_ID", "PLOOMES_TAG_ENTREGA_ID"):
        monkeypatch.delenv(name, raising=False)
    before = World(admin, sandbox_config.seed)

    # No tag named INSTALAÇÃO: the run fails naming the setting, and opens no ticket.
    admin.put("/ploomes/tags", json={str(TAG_INSTALACAO): None}).raise_for_status()
    failed = run_crm(instance, raise_on_error=False)
    assert not failed.success
    [failure] = [e for e in failed.all_events if e.is_step_failure]
    message = failure.event_specific_data.error.to_string()
    assert "PLOOMES_TAG_INSTALACAO_ID is not set" in message and "INSTALAÇÃO" in message
    assert "chamado/criar" not in creates(admin, "milvus")

    # The tag exists, spelled another way: found by name; ENTREGA as well.
    admin.put("/ploomes/tags", json={str(TAG_INSTALACAO): "Instalação"}).raise_for_status()
    result = run_crm(instance)
    tickets = meta(result, SYNC_MILVUS_TICKETS)
    assert tickets["tag_ids"] == {"INSTALAÇÃO": [TAG_INSTALACAO], "ENTREGA": [TAG_ENTREGA]}
    assert creates(admin, "milvus")["chamado/criar"] == len(before.expected_ticket_items())
    assert_converged(before, World(admin, sandbox_config.seed))


def test_a_set_tag_id_wins_and_a_real_deployment_never_defaults_to_the_sandbox_ids() -> None:
    from support_assets.sources.crm.resources import crm_resources

    sandbox = crm_resources({})["crm_settings"]
    assert (sandbox.installation_tag_id, sandbox.delivery_tag_id) == (TAG_INSTALACAO, TAG_ENTREGA)
    real = crm_resources({"PLOOMES_BASE_URL": "https://ploomes.example"})["crm_settings"]
    assert (real.installation_tag_id, real.delivery_tag_id) == (None, None)
    chosen = crm_resources(
        {"PLOOMES_BASE_URL": "https://ploomes.example", "PLOOMES_TAG_ENTREGA_ID": "77"}
    )["crm_settings"]
    assert (chosen.installation_tag_id, chosen.delivery_tag_id) == (None, 77)
    with pytest.raises(ValueError, match="PLOOMES_TAG_ENTREGA_ID must be a whole number"):
        crm_resources({"PLOOMES_TAG_ENTREGA_ID": "ENTREGA"})


def test_sent_documents_are_normalised_and_an_unknown_shape_fails_naming_keys() -> None:
    found, counts = sent_documents(
        [{"cnpj_cpf": "390.533.447-05"}, {"cnpj_cpf": "39053344705"}, {"cnpj_cpf": "123"}, {}],
        "cnpj_cpf",
    )
    assert list(found) == ["39053344705"]
    assert counts == {"read": 4, "invalid": 1, "without_field": 1}
    with pytest.raises(ValueError, match=r"keys seen: \['_id', 'documento'\]"):
        sent_documents([{"_id": 1, "documento": "390.533.447-05"}], "cnpj_cpf")


def test_legacy_tickets_match_the_nearest_ticket_of_the_same_client_once() -> None:
    t0 = datetime.fromisoformat("2024-03-01T12:00:00+00:00")
    items = [
        LegacyItem("task", 1, frozenset({"AAA"}), t0),
        LegacyItem("task", 2, frozenset({"AAA", "CCC"}), t0 + timedelta(minutes=1)),
        LegacyItem("interaction", 3, frozenset({"BBB"}), t0),
        LegacyItem("task", 4, frozenset({"AAA"}), t0 + timedelta(days=1)),
    ]
    tickets = [
        {"id": 10, "token": "AAA", "created_at": t0 + timedelta(minutes=3)},
        {"id": 11, "token": "CCC", "created_at": t0 + timedelta(minutes=4)},
        {"id": 12, "token": "BBB", "created_at": t0 - timedelta(minutes=30)},  # too early
        {"id": 13, "token": "AAA", "created_at": t0 + timedelta(days=1, hours=2)},  # too late
    ]
    matches = match_legacy_tickets(items, tickets, timedelta(minutes=60))
    assert [(i.source_id, t["id"]) for i, t in matches] == [(1, 10), (2, 11)]


def test_created_contacts_carry_email_phones_and_address_when_the_other_side_has_them() -> None:
    person = parse_document("390.533.447-05")
    milvus = {
        "id": 7,
        "nome_fantasia": "Ana Souza",
        "site": "ana.example",
        "contatos": [
            {"contato_padrao": False, "contato_email": "outra@example.com"},
            {
                "contato_padrao": True,
                "contato_email": " ana@example.com ",
                "contato_celular": "(11) 98888-7777",
                "contato_telefone": "(11) 3333-4444",
            },
        ],
        "enderecos": [
            {
                "endereco_padrao": True,
                "endereco_logradouro": "Rua das Acácias",
                "endereco_numero": 12,
                "endereco_bairro": "Centro",
                "endereco_cep": "01001-000",
                "endereco_cidade": "São Paulo",
                "endereco_estado": "SP",
            }
        ],
    }
    payload = ploomes_contact_payload(milvus, person)
    assert payload["Email"] == "ana@example.com"
    assert payload["Phones"] == [
        {"PhoneNumber": "(11) 98888-7777"},
        {"PhoneNumber": "(11) 3333-4444"},
    ]
    assert (payload["StreetAddress"], payload["StreetAddressNumber"]) == ("Rua das Acácias", "12")
    assert (payload["Neighborhood"], payload["ZipCode"]) == ("Centro", "01001-000")
    assert (
        payload["Note"].endswith("Cidade: São Paulo / SP") and payload["Website"] == "ana.example"
    )
    bare = ploomes_contact_payload({"id": 8, "nome_fantasia": "Sem dados"}, person)
    assert not {"Email", "Phones", "StreetAddress", "ZipCode", "Website"} & set(bare)

    contact = {
        "Id": 5,
        "Name": "Ana Souza",
        "Email": "ana@example.com",
        "Phones": [{"PhoneNumber": "(11) 98888-7777"}, {"PhoneNumber": "(11) 3333-4444"}],
        "StreetAddress": "Rua das Acácias",
        "StreetAddressNumber": 12,
        "ZipCode": "01001000",
    }
    body = milvus_client_payload(contact, person)
    [who] = body["cliente_contatos"]
    assert (who["contato_email"], who["contato_celular"], who["contato_telefone"]) == (
        "ana@example.com",
        "(11) 98888-7777",
        "(11) 3333-4444",
    )
    [where] = body["cliente_enderecos"]
    assert (where["endereco_logradouro"], where["endereco_numero"], where["endereco_cep"]) == (
        "Rua das Acácias",
        "12",
        "01001000",
    )
