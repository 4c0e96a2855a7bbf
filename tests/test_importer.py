"""Importing tabular catalogues: mapping, units, metadata, re-imports, scans, bad input."""

from __future__ import annotations

import json
from datetime import datetime as dt
from pathlib import Path
from unittest.mock import Mock

import duckdb
import numpy as np
import pandas as pd
import pytest
import tifffile

import catalog.importer
import catalog.tabular
from catalog import ImportReport, import_table, scan
from catalog.cli import main
from catalog.errors import CatalogError, ImportTableError, ImportTableWarning
from catalog.index import transaction
from catalog.index.store import make_id

# notes.txt of the inventory is a plain file: most tests here import it and get warned
pytestmark = pytest.mark.filterwarnings("ignore::catalog.errors.ImportTableWarning")


def rows(index: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(index), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def by_path(index: Path) -> dict[str, dict]:
    """Every dataset row as plain Python values, by path."""
    with duckdb.connect(str(index), read_only=True) as con:
        cur = con.execute("SELECT * FROM datasets")
        return {r[2]: dict(zip([d[0] for d in cur.description], r)) for r in cur.fetchall()}


@pytest.fixture
def index(tmp_path: Path) -> Path:
    return tmp_path / "lab.duckdb"


@pytest.fixture
def table(tmp_path: Path) -> Path:
    """A lab's spreadsheet: odd column names, units in cells, relative paths, extras."""
    columns = {
        "File Path": ["ct/rock1.tif", "ct/rock2.ome.tiff", "/archive/cells.zarr", "notes.txt"],
        "Voxel Size": ["6.5 um", "0.65µm", "2e-6", None],
        "Shape": ["512x512x100", "[100, 512, 512]", "(3, 64, 64)", None],
        "Size": ["1.2 GB", "2048", None, "12 kB"],
        "Date": ["2024-03-05", "2024-03-06 14:30", None, None],
        "Sample": ["rock1", "rock2", "HeLa", None],
        "Modality": ["CT", "CT", "LM", None],
        "tags": ["sandstone, porosity", "sandstone", None, "admin"],
        "Operator": ["anna", "bob", "carl", "dora"],
        "Energy keV": [80, 120, None, None],
    }
    return _csv(tmp_path / "inventory.csv", columns)


def test_automatic_mapping_units_shapes_tags_and_extras(table: Path, index: Path) -> None:
    with pytest.warns(ImportTableWarning, match=r"1 of 4 rows .* plain files.*notes\.txt"):
        report = import_table(table, index)
    assert isinstance(report, ImportReport)
    assert (report.added, report.updated, report.skipped, report.errors) == (4, 0, 0, [])
    assert report.hidden == 1 and "warning: 1 of 4 rows" in str(report)
    assert "added 4" in str(report) and "inventory.csv" in str(report)
    ds = by_path(index)
    root = table.parent
    rock1 = ds[str(root / "ct/rock1.tif")]  # relative paths: against the table's folder
    assert (rock1["shape"], rock1["size"]) == ([512, 512, 100], 1_200_000_000)
    assert rock1["voxel_size"] == pytest.approx(6.5e-6) and rock1["acquired"] == dt(2024, 3, 5)
    assert (rock1["sample"], rock1["modality"], rock1["name"]) == ("rock1", "CT", "rock1.tif")
    kind = ("registered", "image", "tiff", "tiff")
    assert (rock1["status"], rock1["kind"], rock1["reader"], rock1["format"]) == kind
    assert sorted(rock1["user_set"]) == ["modality", "sample"]
    assert rock1["id"] == make_id(str(root / "ct/rock1.tif"), None)
    rock2 = ds[str(root / "ct/rock2.ome.tiff")]
    assert (rock2["shape"], rock2["size"], rock2["acquired"]) == (
        [100, 512, 512],
        2048,
        dt(2024, 3, 6, 14, 30),
    )
    assert rock2["voxel_size"] == pytest.approx(0.65e-6)
    cells = ds["/archive/cells.zarr"]
    assert cells["shape"] == [3, 64, 64] and cells["voxel_size"] == pytest.approx(2e-6)
    assert (cells["reader"], cells["kind"]) == ("zarr", "image")
    notes = ds[str(root / "notes.txt")]
    assert (notes["kind"], notes["reader"], notes["format"]) == ("file", None, "text/plain")
    assert notes["size"] == 12_000 and notes["user_set"] is None
    meta = {"Operator": "anna", "Energy keV": 80, "voxcat": {"imported_from": str(table)}}
    assert json.loads(rock1["meta"]) == meta
    tags = rows(index, "SELECT d.name, t.tag FROM tags t JOIN datasets d ON d.id = t.dataset_id")
    assert sorted(f"{n}:{t}" for n, t in tags) == [
        "notes.txt:admin", "rock1.tif:porosity", "rock1.tif:sandstone", "rock2.ome.tiff:sandstone"
    ]  # fmt: skip
    # columns that are no field: metadata rows (numbers kept as numbers), and text search
    sql = "SELECT d.name, m.value, m.num FROM metadata m JOIN datasets d ON d.id = m.dataset_id"
    meta = rows(index, sql + " WHERE m.key = 'Energy keV' ORDER BY 1")
    assert meta == [("rock1.tif", "80.0", 80.0), ("rock2.ome.tiff", "120.0", 120.0)]
    assert rows(index, "SELECT count(*) FROM metadata WHERE key = 'Operator'") == [(4,)]
    sql = "SELECT name FROM datasets WHERE search_text LIKE ?"
    assert rows(index, sql, ["%carl%"]) == [("cells.zarr",)]
    assert rows(index, sql, ["%porosity%"]) == [("rock1.tif",)]


def test_explicit_mapping_and_dropping(tmp_path: Path, index: Path) -> None:
    columns = {"Datei": ["a.nii.gz", "b.mrc"], "Probe": ["p1", "p2"], "path": ["x", "y"]}
    _csv(tmp_path / "t.csv", {**columns, "secret": ["x", "y"], "Bemerkung": ["one", "two"]})
    # "path" would win automatically: it is mapped away; keys match case-insensitively
    mapping = {"Datei": "path", "Probe": "sample", "path": None, "secret": None}
    assert (
        import_table(
            tmp_path / "t.csv", index, mapping={**mapping, "bemerkung": "description"}
        ).added
        == 2
    )
    ds = by_path(index)
    a = ds[str(tmp_path / "a.nii.gz")]
    assert (a["sample"], a["description"], a["reader"]) == ("p1", "one", "nifti")
    assert ds[str(tmp_path / "b.mrc")]["reader"] == "mrc"
    assert json.loads(a["meta"]) == {"voxcat": {"imported_from": str(tmp_path / "t.csv")}}
    assert rows(index, "SELECT count(*) FROM metadata WHERE key IN ('secret', 'path')") == [(0,)]


def test_parquet_dataframe_lists_and_root(tmp_path: Path, index: Path) -> None:
    rng = np.random.default_rng(7)
    df = pd.DataFrame(
        {
            "filename": [f"s{i}.h5" for i in range(5)],
            "shape": [[int(n) for n in rng.integers(1, 500, 3)] for _ in range(5)],
            "voxel_size": rng.uniform(1e-6, 5e-6, 5),
            "size": rng.integers(1, 10**9, 5),
            "channels": ["DAPI; GFP", None, "[ 'a', 'b' ]", "x", None],
            "tags": [["a", "b"], ["b"], [], None, ["a", "a"]],
            "acquired": pd.date_range("2020-01-01", periods=5, freq="D"),
        }
    )
    df.to_parquet(tmp_path / "t.parquet")
    data = tmp_path / "data"
    report = import_table(tmp_path / "t.parquet", index, root=data)
    assert (report.added, report.errors) == (5, [])
    ds = by_path(index)
    for i, src in df.iterrows():
        got = ds[str(data / f"s{i}.h5")]
        assert got["voxel_size"] == pytest.approx(src["voxel_size"]) and got["reader"] == "hdf5"
        assert (got["shape"], got["size"], got["acquired"]) == tuple(
            src[["shape", "size", "acquired"]]
        )
    assert ds[str(data / "s0.h5")]["channels"] == ["DAPI", "GFP"]
    assert ds[str(data / "s2.h5")]["channels"] == ["a", "b"]
    assert sorted(rows(index, "SELECT tag, count(*) FROM tags GROUP BY 1")) == [("a", 2), ("b", 2)]
    # a DataFrame directly, with Path objects; relative paths against the working folder
    frame = pd.DataFrame({"path": [data / "s0.h5", Path("rel.tif")], "project": ["p", "q"]})
    report = import_table(frame, index)
    assert (report.table, report.added, report.updated) == ("DataFrame", 1, 1)
    assert by_path(index)[str(Path.cwd() / "rel.tif")]["project"] == "q"


def test_values_not_understood_are_reported(tmp_path: Path, index: Path) -> None:
    columns = {
        "path": ["a.tif", "b.tif", "", "a.tif", "c.tif"],
        "voxel_size": ["6.5", "5 furlongs", "1 um", "1 um", "25 nm"],
        "shape": ["512x", "1x2", "3", "4", "five"],
        "size": ["??", "-3", "1", "1", "2 MiB"],
        "acquired": ["yesterday", "2024:03:05 10:00:00", None, None, "05.03.2024"],
    }
    _csv(tmp_path / "t.csv", columns)
    report = import_table(tmp_path / "t.csv", index)
    assert (report.added, report.skipped) == (3, 2)
    text = "\n".join(report.errors)
    assert "t.csv, row 3: no path (column 'path' is empty); row skipped" in text
    assert "t.csv, row 4: the same path as row 1" in text
    for words in ("'voxel_size'", "row 1: '6.5'", "give the unit", "unit 'furlongs'", "'512x'"):
        assert words in text
    for words in ("row 5: 'five'", "row 1: '??'", "row 1: 'yesterday'", "ISO 8601"):
        assert words in text
    ds = by_path(index)
    a, b, c = (ds[str(tmp_path / n)] for n in ("a.tif", "b.tif", "c.tif"))
    assert a["voxel_size"] is None
    assert b["shape"] == [1, 2] and b["acquired"] == dt(2024, 3, 5, 10)
    assert (c["size"], c["acquired"]) == (2 * 2**20, dt(2024, 3, 5))
    assert c["voxel_size"] == pytest.approx(25e-9)
    assert str(report).count("\n") == len(report.errors)


def test_reimport_updates_user_fields_and_keeps_ids(table: Path, index: Path) -> None:
    import_table(table, index)
    before = {p: r["id"] for p, r in by_path(index).items()}
    df = pd.read_csv(table)
    df["Sample"] = ["rock1-b", None, "HeLa-2", "misc"]
    df["Operator"] = ["zoe", None, None, None]
    df["tags"] = ["sandstone", "new", None, None]
    df["Shape"] = ["9x9", None, None, None]
    df.to_csv(table, index=False)
    report = import_table(table, index)
    assert (report.added, report.updated) == (0, 4)
    after = by_path(index)
    assert {p: r["id"] for p, r in after.items()} == before
    rock1 = after[str(table.parent / "ct/rock1.tif")]
    assert rock1["sample"] == "rock1-b" and rock1["shape"] == [9, 9]  # not scanned yet
    rock2 = after[str(table.parent / "ct/rock2.ome.tiff")]
    assert rock2["sample"] == "rock2"  # an empty cell leaves the value alone
    assert sorted(after[str(table.parent / "notes.txt")]["user_set"]) == ["sample"]
    assert json.loads(rock1["meta"])["Operator"] == "zoe"
    sql = "SELECT value FROM metadata WHERE key = ? AND dataset_id = ?"
    assert rows(index, sql, ["Operator", rock1["id"]]) == [("zoe",)]  # replaced, not added
    assert rows(index, sql, ["voxcat.imported_from", rock1["id"]]) == [(str(table),)]
    tags = rows(index, "SELECT tag FROM tags WHERE dataset_id = ? ORDER BY 1", [rock2["id"]])
    assert tags == [("new",), ("sandstone",)]
    assert "zoe" in rock1["search_text"] and "rock1-b" in rock1["search_text"]
    audit = rows(index, "SELECT action, dataset_id, detail FROM audit ORDER BY seq")
    assert [a for a, _, _ in audit] == ["import.added"] * 4 + ["import.updated"] * 4
    first = json.loads(audit[0][2])
    assert first == {"table": str(table), "row": 1} and audit[0][1] == rock1["id"]


@pytest.fixture
def drive(tmp_path: Path, volume: np.ndarray) -> Path:
    root = tmp_path / "drive"
    root.mkdir()
    tifffile.imwrite(root / "vol.tif", volume)
    return root


def test_import_of_scanned_path_keeps_scanned_fields(
    drive: Path, index: Path, tmp_path: Path
) -> None:
    scan(drive, index, jobs=1, progress=False, thumbnails=False)
    scanned = by_path(index)[str(drive / "vol.tif")]
    columns = {"path": [str(drive / "vol.tif")], "shape": ["1x1x1"], "dtype": ["float64"]}
    columns.update(sample=["core-7"], tags=["ok"], beamline=["ID19"])
    report = import_table(_csv(tmp_path / "t.csv", columns), index)
    assert (report.added, report.updated) == (0, 1)
    got = by_path(index)[str(drive / "vol.tif")]
    assert got["id"] == scanned["id"]
    for field in ("shape", "dtype", "checksum", "status", "kind", "format", "signature"):
        assert got[field] == scanned[field], field
    assert got["sample"] == "core-7" and list(got["user_set"]) == ["sample"]
    assert json.loads(got["meta"])["beamline"] == "ID19"
    # an unchanged rescan keeps what the table added
    assert scan(drive, index, jobs=1, progress=False, thumbnails=False)["unchanged"] == 1
    assert by_path(index)[str(drive / "vol.tif")]["sample"] == "core-7"
    assert rows(index, "SELECT tag FROM tags") == [("ok",)]


def test_scan_completes_an_imported_dataset(drive: Path, index: Path, tmp_path: Path) -> None:
    columns = {"path": ["drive/vol.tif", "drive/gone.tif"], "project": ["rocks", "rocks"]}
    columns.update(beamline=["ID19", "ID19"], instrument=["micro-CT 3", "micro-CT 3"])
    _csv(tmp_path / "t.csv", {**columns, "data_level": ["raw", "raw"], "tags": ["keep", "keep"]})
    import_table(tmp_path / "t.csv", index)
    imported = by_path(index)[str(drive / "vol.tif")]
    assert imported["status"] == "registered" and imported["shape"] is None
    # an imported row is a location like a scanned one: its path, counted as a copy
    where = "SELECT d.path, l.path, l.status, d.copies FROM datasets d JOIN locations l "
    where += "ON l.dataset_id = d.id ORDER BY d.path"
    paths = [str(drive / "gone.tif"), str(drive / "vol.tif")]
    assert rows(index, where) == [(p, p, "ok", 1) for p in paths]
    report = scan(drive, index, jobs=1, progress=False, thumbnails=False)
    assert report["failed"] == 0 and report["added"] == 1  # first seen on disk now
    ds = by_path(index)
    got = ds[str(drive / "vol.tif")]
    assert got["id"] == imported["id"] and got["status"] == "ok"
    assert (got["shape"], got["dtype"], got["reader"]) == ([12, 40, 48], "uint16", "tiff")
    assert got["checksum"]
    assert (got["project"], got["data_level"]) == ("rocks", "raw")
    assert rows(index, "SELECT tag FROM tags WHERE dataset_id = ?", [got["id"]]) == [("keep",)]
    assert ds[str(drive / "gone.tif")]["status"] == "missing"
    assert rows(index, where) == [
        (paths[0], paths[0], "missing", 0),
        (paths[1], paths[1], "ok", 1),
    ]
    # what only the table knew survives the scan: its extra columns and fields the file lacks
    meta = json.loads(got["meta"])
    assert meta["beamline"] == "ID19" and meta["voxcat"]["imported_from"]
    assert got["instrument"] == "micro-CT 3"
    assert rows(index, "SELECT value FROM metadata WHERE key = 'beamline'") == [
        ("ID19",),
        ("ID19",),
    ]


def test_id_collisions_are_lengthened(table: Path, index: Path) -> None:
    path = str(table.parent / "ct/rock1.tif")
    taken = make_id(path, None)
    with transaction(index) as con:  # another dataset has the id the path would get
        con.execute(
            "INSERT INTO datasets (id, name, path, kind, status) VALUES (?, 'x', '/o', 'file', 'ok')",
            [taken],
        )
    import_table(table, index)
    got = by_path(index)[path]["id"]
    assert got == make_id(path, None, 16) and got.startswith(taken)


BAD_TABLES = [  # file name, its text (None: no file, "/": a folder), words the message holds
    ("missing.csv", None, ["does not exist"]),
    ("folder", "/", ["is a folder"]),
    ("empty.csv", "", ["the table is empty"]),
    ("header.csv", "path,sample\n", ["the table is empty"]),
    ("t.csv.gz", "a,b\n1,2\n", ["cannot read the table as CSV"]),
    ("np.csv", "sample,notes\na,b\n", ["no path column", "'sample'", "mapping={'your column'"]),
    ("bad.parquet", "PAR1 not really", ["cannot read the table as Parquet"]),
]


@pytest.mark.parametrize(("name", "text", "words"), BAD_TABLES)
def test_bad_tables(tmp_path: Path, index: Path, name: str, text: str | None, words: list) -> None:
    src = tmp_path / name
    if text == "/":
        src.mkdir()
    elif text is not None:
        src.write_text(text)
    with pytest.raises(ImportTableError) as err:
        import_table(src, index)
    assert isinstance(err.value, CatalogError) and isinstance(err.value, ValueError)
    for word in [name, *words]:
        assert word in str(err.value)
    assert not index.exists() or rows(index, "SELECT count(*) FROM datasets") == [(0,)]


def test_bad_mappings_and_unreadable_tables(table: Path, index: Path, monkeypatch) -> None:
    with pytest.raises(ImportTableError, match=r"does not have: 'nope'.*'File Path'"):
        import_table(table, index, mapping={"nope": "path"})
    with pytest.raises(ImportTableError, match=r"unknown field 'colour'.*voxel_size"):
        import_table(table, index, mapping={"Sample": "colour"})
    with pytest.raises(ImportTableError, match="two columns"):
        import_table(table, index, mapping={"Sample": "path", "Operator": "path"})
    with pytest.raises(ImportTableError, match="DataFrame"):
        import_table({"path": ["a"]}, index)  # type: ignore[arg-type]
    denied = Mock(side_effect=PermissionError(13, "Permission denied"))
    monkeypatch.setattr(catalog.tabular, "open", denied, raising=False)  # root reads anything
    with pytest.raises(ImportTableError, match=r"inventory.csv: cannot read the table: Perm"):
        import_table(table, index)


def test_interrupted_import_changes_nothing(table: Path, index: Path, monkeypatch) -> None:
    monkeypatch.setattr(catalog.importer, "append_audit", Mock(side_effect=KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        import_table(table, index)
    for name in ("datasets", "metadata", "tags", "audit"):
        assert rows(index, f"SELECT count(*) FROM {name}") == [(0,)]


def test_intake_esm_style_csv(tmp_path: Path, index: Path) -> None:
    rng, n = np.random.default_rng(20261122), 60
    df = pd.DataFrame(
        {
            "activity_id": rng.choice(["CMIP", "ScenarioMIP"], n),
            "source_id": rng.choice(["CESM2", "GFDL-CM4"], n),
            "experiment_id": rng.choice(["historical", "ssp585"], n),
            "member_id": [f"r{i % 5 + 1}i1p1f1" for i in range(n)],
            "table_id": "Amon",
            "variable_id": rng.choice(["tas", "pr"], n),
            "version": rng.integers(20190101, 20191231, n),
            "path": [f"cmip6/run{i:03d}/data.nc" for i in range(n)],
        }
    )
    df.to_csv(tmp_path / "pangeo-cmip6.csv.gz", index=False, compression="gzip")
    report = import_table(tmp_path / "pangeo-cmip6.csv.gz", index)
    assert (report.added, report.errors) == (n, [])
    first = by_path(index)[str(tmp_path / "cmip6/run000/data.nc")]
    assert (first["reader"], first["format"], first["kind"]) == ("netcdf", "netcdf", "image")
    meta = json.loads(first["meta"])
    assert meta["variable_id"] == df["variable_id"][0] and meta["version"] == df["version"][0]
    sql = "SELECT count(*) FROM metadata WHERE key = 'variable_id' AND value = 'tas'"
    assert rows(index, sql)[0][0] == (df["variable_id"] == "tas").sum()
    sql = "SELECT min(num), max(num) FROM metadata WHERE key = 'version'"
    assert rows(index, sql) == [(df["version"].min(), df["version"].max())]
    sql = "SELECT count(*) FROM datasets WHERE search_text LIKE '%ssp585%'"
    assert rows(index, sql) == [((df["experiment_id"] == "ssp585").sum(),)]


def test_tsv_custom_separators_and_urls(tmp_path: Path, index: Path) -> None:
    _write(
        tmp_path / "t.tsv",
        "uri\tkeywords\tacquired\n"
        "s3://bucket/run1.zarr/\talpha|beta\t2021-07-01T08:00:00\n"
        "file:///srv/a%20b.tif\tgamma\t\n",
    )
    report = import_table(tmp_path / "t.tsv", index, tags_sep="|")
    assert report.added == 2
    ds = by_path(index)
    run = ds["s3://bucket/run1.zarr"]
    assert run["reader"] == "zarr" and run["acquired"] == dt(2021, 7, 1, 8)
    assert "/srv/a b.tif" in ds
    assert sorted(t for (t,) in rows(index, "SELECT tag FROM tags")) == ["alpha", "beta", "gamma"]
    _write(tmp_path / "semi.csv", "path;sample\nx.tif;s1\n")
    assert import_table(tmp_path / "semi.csv", index, sep=";").added == 1
    assert by_path(index)[str(tmp_path / "x.tif")]["sample"] == "s1"


def test_cli_import_table(
    table: Path, index: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["import-table", str(table), "--index", str(index), "--map", "Operator=instrument"]
    assert main([*args, "--map", "Energy keV=", "--root", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "added 4" in out and "inventory.csv" in out
    ds = by_path(index)
    rock1 = ds[str(tmp_path / "r" / "ct/rock1.tif")]
    assert rock1["instrument"] == "anna" and "Energy keV" not in json.loads(rock1["meta"])
    assert main(["import-table", str(tmp_path / "nope.csv"), "-i", str(index)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("voxcat: error:") and "nope.csv" in err and "does not exist" in err
    assert main(["import-table", str(table), "-i", str(index), "--map", "Operator"]) == 1
    assert "COLUMN=FIELD" in capsys.readouterr().err
    _write(tmp_path / "tags.csv", "path,tags\nz.tif,a;b\n")
    args = ["import-table", str(tmp_path / "tags.csv"), "-i", str(index), "--tags-sep", ";"]
    assert main(args) == 0
    assert sorted(rows(index, "SELECT tag FROM tags WHERE tag IN ('a', 'b')")) == [("a",), ("b",)]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _csv(path: Path, columns: dict) -> Path:
    pd.DataFrame(columns).to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_a_table_larger_than_a_row_group_imports_with_its_tags(tmp_path: Path) -> None:
    """130,000 tagged rows (more than one DuckDB row group of 122,880): DuckDB 2.0
    failed the old in-transaction rewrite of the tags column of so many new rows with
    an internal error that invalidated the index; new rows now get their tags as they
    are inserted."""
    rng = np.random.default_rng(20261204)
    n = 130_000
    tags = np.array(["porosity", "review", "tag07", "paper-2025"])
    frame = pd.DataFrame(
        {
            "path": [f"/archive/p{i % 97}/scan_{i:07d}.tif" for i in range(n)],
            "modality": rng.choice(["CT", "LM", "EM"], n),
            "tags": [",".join(rng.choice(tags, 2, replace=False)) for _ in range(n)],
        }
    )
    table = tmp_path / "big.csv"
    frame.to_csv(table, index=False)
    index = tmp_path / "lab.duckdb"
    report = import_table(table, index=index)
    assert report.added == n
    con = duckdb.connect(str(index), read_only=True)
    try:
        copies = con.execute(
            "SELECT count(*) FROM datasets d WHERE d.tags IS DISTINCT FROM "
            "(SELECT list(tag ORDER BY tag) FROM tags t WHERE t.dataset_id = d.id)"
        ).fetchone()[0]
        assert copies == 0  # the tags column is the tags table's copy on every row
        assert con.execute("SELECT count(*) FROM tags").fetchone()[0] == 2 * n
    finally:
        con.close()
