"""The web helpdesk's resource from the settings: the helpdesk and its OTP sheet."""

from collections.abc import Mapping
from typing import Any

from dagster import EnvVar

from support_assets.core.sandbox_defaults import (
    SANDBOX_HELPDESK_WEB_API_TOKEN,
    SANDBOX_HELPDESK_WEB_PASSWORD,
    SANDBOX_HELPDESK_WEB_USER,
    SANDBOX_OTP_CELL,
    SANDBOX_OTP_SHEET_ID,
)
from support_assets.core.settings import (
    data_dir,
    env_or,
    http_bounds,
    is_set,
    local_value,
    sandbox_url,
    setting,
    text_setting,
)
from support_assets.sources.helpdesk_web.client import HelpdeskWebResource
from support_assets.sources.helpdesk_web.otp_sheet import GOOGLE_SHEETS_URL, OtpSheetResource


def helpdesk_web_resource(env: Mapping[str, str], data: str) -> HelpdeskWebResource:
    """The web helpdesk and its OTP sheet. The sandbox's credentials are defaults only while
    HELPDESK_WEB_BASE_URL is unset; once it is set, what the chosen mode needs must be set too
    (an unset EnvVar fails the run with its name), and the sheet is Google's."""
    real = is_set("HELPDESK_WEB_BASE_URL", env)
    auth = text_setting("HELPDESK_WEB_AUTH", env).strip().lower()

    def credential(name: str, sandbox_value: str, needed: bool) -> str | EnvVar | None:
        if is_set(name, env) or (real and needed):
            return EnvVar(name)
        return None if real else sandbox_value

    google = any(
        is_set(name, env)
        for name in ("HELPDESK_WEB_BASE_URL", "OTP_SHEET_ID", "GOOGLE_SERVICE_ACCOUNT_FILE")
    )
    sheets_default = GOOGLE_SHEETS_URL if google else f"{sandbox_url(env)}/sheets"
    return HelpdeskWebResource(
        base_url=env_or("HELPDESK_WEB_BASE_URL", f"{sandbox_url(env)}/helpdesk_web", env),
        auth_mode=auth,
        user=credential("HELPDESK_WEB_USER", SANDBOX_HELPDESK_WEB_USER, auth == "otp"),
        password=credential("HELPDESK_WEB_PASSWORD", SANDBOX_HELPDESK_WEB_PASSWORD, auth == "otp"),
        api_token=credential(
            "HELPDESK_WEB_API_TOKEN", SANDBOX_HELPDESK_WEB_API_TOKEN, auth == "token"
        ),
        otp_sheet=OtpSheetResource(
            sheet_id=env_or("OTP_SHEET_ID", SANDBOX_OTP_SHEET_ID, env),
            cell=env_or("OTP_SHEET_CELL", SANDBOX_OTP_CELL, env),
            service_account_file=text_setting("GOOGLE_SERVICE_ACCOUNT_FILE", env) or None,
            sandbox_credentials_dir=data,
            sheets_base_url=local_value("GOOGLE_SHEETS_BASE_URL", sheets_default, env),
            timeout_seconds=setting("OTP_TIMEOUT_SECONDS", env),
        ),
        session_state_dir=data,
        **http_bounds(env),
    )


def resources(env: Mapping[str, str]) -> dict[str, Any]:
    """The resource key the web helpdesk's assets use."""
    return {"helpdesk_web": helpdesk_web_resource(env, data_dir(env))}
