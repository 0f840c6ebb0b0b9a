"""Fail when a lock no longer matches the direct requirements it was generated from.

    python3 tools/check_lock.py [ROOT]

Checks, with the standard library only (it runs before any venv exists):
- every direct requirement (pyproject.toml's dependencies, the extras each lock of it installs
  (PROJECT_LOCKS) and its build-system requires; each `requirements/*.in`) is pinned exactly
  (`name==version`), and its lock holds that very version;
- the lock lists no direct requirement that the inputs no longer name (a removed dependency);
- every package in a lock carries hashes (the installs use `--require-hashes`).
Each problem is one line naming the package; the fix is `make lock`.
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

# The locks made from pyproject.toml, and the extras each installs (tools/lock.sh makes them).
PROJECT_LOCKS = {
    "requirements/project.txt": ("test", "dev", "k8s"),  # the venv of `make demo` and `make test`
    "requirements/image.txt": ("k8s",),  # the deployment image, deploy/Dockerfile
}
PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*==\s*([^\s;#]+)\s*(;.*)?$")
LOCK_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)")
VIA = re.compile(r"^\s+#\s+(?:via\s+)?(.+?)\s*$")


def normalise(name: str) -> str:
    """PEP 503 name: case and runs of `-_.` do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Lock:
    """Pinned versions of a lock file and, per package, what it was pulled in by."""

    versions: dict[str, str] = field(default_factory=dict)
    via: dict[str, list[str]] = field(default_factory=dict)
    unhashed: list[str] = field(default_factory=list)


def read_lock(path: Path) -> Lock:
    """Parse a `uv pip compile --generate-hashes` output (annotations in uv's split style)."""
    lock, current, hashed = Lock(), None, True
    for line in path.read_text().splitlines():
        match = LOCK_LINE.match(line)
        if match:
            if current is not None and not hashed:
                lock.unhashed.append(current)
            current, hashed = normalise(match[1]), False
            lock.versions[current] = match[3]
            lock.via[current] = []
        elif current is not None and "--hash=" in line:
            hashed = True
        elif current is not None and (via := VIA.match(line)) and via[1] != "via":
            lock.via[current].append(via[1])
    if current is not None and not hashed:
        lock.unhashed.append(current)
    return lock


def pins(requirements: list[str], origin: str) -> tuple[dict[str, str], list[str]]:
    """Exact pins by normalised name, and a problem line per requirement that is not one."""
    found, problems = {}, []
    for requirement in requirements:
        match = PIN.match(requirement)
        if not match:
            problems.append(f"{origin}: '{requirement}' is not pinned exactly (name==version)")
            continue
        found[normalise(match[1])] = match[3]
    return found, problems


def compare(wanted: dict[str, str], lock: Lock, lock_name: str, direct_via: set[str]) -> list[str]:
    """Problems between a set of direct pins and the lock generated from them."""
    problems = []
    for name, version in sorted(wanted.items()):
        locked = lock.versions.get(name)
        if locked is None:
            problems.append(f"{name}=={version} is a direct requirement, but {lock_name} lacks it")
        elif locked != version:
            problems.append(f"{name}: the inputs ask for {version}, {lock_name} has {locked}")
    for name, vias in sorted(lock.via.items()):
        if name not in wanted and direct_via.intersection(vias):
            problems.append(
                f"{name}: {lock_name} still lists it as a direct requirement, the inputs do not"
            )
    problems += [f"{name}: {lock_name} has no hashes for it" for name in lock.unhashed]
    return problems


def read_in_file(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("-")]


def check_project(root: Path) -> list[str]:
    """pyproject.toml against each lock made from it."""
    data = tomllib.loads((root / "pyproject.toml").read_text())
    project = data["project"]
    extras = project.get("optional-dependencies", {})
    direct_via = {
        f"{project['name'].replace('_', '-')} (pyproject.toml)",
        f"{project['name']} (pyproject.toml)",
        "-r requirements/build.in",
    }
    problems: list[str] = []
    for lock_name, lock_extras in PROJECT_LOCKS.items():
        requirements = list(project.get("dependencies", []))
        for extra in lock_extras:
            requirements += extras.get(extra, [])
        requirements += data.get("build-system", {}).get("requires", [])
        wanted, unpinned = pins(requirements, "pyproject.toml")
        problems += [line for line in unpinned if line not in problems]
        if not (root / lock_name).exists():
            problems.append(f"{lock_name} is missing")
            continue
        problems += compare(wanted, read_lock(root / lock_name), lock_name, direct_via)
    return problems


def check_in_files(root: Path) -> list[str]:
    """Each requirements/NAME.in against requirements/NAME.txt (build.in belongs to the project)."""
    problems = []
    for source in sorted((root / "requirements").glob("*.in")):
        if source.name == "build.in":
            continue
        rel = source.relative_to(root).as_posix()
        wanted, found = pins(read_in_file(source), rel)
        lock_path = source.with_suffix(".txt")
        lock_name = lock_path.relative_to(root).as_posix()
        if not lock_path.exists():
            problems += found + [f"{lock_name} is missing"]
            continue
        problems += found + compare(wanted, read_lock(lock_path), lock_name, {f"-r {rel}"})
    return problems


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else Path(__file__).resolve().parent.parent)
    problems = check_project(root) + check_in_files(root)
    if not problems:
        return 0
    print("The locks do not match their inputs:", file=sys.stderr)  # noqa: T201
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)  # noqa: T201
    print("Run `make lock` and commit the requirements/ files.", file=sys.stderr)  # noqa: T201
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
