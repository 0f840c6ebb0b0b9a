"""Brazilian identity documents: CPF and CNPJ normalised, validated and pseudonymised.

Every source that carries a CPF or CNPJ goes through here, so that one client is one key
wherever it comes from.

* ``parse_document(value, hint=None)`` answers a ``Document`` (kind and compact number) or
  raises ``InvalidDocument`` with a reason a person can act on. It accepts what the systems
  actually send: punctuated strings (``"390.533.447-05"``), bare digits, and bare JSON numbers
  that lost their leading zeros (Milvus's ``cliente_documento`` is a number). Validation is
  python-stdnum's (check digits), including the alphanumeric CNPJ that the Receita Federal
  issues from July 2026 (``12.ABC.345/01DE-35``): letters in the first twelve positions, their
  value being the ASCII code minus 48, the usual weights and modulus 11.
* Person or company is decided by which validator accepts the document, never by its length
  alone: a number that lost its leading zeros is padded and tried as both. Only when both
  accept does the ``hint`` a source gives (Ploomes's contact type, Milvus's ``is_fisica``)
  break the tie; without one the exact-length reading wins, and a tie that remains is refused.
* ``customer_key(document, secret)`` is the stable pseudonymous key marts expose instead of the
  document: an HMAC-SHA256 keyed with ``SUPPORT_PSEUDONYM_KEY``, so it cannot be reversed by
  hashing every possible CPF without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any, Literal

from dagster import ConfigurableResource
from pydantic import Field
from stdnum.br import cnpj as stdnum_cnpj
from stdnum.br import cpf as stdnum_cpf

Kind = Literal["cpf", "cnpj"]
PERSON: Kind = "cpf"
COMPANY: Kind = "cnpj"

CPF_LENGTH = 11
CNPJ_LENGTH = 14

#: Separators people and systems put in documents (dot, slash, dashes of every width, spaces).
_SEPARATORS = re.compile(r"[\s./\-\u2010-\u2015\u2212]")
_ALPHANUMERIC = re.compile(r"^[0-9A-Z]+$")
_CNPJ_ALPHANUMERIC = re.compile(r"^[0-9A-Z]{12}[0-9]{2}$")


class InvalidDocument(ValueError):
    """A CPF or CNPJ that cannot be used; ``reason`` says why, without echoing the document."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Document:
    """A valid CPF (11 digits) or CNPJ (14 characters, digits or the new alphanumeric form)."""

    kind: Kind
    number: str

    @property
    def is_person(self) -> bool:
        return self.kind == PERSON

    @property
    def is_company(self) -> bool:
        return self.kind == COMPANY

    @property
    def formatted(self) -> str:
        """The usual presentation, ``000.000.000-00`` or ``00.000.000/0000-00``."""
        module = stdnum_cpf if self.is_person else stdnum_cnpj
        return module.format(self.number)

    def __str__(self) -> str:
        return self.number


def compact_document(value: Any) -> str:
    """The document without separators, upper-cased; a JSON number becomes its digits."""
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return str(value) if value >= 0 else ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and value >= 0 else ""
    return _SEPARATORS.sub("", str(value)).upper()


def is_valid_cpf(number: str) -> bool:
    """An 11-digit CPF with matching check digits that is not one digit repeated."""
    return (
        len(number) == CPF_LENGTH
        and number.isdigit()
        and len(set(number)) > 1
        and stdnum_cpf.is_valid(number)
    )


def is_valid_cnpj(number: str) -> bool:
    """A 14-character CNPJ (numeric, or alphanumeric with numeric check digits) that validates."""
    return (
        len(number) == CNPJ_LENGTH
        and bool(_CNPJ_ALPHANUMERIC.match(number))
        and len(set(number)) > 1
        and stdnum_cnpj.is_valid(number)
    )


def _hint_kind(hint: Any) -> Kind | None:
    if hint in (None, ""):
        return None
    text = str(hint).strip().casefold()
    if text in ("cpf", "person", "pf", "fisica", "física", "pessoa fisica", "pessoa física"):
        return PERSON
    if text in ("cnpj", "company", "pj", "juridica", "jurídica", "empresa"):
        return COMPANY
    raise ValueError(f"unknown document hint {hint!r}")


def _hinted_reading(number: str, hint: Kind | str | None) -> Document | None:
    """The reading of a digits-only ``number`` the hint names, when it is valid."""
    try:
        preferred = _hint_kind(hint)
    except ValueError:
        return None  # reported, as before, only when it has a tie to break
    if preferred == PERSON and len(number) <= CPF_LENGTH:
        if is_valid_cpf(padded := number.zfill(CPF_LENGTH)):
            return Document(PERSON, padded)
    elif preferred == COMPANY and is_valid_cnpj(padded := number.zfill(CNPJ_LENGTH)):
        return Document(COMPANY, padded)
    return None


def parse_document(value: Any, hint: Kind | str | None = None) -> Document:
    """The valid document in ``value``, or ``InvalidDocument`` with the reason.

    ``hint`` ("cpf"/"person" or "cnpj"/"company") only breaks a tie between two valid readings.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value >= 10**CNPJ_LENGTH:
        # Checked before turning it into text: Python refuses ints of over 4,300 digits.
        raise InvalidDocument(f"document has more than {CNPJ_LENGTH} digits")
    number = compact_document(value)
    if not number:
        raise InvalidDocument("document is missing")
    if not _ALPHANUMERIC.match(number):
        raise InvalidDocument("document has characters other than digits, letters and separators")
    if set(number) == {"0"}:
        raise InvalidDocument("document is all zeros")
    if not number.isdigit():
        # Letters: only the alphanumeric CNPJ has them.
        if len(number) != CNPJ_LENGTH:
            raise InvalidDocument(
                f"alphanumeric document has {len(number)} characters; a CNPJ has {CNPJ_LENGTH}"
            )
        if not _CNPJ_ALPHANUMERIC.match(number):
            raise InvalidDocument("alphanumeric CNPJ must end in two numeric check digits")
        if not is_valid_cnpj(number):
            raise InvalidDocument("CNPJ check digits do not match")
        return Document(COMPANY, number)
    if len(number) > CNPJ_LENGTH:
        raise InvalidDocument(f"document has {len(number)} digits; a CNPJ has {CNPJ_LENGTH}")
    hinted = _hinted_reading(number, hint)
    if hinted is not None:  # the hint would win any tie: the other reading does not matter
        return hinted
    readings: dict[Kind, str] = {}
    if len(number) <= CPF_LENGTH and is_valid_cpf(number.zfill(CPF_LENGTH)):
        readings[PERSON] = number.zfill(CPF_LENGTH)
    if is_valid_cnpj(number.zfill(CNPJ_LENGTH)):
        readings[COMPANY] = number.zfill(CNPJ_LENGTH)
    if not readings:
        if len(set(number.lstrip("0"))) == 1:
            raise InvalidDocument("document is one digit repeated")
        if len(number) == CPF_LENGTH:
            raise InvalidDocument("CPF check digits do not match")
        if len(number) == CNPJ_LENGTH:
            raise InvalidDocument("CNPJ check digits do not match")
        raise InvalidDocument(
            f"document has {len(number)} digits and is valid neither as a CPF nor as a CNPJ"
        )
    if len(readings) == 1:
        [(kind, compact)] = readings.items()
        return Document(kind, compact)
    preferred = _hint_kind(hint)
    if preferred is not None:
        return Document(preferred, readings[preferred])
    exact = [kind for kind, compact in readings.items() if compact == number]
    if len(exact) == 1:
        return Document(exact[0], number)
    raise InvalidDocument(
        "document is valid both as a CPF and as a CNPJ; the source's type is needed"
    )


def document_or_reason(value: Any, hint: Kind | str | None = None) -> tuple[Document | None, str]:
    """``(document, "")`` when valid, ``(None, reason)`` otherwise."""
    try:
        return parse_document(value, hint), ""
    except InvalidDocument as exc:
        return None, exc.reason


def customer_key(document: Document | str | int, secret: str) -> str:
    """The stable pseudonymous key of a client: HMAC-SHA256 of the compact document, in hex.

    The same client gets the same key from every source however its document was written.
    """
    if not secret:
        raise ValueError("a pseudonym key (SUPPORT_PSEUDONYM_KEY) is required")
    doc = document if isinstance(document, Document) else parse_document(document)
    return hmac.new(secret.encode(), doc.number.encode(), hashlib.sha256).hexdigest()


def is_email(text: str) -> bool:
    """One ``@`` with something before it, a domain with a dot that is neither its first nor its
    last character, and no whitespace anywhere.

    Checked by splitting, in linear time: the regular expression it replaces
    (``^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$``, same answers) backtracked quadratically on long
    text without an answer (5.7 s on 32k characters), and this runs on text end users type.
    """
    local, at, domain = text.partition("@")
    return (
        bool(at and local)
        and "@" not in domain
        and "." in domain[1:-1]
        and not any(c.isspace() for c in text)
    )


def normalize_email(value: Any) -> str | None:
    """The e-mail trimmed and case-folded (``" Ana.Souza@Gmail.COM "`` → ``ana.souza@gmail.com``),
    or None when it is not an address."""
    if not isinstance(value, str):
        return None
    text = value.strip().casefold()
    if text.startswith("mailto:"):
        text = text[len("mailto:") :]
    return text if is_email(text) else None


def normalize_phone(value: Any, region: str = "BR") -> str | None:
    """The phone in E.164 (``"(11) 98765-4321"`` → ``+5511987654321``), numbers without a country
    code read in ``region``; None when phonenumbers finds no valid number."""
    import phonenumbers

    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def identifier_key(kind: str, value: str, secret: str) -> str:
    """A pseudonymous key of any identifier (``kind`` such as "email" or "phone" and its normalised
    value): HMAC-SHA256 of ``kind:value`` with the same secret as ``customer_key``."""
    if not secret:
        raise ValueError("a pseudonym key (SUPPORT_PSEUDONYM_KEY) is required")
    return hmac.new(secret.encode(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


#: The key used while SUPPORT_PSEUDONYM_KEY is unset: for the sandbox and demo only, since
#: anyone who knows it can recompute every CPF's key.
SANDBOX_PSEUDONYM_KEY = "sandbox-only-pseudonym-key-not-secret"


class PseudonymResource(ConfigurableResource):
    """Holds the secret of ``customer_key`` (``SUPPORT_PSEUDONYM_KEY``, given as ``EnvVar``)."""

    key: str = Field(description="HMAC key of the pseudonymous customer key; a secret.")

    def customer_key(self, document: Document | str | int) -> str:
        return customer_key(document, self.key)
