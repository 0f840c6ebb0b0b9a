"""The Milvus simulator over HTTP: Authorization, client listing in pages of at most 1000 with
string pagination numbers, document lookups as the real API does them, bare-integer creates,
tickets for the client's token, its own rate limit and the hold switch."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from support_assets.core.sandbox_defaults import SANDBOX_MILVUS_API_TOKEN
from support_assets.sandbox.server import SandboxConfig, SandboxServer

CONFIG = SandboxConfig(
    seed=4,
    octadesk_tickets=5,
    octadesk_chats=5,
    ploomes_contacts=20,
    milvus_clients=2100,
    crm_shared_clients=10,
    milvus_tickets=30,
    milvus_rate_limit_per_second=0,
)
HEADERS = {"Authorization": SANDBOX_MILVUS_API_TOKEN}


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
    with httpx.Client(base_url=f"{server.url}/milvus/api", headers=HEADERS, timeout=10) as c:
        yield c


def test_authorization_is_required(server: SandboxServer, admin: httpx.Client) -> None:
    response = httpx.get(f"{server.url}/milvus/api/cliente/busca")
    assert response.status_code == 401


def test_clients_come_in_pages_of_at_most_1000(api: httpx.Client, admin: httpx.Client) -> None:
    truth = admin.get("/milvus/truth").json()
    first = api.get("/cliente/busca", params={"status": 3, "total_registros": 5000}).json()
    paginate = first["meta"]["paginate"]
    assert paginate["current_page"] == "1" and paginate["per_page"] == "1000"
    assert paginate["total"] == 2100 and paginate["last_page"] == 3
    assert len(first["lista"]) == 1000
    ids = []
    for page in (1, 2, 3):
        body = api.get("/cliente/busca", params={"status": 3, "pagina": page}).json()
        ids += [c["id"] for c in body["lista"]]
    assert ids == [c["id"] for c in truth["clients"]]
    # Control fields stay hidden, as the documentation says.
    assert "cliente_id_integracao" not in first["lista"][0]


def test_blocked_clients_only_with_status_2_or_3(api: httpx.Client, admin: httpx.Client) -> None:
    truth = admin.get("/milvus/truth").json()
    blocked = [c for c in truth["clients"] if not c["is_ativo"]]
    assert len(blocked) == 1
    default = api.get("/cliente/busca", params={"pagina": 3}).json()["meta"]["paginate"]
    assert default["total"] == 2099
    only = api.get("/cliente/busca", params={"status": 2}).json()["lista"]
    assert [c["id"] for c in only] == [blocked[0]["id"]]
    assert api.get("/cliente/busca", params={"status": 4}).status_code == 400


def test_lookup_by_document_and_creates_answer_bare_integers(api: httpx.Client, admin) -> None:
    payload = {
        "cliente_documento": 1234567890,  # CPF 012.345.678-90 as a JSON number
        "cliente_pessoa_fisica": {"nome": "Ana Souza"},
        "cliente_id_integracao": 105401839,
        "cliente_contatos": [{"contato_email": "ana@example.com.br"}],
    }
    response = api.post("/cliente/criar", json=payload)
    assert response.status_code == 200 and isinstance(response.json(), int)
    client_id = response.json()
    stored = next(c for c in admin.get("/milvus/truth").json()["clients"] if c["id"] == client_id)
    assert stored["cnpj_cpf"] == "1234567890" and stored["is_fisica"] is True
    assert stored["cliente_id_integracao"] == 105401839
    # The lookup compares without punctuation, but does not restore lost zeros.
    for query, found in (("1234567890", True), ("123.456.789-0", True), ("01234567890", False)):
        lista = api.get("/cliente/busca", params={"documento": query, "status": 3}).json()["lista"]
        assert (client_id in {c["id"] for c in lista}) is found, query
    # A document it already has is created again: that is how duplicates happen.
    again = api.post("/cliente/criar", json=payload).json()
    assert again != client_id
    both = {
        "cliente_pessoa_fisica": {"nome": "X"},
        "cliente_pessoa_juridica": {"nome_fantasia": "Y"},
    }
    assert api.post("/cliente/criar", json={"cliente_documento": 1, **both}).status_code == 400
    assert admin.get("/milvus/stats").json()["create_calls"] == {"cliente/criar": 2}


def test_tickets_need_the_client_token(api: httpx.Client, admin: httpx.Client) -> None:
    client = api.get("/cliente/busca", params={"pagina": 1}).json()["lista"][0]
    ticket = {"chamado_assunto": "[Ploomes tarefa 7] Instalação", "chamado_descricao": "d"}
    by_id = api.post("/chamado/criar", json={"cliente_id": client["id"], **ticket})
    assert by_id.status_code == 400 and "token" in by_id.json()["message"]
    created = api.post("/chamado/criar", json={"cliente_id": client["token"], **ticket})
    assert created.status_code == 200 and isinstance(created.json(), int)
    found = api.post(
        "/chamado/listagem",
        json={"filtro_body": {"assunto": "[ploomes tarefa 7]", "cliente_token": client["token"]}},
    ).json()
    assert [t["id"] for t in found["lista"]] == [created.json()]
    assert found["meta"]["paginate"]["current_page"] == "1"


def test_ticket_listing_pages_and_cap(api: httpx.Client, admin: httpx.Client) -> None:
    tickets = admin.get("/milvus/truth").json()["tickets"]
    body = api.post(
        "/chamado/listagem",
        params={"total_registros": 7, "pagina": 2, "is_descending": "false"},
        json={"filtro_body": {}},
    ).json()
    assert body["meta"]["paginate"]["last_page"] == 5
    codes = sorted(t["codigo"] for t in tickets)
    assert [t["codigo"] for t in body["lista"]] == codes[7:14]
    capped = api.post("/chamado/listagem", params={"total_registros": 5000}, json={}).json()
    assert capped["meta"]["paginate"]["per_page"] == "1000"
    default = api.post("/chamado/listagem", json={}).json()
    assert [t["codigo"] for t in default["lista"]] == sorted(codes, reverse=True)[:30]


def test_own_rate_limit_answers_429_with_retry_after(
    server: SandboxServer, admin: httpx.Client
) -> None:
    admin.post("/reset", json={"milvus_rate_limit_per_second": 3}).raise_for_status()
    with httpx.Client(base_url=f"{server.url}/milvus/api", headers=HEADERS) as client:
        codes = [client.post("/chamado/listagem", json={}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert admin.get("/milvus/stats").json()["rate_limit"]["rate_limited"] == 1


def test_hold_after_create_keeps_the_answer_until_released(
    server: SandboxServer, api: httpx.Client, admin: httpx.Client
) -> None:
    token = api.get("/cliente/busca").json()["lista"][0]["token"]
    admin.put("/milvus/hold", json={"endpoint": "chamado/criar", "after": 1, "seconds": 30})
    answers: list[httpx.Response] = []
    body = {"cliente_id": token, "chamado_assunto": "a", "chamado_descricao": "b"}
    thread = threading.Thread(
        target=lambda: answers.append(
            httpx.post(f"{server.url}/milvus/api/chamado/criar", headers=HEADERS, json=body)
        )
    )
    thread.start()
    for _ in range(200):
        if admin.get("/milvus/hold").json()["held"] == 1:
            break
        threading.Event().wait(0.02)
    assert not answers
    assert admin.get("/milvus/stats").json()["create_calls"] == {"chamado/criar": 1}
    admin.delete("/milvus/hold")
    thread.join(timeout=10)
    assert answers[0].status_code == 200
    assert admin.put("/milvus/hold", json={"endpoint": "nope"}).status_code == 400
