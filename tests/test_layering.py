"""``catalog`` owns every SQL statement: the widgets and the server extension read and
write the index through catalogue methods and ``catalog`` functions only, never with
SQL, a DuckDB connection or the index's connection helpers of their own."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import catalog

ROOT = Path(catalog.__file__).resolve().parent.parent
FRONT_ENDS = ("widgets", "jupyter_ext", "catalog/service")

#: SQL statements, as written in this code base (upper-case keywords)
SQL = re.compile(
    r"\b(SELECT|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(?:TABLE|VIEW|INDEX)"
    r"|ALTER\s+TABLE|DROP\s+(?:TABLE|VIEW)|WITH\s+RECURSIVE)\b"
)
#: methods of a DuckDB connection or relation that run SQL or fetch its rows
DB_CALLS = {"execute", "executemany", "sql", "fetchall", "fetchone", "fetchmany", "fetchnumpy"}
#: the index's connection plumbing: ``catalog.index`` names and modules kept out
FORBIDDEN_NAMES = {"connect", "transaction"}
FORBIDDEN_MODULES = ("duckdb", "catalog.index.connection", "catalog.index.readcache")


def problems(source: str) -> list[str]:
    """What in ``source`` (a Python module) touches the index other than through
    ``catalog``'s API: SQL text, DuckDB calls, connection imports."""
    found = [f"SQL {m.group(1)!r}" for m in SQL.finditer(source)]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [
                f"import {a.name}" for a in node.names if a.name.startswith(FORBIDDEN_MODULES)
            ]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.level == 2:  # catalog/service: ``from ..index import`` is catalog.index
                node.module, node.level = f"catalog.{node.module}", 0
            if node.module.startswith(FORBIDDEN_MODULES):
                found.append(f"from {node.module} import ...")
            elif node.module == "catalog.index":
                found += [
                    f"from catalog.index import {a.name}"
                    for a in node.names
                    if a.name in FORBIDDEN_NAMES
                ]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in DB_CALLS
        ):
            found.append(f".{node.func.attr}() call")
    return found


def modules() -> list[Path]:
    paths = [p for name in FRONT_ENDS for p in sorted((ROOT / name).rglob("*.py"))]
    return [p for p in paths if "node_modules" not in p.parts]


def test_the_front_ends_are_where_they_should_be() -> None:
    found = {"/".join(p.relative_to(ROOT).parts[:-1][:2]) for p in modules()}
    assert set(FRONT_ENDS) <= found
    assert {"grid.py", "detail.py", "search.py", "api.py", "tasks.py"} <= {
        p.name for p in modules()
    }


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_sql_or_connections_outside_catalog(path: Path) -> None:
    assert problems(path.read_text(encoding="utf-8")) == []


def test_the_check_finds_what_it_looks_for() -> None:
    old_grid = (
        "from catalog.index import cache_dir, connect\n"
        "with connect(index, read_only=True) as con:\n"
        "    rows = con.execute(\n"
        '        "SELECT id, thumbnail FROM datasets WHERE id IN (SELECT unnest(?))", [ids]\n'
        "    ).fetchall()\n"
    )
    assert problems(old_grid) == [
        "SQL 'SELECT'",
        "SQL 'SELECT'",
        "from catalog.index import connect",
        ".fetchall() call",
        ".execute() call",
    ]
    assert problems("import duckdb\nfrom catalog.index.connection import _open\n") == [
        "import duckdb",
        "from catalog.index.connection import ...",
    ]
    assert problems("q = 'WITH RECURSIVE up AS (x)'\ncon.sql(q)\n") == [
        "SQL 'WITH RECURSIVE'",
        ".sql() call",
    ]
    assert problems("from catalog.index import cache_dir\ncat.search(name='x')\n") == []
