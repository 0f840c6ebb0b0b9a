"""The README documents what the code does: every setting, the two commands, every asset group."""

from __future__ import annotations

import re
from pathlib import Path

from support_assets.core.settings import SETTINGS
from support_assets.definitions import build_definitions

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_setting_is_in_the_readme_table() -> None:
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\| `([A-Z0-9_]+)` \| (.+?) \| .+ \|$", README, re.MULTILINE)
    }
    for setting in SETTINGS:
        assert setting.name in rows, f"{setting.name} is missing from the README's settings table"
        assert setting.default in rows[setting.name], (setting.name, rows[setting.name])


def test_the_two_commands_and_every_group_are_documented() -> None:
    assert "make demo" in README and "make test" in README
    groups = {spec.group_name for spec in build_definitions().resolve_all_asset_specs()}
    for group in groups:
        assert f"| `{group}` |" in README, f"asset group {group} is not described in the README"
