"""The fast JSON codec answers what the standard library answers, and takes what it took."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from support_assets.core import json_codec
from support_assets.core.http_paging import page_fingerprint
from support_assets.core.records import payload_fingerprint, to_json

# JSON values as a source sends them: text with accents and emoji, 64-bit integers, finite floats.
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15)
    | st.text(alphabet=st.characters(blacklist_categories=("Cs",)))
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(VALUES)
def test_dumps_is_the_standard_librarys_compact_sorted_text(value: object) -> None:
    assert json.loads(json_codec.dumps(value)) == json.loads(json_codec.canonical_dumps(value))
    assert to_json(value) == json_codec.dumps(value)


@given(VALUES)
def test_loads_reads_what_the_standard_library_reads(value: object) -> None:
    text = json.dumps(value, ensure_ascii=False)
    assert json_codec.loads(text.encode()) == json.loads(text)


def test_what_orjson_refuses_falls_back_to_the_standard_library() -> None:
    big = 2**70
    assert json_codec.loads(b'{"n": 1180591620717411303424}') == {"n": big}
    assert math.isnan(json_codec.loads(b"[NaN]")[0])
    assert json_codec.dumps({"n": big}) == '{"n":1180591620717411303424}'
    assert json_codec.dumps({2: "b", 1: "a"}) == '{"1":"a","2":"b"}'
    assert json_codec.dumps({"text": "\ud800"}) == json.dumps(
        {"text": "\ud800"}, ensure_ascii=False, separators=(",", ":")
    )
    with pytest.raises(json.JSONDecodeError):
        json_codec.loads(b"{not json")


def test_datetimes_are_refused_as_before() -> None:
    import datetime as dt

    with pytest.raises(TypeError):
        json_codec.dumps({"at": dt.datetime(2026, 1, 1)})


def test_payload_fingerprints_keep_the_standard_librarys_number_text() -> None:
    # orjson writes 1e16 where the standard library writes 1e+16: a fingerprint must not move.
    canonical = json.dumps({"x": 1e16}, separators=(",", ":"), sort_keys=True)
    import hashlib

    assert payload_fingerprint({"x": 1e16}) == hashlib.sha256(canonical.encode()).hexdigest()


def test_pages_with_the_same_ids_in_order_are_the_same_page() -> None:
    page = [{"id": "a", "status": 1}, {"id": "b", "status": 2}]
    changed = [{"id": "a", "status": 9}, {"id": "b", "status": 2}]
    assert page_fingerprint(page) == page_fingerprint(changed)
    assert page_fingerprint(page) != page_fingerprint(list(reversed(page)))
    assert page_fingerprint([{"id": 1}]) != page_fingerprint([{"id": "1"}])
    # Records without ids compare by content.
    assert page_fingerprint([{"n": 1}]) != page_fingerprint([{"n": 2}])
    assert page_fingerprint([{"n": 1}]) == page_fingerprint([{"n": 1}])
