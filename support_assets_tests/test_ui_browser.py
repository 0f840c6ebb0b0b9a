"""The Dagster UI in a real Chromium: the Octadesk lineage graph, "Materialize all", a run that
succeeds, and the tickets in the warehouse afterwards."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support_assets_tests.support.e2e_helpers import (
    ARTIFACTS_DIR,
    CHROMIUM,
    CHROMIUM_ARGS,
    DagsterDev,
    dagster_dev,
    deployment_env,
    make_warehouse,
    read_table,
    running_sandbox,
    sandbox_truth,
    tail,
    truth_ids,
)

TICKETS = 250
CHATS = 30
# What the graph shows on each node: the last part of the key.
GRAPH_LABELS = Counter(
    {
        "octadesk_tickets": 2,
        "octadesk_chats": 2,
        "octadesk_tickets_quarantine": 1,
        "octadesk_chats_quarantine": 1,
        "octadesk_compat_view": 1,
    }
)
RUNS_QUERY = """
query Runs {
  runsOrError {
    __typename
    ... on Runs { results { runId status jobName } }
    ... on PythonError { message }
  }
}
"""
REPOSITORIES_QUERY = """
query Repositories {
  repositoriesOrError {
    __typename
    ... on RepositoryConnection { nodes { name location { name } } }
    ... on PythonError { message }
  }
}
"""
RUN_QUERY = """
query Run($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { assetSelection { path } }
    ... on PythonError { message }
  }
}
"""
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}
LOADING = re.compile(r"^Loading")
# How long an expectation waits for the UI: the graph's live data arrives after the nodes, and a
# busy CI machine takes tens of seconds where a quiet one takes one.
UI_WAIT_MS = 90_000
EXPECTED_KEYS = {
    ("raw", "octadesk_tickets"),
    ("raw", "octadesk_chats"),
    ("raw", "octadesk_tickets_quarantine"),
    ("raw", "octadesk_chats_quarantine"),
    ("staging", "octadesk_tickets"),
    ("staging", "octadesk_chats"),
    ("marts", "octadesk_compat_view"),
}


def require_chromium() -> Path:
    """Debian's Chromium; the test fails (never skips) without it: ``make test`` installs it."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests drive Debian's Chromium "
            "(`make test` installs it, or `apt-get install -y chromium`)"
        )
    return CHROMIUM


@pytest.fixture
def sandbox() -> Iterator[Any]:
    with running_sandbox(seed=5, octadesk_tickets=TICKETS, octadesk_chats=CHATS) as server:
        yield server


@pytest.fixture
def ui(tmp_path: Path, sandbox: Any) -> Iterator[tuple[DagsterDev, Path]]:
    """``dagster dev`` against the sandbox and a temp warehouse; stopped with SIGTERM."""
    warehouse = make_warehouse(tmp_path / "deployment")
    env = deployment_env(warehouse, sandbox.url, {"OCTADESK_RATE_LIMIT_PER_SECOND": "200"})
    with dagster_dev(env, cwd=warehouse.root, log=tmp_path / "dagster-dev.log") as dev:
        yield dev, warehouse.duckdb_path


def _runs(dev: DagsterDev) -> list[dict[str, Any]]:
    data = dev.graphql(RUNS_QUERY)["runsOrError"]
    assert data["__typename"] == "Runs", data
    return data["results"]


def _group_url(dev: DagsterDev) -> str:
    data = dev.graphql(REPOSITORIES_QUERY)["repositoriesOrError"]
    assert data["__typename"] == "RepositoryConnection", data
    (repo,) = data["nodes"]
    return f"{dev.url}/locations/{repo['name']}@{repo['location']['name']}/asset-groups/octadesk"


def _run_assets(dev: DagsterDev, run_id: str) -> set[tuple[str, ...]]:
    data = dev.graphql(RUN_QUERY, {"runId": run_id})["runOrError"]
    assert data["__typename"] == "Run", data
    return {tuple(key["path"]) for key in data["assetSelection"] or []}


def _graph_labels(page: Any) -> Counter[str]:
    """Names on the asset nodes drawn in the lineage graph."""
    labels = page.locator("svg foreignObject [data-tooltip]").evaluate_all(
        "nodes => nodes.map(n => n.getAttribute('data-tooltip'))"
    )
    return Counter(labels)


def _wait_for_new_run(dev: DagsterDev, before: set[str], page: Any, timeout: float) -> str:
    """The run the UI launched; confirms a launch dialog if the UI shows one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = [r["runId"] for r in _runs(dev) if r["runId"] not in before]
        if new:
            assert len(new) == 1, new
            return new[0]
        for label in ("Launch run", "Materialize", "Confirm"):
            button = page.get_by_role("dialog").get_by_role("button", name=label, exact=True)
            if button.count() and button.first.is_visible():
                button.first.click()
        time.sleep(0.5)
    raise AssertionError("clicking 'Materialize all' launched no run")


def _wait_for_run(dev: DagsterDev, run_id: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    status = "UNKNOWN"
    while time.monotonic() < deadline:
        status = next(r["status"] for r in _runs(dev) if r["runId"] == run_id)
        if status in FINISHED:
            return status
        time.sleep(1)
    raise AssertionError(f"run {run_id} still {status} after {timeout}s")


@pytest.mark.browser
def test_materialize_all_from_the_ui(sandbox: Any, ui: tuple[DagsterDev, Path]) -> None:
    from playwright.sync_api import expect, sync_playwright

    chromium = require_chromium()
    dev, duckdb_path = ui
    truth = sandbox_truth(sandbox.url)
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    assert _runs(dev) == []

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(30_000)
            page.goto(_group_url(dev))

            # The lineage graph shows every Octadesk asset.
            expect(page.locator("svg foreignObject [data-tooltip]")).to_have_count(
                sum(GRAPH_LABELS.values()), timeout=UI_WAIT_MS
            )
            assert _graph_labels(page) == GRAPH_LABELS
            expect(page.locator("svg foreignObject").get_by_text(LOADING)).to_have_count(
                0, timeout=UI_WAIT_MS
            )
            page.screenshot(path=str(ARTIFACTS_DIR / "octadesk-asset-graph.png"))

            # "Materialize all" launches one run, which succeeds.
            materialize = page.get_by_role("button", name="Materialize all")
            expect(materialize).to_be_enabled(timeout=UI_WAIT_MS)
            materialize.click()
            run_id = _wait_for_new_run(dev, set(), page, timeout=30)
            status = _wait_for_run(dev, run_id, timeout=120)
            assert status == "SUCCESS", tail(dev.log)

            assert _run_assets(dev, run_id) == EXPECTED_KEYS

            page.goto(f"{dev.url}/runs/{run_id}")
            expect(page.get_by_text("Success", exact=True).first).to_be_visible(timeout=UI_WAIT_MS)
            expect(page.get_by_text("RUN_SUCCESS").first).to_be_visible(timeout=UI_WAIT_MS)
            page.screenshot(path=str(ARTIFACTS_DIR / "octadesk-run-succeeded.png"))

            # Back on the graph, every node now shows a materialization.
            page.goto(_group_url(dev))
            nodes = page.locator("svg foreignObject [data-tooltip]")
            expect(nodes).to_have_count(sum(GRAPH_LABELS.values()), timeout=UI_WAIT_MS)
            expect(page.locator("svg foreignObject").get_by_text(LOADING)).to_have_count(
                0, timeout=UI_WAIT_MS
            )
            # Raw and staging tables, the quarantines too (empty with a clean sandbox, and
            # materialized all the same: zero quarantined is recorded, not "never materialized"),
            # and the compatibility view (recorded as disabled when no view name is set).
            materialized = page.locator("svg foreignObject").get_by_text("Materialized", exact=True)
            expect(materialized).to_have_count(len(EXPECTED_KEYS), timeout=UI_WAIT_MS)
            expect(page.get_by_text("Never materialized")).to_have_count(0)
            page.screenshot(path=str(ARTIFACTS_DIR / "octadesk-asset-graph-materialized.png"))
        finally:
            browser.close()

    # The run the UI launched loaded the sandbox's records.
    tickets = read_table(duckdb_path, "raw.octadesk_tickets")
    assert len(tickets) == TICKETS
    assert set(tickets["id"]) == truth_ids(truth, "tickets")
    chats = read_table(duckdb_path, "raw.octadesk_chats")
    assert set(chats["id"]) == truth_ids(truth, "chats")
    staging = read_table(duckdb_path, "staging.octadesk_tickets")
    assert set(staging["ticket_id"]) == truth_ids(truth, "tickets")
