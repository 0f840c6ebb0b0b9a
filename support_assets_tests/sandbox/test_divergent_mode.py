"""The divergent mode: switched by configuration, by the CLI flag or per simulator, and what the
Octadesk and web helpdesk simulators then answer."""

from __future__ import annotations

import httpx
import pytest

from support_assets.cli import _sandbox_config, build_parser
from support_assets.sandbox.base import ConfigError, SandboxConfig
from support_assets_tests.sandbox.conftest import octadesk_client


def test_divergent_is_a_bool_in_the_configuration_and_a_cli_flag(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SUPPORT_SANDBOX_URL", raising=False)  # the CLI sets it; undone after
    assert SandboxConfig().divergent is False
    assert SandboxConfig(divergent=True).divergent is True
    with pytest.raises(ConfigError, match="divergent must be true or false"):
        SandboxConfig(divergent=1)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="divergent"):
        SandboxConfig().with_updates({"divergent": "yes"})
    args = build_parser().parse_args(["sandbox", "--divergent", "--port", "0"])
    assert _sandbox_config(args).divergent is True
    args = build_parser().parse_args(["sandbox", "--port", "0"])
    assert _sandbox_config(args).divergent is False


def test_one_simulator_is_switched_alone_and_a_reset_clears_it(sandbox, admin: httpx.Client):
    assert admin.get("/octadesk/divergent").json() == {"divergent": False}
    admin.put("/octadesk/divergent", json={"divergent": True}).raise_for_status()
    assert admin.get("/octadesk/divergent").json() == {"divergent": True}
    assert admin.get("/helpdesk_web/divergent").json() == {"divergent": False}
    assert admin.put("/octadesk/divergent", json={"divergent": "on"}).status_code == 400
    admin.post("/reset", json={}).raise_for_status()
    assert admin.get("/octadesk/divergent").json() == {"divergent": False}
    admin.post("/reset", json={"divergent": True}).raise_for_status()
    assert admin.get("/helpdesk_web/divergent").json() == {"divergent": True}
    admin.put("/helpdesk_web/divergent", json={"divergent": False}).raise_for_status()
    assert admin.get("/helpdesk_web/divergent").json() == {"divergent": False}
    admin.put("/helpdesk_web/divergent", json={"divergent": None}).raise_for_status()
    assert admin.get("/helpdesk_web/divergent").json() == {"divergent": True}


def test_divergent_octadesk_ignores_filters_keeps_the_sort_and_wraps_lists(sandbox, admin):
    since = "2026-11-01T00:00:00.000Z"
    params = {
        "filters[0][property]": "updatedAt",
        "filters[0][operator]": "ge",
        "filters[0][value]": since,
        "limit": 20,
    }
    with octadesk_client(sandbox) as octa:
        documented = octa.get("/tickets", params=params)
        assert isinstance(documented.json(), list) and "X-Total-Items" in documented.headers
        admin.put("/octadesk/divergent", json={"divergent": True}).raise_for_status()
        divergent = octa.get("/tickets", params=params)
        body = divergent.json()
        assert set(body) == {"data", "page", "limit"}
        assert "X-Total-Items" not in divergent.headers
        assert "X-Total-Pages" not in divergent.headers
        records = body["data"]
        assert len(records) == 20 > len(documented.json())  # the filter was not applied
        times = [r["updatedAt"] for r in records]
        assert times == sorted(times, reverse=True)  # the sort was
        assert all(isinstance(r["number"], str) for r in records)
        chat_id = octa.get("/chat", params={"limit": 1}).json()["data"][0]["id"]
        assert set(octa.get(f"/chat/{chat_id}/events").json()) == {"data"}
        knobs = admin.put("/octadesk/behaviour", json={"envelope": False}).json()
        assert knobs["envelope"] is False and knobs["ignore_filters"] is True
        assert isinstance(octa.get("/tickets", params=params).json(), list)
        knobs = admin.put("/octadesk/behaviour", json={"ignore_sort": True}).json()
        times = [r["updatedAt"] for r in octa.get("/tickets", params={"limit": 50}).json()]
        assert times != sorted(times, reverse=True)
        assert admin.put("/octadesk/behaviour", json={"nope": True}).status_code == 400
