"""CPF and CNPJ: normalisation, validation (python-stdnum, alphanumeric CNPJ included), person or
company by the validator that accepts the document, and the keyed customer_key."""

from __future__ import annotations

import random
import string

import pytest
from stdnum.br import cnpj as stdnum_cnpj

from support_assets.core.identity import (
    COMPANY,
    PERSON,
    InvalidDocument,
    customer_key,
    document_or_reason,
    is_valid_cnpj,
    parse_document,
)

#: The Receita Federal's example of the alphanumeric CNPJ (Nota Técnica COCAD/SUARA/RFB 49/2024).
RFB_ALPHANUMERIC_EXAMPLE = "12.ABC.345/01DE-35"


def official_cnpj_check_digits(base12: str) -> str:
    """The Receita Federal's rule, written out independently of python-stdnum: each character's
    value is its ASCII code minus 48 (digits 0-9, letters A=17 … Z=42), weights 5..2,9..2 then
    6..2,9..2, remainder of the division by 11; a remainder below 2 gives 0, else 11 - r."""
    digits: list[int] = [ord(c) - 48 for c in base12]
    for weights in ([5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2], [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]):
        remainder = sum(w * v for w, v in zip(weights, digits, strict=True)) % 11
        digits.append(0 if remainder < 2 else 11 - remainder)
    return f"{digits[-2]}{digits[-1]}"


def test_the_installed_stdnum_validates_the_alphanumeric_cnpj() -> None:
    assert official_cnpj_check_digits("12ABC34501DE") == "35"
    assert stdnum_cnpj.is_valid(RFB_ALPHANUMERIC_EXAMPLE)
    document = parse_document(RFB_ALPHANUMERIC_EXAMPLE)
    assert (document.kind, document.number) == (COMPANY, "12ABC34501DE35")
    assert document.formatted == RFB_ALPHANUMERIC_EXAMPLE
    # Lower case and other separators are the same CNPJ.
    assert parse_document("12abc345 01de–35").number == "12ABC34501DE35"
    with pytest.raises(InvalidDocument, match="check digits"):
        parse_document("12.ABC.345/01DE-36")


def test_stdnum_agrees_with_the_official_rule_on_random_alphanumeric_bases() -> None:
    rng = random.Random(2026)
    alphabet = string.digits + string.ascii_uppercase
    for _ in range(500):
        base = "".join(rng.choice(alphabet) for _ in range(12))
        expected = official_cnpj_check_digits(base)
        assert stdnum_cnpj.calc_check_digits(base) == expected, base
        assert is_valid_cnpj(base + expected)
        wrong = f"{(int(expected) + 1) % 100:02d}"
        assert not is_valid_cnpj(base + wrong)


@pytest.mark.parametrize(
    ("value", "kind", "number"),
    [
        ("390.533.447-05", PERSON, "39053344705"),
        ("39053344705", PERSON, "39053344705"),
        (" 390 533 447 05 ", PERSON, "39053344705"),
        (39053344705, PERSON, "39053344705"),
        ("16.727.230/0001-97", COMPANY, "16727230000197"),
        (16727230000197, COMPANY, "16727230000197"),
        # A JSON number loses its leading zeros: padded back, the validator decides.
        (1234567890, PERSON, "01234567890"),
        ("1234567890", PERSON, "01234567890"),
        (191, COMPANY, "00000000000191"),  # Banco do Brasil, stored as a number
    ],
)
def test_documents_are_normalised(value: object, kind: str, number: str) -> None:
    document = parse_document(value, hint="cnpj" if value == 191 else None)
    assert (document.kind, document.number) == (kind, number)


def test_person_or_company_is_decided_by_the_validator_not_the_length() -> None:
    # Eleven digits that are no CPF but a CNPJ that lost three leading zeros (a JSON number).
    base = "000123450001"
    cnpj = base + official_cnpj_check_digits(base)
    eleven = cnpj.lstrip("0")
    assert len(eleven) == 11
    assert document_or_reason(eleven, "cpf")[0] is not None
    assert document_or_reason(eleven, "cpf")[0].kind == COMPANY
    assert parse_document(int(eleven)).number == cnpj
    # A company typed as a person, its CNPJ in the CPF field: still a company.
    assert parse_document("16.727.230/0001-97", hint="cpf").kind == COMPANY
    # A CPF typed as a company is still a person.
    assert parse_document("390.533.447-05", hint="cnpj").kind == PERSON


def test_a_tie_with_no_exact_length_needs_the_source_type() -> None:
    # 191 padded is a valid CNPJ (Banco do Brasil); find a short number valid both ways.
    for n in range(100, 100_000):
        cpf_ok = parse_ok(str(n).zfill(11), PERSON)
        cnpj_ok = parse_ok(str(n).zfill(14), COMPANY)
        if cpf_ok and cnpj_ok:
            break
    else:  # pragma: no cover - the search space always has one
        pytest.fail("no ambiguous short number found")
    with pytest.raises(InvalidDocument, match="both as a CPF and as a CNPJ"):
        parse_document(n)
    assert parse_document(n, hint="person").kind == PERSON
    assert parse_document(n, hint="company").kind == COMPANY


def parse_ok(number: str, kind: str) -> bool:
    document, _ = document_or_reason(number, kind)
    return document is not None and document.number == number and document.kind == kind


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "document is missing"),
        ("", "document is missing"),
        ("390.533.447-06", "CPF check digits do not match"),
        ("16.727.230/0001-98", "CNPJ check digits do not match"),
        ("111.111.111-11", "document is one digit repeated"),
        ("00000000000", "document is all zeros"),
        ("111111000111", "12 digits and is valid neither as a CPF nor as a CNPJ"),
        ("12.ABC.345/01DE-3X", "alphanumeric CNPJ must end in two numeric check digits"),
        ("ABC", "alphanumeric document has 3 characters"),
        ("390.533.447-05!", "characters other than digits"),
        ("123456789012345", "15 digits"),
    ],
)
def test_invalid_documents_say_why(value: object, reason: str) -> None:
    document, why = document_or_reason(value)
    assert document is None
    assert reason in why


def test_customer_key_is_stable_keyed_and_needs_a_secret() -> None:
    a = customer_key("390.533.447-05", "secret-1")
    assert a == customer_key(39053344705, "secret-1") == customer_key(" 39053344705", "secret-1")
    assert len(a) == 64 and "39053344705" not in a
    assert a != customer_key("390.533.447-05", "secret-2")
    assert customer_key("12abc34501de35", "k") == customer_key(RFB_ALPHANUMERIC_EXAMPLE, "k")
    with pytest.raises(ValueError, match="SUPPORT_PSEUDONYM_KEY"):
        customer_key("390.533.447-05", "")
    with pytest.raises(InvalidDocument):
        customer_key("390.533.447-06", "secret-1")
