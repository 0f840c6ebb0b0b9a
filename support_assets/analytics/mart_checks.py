"""Checks every mart runs in its body: a unique, never-null key; no raw CPF or CNPJ in any
string column; row counts consistent with the sources (each mart yields that one itself)."""

import re

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetKey, MetadataValue

from support_assets.core.identity import is_valid_cnpj, is_valid_cpf

_ALNUM_RUN = re.compile(r"[0-9A-Za-z]+")
_SEPARATOR_GAP = re.compile(r"[.\-/\s\u2010-\u2015]{1,3}")


def looks_like_document(text: str) -> bool:
    """True when ``text`` holds a valid CPF or CNPJ in any formatting, alone or inside other text:
    runs of letters and digits joined by at most three separators (dots, dashes, slashes, spaces)
    are read together, and any stretch of them that is 11 or 14 characters long is validated."""
    runs = list(_ALNUM_RUN.finditer(text))
    for i, first in enumerate(runs):
        compact = first.group(0).upper()
        j = i
        while len(compact) <= 14:
            if len(compact) == 11 and is_valid_cpf(compact):
                return True
            if len(compact) == 14 and is_valid_cnpj(compact):
                return True
            j += 1
            if j == len(runs):
                break
            gap = text[runs[j - 1].end() : runs[j].start()]
            if not _SEPARATOR_GAP.fullmatch(gap):
                break
            compact += runs[j].group(0).upper()
    return False


def _string_columns(frame: pd.DataFrame) -> list[str]:
    return [
        c
        for c in frame.columns
        if frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c])
    ]


def raw_document_findings(frame: pd.DataFrame) -> dict[str, int]:
    """Per string column, how many values hold a valid CPF/CNPJ."""
    findings: dict[str, int] = {}
    for column in _string_columns(frame):
        series = frame[column]
        hits = sum(1 for v in series.dropna() if isinstance(v, str) and looks_like_document(v))
        if hits:
            findings[column] = hits
    return findings


def no_raw_documents_result(asset_key: AssetKey, frame: pd.DataFrame) -> AssetCheckResult:
    """ERROR when any string value of ``frame`` validates as a CPF or CNPJ."""
    findings = raw_document_findings(frame)
    return AssetCheckResult(
        asset_key=asset_key,
        check_name="no_raw_documents",
        passed=not findings,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "columns_with_documents": MetadataValue.json(findings),
            "string_columns_scanned": len(_string_columns(frame)),
        },
        description="No string value of the mart validates as a CPF or CNPJ in any formatting.",
    )


def unique_key_result(asset_key: AssetKey, frame: pd.DataFrame, key: list[str]) -> AssetCheckResult:
    """Passes when ``key`` is unique and never null in ``frame``."""
    duplicated = int(frame.duplicated(subset=key).sum()) if not frame.empty else 0
    nulls = int(frame[key].isna().any(axis=1).sum()) if not frame.empty else 0
    return AssetCheckResult(
        asset_key=asset_key,
        check_name="unique_key",
        passed=duplicated == 0 and nulls == 0,
        metadata={"key": ", ".join(key), "duplicated_rows": duplicated, "null_keys": nulls},
    )


def mart_check_specs(key: AssetKey, what: str) -> list[AssetCheckSpec]:
    """The three checks of a mart whose unique key is ``what``."""
    return [
        AssetCheckSpec("unique_key", asset=key, description=f"{what} is unique and never null."),
        AssetCheckSpec(
            "no_raw_documents",
            asset=key,
            description="No string column holds a value that validates as a CPF or CNPJ.",
        ),
        AssetCheckSpec(
            "row_count_matches_sources",
            asset=key,
            description="The row count agrees with the sources the mart was built from.",
        ),
    ]
