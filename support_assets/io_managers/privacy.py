"""Personal data never reaches Dagster's run storage through what an IO manager reports.

Run storage (events, their metadata, logs) is kept for ever by ``deploy/dagster.yaml`` and read
by everyone with access to the UI; personal data (documents, names, e-mails, phones, message
text) belongs in the warehouse, the lake and the documents store only. Every IO manager builds
its output metadata through :func:`safe_metadata` and its preview through
:func:`masked_preview`, so the rule lives here once:

* **Preview cells** are shown only when they cannot carry personal data: booleans, floats,
  dates and times, integers below 10^7 (ids and counts, not a CPF or a phone), and short codes
  (at most 40 characters, no whitespace, no ``@``, at most six digits, not a capitalised word,
  not JSON) such as statuses, channels and ids; ISO dates and UUIDs too. Every other cell, and
  every cell of a column whose name says it holds personal data (``PERSONAL_COLUMN``), shows as
  ``‹masked›``. Column names and types are shown as they are.
* **Other metadata values** (what an asset adds to a ``TableStream`` or a ``DocumentBatch``):
  text has its e-mails, CPF/CNPJ-shaped numbers and phone numbers replaced by ``‹email›``,
  ``‹document›`` and ``‹phone›``; in JSON metadata, the value of a key that names personal data
  is masked whole. Numbers, timestamps, schemas and URLs of the stores are kept.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from dagster import (
    JsonMetadataValue,
    MarkdownMetadataValue,
    MetadataValue,
    TableSchema,
    TableSchemaMetadataValue,
    TextMetadataValue,
)

from support_assets.core.identity import is_email
from support_assets.io_managers.write_metadata import markdown_preview

MASKED = "‹masked›"

#: Column (or JSON key) names that hold personal data whatever their values look like.
PERSONAL_COLUMN = re.compile(
    r"(^|_)(nome|first_name|last_name|full_name|username|requester_name|contact_name|"
    r"client_name|customer_name|razao_social|nome_fantasia|legal_?name|e?mail|email_\w*|phone|"
    r"phones|fone|telefone|celular|whatsapp|cpf|cnpj|cnpj_cpf|document|documento|"
    r"cliente_documento|text|caption|message|messages|mensagem|body|payload|record|raw|"
    r"address|endereco|street\w*|zip\w*|cep|birth\w*|nascimento|token|secret|password|"
    r"comment|comments|description|descricao|subject|assunto|question|answer|name)($|_)",
    re.IGNORECASE,
)
#: A bare ``name`` is judged by its values; these suffixes name facts about personal data
#: (an id, a count, a type, a pseudonymous key, a time), not the data itself.
_NOT_PERSONAL = {"name"}
_NOT_PERSONAL_SUFFIX = re.compile(
    r"_(id|ids|count|counts|type|types|kind|key|keys|at|seconds|length|sha256|hash|share)$"
)

_MAX_SMALL_INT = 10**7
_SAFE_TYPES = (bool, float, Decimal, dt.date, dt.time, dt.timedelta)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_ISO_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}:?\d{2})?"
)
_CAPITALISED_WORD = re.compile(r"[A-ZÀ-Þ][a-zß-ÿ]+")

_CPF = r"\d{3}[.\s]?\d{3}[.\s]?\d{3}[-\s]?\d{2}"
_CNPJ = r"[0-9A-Za-z]{2}[.\s]?[0-9A-Za-z]{3}[.\s]?[0-9A-Za-z]{3}[/\s]?[0-9A-Za-z]{4}[-\s]?\d{2}"
_DOCUMENT = re.compile(rf"(?<![\w/.-])(?:{_CNPJ}|{_CPF})(?![\w/-])")
_PHONE = re.compile(r"(?<![\w+])(?:\+\s?\d{2}\s?)?\(?\d{2}\)?[\s-]?9?\d{4}[\s-]?\d{4}(?!\w)")


# --------------------------------------------------------------------------------------------
# Free text
# --------------------------------------------------------------------------------------------


def _mask_emails(text: str) -> str:
    if "@" not in text:
        return text
    words = re.split(r"(\s+)", text)  # linear; keeps the whitespace to rebuild the text
    for i, word in enumerate(words):
        if "@" not in word:
            continue
        for core in (word.strip("<>()[]{},;:'\""), word):
            if is_email(core.casefold().removeprefix("mailto:")):
                words[i] = word.replace(core, "‹email›")
                break
    return "".join(words)


def mask_text(text: str) -> str:
    """``text`` with its e-mails, CPF/CNPJ-shaped numbers and phones replaced by placeholders."""
    text = _mask_emails(text)
    if sum(c.isdigit() for c in text) < 8:
        return text
    text = _DOCUMENT.sub("‹document›", text)
    return _PHONE.sub("‹phone›", text)


def is_personal_name(name: str) -> bool:
    """Whether a column or key named ``name`` holds personal data by its name alone."""
    lowered = name.strip().lower()
    if lowered in _NOT_PERSONAL or _NOT_PERSONAL_SUFFIX.search(lowered):
        return False
    return bool(PERSONAL_COLUMN.search(lowered))


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | tuple | dict) and len(value) == 0)


# --------------------------------------------------------------------------------------------
# Preview
# --------------------------------------------------------------------------------------------


def _safe_text(text: str) -> bool:
    if _ISO_TIME.fullmatch(text) or _UUID.fullmatch(text):
        return True
    return (
        len(text) <= 40
        and not any(c.isspace() for c in text)
        and "@" not in text
        and sum(c.isdigit() for c in text) <= 6
        and not text.startswith(("{", "["))
        and not _CAPITALISED_WORD.fullmatch(text)
    )


def preview_cell(value: Any) -> Any:
    """The value as the preview may show it, or ``MASKED``."""
    if value is None or isinstance(value, _SAFE_TYPES):
        return value
    if isinstance(value, int):
        return value if abs(value) < _MAX_SMALL_INT else MASKED
    if isinstance(value, str):
        return value if _safe_text(value) else MASKED
    return MASKED  # bytes, lists, structs: no way to tell


def masked_preview(data: pa.Table) -> str:
    """``markdown_preview`` of the first rows with every cell that could be personal masked."""
    head = data.slice(0, 5).to_pylist()
    names = data.column_names
    personal = {n for n in names if is_personal_name(n)}
    rows = [
        {n: (MASKED if n in personal and r[n] is not None else preview_cell(r[n])) for n in names}
        for r in head
    ]
    columns = {n: [r[n] for r in rows] for n in names}
    return markdown_preview(pa.table({n: pa.array(v, pa.string()) for n, v in _text(columns)}))


def _text(columns: Mapping[str, list[Any]]) -> list[tuple[str, list[str | None]]]:
    out = []
    for name, values in columns.items():
        texts = []
        for v in values:
            if v is None:
                texts.append(None)
            elif isinstance(v, dt.datetime | dt.date):
                texts.append(v.isoformat())
            else:
                texts.append(str(v))
        out.append((name, texts))
    return out


# --------------------------------------------------------------------------------------------
# Metadata
# --------------------------------------------------------------------------------------------


def mask_json(value: Any, key: str | None = None) -> Any:
    """A JSON-like value with personal keys masked whole and personal data in text masked."""
    personal = key is not None and is_personal_name(key)
    if personal and isinstance(value, str | list | tuple | Mapping) and not _empty(value):
        return MASKED
    if personal and isinstance(value, int) and abs(value) >= _MAX_SMALL_INT:
        return MASKED  # a phone or a document as a number; a count stays
    if isinstance(value, Mapping):
        return {mask_text(str(k)): mask_json(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_json(v) for v in value]
    if isinstance(value, str):
        if key is not None and key.strip().lower() == "name" and not _safe_text(value):
            return MASKED  # a name, not a code
        return mask_text(value)
    if isinstance(value, np.generic):
        return mask_json(value.item(), key)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**10:
        return MASKED  # an 11-to-14-digit number may be a CPF, a CNPJ or a phone
    return value


def safe_metadata_value(key: str, value: Any) -> Any:
    """One metadata value as run storage may keep it."""
    if value is None or isinstance(value, TableSchema | TableSchemaMetadataValue):
        return value
    if isinstance(value, JsonMetadataValue):
        personal = not key.startswith("dagster/") and is_personal_name(key)
        return MetadataValue.json(MASKED if personal else mask_json(value.value))
    if isinstance(value, MarkdownMetadataValue):
        return MetadataValue.md(mask_text(value.value or ""))
    if isinstance(value, TextMetadataValue):
        return MetadataValue.text(mask_text(value.value or ""))
    if isinstance(value, MetadataValue):
        return value  # numbers, timestamps, paths and URLs of the stores, assets, runs
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date | float | bool):
        return value
    # Counts and small ids under a personal-sounding key ("messages_received") stay.
    return mask_json(value, None if key.startswith("dagster/") else key)


def safe_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Output metadata with personal data masked (see the module's docstring)."""
    return {str(k): safe_metadata_value(str(k), v) for k, v in metadata.items()}
