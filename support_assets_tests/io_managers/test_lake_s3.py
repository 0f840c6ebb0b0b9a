"""The lake on S3 (moto's server over HTTP): the same layout as the folder lake, chosen by the
deployment's settings alone, with keys from the AWS credential chain.

The contract suite (``test_contract.py``) runs every lake test on S3 too (backend ``s3``); these
tests cover what is S3's own: object keys, deletes, settings, and errors.
"""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from dagster import AssetIn, asset, materialize
from dagster_aws.s3 import S3Resource

from support_assets.definitions import build_resources
from support_assets.io_managers import LakeIOManager, TableStream
from support_assets_tests.io_managers.backends import DAILY, table_asset
from support_assets_tests.support.s3_server import MotoS3


def data_keys(s3: MotoS3, bucket: str, prefix: str) -> list[str]:
    """Object keys under ``prefix`` (relative to it), without directory markers."""
    return [k[len(prefix) + 1 :] for k in s3.keys(bucket, prefix + "/") if not k.endswith("/")]


def run(io_manager: LakeIOManager, value: object, partition: str | None = None, **metadata):
    definition = table_asset(value, metadata=metadata, partitioned=partition is not None)
    result = materialize(
        [definition], resources={"io_manager": io_manager}, partition_key=partition
    )
    assert result.success
    return result


@pytest.fixture
def prefix() -> str:
    return f"lake/{uuid.uuid4().hex[:8]}"


def test_objects_have_the_folder_lake_layout_and_no_staging_leftovers(
    moto_s3: MotoS3, s3_bucket: str, prefix: str
) -> None:
    lake = LakeIOManager(url=f"s3://{s3_bucket}/{prefix}", s3=moto_s3.resource())
    first = run(lake, pd.DataFrame({"id": [1], "v": ["ação 😀"]}), partition="2024-01-01")
    second = run(lake, pd.DataFrame({"id": [2]}), partition="2024-01-02")
    stream = TableStream([pd.DataFrame({"id": [1]}), pd.DataFrame({"id": [2]})])
    third = run(
        LakeIOManager(url=f"s3://{s3_bucket}/{prefix}/other", s3=moto_s3.resource()),
        stream,
    )

    assert data_keys(moto_s3, s3_bucket, prefix) == [
        f"other/raw/things/part-{third.run_id}-0.parquet",
        f"other/raw/things/part-{third.run_id}-1.parquet",
        f"raw/things/date=2024-01-01/part-{first.run_id}-0.parquet",
        f"raw/things/date=2024-01-02/part-{second.run_id}-0.parquet",
    ]
    (materialization,) = first.asset_materializations_for_node("raw__things")
    assert materialization.metadata["dagster/uri"].value == (
        f"s3://{s3_bucket}/{prefix}/raw/things/date=2024-01-01"
    )
    body = moto_s3.client().get_object(
        Bucket=s3_bucket, Key=f"{prefix}/raw/things/date=2024-01-01/part-{first.run_id}-0.parquet"
    )["Body"]
    table = pq.read_table(io.BytesIO(body.read()))
    assert table.column("v").to_pylist() == ["ação 😀"]
    assert "date" not in table.column_names  # the key holds the partition


def test_a_replace_deletes_the_objects_it_replaces(
    moto_s3: MotoS3, s3_bucket: str, prefix: str
) -> None:
    lake = LakeIOManager(url=f"s3://{s3_bucket}/{prefix}", s3=moto_s3.resource())
    run(lake, TableStream([pd.DataFrame({"id": [1]}), pd.DataFrame({"id": [2]})]))
    latest = run(lake, pd.DataFrame({"id": [3]}))

    assert data_keys(moto_s3, s3_bucket, prefix) == [f"raw/things/part-{latest.run_id}-0.parquet"]


def test_the_deployment_settings_alone_put_the_lake_on_s3(
    moto_s3: MotoS3, s3_bucket: str, prefix: str, tmp_path: Path
) -> None:
    """``SUPPORT_LAKE_URL`` + ``SUPPORT_S3_ENDPOINT_URL`` + ``SUPPORT_S3_REGION``: the
    deployment's lake IO manager writes to the bucket, and a downstream asset reads it back."""
    resources = build_resources(
        {
            "SUPPORT_DATA_DIR": str(tmp_path / "data"),
            "SUPPORT_LAKE_URL": f"s3://{s3_bucket}/{prefix}",
            "SUPPORT_S3_ENDPOINT_URL": moto_s3.endpoint_url,
            "SUPPORT_S3_REGION": moto_s3.region,
        }
    )
    lake = resources["lake_io_manager"]
    # No keys in the configuration: the AWS chain (here the environment) provides them.
    assert set(type(lake).model_fields) == {"url", "s3"}
    assert isinstance(lake.s3, S3Resource)
    assert (lake.s3.endpoint_url, lake.s3.region_name) == (moto_s3.endpoint_url, moto_s3.region)
    assert lake.s3.aws_access_key_id is None and lake.s3.aws_secret_access_key is None

    at = pd.Timestamp("2024-01-03 09:00", tz="America/Sao_Paulo")

    @asset(key_prefix=["raw"], partitions_def=DAILY, io_manager_key="lake_io_manager")
    def updates(context) -> pd.DataFrame:  # noqa: ANN001
        return pd.DataFrame({"update_id": [10, 11], "text": ["olá", "👋"], "at": [at, at]})

    @asset(
        key_prefix=["staging"],
        partitions_def=DAILY,
        io_manager_key="lake_io_manager",
        ins={"updates": AssetIn(key=["raw", "updates"])},
    )
    def messages(updates: pd.DataFrame) -> pd.DataFrame:
        return updates[["update_id", "text"]].assign(chars=updates["text"].str.len())

    result = materialize(
        [updates, messages],
        resources={"lake_io_manager": lake},
        partition_key="2024-01-03",
    )
    assert result.success

    keys = data_keys(moto_s3, s3_bucket, prefix)
    assert keys == [
        f"raw/updates/date=2024-01-03/part-{result.run_id}-0.parquet",
        f"staging/messages/date=2024-01-03/part-{result.run_id}-0.parquet",
    ]
    body = moto_s3.client().get_object(Bucket=s3_bucket, Key=f"{prefix}/{keys[1]}")["Body"]
    stored = pq.read_table(io.BytesIO(body.read())).to_pandas()
    assert stored[["update_id", "text", "chars"]].to_dict("records") == [
        {"update_id": 10, "text": "olá", "chars": 3},
        {"update_id": 11, "text": "👋", "chars": 1},
    ]
    raw = pq.read_table(
        io.BytesIO(
            moto_s3.client().get_object(Bucket=s3_bucket, Key=f"{prefix}/{keys[0]}")["Body"].read()
        )
    ).to_pandas()
    assert raw["at"].tolist() == [at.tz_convert("UTC")] * 2
    assert {"_loaded_at", "_run_id"} <= set(raw.columns)


def test_a_missing_bucket_fails_the_write_and_names_the_bucket(moto_s3: MotoS3) -> None:
    bucket = f"missing-{uuid.uuid4().hex[:8]}"
    lake = LakeIOManager(url=f"s3://{bucket}/lake", s3=moto_s3.resource())
    result = materialize(
        [table_asset(pd.DataFrame({"id": [1]}))],
        resources={"io_manager": lake},
        raise_on_error=False,
    )

    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert bucket in str(failure.event_specific_data.error)
    assert moto_s3.client().list_buckets()["Buckets"]  # the session bucket, not this one
    assert bucket not in {b["Name"] for b in moto_s3.client().list_buckets()["Buckets"]}


def test_a_named_profile_signs_the_lakes_requests(
    moto_s3: MotoS3, s3_bucket: str, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SUPPORT_S3_PROFILE reaches the S3Resource: with no keys in the environment, the
    profile's keys in the shared files are the ones used."""
    config = tmp_path / "aws-config"
    config.write_text(
        "[profile lake]\naws_access_key_id = from-profile\naws_secret_access_key = x\n"
        f"region = {moto_s3.region}\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    env = {
        "SUPPORT_LAKE_URL": f"s3://{s3_bucket}/{prefix}",
        "SUPPORT_S3_ENDPOINT_URL": moto_s3.endpoint_url,
        "SUPPORT_S3_PROFILE": "lake",
    }
    lake = build_resources({**env, "SUPPORT_DATA_DIR": str(tmp_path / "data")})["lake_io_manager"]
    assert lake.s3.profile_name == "lake"
    result = run(lake, pd.DataFrame({"id": [1]}))
    assert data_keys(moto_s3, s3_bucket, prefix) == [f"raw/things/part-{result.run_id}-0.parquet"]

    # Without the profile the chain finds nothing, and the write says so.
    lake = build_resources({**env, "SUPPORT_S3_PROFILE": "", "SUPPORT_DATA_DIR": str(tmp_path)})[
        "lake_io_manager"
    ]
    failed = materialize(
        [table_asset(pd.DataFrame({"id": [2]}))],
        resources={"io_manager": lake},
        raise_on_error=False,
    )
    assert not failed.success
    (failure,) = [e for e in failed.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "no AWS credentials" in str(failure.event_specific_data.error)
