"""The Ploomes simulator over HTTP: User-Key, OData paging, $filter, $orderby, $select, $expand,
the two-a-second limit, contact creation, the hold switch and the admin API."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from support_assets.core.sandbox_defaults import SANDBOX_PLOOMES_USER_KEY
from support_assets.sandbox.crm_world import WorldShape
from support_assets.sandbox.ploomes.schema import TAG_ENTREGA, TAG_INSTALACAO
from support_assets.sandbox.server import SandboxConfig, SandboxServer

CONFIG = SandboxConfig(
    seed=3,
    octadesk_tickets=5,
    octadesk_chats=5,
    ploomes_contacts=310,
    milvus_clients=20,
    crm_shared_clients=10,
    ploomes_tasks=14,
    ploomes_interactions=5,
    ploomes_rate_limit_per_second=0,
)
HEADERS = {"User-Key": SANDBOX_PLOOMES_USER_KEY}


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(CONFIG) as sandbox:
        yield sandbox


@pytest.fixture
def admin(server: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{server.url}/_admin", timeout=10) as client:
        client.post("/reset", json={}).raise_for_status()
        yield client


@pytest.fixture
def api(server: SandboxServer, admin: httpx.Client) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{server.url}/ploomes", headers=HEADERS, timeout=10) as client:
        yield client


def all_pages(client: httpx.Client, path: str, **params: object) -> tuple[list[dict], int]:
    body = client.get(path, params=params).raise_for_status().json()
    records, pages = list(body["value"]), 1
    while body.get("@odata.nextLink"):
        body = client.get(body["@odata.nextLink"]).raise_for_status().json()
        records.extend(body["value"])
        pages += 1
    return records, pages


def test_user_key_is_required(server: SandboxServer, admin: httpx.Client) -> None:
    response = httpx.get(f"{server.url}/ploomes/Contacts")
    assert response.status_code == 401
    assert "error" in response.json()


def test_paging_follows_next_link_and_caps_top_at_300(api: httpx.Client, admin) -> None:
    truth = admin.get("/ploomes/truth").json()
    records, pages = all_pages(api, "/Contacts", **{"$top": 50})
    assert pages == 7
    assert [r["Id"] for r in records] == [c["Id"] for c in truth["contacts"]]
    body = api.get("/Contacts", params={"$top": 1000}).json()
    assert len(body["value"]) == 300 and "$skip=300" in body["@odata.nextLink"]
    assert body["@odata.context"].endswith("/ploomes/$metadata#Contacts")
    last = api.get("/Contacts", params={"$top": 300, "$skip": 300}).json()
    assert len(last["value"]) == 10 and "@odata.nextLink" not in last


def test_filter_on_dates_ids_and_documents(api: httpx.Client, admin) -> None:
    truth = admin.get("/ploomes/truth").json()
    contacts = truth["contacts"]
    pivot = sorted(c["LastUpdateDate"] for c in contacts)[200]
    moment = datetime.fromisoformat(pivot)
    expected = {c["Id"] for c in contacts if datetime.fromisoformat(c["LastUpdateDate"]) >= moment}
    utc_literal = moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    for literal in (pivot, utc_literal):
        got, _ = all_pages(api, "/Contacts", **{"$filter": f"LastUpdateDate ge {literal}"})
        assert {c["Id"] for c in got} == expected
    one = contacts[5]
    got = api.get("/Contacts", params={"$filter": f"Id eq {one['Id']}"}).json()["value"]
    assert [c["Id"] for c in got] == [one["Id"]]
    with_document = next(c for c in contacts if c["CNPJ"])
    query = f"CPF eq '{with_document['CNPJ']}' or CNPJ eq '{with_document['CNPJ']}'"
    got = api.get("/Contacts", params={"$filter": query}).json()["value"]
    assert with_document["Id"] in {c["Id"] for c in got}
    ordered = api.get(
        "/Contacts", params={"$orderby": "LastUpdateDate desc", "$top": 5, "$select": "Id,Name"}
    ).json()["value"]
    assert set(ordered[0]) == {"Id", "Name"}
    newest = max(contacts, key=lambda c: datetime.fromisoformat(c["LastUpdateDate"]))
    assert ordered[0]["Id"] == newest["Id"]


@pytest.mark.parametrize(
    "bad",
    [
        "Bogus eq 1",
        "LastUpdateDate ge 2024-01-01T00:00:00",  # no offset: refused, never guessed
        "Id eq 'x'",
        "Id eq",
        "(Id eq 1",
    ],
)
def test_bad_filters_are_refused(api: httpx.Client, bad: str) -> None:
    response = api.get("/Contacts", params={"$filter": bad})
    assert response.status_code == 400
    assert response.json()["error"]["message"]


def test_tags_and_phones_only_when_expanded(api: httpx.Client, admin) -> None:
    plain = api.get("/Tasks").json()["value"]
    assert plain and all("Tags" not in t for t in plain)
    expanded = api.get("/Tasks", params={"$expand": "Tags"}).json()["value"]
    tags = {tag["TagId"] for t in expanded for tag in t["Tags"]}
    assert {TAG_INSTALACAO, TAG_ENTREGA} <= tags
    contact = api.get("/Contacts", params={"$top": 1, "$expand": "Phones,OtherProperties"})
    assert {"Phones", "OtherProperties"} <= set(contact.json()["value"][0])
    assert "Phones" not in api.get("/Contacts", params={"$top": 1}).json()["value"][0]
    assert api.get("/Tasks", params={"$expand": "Owner"}).status_code == 400
    interactions = api.get("/InteractionRecords", params={"$expand": "Tags"}).json()["value"]
    assert len(interactions) == CONFIG.ploomes_interactions
    assert len(api.get("/Users").json()["value"]) >= 1


def test_the_world_disagrees_with_milvus_on_purpose(admin: httpx.Client) -> None:
    truth = admin.get("/ploomes/truth").json()
    shape = WorldShape.from_config(CONFIG)
    assert len(truth["contacts"]) == CONFIG.ploomes_contacts
    assert len(truth["invalid_contacts"]) == shape.ploomes_invalid
    assert len(truth["pool_of_contact"]) == shape.shared + shape.ploomes_only
    # Pool entry 2 is a company Ploomes typed as a person (its CNPJ in the CPF field).
    entry_2 = next(int(c) for c, i in truth["pool_of_contact"].items() if i == 2)
    contact = next(c for c in truth["contacts"] if c["Id"] == entry_2)
    assert contact["TypeId"] == 2 and contact["CNPJ"] is None and contact["CPF"]


def test_above_two_requests_a_second_answers_429_with_retry_after(
    server: SandboxServer, admin: httpx.Client
) -> None:
    admin.post("/reset", json={"ploomes_rate_limit_per_second": 2}).raise_for_status()
    with httpx.Client(base_url=f"{server.url}/ploomes", headers=HEADERS) as client:
        statuses = [client.get("/Users") for _ in range(3)]
        assert [r.status_code for r in statuses] == [200, 200, 429]
        retry_after = statuses[2].headers["Retry-After"]
        assert retry_after.isdigit() and int(retry_after) >= 1
        # Asking again before Retry-After is up is refused and counted.
        assert client.get("/Users").status_code == 429
    limit = admin.get("/ploomes/stats").json()["rate_limit"]
    assert limit["rate_limited"] == 2 and limit["requests_before_retry_after"] == 1
    assert limit["busiest_second"] >= 3


def test_create_contact_and_hold_its_answer(
    server: SandboxServer, api: httpx.Client, admin: httpx.Client
) -> None:
    body = {"Name": "Oficina Souza", "TypeId": 1, "CNPJ": "16.727.230/0001-97", "Key": "milvus:1"}
    created = api.post("/Contacts", json=body).raise_for_status().json()["value"][0]
    assert created["Id"] and created["CNPJ"] == "16.727.230/0001-97"
    assert api.post("/Contacts", json={"Name": "", "TypeId": 1}).status_code == 400
    assert api.post("/Contacts", json={"Name": "X", "TypeId": 9}).status_code == 400

    admin.put("/ploomes/hold", json={"endpoint": "Contacts", "after": 1, "seconds": 30})
    answers: list[httpx.Response] = []
    thread = threading.Thread(
        target=lambda: answers.append(
            httpx.post(
                f"{server.url}/ploomes/Contacts",
                headers=HEADERS,
                json={"Name": "Held", "TypeId": 2, "CPF": "390.533.447-05"},
                timeout=30,
            )
        )
    )
    thread.start()
    for _ in range(200):
        if admin.get("/ploomes/hold").json()["held"] == 1:
            break
        threading.Event().wait(0.02)
    # Applied, but its answer not sent yet.
    assert any(c["Name"] == "Held" for c in admin.get("/ploomes/truth").json()["contacts"])
    assert not answers
    admin.delete("/ploomes/hold")
    thread.join(timeout=10)
    assert answers[0].status_code == 200
    assert admin.get("/ploomes/stats").json()["create_calls"] == {"Contacts": 2}


def test_advance_adds_tagged_work_later_in_time(api: httpx.Client, admin: httpx.Client) -> None:
    clock = admin.get("/ploomes/truth").json()["clock"]
    result = admin.post(
        "/ploomes/advance", json={"contacts": 1, "tasks": 2, "interactions": 1, "minutes": 60}
    ).json()
    assert len(result["tasks"]) == 2 and len(result["contacts"]) == 1
    assert datetime.fromisoformat(result["clock"]) > datetime.fromisoformat(clock)
    new = api.get(
        "/Tasks", params={"$filter": f"LastUpdateDate gt {clock}", "$expand": "Tags"}
    ).json()["value"]
    assert {t["Id"] for t in new} == set(result["tasks"])
    assert admin.post("/ploomes/advance", json={"bogus": 1}).status_code == 400
