"""The settings table and its one reader: each default written once, read typed."""

from __future__ import annotations

import pytest

from support_assets.core.settings import SETTINGS, http_bounds, local_value, setting


def test_setting_reads_the_typed_default_when_unset_or_empty() -> None:
    assert setting("SUPPORT_HTTP_MAX_PAGES", {}) == 100_000
    assert (
        setting("OCTADESK_RATE_LIMIT_PER_SECOND", {"OCTADESK_RATE_LIMIT_PER_SECOND": ""}) == 200.0
    )
    assert setting("CRM_SYNC_DRY_RUN", {}) is False
    assert setting("STOMP_HOST", {}) == "127.0.0.1"


def test_setting_converts_the_environment_to_the_default_type() -> None:
    env = {"STOMP_PORT": "61614", "OTP_TIMEOUT_SECONDS": "12.5", "CRM_SYNC_DRY_RUN": " True"}
    assert setting("STOMP_PORT", env) == 61614
    assert setting("OTP_TIMEOUT_SECONDS", env) == 12.5
    assert setting("CRM_SYNC_DRY_RUN", env) is True


def test_computed_defaults_follow_the_settings_they_are_made_of() -> None:
    assert setting("SUPPORT_LAKE_URL", {"SUPPORT_DATA_DIR": "/d"}) == "/d/lake"
    assert setting("SUPPORT_DUCKDB_PATH", {}) == "./data/warehouse.duckdb"
    assert setting("MILVUS_BASE_URL", {"SUPPORT_SANDBOX_URL": "http://h:1/"}) == (
        "http://h:1/milvus/api"
    )
    assert setting("SUPPORT_RATE_LIMIT_STATE", {"DAGSTER_HOME": "/home"}) == (
        "/home/rate_limits.sqlite"
    )
    assert http_bounds({"SUPPORT_RATE_LIMIT_STATE": "off"})["rate_limit_state"] is None


@pytest.mark.parametrize("name", ["NOT_A_SETTING", "OCTADESK_API_KEY", "MONGODB_URI"])
def test_unknown_and_secret_settings_are_not_read(name: str) -> None:
    with pytest.raises(KeyError):
        setting(name, {name: "x"})
    with pytest.raises(KeyError):
        local_value(name, "", {name: "x"})


def test_every_non_secret_default_reads_and_states_its_value() -> None:
    for entry in SETTINGS:
        assert entry.default, entry.name
        if not entry.secret:
            assert isinstance(setting(entry.name, {}), entry.kind), entry.name
