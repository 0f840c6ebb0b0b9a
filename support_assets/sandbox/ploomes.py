"""The Ploomes simulator: the CRM's OData API (``Contacts``, ``Tasks``, ``InteractionRecords``,
``Users``, ``Tags``) over real HTTP, with the company's clients, tasks and interactions.

Shapes follow ``notes/payloads/ploomes`` (the ``Contacts`` record of the public client's
fixtures, ``OtherProperties`` rows as the official article shows them) and the type definitions
of ``InteractionRecords``. What the simulated API does:

* every request needs the ``User-Key`` header (``SANDBOX_PLOOMES_USER_KEY``), else 401;
* above ``ploomes_rate_limit_per_second`` requests a second (two by default, as public clients
  assume) it answers 429 with ``Retry-After``;
* lists take ``$top`` (at most 300, the default), ``$skip``, ``$filter`` (``eq ne gt ge lt le``
  joined by ``and``/``or``/``not`` and parentheses, on ids, types, documents and dates; dates
  are OData date-time literals *with* an offset, compared as instants), ``$orderby``,
  ``$select`` and ``$expand`` (``Contacts``: ``Phones``, ``OtherProperties``; ``Tasks`` and
  ``InteractionRecords``: ``Tags``); navigation properties are left out unless expanded.
  Answers are ``{"@odata.context", "value", "@odata.nextLink"}``, the link carrying ``$skip``;
* ``$count=true`` adds ``@odata.count``, the number of records the query matches;
* ``POST /Contacts`` creates a contact and answers it in ``value``.

Divergent mode (``SandboxConfig.divergent`` or ``PUT /_admin/ploomes/divergent``) answers as
real tenants do where they differ from the documentation: a ``$filter`` with an ``or`` or an
``any`` clause is ignored (every record comes back, unrelated ones included) while ``$top``,
``$skip`` and ``$orderby`` are kept; ``CPF`` and ``CNPJ`` come back as JSON numbers (leading
zeros lost) when they are digits; ids (``Id``) come back as strings; ``@odata.count`` is
missing.

Dates are São Paulo time with their offset (``2022-12-15T14:59:45.13-03:00``). Tag ids are
fixed (``TAG_IDS``) and listed by ``Tags`` with their names; which of them mean INSTALAÇÃO and
ENTREGA is the platform's setting or its lookup by name. The admin API moves the world on
(``advance``), renames or removes tags (``tags``), reports it (``truth``, ``stats`` with
create-call counts and the rate limit's record) and holds a create's answer on demand (``hold``).
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from support_assets.sandbox import crm_world as crm
from support_assets.sandbox import octadesk_data as words
from support_assets.sandbox.base import SandboxConfig, Simulator, json_body, parse_instant_ms

#: The key every request to the simulated Ploomes must carry in ``User-Key``.
SANDBOX_PLOOMES_USER_KEY = "sandbox-ploomes-user-key"

TAG_INSTALACAO = 40001
TAG_ENTREGA = 40002
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
_CONTACT_PROPS = {
    "Id": "int", "TypeId": "int", "Name": "str", "LegalName": "str", "CPF": "str",
    "CNPJ": "str", "Key": "str", "Email": "str", "OwnerId": "int", "StatusId": "int",
    "CreateDate": "date", "LastUpdateDate": "date",
}  # fmt: skip
_TASK_PROPS = {
    "Id": "int", "ContactId": "int", "DealId": "int", "OwnerId": "int", "Title": "str",
    "Finished": "bool", "DateTime": "date", "CreateDate": "date", "LastUpdateDate": "date",
    "CreatorId": "int",
}  # fmt: skip
_INTERACTION_PROPS = {
    "Id": "int", "ContactId": "int", "DealId": "int", "TypeId": "int", "Content": "str",
    "Date": "date", "CreateDate": "date", "LastUpdateDate": "date", "CreatorId": "int",
}  # fmt: skip
_USER_PROPS = {"Id": "int", "Name": "str", "Email": "str"}
#: Address properties a created contact may carry (stored as sent).
ADDRESS_PROPS = (
    "StreetAddress", "StreetAddressNumber", "StreetAddressLine2", "Neighborhood", "ZipCode",
)  # fmt: skip
_TAG_PROPS = {"Id": "int", "Name": "str", "EntityId": "int", "Color": "str"}
#: Ploomes's entity id of tags on tasks (interactions share them in this account).
TAG_ENTITY_TASKS = 12


@dataclass(frozen=True)
class EntitySet:
    name: str
    properties: dict[str, str]
    expands: tuple[str, ...]


ENTITY_SETS = {
    "Contacts": EntitySet("Contacts", _CONTACT_PROPS, ("Phones", "OtherProperties")),
    "Tasks": EntitySet("Tasks", _TASK_PROPS, ("Tags",)),
    "InteractionRecords": EntitySet("InteractionRecords", _INTERACTION_PROPS, ("Tags",)),
    "Users": EntitySet("Users", _USER_PROPS, ()),
    "Tags": EntitySet("Tags", _TAG_PROPS, ()),
}


class ODataError(ValueError):
    """A query the simulated API refuses with 400."""


# $filter -------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<lp>\()|(?P<rp>\))|
    (?P<str>'(?:[^']|'')*')|
    (?P<dt>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|z|[+-]\d{2}:\d{2})?)|
    (?P<num>-?\d+(?:\.\d+)?)|
    (?P<word>[A-Za-z_][A-Za-z0-9_/]*)
    )""",
    re.VERBOSE,
)
#: What makes a divergent tenant ignore a whole ``$filter``.
_OR_OR_ANY = re.compile(r"\bor\b|\bany\s*\(", re.IGNORECASE)
_COMPARISONS = ("eq", "ne", "gt", "ge", "lt", "le")
Predicate = Callable[[dict[str, Any]], bool]


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, pos, text = [], 0, text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ODataError(f"syntax error in $filter at position {pos}: {text[pos : pos + 20]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return tokens


class _FilterParser:
    """``expr := and ('or' and)*; and := unary ('and' unary)*; unary := 'not' unary | '(' expr
    ')' | Property op literal``."""

    def __init__(self, text: str, entity: EntitySet, value_of: Callable[[dict, str], Any]):
        self.tokens = _tokens(text)
        self.pos = 0
        self.entity = entity
        self.value_of = value_of

    def parse(self) -> Predicate:
        predicate = self._or()
        if self.pos != len(self.tokens):
            raise ODataError(f"unexpected {self.tokens[self.pos][1]!r} in $filter")
        return predicate

    def _peek_word(self, *words_: str) -> bool:
        if self.pos < len(self.tokens):
            kind, value = self.tokens[self.pos]
            return kind == "word" and value.lower() in words_
        return False

    def _or(self) -> Predicate:
        parts = [self._and()]
        while self._peek_word("or"):
            self.pos += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda r, ps=parts: any(p(r) for p in ps))

    def _and(self) -> Predicate:
        parts = [self._unary()]
        while self._peek_word("and"):
            self.pos += 1
            parts.append(self._unary())
        return parts[0] if len(parts) == 1 else (lambda r, ps=parts: all(p(r) for p in ps))

    def _unary(self) -> Predicate:
        if self._peek_word("not"):
            self.pos += 1
            inner = self._unary()
            return lambda r: not inner(r)
        if self.pos < len(self.tokens) and self.tokens[self.pos][0] == "lp":
            self.pos += 1
            inner = self._or()
            if self.pos >= len(self.tokens) or self.tokens[self.pos][0] != "rp":
                raise ODataError("missing ) in $filter")
            self.pos += 1
            return inner
        return self._comparison()

    def _comparison(self) -> Predicate:
        if self.pos + 3 > len(self.tokens):
            raise ODataError("incomplete comparison in $filter")
        (k1, prop), (k2, op), (k3, raw) = self.tokens[self.pos : self.pos + 3]
        self.pos += 3
        if k1 != "word" or prop not in self.entity.properties:
            raise ODataError(
                f"Could not find a property named '{prop}' on type '{self.entity.name}'"
            )
        op = op.lower()
        if k2 != "word" or op not in _COMPARISONS:
            raise ODataError(f"unknown operator {op!r} in $filter")
        target = self._literal(self.entity.properties[prop], k3, raw)
        value_of = self.value_of

        def compare(record: dict[str, Any]) -> bool:
            value = value_of(record, prop)
            if op == "eq":
                return value == target
            if op == "ne":
                return value != target
            if value is None or target is None:
                return False
            if op == "gt":
                return value > target
            if op == "ge":
                return value >= target
            if op == "lt":
                return value < target
            return value <= target

        return compare

    @staticmethod
    def _literal(kind: str, token_kind: str, raw: str) -> Any:
        if token_kind == "word" and raw.lower() == "null":
            return None
        if kind == "date":
            if token_kind != "dt" or not re.search(r"(Z|z|[+-]\d{2}:\d{2})$", raw):
                raise ODataError(f"expected a date-time with offset, got {raw!r}")
            return parse_instant_ms(raw)
        if kind == "int":
            if token_kind != "num" or "." in raw:
                raise ODataError(f"expected an integer, got {raw!r}")
            return int(raw)
        if kind == "bool":
            if token_kind != "word" or raw.lower() not in ("true", "false"):
                raise ODataError(f"expected true or false, got {raw!r}")
            return raw.lower() == "true"
        if token_kind != "str":
            raise ODataError(f"expected a quoted string, got {raw!r}")
        return raw[1:-1].replace("''", "'")


def _split_top_level(text: str) -> list[str]:
    """Comma-separated items, ignoring commas inside parentheses (``Tags($select=TagId)``)."""
    items, depth, current = [], 0, []
    for char in text:
        if char == "," and depth == 0:
            items.append("".join(current).strip())
            current = []
            continue
        depth += (char == "(") - (char == ")")
        current.append(char)
    items.append("".join(current).strip())
    return [item for item in items if item]


# The world -----------------------------------------------------------------------------------


class PloomesWorld:
    """Contacts, tasks, interactions and users of the simulated account, behind one lock."""

    def __init__(self, config: SandboxConfig) -> None:
        self.lock = threading.RLock()
        self.seed = config.seed
        self.anchor_ms = config.anchor_ms
        self.clock_ms = self.anchor_ms
        self.shape = crm.WorldShape.from_config(config)
        self.users = [
            {
                "Id": uid,
                "Name": name,
                "Email": email,
                "Phone": None,
                "AvatarUrl": None,
                "RoleId": 10022011,
                "ProfileId": 10004345,
                "Integration": False,
                "Suspended": False,
            }
            for uid, name, email in USERS
        ]
        self.tags = {
            tag_id: {"Id": tag_id, "Name": name, "EntityId": TAG_ENTITY_TASKS, "Color": "#1e88e5"}
            for tag_id, name in TAG_IDS.items()
        }
        self.contacts: dict[int, dict[str, Any]] = {}
        self.tasks: dict[int, dict[str, Any]] = {}
        self.interactions: dict[int, dict[str, Any]] = {}
        self.pool_of_contact: dict[int, int] = {}
        self.invalid_contacts: list[int] = []
        self.next_contact_id = 105_401_839
        self.next_task_id = 500_100_000
        self.next_interaction_id = 700_200_000
        self.advanced_clients = 0
        self._ms: dict[tuple[str, int], dict[str, int]] = {}
        self._build(config)

    # ----- generation --------------------------------------------------------------------

    def _past(self, rng: Any, max_days: float, min_days: float = 0.05) -> int:
        return self.anchor_ms - int(rng.uniform(min_days, max_days) * crm.DAY_MS)

    def _build(self, config: SandboxConfig) -> None:
        rng = words.rng_for(self.seed, crm.S_PLOOMES)
        entries: list[tuple[str, Any]] = [("pool", i) for i in self.shape.ploomes_pool()]
        entries += [("invalid", k) for k in range(self.shape.ploomes_invalid)]
        rng.shuffle(entries)
        for kind, value in entries:
            created = self._past(rng, 1000, 2)
            updated = min(self.anchor_ms - 60_000, created + int(rng.uniform(0, 60) * crm.DAY_MS))
            if kind == "pool":
                client = crm.real_client(self.seed, value)
                contact_id = self._add_contact(self._contact_from_client(client, rng), created)
                self.pool_of_contact[contact_id] = value
            else:
                cpf, cnpj, _ = crm.PLOOMES_INVALID[value % len(crm.PLOOMES_INVALID)]
                person_name, email = words.person(rng)
                record = self._contact_record(
                    name=person_name,
                    legal_name=None,
                    type_id=TYPE_PERSON if cnpj is None else TYPE_COMPANY,
                    cpf=cpf,
                    cnpj=cnpj,
                    email=email,
                    phone=words.phone(rng),
                )
                contact_id = self._add_contact(record, created)
                self.invalid_contacts.append(contact_id)
            self.contacts[contact_id]["LastUpdateDate"] = crm.ploomes_time(updated)
            self._index("contact", contact_id, created, updated)
        valid = sorted(self.pool_of_contact)
        ploomes_only = [c for c in valid if self.pool_of_contact[c] >= self.shape.shared]
        task_rng = words.rng_for(self.seed, crm.S_TASKS)
        for k in range(config.ploomes_tasks):
            tags, old = _task_pattern(k)
            contact = self._pick_contact(task_rng, k, valid, ploomes_only)
            created = (
                START_DATE_MS - int(task_rng.uniform(10, 80) * crm.DAY_MS)
                if old
                else self._past(task_rng, 900, 1)
            )
            self._add_task(task_rng, contact, tags, created)
        interaction_rng = words.rng_for(self.seed, crm.S_INTERACTIONS)
        for k in range(config.ploomes_interactions):
            tags, old = _interaction_pattern(k)
            contact = self._pick_contact(interaction_rng, k + 1, valid, ploomes_only)
            created = (
                START_DATE_MS - int(interaction_rng.uniform(10, 80) * crm.DAY_MS)
                if old
                else self._past(interaction_rng, 900, 1)
            )
            self._add_interaction(interaction_rng, contact, tags, created)

    def _pick_contact(
        self, rng: Any, k: int, valid: list[int], ploomes_only: list[int]
    ) -> int | None:
        if k == 2 and self.invalid_contacts:
            return self.invalid_contacts[0]
        if k == 1 and ploomes_only:
            return ploomes_only[0]
        if not valid:
            return self.invalid_contacts[0] if self.invalid_contacts else None
        return rng.choice(valid)

    def _contact_record(
        self,
        *,
        name: str,
        legal_name: str | None,
        type_id: int,
        cpf: str | None,
        cnpj: str | None,
        email: str | None,
        phone: str | None,
        key: str | None = None,
        other_properties: list[dict[str, Any]] | None = None,
        phones: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """A contact with every field of the public client's fixture (null where unset)."""
        return {
            "Id": None, "TypeId": type_id, "Name": name, "LegalName": legal_name,
            "Register": None, "CNPJ": cnpj, "CPF": cpf, "StatusId": 10003458,
            "CompanyId": None, "RelationshipId": None, "LineOfBusinessId": None,
            "OriginId": None, "NumberOfEmployeesId": None, "ClassId": 0, "OwnerId": USERS[0][0],
            "Birthday": None, "NextAnniversary": None, "PreviousAnniversary": None,
            "Note": None, "Email": email, "Website": None, "RoleId": None,
            "DepartmentId": None, "Skype": None, "Facebook": None, "StreetAddress": None,
            "StreetAddressNumber": None, "StreetAddressLine2": None, "Neighborhood": None,
            "ZipCode": None, "ForeignZipCode": None, "CityId": None, "StateId": None,
            "CountryId": 76, "CurrencyId": None, "EmailMarketing": None, "CNAECode": None,
            "CNAEName": None, "CNAESecondary": None, "Latitude": None, "Longitude": None,
            "ImportId": None, "CreateImportationId": None, "UpdateImportationId": None,
            "FirstTaskId": None, "FirstTaskDate": None, "LastInteractionRecordId": None,
            "LastDealId": None, "LastOrderId": None, "TasksOrdination": 2, "LeadId": None,
            "Editable": True, "Deletable": True, "CreatorId": USERS[0][0], "UpdaterId": None,
            "CreateDate": None, "LastUpdateDate": None, "Key": key, "LastDocumentId": None,
            "AvatarUrl": None, "HasConsent": None, "LastCompanyId": None,
            "IdentityDocument": None, "HasScheduledTasks": False, "ImportationIdCreate": None,
            "ImportationIdUpdate": None, "PublicFormIdCreate": None, "PublicFormIdUpdate": None,
            "Phones": phones
            if phones is not None
            else ([{"PhoneNumber": phone, "TypeId": 1, "CountryId": 76}] if phone else []),
            "OtherProperties": other_properties
            if other_properties is not None
            else ([{"FieldKey": BILLING_EMAIL_FIELD, "StringValue": email}] if email else []),
        }  # fmt: skip

    def _contact_from_client(self, client: crm.RealClient, rng: Any) -> dict[str, Any]:
        document = crm.ploomes_document(client, rng)
        # Pool entry 2 is a company typed as a person, its CNPJ in the CPF field.
        as_person = client.is_person or client.index == 2
        record = self._contact_record(
            name=client.name,
            legal_name=None if client.is_person else client.legal_name,
            type_id=TYPE_PERSON if as_person else TYPE_COMPANY,
            cpf=document if as_person else None,
            cnpj=None if as_person else document,
            email=client.email,
            phone=client.phone,
        )
        record.update(
            {
                "StreetAddress": client.street,
                "StreetAddressNumber": client.number,
                "ZipCode": client.zip_code,
            }
        )
        return record

    def _add_contact(self, record: dict[str, Any], created_ms: int) -> int:
        contact_id = self.next_contact_id
        self.next_contact_id += 13
        record["Id"] = contact_id
        record["CreateDate"] = record["LastUpdateDate"] = crm.ploomes_time(created_ms)
        self.contacts[contact_id] = record
        self._index("contact", contact_id, created_ms, created_ms)
        return contact_id

    def _index(self, kind: str, record_id: int, created_ms: int, updated_ms: int) -> None:
        self._ms[(kind, record_id)] = {"CreateDate": created_ms, "LastUpdateDate": updated_ms}

    def _tags(self, tags: tuple[int, ...], item_id: int) -> list[dict[str, Any]]:
        return [{"Id": item_id * 10 + n, "TagId": tag} for n, tag in enumerate(tags)]

    def _add_task(
        self, rng: Any, contact_id: int | None, tags: tuple[int, ...], created_ms: int
    ) -> int:
        task_id = self.next_task_id
        self.next_task_id += 7
        main = next((t for t in tags if t in TASK_TITLES), None)
        owner = rng.choice(USERS)[0]
        updated = min(
            max(self.clock_ms, created_ms), created_ms + int(rng.uniform(0, 5) * crm.DAY_MS)
        )
        self.tasks[task_id] = {
            "Id": task_id,
            "Title": rng.choice(TASK_TITLES[main]),
            "Description": rng.choice(
                (
                    "Cliente pediu para ligar antes de ir 📞",
                    "Levar o equipamento novo e recolher o antigo",
                    "Portão azul, falar com o síndico",
                    "",
                )
            ),
            "ContactId": contact_id,
            "DealId": None,
            "OwnerId": owner,
            "DateTime": crm.ploomes_time(created_ms + 3 * crm.DAY_MS),
            "Finished": rng.random() < 0.3,
            "CreatorId": owner,
            "UpdaterId": None,
            "CreateDate": crm.ploomes_time(created_ms),
            "LastUpdateDate": crm.ploomes_time(updated),
            "Tags": self._tags(tags, task_id),
        }
        self._index("task", task_id, created_ms, updated)
        return task_id

    def _add_interaction(
        self, rng: Any, contact_id: int | None, tags: tuple[int, ...], created_ms: int
    ) -> int:
        interaction_id = self.next_interaction_id
        self.next_interaction_id += 11
        creator = rng.choice(USERS)[0]
        main = next((t for t in tags if t in TASK_TITLES), None)
        updated = min(
            max(self.clock_ms, created_ms), created_ms + int(rng.uniform(0, 2) * crm.DAY_MS)
        )
        self.interactions[interaction_id] = {
            "Id": interaction_id,
            "ContactId": contact_id,
            "DealId": None,
            "Date": crm.ploomes_time(created_ms),
            "Length": None,
            "TypeId": rng.choice((1, 2, 3)),
            "Content": f"{rng.choice(TASK_TITLES[main])}: combinado por telefone ✅",
            "Latitude": None,
            "Longitude": None,
            "VerifiedCheckIn": False,
            "OriginalTaskId": None,
            "TotalVoiceCallId": None,
            "CreatorId": creator,
            "UpdaterId": None,
            "CreateDate": crm.ploomes_time(created_ms),
            "LastUpdateDate": crm.ploomes_time(updated),
            "Editable": True,
            "Tags": self._tags(tags, interaction_id),
        }
        self._index("interaction", interaction_id, created_ms, updated)
        return interaction_id

    def tick(self, rng: Any) -> int:
        self.clock_ms += rng.randint(1_000, 5_000)
        return self.clock_ms

    # ----- queries -----------------------------------------------------------------------

    def collection(self, name: str) -> tuple[str, dict[int, dict[str, Any]]]:
        if name == "Contacts":
            return "contact", self.contacts
        if name == "Tasks":
            return "task", self.tasks
        if name == "InteractionRecords":
            return "interaction", self.interactions
        if name == "Tags":
            return "tag", self.tags
        return "user", {u["Id"]: u for u in self.users}

    def value_getter(self, kind: str, entity: EntitySet) -> Callable[[dict, str], Any]:
        def value_of(record: dict[str, Any], prop: str) -> Any:
            if entity.properties.get(prop) == "date":
                cached = self._ms.get((kind, record["Id"]), {}).get(prop)
                if cached is not None:
                    return cached
                raw = record.get(prop)
                return None if raw is None else parse_instant_ms(raw)
            return record.get(prop)

        return value_of

    # ----- changes -----------------------------------------------------------------------

    def create_contact(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("Name")
        if not isinstance(name, str) or not name.strip():
            raise ODataError("Name is required")
        type_id = body.get("TypeId")
        if type_id not in (TYPE_COMPANY, TYPE_PERSON):
            raise ODataError("TypeId must be 1 (company) or 2 (person)")
        allowed = set(_CONTACT_PROPS) | {"Phones", "OtherProperties", "Note", "Website"}
        allowed |= set(ADDRESS_PROPS)
        unknown = sorted(set(body) - allowed - {"Id"})
        if unknown:
            raise ODataError(f"unknown properties: {', '.join(unknown)}")
        rng = words.rng_for(self.seed, crm.S_ADVANCE, self.next_contact_id)
        record = self._contact_record(
            name=name,
            legal_name=body.get("LegalName"),
            type_id=type_id,
            cpf=body.get("CPF"),
            cnpj=body.get("CNPJ"),
            email=body.get("Email"),
            phone=None,
            key=body.get("Key"),
            other_properties=body.get("OtherProperties") or [],
            phones=body.get("Phones") or [],
        )
        for extra in ("Note", "Website", "OwnerId", *ADDRESS_PROPS):
            if extra in body:
                record[extra] = body[extra]
        record["CreatorId"] = INTEGRATION_USER_ID
        now = self.tick(rng)
        contact_id = self._add_contact(record, now)
        return self.contacts[contact_id]

    def advance(
        self, contacts: int, tasks: int, interactions: int, update_contacts: int, minutes: int
    ) -> dict[str, Any]:
        rng = words.rng_for(self.seed, crm.S_ADVANCE, self.clock_ms)
        self.clock_ms += minutes * 60_000
        created_contacts, created_tasks, created_interactions, updated = [], [], [], []
        for _ in range(contacts):
            index = crm.ADVANCE_POOL_OFFSET + self.advanced_clients
            self.advanced_clients += 1
            client = crm.real_client(self.seed, index)
            contact_id = self._add_contact(self._contact_from_client(client, rng), self.tick(rng))
            self.pool_of_contact[contact_id] = index
            created_contacts.append(contact_id)
        valid = sorted(self.pool_of_contact)
        for k in range(tasks):
            tag = (TAG_INSTALACAO, TAG_ENTREGA)[k % 2]
            contact = rng.choice(created_contacts or valid) if valid else None
            created_tasks.append(self._add_task(rng, contact, (tag,), self.tick(rng)))
        for k in range(interactions):
            tag = (TAG_ENTREGA, TAG_INSTALACAO)[k % 2]
            contact = rng.choice(valid) if valid else None
            created_interactions.append(self._add_interaction(rng, contact, (tag,), self.tick(rng)))
        for contact_id in rng.sample(valid, min(update_contacts, len(valid))):
            now = self.tick(rng)
            record = self.contacts[contact_id]
            record["Note"] = f"Atualizado em {crm.ploomes_time(now)}"
            record["LastUpdateDate"] = crm.ploomes_time(now)
            record["UpdaterId"] = USERS[1][0]
            self._ms[("contact", contact_id)]["LastUpdateDate"] = now
            updated.append(contact_id)
        return {
            "contacts": created_contacts,
            "tasks": created_tasks,
            "interactions": created_interactions,
            "updated_contacts": updated,
            "clock": crm.ploomes_time(self.clock_ms),
        }

    def truth(self) -> dict[str, Any]:
        return {
            "contacts": [copy.deepcopy(c) for _, c in sorted(self.contacts.items())],
            "tasks": [copy.deepcopy(t) for _, t in sorted(self.tasks.items())],
            "interactions": [copy.deepcopy(i) for _, i in sorted(self.interactions.items())],
            "users": copy.deepcopy(self.users),
            "tags": {str(k): v["Name"] for k, v in sorted(self.tags.items())},
            "pool_of_contact": {str(k): v for k, v in sorted(self.pool_of_contact.items())},
            "invalid_contacts": list(self.invalid_contacts),
            "clock": crm.ploomes_time(self.clock_ms),
        }


def _task_pattern(k: int) -> tuple[tuple[int, ...], bool]:
    """Tags of seeded task ``k`` and whether it predates the start date."""
    pattern = (
        ((TAG_INSTALACAO,), True),
        ((TAG_ENTREGA,), False),
        ((TAG_INSTALACAO,), False),
        ((), False),
        ((TAG_VISITA,), False),
        ((TAG_INSTALACAO, TAG_ENTREGA), False),
        ((TAG_COBRANCA, TAG_ENTREGA), False),
    )
    return pattern[k % len(pattern)]


def _interaction_pattern(k: int) -> tuple[tuple[int, ...], bool]:
    pattern = (
        ((TAG_ENTREGA,), False),
        ((), False),
        ((TAG_INSTALACAO,), False),
        ((TAG_COBRANCA,), False),
        ((TAG_ENTREGA,), True),
    )
    return pattern[k % len(pattern)]


# The simulator -------------------------------------------------------------------------------


def odata_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(
        {"error": {"code": str(status), "message": message}}, status_code=status, headers=headers
    )


class PloomesSimulator(Simulator):
    """Routes of the simulated Ploomes API and its admin endpoints."""

    name = "ploomes"
    prefix = "/ploomes"
    CREATE_ENDPOINTS = ("Contacts",)

    def reset(self, config: SandboxConfig) -> None:
        hold = getattr(self, "hold", None)
        if hold is not None:
            hold.release()
        self.world = PloomesWorld(config)
        self.limit = crm.ApiRateLimit(config.ploomes_rate_limit_per_second)
        self.hold = crm.CreateHold()
        self.creates: dict[str, int] = {}
        self.records_served: dict[str, int] = {}

    def truth(self) -> dict[str, Any]:
        with self.world.lock:
            return self.world.truth()

    def _answer(self, record: dict[str, Any]) -> dict[str, Any]:
        """A record as the API answers it: documented, or as a divergent tenant does."""
        if not self.divergent:
            return record
        answered = dict(record)
        for name in ("CPF", "CNPJ"):
            answered[name] = crm.document_as_number(record.get(name))
        if "Id" in answered and answered["Id"] is not None:
            answered["Id"] = str(answered["Id"])
        return answered

    def _ignores(self, text: str) -> bool:
        """Whether a divergent tenant ignores this ``$filter`` (an ``or`` or ``any`` clause)."""
        return self.divergent and bool(_OR_OR_ANY.search(text))

    def routes(self) -> list[Route]:
        return [
            Route("/Contacts", self._guard(self.list_or_create_contacts), methods=["GET", "POST"]),
            Route("/Tasks", self._guard(self.list_entity("Tasks")), methods=["GET"]),
            Route(
                "/InteractionRecords",
                self._guard(self.list_entity("InteractionRecords")),
                methods=["GET"],
            ),
            Route("/Users", self._guard(self.list_entity("Users")), methods=["GET"]),
            Route("/Tags", self._guard(self.list_entity("Tags")), methods=["GET"]),
        ]

    def admin_routes(self) -> list[Route]:
        return [
            Route("/truth", self.admin_truth, methods=["GET"]),
            Route("/stats", self.admin_stats, methods=["GET", "DELETE"]),
            Route("/advance", self.admin_advance, methods=["POST"]),
            Route("/tags", self.admin_tags, methods=["PUT"]),
            Route("/hold", self.admin_hold, methods=["GET", "PUT", "DELETE"]),
            Route("/rate_limit", self.admin_rate_limit, methods=["GET", "PUT"]),
        ]

    # ----- public endpoints --------------------------------------------------------------

    def _guard(self, handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
        async def guarded(request: Request) -> Response:
            retry_after = self.limit.admit()
            if retry_after is not None:
                return odata_error(
                    429,
                    "Too many requests; slow down.",
                    headers={"Retry-After": str(retry_after)},
                )
            if request.headers.get("user-key") != SANDBOX_PLOOMES_USER_KEY:
                return odata_error(401, "Invalid or missing User-Key")
            return await handler(request)

        return guarded

    async def list_or_create_contacts(self, request: Request) -> Response:
        if request.method == "POST":
            return await self.create_contact(request)
        return self._list(request, "Contacts")

    def list_entity(self, name: str) -> Callable[[Request], Any]:
        async def handler(request: Request) -> Response:
            return self._list(request, name)

        return handler

    def _list(self, request: Request, name: str) -> Response:
        entity = ENTITY_SETS[name]
        params = request.query_params
        try:
            top = _int_param(params.get("$top"), MAX_TOP, "$top")
            skip = _int_param(params.get("$skip"), 0, "$skip")
            top = min(max(top, 0), MAX_TOP)
            expands = _expands(params.get("$expand"), entity)
            select = _select(params.get("$select"), entity)
            with self.world.lock:
                kind, records = self.world.collection(name)
                value_of = self.world.value_getter(kind, entity)
                rows = list(records.values())
                if params.get("$filter") and not self._ignores(params["$filter"]):
                    predicate = _FilterParser(params["$filter"], entity, value_of).parse()
                    rows = [r for r in rows if predicate(r)]
                rows = _order(rows, params.get("$orderby"), entity, value_of)
                page = [
                    self._answer(_shape(r, entity, expands, select))
                    for r in rows[skip : skip + top]
                ]
                total = len(rows)
        except ODataError as exc:
            return odata_error(400, str(exc))
        body: dict[str, Any] = {
            "@odata.context": f"{str(request.base_url).rstrip('/')}{self.prefix}/$metadata#{name}",
            "value": page,
        }
        if (params.get("$count") or "").lower() == "true" and not self.divergent:
            body["@odata.count"] = total
        if skip + top < total and top > 0:
            body["@odata.nextLink"] = _next_link(request, skip + top, top)
        self.records_served[name] = self.records_served.get(name, 0) + len(page)
        return JSONResponse(body)

    async def create_contact(self, request: Request) -> Response:
        try:
            body = await json_body(request)
            with self.world.lock:
                record = copy.deepcopy(self.world.create_contact(body))
        except ODataError as exc:
            return odata_error(400, str(exc))
        except ValueError as exc:
            return odata_error(400, str(exc))
        self.creates["Contacts"] = self.creates.get("Contacts", 0) + 1
        await self.hold.after_create("Contacts")
        return JSONResponse(
            {
                "@odata.context": f"{str(request.base_url).rstrip('/')}{self.prefix}"
                "/$metadata#Contacts",
                "value": [self._answer(record)],
            }
        )

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

    async def admin_tags(self, request: Request) -> Response:
        """``{"<tag id>": "new name" | null}``: renames tags, or removes them (null); answers
        the tags as ``Tags`` lists them."""
        try:
            body = await json_body(request)
            changes = {int(k): v for k, v in body.items()}
        except (ValueError, AttributeError) as exc:
            return JSONResponse({"error": f"body must map tag ids to names: {exc}"}, 400)
        with self.world.lock:
            for tag_id, name in changes.items():
                if name is None:
                    self.world.tags.pop(tag_id, None)
                else:
                    default = {"Id": tag_id, "EntityId": TAG_ENTITY_TASKS, "Color": "#1e88e5"}
                    self.world.tags.setdefault(tag_id, default)["Name"] = str(name)
            return JSONResponse([copy.deepcopy(t) for _, t in sorted(self.world.tags.items())])

    async def admin_advance(self, request: Request) -> Response:
        try:
            body = await json_body(request)
        except ValueError as exc:
            return odata_error(400, str(exc))
        names = ("contacts", "tasks", "interactions", "update_contacts", "minutes")
        unknown = sorted(set(body) - set(names))
        if unknown:
            return odata_error(400, f"unknown fields: {', '.join(unknown)}")
        counts: dict[str, int] = {}
        for name in names:
            value = body.get(name, 0)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                return odata_error(400, f"{name} must be a non-negative integer")
            counts[name] = value
        with self.world.lock:
            return JSONResponse(self.world.advance(**counts))

    async def admin_hold(self, request: Request) -> Response:
        if request.method == "PUT":
            try:
                endpoint, after, seconds = crm.parse_hold(
                    await json_body(request), self.CREATE_ENDPOINTS
                )
            except ValueError as exc:
                return odata_error(400, str(exc))
            self.hold.arm(endpoint, after, seconds)
        elif request.method == "DELETE":
            self.hold.release()
        return JSONResponse(self.hold.as_dict())

    async def admin_rate_limit(self, request: Request) -> Response:
        if request.method == "PUT":
            try:
                body = await json_body(request)
            except ValueError as exc:
                return odata_error(400, str(exc))
            value = body.get("per_second")
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                return odata_error(400, "per_second must be a non-negative integer")
            self.limit.configure(value)
        return JSONResponse(self.limit.stats())


def _next_link(request: Request, skip: int, top: int) -> str:
    """The next page's URL, with ``$`` left readable as Ploomes writes it."""
    params = dict(request.query_params)
    params.update({"$top": str(top), "$skip": str(skip)})
    query = urlencode(params, quote_via=quote, safe="$,'()/:")
    return f"{str(request.url).split('?', 1)[0]}?{query}"


def _int_param(raw: str | None, default: int, name: str) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ODataError(f"{name} must be an integer") from None
    if value < 0:
        raise ODataError(f"{name} must not be negative")
    return value


def _expands(raw: str | None, entity: EntitySet) -> set[str]:
    if not raw:
        return set()
    names = {item.split("(", 1)[0].strip() for item in _split_top_level(raw)}
    unknown = sorted(names - set(entity.expands))
    if unknown:
        raise ODataError(
            f"Could not find a navigation property named '{unknown[0]}' on '{entity.name}'"
        )
    return names


def _select(raw: str | None, entity: EntitySet) -> list[str] | None:
    if not raw:
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    for name in names:
        if name not in entity.properties and name not in entity.expands:
            raise ODataError(f"Could not find a property named '{name}' on '{entity.name}'")
    return names


def _order(
    rows: list[dict[str, Any]],
    raw: str | None,
    entity: EntitySet,
    value_of: Callable[[dict, str], Any],
) -> list[dict[str, Any]]:
    keys: list[tuple[str, bool]] = []
    for item in (raw or "Id").split(","):
        parts = item.split()
        if not parts:
            continue
        prop = parts[0]
        direction = parts[1].lower() if len(parts) > 1 else "asc"
        if prop not in entity.properties or direction not in ("asc", "desc") or len(parts) > 2:
            raise ODataError(f"invalid $orderby item {item.strip()!r}")
        keys.append((prop, direction == "desc"))
    if not any(prop == "Id" for prop, _ in keys):
        keys.append(("Id", False))
    for prop, descending in reversed(keys):
        rows.sort(key=lambda r, p=prop: _sort_key(value_of(r, p)), reverse=descending)
    return rows


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, 0) if value is None else (1, value)


def _shape(
    record: dict[str, Any], entity: EntitySet, expands: set[str], select: list[str] | None
) -> dict[str, Any]:
    shaped = {
        k: copy.deepcopy(v)
        for k, v in record.items()
        if (k not in entity.expands or k in expands) and (select is None or k in select)
    }
    for name in expands:
        shaped.setdefault(name, copy.deepcopy(record.get(name) or []))
    return shaped
