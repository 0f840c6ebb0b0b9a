"""The simulated Ploomes's fixed vocabulary: tag ids, users, task titles, and the entity sets
with their OData property types and navigation properties.
"""

from __future__ import annotations

from dataclasses import dataclass

from support_assets.core.sandbox_defaults import (
    SANDBOX_PLOOMES_TAG_ENTREGA,
    SANDBOX_PLOOMES_TAG_INSTALACAO,
)
from support_assets.sandbox import crm_world as crm
from support_assets.sandbox.base import parse_instant_ms

TAG_INSTALACAO = SANDBOX_PLOOMES_TAG_INSTALACAO
TAG_ENTREGA = SANDBOX_PLOOMES_TAG_ENTREGA
TAG_VISITA = 40003
TAG_COBRANCA = 40004
TAG_IDS = {
    TAG_INSTALACAO: "INSTALAÇÃO",
    TAG_ENTREGA: "ENTREGA",
    TAG_VISITA: "VISITA TÉCNICA",
    TAG_COBRANCA: "COBRANÇA",
}
TYPE_COMPANY = 1
TYPE_PERSON = 2
MAX_TOP = 300
#: The integration user the API key belongs to (creator of what the sync creates).
INTEGRATION_USER_ID = 10003999
#: Custom field of contacts holding the billing e-mail (as in the official article).
BILLING_EMAIL_FIELD = "contact_A51DFABF-56CA-4F03-AABB-F89AF0E7D354"
START_DATE_MS = parse_instant_ms("2024-02-24T00:00:00-03:00")

USERS = crm.STAFF
TASK_TITLES = {
    TAG_INSTALACAO: ("Instalação do roteador", "Instalar ponto de acesso", "Instalação de câmeras"),
    TAG_ENTREGA: ("Entrega de equipamento", "Entregar nobreak", "Entrega do kit de fibra"),
    TAG_VISITA: ("Visita técnica preventiva", "Vistoria do rack"),
    TAG_COBRANCA: ("Cobrar boleto vencido", "Enviar segunda via"),
    None: ("Ligar para o cliente", "Enviar proposta", "Follow-up do orçamento"),
}

# OData property types per entity: "int", "str", "date", "bool".
CONTACT_PROPS = {
    "Id": "int", "TypeId": "int", "Name": "str", "LegalName": "str", "CPF": "str",
    "CNPJ": "str", "Key": "str", "Email": "str", "OwnerId": "int", "StatusId": "int",
    "CreateDate": "date", "LastUpdateDate": "date",
}  # fmt: skip
TASK_PROPS = {
    "Id": "int", "ContactId": "int", "DealId": "int", "OwnerId": "int", "Title": "str",
    "Finished": "bool", "DateTime": "date", "CreateDate": "date", "LastUpdateDate": "date",
    "CreatorId": "int",
}  # fmt: skip
INTERACTION_PROPS = {
    "Id": "int", "ContactId": "int", "DealId": "int", "TypeId": "int", "Content": "str",
    "Date": "date", "CreateDate": "date", "LastUpdateDate": "date", "CreatorId": "int",
}  # fmt: skip
USER_PROPS = {"Id": "int", "Name": "str", "Email": "str"}
#: Address properties a created contact may carry (stored as sent).
ADDRESS_PROPS = (
    "StreetAddress", "StreetAddressNumber", "StreetAddressLine2", "Neighborhood", "ZipCode",
)  # fmt: skip
TAG_PROPS = {"Id": "int", "Name": "str", "EntityId": "int", "Color": "str"}
#: Ploomes's entity id of tags on tasks (interactions share them in this account).
TAG_ENTITY_TASKS = 12


@dataclass(frozen=True)
class EntitySet:
    name: str
    properties: dict[str, str]
    expands: tuple[str, ...]


ENTITY_SETS = {
    "Contacts": EntitySet("Contacts", CONTACT_PROPS, ("Phones", "OtherProperties")),
    "Tasks": EntitySet("Tasks", TASK_PROPS, ("Tags",)),
    "InteractionRecords": EntitySet("InteractionRecords", INTERACTION_PROPS, ("Tags",)),
    "Users": EntitySet("Users", USER_PROPS, ()),
    "Tags": EntitySet("Tags", TAG_PROPS, ()),
}
