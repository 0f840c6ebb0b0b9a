"""The lake's S3 filesystem, configured by dagster-aws's ``S3Resource``.

Parquet reads and writes, listings and the landing zone's uploads go through pyarrow's S3
filesystem (multipart uploads, ranged reads of Parquet footers); what it connects to and as whom
is the ``S3Resource``'s configuration: endpoint, region, retries, TLS, unsigned access, and the
credentials of a boto3 session built from its profile and keys, i.e. the AWS credential chain
(environment, shared profile, container or instance role) when it is given no keys. The session
is the one the resource's own client would use, so ``S3Resource.get_client()`` and the lake see
the same bucket as the same identity.
"""

from __future__ import annotations

from collections.abc import Mapping

import boto3
import pyarrow.fs as pafs
from dagster_aws.s3 import S3Resource

from support_assets.core.settings import setting


class S3CredentialsError(OSError):
    """The AWS credential chain found no credentials for the lake's S3 resource."""


def s3_session(s3: S3Resource) -> boto3.session.Session:
    """A boto3 session with the resource's profile and keys (None: the credential chain)."""
    return boto3.session.Session(
        profile_name=s3.profile_name,
        aws_access_key_id=s3.aws_access_key_id,
        aws_secret_access_key=s3.aws_secret_access_key,
        aws_session_token=s3.aws_session_token,
        region_name=s3.region_name,
    )


def s3_filesystem(s3: S3Resource) -> pafs.S3FileSystem:
    """pyarrow's S3 filesystem as ``s3`` describes it (fresh credentials on every call: an
    instance role's expire, and botocore refreshes them)."""
    options: dict = {
        "endpoint_override": s3.endpoint_url or None,
        "scheme": "https" if s3.use_ssl else "http",
        "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=s3.max_attempts),
    }
    session = s3_session(s3)
    if s3.use_unsigned_session:
        options["anonymous"] = True
    else:
        credentials = session.get_credentials()
        if credentials is None:
            raise S3CredentialsError(
                "no AWS credentials: the credential chain (AWS_ACCESS_KEY_ID/"
                "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, a container or instance role) found none"
            )
        frozen = credentials.get_frozen_credentials()
        options.update(
            access_key=frozen.access_key,
            secret_key=frozen.secret_key,
            session_token=frozen.token or None,
        )
    if s3.verify is False:
        raise ValueError("the lake's S3 resource cannot turn TLS verification off (verify=False)")
    return pafs.S3FileSystem(region=session.region_name or None, **options)


def s3_resource_from_settings(environ: Mapping[str, str]) -> S3Resource:
    """The lake's S3 resource from SUPPORT_S3_ENDPOINT_URL, SUPPORT_S3_REGION and
    SUPPORT_S3_PROFILE (keys: the credential chain, never a setting)."""
    return S3Resource(
        endpoint_url=str(setting("SUPPORT_S3_ENDPOINT_URL", environ)) or None,
        region_name=str(setting("SUPPORT_S3_REGION", environ)) or None,
        profile_name=str(setting("SUPPORT_S3_PROFILE", environ)) or None,
    )
