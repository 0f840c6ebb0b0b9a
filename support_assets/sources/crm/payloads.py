"""Request bodies the syncs send: a Milvus client from a Ploomes contact, a Ploomes contact from
a Milvus client, and a Milvus ticket from a tagged Ploomes task or interaction."""

from collections.abc import Mapping
from typing import Any

from support_assets.core.identity import Document
from support_assets.sources.crm.config import TAG_LABELS
from support_assets.sources.crm.milvus import document_for_milvus
from support_assets.sources.crm.ploomes import TYPE_COMPANY, TYPE_PERSON
from support_assets.sources.crm.ticket_items import WorkItem, ticket_marker
from support_assets.sources.crm.verify import int_id

TICKET_CATEGORIES = {"installation": "Instalação", "delivery": "Entrega"}


def _ploomes_phones(contact: Mapping[str, Any]) -> list[str]:
    phones = [p.get("PhoneNumber") for p in contact.get("Phones") or [] if isinstance(p, dict)]
    return [str(p).strip() for p in phones if p not in (None, "") and str(p).strip()]


def milvus_client_payload(
    contact: Mapping[str, Any], document: Document, document_as: str = "string"
) -> dict[str, Any]:
    """``cliente/criar`` body for a Ploomes contact (person or company by the document), with
    its e-mail, phones (first as mobile, second as landline) and address when it has them."""
    name = contact.get("Name") or contact.get("LegalName") or "Cliente sem nome"
    phones = _ploomes_phones(contact)
    payload: dict[str, Any] = {
        "cliente_documento": document_for_milvus(document, document_as),
        "cliente_site": contact.get("Website") or "",
        "cliente_observacao": f"Criado pela integração a partir do contato {contact.get('Id')} "
        "do Ploomes",
        "cliente_ativo": True,
        "cliente_id_integracao": int_id(contact.get("Id")),
        "cliente_contatos": [
            {
                "contato_padrao": True,
                "contato_descricao": name,
                "contato_email": contact.get("Email") or "",
                "contato_telefone": phones[1] if len(phones) > 1 else "",
                "contato_celular": phones[0] if phones else "",
                "contato_observacao": "",
            }
        ],
    }
    if contact.get("StreetAddress") or contact.get("ZipCode"):
        payload["cliente_enderecos"] = [
            {
                "endereco_padrao": True,
                "endereco_descricao": "Principal",
                "endereco_cep": str(contact.get("ZipCode") or ""),
                "endereco_logradouro": contact.get("StreetAddress") or "",
                "endereco_numero": str(contact.get("StreetAddressNumber") or ""),
                "endereco_complemento": contact.get("StreetAddressLine2") or "",
                "endereco_bairro": contact.get("Neighborhood") or "",
                "endereco_cidade": "",
                "endereco_estado": "",
            }
        ]
    if document.is_person:
        payload["cliente_pessoa_fisica"] = {"nome": name}
    else:
        payload["cliente_pessoa_juridica"] = {
            "nome_fantasia": name,
            "razao_social": contact.get("LegalName") or name,
            "inscricao_estadual": "",
        }
    return payload


def _default_first(items: Any) -> list[dict[str, Any]]:
    """A Milvus list of contacts or addresses, the default (``*_padrao``) first."""
    rows = [i for i in items or [] if isinstance(i, dict)] if isinstance(items, list) else []
    return sorted(rows, key=lambda i: not (i.get("contato_padrao") or i.get("endereco_padrao")))


def _text_of(*values: Any) -> str:
    return next((str(v).strip() for v in values if v not in (None, "") and str(v).strip()), "")


def ploomes_contact_payload(client: Mapping[str, Any], document: Document) -> dict[str, Any]:
    """``POST /Contacts`` body for a Milvus client (type by the document, formatted), with the
    e-mail, phones and address the Milvus record carries (``contatos``/``enderecos`` lists or
    flat fields; Milvus's client listing often has none, and then none is sent)."""
    name = client.get("nome_fantasia") or client.get("razao_social") or "Cliente sem nome"
    payload: dict[str, Any] = {
        "Name": name,
        "TypeId": TYPE_PERSON if document.is_person else TYPE_COMPANY,
        "Key": f"milvus:{client.get('id')}",
        "Note": f"Criado pela integração a partir do cliente {client.get('id')} do Milvus",
    }
    if document.is_person:
        payload["CPF"] = document.formatted
    else:
        payload["CNPJ"] = document.formatted
        payload["LegalName"] = client.get("razao_social") or name
    contacts = _default_first(client.get("contatos") or client.get("cliente_contatos"))
    contact = contacts[0] if contacts else {}
    email = _text_of(contact.get("contato_email"), client.get("email"))
    if email:
        payload["Email"] = email
    phones = [
        _text_of(contact.get("contato_celular"), client.get("celular")),
        _text_of(contact.get("contato_telefone"), client.get("telefone")),
    ]
    numbers = list(dict.fromkeys(p for p in phones if p))
    if numbers:
        payload["Phones"] = [{"PhoneNumber": number} for number in numbers]
    addresses = _default_first(client.get("enderecos") or client.get("cliente_enderecos"))
    address = addresses[0] if addresses else {}
    fields = {
        "StreetAddress": address.get("endereco_logradouro"),
        "StreetAddressNumber": address.get("endereco_numero"),
        "StreetAddressLine2": address.get("endereco_complemento"),
        "Neighborhood": address.get("endereco_bairro"),
        "ZipCode": address.get("endereco_cep"),
    }
    payload.update({k: _text_of(v) for k, v in fields.items() if _text_of(v)})
    place = " / ".join(
        p
        for p in (
            _text_of(address.get("endereco_cidade")),
            _text_of(address.get("endereco_estado")),
        )
        if p
    )
    if place:
        payload["Note"] += f". Cidade: {place}"
    if _text_of(client.get("site")):
        payload["Website"] = _text_of(client.get("site"))
    return payload


def ticket_payload(
    item: WorkItem,
    token: str,
    contact: Mapping[str, Any],
    users: Mapping[int, Mapping[str, Any]],
    desk: str,
) -> dict[str, Any]:
    """``chamado/criar`` body for a tagged item: its marker and tag in the subject, the
    item's text, the contact's e-mail and name, and the Ploomes owner as technician."""
    record = item.record
    marker = ticket_marker(item.source, item.source_id)
    label = TAG_LABELS[item.tag]
    if item.source == "task":
        title = record.get("Title") or "Tarefa"
        body = record.get("Description") or ""
        owner = users.get(record.get("OwnerId") or 0) or {}
    else:
        title = (record.get("Content") or "Interação").splitlines()[0][:120]
        body = record.get("Content") or ""
        owner = users.get(record.get("CreatorId") or 0) or {}
    what = "tarefa" if item.source == "task" else "interação"
    description = (f"{body}\n\n" if body.strip() else "") + (
        f"Aberto pela integração a partir da {what} {item.source_id} do Ploomes ({label})."
    )
    payload = {
        "cliente_id": token,
        "chamado_assunto": f"{marker} {label}: {title}",
        "chamado_descricao": description,
        "chamado_email": contact.get("Email") or "",
        "chamado_telefone": "",
        "chamado_contato": contact.get("Name") or "",
        "chamado_mesa": desk,
        "chamado_setor": "",
        "chamado_categoria_primaria": TICKET_CATEGORIES[item.tag],
        "chamado_categoria_secundaria": "",
    }
    if owner.get("Email"):
        payload["chamado_tecnico"] = owner["Email"]
    return payload
