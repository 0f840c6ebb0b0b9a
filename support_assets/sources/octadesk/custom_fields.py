"""Custom fields as columns: one ``cf_<key>`` text column per custom-field key.

Keys that normalise to the same column never overwrite each other: all but one get a stable
suffix (see :func:`custom_field_columns`).
"""

import hashlib
import logging
from collections.abc import Iterable, Iterator
from typing import Any

logger = logging.getLogger(__name__)


def _custom_field_column(key: Any) -> str:
    cleaned = "".join(c if c.isalnum() else "_" for c in str(key).strip().lower())
    return f"cf_{cleaned.strip('_') or 'unnamed'}"


def custom_field_columns(keys: Iterable[Any]) -> dict[str, str]:
    """The ``cf_<key>`` column of every custom-field key, none shared by two keys.

    Keys that normalise to the same column (``"CPF "`` and ``"cpf"``) would overwrite each
    other. The key already in normal form (``"cpf"``), else the smallest one, keeps
    ``cf_cpf``; every other gets ``cf_cpf__<first 6 hex of the SHA-1 of the key>``, the same
    for that key in every run. Collisions are logged with the keys (names, not values).
    """
    groups: dict[str, list[str]] = {}
    for key in sorted({str(k) for k in keys}):
        groups.setdefault(_custom_field_column(key), []).append(key)
    columns: dict[str, str] = {}
    for column, group in groups.items():
        normal = [k for k in group if f"cf_{k}" == column]
        keeper = normal[0] if normal else group[0]
        for key in group:
            suffix = hashlib.sha1(key.encode()).hexdigest()[:6]
            columns[key] = column if key == keeper else f"{column}__{suffix}"
        if len(group) > 1:
            logger.warning(
                "custom-field keys %s all normalise to %s: %r keeps it, the others get %s",
                group,
                column,
                keeper,
                sorted(columns[k] for k in group if k != keeper),
            )
    return columns


def chat_field_keys(chat: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(key, value) of the chat's ``customFields`` (``key`` or ``name``, and ``value``)."""
    for custom in chat.get("customFields") or []:
        key = (custom.get("key") or custom.get("name")) if isinstance(custom, dict) else None
        if key:
            yield str(key), custom.get("value")


def chat_custom_fields(chat: dict[str, Any], columns: dict[str, str]) -> dict[str, str | None]:
    """The chat's custom fields as ``cf_<key>`` text columns, as the tickets' are (``columns``
    from :func:`custom_field_columns`, so keys that normalise alike never overwrite)."""
    return {
        columns[key]: None if value is None else str(value) for key, value in chat_field_keys(chat)
    }
