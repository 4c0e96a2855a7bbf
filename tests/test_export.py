"""``export_catalog`` / ``cat.export`` / ``voxcat export``: copy, link and zarr modes,
stock-reader catalogue, exported index, BagIt and RO-Crate, resume, refusals,
ancestors, audit, and a folder opened in a virtual environment without voxcat."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import intake
import mrcfile
import numpy as np
import pandas as pd
import pytest
import tifffile
import xarray as xr

from catalog import open_catalog, scan, verify
from catalog.cli import main
from catalog.errors import ExportError, RestrictedDataError
from catalog.export import export_catalog, files
from catalog.index import cache_dir, readcache, transaction
from catalog.index.audit import list_audit

from .validators import assert_bag_valid, assert_ome_zarr, assert_ro_crate, ome_zarr_stores


@pytest.fixture(scope="module")
def drive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small lab drive of every kind the exporter handles, scanned once."""
    rng = np.random.default_rng(20261123)
    root = tmp_path_factory.mktemp("export")
    d = root / "drive"
    (d / "rec").mkdir(parents=True)
    for z in range(5):
        tifffile.imwrite(d / "rec" / f"rec_{z:03d}.tif", rng.integers(0, 255, (24, 20), np.uint8))
    tifffile.imwrite(
        d / "vol.tif",
        rng.integers(0, 4000, (6, 32, 24), np.uint16),
        photometric="minisblack",
        resolution=(2e4, 2e4),
        resolutionunit="CENTIMETER",
    )
    tifffile.imwrite(
        d / "big.tif", rng.integers(0, 255, (3, 600, 520), np.uint8), photometric="minisblack"
    )
    with h5py.File(d / "tomo.h5", "w") as f:
        f["exchange/data"] = rng.integers(0, 1000, (5, 16, 18), np.uint16)
    with mrcfile.new(d / "em.mrc") as m:
        m.set_data(rng.random((4, 16, 16)).astype(np.float32))
    image = rng.integers(0, 9, (4, 8, 10), np.uint8)
    xr.Dataset({"image": (("z", "y", "x"), image)}).to_zarr(d / "plain.zarr", zarr_format=2)
    index = root / "lab.duckdb"
    scan(d, index, jobs=1, progress=False)
    readcache.close_all()
    return d, index


@pytest.fixture
def index(drive: tuple[Path, Path], tmp_path: Path) -> Path:
    """A private copy of the scanned index (and its thumbnails) for one test."""
    src = drive[1]
    readcache.close_all()
    dst = tmp_path / "lab.duckdb"
    shutil.copyfile(src, dst)
    shutil.copytree(cache_dir(src), cache_dir(dst))
    return dst


def _ids(index: Path) -> dict[str, str]:
    return {row["name"]: i for i, row in open_catalog(index).df.iterrows()}


def _primary(obj: xr.DataArray | xr.Dataset) -> xr.DataArray:
    if isinstance(obj, xr.DataArray):
        return obj
    name = obj.attrs.get("primary") or next(iter(obj.data_vars))
    return obj[name]


def _check_manifests(dest: Path) -> None:
    assert (dest / "bagit.txt").read_text().startswith("BagIt-Version: 1.0\n")
    listed = {}
    for line in (dest / "manifest-sha256.txt").read_text().splitlines():
        sha, rel = line.split("  ", 1)
        listed[rel] = sha
        assert hashlib.sha256((dest / rel).read_bytes()).hexdigest() == sha, rel
    present = {p.relative_to(dest).as_posix() for p in (dest / "data").rglob("*") if p.is_file()}
    assert present == set(listed)
    tags = dict(
        reversed(line.split("  ", 1))
        for line in (dest / "tagmanifest-sha256.txt").read_text().splitlines()
    )
    assert {"catalog.yaml", "datasets.parquet", "manifest-sha256.txt"} <= set(tags)
    assert "voxcat.duckdb" not in tags  # the working index: verify and tags write to it
    for rel, sha in tags.items():
        assert hashlib.sha256((dest / rel).read_bytes()).hexdigest() == sha, rel
    oxum = next(
        line for line in (dest / "bag-info.txt").read_text().splitlines() if "Oxum" in line
    )
    total = sum((dest / rel).stat().st_size for rel in listed)
    assert oxum == f"Payload-Oxum: {total}.{len(listed)}"
    assert_bag_valid(dest)
    assert_ro_crate(dest)
    for store in ome_zarr_stores(dest / "data"):
        assert_ome_zarr(store)


def _assert_entries_equal(dest: Path, index: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.chdir(dest.parent)  # {CATALOG_DIR} must not depend on the working folder
    cat = open_catalog(index)
    exported = intake.from_yaml_file(str(dest / "catalog.yaml"))
    assert sorted(exported) == sorted(cat)
    for ident in exported:
        entry = exported[ident]
        assert entry.metadata["id"] == ident and "tags" in entry.metadata
        got, want = entry.read(), _primary(cat[ident].read())
        if isinstance(got, xr.Dataset):  # h5netcdf names it by its group, Zarr flattens it
            name = str(want.name)
            got = got[
                name.rpartition("/")[2]
                if name.rpartition("/")[2] in got
                else name.replace("/", "_")
            ]
        assert got.shape == want.shape and got.dtype == want.dtype, ident
        assert got.chunks is not None, f"{ident} is not lazy"
        np.testing.assert_array_equal(got.values, want.values)
    return exported.metadata


def test_copy_mode_writes_stock_entries_equal_to_the_originals(index, monkeypatch) -> None:
    dest = index.parent / "out"
    report = open_catalog(index).export(dest, progress=False, license="CC-BY-4.0")
    ids = _ids(index)
    how = {name: report.datasets[i]["how"] for name, i in ids.items()}
    assert how["vol.tif"] == how["big.tif"] == "reference (tifffile) to the TIFF"
    assert how["em.mrc"] == "converted to zarr"
    assert "mrc" in report.datasets[ids["em.mrc"]]["note"]
    assert how["tomo.h5"].startswith("h5netcdf") and how["plain.zarr"] == "zarr (xarray)"
    assert any(h == "reference (tifffile) to the TIFF slices" for h in how.values())
    meta = _assert_entries_equal(dest, index, monkeypatch)
    assert meta["license"] == "CC-BY-4.0" and meta["mode"] == "copy"
    src = index.parent.parent / "drive" / "vol.tif"
    copy = dest / "data" / ids["vol.tif"] / "vol.tif"
    assert (
        copy.read_bytes() == Path(open_catalog(index).df.loc[ids["vol.tif"], "path"]).read_bytes()
    )
    assert (
        os.stat(copy).st_mtime_ns
        == os.stat(open_catalog(index).df.loc[ids["vol.tif"], "path"]).st_mtime_ns
    )
    assert not copy.is_symlink() and src != copy
    assert (dest / "thumbnails" / f"{ids['vol.tif']}.png").read_bytes()[:4] == b"\x89PNG"
    _check_manifests(dest)
    assert report.bytes > 0 and report.files >= 9 and "Exported 6 datasets" in str(report)


def test_link_mode_links_and_reads(index, monkeypatch) -> None:
    dest = index.parent / "linked"
    report = export_catalog(open_catalog(index), dest, mode="link", progress=False)
    ids = _ids(index)
    src = Path(open_catalog(index).df.loc[ids["vol.tif"], "path"])
    link = dest / "data" / ids["vol.tif"] / "vol.tif"
    assert os.stat(link).st_ino == os.stat(src).st_ino  # same file system: a hard link
    assert report.mode == "link"
    _assert_entries_equal(dest, index, monkeypatch)
    _check_manifests(dest)


def test_zarr_mode_writes_multiscale_zarr_that_xarray_and_voxcat_open(index, monkeypatch) -> None:
    dest = index.parent / "zarr"
    ids = _ids(index)
    report = export_catalog(open_catalog(index), dest, mode="zarr", progress=False)
    assert set(report.counts) == {
        "zarr (OME-Zarr 0.4 + xarray levels)",
        "zarr (group of its arrays)",
    }
    _assert_entries_equal(dest, index, monkeypatch)
    store = dest / report.datasets[ids["big.tif"]]["path"]
    attrs = json.loads((store / ".zattrs").read_text())
    ms = attrs["multiscales"][0]
    assert ms["version"] == "0.4" and [d["path"] for d in ms["datasets"]] == [
        "0/image",
        "1/image",
        "2/image",
    ]
    assert [a["name"] for a in ms["axes"]] == ["z", "y", "x"]
    level1 = xr.open_zarr(store, group="1", consolidated=False)["image"]
    assert level1.shape == (3, 300, 260) and level1.encoding["chunks"] == (3, 300, 260)
    # chunked by bytes: an image under 16 MB is one chunk
    assert json.loads((store / "0" / "image" / ".zarray").read_text())["chunks"] == [3, 600, 520]
    sub = open_catalog(dest / "voxcat.duckdb")
    assert sorted(sub) == sorted(ids.values())
    assert sub[ids["big.tif"]].read(level=2).shape == (3, 150, 130)
    np.testing.assert_array_equal(
        sub[ids["vol.tif"]].read().values, open_catalog(index)[ids["vol.tif"]].read().values
    )
    _check_manifests(dest)  # before verify, which appends to the exported index's audit log
    assert verify(dest / "voxcat.duckdb", progress=False).ok


def test_exported_index_parquet_and_ro_crate(index) -> None:
    ids = _ids(index)
    with transaction(index) as con:
        con.execute(
            "INSERT INTO lineage (child, parent, step, params, user_name, time) "
            "VALUES (?, ?, 'crop', '{\"z\": [0, 3]}', 'ana', now())",
            [ids["em.mrc"], ids["vol.tif"]],
        )
    dest = index.parent / "out"
    sub = open_catalog(index).search(format=["tiff", "mrc"])
    report = export_catalog(sub, dest, progress=False)
    assert report.license == "not specified"
    exported = open_catalog(dest / "voxcat.duckdb")
    assert sorted(exported) == sorted(sub)
    for ident in exported:
        assert Path(exported.df.loc[ident, "path"]).is_relative_to(dest)
        assert exported[ident].read().shape == open_catalog(index)[ident].read().shape
    assert verify(dest / "voxcat.duckdb", progress=False).ok
    table = pd.read_parquet(dest / "datasets.parquet")
    assert sorted(table["id"]) == sorted(sub) and all((dest / p).exists() for p in table["path"])
    assert {"modality", "voxel_size", "source_path", "export_how"} <= set(table.columns)
    crate = json.loads((dest / "ro-crate-metadata.json").read_text())
    assert crate["@context"] == "https://w3id.org/ro/crate/1.1/context"
    graph = {e["@id"]: e for e in crate["@graph"]}
    assert graph["ro-crate-metadata.json"]["about"] == {"@id": "./"}
    root = graph["./"]
    assert root["@type"] == "Dataset" and graph[root["license"]["@id"]]["name"] == "not specified"
    shas = dict(
        reversed(line.split("  ", 1))
        for line in (dest / "manifest-sha256.txt").read_text().splitlines()
    )
    tif = f"data/{ids['vol.tif']}/vol.tif"
    assert graph[tif]["@type"] == "File" and graph[tif]["sha256"] == shas[tif]
    assert graph[tif]["encodingFormat"] == "image/tiff" and int(graph[tif]["contentSize"]) > 0
    assert {"@id": f"data/{ids['vol.tif']}/"} in root["hasPart"]
    action = next(e for e in crate["@graph"] if e["@type"] == "CreateAction")
    assert action["result"] == {"@id": f"data/{ids['em.mrc']}/"}  # one value, not a list
    assert {"@id": f"data/{ids['vol.tif']}/"} in action["object"]
    assert graph[action["instrument"]["@id"]]["name"] == "crop"
    assert graph[action["agent"]["@id"]]["name"] == "ana"
    lineage = json.loads((dest / "lineage.json").read_text())
    assert lineage["links"][0]["params"] == {"z": [0, 3]}


def test_an_interrupted_export_resumes(index, monkeypatch) -> None:
    dest = index.parent / "out"
    real = files.copy_file
    calls = []

    def flaky(src, dst, progress=None):
        calls.append(src)
        if len(calls) > 4:  # Ctrl-C in the middle of the fifth file
            Path(dst).write_bytes(b"half a file")
            raise KeyboardInterrupt
        return real(src, dst, progress)

    monkeypatch.setattr(files, "copy_file", flaky)
    with pytest.raises(KeyboardInterrupt):
        export_catalog(open_catalog(index), dest, progress=False)
    assert not (dest / "catalog.yaml").exists()
    leftovers = [p for p in (dest / "data").rglob("*") if p.name.endswith(files.TMP)]
    assert leftovers  # the file being written stayed under its temporary name
    monkeypatch.setattr(files, "copy_file", real)
    report = export_catalog(open_catalog(index), dest, progress=False)
    assert report.resumed_files == 4
    _assert_entries_equal(dest, index, monkeypatch)
    _check_manifests(dest)
    with pytest.raises(ExportError, match="other datasets"):
        export_catalog(open_catalog(index).search(format="tiff"), dest, progress=False)


def test_deep_verify_reads_every_copy_back(index, monkeypatch) -> None:
    dest = index.parent / "deep"
    report = export_catalog(
        open_catalog(index).search(format="tiff"), dest, progress=False, deep_verify=True
    )
    lines = (dest / files.STATE_DIR / "done.jsonl").read_text().splitlines()
    copies = [json.loads(line) for line in lines if '"how": "copy"' in line]
    assert len(copies) == report.files and {c["verified"] for c in copies} == {"reread"}
    _check_manifests(dest)


def test_refusals_restricted_missing_changed_and_not_empty(index, tmp_path) -> None:
    cat = open_catalog(index)
    ids = _ids(index)
    cat.set(ids["vol.tif"], access="restricted")
    with pytest.raises(RestrictedDataError, match=ids["vol.tif"]) as err:
        export_catalog(cat, tmp_path / "a", progress=False)
    assert isinstance(err.value, PermissionError) and "allow_restricted" in str(err.value)
    report = export_catalog(
        cat.search(format="tiff"), tmp_path / "b", allow_restricted=True, progress=False
    )
    assert ids["vol.tif"] in report.datasets
    assert_bag_valid(tmp_path / "b")
    with transaction(index) as con:
        con.execute("UPDATE datasets SET status = 'missing' WHERE id = ?", [ids["em.mrc"]])
    with pytest.raises(ExportError, match=rf"{ids['em.mrc']} \(em.mrc\) .*: missing"):
        export_catalog(cat.search(format="mrc"), tmp_path / "c", progress=False)
    assert not (tmp_path / "c").exists()  # refused before anything was written
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="not empty"):
        export_catalog(cat.search(format="zarr"), tmp_path / "d", progress=False)
    with pytest.raises(ExportError, match="mode"):
        export_catalog(cat, tmp_path / "e", mode="move")
    with pytest.raises(ExportError, match="empty"):
        export_catalog(cat.search(format="nothing-like-this"), tmp_path / "f", progress=False)


def test_a_file_changed_since_the_scan_is_refused(tmp_path, rng) -> None:
    (tmp_path / "d").mkdir()
    data = rng.integers(0, 255, (2, 8, 8), np.uint8)
    tifffile.imwrite(tmp_path / "d" / "a.tif", data, photometric="minisblack")
    scan(tmp_path / "d", tmp_path / "i.duckdb", jobs=1, progress=False, thumbnails=False)
    tifffile.imwrite(tmp_path / "d" / "a.tif", data[::-1], photometric="minisblack")
    with pytest.raises(ExportError, match="does not match the index"):
        export_catalog(open_catalog(tmp_path / "i.duckdb"), tmp_path / "out", progress=False)


def test_include_ancestors_exports_the_lineage_recursively(index) -> None:
    ids = _ids(index)
    child, parent, grand = ids["em.mrc"], ids["vol.tif"], ids["big.tif"]
    with transaction(index) as con:
        con.executemany(
            "INSERT INTO lineage (child, parent, step, params, user_name, time) "
            "VALUES (?, ?, ?, '{}', 'ana', now())",
            [(child, parent, "denoise"), (parent, grand, "reconstruct")],
        )
    cat = open_catalog(index)
    only = export_catalog(cat.search(format="mrc"), index.parent / "only", progress=False)
    assert list(only.datasets) == [child] and only.ancestors == []
    links = json.loads((index.parent / "only" / "lineage.json").read_text())["links"]
    assert [(x["parent"], x["parent_exported"]) for x in links] == [(parent, False)]
    assert_bag_valid(index.parent / "only")
    assert_ro_crate(index.parent / "only")
    full = cat.search(format="mrc").export(
        index.parent / "full", include_ancestors=True, progress=False
    )
    assert set(full.datasets) == {child, parent, grand} and sorted(full.ancestors) == sorted(
        [parent, grand]
    )
    links = json.loads((index.parent / "full" / "lineage.json").read_text())["links"]
    assert {(x["child"], x["parent"], x["step"]) for x in links} == {
        (child, parent, "denoise"),
        (parent, grand, "reconstruct"),
    }
    assert all(x["parent_exported"] for x in links)
    assert_bag_valid(index.parent / "full")
    assert_ro_crate(index.parent / "full")


def test_exports_are_recorded_in_the_audit_log(index) -> None:
    dest = index.parent / "out"
    sub = open_catalog(index).search(format="tiff")
    export_catalog(sub, dest, mode="link", progress=False)
    rows = list_audit(index, action="export", limit=None)
    per = {r["dataset"]: r["detail"] for r in rows if r["dataset"]}
    assert set(per) == set(sub)
    assert all(d["dest"] == str(dest) and d["mode"] == "link" for d in per.values())
    summary = [r for r in rows if r["dataset"] is None]
    assert len(summary) == 1 and summary[0]["detail"]["datasets"] == len(sub)
    assert_bag_valid(dest)


def test_cli_export_selects_like_search(index, capsys) -> None:
    dest = index.parent / "cli"
    code = main(
        ["export", "--index", str(index), "--format", "tiff", str(dest), "--mode", "zarr", "-q"]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "Exported 2 datasets" in out and "mode zarr" in out
    assert sorted(intake.from_yaml_file(str(dest / "catalog.yaml"))) == sorted(
        open_catalog(index).search(format="tiff")
    )
    assert "--format tiff" in (dest / "README.md").read_text()
    assert_bag_valid(dest)
    for store in ome_zarr_stores(dest / "data"):
        assert_ome_zarr(store)
    with pytest.raises(SystemExit):
        main(["export", "--index", str(index), str(index.parent / "x"), "--mode", "rsync"])
    assert main(["export", "--index", str(index), "--format", "tiff", str(dest)]) == 1
    assert "holds an export of other datasets or another mode" in capsys.readouterr().err
    deep = index.parent / "cli-deep"
    args = ["export", "--index", str(index), "--format", "tiff", str(deep), "--deep-verify"]
    assert main([*args, "-q", "--json"]) == 0
    done = (deep / ".voxcat-export" / "done.jsonl").read_text().splitlines()
    assert done and all(json.loads(line)["verified"] == "reread" for line in done)
    assert_bag_valid(deep)


# -- the folder opens in an environment without voxcat ------------------------------------

PLAIN = (
    "intake",
    "xarray",
    "dask",
    "zarr",
    "numcodecs",
    "fsspec",
    "numpy",
    "pandas",
    "h5py",
    "h5netcdf",
)
READ_ALL = """
import hashlib, importlib.util, json, sys
import numpy as np, intake, xarray as xr
assert importlib.util.find_spec("catalog") is None, "voxcat is importable here"
cat = intake.from_yaml_file(sys.argv[1])
assert sorted(intake.open_catalog(sys.argv[1])) == sorted(cat)
out = {}
for name in cat:
    obj = cat[name].read()
    arrays = obj.data_vars.items() if isinstance(obj, xr.Dataset) else [(obj.name, obj)]
    out[name] = {
        str(k): [list(v.shape), str(v.dtype), hashlib.sha256(np.ascontiguousarray(v.values).tobytes()).hexdigest()]
        for k, v in arrays
    }
json.dump(out, open(sys.argv[2], "w"))
"""


def _plain_venv() -> Path:
    """A cached virtual environment with only the stock readers' packages."""
    pins = [f"{p}=={importlib.metadata.version(p)}" for p in PLAIN]
    key = hashlib.sha256(" ".join([sys.version, *pins]).encode()).hexdigest()[:12]
    venv = Path(tempfile.gettempdir()) / "voxcat-plain-venv" / key
    python = venv / "bin" / "python"
    if not (venv / "ready").exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *pins],
            check=True,
            timeout=900,
        )
        (venv / "ready").write_text("\n".join(pins))
    return python


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["copy", "zarr"])
def test_the_export_opens_in_a_venv_without_voxcat(drive, index, mode, tmp_path) -> None:
    python = _plain_venv()
    export_catalog(open_catalog(index), tmp_path / "out", mode=mode, progress=False)
    cat = open_catalog(index)
    want = {ident: _primary(cat[ident].read()).compute() for ident in cat}
    dest = tmp_path / "elsewhere" / f"out-{mode}"  # moved: read from its new place only
    dest.parent.mkdir()
    shutil.move(tmp_path / "out", dest)
    drive = drive[0]
    drive.rename(drive.with_name("drive-unplugged"))
    result = tmp_path / "read.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    try:
        subprocess.run(
            [str(python), "-c", READ_ALL, str(dest / "catalog.yaml"), str(result)],
            check=True,
            cwd=tmp_path,
            env=env,
            timeout=300,
        )
    finally:
        drive.with_name("drive-unplugged").rename(drive)
    got = json.loads(result.read_text())
    assert sorted(got) == sorted(cat)
    for ident, arrays in got.items():
        values = want[ident].values
        digest = hashlib.sha256(np.ascontiguousarray(values).tobytes()).hexdigest()
        assert [list(values.shape), str(values.dtype), digest] in arrays.values(), ident
