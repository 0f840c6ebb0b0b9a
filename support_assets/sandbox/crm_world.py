"""What the Ploomes and Milvus worlds share: the seeded pool of real clients, how each system
writes their documents and the invalid documents each one holds (the server-side mechanics
both APIs have are in ``crm_api``).

Both simulators build their world from the same ``SandboxConfig`` and seed, so they agree on
who the real clients are and disagree on everything else, as two systems kept in sync by a
fragile script do:

* clients ``[0, shared)`` of the pool are in both systems, ``[shared, shared + ploomes_only)``
  only in Ploomes and the next ``milvus_only`` only in Milvus;
* Ploomes writes documents formatted, bare or spaced; Milvus keeps digits, sometimes
  formatted, and a number that lost its leading zeros when it was created from a JSON number;
* each system holds ``crm_invalid_documents`` clients whose document no validator accepts;
* Milvus holds one client twice (the old script's duplicate) and one blocked client that its
  default listing hides.

The first pool entries are fixed kinds so every world of a few clients has the edge cases: a
CPF with a leading zero, a numeric CNPJ, an alphanumeric CNPJ that Ploomes typed as a person
(its CNPJ in the ``CPF`` field), and another CPF.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from stdnum.br import cnpj as stdnum_cnpj
from stdnum.br import cpf as stdnum_cpf

from support_assets.sandbox import octadesk_data as words
from support_assets.sandbox.base import SandboxConfig

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
DAY_MS = 86_400_000

# Hash streams of the CRM worlds (independent of the other simulators').
S_POOL, S_PLOOMES, S_MILVUS, S_TASKS, S_INTERACTIONS, S_TICKETS, S_ADVANCE = (
    101,
    102,
    103,
    104,
    105,
    106,
    107,
)

#: Pool indices of clients that only exist from ``advance`` calls (never in the seeded worlds).
ADVANCE_POOL_OFFSET = 1_000_000

#: The company's staff: Ploomes users, and the same people as Milvus technicians.
STAFF = (
    (10003850, "Bruno Alberto", "bruno.alberto@empresa.com.br"),
    (10003851, "Carla Dias", "carla.dias@empresa.com.br"),
    (10003852, "Tiago Gonçalves", "tiago.goncalves@empresa.com.br"),
    (10003853, "Larissa Magalhães", "larissa.magalhaes@empresa.com.br"),
)
COMPANY_KINDS = (
    "Padaria", "Transportes", "Mercado", "Clínica", "Auto Peças", "Construtora", "Farmácia",
    "Distribuidora", "Oficina", "Papelaria", "Comércio de Ferragens", "Laticínios",
    "Restaurante", "Escola", "Tecnologia", "Móveis",
)  # fmt: skip
COMPANY_SUFFIXES = ("Ltda", "ME", "EIRELI", "S.A.", "Ltda. EPP")
CITIES = (
    ("São Paulo", "SP"), ("Campinas", "SP"), ("Rio de Janeiro", "RJ"), ("Belo Horizonte", "MG"),
    ("Curitiba", "PR"), ("Florianópolis", "SC"), ("Porto Alegre", "RS"), ("Salvador", "BA"),
    ("Recife", "PE"), ("Fortaleza", "CE"), ("Goiânia", "GO"), ("Brasília", "DF"),
)  # fmt: skip
STREETS = (
    "Rua das Acácias", "Avenida Brasil", "Rua XV de Novembro", "Rua São João",
    "Avenida Getúlio Vargas", "Rua da Conceição", "Travessa do Comércio", "Rua Sete de Setembro",
)  # fmt: skip


@dataclass(frozen=True)
class RealClient:
    """One real client of the company, as both systems should know it."""

    index: int
    kind: str  # "cpf" or "cnpj"
    document: str  # compact: 11 digits, or 14 characters (digits or the alphanumeric CNPJ)
    name: str  # person's name, or the trade name
    legal_name: str
    email: str
    phone: str
    city: str
    state: str
    street: str
    number: str
    zip_code: str

    @property
    def is_person(self) -> bool:
        return self.kind == "cpf"

    @property
    def formatted(self) -> str:
        return (stdnum_cpf if self.is_person else stdnum_cnpj).format(self.document)

    @property
    def is_alphanumeric(self) -> bool:
        return not self.document.isdigit()


def _cpf(rng: random.Random, leading_zero: bool) -> str:
    base = f"{rng.randint(1, 99_999_999 if leading_zero else 999_999_998):09d}"
    if leading_zero and not base.startswith("0"):
        base = "0" + base[1:]
    if len(set(base)) == 1:
        base = "012345678"
    return base + words.cpf_check_digits(base)


def _cnpj(rng: random.Random, alphanumeric: bool, leading_zero: bool) -> str:
    if alphanumeric:
        alphabet = string.digits + string.ascii_uppercase
        root = "".join(rng.choice(alphabet) for _ in range(8))
        if root.isdigit():
            root = root[:2] + rng.choice(string.ascii_uppercase) + root[3:]
        branch = "".join(rng.choice(alphabet) for _ in range(4))
    else:
        root = f"{rng.randint(1, 99_999_999):08d}"
        if leading_zero and not root.startswith("0"):
            root = "0" + root[1:]
        branch = f"{rng.choice((1, 1, 1, 2, 3)):04d}"
    base = root + branch
    return base + stdnum_cnpj.calc_check_digits(base)


#: Kinds of the first pool entries, so small worlds still hold every edge case.
_FIXED_KINDS = (
    ("cpf", False, True),  # CPF with a leading zero (Milvus may have lost it)
    ("cnpj", False, False),  # numeric CNPJ
    ("cnpj", True, False),  # alphanumeric CNPJ (typed as a person in Ploomes)
    ("cpf", False, False),
    ("cnpj", False, True),  # CNPJ with a leading zero
)


def real_client(seed: int, index: int) -> RealClient:
    """Pool entry ``index``: a pure function of the seed and the index."""
    rng = words.rng_for(seed, S_POOL, index)
    if index < len(_FIXED_KINDS):
        kind, alphanumeric, leading_zero = _FIXED_KINDS[index]
    else:
        kind = "cpf" if rng.random() < 0.55 else "cnpj"
        alphanumeric = kind == "cnpj" and rng.random() < 0.2
        leading_zero = rng.random() < 0.2
    person_name, email = words.person(rng)
    city, state = rng.choice(CITIES)
    if kind == "cpf":
        document = _cpf(rng, leading_zero)
        name = legal_name = person_name
    else:
        document = _cnpj(rng, alphanumeric, leading_zero)
        surname = person_name.split()[-1]
        name = f"{rng.choice(COMPANY_KINDS)} {surname}"
        legal_name = f"{name} {rng.choice(COMPANY_SUFFIXES)}"
        email = f"contato@{words.ascii_slug(name).replace('.', '')}.com.br"
    return RealClient(
        index=index,
        kind=kind,
        document=document,
        name=name,
        legal_name=legal_name,
        email=email,
        phone=words.phone(rng),
        city=city,
        state=state,
        street=rng.choice(STREETS),
        number=str(rng.randint(1, 3000)),
        zip_code=f"{rng.randint(1_000, 99_999):05d}{rng.randint(0, 999):03d}",
    )


@dataclass(frozen=True)
class WorldShape:
    """How many clients of each kind the two worlds hold (clamped to what fits)."""

    ploomes_contacts: int
    milvus_clients: int
    shared: int
    ploomes_only: int
    milvus_only: int
    ploomes_invalid: int
    milvus_invalid: int
    milvus_duplicates: int
    milvus_blocked: int

    @classmethod
    def from_config(cls, config: SandboxConfig) -> WorldShape:
        p, m = config.ploomes_contacts, config.milvus_clients
        p_invalid = min(config.crm_invalid_documents, p)
        duplicates = 1 if m - config.crm_invalid_documents >= 4 else 0
        m_invalid = min(config.crm_invalid_documents, max(0, m - duplicates))
        p_valid, m_valid = p - p_invalid, m - m_invalid - duplicates
        shared = min(config.crm_shared_clients, p_valid, m_valid)
        return cls(
            ploomes_contacts=p,
            milvus_clients=m,
            shared=shared,
            ploomes_only=p_valid - shared,
            milvus_only=m_valid - shared,
            ploomes_invalid=p_invalid,
            milvus_invalid=m_invalid,
            milvus_duplicates=duplicates,
            milvus_blocked=1 if shared >= 2 else 0,
        )

    def ploomes_pool(self) -> range:
        return range(0, self.shared + self.ploomes_only)

    def milvus_pool(self) -> list[int]:
        shared = list(range(self.shared))
        start = self.shared + self.ploomes_only
        return shared + list(range(start, start + self.milvus_only))


# How each system writes a document -----------------------------------------------------------


def ploomes_document(client: RealClient, rng: random.Random) -> str:
    """Ploomes keeps what people typed: formatted mostly, bare digits or spaced sometimes."""
    pick = rng.random()
    if pick < 0.6:
        return client.formatted
    if pick < 0.85:
        return client.document.lower() if client.is_alphanumeric else client.document
    return " ".join(client.formatted.replace(".", " ").replace("/", " ").replace("-", " ").split())


def milvus_document(client: RealClient, rng: random.Random) -> str:
    """Milvus keeps digits, sometimes formatted, and numbers that lost their leading zeros."""
    if client.document.startswith("0") and client.document.isdigit() and rng.random() < 0.6:
        return client.document.lstrip("0")
    if rng.random() < 0.15:
        return client.formatted
    return client.document


#: Documents no validator accepts, as people and old scripts wrote them (Ploomes side):
#: (CPF field, CNPJ field, what is wrong).
PLOOMES_INVALID = (
    ("390.533.447-06", None, "CPF check digit"),
    (None, None, "no document"),
    ("111.111.111-11", None, "one digit repeated"),
    (None, "16.727.230/0001-98", "CNPJ check digit"),
    ("123.456.789", None, "nine digits"),
    (None, "12.ABC.345/01DE-3X", "letter in the check digits"),
)
#: The same on the Milvus side (``cnpj_cpf``); the first is the API documentation's sample.
MILVUS_INVALID = ("111111000111", "12345678900", "", "00000000000", "11.222.333/0001-00")


# Time ------------------------------------------------------------------------------------------


def sao_paulo(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(SAO_PAULO)


def ploomes_time(ms: int) -> str:
    """Ploomes's form: São Paulo offset and up to three decimals (``…T14:59:45.13-03:00``)."""
    moment = sao_paulo(ms)
    fraction = f"{ms % 1000:03d}".rstrip("0")
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    offset = moment.strftime("%z")
    return f"{text}{'.' + fraction if fraction else ''}{offset[:3]}:{offset[3:]}"


def milvus_time(ms: int) -> str:
    """Milvus's form: São Paulo wall time without an offset (``2019-11-13 06:00:02``)."""
    return sao_paulo(ms).strftime("%Y-%m-%d %H:%M:%S")


def document_as_number(value: Any) -> Any:
    """A document as a divergent tenant answers it: a JSON number when it is digits once
    punctuation is gone (so its leading zeros are lost), unchanged otherwise."""
    if not isinstance(value, str):
        return value
    digits = "".join(c for c in value if c.isalnum())
    return int(digits) if digits.isdigit() else value
