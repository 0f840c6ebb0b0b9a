"""The code location defines the same assets, checks, jobs, sensors and schedules as the committed
inventory (``definitions_inventory.json``): a move of modules may not add or lose one silently.

After a deliberate change, rewrite the inventory with
``python -m support_assets_tests.test_definitions_inventory`` and review the diff."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

INVENTORY = Path(__file__).with_name("definitions_inventory.json")


def inventory() -> dict[str, list[str]]:
    """Every asset key, asset check, job, sensor and schedule of the code location, sorted."""
    from support_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    checks = sorted(
        f"{key.asset_key.to_user_string()}:{key.name}" for key in graph.asset_check_keys
    )
    return {
        "assets": sorted(key.to_user_string() for key in defs.resolve_all_asset_keys()),
        "asset_checks": checks,
        "jobs": sorted(job.name for job in defs.resolve_all_job_defs()),
        "sensors": sorted(s.name for s in defs.get_repository_def().sensor_defs),
        "schedules": sorted(s.name for s in defs.get_repository_def().schedule_defs),
    }


def test_the_code_location_defines_what_the_inventory_lists() -> None:
    committed: dict[str, Any] = json.loads(INVENTORY.read_text())
    now = inventory()
    for kind in committed.keys() | now.keys():
        missing = sorted(set(committed.get(kind, [])) - set(now.get(kind, [])))
        added = sorted(set(now.get(kind, [])) - set(committed.get(kind, [])))
        assert not missing and not added, f"{kind}: missing {missing}, not in the inventory {added}"


if __name__ == "__main__":
    INVENTORY.write_text(json.dumps(inventory(), indent=2) + "\n")
    sys.stdout.write(f"wrote {INVENTORY}\n")
