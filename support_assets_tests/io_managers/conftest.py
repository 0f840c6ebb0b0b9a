"""Fixtures of the storage contract suite: one run of each test per backend."""

from __future__ import annotations

import pathlib

import pytest

from support_assets_tests.io_managers.backends import BACKENDS, Backend


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Backend:
    return BACKENDS[request.param](tmp_path)
