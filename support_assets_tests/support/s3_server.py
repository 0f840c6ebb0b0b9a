"""A real S3 endpoint for tests: moto's server on loopback, reached over HTTP like any S3.

    with running_moto_s3() as s3:          # e.g. in a session fixture
        bucket = s3.create_bucket()
        LakeIOManager(url=f"s3://{bucket}/lake", s3=s3.resource())

The code under test gets no keys: like production it reads them from the AWS credential chain,
so the context sets fake ``AWS_*`` variables (and disables the EC2 metadata lookup) while the
server runs, and restores the environment afterwards.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from dagster_aws.s3 import S3Resource
from moto.server import ThreadedMotoServer

REGION = "us-east-1"

#: Fake credentials the AWS chain finds in the environment (moto accepts any).
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
}


@dataclass
class MotoS3:
    """A running moto server: its endpoint, and a boto3 client to look at it directly."""

    endpoint_url: str
    region: str = REGION

    def client(self) -> Any:
        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=self.region)

    def resource(self) -> S3Resource:
        """dagster-aws's S3 resource for this server (keys: the credential chain)."""
        return S3Resource(endpoint_url=self.endpoint_url, region_name=self.region)

    def create_bucket(self, name: str | None = None) -> str:
        bucket = name or f"lake-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=bucket)
        return bucket

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object key under ``prefix`` (directory markers included), sorted."""
        paginator = self.client().get_paginator("list_objects_v2")
        return sorted(
            obj["Key"]
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
            for obj in page.get("Contents", [])
        )

    def download(self, bucket: str, prefix: str, folder: Path) -> list[Path]:
        """Copy the objects under ``prefix`` into ``folder`` (same relative layout)."""
        client = self.client()
        paths = []
        for key in self.keys(bucket, prefix):
            if key.endswith("/"):
                continue  # a directory marker
            path = folder / key[len(prefix) :].lstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, key, str(path))
            paths.append(path)
        return paths


@contextlib.contextmanager
def running_moto_s3() -> Iterator[MotoS3]:
    """Start moto's S3 server on a free loopback port; stop it and restore the env on exit."""
    saved = {name: os.environ.get(name) for name in AWS_ENV}
    os.environ.update(AWS_ENV)
    # werkzeug logs every request of the server thread; keep test output readable.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield MotoS3(endpoint_url=f"http://{host}:{port}")
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
