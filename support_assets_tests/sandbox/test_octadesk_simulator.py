"""The Octadesk simulator over real HTTP: auth, pages, filters, advance, truth, scale."""

from __future__ import annotations

import re

import httpx
import pytest
from stdnum.br import cpf

from support_assets.sandbox.octadesk.model import CLOSED_STATUSES, TICKET_STATUSES
from support_assets.sandbox.octadesk_data import CUSTOM_FIELD_KEYS, NEW_CUSTOM_FIELD_KEYS
from support_assets.sandbox.server import SandboxConfig, SandboxServer
from support_assets_tests.sandbox.conftest import AUTH, SMALL, octadesk_client, walk

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def numbers(records: list[dict]) -> list[int]:
    return [r["number"] for r in records]


def test_auth_requires_key_and_agent_email(sandbox: SandboxServer, admin: httpx.Client) -> None:
    base = f"{sandbox.url}/octadesk"
    assert httpx.get(f"{base}/auth/check", headers=AUTH).json() == {"ok": True}
    for headers in (
        {},
        {**AUTH, "X-API-KEY": "wrong"},
        {"X-API-KEY": AUTH["X-API-KEY"]},
        {**AUTH, "octa-agent-email": ""},
    ):
        for path in ("/auth/check", "/tickets", "/chat", "/tickets/1"):
            response = httpx.get(base + path, headers=headers)
            assert response.status_code == 401, (path, headers)
            assert response.json()["message"]


def test_pagination_headers_and_walk_matches_truth(octa: httpx.Client, admin: httpx.Client) -> None:
    first = octa.get("/tickets", params={"limit": 7})
    assert first.status_code == 200
    assert first.headers["X-Total-Items"] == "60"
    assert first.headers["X-Total-Pages"] == "9"
    assert first.headers["X-Next-Page"] == "2"
    assert len(first.json()) == 7
    last = octa.get("/tickets", params={"limit": 7, "page": 9})
    assert "X-Next-Page" not in last.headers
    assert len(last.json()) == 4
    beyond = octa.get("/tickets", params={"limit": 7, "page": 10})
    assert beyond.status_code == 200 and beyond.json() == []

    truth = admin.get("/octadesk/truth").json()
    walked = walk(octa, "/tickets", limit=7)
    assert walked == truth["tickets"]
    assert numbers(walked) == list(range(60, 0, -1))
    updated = [r["updatedAt"] for r in walked]
    assert updated == sorted(updated, reverse=True)
    assert len(octa.get("/tickets").json()) == 60  # default limit is 100


@pytest.mark.parametrize("limit", ["0", "101", "abc"])
def test_limit_outside_range_is_400(octa: httpx.Client, limit: str) -> None:
    response = octa.get("/tickets", params={"limit": limit})
    assert response.status_code == 400
    assert response.json()["message"]


def test_bad_filters_are_400(octa: httpx.Client) -> None:
    for params in (
        {"filters[0][property]": "summary", "filters[0][operator]": "eq", "filters[0][value]": "x"},
        {
            "filters[0][property]": "status",
            "filters[0][operator]": "like",
            "filters[0][value]": "x",
        },
        {
            "filters[0][property]": "updatedAt",
            "filters[0][operator]": "ge",
            "filters[0][value]": "x",
        },
        {"filters[0][property]": "updatedAt", "filters[0][operator]": "ge"},
        {"sort[property]": "summary"},
        {"sort[direction]": "sideways"},
    ):
        assert octa.get("/tickets", params=params).status_code == 400, params


def _filter(prop: str, op: str, value: str, i: int = 0) -> dict[str, str]:
    return {
        f"filters[{i}][property]": prop,
        f"filters[{i}][operator]": op,
        f"filters[{i}][value]": value,
    }


def test_filter_updated_at_ge_matches_truth(octa: httpx.Client, admin: httpx.Client) -> None:
    admin.post("/octadesk/advance", json={"update": 5, "create": 3}).raise_for_status()
    truth = admin.get("/octadesk/truth").json()["tickets"]
    for cut in (truth[0]["updatedAt"], truth[4]["updatedAt"], truth[20]["updatedAt"]):
        expected = [t for t in truth if t["updatedAt"] >= cut]
        response = octa.get("/tickets", params={**_filter("updatedAt", "ge", cut), "limit": 100})
        assert response.json() == expected
        assert response.headers["X-Total-Items"] == str(len(expected))
        assert walk(octa, "/tickets", limit=3, **_filter("updatedAt", "ge", cut)) == expected
    # an offset instead of Z compares as the same instant
    cut = truth[20]["updatedAt"]
    shifted = octa.get("/tickets", params=_filter("updatedAt", "ge", _as_minus_three(cut))).json()
    assert shifted == [t for t in truth if t["updatedAt"] >= cut]


def _as_minus_three(stamp: str) -> str:
    """The same instant written in America/Sao_Paulo's offset."""
    from datetime import datetime, timedelta, timezone

    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    local = moment.astimezone(timezone(timedelta(hours=-3)))
    return local.isoformat(timespec="milliseconds")


def test_other_filters_and_sort_match_truth(octa: httpx.Client, admin: httpx.Client) -> None:
    admin.post("/octadesk/advance", json={"update": 6, "create": 2}).raise_for_status()
    truth = admin.get("/octadesk/truth").json()["tickets"]
    by_created = sorted(truth, key=lambda t: (t["createdAt"], t["number"]))
    cut = by_created[len(by_created) // 2]["createdAt"]
    got = walk(octa, "/tickets", limit=9, **_filter("createdAt", "lt", cut))
    assert got == [t for t in truth if t["createdAt"] < cut]

    wanted = {"Resolvido", "Novo"}
    params = _filter("status", "in", "Resolvido,novo")
    got = walk(octa, "/tickets", limit=5, **params)
    assert got == [t for t in truth if t["status"]["name"] in wanted]

    params = {**_filter("status.name", "ne", "Resolvido"), **_filter("number", "le", "40", 1)}
    expected = [t for t in truth if t["status"]["name"] != "Resolvido" and t["number"] <= 40]
    response = octa.get("/tickets", params={**params, "limit": 100})
    assert response.json() == expected
    assert response.headers["X-Total-Items"] == str(len(expected))

    ascending = walk(octa, "/tickets", limit=8, **{"sort[direction]": "asc"})
    assert ascending == truth[::-1]
    by_number = walk(octa, "/tickets", limit=8, **{"sort[property]": "number"})
    assert numbers(by_number) == sorted(numbers(truth), reverse=True)
    created_asc = walk(
        octa, "/tickets", limit=8, **{"sort[property]": "createdAt", "sort[direction]": "asc"}
    )
    assert created_asc == by_created


def test_ticket_shape_and_values(octa: httpx.Client, admin: httpx.Client) -> None:
    tickets = admin.get("/octadesk/truth").json()["tickets"]
    seen_keys: set[str] = set()
    for ticket in tickets:
        assert TIMESTAMP.match(ticket["createdAt"]) and TIMESTAMP.match(ticket["updatedAt"])
        assert ticket["createdAt"] < ticket["updatedAt"]
        assert ticket["status"]["name"] in TICKET_STATUSES
        closed = ticket["status"]["name"] in CLOSED_STATUSES
        assert (ticket["closedAt"] is not None) == closed
        keys = [f["key"] for f in ticket["customField"]]
        assert set(keys) <= set(CUSTOM_FIELD_KEYS)
        seen_keys.update(keys)
        for custom in ticket["customField"]:
            if custom["key"] == "cpf":
                assert cpf.is_valid(custom["value"]), custom
        assert octa.get(f"/tickets/{ticket['number']}").json() == ticket
    assert seen_keys == set(CUSTOM_FIELD_KEYS)
    text = str(tickets)
    assert re.search(r"[ãçéíóúâêô]", text) and re.search(r"[\U0001F300-\U0001FAFF]", text)
    assert octa.get("/tickets/999999").status_code == 404
    assert octa.get("/tickets/abc").status_code == 404


def test_advance_changes_and_creates(octa: httpx.Client, admin: httpx.Client) -> None:
    before = {t["number"]: t for t in admin.get("/octadesk/truth").json()["tickets"]}
    answer = admin.post(
        "/octadesk/advance", json={"update": 4, "create": 5, "chats_update": 3, "chats_create": 2}
    ).json()
    assert len(answer["updated"]) == 4 and len(set(answer["updated"])) == 4
    assert answer["created"] == [61, 62, 63, 64, 65]
    assert len(answer["chats_updated"]) == 3 and len(answer["chats_created"]) == 2
    assert answer["clock"] > "2026-11-01T12:00:00.000Z"

    truth = admin.get("/octadesk/truth").json()
    after = {t["number"]: t for t in truth["tickets"]}
    assert set(after) == set(before) | set(answer["created"])
    assert truth["clock"] == answer["clock"]
    for number in answer["updated"]:
        assert after[number]["status"] != before[number]["status"]
        assert after[number]["updatedAt"] > "2026-11-01T12:00:00.000Z"
        assert after[number]["id"] == before[number]["id"]
        assert octa.get(f"/tickets/{number}").json() == after[number]
    unchanged = set(before) - set(answer["updated"])
    assert all(after[n] == before[n] for n in unchanged)
    newest = octa.get("/tickets", params={"limit": 9}).json()
    assert set(numbers(newest)) == set(answer["updated"]) | set(answer["created"])
    assert newest == truth["tickets"][:9]
    assert "2026-11-01T12:00:00.000Z" < newest[-1]["updatedAt"] < newest[0]["updatedAt"]
    assert newest[0]["updatedAt"] <= answer["clock"]
    created_keys = [{f["key"] for f in after[n]["customField"]} for n in answer["created"]]
    assert any(set(NEW_CUSTOM_FIELD_KEYS) <= keys for keys in created_keys)

    chats = {c["id"]: c for c in truth["chats"]}
    assert len(chats) == 32
    for chat_id in answer["chats_updated"] + answer["chats_created"]:
        assert chats[chat_id]["updatedAt"] > "2026-11-01T12:00:00.000Z"
        assert octa.get(f"/chat/{chat_id}").json() == chats[chat_id]
        assert octa.get(f"/chat/{chat_id}/events").json() == truth["chat_events"][chat_id]


def test_same_seed_same_world_other_seed_differs() -> None:
    config = SandboxConfig(seed=11, octadesk_tickets=40, octadesk_chats=20)
    worlds = []
    for cfg in (config, config, SandboxConfig(seed=12, octadesk_tickets=40, octadesk_chats=20)):
        with SandboxServer(cfg) as server, octadesk_client(server) as client:
            admin = f"{server.url}/_admin"
            httpx.post(f"{admin}/octadesk/advance", json={"update": 3, "create": 2})
            page = client.get("/tickets", params={"limit": 10, "page": 2})
            chat = client.get("/chat", params={"limit": 1}).json()[0]
            worlds.append(
                (
                    page.json(),
                    dict(page.headers),
                    client.get(f"/chat/{chat['id']}/messages").json(),
                    httpx.get(f"{admin}/octadesk/truth").json(),
                )
            )
    same, again, other = worlds
    assert same[0] == again[0] and same[2] == again[2] and same[3] == again[3]
    assert same[1]["x-total-items"] == again[1]["x-total-items"]
    assert same[0] != other[0]
    assert same[3]["tickets"] != other[3]["tickets"]


def test_reset_rebuilds_world(octa: httpx.Client, admin: httpx.Client) -> None:
    original = admin.get("/octadesk/truth").json()
    admin.post("/octadesk/advance", json={"update": 2, "create": 2}).raise_for_status()
    answer = admin.post("/reset", json={"octadesk_tickets": 12}).json()
    assert answer["config"]["octadesk_tickets"] == 12 and answer["config"]["seed"] == SMALL.seed
    assert octa.get("/tickets").headers["X-Total-Items"] == "12"
    assert admin.post("/reset", json={"nonsense": 1}).status_code == 400
    assert admin.post("/reset", json={"octadesk_tickets": -1}).status_code == 400
    admin.post("/reset", json={}).raise_for_status()
    assert admin.get("/octadesk/truth").json() == original


def test_million_ticket_world_answers_deep_pages() -> None:
    config = SandboxConfig(octadesk_tickets=1_000_000, octadesk_chats=10, octadesk_malformed=3)
    with SandboxServer(config) as server, octadesk_client(server) as client:
        response = client.get("/tickets", params={"page": 5000, "limit": 100})
        assert response.status_code == 200
        assert response.headers["X-Total-Items"] == "1000000"
        assert response.headers["X-Total-Pages"] == "10000"
        assert response.headers["X-Next-Page"] == "5001"
        page = response.json()
        assert numbers(page) == list(range(1_000_000 - 499_900, 1_000_000 - 500_000, -1))
        assert client.get("/tickets/500100").json() == page[0]
        cut = page[50]["updatedAt"]
        if not TIMESTAMP.match(cut):  # a malformed ticket landed there; use its neighbour
            cut = page[51]["updatedAt"]
        counted = client.get("/tickets", params={**_filter("updatedAt", "ge", cut), "limit": 1})
        assert int(counted.headers["X-Total-Items"]) in (499_951, 499_952)
        admin = f"{server.url}/_admin"
        httpx.post(f"{admin}/octadesk/advance", json={"update": 5, "create": 5}).raise_for_status()
        again = client.get("/tickets", params={"page": 5000, "limit": 100})
        assert again.headers["X-Total-Items"] == "1000005"
        assert len(again.json()) == 100
        last = client.get("/tickets", params={"page": 10001, "limit": 100})
        assert len(last.json()) == 5 and "X-Next-Page" not in last.headers


def test_malformed_tickets_are_served_and_reported() -> None:
    config = SandboxConfig(octadesk_tickets=40, octadesk_chats=10, octadesk_malformed=4)
    with SandboxServer(config) as server, octadesk_client(server) as client:
        truth = httpx.get(f"{server.url}/_admin/octadesk/truth").json()
        malformed = truth["malformed_tickets"]
        assert len(malformed) == 4 and len(truth["tickets"]) == 36
        for record in malformed:
            assert "id" not in record or not TIMESTAMP.match(record["updatedAt"])
        listed = walk(client, "/tickets", limit=10)
        assert len(listed) == 40
        assert [r for r in listed if r in malformed] == malformed
        answer = httpx.post(f"{server.url}/_admin/octadesk/advance", json={"update": 36}).json()
        assert not set(answer["updated"]) & set(numbers(malformed))


def test_chat_events_link_existing_tickets(octa: httpx.Client, admin: httpx.Client) -> None:
    admin.post("/reset", json={"octadesk_chats": 150}).raise_for_status()
    truth = admin.get("/octadesk/truth").json()
    ticket_numbers = set(numbers(truth["tickets"]))
    chats = walk(octa, "/chat", limit=40)
    assert chats == truth["chats"]
    linked, kinds = 0, set()
    for chat in chats:
        events = octa.get(f"/chat/{chat['id']}/events").json()
        assert events == truth["chat_events"][chat["id"]]
        assert events[0]["type"] == "created"
        links = [e["data"]["ticketNumber"] for e in events if e["type"] == "ticket"]
        contact_links = [
            f["value"] for f in chat["contact"]["customFields"] if f["key"] == "n_mero_do_ticket"
        ]
        assert [str(n) for n in links] == contact_links
        for number in links:
            kinds.add(type(number))
            assert int(number) in ticket_numbers
            linked += 1
        for event in events:
            if event["type"] == "satisfaction":
                assert 1 <= event["data"]["score"] <= 5
    assert 0.2 < linked / len(chats) < 0.5
    assert kinds == {int, str}


def test_chat_messages_are_paginated(octa: httpx.Client) -> None:
    chat = octa.get("/chat", params={"limit": 1}).json()[0]
    everything = octa.get(f"/chat/{chat['id']}/messages").json()
    assert everything and everything[0]["author"]["type"] == "contact"
    assert [m["sentAt"] for m in everything] == sorted(m["sentAt"] for m in everything)
    paged = walk(octa, f"/chat/{chat['id']}/messages", limit=2)
    assert paged == everything
    assert octa.get("/chat/not-a-chat/messages").status_code == 404
    assert octa.get("/chat/7f8e2a4c-0000-4000-8000-000000000000").status_code == 404


def test_a_rate_limit_answers_429_with_retry_after_on_every_route(
    octa: httpx.Client, admin: httpx.Client
) -> None:
    assert admin.get("/octadesk/rate_limit").json()["limit_per_second"] == 0  # none by default
    admin.post("/reset", json={"octadesk_rate_limit_per_second": 2}).raise_for_status()
    answers = [octa.get(path) for path in ("/tickets", "/chat", "/tickets/1")]
    assert [r.status_code for r in answers] == [200, 200, 429]
    assert answers[2].json()["message"]
    retry_after = answers[2].headers["Retry-After"]
    assert retry_after.isdigit() and int(retry_after) >= 1
    # Asking again before Retry-After is up is refused and counted, before the key is checked.
    assert httpx.get(f"{octa.base_url}auth/check").status_code == 429
    limit = admin.get("/octadesk/rate_limit").json()
    assert limit["limit_per_second"] == 2 and limit["accepted"] == 2
    assert limit["rate_limited"] == 2 and limit["requests_before_retry_after"] == 1
    # Changed live through the admin API; 0 lifts it.
    assert admin.put("/octadesk/rate_limit", json={"per_second": "ten"}).status_code == 400
    admin.put("/octadesk/rate_limit", json={"per_second": 0}).raise_for_status()
    assert all(octa.get("/tickets").status_code == 200 for _ in range(20))
    assert admin.get("/octadesk/rate_limit").json()["rate_limited"] == 0
