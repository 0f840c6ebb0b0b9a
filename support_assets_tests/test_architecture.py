"""The shape of the code (DESIGN.md, "Shape of the code"): modules and functions of a size one
can read, imports that only point down a floor, and benchmarks that stand on their own."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "support_assets"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
#: Modules exempt from the size rule, with the reason.
EXEMPT = {
    "sandbox/telegram_data.py": "data tables of the simulated bot's world (texts, scenarios)",
    "sandbox/octadesk_data.py": "data tables of the simulated helpdesk's world (names, subjects)",
}


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def oversized(package: Path) -> list[str]:
    """Every module over MAX_MODULE_LINES and function over MAX_FUNCTION_LINES, named."""
    found = []
    for path in sorted(package.rglob("*.py")):
        name = path.relative_to(package).as_posix()
        if name in EXEMPT:
            continue
        text = path.read_text()
        if (lines := len(text.splitlines())) > MAX_MODULE_LINES:
            found.append(f"{name}: {lines} lines")
        for function in _functions(ast.parse(text)):
            length = (function.end_lineno or function.lineno) - function.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{name}:{function.lineno} {function.name}(): {length} lines")
    return found


def test_no_module_over_500_lines_and_no_function_over_80() -> None:
    assert oversized(PACKAGE) == []


def test_the_size_rule_names_what_it_finds(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "big.py").write_text(f"def long_one():\n{body}\n" + "\n" * MAX_MODULE_LINES)
    (tmp_path / "small.py").write_text("def short():\n    return 1\n")
    found = oversized(tmp_path)
    assert found == [
        f"big.py: {MAX_FUNCTION_LINES + 1 + MAX_MODULE_LINES} lines",
        f"big.py:1 long_one(): {MAX_FUNCTION_LINES + 1} lines",
    ]


def test_imports_point_down_the_floors_and_never_in_a_circle() -> None:
    """import-linter's contracts in pyproject.toml: layers, independent sources, the sandbox
    only for the CLI and the demo, no cycle between siblings."""
    linter = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(linter), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "BROKEN" not in result.stdout


def _bench_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_the_benchmarks_import_no_test_and_no_row_imports_another() -> None:
    modules = {p.stem: _bench_imports(p) for p in (ROOT / "bench").glob("*.py")}
    tests = {
        m: sorted(n for n in names if n.split(".")[0] == "support_assets_tests")
        for m, names in modules.items()
    }
    assert {m: n for m, n in tests.items() if n} == {}
    local = {m: {n for n in names if n in modules} for m, names in modules.items()}
    # Depth-first: a module reached again while still on the path closes a circle.
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for imported in sorted(local[module]):
            assert state.get(imported) != "open", " -> ".join([*path, module, imported])
            if imported not in state:
                visit(imported, [*path, module])
        state[module] = "done"

    for module in sorted(local):
        if module not in state:
            visit(module, [])
    assert local["harness"] == set(), "the harness imports no row"
