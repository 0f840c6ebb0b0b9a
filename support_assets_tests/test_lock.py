"""Every environment is installed from a lock that matches its inputs (tools/check_lock.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHECK = REPO / "tools" / "check_lock.py"


def copy_of_the_project(tmp_path: Path) -> Path:
    """The files the lock check and the Makefile's first steps read, in a scratch folder."""
    root = tmp_path / "project"
    (root / "tools").mkdir(parents=True)
    shutil.copy(REPO / "pyproject.toml", root)
    shutil.copy(REPO / "Makefile", root)
    shutil.copy(CHECK, root / "tools")
    shutil.copytree(REPO / "requirements", root / "requirements")
    return root


def check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(root / "tools" / "check_lock.py"), str(root)],
        capture_output=True,
        text=True,
    )


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1))


def test_the_committed_locks_match_their_inputs() -> None:
    result = check(REPO)
    assert result.returncode == 0, result.stderr


def test_every_locked_package_has_hashes() -> None:
    for lock in (REPO / "requirements").glob("*.txt"):
        text = lock.read_text()
        pinned = [line for line in text.splitlines() if "==" in line and line[:1].isalnum()]
        assert pinned and text.count("--hash=sha256:") >= len(pinned), lock.name


def test_make_test_fails_at_once_when_a_pin_changes_without_make_lock(tmp_path: Path) -> None:
    root = copy_of_the_project(tmp_path)
    edit(root / "pyproject.toml", '"duckdb==2.0.0"', '"duckdb==2.0.1"')
    result = subprocess.run(
        ["make", "-C", str(root), "test", f"PYTHON={sys.executable}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "duckdb: the inputs ask for 2.0.1, requirements/project.txt has 2.0.0" in result.stderr
    assert "make lock" in result.stderr
    assert not (root / ".venv").exists(), "it failed before creating or installing anything"


def test_a_removed_dependency_left_in_the_lock_is_named(tmp_path: Path) -> None:
    root = copy_of_the_project(tmp_path)
    edit(root / "pyproject.toml", '    "matplotlib==3.11.2",\n', "")
    result = check(root)
    assert result.returncode == 1
    assert "matplotlib: requirements/project.txt still lists it as a direct" in result.stderr


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('"httpx==0.28.1"', '"httpx>=0.28"', "'httpx>=0.28' is not pinned exactly"),
        ('"ruff==0.17.6",', '"ruff==0.17.6",\n    "tomli-w==1.2.0",', "tomli-w==1.2.0 is a direct"),
        ('"uv==0.13.8"', '"uv==0.13.9"', "uv: the inputs ask for 0.13.9"),
        ('"wheel==0.48.0"', '"wheel==0.47.0"', "wheel: the inputs ask for 0.47.0"),
    ],
)
def test_each_kind_of_drift_in_pyproject_is_named(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    root = copy_of_the_project(tmp_path)
    edit(root / "pyproject.toml", old, new)
    result = check(root)
    assert result.returncode == 1 and message in result.stderr, result.stderr


def test_the_other_environments_locks_are_checked_too(tmp_path: Path) -> None:
    root = copy_of_the_project(tmp_path)
    edit(root / "requirements" / "bigquery-emulator.in", "duckdb==1.5.5", "duckdb==1.5.4")
    edit(root / "requirements" / "bench-dlt.in", "dlt[duckdb]==1.31.0", "dlt[duckdb]==1.32.0")
    result = check(root)
    assert result.returncode == 1
    assert "duckdb: the inputs ask for 1.5.4, requirements/bigquery-emulator.txt has" in (
        result.stderr
    )
    assert "dlt: the inputs ask for 1.32.0, requirements/bench-dlt.txt has 1.31.0" in result.stderr


def test_a_lock_entry_without_hashes_is_named(tmp_path: Path) -> None:
    root = copy_of_the_project(tmp_path)
    lock = root / "requirements" / "bench-dlt.txt"
    lines = lock.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("dlt=="))
    end = next(i for i in range(start + 1, len(lines)) if "--hash" not in lines[i])
    lock.write_text("\n".join([*lines[:start], lines[start].rstrip(" \\"), *lines[end:]]) + "\n")
    result = check(root)
    assert result.returncode == 1
    assert "dlt: requirements/bench-dlt.txt has no hashes for it" in result.stderr
