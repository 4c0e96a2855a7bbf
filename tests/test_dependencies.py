"""Dependencies are honest: every dependency ``pyproject.toml`` declares is in the
README's table, and the table tells the truth about the code: one it says is "not
imported by voxcat" is imported nowhere in voxcat's packages, and every other one is
imported somewhere in them."""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import tomllib
from pathlib import Path

import catalog

ROOT = Path(catalog.__file__).resolve().parent.parent
PACKAGES = ("catalog", "widgets", "jupyter_ext")
NOT_IMPORTED = "not imported by voxcat"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {_norm(re.match(r"[A-Za-z0-9_.-]+", d).group()) for d in project["dependencies"]}


def readme_table() -> dict[str, str]:
    """Dependency -> its row's text, from the README's "Dependencies" table."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Dependencies\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0].startswith("`"):
            for name in re.findall(r"`([^`]+)`", cells[0]):
                rows[_norm(name)] = cells[1]
    return rows


def imported() -> set[str]:
    """Top-level modules imported anywhere in voxcat's packages (``import x``,
    ``from x import``, ``import_module("x")``), or named as xarray's ``engine``."""
    found: set[str] = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "frontend" in path.parts or "node_modules" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    found.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
                elif (
                    isinstance(node, ast.Call)
                    and getattr(node.func, "attr", getattr(node.func, "id", None))
                    == "import_module"
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)
                ):
                    found.add(node.args[0].value.split(".")[0])
                elif isinstance(node, ast.keyword | ast.Assign) and _names_engine(node):
                    found.add(str(node.value.value))
    return found


@functools.cache
def _distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def _names_engine(node: ast.keyword | ast.Assign) -> bool:
    """``engine="x"`` as a keyword or an assignment (xarray loads the engine's module)."""
    if not isinstance(node.value, ast.Constant) or not isinstance(node.value.value, str):
        return False
    if isinstance(node, ast.keyword):
        return node.arg == "engine"
    return any(isinstance(t, ast.Name) and t.id == "engine" for t in node.targets)


def modules_of(dist: str) -> set[str]:
    """The top-level modules an installed distribution provides."""
    return {
        module for module, dists in _distributions().items() if dist in {_norm(d) for d in dists}
    }


def test_every_declared_dependency_is_in_the_readme_table() -> None:
    deps, table = declared(), readme_table()
    assert deps - table.keys() == set(), "declared in pyproject.toml, missing from README"
    assert table.keys() - deps == set(), "in the README table, not declared"


def test_the_table_says_which_dependencies_voxcat_imports() -> None:
    used = imported()
    for dist, role in readme_table().items():
        modules = modules_of(dist)
        assert modules, f"{dist} is not installed"
        if NOT_IMPORTED in role:
            assert not modules & used, f"README says {dist} is {NOT_IMPORTED}, but it is"
        else:
            assert modules & used, f"README gives {dist} a role, but nothing imports it"


def test_the_client_s_stack_is_declared() -> None:
    """The stack voxcat was asked to build on stays declared (README says why for the
    ones voxcat does not import)."""
    stack = {"jupyterlab", "ipywidgets", "intake", "intake-xarray", "xarray", "zarr"}
    assert stack | {"hvplot", "panel", "duckdb"} <= declared()
