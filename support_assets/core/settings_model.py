"""What a setting is: its typed default, what it does, whether it is a secret.

A default is written once, in the tables (``platform_settings``, ``source_settings``).
``Setting.default`` is how the README states it; the value the readers in
``support_assets.core.settings`` fall back to is ``Setting.fallback``, a str, int, float or
bool, or a function of the other settings for defaults computed from them (paths under
SUPPORT_DATA_DIR, URLs under SUPPORT_SANDBOX_URL).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

Value = str | int | float | bool
Reader = Callable[[str], Value]
"""Reads another setting's typed value (the environment's, else its default)."""
Computed = Callable[[Reader, Mapping[str, str]], Value]
"""A default computed from other settings and the environment."""


@dataclass(frozen=True)
class Setting:
    """One environment variable: its typed default, what it does, whether it is a secret."""

    name: str
    fallback: Value | Computed
    description: str
    secret: bool = False
    documented: str | None = None
    """How the README states the default, when it is not simply the fallback's text."""

    @property
    def default(self) -> str:
        """The default as the README states it."""
        if self.documented is not None:
            return self.documented
        return shown(self.fallback)

    @property
    def kind(self) -> type:
        """The type a value of this setting is read as (str for computed defaults)."""
        return str if callable(self.fallback) else type(self.fallback)


def shown(value: object) -> str:
    """A typed default as the README writes it: ``false``, ``20`` (not ``20.0``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def under_data_dir(leaf: str) -> Computed:
    """A path under SUPPORT_DATA_DIR."""
    return lambda read, env: f"{read('SUPPORT_DATA_DIR')}/{leaf}"


def under_sandbox(path: str) -> Computed:
    """A URL under the sandbox's base URL."""
    return lambda read, env: f"{str(read('SUPPORT_SANDBOX_URL')).rstrip('/')}/{path}"


def rate_limit_state_default(read: Reader, env: Mapping[str, str]) -> str:
    """Beside the Dagster instance when there is one, else under SUPPORT_DATA_DIR."""
    home = env.get("DAGSTER_HOME")
    return (
        f"{home}/rate_limits.sqlite" if home else f"{read('SUPPORT_DATA_DIR')}/rate_limits.sqlite"
    )
