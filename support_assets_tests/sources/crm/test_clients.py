"""The Ploomes and Milvus resources against the simulators: OData and numbered paging, lookups by
document as each API stores them, creates that are sent once (429s retried, a lost answer looked
up instead of re-sent), and keys that never reach an error."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from support_assets.core.http_errors import HttpError
from support_assets.core.identity import parse_document
from support_assets.core.sandbox_defaults import SANDBOX_MILVUS_API_TOKEN, SANDBOX_PLOOMES_USER_KEY
from support_assets.core.shapes import (
    MILVUS_LIST,
    PLOOMES_ODATA,
    TotalShortfall,
    UnexpectedShape,
)
from support_assets.sandbox.ploomes.schema import TAG_INSTALACAO
from support_assets.sandbox.server import SandboxConfig, SandboxServer
from support_assets.sources.crm.http import (
    CreateOutcomeUnknown,
    SourceTotal,
    objects,
)
from support_assets.sources.crm.milvus import MilvusResource
from support_assets.sources.crm.ploomes import PloomesResource
from support_assets.sources.crm.sync_state import create_or_refusal, create_without_duplicates

CONFIG = SandboxConfig(
    seed=8,
    octadesk_tickets=5,
    octadesk_chats=5,
    ploomes_contacts=40,
    milvus_clients=2050,
    crm_shared_clients=20,
    ploomes_tasks=10,
    milvus_tickets=5,
    ploomes_rate_limit_per_second=0,
    milvus_rate_limit_per_second=0,
)
CPF_WITH_ZERO = "012.345.678-90"


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(CONFIG) as sandbox:
        yield sandbox


@pytest.fixture
def admin(server: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{server.url}/_admin", timeout=10) as client:
        client.post("/reset", json={}).raise_for_status()
        yield client


def ploomes(server: SandboxServer, **kwargs: object) -> PloomesResource:
    options = {"rate_limit_per_second": None, "backoff_initial_seconds": 0.01, **kwargs}
    return PloomesResource(
        base_url=f"{server.url}/ploomes", user_key=SANDBOX_PLOOMES_USER_KEY, **options
    )


def milvus(server: SandboxServer, **kwargs: object) -> MilvusResource:
    options = {"rate_limit_per_second": None, "backoff_initial_seconds": 0.01, **kwargs}
    return MilvusResource(
        base_url=f"{server.url}/milvus/api", api_token=SANDBOX_MILVUS_API_TOKEN, **options
    )


def test_ploomes_reads_every_page_with_tags_and_finds_contacts_by_document(
    server: SandboxServer, admin: httpx.Client
) -> None:
    resource = ploomes(server, page_size=7)
    pages = list(resource.iter_changed("Contacts"))
    assert len(pages) == 6 and sum(len(p) for p in pages) == 40
    assert all("Phones" in c for p in pages for c in p)
    tasks = [t for page in resource.iter_changed("Tasks") for t in page]
    assert any(tag["TagId"] == TAG_INSTALACAO for t in tasks for tag in t["Tags"])
    created = resource.create_contact({"Name": "Ana", "TypeId": 2, "CPF": CPF_WITH_ZERO})
    document = parse_document(CPF_WITH_ZERO)
    assert [c["Id"] for c in resource.find_contacts_by_document(document)] == [created["Id"]]
    bare = resource.create_contact({"Name": "Ana 2", "TypeId": 2, "CPF": "01234567890"})
    found = {c["Id"] for c in resource.find_contacts_by_document(document)}
    assert found == {created["Id"], bare["Id"]}
    assert len(resource.list_users()) >= 1


def test_milvus_reads_beyond_1000_and_finds_a_client_that_lost_its_zero(
    server: SandboxServer, admin: httpx.Client
) -> None:
    resource = milvus(server)
    pages = list(resource.iter_clients())
    assert [len(p) for p in pages] == [1000, 1000, 50]
    payload = {"cliente_documento": 1234567890, "cliente_pessoa_fisica": {"nome": "Ana"}}
    client_id = resource.create_client(payload)
    [found] = resource.find_clients_by_document(parse_document(CPF_WITH_ZERO))
    assert found["id"] == client_id and found["cnpj_cpf"] == "1234567890"
    ticket = resource.create_ticket(
        {"cliente_id": found["token"], "chamado_assunto": "[x 1] a", "chamado_descricao": "b"}
    )
    assert [t["id"] for t in resource.find_tickets(found["token"], "[x 1]")] == [ticket]


def test_a_create_refused_with_429_is_retried_after_retry_after(
    server: SandboxServer, admin: httpx.Client
) -> None:
    admin.put("/faults", json={"rate_limit_every": 1, "max_faults": 2, "retry_after": 0})
    resource = milvus(server)
    payload = {"cliente_documento": 39053344705, "cliente_pessoa_fisica": {"nome": "Bia"}}
    assert isinstance(resource.create_client(payload), int)
    stats = resource.get_client().stats.as_dict()
    assert stats["rate_limited"] == 2 and stats["retries"] == 2
    assert admin.get("/milvus/stats").json()["create_calls"] == {"cliente/criar": 1}


def test_a_create_that_fails_otherwise_is_not_sent_again(
    server: SandboxServer, admin: httpx.Client
) -> None:
    admin.put("/faults", json={"error_every": 1, "max_faults": 1})
    resource = ploomes(server)
    with pytest.raises(CreateOutcomeUnknown):
        resource.create_contact({"Name": "Caio", "TypeId": 2, "CPF": "390.533.447-05"})
    assert resource.get_client().stats.as_dict()["requests"] == 1


def test_a_lost_answer_is_looked_up_instead_of_created_twice(
    server: SandboxServer, admin: httpx.Client
) -> None:
    # Milvus applies the create and holds its answer past the client's timeout.
    admin.put("/milvus/hold", json={"endpoint": "cliente/criar", "after": 1, "seconds": 3})
    resource = milvus(server, timeout_seconds=0.5)
    document = parse_document("390.533.447-05")
    payload = {"cliente_documento": 39053344705, "cliente_pessoa_fisica": {"nome": "Duda"}}
    action, value = create_without_duplicates(
        lambda: resource.find_clients_by_document(document),
        lambda: resource.create_client(payload),
    )
    admin.delete("/milvus/hold")
    assert action == "created" and len(value) == 1
    assert admin.get("/milvus/stats").json()["create_calls"] == {"cliente/criar": 1}
    # Already there: a second attempt only links it.
    action, again = create_without_duplicates(
        lambda: resource.find_clients_by_document(document),
        lambda: resource.create_client(payload),
    )
    assert action == "linked" and again[0]["id"] == value[0]["id"]
    assert admin.get("/milvus/stats").json()["create_calls"] == {"cliente/criar": 1}


def test_credentials_never_reach_an_error(server: SandboxServer, admin: httpx.Client) -> None:
    wrong_key = "wrong-ploomes-key-0123456789"
    resource = PloomesResource(base_url=f"{server.url}/ploomes", user_key=wrong_key)
    with pytest.raises(HttpError) as raised:
        resource.list_users()
    assert raised.value.status_code == 401 and wrong_key not in str(raised.value)


def test_a_refused_record_is_reported_and_anything_else_fails_the_run() -> None:
    def refuse(status: int) -> None:
        raise HttpError(f"HTTP {status}", status_code=status, body="cliente_documento inválido")

    assert create_or_refusal(lambda: [], lambda: refuse(400)) == (
        "rejected",
        None,
        "HTTP 400: cliente_documento inválido",
    )
    for status in (401, 403, 404, 500):
        with pytest.raises(HttpError):
            create_or_refusal(lambda: [], lambda status=status: refuse(status))


def test_source_total_tolerates_what_changed_during_the_read_and_fails_beyond_it() -> None:
    totals = SourceTotal("Ploomes Contacts")
    for page_total, ids in ((5, [1, 2]), (5, [3, 3])):
        totals.report(page_total)
        for record_id in ids:
            totals.saw(record_id)
    # One record moved while paging (read twice), which may push one other out of the read.
    assert (totals.shortfall, totals.tolerated) == (2, 1)
    with pytest.raises(TotalShortfall, match="reported 5 records but 3 distinct were fetched"):
        totals.check()
    totals.saw("4")
    totals.check()
    assert totals.check() == {
        "total_reported": 5,
        "distinct_fetched": 4,
        "records_read_twice": 1,
    }
    absent = SourceTotal("Milvus cliente/busca")
    absent.report(None)
    absent.report("12")
    absent.saw(1)
    with pytest.raises(TotalShortfall):
        absent.check()
    assert SourceTotal("x").check()["total_reported"] == "not reported"


def test_a_divergent_tenant_is_read_to_the_end_and_its_lookups_checked_on_our_side(
    server: SandboxServer, admin: httpx.Client
) -> None:
    for system in ("ploomes", "milvus"):
        admin.put(f"/{system}/divergent", json={"divergent": True}).raise_for_status()
    resource = milvus(server)
    totals = SourceTotal("Milvus cliente/busca")
    pages = list(resource.iter_clients(totals))
    # No meta.paginate: read on until a page brings nothing new.
    assert [len(p) for p in pages] == [1000, 1000, 50, 0]
    assert totals.check()["distinct_fetched"] == 2050
    assert totals.check()["total_reported"] == "not reported"
    client_id = resource.create_client(
        {"cliente_documento": CPF_WITH_ZERO, "cliente_pessoa_fisica": {"nome": "Ana"}}
    )
    # The tenant ignores the lookup's documento: the first page answers, the client is not on
    # it, and only the full listing finds it.
    [found] = resource.find_clients_by_document(parse_document(CPF_WITH_ZERO))
    assert str(found["id"]) == str(client_id) and found["cnpj_cpf"] == 1234567890
    assert resource.lookup_stats["full_listings"] == 1

    contacts = ploomes(server, page_size=7)
    created = contacts.create_contact({"Name": "Ana", "TypeId": 2, "CPF": CPF_WITH_ZERO})
    # The tenant ignores the lookup's `or` filter: every contact comes back, one counts.
    found = contacts.find_contacts_by_document(parse_document(CPF_WITH_ZERO))
    assert [str(c["Id"]) for c in found] == [str(created["Id"])]
    assert contacts.lookup_stats == {"lookups": 1, "unrelated_results": 40, "full_listings": 0}
    listing = SourceTotal("Ploomes Contacts")
    assert sum(len(p) for p in contacts.iter_changed("Contacts", totals=listing)) == 41
    assert listing.check()["total_reported"] == "not reported"


def test_a_documented_ploomes_listing_reports_its_count(
    server: SandboxServer, admin: httpx.Client
) -> None:
    totals = SourceTotal("Ploomes Contacts")
    records = [
        c for p in ploomes(server, page_size=7).iter_changed("Contacts", totals=totals) for c in p
    ]
    assert len(records) == 40
    assert totals.check() == {
        "total_reported": 40,
        "distinct_fetched": 40,
        "records_read_twice": 0,
    }
    totals.check()


def test_a_milvus_page_short_of_what_a_page_holds_fails_before_anything_is_read_on(
    server: SandboxServer, admin: httpx.Client
) -> None:
    # The tenant serves 5 clients a page while meta.paginate counts pages of 10.
    admin.put("/milvus/page_cap", json={"records": 5}).raise_for_status()
    pages = milvus(server, page_size=10).iter_clients()
    with pytest.raises(TotalShortfall, match="page 1 of 205 brought 5 records where"):
        next(pages)
    admin.put("/milvus/page_cap", json={"records": None}).raise_for_status()
    assert [len(p) for p in milvus(server, page_size=1000).iter_clients()] == [1000, 1000, 50]


def test_a_crm_answer_in_an_unknown_shape_fails_naming_keys_and_types_never_values() -> None:
    with pytest.raises(UnexpectedShape) as raised:
        PLOOMES_ODATA.records({"data": [{"CPF": "390.533.447-05"}], "total": 1})
    assert "data: list[1]" in str(raised.value) and "390" not in str(raised.value)
    with pytest.raises(UnexpectedShape) as raised:
        MILVUS_LIST.records([{"cnpj_cpf": "39053344705"}])
    assert "390" not in str(raised.value)
    with pytest.raises(UnexpectedShape) as raised:
        objects([{"id": 1}, "390.533.447-05"], "Milvus cliente/busca")
    message = str(raised.value)
    assert message.startswith("Milvus cliente/busca") and "390" not in message
    assert "a list of objects" in message


def test_ploomes_finds_tag_ids_by_name_whatever_the_accents_and_case(
    server: SandboxServer, admin: httpx.Client
) -> None:
    resource = ploomes(server, page_size=3)
    assert resource.find_tag_ids("INSTALAÇÃO") == [TAG_INSTALACAO]
    admin.put("/ploomes/tags", json={str(TAG_INSTALACAO): "Instalacao", "40999": "instalação"})
    assert resource.find_tag_ids("INSTALAÇÃO") == [TAG_INSTALACAO, 40999]
    admin.put("/ploomes/tags", json={str(TAG_INSTALACAO): None, "40999": None})
    assert resource.find_tag_ids("INSTALAÇÃO") == []
    assert {t["Name"] for t in resource.list_tags()} == {"ENTREGA", "VISITA TÉCNICA", "COBRANÇA"}
