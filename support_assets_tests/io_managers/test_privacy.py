"""What an IO manager may report to run storage (support_assets/io_managers/privacy.py): pure
logic, so plain unit and property tests; test_contract.py checks it through every backend and
test_run_storage_personal_data.py through a whole materialization."""

from __future__ import annotations

import datetime as dt
import string

import pyarrow as pa
import pytest
from dagster import MetadataValue
from hypothesis import given, settings
from hypothesis import strategies as st

from support_assets.io_managers.privacy import (
    MASKED,
    is_personal_name,
    mask_json,
    mask_text,
    masked_preview,
    safe_metadata,
)

BUDGET = settings(max_examples=100, deadline=None)


def test_the_preview_shows_codes_numbers_and_times_and_masks_the_rest() -> None:
    table = pa.table(
        {
            "id": [1, 2],
            "status": ["open", "Aberto"],
            "name": ["a|b", "Ana Souza"],
            "amount": [1.5, None],
            "big": [39053344705, 7],
            "at": [dt.datetime(2024, 1, 1, tzinfo=dt.UTC), None],
            "chat_id": ["946db702-ef71-4946-8895-a67ebee4a1ab", "T-12"],
            "contact_phone": ["x", None],
        }
    )
    lines = masked_preview(table).splitlines()
    assert lines[0] == "| id | status | name | amount | big | at | chat_id | contact_phone |"
    assert lines[2] == (
        f"| 1 | open | a\\|b | 1.5 | {MASKED} | 2024-01-01T00:00:00+00:00 | "
        f"946db702-ef71-4946-8895-a67ebee4a1ab | {MASKED} |"
    )
    # A capitalised word may be a first name; a long number a CPF or a phone.
    assert lines[3] == f"| 2 | {MASKED} | {MASKED} |  | 7 |  | T-12 |  |"


@pytest.mark.parametrize(
    ("name", "personal"),
    [
        ("cpf", True),
        ("requester_email", True),
        ("contact_name", True),
        ("text", True),
        ("record", True),
        ("milvus_token", True),
        ("customer_key", False),
        ("document_type", False),
        ("email_count", False),
        ("ploomes_contact_id", False),
        ("milvus_client_id", False),
        ("status", False),
        ("name", False),  # a bare name is judged by its values
    ],
)
def test_personal_column_names(name: str, personal: bool) -> None:
    assert is_personal_name(name) is personal


def test_text_keeps_times_ids_and_runs_but_not_contacts() -> None:
    text = (
        "ana@x.com.br, CPF 390.533.447-05 / 39053344705, CNPJ 12.ABC.345/01DE-35, "
        "tel (11) 98765-4321 or +55 11 98765-4321; at 2026-11-23T10:00:00.123456+00:00, "
        "run 946db702-ef71-4946-8895-a67ebee4a1ab, cursor 1732370000000, partition 2026-11-23"
    )
    assert mask_text(text) == (
        "‹email›, CPF ‹document› / ‹document›, CNPJ ‹document›, tel ‹phone› or ‹phone›; "
        "at 2026-11-23T10:00:00.123456+00:00, run 946db702-ef71-4946-8895-a67ebee4a1ab, "
        "cursor 1732370000000, partition 2026-11-23"
    )


def test_json_metadata_masks_personal_keys_and_values_in_keys() -> None:
    value = {
        "would_create": [{"name": "Ana Souza", "id": 7, "document": "***.533.4**-**"}],
        "CPF 390.533.447-05 is invalid": 2,
        "counts": {"created": 3},
        "status": "ok",
    }
    assert mask_json(value) == {
        "would_create": [{"name": MASKED, "id": 7, "document": MASKED}],
        "CPF ‹document› is invalid": 2,
        "counts": {"created": 3},
        "status": "ok",
    }


def test_safe_metadata_keeps_what_is_not_personal() -> None:
    stamp = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    metadata = safe_metadata(
        {
            "rows_written": 3,
            "dagster/table_name": "warehouse.raw.x",
            "dagster/uri": "file:///data/lake/raw/x",
            "cursor": stamp,
            "note": MetadataValue.md("mail ana@x.com"),
            "requester_email": "ana@x.com",
            "phones": MetadataValue.json(["+5511987654321"]),
            "messages_received": 60,
            "contact_phone": 11987654321,
        }
    )
    assert metadata["messages_received"] == 60  # a count under a personal-sounding key
    assert metadata["contact_phone"] == MASKED
    assert metadata["rows_written"] == 3 and metadata["cursor"] == stamp
    assert metadata["dagster/table_name"] == "warehouse.raw.x"
    assert metadata["dagster/uri"] == "file:///data/lake/raw/x"
    assert metadata["note"].value == "mail ‹email›"
    assert metadata["requester_email"] == MASKED
    assert metadata["phones"].value == MASKED


CPF_BASE = st.text(alphabet=string.digits, min_size=9, max_size=9)
WORDS = st.text(alphabet=string.ascii_letters + " ,;:()", max_size=30)


@BUDGET
@given(WORDS, CPF_BASE, WORDS, st.sampled_from(["{}.{}.{}-{}", "{}{}{}{}", "{} {} {} {}"]))
def test_any_cpf_shaped_number_in_text_is_masked(before, base, after, shape) -> None:
    number = base + "00"
    written = shape.format(number[:3], number[3:6], number[6:9], number[9:])
    masked = mask_text(f"{before} {written} {after}")
    assert written not in masked and number not in masked


@BUDGET
@given(WORDS, st.emails(), WORDS)
def test_any_email_in_text_is_masked(before, email, after) -> None:
    assert email not in mask_text(f"{before} {email} {after}")


@pytest.mark.timeout(20)
def test_masking_takes_linear_time_on_hostile_text() -> None:
    digits, parentheses = "1" * 100_000, " (11) 9" * 20_000
    hostile = "a@b" + "." * 100_000 + "@ " + digits + parentheses
    # No e-mail (two @), a run of 100k digits is no document, and no phone either.
    assert mask_text(hostile) == hostile
