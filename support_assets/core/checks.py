"""Shared asset-check helpers: a key that is unique and never null.

A check function's one parameter that is not in ``additional_ins`` receives the checked asset.
"""

from collections.abc import Sequence

import pandas as pd
from dagster import AssetCheckResult, AssetChecksDefinition, AssetKey, MetadataValue, asset_check


def key_check_result(frame: pd.DataFrame, key: Sequence[str]) -> AssetCheckResult:
    """Passes when every key column is non-null and the key is unique."""
    key = list(key)
    missing_columns = [c for c in key if c not in frame.columns]
    if missing_columns:
        return AssetCheckResult(
            passed=False, metadata={"missing_columns": MetadataValue.json(missing_columns)}
        )
    null_rows = int(frame[key].isna().any(axis=1).sum())
    duplicated = frame[frame.duplicated(subset=key, keep=False)]
    sample = duplicated[key].drop_duplicates().head(10).astype(str).to_dict("records")
    return AssetCheckResult(
        passed=null_rows == 0 and duplicated.empty,
        metadata={
            "rows": len(frame),
            "null_keys": null_rows,
            "duplicate_keys": int(duplicated[key].drop_duplicates().shape[0]),
            "duplicate_sample": MetadataValue.json(sample),
        },
    )


def unique_key_check(asset_key: AssetKey, key: Sequence[str]) -> AssetChecksDefinition:
    """A check that ``key`` is unique and never null in ``asset_key``."""

    @asset_check(
        asset=asset_key,
        name=f"{asset_key.path[-1]}_key_unique_and_present",
        description=f"{', '.join(key)} is never null and unique.",
    )
    def _check(table: pd.DataFrame) -> AssetCheckResult:
        return key_check_result(table, key)

    return _check
