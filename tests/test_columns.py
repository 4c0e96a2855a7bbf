"""The column registry is the one list of dataset fields: every derived list (DDL,
scan schema, listing snapshot, ``cat.df``, entries, filters, user fields, REST rows,
detail views, the TypeScript front end) follows it; a drift fails here."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from catalog import open_catalog
from catalog.catalogue import core, entries, fields
from catalog.errors import AnnotationError
from catalog.index import columns, connect, listing, schema, search_text, store
from catalog.index.columns import REGISTRY
from catalog.index.listing.format import HASH_COLUMN
from catalog.scanner import run

from .catalogue_rows import write_rows

FRONTEND = Path(__file__).resolve().parents[1] / "jupyter_ext" / "frontend" / "src"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("columns") / "lab.duckdb"
    write_rows(path)  # through the scanner's writers, into a real DuckDB file
    return path


def _names(attribute: str) -> tuple[str, ...]:
    return columns.names(attribute)


def test_the_ddl_creates_exactly_the_registry_columns() -> None:
    con = duckdb.connect()
    con.execute(schema.DDL)
    described = con.execute("DESCRIBE datasets").fetchall()
    assert [(r[0], r[1]) for r in described] == [(c.name, c.base_type) for c in REGISTRY]
    for name, _, null, key, default, _ in described:
        sql = columns.COLUMNS[name].sql
        assert (null == "NO") == ("NOT NULL" in sql or "PRIMARY KEY" in sql)
        assert (key is not None) == ("PRIMARY KEY" in sql or "UNIQUE" in sql)
        assert (default is not None) == ("DEFAULT" in sql)


def test_an_index_on_disk_has_the_registry_columns(index: Path) -> None:
    with connect(index, read_only=True) as con:
        got = [r[0] for r in con.execute("DESCRIBE datasets").fetchall()]
    assert got == [c.name for c in REGISTRY]


def test_scans_write_the_scanned_columns_with_their_arrow_types() -> None:
    assert store.DATASET_SCHEMA.names == list(_names("scanned"))
    for c in columns.listed("scanned"):
        assert store.DATASET_SCHEMA.field(c.name).type == c.arrow_type()
        assert str(c.arrow_type()).replace("list<item: ", "list<") == c.arrow_type_name


def test_positions_are_unique_and_dense() -> None:
    for attribute in columns.ORDERED:
        positions = sorted(getattr(c, attribute) for c in columns.listed(attribute))
        assert positions == list(range(len(positions))), attribute
    assert len(columns.COLUMNS) == len(REGISTRY)  # names are unique
    # flags that only mean something together with another one
    assert all(c.listing is not None for c in REGISTRY if c.df or c.dictionary)
    assert all(c.df for c in REGISTRY if c.row)
    assert all(c.filter is not None for c in REGISTRY if c.facet is not None)


def test_the_snapshot_holds_exactly_the_flagged_columns(index: Path) -> None:
    assert _names("listing") == listing.COLUMNS
    assert _names("dictionary") == listing.DICTIONARY
    assert set(_names("df")) <= set(listing.COLUMNS)  # cat.df is read from the snapshot
    assert all(c.base_type == "VARCHAR" for c in columns.listed("dictionary"))
    dest = listing.build(index)
    assert dest is not None
    table = ipc.open_file(pa.memory_map(str(dest))).read_all()
    # the listed columns, then each row's hash (what changed since: listing.overlay)
    assert tuple(table.column_names) == (*_names("listing"), HASH_COLUMN)
    encoded = {n for n in table.column_names if pa.types.is_dictionary(table[n].type)}
    assert encoded == set(_names("dictionary"))


def test_cat_df_has_the_df_columns(index: Path) -> None:
    cat = open_catalog(index)
    df = cat.df
    assert [df.index.name, *df.columns] == list(_names("df")) == core.DF_NAMES


def test_entries_carry_the_entry_columns(index: Path) -> None:
    assert ", ".join(_names("entry")) == entries.ROW_COLUMNS
    cat = open_catalog(index)
    meta = cat[next(iter(cat))].metadata
    assert set(_names("entry")) <= set(meta)
    assert not {c.name for c in REGISTRY if not c.entry} - {"tags"} & set(meta)


def test_filters_are_the_columns_with_a_filter_kind(index: Path) -> None:
    assert {c.name: c.filter for c in REGISTRY if c.filter} == fields.COLUMNS
    for name, kind in fields.COLUMNS.items():
        target = fields.resolve(name)
        assert (target.key, target.kind, target.sql) == (name, kind, f"d.{name}")
    cat = open_catalog(index)
    assert len(cat.search(modality="CT", acquired=("2000", None), tags="porosity")) >= 0


def test_user_fields_are_what_set_changes(tmp_path: Path) -> None:
    index = tmp_path / "lab.duckdb"
    ids = write_rows(index)
    assert _names("user") == store.USER_FIELDS
    cat = open_catalog(index)
    ident = next(iter(ids.values()))
    choices = {"data_level": "segmentation", "access": "internal"}
    values = {n: choices.get(n, f"x-{n}") for n in _names("user")}
    assert cat.set(ident, **values) == 1
    meta = open_catalog(index)[ident].metadata
    assert {n: meta[n] for n in values} == values
    with pytest.raises(AnnotationError):
        cat.set(ident, checksum="nope")


def test_text_search_and_rescans_use_their_columns() -> None:
    assert _names("text") == search_text.TEXT_COLUMNS
    assert _names("imported") == run.TABLE_FIELDS


def test_rest_rows_and_widget_details_follow_the_registry() -> None:
    api = pytest.importorskip("catalog.service.api")
    detail = pytest.importorskip("widgets.detail")
    assert _names("row") == api.ROW_FIELDS
    assert set(api.ROW_FIELDS) <= set(_names("df"))  # rows are read from cat.df
    assert _names("widget") == detail.FIELDS


def test_describe_is_json_ready() -> None:
    described = json.loads(json.dumps(columns.describe()))
    assert [d["name"] for d in described] == [c.name for c in REGISTRY]
    detail = sorted((d for d in described if d["detail"] is not None), key=lambda d: d["detail"])
    assert [d["name"] for d in detail] == list(_names("detail"))
    assert {d["display"] for d in described} <= {"bytes", "length", "shape", "time", "value"}


def test_the_front_end_keeps_no_field_list_of_its_own() -> None:
    """The TypeScript sources name no dataset column in a string literal or in the
    row and dataset types: the detail view lists the fields the ``info`` route serves."""
    # the few fields the code reads by name: a tile's name, id, facts, thumbnail and
    # status; a detail's id, name, metadata, tags and notes
    allowed = {"id", "name", "meta", "tags", "status", "thumbnail", "modality", "shape", "size"}
    alternatives = "|".join(sorted({c.name for c in REGISTRY} - allowed))
    literal = re.compile(rf"""['"`]({alternatives})['"`]""")
    member = re.compile(rf"^\s*({alternatives})\??\s*:", re.M)
    comment = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
    # an element made by name (``el('path', ...)``: SVG and HTML tags) is no field
    element = re.compile(r"""\bel\(\s*['"`][a-z]+['"`]""")
    found = []
    for path in sorted(FRONTEND.glob("*.ts")):
        text = element.sub("el(", comment.sub("", path.read_text()))
        found += [f"{path.name}: {m[0]}" for m in literal.finditer(text)]
        for body in re.findall(r"interface I(?:Row|Dataset)\b[^{]*\{(.*?)\n\}", text, re.S):
            found += [f"{path.name}: {m[0].strip()}" for m in member.finditer(body)]
    assert not found
    # and it would notice the list there was
    old = "const FIELDS = [['acquired', 'acquired']];\ninterface IRow {\n  sample: string;\n}"
    assert literal.search(old) and member.search(re.findall(r"\{(.*?)\n\}", old, re.S)[0])


ADDED = (
    '    C("operator", "VARCHAR", "who ran the acquisition", filter=TEXT, listing=21, df=True,\n'
    "      dictionary=True, text=11, user=6, imported=True, row=True, detail=25, widget=24),\n"
)

ONE_ROW_CHECK = r"""
import datetime as dt, json, sys
from pathlib import Path
import pyarrow as pa, pyarrow.ipc as ipc
from catalog import open_catalog
from catalog.index import columns, connect, listing, transaction
from catalog.index.search_text import refresh_search_text
from catalog.index.store import DATASET_SCHEMA, insert_rows, make_id
from catalog.scanner.run import TABLE_FIELDS
import catalog.service.api, widgets.detail

index = Path(sys.argv[1])
t = dt.datetime(2025, 1, 1)
rows = [dict(id=make_id(f"/d/{i}", None), name=f"d{i}", path=f"/d/{i}", kind="image",
             format="tiff", status="ok", first_seen=t, last_seen=t, operator=op)
        for i, op in enumerate(["Ann", "Bob", None])]
with transaction(index) as con:
    insert_rows(con, "datasets", rows, DATASET_SCHEMA)
    refresh_search_text(con)
cat = open_catalog(index)
ident = rows[2]["id"]
assert cat.set(ident, operator="Cy") == 1
snap = ipc.open_file(pa.memory_map(str(listing.build(index)))).read_all()
with connect(index, read_only=True) as con:
    ddl = [r[0] for r in con.execute("DESCRIBE datasets").fetchall()]
print(json.dumps({
    "registry": columns.__file__,
    "ddl": "operator" in ddl,
    "df": sorted(cat.df["operator"].tolist()),
    "filter": len(cat.search(operator="Ann")),
    "text": len(cat.search("bob")),
    "entry": cat[ident].metadata["operator"],
    "snapshot": pa.types.is_dictionary(snap["operator"].type),
    "imported": "operator" in TABLE_FIELDS,
    "row": "operator" in catalog.service.api.ROW_FIELDS,
    "widget": widgets.detail.FIELDS[-1],
    "detail": [c["name"] for c in columns.describe() if c["detail"] == 25],
}))
"""


def test_a_new_column_is_one_registry_row(tmp_path: Path) -> None:
    """Adding one row to the registry (in a copy of the package) gives a new index the
    column, and ``cat.df``, filters, text search, ``cat.set``, entries, the snapshot,
    the REST rows and both detail views carry it."""
    import catalog

    repo = Path(catalog.__file__).resolve().parents[1]
    copy = tmp_path / "src"
    for package in ("catalog", "widgets", "jupyter_ext"):
        shutil.copytree(
            repo / package,
            copy / package,
            ignore=shutil.ignore_patterns("frontend", "labextension", "__pycache__"),
        )
    registry = copy / "catalog" / "index" / "columns.py"
    text = registry.read_text()
    anchor = '    C("search_text",'
    assert text.count(anchor) == 1
    registry.write_text(text.replace(anchor, ADDED + anchor))
    out = subprocess.run(
        [sys.executable, "-c", ONE_ROW_CHECK, str(tmp_path / "lab.duckdb")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(copy)},
        cwd=tmp_path,  # not the checkout: ``-c`` puts the working folder first
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.splitlines()[-1])
    assert got.pop("registry") == str(registry)  # the edited copy ran
    assert got == {
        "ddl": True,
        "df": ["Ann", "Bob", "Cy"],
        "filter": 1,
        "text": 1,
        "entry": "Cy",
        "snapshot": True,
        "imported": True,
        "row": True,
        "widget": "operator",
        "detail": ["operator"],
    }
