"""The Milvus simulator: the helpdesk's integration API (clients and tickets) over real HTTP.

Routes live under ``/milvus/api`` as they do under ``https://apiintegracao.milvus.com.br/api``.
Shapes and oddities follow ``notes/payloads/milvus`` (the official apiDoc): ``cliente/criar``
and ``chamado/criar`` answer a bare integer body, ``cliente_documento`` is a JSON number in the
documented request (a number loses its leading zeros, and so does the stored ``cnpj_cpf``),
``meta.paginate`` mixes strings and numbers (``current_page`` and ``per_page`` are strings),
and a ticket is created for the client's ``token``, never its numeric id.

What the simulated API does, where the documentation is silent choosing the defensive reading:

* every request needs ``Authorization: <token>`` (``SANDBOX_MILVUS_API_TOKEN``), else 401;
* its own rate limit (``milvus_rate_limit_per_second``, 429 with ``Retry-After``);
* ``GET cliente/busca``: with ``documento``, the clients whose ``cnpj_cpf`` equals it once
  punctuation is removed from both (leading zeros are *not* ignored); without it, every client
  in pages of at most 1000 (``total_registros``, default and maximum 1000; ``pagina``) with
  ``meta.paginate``, which the documentation does not show but the 1000 limit implies.
  ``status`` 1 (default) lists active clients only, 2 blocked ones, 3 both;
* ``POST cliente/criar`` never refuses a document it already has (that is how the old script
  made duplicates) and answers the new client's id;
* ``POST chamado/listagem``: ``total_registros`` at most 1000 (more is silently cut to 1000),
  ``pagina``, ``order_by`` (``codigo`` default) and ``is_descending`` (default true); filters
  in ``filtro_body``: ``cliente_token``, ``cliente_id``, ``codigo``, ``status``, ``assunto``
  (contains, ignoring case), ``data_hora_criacao_inicial``/``_final`` (São Paulo wall time);
* ``POST chamado/criar`` needs ``cliente_id`` = an existing client's token (400 otherwise, also
  for the numeric id), ``chamado_assunto`` and ``chamado_descricao``; answers the ticket's id.

Divergent mode (``SandboxConfig.divergent`` or ``PUT /_admin/milvus/divergent``) answers as
real tenants do where they differ from the documentation: ``cliente/busca`` ignores
``documento`` (it answers the listing's page instead); ``cnpj_cpf`` comes back as a JSON
number when it is digits (leading zeros lost), ids (``id`` of clients and tickets, and the bare
answers of ``cliente/criar`` and ``chamado/criar``) come back as strings, and listings carry no
``meta`` (no total, no last page: a client reads on until a short page).

``PUT /_admin/milvus/document_length`` makes the tenant cut the documents of the clients it
creates to a length (a CPF-sized column): what a read-back after a create must catch.
``PUT /_admin/milvus/page_cap`` makes ``cliente/busca`` serve fewer clients a page than its
``meta.paginate`` counts (the rest are never served): what reconciling with the total must catch.

The admin API reports the world (``truth``, with each client's ``cliente_id_integracao``),
``stats`` (create calls per endpoint, the rate limit's record), holds a create's answer on
demand (``hold``) so a test can kill the caller right after the create, and adds tickets
another integration opened earlier (``tickets``: a client token, subject, description and
creation instant each; not counted as create calls).
"""

from __future__ import annotations

import copy
import math
import re
import string
import threading
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from support_assets.sandbox import crm_world as crm
from support_assets.sandbox import octadesk_data as words
from support_assets.sandbox.base import (
    HISTORY_DAYS,
    SandboxConfig,
    Simulator,
    error,
    json_body,
    parse_instant_ms,
)

#: The token every request to the simulated Milvus must carry in ``Authorization``.
SANDBOX_MILVUS_API_TOKEN = "sandbox-milvus-api-token"

MAX_PAGE = 1000
LISTAGEM_DEFAULT_PAGE = 50
TICKET_ORDER_FIELDS = ("codigo", "id", "assunto", "data_criacao", "nome_contato")
STATUS_TEXT = {
    1: "A fazer",
    2: "Atendendo",
    3: "Pausado",
    4: "Finalizado",
    5: "Conferência",
    6: "Agendado",
    7: "Expirado",
    11: "Ag. solução",
}
SUBJECTS = (
    "Internet lenta no escritório", "Impressora não imprime", "Troca de senha do Wi-Fi",
    "Backup não executou", "Computador não liga", "Configurar e-mail no celular",
    "Câmera sem imagem", "Nobreak apitando",
)  # fmt: skip
_PUNCTUATION = re.compile(r"[^0-9A-Za-z]")


def compact(value: Any) -> str:
    """A document as the simulated API compares it: punctuation gone, letters upper-cased."""
    return _PUNCTUATION.sub("", str(value)).upper()


class MilvusWorld:
    """Clients and tickets of the simulated tenant, behind one lock."""

    def __init__(self, config: SandboxConfig) -> None:
        self.lock = threading.RLock()
        self.seed = config.seed
        self.clock_ms = config.anchor_ms
        self.shape = crm.WorldShape.from_config(config)
        self.clients: list[dict[str, Any]] = []
        self.by_token: dict[str, dict[str, Any]] = {}
        self.tickets: list[dict[str, Any]] = []
        self.next_client_id = 30_753
        self.next_ticket_id = 884_790
        self.next_codigo = 857
        self.pool_of_client: dict[int, int] = {}
        #: A tenant whose document column is this short stores created documents cut to it.
        self.document_length: int | None = None
        #: A tenant that serves at most this many clients a page while its ``meta.paginate``
        #: (and the next page's start) still follow the ``total_registros`` asked for.
        self.page_cap: int | None = None
        self._token_rng = words.rng_for(self.seed, crm.S_MILVUS, 1)
        self._build(config)

    def tick(self) -> int:
        self.clock_ms += 1_000 + self.clock_ms % 3_000
        return self.clock_ms

    def _token(self) -> str:
        alphabet = string.ascii_uppercase + string.digits
        while True:
            token = "".join(self._token_rng.choice(alphabet) for _ in range(6))
            if token not in self.by_token:
                return token

    def _build(self, config: SandboxConfig) -> None:
        rng = words.rng_for(self.seed, crm.S_MILVUS)
        entries: list[tuple[str, int]] = [("pool", i) for i in self.shape.milvus_pool()]
        entries += [("invalid", k) for k in range(self.shape.milvus_invalid)]
        rng.shuffle(entries)
        if self.shape.milvus_duplicates and self.shape.shared:
            # The old script's duplicate: a shared client created a second time, later.
            entries.append(("duplicate", min(3, self.shape.shared - 1)))
        blocked = self.shape.shared - 1 if self.shape.milvus_blocked else None
        for kind, value in entries:
            if kind == "invalid":
                name, email = words.person(rng)
                document = crm.MILVUS_INVALID[value % len(crm.MILVUS_INVALID)]
                record = self._record(
                    name=name,
                    legal_name=name,
                    document=document,
                    is_person=len(compact(document)) <= 11,
                    email=email,
                    phone=words.phone(rng),
                )
            else:
                client = crm.real_client(self.seed, value)
                record = self._record(
                    name=client.name,
                    legal_name=client.legal_name,
                    document=crm.milvus_document(client, rng),
                    is_person=client.is_person,
                    email=client.email,
                    phone=client.phone,
                )
                if kind == "pool":
                    if value == blocked:
                        record["is_ativo"] = False
                        record["motivo_bloqueio"] = "Inadimplente"
                else:
                    record["observacao"] = "Cadastrado pela integração antiga"
            self._add(record)
            if kind != "invalid":
                self.pool_of_client[record["id"]] = value
        ticket_rng = words.rng_for(self.seed, crm.S_TICKETS)
        active = [c for c in self.clients if c["is_ativo"]]
        for _ in range(config.milvus_tickets if active else 0):
            client = ticket_rng.choice(active)
            created = self.clock_ms - int(ticket_rng.uniform(1, HISTORY_DAYS) * crm.DAY_MS)
            status = ticket_rng.choice((1, 2, 4, 4, 5))
            technician = ticket_rng.choice(crm.STAFF)
            self._add_ticket(
                client,
                subject=ticket_rng.choice(SUBJECTS),
                description="Aberto pelo portal do cliente",
                technician=technician[1],
                created_ms=created,
                status=status,
            )

    def _record(
        self,
        *,
        name: str,
        legal_name: str,
        document: str,
        is_person: bool,
        email: str | None,
        phone: str | None,
    ) -> dict[str, Any]:
        """A client with the fields ``cliente/busca`` answers, plus hidden control fields."""
        return {
            "id": None,
            "razao_social": legal_name,
            "nome_fantasia": name,
            "cnpj_cpf": document,
            "inscricao_estadual": None if is_person else "ISENTO",
            "site": None,
            "sexo": None,
            "is_fisica": is_person,
            "is_ativo": True,
            "data_nascimento": None,
            "observacao": None,
            "is_sla": True,
            "is_esporadico": False,
            "token": None,
            "timezone": "America/Sao_Paulo",
            "idioma": 1,
            "bc_cliente_id": None,
            "tipo_tempo_sla_id": 1,
            "pais_id": None,
            "cliente_matriz_id": None,
            "motivo_bloqueio": None,
            "tipo_moeda": None,
            "is_visivel": True,
            "equipes": ["EQUIPE 1"],
            "grupo_categorias": ["Categoria 1"],
            "_control": {
                "cliente_id_integracao": None,
                "contatos": [
                    {"contato_padrao": True, "contato_email": email, "contato_celular": phone}
                ],
                "enderecos": [],
            },
        }

    def _add(self, record: dict[str, Any]) -> dict[str, Any]:
        record["id"] = self.next_client_id
        self.next_client_id += 3
        record["token"] = self._token()
        self.clients.append(record)
        self.by_token[record["token"]] = record
        return record

    def _add_ticket(
        self,
        client: dict[str, Any],
        *,
        subject: str,
        description: str,
        technician: str | None,
        created_ms: int,
        status: int = 1,
        desk: str | None = None,
        sector: str | None = None,
        category: str | None = None,
        subcategory: str | None = None,
        contact: str | None = None,
        email: str | None = None,
    ) -> dict[str, Any]:
        ticket = {
            "categoria_primaria": category,
            "categoria_secundaria": subcategory,
            "categorias": "/".join(c for c in (category, subcategory) if c) or None,
            "total_avaliacao": None,
            "descricao_avaliacao": None,
            "tecnico": next((n for _, n, e in crm.STAFF if e == technician), technician),
            "mesa_trabalho": desk or "Mesa padrão",
            "data_solucao": crm.milvus_time(created_ms + 3_600_000) if status == 4 else None,
            "dispositivo_vinculado": None,
            "servico_realizado": None,
            "data_agendamento": None,
            "data_resposta": None,
            "equipamento_retirado": None,
            "material_utilizado": None,
            "setor": sector,
            "prioridade": "Não possui",
            "codigo": self.next_codigo,
            "id": self.next_ticket_id,
            "cliente": client["nome_fantasia"],
            "cliente_token": client["token"],
            "assunto": subject,
            "descricao": description,
            "contato": contact,
            "email_conferencia": email,
            "telefone": "",
            "data_criacao": crm.milvus_time(created_ms),
            "data_modificacao": crm.milvus_time(created_ms),
            "conciliado": False,
            "codigo_do_conciliado": None,
            "total_horas": "00:00:00",
            "origem": "API",
            "status": STATUS_TEXT[status],
            "impacto": "Não possui",
            "urgencia": "Não possui",
            "ultima_log": None,
            "ultimas_cinco_logs": [],
            "motivo_pausa": "",
            "email_tecnico": technician,
            "_created_ms": created_ms,
        }
        self.next_codigo += 1
        self.next_ticket_id += 17
        self.tickets.append(ticket)
        return ticket

    # ----- API operations ----------------------------------------------------------------

    def search(self, documento: str | None, nome: str | None, status: int) -> list[dict]:
        found = []
        wanted = compact(documento) if documento else None
        for client in self.clients:
            if status == 1 and not client["is_ativo"]:
                continue
            if status == 2 and client["is_ativo"]:
                continue
            if wanted is not None and compact(client["cnpj_cpf"]) != wanted:
                continue
            if nome and nome.casefold() not in client["nome_fantasia"].casefold():
                continue
            found.append(client)
        return found

    def create_client(self, body: dict[str, Any]) -> int:
        document = body.get("cliente_documento")
        if isinstance(document, bool) or document in (None, ""):
            raise ValueError("cliente_documento é obrigatório")
        if isinstance(document, float):
            document = int(document)
        if not isinstance(document, int | str):
            raise ValueError("cliente_documento inválido")
        fisica = body.get("cliente_pessoa_fisica")
        juridica = body.get("cliente_pessoa_juridica")
        if bool(fisica) == bool(juridica):
            raise ValueError("Informe cliente_pessoa_fisica ou cliente_pessoa_juridica")
        if fisica and not (isinstance(fisica, dict) and fisica.get("nome")):
            raise ValueError("cliente_pessoa_fisica.nome é obrigatório")
        if juridica and not (
            isinstance(juridica, dict)
            and (juridica.get("nome_fantasia") or juridica.get("razao_social"))
        ):
            raise ValueError("cliente_pessoa_juridica.nome_fantasia é obrigatório")
        contacts = body.get("cliente_contatos") or []
        first = contacts[0] if contacts and isinstance(contacts[0], dict) else {}
        if fisica:
            name = legal = fisica["nome"]
        else:
            name = juridica.get("nome_fantasia") or juridica.get("razao_social")
            legal = juridica.get("razao_social") or name
        stored = str(document) if isinstance(document, int) else compact(document)
        record = self._record(
            name=name,
            legal_name=legal,
            document=stored[: self.document_length] if self.document_length else stored,
            is_person=bool(fisica),
            email=first.get("contato_email"),
            phone=first.get("contato_celular") or first.get("contato_telefone"),
        )
        record["site"] = body.get("cliente_site")
        record["observacao"] = body.get("cliente_observacao")
        record["is_ativo"] = body.get("cliente_ativo", True) is not False
        record["_control"]["cliente_id_integracao"] = body.get("cliente_id_integracao")
        record["_control"]["contatos"] = contacts
        record["_control"]["enderecos"] = body.get("cliente_enderecos") or []
        self.tick()
        return self._add(record)["id"]

    def create_ticket(self, body: dict[str, Any]) -> int:
        token = body.get("cliente_id")
        if not isinstance(token, str) or token not in self.by_token:
            raise ValueError(
                "Cliente não encontrado: cliente_id deve ser o token do cliente, não o id"
            )
        subject = body.get("chamado_assunto")
        description = body.get("chamado_descricao")
        if not isinstance(subject, str) or not subject.strip():
            raise ValueError("chamado_assunto é obrigatório")
        if not isinstance(description, str) or not description.strip():
            raise ValueError("chamado_descricao é obrigatório")
        ticket = self._add_ticket(
            self.by_token[token],
            subject=subject,
            description=description,
            technician=body.get("chamado_tecnico"),
            created_ms=self.tick(),
            desk=body.get("chamado_mesa"),
            sector=body.get("chamado_setor"),
            category=body.get("chamado_categoria_primaria"),
            subcategory=body.get("chamado_categoria_secundaria"),
            contact=body.get("chamado_contato"),
            email=body.get("chamado_email"),
        )
        return ticket["id"]

    def list_tickets(
        self, filters: dict[str, Any], order_by: str, descending: bool
    ) -> list[dict[str, Any]]:
        def text(name: str) -> str:
            value = filters.get(name)
            return "" if value is None else str(value).strip()

        token, client_id, codigo = text("cliente_token"), text("cliente_id"), text("codigo")
        subject, status = text("assunto").casefold(), text("status")
        start, end = text("data_hora_criacao_inicial"), text("data_hora_criacao_final")
        rows = []
        for ticket in self.tickets:
            if token and ticket["cliente_token"] != token:
                continue
            if client_id:
                owner = self.by_token[ticket["cliente_token"]]
                if str(owner["id"]) != client_id and owner["token"] != client_id:
                    continue
            if codigo and str(ticket["codigo"]) != codigo:
                continue
            if subject and subject not in ticket["assunto"].casefold():
                continue
            if status and status not in (
                ticket["status"],
                str(next((k for k, v in STATUS_TEXT.items() if v == ticket["status"]), "")),
            ):
                continue
            if start and ticket["data_criacao"] < start:
                continue
            if end and ticket["data_criacao"] > end:
                continue
            rows.append(ticket)
        rows.sort(key=lambda t: (t.get(order_by) is not None, t.get(order_by), t["id"]))
        if descending:
            rows.reverse()
        return rows

    def truth(self) -> dict[str, Any]:
        clients = []
        for client in self.clients:
            record = {k: copy.deepcopy(v) for k, v in client.items() if k != "_control"}
            record.update(copy.deepcopy(client["_control"]))
            clients.append(record)
        return {
            "clients": clients,
            "tickets": [served_ticket(t) for t in self.tickets],
            "pool_of_client": {str(k): v for k, v in self.pool_of_client.items()},
            "clock": crm.milvus_time(self.clock_ms),
        }


def served_client(client: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in client.items() if k != "_control"}


def served_ticket(ticket: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in ticket.items() if not k.startswith("_")}


def _paginate(total: int, page: int, per_page: int) -> dict[str, Any]:
    last = max(1, math.ceil(total / per_page))
    first = (page - 1) * per_page + 1
    return {
        "current_page": str(page),
        "total": total,
        "to": min(total, page * per_page) if first <= total else None,
        "from": first if first <= total else None,
        "last_page": last,
        "per_page": str(per_page),
    }


def _int_param(params: Any, name: str, default: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} deve ser um número") from None
    if value < 1:
        raise ValueError(f"{name} deve ser maior que zero")
    return value


class MilvusSimulator(Simulator):
    """Routes of the simulated Milvus integration API and its admin endpoints."""

    name = "milvus"
    prefix = "/milvus"
    CREATE_ENDPOINTS = ("cliente/criar", "chamado/criar")

    def reset(self, config: SandboxConfig) -> None:
        hold = getattr(self, "hold", None)
        if hold is not None:
            hold.release()
        self.world = MilvusWorld(config)
        self.limit = crm.ApiRateLimit(config.milvus_rate_limit_per_second)
        self.hold = crm.CreateHold()
        self.creates: dict[str, int] = {}
        self.records_served: dict[str, int] = {}

    def _client(self, client: dict[str, Any]) -> dict[str, Any]:
        served = served_client(client)
        if self.divergent:
            served["cnpj_cpf"] = crm.document_as_number(served["cnpj_cpf"])
            served["id"] = str(served["id"])
        return served

    def _ticket(self, ticket: dict[str, Any]) -> dict[str, Any]:
        served = served_ticket(ticket)
        if self.divergent:
            served["id"] = str(served["id"])
        return served

    def _listing(self, total: int, page: int, per_page: int, lista: list[dict]) -> Response:
        if self.divergent:
            return JSONResponse({"lista": lista})
        return JSONResponse(
            {"meta": {"paginate": _paginate(total, page, per_page)}, "lista": lista}
        )

    def _new_id(self, value: int) -> Response:
        return JSONResponse(str(value) if self.divergent else value)

    def truth(self) -> dict[str, Any]:
        with self.world.lock:
            return self.world.truth()

    def routes(self) -> list[Route]:
        return [
            Route("/api/cliente/busca", self._guard(self.cliente_busca), methods=["GET"]),
            Route("/api/cliente/criar", self._guard(self.cliente_criar), methods=["POST"]),
            Route("/api/chamado/listagem", self._guard(self.chamado_listagem), methods=["POST"]),
            Route("/api/chamado/criar", self._guard(self.chamado_criar), methods=["POST"]),
        ]

    def admin_routes(self) -> list[Route]:
        return [
            Route("/truth", self.admin_truth, methods=["GET"]),
            Route("/stats", self.admin_stats, methods=["GET", "DELETE"]),
            Route("/hold", self.admin_hold, methods=["GET", "PUT", "DELETE"]),
            Route("/rate_limit", self.admin_rate_limit, methods=["GET", "PUT"]),
            Route("/document_length", self.admin_document_length, methods=["GET", "PUT"]),
            Route("/page_cap", self.admin_page_cap, methods=["GET", "PUT"]),
            Route("/tickets", self.admin_tickets, methods=["POST"]),
        ]

    def _guard(self, handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
        async def guarded(request: Request) -> Response:
            retry_after = self.limit.admit()
            if retry_after is not None:
                return JSONResponse(
                    {"status_code": 429, "message": "Limite de requisições excedido"},
                    status_code=429,
                    headers={"Retry-After": str(retry_after)},
                )
            if request.headers.get("authorization") != SANDBOX_MILVUS_API_TOKEN:
                return error(401, "Token de autenticação inválido")
            return await handler(request)

        return guarded

    def _served(self, kind: str, n: int) -> None:
        self.records_served[kind] = self.records_served.get(kind, 0) + n

    # ----- public endpoints --------------------------------------------------------------

    async def cliente_busca(self, request: Request) -> Response:
        params = request.query_params
        try:
            status = _int_param(params, "status", 1)
            if status not in (1, 2, 3):
                raise ValueError("status deve ser 1, 2 ou 3")
            page = _int_param(params, "pagina", 1)
            per_page = min(_int_param(params, "total_registros", MAX_PAGE), MAX_PAGE)
        except ValueError as exc:
            return error(400, str(exc))
        # A divergent tenant ignores the document filter and answers its listing.
        documento = None if self.divergent else (params.get("documento") or None)
        with self.world.lock:
            found = self.world.search(documento, params.get("nome_fantasia"), status)
            if documento is not None:
                lista = [self._client(c) for c in found]
                self._served("clients", len(lista))
                return JSONResponse({"lista": lista})
            start = (page - 1) * per_page
            served = per_page if self.world.page_cap is None else self.world.page_cap
            lista = [self._client(c) for c in found[start : start + min(per_page, served)]]
        self._served("clients", len(lista))
        return self._listing(len(found), page, per_page, lista)

    async def cliente_criar(self, request: Request) -> Response:
        try:
            body = await json_body(request)
            with self.world.lock:
                client_id = self.world.create_client(body)
        except ValueError as exc:
            return error(400, str(exc))
        self.creates["cliente/criar"] = self.creates.get("cliente/criar", 0) + 1
        await self.hold.after_create("cliente/criar")
        return self._new_id(client_id)

    async def chamado_listagem(self, request: Request) -> Response:
        params = request.query_params
        try:
            page = _int_param(params, "pagina", 1)
            per_page = min(_int_param(params, "total_registros", LISTAGEM_DEFAULT_PAGE), MAX_PAGE)
            body = await json_body(request)
        except ValueError as exc:
            return error(400, str(exc))
        filters = body.get("filtro_body") or {}
        if not isinstance(filters, dict):
            return error(400, "filtro_body deve ser um objeto")
        order_by = params.get("order_by") or "codigo"
        if order_by not in TICKET_ORDER_FIELDS:
            return error(400, f"order_by inválido: {order_by}")
        descending = (params.get("is_descending") or "true").strip().lower() != "false"
        with self.world.lock:
            rows = self.world.list_tickets(filters, order_by, descending)
            start = (page - 1) * per_page
            lista = [self._ticket(t) for t in rows[start : start + per_page]]
        self._served("tickets", len(lista))
        return self._listing(len(rows), page, per_page, lista)

    async def chamado_criar(self, request: Request) -> Response:
        try:
            body = await json_body(request)
            with self.world.lock:
                ticket_id = self.world.create_ticket(body)
        except ValueError as exc:
            return error(400, str(exc))
        self.creates["chamado/criar"] = self.creates.get("chamado/criar", 0) + 1
        await self.hold.after_create("chamado/criar")
        return self._new_id(ticket_id)

    # ----- admin endpoints ---------------------------------------------------------------

    async def admin_truth(self, request: Request) -> Response:
        return JSONResponse(self.truth())

    def stats(self) -> dict[str, Any]:
        return {
            "create_calls": dict(self.creates),
            "records_served": dict(self.records_served),
            "rate_limit": self.limit.stats(),
            "hold": self.hold.as_dict(),
        }

    async def admin_stats(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.creates.clear()
            self.records_served.clear()
            self.limit.configure(self.limit.per_second)
        return JSONResponse(self.stats())

    async def admin_hold(self, request: Request) -> Response:
        if request.method == "PUT":
            try:
                endpoint, after, seconds = crm.parse_hold(
                    await json_body(request), self.CREATE_ENDPOINTS
                )
            except ValueError as exc:
                return error(400, str(exc))
            self.hold.arm(endpoint, after, seconds)
        elif request.method == "DELETE":
            self.hold.release()
        return JSONResponse(self.hold.as_dict())

    async def admin_page_cap(self, request: Request) -> Response:
        """``{"records": n}`` serves at most ``n`` clients a page of ``cliente/busca`` while
        ``meta.paginate`` still counts the pages asked for (records in between are never
        served); ``null`` serves whole pages."""
        if request.method == "PUT":
            try:
                body = await json_body(request)
            except ValueError as exc:
                return error(400, str(exc))
            records = body.get("records")
            if records is not None and (
                isinstance(records, bool) or not isinstance(records, int) or records < 1
            ):
                return error(400, "records must be a positive integer or null")
            with self.world.lock:
                self.world.page_cap = records
        return JSONResponse({"records": self.world.page_cap})

    async def admin_document_length(self, request: Request) -> Response:
        """``{"length": n}`` cuts the documents of clients created from now on to ``n``
        characters, as a tenant with a CPF-sized column does; ``null`` stores them whole."""
        if request.method == "PUT":
            try:
                body = await json_body(request)
            except ValueError as exc:
                return error(400, str(exc))
            length = body.get("length")
            if length is not None and (
                isinstance(length, bool) or not isinstance(length, int) or length < 1
            ):
                return error(400, "length must be a positive integer or null")
            with self.world.lock:
                self.world.document_length = length
        return JSONResponse({"length": self.world.document_length})

    async def admin_tickets(self, request: Request) -> Response:
        """``{"tickets": [{"token", "subject", "description", "created_at"}]}``: tickets opened
        in the past by another integration (``created_at`` an ISO-8601 instant); answers ids."""
        try:
            body = await json_body(request)
            tickets = body.get("tickets")
            if not isinstance(tickets, list):
                raise ValueError("tickets must be a list")
            with self.world.lock:
                ids = []
                for item in tickets:
                    client = self.world.by_token.get(item.get("token"))
                    if client is None:
                        raise ValueError(f"no client with token {item.get('token')!r}")
                    ticket = self.world._add_ticket(
                        client,
                        subject=str(item["subject"]),
                        description=str(item.get("description") or item["subject"]),
                        technician=None,
                        created_ms=parse_instant_ms(str(item["created_at"])),
                    )
                    ids.append(ticket["id"])
        except (ValueError, KeyError, AttributeError) as exc:
            return error(400, str(exc))
        return JSONResponse({"ids": ids})

    async def admin_rate_limit(self, request: Request) -> Response:
        if request.method == "PUT":
            try:
                body = await json_body(request)
            except ValueError as exc:
                return error(400, str(exc))
            value = body.get("per_second")
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                return error(400, "per_second must be a non-negative integer")
            self.limit.configure(value)
        return JSONResponse(self.limit.stats())
