"""Personal data stays in the stores: a whole materialization of the demo graph against the
sandbox leaves no customer's CPF/CNPJ, name or e-mail anywhere in Dagster's run storage.

The instance lives in a DAGSTER_HOME of its own, apart from the warehouse, the lake and the
documents store, so every byte under it (run and event-log databases with every event, its
metadata and its log messages, compute logs, schedule storage) is run storage, and is scanned
as it is and as JSON escapes it. What to look for comes from the simulators' truth and the
service events published, never from the platform.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support_assets.cli import materialize_all
from support_assets.core.identity import document_or_reason, is_email
from support_assets.core.sandbox_defaults import (
    SANDBOX_OCTADESK_API_KEY,
    SANDBOX_TELEGRAM_BOT_TOKEN,
)
from support_assets.core.settings import SETTINGS
from support_assets.definitions import build_definitions
from support_assets.sandbox.server import SandboxConfig, SandboxServer
from support_assets.sandbox.service_events import generate_events
from support_assets.sources.service_events.resources import stomp_resource
from support_assets.sources.telegram.webhook import run_poller

SEED = 23
DAGSTER_YAML = "telemetry:\n  enabled: false\nnux:\n  enabled: false\n"
#: Keys whose values are a customer's name in the simulators' truth (people and companies).
NAME_KEYS = {"name", "nome_fantasia", "razao_social", "legalname"}
#: Parents whose ``name`` is a customer's (not a status, a channel, a desk or an agent).
CUSTOMER_PARENTS = {"requester", "contact", "client", "contacts", "clients"}
_DOCUMENT_SHAPE = re.compile(r"[0-9A-Za-z][0-9A-Za-z.\-/ ]{9,20}")


def _walk(value: Any, parent: str = "") -> Iterator[tuple[str, str, Any]]:
    """(parent key, key, value) of every scalar in a JSON document."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list):
                yield from _walk(item, key.lower())
            else:
                yield parent, key.lower(), item
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item, parent)


def personal_values(truths: list[Any], events: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Customers' documents (compact and formatted), full names and e-mails in the truth."""
    found: dict[str, set[str]] = {"documents": set(), "names": set(), "emails": set()}
    for parent, key, value in _walk([*truths, *events]):
        if isinstance(value, int) and not isinstance(value, bool) and value > 10**8:
            value = str(value)
        if not isinstance(value, str):
            continue
        text = value.strip()
        if is_email(text.casefold()):
            found["emails"].update({text, text.casefold()})
        elif _DOCUMENT_SHAPE.fullmatch(text) and sum(c.isdigit() for c in text) >= 9:
            document, _ = document_or_reason(text)
            if document is not None:
                found["documents"].update({document.number, document.formatted})
        elif key in NAME_KEYS and (parent in CUSTOMER_PARENTS or parent == "") and " " in text:
            found["names"].add(text)
    return found


def needles(value: str) -> set[bytes]:
    """How ``value`` can sit in a file: UTF-8, or inside JSON (escaped to ASCII or not)."""
    escaped = json.dumps(value)[1:-1]
    return {value.encode(), escaped.encode(), json.dumps(value, ensure_ascii=False)[1:-1].encode()}


def run_storage_bytes(home: Path) -> dict[str, bytes]:
    return {str(p.relative_to(home)): p.read_bytes() for p in home.rglob("*") if p.is_file()}


@pytest.fixture
def deployment(tmp_path: Path, activemq: Any) -> Iterator[dict[str, Any]]:
    """The sandbox, a broker topic of its own and settings pointing every store at tmp_path."""
    name = uuid.uuid4().hex[:10]
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    config = SandboxConfig(
        seed=SEED, octadesk_tickets=60, octadesk_chats=30, helpdesk_web_tickets=30
    )
    with SandboxServer(config) as sandbox, pytest.MonkeyPatch.context() as mp:
        env = {
            "DAGSTER_HOME": str(home),
            "SUPPORT_SANDBOX_URL": sandbox.url,
            "SUPPORT_DATA_DIR": str(tmp_path / "data"),
            "SUPPORT_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
            "SUPPORT_LAKE_URL": str(tmp_path / "lake"),
            "OCTADESK_BASE_URL": f"{sandbox.url}/octadesk",
            "OCTADESK_API_KEY": SANDBOX_OCTADESK_API_KEY,
            "OCTADESK_RATE_LIMIT_PER_SECOND": "500",
            "TELEGRAM_API_BASE_URL": f"{sandbox.url}/telegram",
            "TELEGRAM_BOT_TOKEN": SANDBOX_TELEGRAM_BOT_TOKEN,
            "PLOOMES_RATE_LIMIT_PER_SECOND": "500",
            "MILVUS_RATE_LIMIT_PER_SECOND": "500",
            **activemq.env,
            "STOMP_DESTINATION": f"/topic/test.personal.{name}",
            "STOMP_CLIENT_ID": f"support-assets-personal-{name}",
            "STOMP_SUBSCRIPTION_NAME": f"personal-{name}",
            "SUPPORT_PSEUDONYM_KEY": "test-pseudonym-key-personal-9d1",
        }
        for setting in SETTINGS:
            if setting.name.startswith(
                ("HELPDESK_WEB_", "OTP_", "GOOGLE_", "STOMP_", "MONGODB_", "SUPPORT_", "CRM_")
            ):
                mp.delenv(setting.name, raising=False)
        for key, value in env.items():
            mp.setenv(key, value)
        yield {"sandbox": sandbox, "home": home}


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_whole_materialization_leaves_no_personal_data_in_run_storage(
    deployment: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox, home = deployment["sandbox"], deployment["home"]
    events = generate_events(40, invalid_share=0.25, seed=SEED)
    stomp = stomp_resource()
    assert stomp.ensure_subscription()
    stomp.publish([e.body for e in events])
    admin = httpx.Client(base_url=f"{sandbox.url}/_admin", timeout=30)
    admin.post("/telegram/generate", json={"count": 60, "spread_seconds": 600}).raise_for_status()
    run_poller(until_empty=True)
    truths = [
        admin.get(f"/{system}/truth").raise_for_status().json()
        for system in ("octadesk", "helpdesk_web", "ploomes", "milvus")
    ]

    # The CRM sync in dry run first (its metadata lists what it would create), then everything.
    monkeypatch.setenv("CRM_SYNC_DRY_RUN", "true")
    assert materialize_all("group:crm", build_definitions())
    monkeypatch.delenv("CRM_SYNC_DRY_RUN")
    assert materialize_all(None, build_definitions())

    published = []
    for event in events:
        try:
            published.append(json.loads(event.body))
        except json.JSONDecodeError:
            continue  # a broken body: its values are in the valid ones' shapes anyway
    found = personal_values(truths, published)
    assert len(found["documents"]) > 50 and len(found["names"]) > 30, {
        k: len(v) for k, v in found.items()
    }
    assert len(found["emails"]) > 20, len(found["emails"])
    storage = run_storage_bytes(home)
    # The scan reads the run storage: the runs and the assets' materializations are there.
    everything = b"".join(storage.values())
    assert b"staging" in everything and b"crm_clients" in everything
    assert b"ploomes_contacts" in everything and b"rows_written" in everything
    leaks = []
    for kind, values in found.items():
        for value in sorted(values):
            for needle in needles(value):
                files = [name for name, data in storage.items() if needle in data]
                if files:
                    leaks.append((kind, value, sorted(files)[:3]))
                    break
    assert not leaks, f"{len(leaks)} personal value(s) in run storage, e.g. {leaks[:10]}"
