"""The simulated Milvus account: clients and tickets seeded from the CRM pool, searched,
listed and created as the integration API does, and served in the API's shapes.
"""

from __future__ import annotations

import copy
import re
import string
import threading
from typing import Any

from support_assets.sandbox import crm_world as crm
from support_assets.sandbox import octadesk_data as words
from support_assets.sandbox.base import HISTORY_DAYS, SandboxConfig

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
