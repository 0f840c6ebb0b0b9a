"""The simulated Ploomes account: contacts, tasks, interactions, users and tags, seeded from
the CRM pool, moved on by the admin API.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

from support_assets.sandbox import crm_world as crm
from support_assets.sandbox import octadesk_data as words
from support_assets.sandbox.base import SandboxConfig, parse_instant_ms
from support_assets.sandbox.ploomes.odata import ODataError
from support_assets.sandbox.ploomes.schema import (
    ADDRESS_PROPS,
    BILLING_EMAIL_FIELD,
    CONTACT_PROPS,
    INTEGRATION_USER_ID,
    START_DATE_MS,
    TAG_COBRANCA,
    TAG_ENTITY_TASKS,
    TAG_ENTREGA,
    TAG_IDS,
    TAG_INSTALACAO,
    TAG_VISITA,
    TASK_TITLES,
    TYPE_COMPANY,
    TYPE_PERSON,
    USERS,
    EntitySet,
)


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
        allowed = set(CONTACT_PROPS) | {"Phones", "OtherProperties", "Note", "Website"}
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
