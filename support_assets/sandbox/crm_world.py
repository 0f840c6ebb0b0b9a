"""What the Ploomes and Milvus simulators share: the seeded pool of real clients, how each
system writes their documents, the invalid documents each one holds, and the server-side
mechanics both APIs have (a rate limit with ``Retry-After``, per-endpoint create counters, and
the test switch that holds a create's answer so a run can be killed right after it).

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

import asyncio
import contextlib
import math
import random
import string
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
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


# Server mechanics shared by both simulators ----------------------------------------------------

#: A request this much before the end of a ``Retry-After`` still counts as on time (clocks).
RETRY_AFTER_TOLERANCE_S = 0.05


class ApiRateLimit:
    """A token bucket of ``per_second`` requests a second (bursts up to ``per_second``).

    A refused request gets 429 with ``Retry-After`` in whole seconds; a request that arrives
    before that time is up is refused again and counted as ``requests_before_retry_after``.
    Every request (refused ones too) is counted in the second it arrived, so the stats show
    how long a client kept above the limit. ``per_second=0`` means no limit.
    """

    def __init__(self, per_second: int, clock: Any = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.configure(per_second)

    def configure(self, per_second: int) -> None:
        with self._lock:
            self.per_second = per_second
            self._tokens = float(max(per_second, 1))
            self._start = self._last = self._clock()
            self._blocked_until = 0.0
            self.accepted = 0
            self.refused = 0
            self.early = 0
            self._seconds: Counter[int] = Counter()

    def admit(self) -> int | None:
        """None when the request may go on; otherwise the ``Retry-After`` seconds to answer."""
        with self._lock:
            now = self._clock()
            self._seconds[int(now - self._start)] += 1
            if not self.per_second:
                self.accepted += 1
                return None
            if now < self._blocked_until - RETRY_AFTER_TOLERANCE_S:
                self.early += 1
                self.refused += 1
                return max(1, math.ceil(self._blocked_until - now))
            self._tokens = min(
                float(self.per_second), self._tokens + (now - self._last) * self.per_second
            )
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                self.accepted += 1
                return None
            retry_after = max(1, math.ceil((1 - self._tokens) / self.per_second))
            self._blocked_until = now + retry_after
            self.refused += 1
            return retry_after

    def stats(self) -> dict[str, Any]:
        with self._lock:
            over = sorted(
                s for s, n in self._seconds.items() if self.per_second and n > self.per_second
            )
            longest = streak = 0
            previous = None
            for second in over:
                streak = streak + 1 if previous is not None and second == previous + 1 else 1
                longest = max(longest, streak)
                previous = second
            return {
                "limit_per_second": self.per_second,
                "accepted": self.accepted,
                "rate_limited": self.refused,
                "requests_before_retry_after": self.early,
                "busiest_second": max(self._seconds.values(), default=0),
                "seconds_over_limit": len(over),
                "longest_run_of_seconds_over_limit": longest,
            }


@dataclass
class CreateHold:
    """The test switch "crash after create": the ``after``-th create on ``endpoint`` (counted
    from when it is armed) is applied, and then its answer is held for up to ``seconds`` or
    until released, so a test can kill the caller right after the create and before it could
    record the result."""

    endpoint: str | None = None
    after: int = 1
    seconds: float = 120.0
    seen: int = 0
    held: int = 0
    released: int = 0
    _event: asyncio.Event | None = field(default=None, repr=False)

    def arm(self, endpoint: str, after: int, seconds: float) -> None:
        self.release()
        self.endpoint, self.after, self.seconds, self.seen = endpoint, after, seconds, 0

    def release(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None
            self.released += 1
        self.endpoint = None

    async def after_create(self, endpoint: str) -> None:
        if self.endpoint != endpoint:
            return
        self.seen += 1
        if self.seen != self.after:
            return
        self.held += 1
        event = self._event = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), self.seconds)

    def as_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "after": self.after,
            "seconds": self.seconds,
            "creates_seen": self.seen,
            "held": self.held,
            "released": self.released,
        }


def parse_hold(body: dict[str, Any], endpoints: tuple[str, ...]) -> tuple[str, int, float]:
    """Validates ``{"endpoint", "after", "seconds"}`` of a hold request (ValueError if bad)."""
    unknown = sorted(set(body) - {"endpoint", "after", "seconds"})
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(unknown)}")
    endpoint = body.get("endpoint", endpoints[0])
    if endpoint not in endpoints:
        raise ValueError(f"endpoint must be one of {', '.join(endpoints)}")
    after = body.get("after", 1)
    if isinstance(after, bool) or not isinstance(after, int) or after < 1:
        raise ValueError("after must be a positive integer")
    seconds = body.get("seconds", 120)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
        raise ValueError("seconds must be a positive number")
    return endpoint, after, float(seconds)


def document_as_number(value: Any) -> Any:
    """A document as a divergent tenant answers it: a JSON number when it is digits once
    punctuation is gone (so its leading zeros are lost), unchanged otherwise."""
    if not isinstance(value, str):
        return value
    digits = "".join(c for c in value if c.isalnum())
    return int(digits) if digits.isdigit() else value
