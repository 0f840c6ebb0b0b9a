"""Fixtures of the storage contract suite: one run of each test per backend."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

from support_assets_tests.io_managers.backends import BACKENDS, Backend
from support_assets_tests.support.bigquery_backend import (  # noqa: F401 - fixtures
    bigquery_emulator,
    bigquery_emulator_session,
)
from support_assets_tests.support.s3_server import MotoS3, running_moto_s3


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    """moto's S3 server on loopback for the whole session (fake AWS keys in the environment)."""
    with running_moto_s3() as server:
        yield server


@pytest.fixture(scope="session")
def s3_bucket(moto_s3: MotoS3) -> str:
    return moto_s3.create_bucket()


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Backend:
    return BACKENDS[request.param](tmp_path, request)
