"""Property-based tests of the service-event validator: whatever a message holds, validating a
batch never raises; every message ends up valid or quarantined with a reason and its body."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support_assets.io_managers.documents import check_document
from support_assets.sources.service_events.stomp import ReceivedMessage
from support_assets.sources.service_events.validation import validate_messages
from support_assets_tests.sources.service_events.test_validation import EVENT

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def message(body: bytes, n: int) -> ReceivedMessage:
    headers = {"message-id": f"ID:p-{n}", "ack": f"a-{n}", "timestamp": "1700000000000"}
    return ReceivedMessage(body=body, headers=headers)


def assert_partitioned(bodies: list[bytes]) -> None:
    batch = validate_messages([message(b, i) for i, b in enumerate(bodies)])
    assert len(batch.valid) + len(batch.quarantined) == len(bodies)
    for q in batch.quarantined:
        assert q.reason
        assert "body" in q.payload
    for document in batch.valid:  # what is called valid can be stored
        stored, reason = check_document(document, ("event_key",))
        assert stored is not None, reason


@SETTINGS
@given(st.lists(st.binary(max_size=200), max_size=5))
def test_any_bytes_are_valid_or_quarantined(bodies: list[bytes]) -> None:
    assert_partitioned(bodies)


@SETTINGS
@given(st.dictionaries(st.sampled_from(sorted(EVENT)), json_values, max_size=6))
def test_any_field_values_are_valid_or_quarantined(changes: dict) -> None:
    body = json.dumps({**EVENT, **changes}, ensure_ascii=False).encode("utf-8", "surrogatepass")
    assert_partitioned([body, json.dumps(EVENT).encode()])


@SETTINGS
@given(json_values, st.integers(min_value=0, max_value=3000))
def test_any_json_at_any_depth_is_valid_or_quarantined(value: object, depth: int) -> None:
    body = "[" * depth + json.dumps(value) + "]" * depth
    assert_partitioned([body.encode("utf-8", "surrogatepass")])
