"""The catalogue over a real scan of the demo drive: lazy entries that read every
format as dask-backed xarray, pyramid levels, unavailable datasets, the intake driver,
the notebook view, and annotations that survive rescans and moves."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dask.array as da
import duckdb
import intake
import numpy as np
import pytest
import xarray as xr

from catalog import open_catalog, scan
from catalog.catalogue import DuckDBCatalog, VoxcatReader
from catalog.demo import write_demo_drive
from catalog.errors import AnnotationError, DatasetNotFound, DatasetUnavailable


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("cat")
    drive = write_demo_drive(base / "drive")
    index = base / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False)
    return drive, index


@pytest.fixture
def cat(scanned: tuple[Path, Path]) -> DuckDBCatalog:
    return open_catalog(scanned[1])


def by_format(cat: DuckDBCatalog, fmt: str) -> str:
    return next(iter(cat.search(format=fmt, status="ok")))


FORMATS = [
    "slices",
    "tiff",
    "zarr",
    "hdf5",
    "netcdf",
    "dicom",
    "nifti",
    "mrc",
    "nrrd",
    "metaimage",
]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_reads_lazily_with_physical_coords(cat: DuckDBCatalog, fmt: str) -> None:
    ident = by_format(cat, fmt)
    reader = cat[ident]
    assert isinstance(reader, VoxcatReader)
    meta = reader.metadata
    assert meta["id"] == ident and meta["format"] == fmt and meta["status"] == "ok"
    assert isinstance(meta["shape"], list) and meta["path"].startswith("/")
    obj = reader.read()
    arr = obj if isinstance(obj, xr.DataArray) else obj[next(iter(obj.data_vars))]
    assert isinstance(arr.data, da.Array), "not dask-backed: pixels were read eagerly"
    if isinstance(obj, xr.DataArray):
        assert list(obj.shape) == meta["shape"]
        assert obj.attrs["voxcat_id"] == ident
        spatial = [d for d in obj.dims if d in "zyx"]
        assert spatial
        if meta["voxel_size"]:
            assert any(obj[d].attrs.get("units") not in (None, "index") for d in spatial)
    small = arr.isel({d: 0 for d in arr.dims[:-2]}).values
    assert small.ndim == 2 and np.isfinite(small.astype(float)).all()


def test_pyramid_levels(cat: DuckDBCatalog) -> None:
    ident = by_format(cat, "zarr")
    meta = cat[ident].metadata
    assert meta["levels"] == 3
    full, low = cat[ident].read(), cat[ident].read(level=2)
    assert low.shape[-1] == full.shape[-1] // 4
    # physical extent is the same at every level
    assert float(low.x[1] - low.x[0]) == pytest.approx(4 * float(full.x[1] - full.x[0]))
    with pytest.raises(Exception, match="level 7"):
        cat[ident].read(level=7)
    # a misspelt keyword is an error naming the valid ones, never silently ignored
    with pytest.raises(
        TypeError, match=r"'levl' \(did you mean 'level'\?\); valid keywords: level"
    ):
        cat[ident].read(levl=2)


def test_metadata_holds_the_row_tags_and_notes(cat: DuckDBCatalog) -> None:
    ident = by_format(cat, "hdf5")
    cat.tag(ident, "tomo")
    cat.note(ident, "flats look fine")
    meta = cat[ident].metadata
    assert meta["tags"] == ["tomo"]
    assert meta["notes"][0]["text"] == "flats look fine"
    assert meta["modality"] == "CT" and meta["data_level"] == "raw"
    assert isinstance(meta["meta"], dict) and isinstance(meta["arrays"], dict)


def test_failed_missing_and_unknown_datasets_raise_clear_errors(
    cat: DuckDBCatalog, scanned: tuple[Path, Path]
) -> None:
    failed = next(iter(cat.search(status="failed", name="truncated.tif")))
    with pytest.raises(DatasetUnavailable, match=r"truncated\.tif.*could not be read"):
        cat[failed].read()
    everything = open_catalog(scanned[1], files=True)
    txt = next(iter(everything.search(name="notes.txt")))
    with pytest.raises(DatasetUnavailable, match="not an image"):
        everything[txt].read()
    with pytest.raises(DatasetNotFound, match="no dataset with id"):
        cat["zzzzzzzzzzzz"]
    name = cat[by_format(cat, "mrc")].metadata["name"]
    with pytest.raises(DatasetNotFound, match="is a dataset name, not an id"):
        cat[name]


def test_missing_dataset(tmp_path: Path) -> None:
    drive = tmp_path / "d"
    drive.mkdir()
    import tifffile

    tifffile.imwrite(drive / "a.tif", np.zeros((4, 8, 8), np.uint8), photometric="minisblack")
    index = tmp_path / "x.duckdb"
    scan(drive, index, jobs=1, progress=False)
    (drive / "a.tif").unlink()
    scan(drive, index, jobs=1, progress=False)
    cat = open_catalog(index)
    ident = next(iter(cat))
    assert cat[ident].metadata["status"] == "missing"
    with pytest.raises(DatasetUnavailable, match="missing"):
        cat[ident].read()


def test_intake_driver_and_plain_catalog_export(
    scanned: tuple[Path, Path], tmp_path: Path
) -> None:
    cat = intake.open_catalog(str(scanned[1]), driver="voxcat")
    assert isinstance(cat, DuckDBCatalog) and len(cat) > 10
    assert isinstance(cat, intake.Catalog)
    sub = cat.search(modality="CT", status="ok")
    plain = sub.materialize()
    assert sorted(plain) == sorted(sub)
    path = tmp_path / "cat.yaml"
    plain.to_yaml_file(str(path))
    again = intake.from_yaml_file(str(path))
    ident = next(iter(sub))
    assert again[ident].read().shape == sub[ident].read().shape


def test_intake_mapping_protocol(cat: DuckDBCatalog) -> None:
    ids = list(cat)
    assert cat._ipython_key_completions_() == ids
    assert set(cat.aliases) == set(ids) and len(cat.entries) == len(ids)
    assert ids[0] in cat.entries and cat.entries[ids[0]].kwargs["dataset_id"] == ids[0]
    assert getattr(cat, ids[0]).metadata["id"] == ids[0]  # attribute access like intake
    assert set(ids) <= set(dir(cat))
    assert cat.token == open_catalog(cat.index).token
    assert cat.token != cat.search(modality="CT").token


def test_html_view_escapes_names(tmp_path: Path) -> None:
    import tifffile

    drive = tmp_path / "d"
    drive.mkdir()
    evil = "<img src=x onerror=alert(1)>.tif"
    tifffile.imwrite(drive / evil, np.arange(64, dtype=np.uint8).reshape(8, 8))
    index = tmp_path / "x.duckdb"
    scan(drive, index, jobs=1, progress=False)
    cat = open_catalog(index)
    cat.tag(list(cat), "<b>bold</b>")
    page = cat._repr_html_()
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<b>bold</b>" not in page and "data:image/png;base64," in page
    assert "1 datasets" in page
    assert "voxcat catalogue: 1 datasets" in repr(cat)


# -- annotations -------------------------------------------------------------------------


def _audit(index: Path) -> list[tuple]:
    con = duckdb.connect(str(index), read_only=True)
    try:
        return con.execute(
            "SELECT action, dataset_id, user_name, detail FROM audit "
            "WHERE action IN ('tag', 'untag', 'note', 'set') ORDER BY seq"
        ).fetchall()
    finally:
        con.close()


def test_annotations_are_audited_and_survive_rescans_and_moves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tifffile

    monkeypatch.setenv("VOXCAT_USER", "anna")
    drive = tmp_path / "drive"
    (drive / "2024" / "rocks").mkdir(parents=True)
    tifffile.imwrite(drive / "2024" / "rocks" / "core.tif", np.ones((4, 16, 16), np.uint16))
    tifffile.imwrite(drive / "other.tif", np.zeros((4, 16, 16), np.uint16))
    index = tmp_path / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False)
    cat = open_catalog(index)
    core = next(iter(cat.search(name="core.tif")))
    assert cat.tag(cat.search(name="*.tif"), "porosity", "paper") == 4
    assert cat.tag(core, "porosity") == 0  # already there
    assert cat.untag(cat.search(name="other.tif"), "paper") == 1
    cat.note(core, "beam hardening visible")
    assert cat.set(core, sample="S01", project="rocks", data_level="segmentation") == 1
    assert cat.set(core, sample="S01") == 0  # unchanged
    actions = _audit(index)
    assert [a[0] for a in actions] == ["tag"] * 4 + ["untag", "note", "set"]
    assert all(a[2] == "anna" for a in actions)
    detail = json.loads(actions[-1][3])
    assert detail["after"]["sample"] == "S01" and detail["before"]["sample"] is None
    # a rescan of changed data keeps user fields and tags
    tifffile.imwrite(drive / "2024" / "rocks" / "core.tif", np.full((4, 16, 16), 7, np.uint16))
    assert scan(drive, index, jobs=1, progress=False)["changed"] == 1
    meta = cat[core].metadata
    assert meta["sample"] == "S01" and meta["data_level"] == "segmentation"
    assert meta["tags"] == ["paper", "porosity"] and meta["notes"][0]["text"].startswith("beam")
    # a move keeps the id, and with it everything annotated
    shutil.move(drive / "2024", drive / "archive-2024")
    rep = scan(drive, index, jobs=1, progress=False)
    assert rep["moved"] == 1
    meta = cat[core].metadata
    assert "archive-2024" in meta["path"]
    assert meta["tags"] == ["paper", "porosity"] and meta["sample"] == "S01"
    assert names_of(cat.search("beam hardening")) == ["core.tif"]
    assert names_of(cat.search(tags="porosity", sample="s01")) == ["core.tif"]


def names_of(c: DuckDBCatalog) -> list[str]:
    return sorted(c.df["name"])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda c, i: c.tag(i), "no tags"),
        (lambda c, i: c.tag(i, ""), "empty tag"),
        (lambda c, i: c.tag(i, 3), "a tag is text"),
        (lambda c, i: c.tag(i, "x" * 300), "longer than"),
        (lambda c, i: c.note(i, "  "), "needs some text"),
        (lambda c, i: c.set(i, shape="1x2"), "not a field users set"),
        (lambda c, i: c.set(i, data_level="final"), "not one of"),
        (lambda c, i: c.set(i, access="secret"), "not one of"),
        (lambda c, i: c.set(i), "no fields"),
    ],
)
def test_bad_annotations(cat: DuckDBCatalog, call, match: str) -> None:
    with pytest.raises(AnnotationError, match=match):
        call(cat, next(iter(cat)))


def test_annotating_unknown_ids_fails_before_writing(cat: DuckDBCatalog) -> None:
    ids = [next(iter(cat)), "nosuchid0000"]
    with pytest.raises(DatasetNotFound, match="nosuchid0000"):
        cat.tag(ids, "x")
    assert cat.search(tags="x").keys() == []
