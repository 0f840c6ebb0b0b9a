"""Every setting, and reading them: one typed reader, and the helpers resources use.

A setting that is present in the environment reaches resources as ``EnvVar(name)``, so run
storage keeps only its name, never its value. With nothing set, everything points at the
sandbox and the local stores.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from dagster import EnvVar

from support_assets.core.platform_settings import PLATFORM_SETTINGS
from support_assets.core.settings_model import Setting, Value
from support_assets.core.source_settings import SOURCE_SETTINGS

__all__ = [
    "SETTINGS",
    "SETTINGS_BY_NAME",
    "Setting",
    "data_dir",
    "env_or",
    "http_bounds",
    "is_set",
    "local_value",
    "rate_limit_state",
    "sandbox_url",
    "setting",
]

SETTINGS: tuple[Setting, ...] = (*PLATFORM_SETTINGS, *SOURCE_SETTINGS)
"""Every setting the platform reads: the one table the README mirrors."""
SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}

_TRUE = ("true", "1", "yes", "on")


def _environ(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def _readable(name: str) -> Setting:
    """The documented, non-secret setting ``name``; secrets only ever travel as ``EnvVar``."""
    found = SETTINGS_BY_NAME.get(name)
    if found is None or found.secret:
        raise KeyError(f"{name} is not a documented non-secret setting")
    return found


def setting(name: str, environ: Mapping[str, str] | None = None) -> Value:
    """A non-secret setting's typed value: the environment's when set (and non-empty), else
    its default from the table. Raises ``KeyError`` for unknown or secret names."""
    entry = _readable(name)
    env = _environ(environ)
    raw = env.get(name)
    if not raw:
        if callable(entry.fallback):
            return entry.fallback(lambda other: setting(other, env), env)
        return entry.fallback
    kind = entry.kind
    if kind is bool:
        return raw.strip().lower() in _TRUE
    return kind(raw)


def text_setting(name: str, environ: Mapping[str, str] | None = None) -> str:
    """A non-secret setting's value as text (see :func:`setting`)."""
    return str(setting(name, environ))


def sandbox_url(environ: Mapping[str, str] | None = None) -> str:
    """The sandbox's base URL (``support-assets`` sets it when it serves on another port)."""
    return str(setting("SUPPORT_SANDBOX_URL", environ)).rstrip("/")


def is_set(name: str, environ: Mapping[str, str] | None = None) -> bool:
    """Whether the variable is present and non-empty."""
    return bool(_environ(environ).get(name))


def env_or(name: str, default: str, environ: Mapping[str, str] | None = None) -> str | EnvVar:
    """``EnvVar(name)`` when the variable is set, otherwise ``default``."""
    if name not in SETTINGS_BY_NAME:
        raise KeyError(f"{name} is not a documented setting; add it to SETTINGS")
    return EnvVar(name) if is_set(name, environ) else default


def data_dir(environ: Mapping[str, str] | None = None) -> str:
    """Folder of the local stores (SUPPORT_DATA_DIR)."""
    return str(setting("SUPPORT_DATA_DIR", environ))


def local_value(name: str, default: str, environ: Mapping[str, str] | None = None) -> str:
    """A non-secret setting's raw text, or ``default`` where the default depends on the context
    (e.g. the sandbox's URL until a real system's token is set); otherwise use :func:`setting`,
    which reads the one default the table holds."""
    _readable(name)
    return _environ(environ).get(name) or default


def http_bounds(env: Mapping[str, str]) -> dict[str, Any]:
    """What every HTTP API resource reads with: bounds (SUPPORT_HTTP_*) and the shared
    request budget (SUPPORT_RATE_LIMIT_STATE)."""
    return {
        "max_pages": setting("SUPPORT_HTTP_MAX_PAGES", env),
        "max_response_bytes": setting("SUPPORT_HTTP_MAX_RESPONSE_BYTES", env),
        "request_deadline_seconds": setting("SUPPORT_HTTP_REQUEST_DEADLINE_SECONDS", env),
        "rate_limit_state": rate_limit_state(env),
    }


def rate_limit_state(env: Mapping[str, str]) -> str | None:
    """Where the shared request budgets live (SUPPORT_RATE_LIMIT_STATE), None when off."""
    value = str(setting("SUPPORT_RATE_LIMIT_STATE", env)).strip()
    return None if value.lower() in ("off", "none", "") else value
