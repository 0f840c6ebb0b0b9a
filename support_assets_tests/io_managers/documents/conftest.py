"""Fixtures of the documents-store contract suite: each test runs on the embedded store and on
a real MongoDB. Without ``MONGODB_URI`` the real-server runs are skipped, counted, and the
session ends with a line saying so: that part is never reported as passed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support_assets_tests.io_managers.documents.stores import (
    NOT_RUN,
    DocumentsBackend,
    embedded_backend,
    server_backend,
)

_not_run: list[str] = []


@pytest.fixture(params=["embedded", "mongodb"])
def documents_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DocumentsBackend]:
    if request.param == "embedded":
        backend = embedded_backend(tmp_path)
        yield backend
        backend.close()
        return
    backend = server_backend()
    if backend is None:
        _not_run.append(request.node.nodeid)
        pytest.skip(NOT_RUN)
    try:
        yield backend
    finally:
        backend.reader.drop_database(backend.mongo.database)
        backend.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _not_run:
        terminalreporter.write_sep("=", "documents store", yellow=True)
        terminalreporter.write_line(
            f"{NOT_RUN} ({len(_not_run)} tests skipped; set MONGODB_URI to run them)",
            yellow=True,
            bold=True,
        )
