"""Exports of real-looking files keep what they hold and stay usable: DXchange HDF5 in
a few chunks, NetCDF with CF character arrays, names and dimensions alike in every
mode, pyramids and exact voxel sizes, a folder that reads after it is moved, verify
that keeps the bag valid, and unreadable datasets refused before writing or skipped."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import intake
import netCDF4
import numpy as np
import pytest
import tifffile
import xarray as xr

from catalog import open_catalog, scan, verify
from catalog.cli import main
from catalog.errors import ExportError
from catalog.export import convert as conv
from catalog.export import export_catalog
from catalog.index import cache_dir, readcache
from catalog.index.audit import list_audit

from .validators import assert_bag_valid, assert_ome_zarr, assert_ro_crate, ome_zarr_stores

STATIONS = ["alpha", "beta", "gämma"]


def _dxchange(path: Path, rng: np.random.Generator) -> None:
    with h5py.File(path, "w") as f:
        f["exchange/data"] = rng.integers(0, 4000, (90, 40, 48), np.uint16)
        f["exchange/data_dark"] = rng.integers(0, 100, (4, 40, 48), np.uint16)
        f["exchange/data_white"] = rng.integers(3000, 4000, (6, 40, 48), np.uint16)
        f["exchange/theta"] = np.linspace(0.0, 180.0, 90)


def _netcdf(path: Path, rng: np.random.Generator) -> None:
    with netCDF4.Dataset(path, "w") as f:
        f.createDimension("station", 3)
        f.createDimension("strlen", 16)
        f.createDimension("time", 5)
        f.createDimension("lat", 12)
        f.createDimension("lon", 10)
        t = f.createVariable("time", "f8", ("time",))
        t.units = "seconds since 2020-01-01 00:00:00"
        t[:] = np.arange(5) * 30.0
        name = f.createVariable("station_name", "S1", ("station", "strlen"))
        name._Encoding = "utf-8"
        name[:] = np.array(STATIONS, dtype="U16")  # _Encoding: netCDF4 writes the chars
        code = f.createVariable("station_code", "S1", ("station", "strlen"))  # no _Encoding
        code[:] = netCDF4.stringtochar(np.array([b"A1", b"B22", b"C333"], "S16"))
        label = f.createVariable("label", str, ("station",))
        label[:] = np.array(["first", "second", "third"], dtype=object)
        temp = f.createVariable("temperature", "f4", ("time", "lat", "lon"))
        temp.units = "K"
        temp[:] = rng.random((5, 12, 10)).astype("f4") + 270


def _pyramid(path: Path, rng: np.random.Generator) -> np.ndarray:
    data = rng.integers(0, 255, (4, 160, 144), np.uint8)
    meta = {
        "axes": "ZYX",
        "PhysicalSizeX": 3.4,
        "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": 3.4,
        "PhysicalSizeYUnit": "µm",
        "PhysicalSizeZ": 0.7,
        "PhysicalSizeZUnit": "µm",
    }
    with tifffile.TiffWriter(path, ome=True) as tif:
        tif.write(data, subifds=3, metadata=meta, photometric="minisblack")
        for k in (2, 4, 8):
            tif.write(data[:, ::k, ::k], subfiletype=1, photometric="minisblack")
    return data


@pytest.fixture(scope="module")
def drive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    rng = np.random.default_rng(20261124)
    root = tmp_path_factory.mktemp("fidelity")
    d = root / "drive"
    d.mkdir()
    _dxchange(d / "tomo.h5", rng)
    _netcdf(d / "obs.nc", rng)
    _pyramid(d / "pyr.ome.tif", rng)
    tifffile.imwrite(d / "vol.tif", rng.integers(0, 4000, (6, 32, 24), np.uint16))
    index = root / "lab.duckdb"
    scan(d, index, jobs=1, progress=False)
    readcache.close_all()
    return d, index


@pytest.fixture
def lab(drive: tuple[Path, Path], tmp_path: Path) -> dict:
    """A private copy of the drive and its index (tests move and damage them)."""
    readcache.close_all()
    d = tmp_path / "drive"
    shutil.copytree(drive[0], d)
    index = tmp_path / "lab.duckdb"
    shutil.copyfile(drive[1], index)
    shutil.copytree(cache_dir(drive[1]), cache_dir(index))
    with __import__("duckdb").connect(str(index)) as con:  # the copy's paths
        for table in ("datasets", "files"):
            con.execute(f"UPDATE {table} SET path = replace(path, ?, ?)", [str(drive[0]), str(d)])
    cat = open_catalog(index)
    return {"drive": d, "index": index, "ids": {cat[i].metadata["name"]: i for i in cat}}


def _names(obj: xr.DataArray | xr.Dataset) -> dict:
    """Variable -> dims, and coordinate -> dims, of what a read gives (a single image is
    one array: its ``name`` is the file or store key it came from, not a variable)."""
    if isinstance(obj, xr.DataArray):
        obj = obj.to_dataset(name="image")
    return {
        "vars": {str(k): tuple(map(str, v.dims)) for k, v in obj.data_vars.items()},
        "coords": {str(k): tuple(map(str, v.dims)) for k, v in obj.coords.items()},
    }


def _values(obj: xr.DataArray | xr.Dataset) -> dict:
    if isinstance(obj, xr.DataArray):
        obj = obj.to_dataset(name="image")
    out = {}
    for k, v in obj.data_vars.items():
        a = np.asarray(v.values)
        if a.dtype.kind in "OSU":
            a = np.array([x.decode() if isinstance(x, bytes) else str(x) for x in a.ravel()])
        out[str(k)] = a
    return out


def _payload_files(dest: Path, ident: str) -> list[Path]:
    return [p for p in (dest / "data" / ident).rglob("*") if p.is_file()]


def test_a_dxchange_file_converts_to_a_few_chunks_that_read_back_equal(lab) -> None:
    ident = lab["ids"]["tomo.h5"]
    dest = lab["index"].parent / "zarr"
    export_catalog(open_catalog(lab["index"]).search(format="hdf5"), dest, mode="zarr")
    files = _payload_files(dest, ident)
    assert len(files) < 50, f"{len(files)} files for a 0.4 MB file"  # was one per angle
    source = open_catalog(lab["index"])[ident].read()
    exported = open_catalog(dest / "voxcat.duckdb")[ident].read()
    assert _names(exported) == _names(source)
    for name, values in _values(source).items():
        np.testing.assert_array_equal(_values(exported)[name], values)
    stock = intake.from_yaml_file(str(dest / "catalog.yaml"))[ident].read()
    with h5py.File(lab["drive"] / "tomo.h5") as f:
        for name in ("data", "data_dark", "data_white", "theta"):
            np.testing.assert_array_equal(stock[name].values, f["exchange"][name][()])
    assert_bag_valid(dest)


def test_netcdf_with_character_arrays_converts_and_reads_back(lab) -> None:
    ident = lab["ids"]["obs.nc"]
    dest = lab["index"].parent / "zarr"
    report = export_catalog(open_catalog(lab["index"]).search(format="netcdf"), dest, mode="zarr")
    assert report.datasets[ident]["how"] == "zarr (group of its arrays)"
    stock = intake.from_yaml_file(str(dest / "catalog.yaml"))[ident].read()
    assert [str(s) for s in _values(stock)["station_name"]] == STATIONS
    assert list(_values(stock)["label"]) == ["first", "second", "third"]
    assert list(_values(stock)["station_code"]) == ["A1", "B22", "C333"]
    # the time coordinate keeps how the file stores it: seconds since the file's epoch
    assert stock["time"].encoding["units"].startswith("seconds since 2020-01-01")
    store = dest / report.datasets[ident]["path"]
    raw = xr.open_zarr(store, consolidated=False, decode_times=False)["time"]
    assert raw.values.tolist() == [0.0, 30.0, 60.0, 90.0, 120.0]
    assert stock["temperature"].attrs["units"] == "K"
    source = open_catalog(lab["index"])[ident].read()
    exported = open_catalog(dest / "voxcat.duckdb")[ident].read()
    assert _names(exported) == _names(source)
    for name, values in _values(source).items():
        np.testing.assert_array_equal(_values(exported)[name], values)
    assert_bag_valid(dest)


@pytest.mark.parametrize("name", ["obs.nc", "tomo.h5", "pyr.ome.tif"])
def test_names_and_dimensions_are_the_same_in_every_mode(lab, name) -> None:
    ident = lab["ids"][name]
    source = open_catalog(lab["index"])[ident].read()
    stock, indexed = {}, {}
    for mode in ("copy", "link", "zarr"):
        dest = lab["index"].parent / mode
        export_catalog(lab["index"], dest, [ident], mode=mode)
        assert_bag_valid(dest)
        stock[mode] = intake.from_yaml_file(str(dest / "catalog.yaml"))[ident].read()
        indexed[mode] = open_catalog(dest / "voxcat.duckdb")[ident].read()
        assert _names(indexed[mode]) == _names(source), mode
    assert _names(stock["copy"]) == _names(stock["link"]) == _names(stock["zarr"])
    for mode in ("link", "zarr"):
        for var, values in _values(stock["copy"]).items():
            np.testing.assert_array_equal(_values(stock[mode])[var], values, err_msg=mode)


def test_pyramid_levels_and_voxel_sizes_are_kept_exactly(lab) -> None:
    ident = lab["ids"]["pyr.ome.tif"]
    source = open_catalog(lab["index"])[ident]
    assert source.metadata["levels"] == 4
    dest = lab["index"].parent / "zarr"
    report = export_catalog(lab["index"], dest, [ident], mode="zarr")
    store = dest / report.datasets[ident]["path"]
    assert_ome_zarr(store)
    ms = json.loads((store / ".zattrs").read_text())["multiscales"][0]
    scales = [d["coordinateTransformations"][0]["scale"] for d in ms["datasets"]]
    assert scales == [[0.7, 3.4, 3.4], [0.7, 6.8, 6.8], [0.7, 13.6, 13.6], [0.7, 27.2, 27.2]]
    assert [a.get("unit") for a in ms["axes"]] == ["micrometer"] * 3
    exported = open_catalog(dest / "voxcat.duckdb")[ident]
    assert exported.metadata["level_shapes"] == source.metadata["level_shapes"]
    assert exported.metadata["voxel_size"] == 3.4e-06
    for k in range(4):
        np.testing.assert_array_equal(
            exported.read(level=k).values, source.read(level=k).values, err_msg=f"level {k}"
        )
        np.testing.assert_allclose(
            exported.read(level=k)["x"].values, source.read(level=k)["x"].values, rtol=1e-12
        )
    assert_bag_valid(dest)


READ_MOVED = """
import hashlib, json, sys
sys.modules["catalog"] = None  # voxcat is not importable here
import numpy as np, intake, xarray as xr
try:
    import catalog
except ImportError:
    pass
else:
    raise SystemExit("voxcat is importable")
cat = intake.from_yaml_file(sys.argv[1])
out = {}
for name in cat:
    obj = cat[name].read()
    arrays = obj.data_vars.items() if isinstance(obj, xr.Dataset) else [(obj.name, obj)]
    out[name] = sorted(
        hashlib.sha256(np.ascontiguousarray(v.values).tobytes()).hexdigest() for _, v in arrays
    )
json.dump(out, open(sys.argv[2], "w"))
"""


def _digests(obj: xr.DataArray | xr.Dataset) -> list[str]:
    arrays = obj.data_vars.values() if isinstance(obj, xr.Dataset) else [obj]
    return sorted(
        hashlib.sha256(np.ascontiguousarray(v.values).tobytes()).hexdigest() for v in arrays
    )


@pytest.mark.parametrize(
    "mode",
    [
        "copy",
        pytest.param("link", marks=pytest.mark.slow),
        pytest.param("zarr", marks=pytest.mark.slow),
    ],
)
def test_a_moved_export_reads_from_its_new_place_only(lab, mode, tmp_path) -> None:
    cat = open_catalog(lab["index"])
    sub = cat.search(format=["tiff", "hdf5"])
    dest = tmp_path / "export"
    export_catalog(sub, dest, mode=mode)
    want = {i: open_catalog(dest / "voxcat.duckdb")[i].read() for i in sub}
    want = {i: (_digests(v), _values(v)) for i, v in want.items()}
    stock = intake.from_yaml_file(str(dest / "catalog.yaml"))
    stock_want = {i: _digests(stock[i].read()) for i in stock}
    moved = tmp_path / "elsewhere" / "export"
    moved.parent.mkdir()
    shutil.move(dest, moved)
    lab["drive"].rename(tmp_path / "drive-unplugged")  # nothing may read the originals
    readcache.close_all()
    assert not dest.exists()
    result = tmp_path / "read.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    subprocess.run(
        [sys.executable, "-c", READ_MOVED, str(moved / "catalog.yaml"), str(result)],
        check=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert json.loads(result.read_text()) == stock_want
    exported = open_catalog(moved / "voxcat.duckdb")
    assert sorted(exported) == sorted(want)
    for ident in exported:
        assert Path(exported[ident].metadata["path"]).is_relative_to(moved)
        assert Path(exported.df.loc[ident, "path"]).is_relative_to(moved)
        got = exported[ident].read()
        assert _digests(got) == want[ident][0], ident
    report = verify(moved / "voxcat.duckdb", progress=False)
    assert report.ok and report.counts["unchanged"] == len(want)
    assert_bag_valid(moved)  # verifying recorded its result without breaking the fixity


def test_verify_and_annotations_on_an_export_keep_its_bag_valid(lab, capsys) -> None:
    dest = lab["index"].parent / "out"
    export_catalog(open_catalog(lab["index"]), dest, mode="copy", license="CC-BY-4.0")
    listed = {
        line.split("  ", 1)[1]: line.split("  ", 1)[0]
        for name in ("manifest-sha256.txt", "tagmanifest-sha256.txt")
        for line in (dest / name).read_text().splitlines()
    }
    before = {rel: (dest / rel).stat().st_mtime_ns for rel in listed}
    index = dest / "voxcat.duckdb"
    assert main(["verify", "--index", str(index)]) == 0
    assert "unchanged: 4" in capsys.readouterr().out
    assert verify(index, progress=False).ok
    exported = open_catalog(index)
    exported.tag(next(iter(exported)), "checked")
    assert {rel: (dest / rel).stat().st_mtime_ns for rel in listed} == before
    assert_bag_valid(dest)
    assert len(list_audit(index, action="verify.run", limit=None)) == 2
    readme = (dest / "README.md").read_text()
    assert "no manifest lists it" in readme


def _damage(lab: dict) -> dict[str, str]:
    """A truncated NetCDF and a deleted TIFF, after the scan."""
    nc = lab["drive"] / "obs.nc"
    nc.write_bytes(nc.read_bytes()[:600])
    (lab["drive"] / "vol.tif").unlink()
    return {lab["ids"]["obs.nc"]: "obs.nc", lab["ids"]["vol.tif"]: "vol.tif"}


def test_unreadable_datasets_are_refused_before_anything_is_written(lab) -> None:
    bad = _damage(lab)
    dest = lab["index"].parent / "out"
    with pytest.raises(ExportError) as err:
        export_catalog(open_catalog(lab["index"]), dest, mode="zarr")
    text = str(err.value)
    for ident, name in bad.items():
        assert f"{ident} ({name})" in text
    assert "no such file" in text and "reader cannot open it" in text
    assert "skip_unreadable" in text and "nothing was written" in text
    assert not dest.exists()


def test_unreadable_datasets_are_skipped_and_listed_when_asked(lab, capsys) -> None:
    bad = _damage(lab)
    dest = lab["index"].parent / "out"
    report = export_catalog(
        open_catalog(lab["index"]), dest, mode="copy", skip_unreadable=True, progress=False
    )
    assert set(report.skipped) == set(bad) and set(report.datasets).isdisjoint(bad)
    assert len(report.datasets) == 2 and "Skipped 2 datasets" in str(report)
    readme = (dest / "README.md").read_text()
    assert "## Left out: datasets that cannot be read" in readme
    for ident, name in bad.items():
        assert f"| `{ident}` | {name} |" in readme
    assert sorted(intake.from_yaml_file(str(dest / "catalog.yaml"))) == sorted(report.datasets)
    skipped = list_audit(lab["index"], action="export.skipped", limit=None)
    assert {r["dataset"] for r in skipped} == set(bad)
    assert_bag_valid(dest)
    assert_ro_crate(dest)
    cli = lab["index"].parent / "cli"
    args = ["export", "--index", str(lab["index"]), str(cli), "-q", "--json"]
    assert main(args) == 1 and "cannot be read" in capsys.readouterr().err
    assert not cli.exists()
    assert main([*args, "--skip-unreadable"]) == 0
    assert set(json.loads(capsys.readouterr().out)["skipped"]) == set(bad)


def test_a_failed_conversion_leaves_no_folder_behind(lab, monkeypatch) -> None:
    real = conv.convert

    def broken(data, dest, **kwargs):
        real(data, dest, **kwargs)
        raise ValueError("operands could not be broadcast together with shapes (3,256) (3,)")

    monkeypatch.setattr(conv, "convert", broken)
    dest = lab["index"].parent / "out"
    with pytest.raises(ValueError, match="broadcast"):
        export_catalog(open_catalog(lab["index"]), dest, mode="zarr")
    assert not dest.exists()
    existing = lab["index"].parent / "empty"
    existing.mkdir()
    with pytest.raises(ValueError, match="broadcast"):
        export_catalog(open_catalog(lab["index"]), existing, mode="zarr")
    assert existing.is_dir() and not any(existing.iterdir())  # emptied, not removed


def test_ome_zarr_written_by_every_export_mode_validates(lab) -> None:
    for mode in ("copy", "zarr"):
        dest = lab["index"].parent / mode
        export_catalog(open_catalog(lab["index"]), dest, mode=mode, organization="Rock Lab")
        for store in ome_zarr_stores(dest / "data"):
            assert_ome_zarr(store)
        assert_bag_valid(dest)
        graph = assert_ro_crate(dest)
        assert graph[graph["./"]["publisher"]["@id"]]["name"] == "Rock Lab"
        author = graph[graph["./"]["author"]["@id"]]
        assert graph[author["affiliation"]["@id"]]["name"] == "Rock Lab"
        vol = graph[f"data/{lab['ids']['vol.tif']}/"]["encodingFormat"]
        assert vol == ("image/tiff" if mode == "copy" else "application/x-zarr")
        thumbs = [e for i, e in graph.items() if i.startswith("thumbnails/")]
        assert thumbs and {e["encodingFormat"] for e in thumbs} == {"image/png"}
        assert "Source-Organization: Rock Lab" in (dest / "bag-info.txt").read_text()


def test_a_container_xarray_cannot_write_as_the_file_holds_it_is_converted_as_voxcat_reads_it(
    lab, monkeypatch
) -> None:
    real = conv._write_dataset

    def no_groups(ds, store, group=None):
        if group is not None:
            raise TypeError("this HDF5 group does not convert as it is")
        return real(ds, store, group)

    monkeypatch.setattr(conv, "_write_dataset", no_groups)
    ident = lab["ids"]["tomo.h5"]
    dest = lab["index"].parent / "zarr"
    export_catalog(lab["index"], dest, [ident], mode="zarr")
    stock = intake.from_yaml_file(str(dest / "catalog.yaml"))[ident].read()
    assert "exchange_data" in stock  # flattened: Zarr names cannot hold "/"
    source = open_catalog(lab["index"])[ident].read()
    exported = open_catalog(dest / "voxcat.duckdb")[ident].read()
    np.testing.assert_array_equal(exported["exchange_data"].values, source["exchange/data"].values)
    assert_bag_valid(dest)
