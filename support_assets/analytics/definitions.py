"""The analytics marts and the sensor that keeps them following their sources."""

from collections.abc import Mapping

from dagster import Definitions

from support_assets.analytics.marts import MARTS_ASSETS, marts_automation_sensor


def definitions(env: Mapping[str, str]) -> Definitions:
    return Definitions(assets=MARTS_ASSETS, sensors=[marts_automation_sensor])
