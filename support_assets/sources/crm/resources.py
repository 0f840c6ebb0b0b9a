"""The CRM resources from the deployment's settings: Ploomes, Milvus, the sync settings and the
legacy import's, each defaulting to the sandbox while its URL is unset."""

from collections.abc import Mapping
from datetime import date
from typing import Any

from dagster import EnvVar

from support_assets.core.sandbox_defaults import (
    SANDBOX_MILVUS_API_TOKEN,
    SANDBOX_PLOOMES_TAG_ENTREGA,
    SANDBOX_PLOOMES_TAG_INSTALACAO,
    SANDBOX_PLOOMES_USER_KEY,
)
from support_assets.core.settings import (
    env_or,
    http_bounds,
    is_set,
    local_value,
    sandbox_url,
    setting,
    text_setting,
)
from support_assets.sources.crm.config import CrmSyncSettings
from support_assets.sources.crm.migration import CrmLegacySettings
from support_assets.sources.crm.milvus import MilvusResource
from support_assets.sources.crm.ploomes import PloomesResource


def milvus_document_as(value: str) -> str:
    """``MILVUS_DOCUMENT_AS``: ``string`` (zero-padded text) or ``number`` (a JSON number)."""
    text = value.strip().lower()
    if text not in ("string", "number"):
        raise ValueError(f"MILVUS_DOCUMENT_AS must be string or number, not {value!r}")
    return text


def crm_resources(env: Mapping[str, str]) -> dict[str, Any]:
    """The CRM resources for the deployment the settings describe (sandbox when unset); the
    pseudonym key (``pseudonym``) and the documents store are the platform's own.

    A source's credential defaults to the sandbox's only while its URL is unset too; once the
    URL is set, the credential must be set (an unset EnvVar fails the run naming it)."""

    def secret(name: str, url_setting: str, sandbox_value: str) -> str | EnvVar:
        if is_set(name, env) or is_set(url_setting, env):
            return EnvVar(name)
        return sandbox_value

    def tag_id(name: str, sandbox_value: int) -> int | None:
        """The setting's id; the sandbox's only while Ploomes is the sandbox; else None (the
        sync looks the tag up by name)."""
        value = local_value(name, "", env).strip()
        if value:
            try:
                return int(value)
            except ValueError:
                raise ValueError(f"{name} must be a whole number, not {value!r}") from None
        return None if is_set("PLOOMES_BASE_URL", env) else sandbox_value

    start_date = text_setting("CRM_SYNC_START_DATE", env).strip()
    try:
        date.fromisoformat(start_date)
    except ValueError:
        raise ValueError(f"CRM_SYNC_START_DATE must be YYYY-MM-DD, not {start_date!r}") from None

    return {
        "ploomes": PloomesResource(
            base_url=env_or("PLOOMES_BASE_URL", f"{sandbox_url(env)}/ploomes", env),
            user_key=secret("PLOOMES_USER_KEY", "PLOOMES_BASE_URL", SANDBOX_PLOOMES_USER_KEY),
            rate_limit_per_second=setting("PLOOMES_RATE_LIMIT_PER_SECOND", env),
            **http_bounds(env),
        ),
        "milvus": MilvusResource(
            base_url=env_or("MILVUS_BASE_URL", f"{sandbox_url(env)}/milvus/api", env),
            api_token=secret("MILVUS_API_TOKEN", "MILVUS_BASE_URL", SANDBOX_MILVUS_API_TOKEN),
            rate_limit_per_second=setting("MILVUS_RATE_LIMIT_PER_SECOND", env),
            document_as=milvus_document_as(text_setting("MILVUS_DOCUMENT_AS", env)),
            **http_bounds(env),
        ),
        "crm_settings": CrmSyncSettings(
            dry_run=bool(setting("CRM_SYNC_DRY_RUN", env)),
            start_date=start_date,
            installation_tag_id=tag_id("PLOOMES_TAG_INSTALACAO_ID", SANDBOX_PLOOMES_TAG_INSTALACAO),
            delivery_tag_id=tag_id("PLOOMES_TAG_ENTREGA_ID", SANDBOX_PLOOMES_TAG_ENTREGA),
            ticket_desk=text_setting("MILVUS_TICKET_DESK", env),
        ),
        "crm_legacy": CrmLegacySettings(
            sent_collection=text_setting("CRM_LEGACY_SENT_COLLECTION", env) or None,
            sent_field=text_setting("CRM_LEGACY_SENT_FIELD", env),
            mongodb_uri=EnvVar("CRM_LEGACY_MONGODB_URI")
            if is_set("CRM_LEGACY_MONGODB_URI", env)
            else None,
            mongodb_database=text_setting("CRM_LEGACY_MONGODB_DATABASE", env) or None,
            ticket_window_minutes=setting("CRM_LEGACY_TICKET_WINDOW_MINUTES", env),
        ),
    }
