"""Fixtures the asset tests share with the storage tests: the session's BigQuery emulator."""

from support_assets_tests.io_managers.bigquery_backend import (  # noqa: F401 - fixtures
    bigquery_emulator,
    bigquery_emulator_session,
)
