"""Importing intake-esm catalogues: Pangeo's CMIP6 Zarr table, CESM-LE's list-valued
variables, ESM collection specs, remote stores, and rows nobody would see.

The fixtures are written the way intake-esm's own catalogues are (seeded), and every
spec is first opened with intake-esm itself: the independent check that it is valid.
"""

from __future__ import annotations

import functools
import http.server
import json
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import intake_esm
import numpy as np
import pandas as pd
import pytest
import tifffile
import xarray as xr

from catalog import import_table, open_catalog
from catalog.cli import main
from catalog.errors import DatasetUnavailable, ImportTableError, ImportTableWarning
from catalog.remote import missing_package

from .conftest import q

pytestmark = pytest.mark.filterwarnings("ignore::catalog.errors.ImportTableWarning")

CMIP6_COLUMNS = [
    "activity_id",
    "institution_id",
    "source_id",
    "experiment_id",
    "member_id",
    "table_id",
    "variable_id",
    "grid_label",
    "zstore",
    "dcpp_init_year",
    "version",
]
VARIABLES = ["TLON", "TLAT", "ULON", "ULAT", "aice", "hi", "SST", "SSH"]


@pytest.fixture
def index(tmp_path: Path) -> Path:
    return tmp_path / "lab.duckdb"


@pytest.fixture
def cmip6(tmp_path: Path) -> tuple[Path, Path, pd.DataFrame]:
    """Pangeo's CMIP6 catalogue in small: a CSV of gs:// Zarr stores and its spec."""
    rng = np.random.default_rng(6)
    sources = [
        ("CMIP", "NCAR", "CESM2", "historical"),
        ("ScenarioMIP", "NOAA-GFDL", "GFDL-CM4", "ssp585"),
        ("DCPP", "MOHC", "HadGEM3-GC31-MM", "dcppA-hindcast"),
    ]
    rows = []
    for i in range(24):
        act, inst, src, exp = sources[i % 3]
        member, table = f"r{i % 4 + 1}i1p1f1", str(rng.choice(["Amon", "Omon", "day"]))
        var, version = str(rng.choice(["tas", "pr", "tos"])), int(20190000 + 101 + i)
        store = f"gs://cmip6/CMIP6/{act}/{inst}/{src}/{exp}/{member}/{table}/{var}/gn/v{version}/"
        year = float(rng.integers(1960, 2019)) if act == "DCPP" else None
        rows.append([act, inst, src, exp, member, table, var, "gn", store, year, version])
    df = pd.DataFrame(rows, columns=CMIP6_COLUMNS)
    csv = tmp_path / "cmip" / "pangeo-cmip6.csv"
    csv.parent.mkdir()
    df.to_csv(csv, index=False)
    spec = {
        "esmcat_version": "0.1.0",
        "id": "pangeo-cmip6",
        "description": "CMIP6 Zarr data in Pangeo's Google Storage (a sample)",
        "catalog_file": "pangeo-cmip6.csv",
        "attributes": [
            {"column_name": c, "vocabulary": ""} for c in CMIP6_COLUMNS if c != "zstore"
        ],
        "assets": {"column_name": "zstore", "format": "zarr"},
        "aggregation_control": {
            "variable_column_name": "variable_id",
            "groupby_attrs": ["activity_id", "institution_id", "source_id", "experiment_id"],
            "aggregations": [{"type": "union", "attribute_name": "variable_id"}],
        },
    }
    js = csv.with_suffix(".json")
    js.write_text(json.dumps(spec, indent=2))
    oracle = intake_esm.esm_datastore(str(js))
    assert len(oracle.df) == len(df) and oracle.esmcat.assets.column_name == "zstore"
    return csv, js, df


@pytest.fixture
def cesm(tmp_path: Path) -> tuple[Path, Path, pd.DataFrame]:
    """A CESM-LE-like catalogue: ``path`` + ``data_format`` (netcdf files and s3 Zarr
    stores) and a ``variable`` column of lists written as Python literals."""
    rng = np.random.default_rng(11)
    rows = []
    for i in range(16):
        comp = "ice" if i % 2 else "ocn"
        var = sorted(rng.choice(VARIABLES, size=int(rng.integers(1, 4)), replace=False).tolist())
        if i % 4 == 0:
            path, fmt = f"s3://ncar-cesm-lens/{comp}/monthly/cesmLE-20C-{i:03d}.zarr", "zarr"
        else:
            path, fmt = f"data/{comp}/b.e11.B20TRC5CNBDRD.f09_g16.{i:03d}.{comp}.h.nc", "netcdf"
        rows.append(
            {
                "experiment": "20C",
                "component": comp,
                "member_id": i,
                "variable": str(var),
                "path": path,
                "data_format": fmt,
            }
        )
    df = pd.DataFrame(rows)
    csv = tmp_path / "cesm" / "cesm-le.csv"
    csv.parent.mkdir()
    df.to_csv(csv, index=False)
    spec = {
        "esmcat_version": "0.1.0",
        "id": "cesm-le",
        "catalog_file": "cesm-le.csv",
        "attributes": [
            {"column_name": c, "vocabulary": ""}
            for c in ("experiment", "component", "member_id", "variable")
        ],
        "assets": {"column_name": "path", "format_column_name": "data_format"},
        "columns_with_iterables": ["variable"],
    }
    js = csv.with_suffix(".json")
    js.write_text(json.dumps(spec))
    oracle = intake_esm.esm_datastore(str(js), columns_with_iterables=["variable"])
    assert [list(v) for v in oracle.df["variable"]] == [eval(v) for v in df["variable"]]
    return csv, js, oracle.df


def _expect_gcsfs_warning(report) -> None:
    if missing_package("gs") is not None:
        assert any("gs://" in w and "gcsfs" in w for w in report.warnings), report.warnings


def test_pangeo_cmip6_table_rows_are_zarr_datasets(cmip6, index: Path) -> None:
    csv, _, df = cmip6
    report = import_table(csv, index)
    assert (report.added, report.skipped, report.errors, report.hidden) == (len(df), 0, [], 0)
    _expect_gcsfs_warning(report)
    cat = open_catalog(index)
    assert len(cat) == len(df)  # was 0: every row had been recorded as a hidden "file"
    assert cat.facets("format", "status", "kind") == {
        "format": {"zarr": len(df)},
        "status": {"registered": len(df)},
        "kind": {"container": len(df)},
    }
    assert set(cat.df["path"]) == {z.rstrip("/") for z in df["zstore"]}
    n_tas = int((df["variable_id"] == "tas").sum())
    assert len(cat.search(variable_id="tas")) == n_tas
    assert len(cat.search("ssp585")) == int((df["experiment_id"] == "ssp585").sum())
    assert (
        cat.facets("meta.source_id")["meta.source_id"] == df["source_id"].value_counts().to_dict()
    )


def test_esm_collection_spec_gives_the_same_catalogue(cmip6, tmp_path: Path) -> None:
    csv, js, df = cmip6
    from_csv, from_spec = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    import_table(csv, from_csv)
    report = import_table(js, from_spec)
    assert report.table.endswith("pangeo-cmip6.json") and report.added == len(df)
    a, b = open_catalog(from_csv), open_catalog(from_spec)
    columns = ["name", "format", "status", "path"]
    pd.testing.assert_frame_equal(a.df[columns], b.df[columns])
    assert q(from_spec, "SELECT DISTINCT kind, reader FROM datasets") == [("container", "zarr")]


def test_list_valued_columns_are_searched_per_item(cesm, index: Path) -> None:
    _, js, oracle = cesm
    report = import_table(js, index)
    assert (report.added, report.errors, report.hidden) == (len(oracle), [], 0)
    cat = open_catalog(index)
    folder = js.parent
    for name in VARIABLES:
        expected = {
            p if "://" in p else str(folder / p)
            for p, v in zip(oracle["path"], oracle["variable"], strict=True)
            if name in v
        }
        assert set(cat.search(variable=name).df["path"]) == expected, name
    counts = cat.facets("meta.variable", limit=None)["meta.variable"]
    assert (
        counts == pd.Series([v for vs in oracle["variable"] for v in vs]).value_counts().to_dict()
    )
    row = q(index, "SELECT meta, format, reader FROM datasets WHERE path LIKE 's3://%' LIMIT 1")
    meta, fmt, reader = row[0]
    assert isinstance(json.loads(meta)["variable"], list) and (fmt, reader) == ("zarr", "zarr")
    formats = dict(q(index, "SELECT format, count(*) FROM datasets GROUP BY 1"))
    assert formats == oracle["data_format"].value_counts().to_dict()


def test_list_literals_found_without_being_named(cesm, index: Path, tmp_path: Path) -> None:
    csv, _, oracle = cesm
    # the plain CSV: data_format is the format, the literal lists are recognised
    assert import_table(csv, index).added == len(oracle)
    cat = open_catalog(index)
    assert len(cat.search(variable="TLAT")) == sum("TLAT" in v for v in oracle["variable"])
    assert cat.facets("format")["format"] == oracle["data_format"].value_counts().to_dict()
    # tuples and sets (intake-esm accepts both); a column not all literals stays text
    t = tmp_path / "t.csv"
    pd.DataFrame(
        {
            "path": ["a.nc", "b.nc", "c.nc"],
            "dims": ["('time', 'lat')", "{'lat', 'lon', ''}", None],
            "note": ["['a', 'b']", "final", None],
        }
    ).to_csv(t, index=False)
    import_table(t, tmp_path / "t.duckdb")
    sql = "SELECT value FROM metadata WHERE key = ? ORDER BY dataset_id, value"
    assert sorted(v for (v,) in q(tmp_path / "t.duckdb", sql, ["dims"])) == [
        "lat",
        "lat",
        "lon",
        "time",
    ]
    assert sorted(v for (v,) in q(tmp_path / "t.duckdb", sql, ["note"])) == ["['a', 'b']", "final"]
    # named ones are parsed even where a cell is not a literal
    report = import_table(t, tmp_path / "n.duckdb", columns_with_iterables=["note"])
    assert report.errors == []
    assert sorted(v for (v,) in q(tmp_path / "n.duckdb", sql, ["note"])) == ["a", "b", "final"]
    with pytest.raises(ImportTableError, match="'nope'"):
        import_table(t, tmp_path / "n.duckdb", columns_with_iterables=["nope"])


def test_specs_that_cannot_be_imported_say_why(tmp_path: Path, index: Path, cmip6) -> None:
    csv, js, df = cmip6
    spec = json.loads(js.read_text())
    bad = tmp_path / "bad"
    bad.mkdir()

    def refused(name: str, data: object, *words: str) -> None:
        path = bad / name
        path.write_text(data if isinstance(data, str) else json.dumps(data))
        with pytest.raises(ImportTableError) as err:
            import_table(path, index)
        assert name in str(err.value), str(err.value)
        for word in words:
            assert word in str(err.value), (word, str(err.value))

    refused("package.json", {"name": "x", "version": "1"}, "not an ESM collection spec")
    refused("broken.json", "{not json", "not valid JSON")
    refused(
        "both.json",
        {**spec, "assets": {"column_name": "zstore", "format": "zarr", "format_column_name": "f"}},
        "keep one",
    )
    refused("gone.json", {**spec, "catalog_file": "missing.csv"}, "does not exist")
    remote = {**spec, "catalog_file": "gs://cmip6/cmip6-zarr-consolidated-stores.csv"}
    refused("remote.json", remote, "remote", "cmip6-zarr-consolidated-stores.csv")
    # a remote table downloaded next to the spec is used
    (bad / "cmip6-zarr-consolidated-stores.csv").write_bytes(csv.read_bytes())
    (bad / "remote.json").write_text(json.dumps(remote))
    assert import_table(bad / "remote.json", index).added == len(df)
    # rows inline (catalog_dict), as intake-esm's save(catalog_type="dict") writes them
    inline = {**spec, "catalog_dict": df.head(5).to_dict(orient="records")}
    del inline["catalog_file"]
    (bad / "inline.json").write_text(json.dumps(inline))
    assert len(intake_esm.esm_datastore(str(bad / "inline.json")).df) == 5
    assert import_table(bad / "inline.json", tmp_path / "inline.duckdb").added == 5
    assert len(open_catalog(tmp_path / "inline.duckdb")) == 5


def test_rows_nobody_will_see_are_warned_about(tmp_path: Path, index: Path) -> None:
    drive = tmp_path / "drive"
    (drive / "slices").mkdir(parents=True)
    for i in range(3):
        tifffile.imwrite(drive / "slices" / f"s{i:03d}.tif", np.zeros((8, 8), np.uint8))
    store = xr.Dataset({"t": (("y", "x"), np.arange(12, dtype="float32").reshape(3, 4))})
    store.to_zarr(drive / "run1", zarr_format=2, consolidated=True)
    table = tmp_path / "t.csv"
    paths = ["drive/run1/", "drive/slices/", "drive/readme.txt", "drive/a.tif"]
    pd.DataFrame({"path": paths}).to_csv(table, index=False)
    with pytest.warns(ImportTableWarning, match="2 of 4 rows were recorded as plain files"):
        report = import_table(table, index)
    assert report.hidden == 2 and "readme.txt" in report.warnings[0] and "warning:" in str(report)
    cat = open_catalog(index)
    assert sorted(cat.df["name"]) == ["a.tif", "run1"]  # a folder of Zarr ending in / is a store
    assert sorted(open_catalog(index, files=True).df["name"]) == [
        "a.tif",
        "readme.txt",
        "run1",
        "slices",
    ]
    run1 = cat[cat.search(name="run1").keys()[0]].read()
    np.testing.assert_array_equal(run1.values, store["t"].values)
    # a table whose rows are all datasets warns about nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error", ImportTableWarning)
        pd.DataFrame({"path": ["drive/run1/"]}).to_csv(tmp_path / "ok.csv", index=False)
        assert import_table(tmp_path / "ok.csv", tmp_path / "ok.duckdb").warnings == []


def test_cli_import_of_a_spec_prints_the_warnings(cmip6, cesm, tmp_path: Path, capsys) -> None:
    _, js, df = cmip6
    idx = tmp_path / "cli.duckdb"
    with warnings.catch_warnings():
        warnings.simplefilter("error", ImportTableWarning)  # the CLI prints, not warns
        assert main(["import-table", str(js), "-i", str(idx)]) == 0
    out = capsys.readouterr().out
    assert f"added {len(df)}" in out
    if missing_package("gs") is not None:
        assert "warning:" in out and "gcsfs" in out
    notes = tmp_path / "notes.csv"
    pd.DataFrame({"path": ["a.txt"], "v": ["x"]}).to_csv(notes, index=False)
    assert main(["import-table", str(notes), "-i", str(idx), "--list-column", "v"]) == 0
    assert "1 of 1 rows were recorded as plain files" in capsys.readouterr().out
    assert q(idx, "SELECT value FROM metadata WHERE key = 'v'") == [("x",)]
    assert main(["import-table", str(tmp_path / "x.json"), "-i", str(idx)]) == 1
    assert "x.json" in capsys.readouterr().err


# -- reading remote stores ---------------------------------------------------------------


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[str, xr.Dataset]]:
    """A Zarr store written by xarray, served over HTTP on the loopback interface."""
    site = tmp_path / "site"
    ds = xr.Dataset(
        {"tas": (("time", "lat"), np.random.default_rng(3).random((4, 3)).astype("float32"))},
        coords={"lat": [-10.0, 0.0, 10.0]},
    )
    ds.to_zarr(site / "tas.zarr", zarr_format=2, consolidated=True)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", ds
    finally:
        server.shutdown()
        server.server_close()


def test_remote_stores_read_or_say_plainly_why_not(web, cmip6, tmp_path: Path) -> None:
    base, ds = web
    table = tmp_path / "remote.csv"
    urls = [f"{base}/tas.zarr", f"{base}/v20190308/", f"{base}/nothing.zarr"]
    urls.append("http://127.0.0.1:1/closed.zarr")  # nothing listens on port 1
    pd.DataFrame({"url": urls}).to_csv(table, index=False)
    index = tmp_path / "r.duckdb"
    assert import_table(table, index).hidden == 0
    cat = open_catalog(index)
    by_url = {cat.entry(i).metadata["path"]: i for i in cat}  # stored without the final /
    ids = {u: by_url[u.rstrip("/")] for u in urls}
    got = cat[ids[urls[0]]].read()
    xr.testing.assert_equal(got.load(), ds)
    with pytest.raises(DatasetUnavailable, match=r"no Zarr store at .*v20190308"):
        cat[ids[urls[1]]].read()
    with pytest.raises(DatasetUnavailable, match=r"no Zarr store at .*nothing\.zarr"):
        cat[ids[urls[2]]].read()
    with pytest.raises(DatasetUnavailable, match=r"127.0.0.1:1/closed.zarr is unreachable"):
        cat[ids[urls[3]]].read()
    # gs:// without gcsfs: the package to install, not a traceback from fsspec
    csv, _, _ = cmip6
    gs_index = tmp_path / "gs.duckdb"
    import_table(csv, gs_index)
    gs = open_catalog(gs_index)
    if missing_package("gs") is not None:
        with pytest.raises(DatasetUnavailable, match=r"gs:// needs gcsfs.*pip install gcsfs"):
            gs[next(iter(gs))].read()


def test_read_refuses_unknown_keywords(web, tmp_path: Path) -> None:
    base, _ = web
    pd.DataFrame({"path": [f"{base}/tas.zarr"]}).to_csv(tmp_path / "t.csv", index=False)
    import_table(tmp_path / "t.csv", tmp_path / "t.duckdb")
    cat = open_catalog(tmp_path / "t.duckdb")
    entry = cat[next(iter(cat))]
    with pytest.raises(
        TypeError, match=r"'levl' \(did you mean 'level'\?\).*level.*storage_options"
    ):
        entry.read(levl=2)
    with pytest.raises(TypeError, match="'chunks', 'x'"):
        entry.read(chunks={}, x=1)
    assert entry.read(level=0)["tas"].shape == (4, 3)
