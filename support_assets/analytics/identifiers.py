"""Pseudonymous identifiers of customers, and which ones each source's records carry.

Every identifier a source holds (a CPF/CNPJ validated with python-stdnum, an e-mail case-folded,
a phone in E.164 read with region BR, a Milvus client token, a web helpdesk client id) becomes a
keyed hash; raw documents, e-mails and phones never leave this module.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from support_assets.analytics.frames import value_or_none
from support_assets.core.identity import (
    Document,
    customer_key,
    document_or_reason,
    identifier_key,
    normalize_email,
    normalize_phone,
)
from support_assets.sources.crm import assets as crm


@dataclass(frozen=True)
class Identifier:
    """One pseudonymous identifier: its kind, its keyed hash, and for documents CPF or CNPJ."""

    kind: str
    key: str
    document_type: str | None = None


@dataclass
class IdentifierMaker:
    """Turns what sources hold into pseudonymous identifiers (keyed hashes, never raw values)."""

    secret: str

    def document(self, value: Any, hint: str | None = None) -> Identifier | None:
        value = value_or_none(value)
        if value is None:
            return None
        document, _ = document_or_reason(value, hint)
        return self.of_document(document)

    def of_document(self, document: Document | None) -> Identifier | None:
        """A validated document (or None) as the identifier keyed like its customer_key."""
        if document is None:
            return None
        return Identifier("document", customer_key(document, self.secret), document.kind)

    def document_key(self, key: Any) -> Identifier | None:
        """A document already pseudonymised by its source (service events: a CPF's key)."""
        key = value_or_none(key)
        return None if not key else Identifier("document", str(key), "cpf")

    def email(self, value: Any) -> Identifier | None:
        email = normalize_email(value_or_none(value))
        return None if email is None else Identifier("email", self._key("email", email))

    def phone(self, value: Any) -> Identifier | None:
        phone = normalize_phone(value_or_none(value))
        return None if phone is None else Identifier("phone", self._key("phone", phone))

    def other(self, kind: str, value: Any) -> Identifier | None:
        value = value_or_none(value)
        if value is None or str(value).strip() == "":
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return Identifier(kind, self._key(kind, str(value).strip()))

    def _key(self, kind: str, value: str) -> str:
        return identifier_key(kind, value, self.secret)


def _present(items: Iterable[Identifier | None]) -> list[Identifier]:
    return [i for i in items if i is not None]


def ploomes_contact_identifiers(
    record: Mapping[str, Any], ids: IdentifierMaker
) -> list[Identifier]:
    """A Ploomes contact's document, e-mails (main and other properties) and phones."""
    document, _ = crm.ploomes_contact_document(record)
    found = [ids.of_document(document), ids.email(record.get("Email"))]
    for prop in record.get("OtherProperties") or []:
        if isinstance(prop, dict) and isinstance(prop.get("StringValue"), str):
            found.append(ids.email(prop["StringValue"]))
    for phone in record.get("Phones") or []:
        if isinstance(phone, dict):
            found.append(ids.phone(phone.get("PhoneNumber")))
    return _present(found)


def milvus_client_identifiers(record: Mapping[str, Any], ids: IdentifierMaker) -> list[Identifier]:
    """A Milvus client's document and token."""
    document, _ = crm.milvus_client_document(record)
    return _present([ids.of_document(document), ids.other("milvus_token", record.get("token"))])


def octadesk_ticket_identifiers(row: Mapping[str, Any], ids: IdentifierMaker) -> list[Identifier]:
    """An Octadesk ticket's CPF/CNPJ custom fields and e-mails."""
    return _present(
        [
            ids.document(row.get("cf_cpf"), "cpf"),
            ids.document(row.get("cf_cnpj"), "cnpj"),
            ids.email(row.get("requester_email")),
            ids.email(row.get("cf_email_do_cliente")),
        ]
    )


def octadesk_chat_identifiers(row: Mapping[str, Any], ids: IdentifierMaker) -> list[Identifier]:
    """An Octadesk chat contact's e-mail and phone."""
    return _present([ids.email(row.get("contact_email")), ids.phone(row.get("contact_phone"))])


def helpdesk_web_identifiers(row: Mapping[str, Any], ids: IdentifierMaker) -> list[Identifier]:
    """A web helpdesk ticket's client id."""
    return _present([ids.other("helpdesk_web_client", row.get("client_id"))])


def service_event_identifiers(row: Mapping[str, Any], ids: IdentifierMaker) -> list[Identifier]:
    """A service event's customer key (its CPF, pseudonymised at staging)."""
    return _present([ids.document_key(row.get("customer_key"))])


def milvus_ticket_identifiers(row: Mapping[str, Any], ids: IdentifierMaker) -> list[Identifier]:
    """A Milvus ticket's client token."""
    return _present([ids.other("milvus_token", row.get("cliente_token"))])
