"""Fault injection: every kind actually happens, deterministically, and is counted."""

from __future__ import annotations

import threading
import time
from email.utils import format_datetime, parsedate_to_datetime

import httpx
import pytest

from support_assets.sandbox.faults import FaultConfig, FaultConfigError, FaultInjector
from support_assets_tests.sandbox.conftest import walk


def statuses(client: httpx.Client, n: int, path: str = "/auth/check") -> list[int]:
    return [client.get(path).status_code for _ in range(n)]


def test_rate_limit_every_nth_with_retry_after(octa: httpx.Client, admin: httpx.Client) -> None:
    admin.put("/faults", json={"rate_limit_every": 3, "retry_after": 2}).raise_for_status()
    results = [octa.get("/tickets", params={"limit": 5}) for _ in range(9)]
    assert [r.status_code for r in results] == [200, 200, 429] * 3
    refused = results[2]
    assert refused.headers["Retry-After"] == "2"
    assert refused.json()["message"]
    assert admin.get("/health").status_code == 200  # admin is never faulted nor counted
    stats = admin.get("/stats").json()
    assert stats["faults_injected"]["429"] == 3
    assert stats["requests"]["GET /octadesk/tickets"] == 9

    when = format_datetime(parsedate_to_datetime("Sun, 01 Nov 2026 12:00:05 GMT"), usegmt=True)
    admin.put("/faults", json={"rate_limit_every": 1, "retry_after": when}).raise_for_status()
    response = octa.get("/auth/check")
    assert response.status_code == 429
    assert parsedate_to_datetime(response.headers["Retry-After"]).second == 5


def test_errors_every_nth_and_max_faults(octa: httpx.Client, admin: httpx.Client) -> None:
    admin.put("/faults", json={"error_every": 2}).raise_for_status()
    assert statuses(octa, 4) == [200, 500, 200, 500]
    admin.put("/faults", json={"error_every": 2, "error_status": 503, "max_faults": 2})
    assert statuses(octa, 8) == [200, 503, 200, 503, 200, 200, 200, 200]
    injected = admin.get("/stats").json()["faults_injected"]
    assert injected["500"] == 2 and injected["503"] == 2
    admin.delete("/faults").raise_for_status()
    assert statuses(octa, 4) == [200] * 4


def test_slow_answers_trip_client_timeouts(octa: httpx.Client, admin: httpx.Client) -> None:
    admin.put("/faults", json={"slow_every": 2, "slow_seconds": 2.0}).raise_for_status()
    assert octa.get("/auth/check", timeout=1.5).status_code == 200
    with pytest.raises(httpx.ReadTimeout):
        octa.get("/auth/check", timeout=0.5)
    started = time.monotonic()
    assert octa.get("/auth/check").status_code == 200
    assert octa.get("/auth/check").status_code == 200  # the 4th: slow again, but answers
    assert time.monotonic() - started >= 2.0
    assert admin.get("/stats").json()["faults_injected"]["slow"] == 2


def test_latency_applies_to_every_simulator_request(
    octa: httpx.Client, admin: httpx.Client
) -> None:
    admin.put("/faults", json={"latency_ms": 2000}).raise_for_status()
    started = time.monotonic()
    octa.get("/auth/check").raise_for_status()
    assert time.monotonic() - started >= 2.0
    started = time.monotonic()
    admin.get("/health").raise_for_status()
    assert time.monotonic() - started < 1.5  # generous: only a 2 s delay would fail it


def test_slow_requests_do_not_block_others(octa: httpx.Client, admin: httpx.Client) -> None:
    admin.put("/faults", json={"slow_every": 1, "slow_seconds": 2.0}).raise_for_status()
    barrier = threading.Barrier(4)
    durations: list[float] = []

    def call() -> None:
        barrier.wait()
        started = time.monotonic()
        with httpx.Client(base_url=str(octa.base_url), headers=octa.headers) as client:
            client.get("/auth/check").raise_for_status()
        durations.append(time.monotonic() - started)

    started = time.monotonic()
    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(durations) == 4
    assert time.monotonic() - started < 6.0  # served concurrently, not 4 × 2 s in a row


def test_duplicate_across_pages(octa: httpx.Client, admin: httpx.Client) -> None:
    truth = admin.get("/octadesk/truth").json()["tickets"]
    admin.put("/faults", json={"duplicate_across_pages": True}).raise_for_status()
    page1 = octa.get("/tickets", params={"limit": 10, "page": 1})
    page2 = octa.get("/tickets", params={"limit": 10, "page": 2})
    assert page2.json()[0] == page1.json()[-1]
    assert len(page2.json()) == 11
    assert page2.headers["X-Total-Items"] == "60"
    walked = walk(octa, "/tickets", limit=10)
    assert len(walked) == 60 + 5
    unique = {t["number"]: t for t in walked}
    assert sorted(unique) == sorted(t["number"] for t in truth)
    assert admin.get("/stats").json()["faults_injected"]["duplicate_across_pages"] == 6


def test_mutation_during_pagination(octa: httpx.Client, admin: httpx.Client) -> None:
    before = admin.get("/octadesk/truth").json()["tickets"]
    admin.put("/faults", json={"mutate_during_pagination": True}).raise_for_status()
    walked = walk(octa, "/tickets", limit=10)
    after = admin.get("/octadesk/truth").json()["tickets"]
    mutated = after[0]
    assert mutated["number"] == before[-1]["number"]  # it sat on the last page
    assert mutated["status"] != before[-1]["status"]
    assert mutated["updatedAt"] > before[0]["updatedAt"]
    assert walked[:10] == before[:10]
    # everything shifted by one: the walk repeats a record and misses the mutated one
    assert mutated["number"] not in {t["number"] for t in walked}
    assert len({t["number"] for t in walked}) == 59
    injected = admin.get("/stats").json()["faults_injected"]
    assert injected["mutate_during_pagination"] == 1
    walk(octa, "/chat", limit=10)
    chats = admin.get("/octadesk/truth").json()["chats"]
    assert chats[0]["updatedAt"] > "2026-11-01T12:00:00.000Z"
    assert admin.get("/stats").json()["faults_injected"]["mutate_during_pagination"] == 2


def test_fault_settings_are_validated(admin: httpx.Client) -> None:
    for body in (
        {"rate_limit_every": -1},
        {"error_status": 404},
        {"retry_after": "tomorrow"},
        {"surprise": True},
        {"duplicate_across_pages": "yes"},
    ):
        assert admin.put("/faults", json=body).status_code == 400, body
    active = admin.put("/faults", json={"rate_limit_every": 5}).json()
    assert active["rate_limit_every"] == 5 and active["error_every"] is None
    assert admin.get("/faults").json() == active


def test_reset_and_delete_clear_faults_and_stats(octa: httpx.Client, admin: httpx.Client) -> None:
    admin.put("/faults", json={"rate_limit_every": 1}).raise_for_status()
    assert octa.get("/auth/check").status_code == 429
    admin.delete("/stats").raise_for_status()
    stats = admin.get("/stats").json()
    assert stats["requests"] == {} and stats["faults_injected"]["429"] == 0
    admin.post("/reset", json={}).raise_for_status()
    assert octa.get("/auth/check").status_code == 200


def test_injector_counts_exactly_under_threads() -> None:
    injector = FaultInjector()
    injector.configure({"rate_limit_every": 10, "error_every": 7, "max_faults": 150})
    refused: list[int] = []
    lock = threading.Lock()

    def hammer() -> None:
        local = [f.status for f in (injector.on_request() for _ in range(250)) if f.status]
        with lock:
            refused.extend(local)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(refused) == 150
    counts = injector.counts()
    assert counts["429"] + counts["500"] == 150


def test_injector_without_budget_refuses_data_faults() -> None:
    injector = FaultInjector()
    assert not injector.take("duplicate_across_pages")
    injector.configure(FaultConfig(duplicate_across_pages=True, max_faults=1))
    assert injector.take("duplicate_across_pages")
    assert not injector.take("duplicate_across_pages")
    with pytest.raises(FaultConfigError):
        FaultConfig.from_dict({"slow_seconds": "fast"})
