"""The shared response-shape parser: accepted shapes answer records, anything else is named."""

import pytest

from support_assets.core.shapes import (
    HELPDESK_WEB_REPORT,
    TELEGRAM_UPDATES,
    Shape,
    SourceContractError,
    UnexpectedShape,
    describe_shape,
    records_from,
)


def test_bare_list_and_each_envelope_key_give_the_same_records():
    records = [{"id": 1}, {"id": 2}]
    assert records_from(records, source="s") == records
    for key in ("data", "items", "results", "lista", "value", "tickets"):
        assert records_from({key: records, "total": 2}, source="s") == records


def test_envelope_total_is_read_as_number_or_digit_string():
    assert HELPDESK_WEB_REPORT.page({"data": [], "total": 7, "offset": 0}).total == 7
    assert HELPDESK_WEB_REPORT.page({"data": [], "total": "7"}).total == 7
    assert HELPDESK_WEB_REPORT.page({"data": [], "total": "many"}).total is None
    assert HELPDESK_WEB_REPORT.page([{"id": 1}]).total is None


def test_a_dict_is_never_iterated_as_records():
    body = {"ticket_number": "0123", "status": "Aberto", "created_at": "2026-10-01 10:00:00"}
    with pytest.raises(UnexpectedShape) as raised:
        records_from(body, source="helpdesk_web report", envelope_keys=("data",))
    message = str(raised.value)
    assert "helpdesk_web report" in message
    assert "ticket_number: string" in message and "status: string" in message
    assert "0123" not in message and "Aberto" not in message and "2026" not in message
    assert isinstance(raised.value, SourceContractError)


@pytest.mark.parametrize(
    "body, named",
    [
        ({"data": {"0": {"id": 1}}}, "data: object"),
        ({"data": [], "items": []}, "items: list[0]"),
        ({"data": None, "total": 0}, "data: null"),
        ("<html>", "string"),
        (42, "int"),
        (None, "null"),
    ],
)
def test_anything_else_is_refused_and_named(body, named):
    with pytest.raises(UnexpectedShape) as raised:
        records_from(body, source="x")
    assert named in str(raised.value)


def test_a_source_without_envelopes_refuses_one():
    with pytest.raises(UnexpectedShape, match=r"object\{data: list\[1\]\}"):
        TELEGRAM_UPDATES.records({"data": [{"update_id": 1}]})


def test_a_source_that_wants_an_envelope_refuses_a_bare_list():
    odata = Shape("ploomes", envelope_keys=("value",), bare_list=False)
    assert odata.records({"value": [{"Id": 1}]}) == [{"Id": 1}]
    with pytest.raises(UnexpectedShape, match=r"list\[1\] of object"):
        odata.records([{"Id": 1}])


def test_describe_shape_bounds_long_and_many_keys():
    body = {f"k{i}" + "x" * 60: i for i in range(30)}
    text = describe_shape(body)
    assert "10 more keys" in text
    assert "x" * 60 not in text
