"""Property-based tests of the identity normalisers (CPF/CNPJ, e-mail, phone) with hypothesis.

They take text end users and foreign systems type, so besides the examples in test_identity.py
they must hold for any input: never raise anything but ``InvalidDocument`` (or answer None),
give the same answer however a valid value is written, and run in linear time. The budget is
small (``max_examples``) so the file runs in a few seconds.
"""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum.br import cnpj as stdnum_cnpj

from support_assets.core.identity import (
    COMPANY,
    PERSON,
    InvalidDocument,
    document_or_reason,
    is_email,
    normalize_email,
    normalize_phone,
    parse_document,
)

BUDGET = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: The pattern ``is_email`` replaced; its answers on whole strings are the reference.
OLD_EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

PHONE_SEPARATORS = st.sampled_from([" ", "-", ".", ""])
SEPARATORS = st.sampled_from([".", "-", "/", " ", "\u2013", "\u2212", "\t", ""])
NINE_DIGITS = st.text(alphabet=string.digits, min_size=9, max_size=9).filter(
    lambda s: len(set(s)) > 1
)
CNPJ_BASE = st.text(alphabet=string.digits + string.ascii_uppercase, min_size=12, max_size=12)
ANYTHING = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(),
    st.text(alphabet="0123456789.-/ Aa"),
)


def cpf_check_digits(base9: str) -> str:
    """The CPF rule written out: weights 10..2 then 11..2, remainder of 10 x sum by 11, mod 10."""
    digits = [int(c) for c in base9]
    for first_weight in (10, 11):
        total = sum(w * d for w, d in zip(range(first_weight, 1, -1), digits, strict=True))
        digits.append(total * 10 % 11 % 10)
    return f"{digits[-2]}{digits[-1]}"


def sprinkle(number: str, separators: list[str]) -> str:
    """``number`` with a separator (possibly none) after each character."""
    return (
        "".join(c + s for c, s in zip(number, separators, strict=False)) + number[len(separators) :]
    )


@BUDGET
@given(NINE_DIGITS, st.lists(SEPARATORS, max_size=11))
def test_a_valid_cpf_is_one_number_however_it_is_written(base: str, separators: list) -> None:
    number = base + cpf_check_digits(base)
    document = parse_document(sprinkle(number, separators), hint="cpf")
    assert (document.kind, document.number) == (PERSON, number)
    assert parse_document(document.formatted, hint="cpf") == document
    # A JSON number loses the leading zeros; the source's type puts them back.
    assert parse_document(int(number), hint="cpf").number == number


@BUDGET
@given(NINE_DIGITS, st.integers(min_value=1, max_value=9))
def test_a_cpf_with_a_wrong_check_digit_is_never_that_person(base: str, shift: int) -> None:
    number = base + cpf_check_digits(base)
    wrong = number[:-1] + str((int(number[-1]) + shift) % 10)
    document, reason = document_or_reason(wrong)
    # Padded to 14 digits it may, by chance, be some company's CNPJ; never this CPF.
    assert document is None or document.kind == COMPANY
    assert document is not None or reason


@BUDGET
@given(CNPJ_BASE, st.lists(SEPARATORS, max_size=14))
def test_a_valid_cnpj_is_one_number_however_it_is_written(base: str, separators: list) -> None:
    number = base + stdnum_cnpj.calc_check_digits(base)
    if len(set(number)) == 1:
        return
    written = sprinkle(number, separators)
    document = parse_document(written.lower(), hint="cnpj")
    assert (document.kind, document.number) == (COMPANY, number)
    assert parse_document(document.formatted, hint="cnpj") == document


@BUDGET
@given(ANYTHING, st.sampled_from([None, "cpf", "cnpj"]))
def test_any_value_is_a_document_or_a_reason_never_another_error(value, hint) -> None:
    try:
        document = parse_document(value, hint)
    except InvalidDocument as exc:
        assert exc.reason
        if len(str(value)) >= 8:
            assert str(value) not in exc.reason  # the reason never echoes the document
        return
    assert document.kind in (PERSON, COMPANY)
    assert len(document.number) == (11 if document.kind == PERSON else 14)


def test_an_enormous_number_is_refused_with_a_reason() -> None:
    """Python refuses to turn an int of over 4,300 digits into text: a reason, not a crash."""
    with pytest.raises(InvalidDocument, match="more than 14 digits"):
        parse_document(10**5000)


EMAILISH = st.text(alphabet="ab.@ \n\t\u00a0\u2003é", max_size=12)


@BUDGET
@given(st.one_of(EMAILISH, st.text(max_size=30)))
def test_is_email_answers_as_the_old_pattern_did(text: str) -> None:
    assert is_email(text) == bool(OLD_EMAIL_PATTERN.fullmatch(text))


@BUDGET
@given(st.one_of(EMAILISH, st.text(max_size=30), st.integers(), st.none()))
def test_normalize_email_is_idempotent_and_case_folded(value) -> None:
    email = normalize_email(value)
    if email is not None:
        assert normalize_email(email) == email
        assert email == email.strip().casefold() and email.count("@") == 1


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    "text",
    [
        "a@" + "." * 100_000 + " x",
        "a@" + "a." * 50_000 + "@",
        "a@b" + "\u00a0" * 100_000,
    ],
    ids=["dots-then-space", "labels-then-at", "trailing-nbsp"],
)
def test_email_check_takes_linear_time_on_hostile_text(text: str) -> None:
    """100k characters: the old pattern backtracked for minutes on these; with a time limit
    thousands of times what a linear check needs, a quadratic one fails here."""
    assert not is_email(text)
    assert normalize_email(text) is None


@BUDGET
@given(
    st.one_of(
        st.text(alphabet="0123456789()+- .", max_size=20),
        st.text(max_size=20),
        st.integers(),
        st.none(),
        st.booleans(),
    )
)
def test_normalize_phone_answers_e164_or_none_and_is_idempotent(value) -> None:
    phone = normalize_phone(value)
    if phone is not None:
        assert re.fullmatch(r"\+[1-9]\d{6,14}", phone), phone
        assert normalize_phone(phone) == phone


@BUDGET
@given(st.lists(PHONE_SEPARATORS, min_size=0, max_size=11), st.booleans())
def test_a_brazilian_mobile_is_one_number_however_it_is_written(separators, with_code) -> None:
    digits = "11987654321"
    written = ("+55" if with_code else "") + sprinkle(digits, separators)
    assert normalize_phone(written) == "+5511987654321"
