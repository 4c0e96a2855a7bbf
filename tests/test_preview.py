"""Preview pyramids and fast 2-D views (``catalog.preview``) on real files in a real
index: values and coordinates against numpy at level 0 and coarser levels, orthogonal
views, own pyramids, preview reuse and rebuild, atomic and concurrent builds,
background jobs, float and label data, and bounded memory."""

from __future__ import annotations

import os
import shutil
import threading
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
import xarray as xr
import zarr

from catalog import open_catalog, scan
from catalog.errors import (
    DatasetNotFound,
    PreviewCancelled,
    PreviewError,
    PreviewWarning,
    ReaderError,
    ViewError,
)
from catalog.index import connect
from catalog.preview import (
    Slicer,
    ensure_preview,
    find_preview,
    levels,
    originals,
    preview_job,
    preview_path,
    prune_previews,
    pyramid,
    store,
)
from catalog.preview.place import preview_place
from catalog.preview.pyramid import downsample_mode, plan_levels

from .validators import assert_ome_zarr

SHAPE = (72, 90, 110)  # z >= 64: a volume (64³ preview chunks, z downsampled too)
SPACING_UM = 0.5
TARGET = 32  # previews of these small volumes still get three levels


def make_volume(rng: np.random.Generator, dtype: str = "uint16") -> np.ndarray:
    z, y, x = np.ogrid[: SHAPE[0], : SHAPE[1], : SHAPE[2]]
    ball = (z - 36) ** 2 + (y - 40) ** 2 + (x - 60) ** 2 < 25**2
    vol = rng.integers(0, 400, SHAPE).astype(dtype) + (3 * x).astype(dtype)
    vol[ball] += 3000
    return vol


def write_drive(root: Path, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Datasets of every kind the Slicer reads differently, and their true pixels."""
    truth: dict[str, np.ndarray] = {}
    vol = make_volume(rng)
    res = {"resolution": (1 / SPACING_UM, 1 / SPACING_UM)}
    ij = {"spacing": SPACING_UM, "unit": "um", "axes": "ZYX"}
    (root / "tiff").mkdir(parents=True)
    tifffile.imwrite(root / "tiff" / "vol.tif", vol, imagej=True, metadata=ij, **res)
    truth["tiff"] = vol
    rec = root / "stack" / "rec"
    rec.mkdir(parents=True)
    for z, plane in enumerate(vol):
        tifffile.imwrite(rec / f"rec_{z:04d}.tif", plane)
    truth["slices"] = vol
    packed = root / "packed" / "rec"  # zlib slices: decoded whole, never read by rows
    packed.mkdir(parents=True)
    other = vol[:, ::-1].copy()
    for z, plane in enumerate(other):
        tifffile.imwrite(packed / f"img_{z:04d}.tif", plane, compression="zlib")
    truth["packed"] = other
    fvol = (rng.standard_normal(SHAPE) * 10 + np.linspace(0, 50, SHAPE[2])).astype("float32")
    arr = zarr.create_array(root / "float.zarr", shape=SHAPE, chunks=(16, 32, 32), dtype="f4")
    arr[:] = fvol
    truth["float"] = fvol
    labels = np.zeros(SHAPE, np.uint8)
    labels[10:50, 20:70, 30:90] = 3
    labels[40:70, 5:45, 5:40] = 7
    labels[:, 60:, 80:] = 9
    (root / "labels").mkdir()
    tifffile.imwrite(root / "labels" / "seg.tif", labels)
    truth["labels"] = labels
    image = rng.integers(0, 60000, (300, 500), dtype=np.uint16)
    (root / "mosaic").mkdir()
    tifffile.imwrite(root / "mosaic" / "mosaic.tif", image, tile=(64, 64))
    truth["mosaic"] = image
    return truth


def write_ome(path: Path, rng: np.random.Generator) -> list[np.ndarray]:
    """A ``czyx`` OME-Zarr with its own three-level pyramid, written by ome-zarr."""
    from ome_zarr.writer import write_multiscale

    a0 = rng.integers(0, 5000, (2, 16, 64, 80), dtype=np.uint16)
    pyramid = [a0, a0[:, :, ::2, ::2].copy(), a0[:, :, ::4, ::4].copy()]
    transforms = [[{"type": "scale", "scale": [1, 2.0, 0.5 * f, 0.5 * f]}] for f in (1, 2, 4)]
    group = zarr.open_group(str(path), mode="w")
    units = dict.fromkeys("zyx", "micrometer")
    write_multiscale(
        pyramid, group, axes="czyx", coordinate_transformations=transforms, axes_units=units
    )
    return pyramid


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()
    }


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("preview")
    rng = np.random.default_rng(20261122)
    drive = base / "drive"
    truth = write_drive(drive, rng)
    truth["ome"] = write_ome(drive / "cells.ome.zarr", rng)
    index = base / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False)
    cat = open_catalog(index)
    ids = {}
    for key, where in {
        "tiff": "tiff/vol.tif",
        "slices": "stack/rec",
        "packed": "packed/rec",
        "float": "float.zarr",
        "labels": "labels/seg.tif",
        "mosaic": "mosaic/mosaic.tif",
        "ome": "cells.ome.zarr",
    }.items():
        ids[key] = next(i for i in cat if cat.entry(i).metadata["path"].endswith(where))
    cat.set(ids["labels"], data_level="segmentation")
    return {"index": index, "drive": drive, "truth": truth, "ids": ids, "before": snapshot(drive)}


def built(env: dict, key: str) -> Slicer:
    path = ensure_preview(env["index"], env["ids"][key], min_bytes=0, target=TARGET)
    assert_ome_zarr(path)  # every preview passes an independent validator (ome-zarr-models)
    s = Slicer(env["index"], env["ids"][key])
    assert s.source == "preview"
    return s


def block_mean(vol: np.ndarray, f: int) -> np.ndarray:
    """Mean over f³ blocks that fit entirely (the interior of a level)."""
    n = [d // f for d in vol.shape]
    cut = vol[: n[0] * f, : n[1] * f, : n[2] * f].astype(np.float64)
    return cut.reshape(n[0], f, n[1], f, n[2], f).mean(axis=(1, 3, 5))


# -- level 0 and orthogonal views -------------------------------------------------------


@pytest.mark.parametrize("key", ["tiff", "slices", "packed", "float"])
def test_planes_at_level_0_match_numpy(env: dict, key: str) -> None:
    vol = env["truth"][key]
    s = Slicer(env["index"], env["ids"][key], preview=False)
    assert s.dims == ("z", "y", "x") and s.shape == SHAPE and s.levels == [SHAPE]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # small data: no advice to build a preview
        yx = s.plane(("y", "x"), at={"z": 7})
        zx = s.plane(("z", "x"), at={"y": 33})
        zy = s.plane(("z", "y"), at={"x": 101})
        xz = s.plane(("x", "z"), at={"y": 33})
    np.testing.assert_array_equal(yx.values, vol[7])
    np.testing.assert_array_equal(zx.values, vol[:, 33, :])
    np.testing.assert_array_equal(zy.values, vol[:, :, 101])
    np.testing.assert_array_equal(xz.values, vol[:, 33, :].T)
    assert isinstance(yx.data, np.ndarray) and yx.dims == ("y", "x")
    assert yx.attrs["level"] == 0 and yx.attrs["source"] == "original"
    full = open_catalog(env["index"])[env["ids"][key]].read()
    for d in ("y", "x"):  # same physical coordinates as the catalogue's reader
        np.testing.assert_allclose(yx[d].values, full[d].values)
        assert yx[d].attrs["units"] == full[d].attrs["units"]


def test_physical_coords_and_defaults(env: dict) -> None:
    s = Slicer(env["index"], env["ids"]["tiff"])
    assert s.spacing == pytest.approx({"z": 0.5e-6, "y": 0.5e-6, "x": 0.5e-6})
    assert s.units["x"] == "µm"
    p = s.plane(("z", "x"), at={"y": 10}, max_size=None)
    np.testing.assert_allclose(p["x"].values, np.arange(SHAPE[2]) * SPACING_UM)
    np.testing.assert_allclose(p["z"].values, np.arange(SHAPE[0]) * SPACING_UM)
    assert float(p["y"]) == pytest.approx(10 * SPACING_UM)
    default = s.plane(("y", "x"), max_size=None)
    assert default.attrs["at"] == {"z": SHAPE[0] // 2}
    np.testing.assert_array_equal(default.values, env["truth"]["tiff"][SHAPE[0] // 2])


def test_region_reads_only_the_window(env: dict) -> None:
    img = env["truth"]["mosaic"]
    s = Slicer(env["index"], env["ids"]["mosaic"], preview=False)
    assert s.dims == ("y", "x")
    r = s.region(y=(40, 170), x=(300, 460))
    np.testing.assert_array_equal(r.values, img[40:170, 300:460])
    assert r["x"].values[0] == 300 and r.attrs["stride"] == 1
    # wider than max_size with no coarser level: strided, still >= max_size pixels
    r = s.region(y=(0, 300), x=(None, None), max_size=100)
    assert r.attrs["stride"] == 5 and max(r.shape) >= 100
    np.testing.assert_array_equal(r.values, img[0:300:5, 0:500:5])
    np.testing.assert_array_equal(r["x"].values, np.arange(0, 500, 5))
    clipped = s.region(y=(-50, 20), x=(490, 900))
    np.testing.assert_array_equal(clipped.values, img[0:20, 490:500])


def test_view_errors_name_the_dataset(env: dict) -> None:
    s = Slicer(env["index"], env["ids"]["tiff"])
    with pytest.raises(ViewError, match="choose two different dims"):
        s.plane(("y", "y"))
    with pytest.raises(ViewError, match="no dimension t"):
        s.plane(at={"t": 0})
    with pytest.raises(ViewError, match=r"z=500 is outside dataset"):
        s.plane(at={"z": 500})
    with pytest.raises(ViewError, match="selects nothing"):
        s.region(y=(200, 300), x=(0, 10))
    with pytest.raises(ViewError, match="exactly two"):
        s.region(y=(0, 10))
    with pytest.raises(DatasetNotFound):
        Slicer(env["index"], "nosuchid")


def test_contrast_is_percentiles_and_cached(env: dict) -> None:
    vol = env["truth"]["slices"]
    s = Slicer(env["index"], env["ids"]["slices"], preview=False)
    lo, hi = s.contrast()
    assert (lo, hi) == pytest.approx(tuple(np.percentile(vol, (1, 99.5))))
    assert s.contrast() == (lo, hi)
    assert s.contrast((0, 100)) == (vol.min(), vol.max())
    f = Slicer(env["index"], env["ids"]["float"], preview=False).contrast((5, 95))
    assert f == pytest.approx(tuple(np.percentile(env["truth"]["float"], (5, 95))), rel=1e-6)


# -- own pyramids ---------------------------------------------------------------------


def test_own_pyramid_is_used_and_gets_no_preview(env: dict) -> None:
    pyramid = env["truth"]["ome"]
    s = Slicer.from_catalog(open_catalog(env["index"]), env["ids"]["ome"])
    assert s.source == "pyramid" and s.dims == ("c", "z", "y", "x")
    assert s.levels == [a.shape for a in pyramid]
    assert s.level_for(1024) == 0 and s.level_for(40) == 1 and s.level_for(20) == 2
    p = s.plane(max_size=20)  # c defaults to 0, z to the middle
    assert p.attrs["level"] == 2 and p.attrs["at"] == {"c": 0, "z": 8}
    np.testing.assert_array_equal(p.values, pyramid[2][0, 8])
    level2 = open_catalog(env["index"])[env["ids"]["ome"]].read(level=2)
    np.testing.assert_allclose(p["x"].values, level2["x"].values)
    r = s.region(y=(16, 48), x=(0, 80), at={"c": 1, "z": 3}, max_size=40)
    assert r.attrs["level"] == 1
    np.testing.assert_array_equal(r.values, pyramid[1][1, 3, 8:24, 0:40])
    assert ensure_preview(env["index"], env["ids"]["ome"], min_bytes=0) is None


def test_own_pyramid_views_keep_each_levels_translation(tmp_path: Path) -> None:
    """ome-zarr centres its downsampled levels (an NGFF translation per level): views
    read from a coarse level carry that level's coordinates, not level 0's origin."""
    from ome_zarr.writer import write_image

    drive = tmp_path / "drive"
    drive.mkdir()
    image = np.random.default_rng(7).integers(0, 4000, (6, 64, 80), dtype=np.uint16)
    write_image(
        image,
        zarr.open_group(str(drive / "centred.ome.zarr"), mode="w"),
        scale_factors=[2, 4],
        axes="zyx",
        scale={"z": 2.0, "y": 0.5, "x": 0.5},
        axes_units=dict.fromkeys("zyx", "micrometer"),
    )
    index = tmp_path / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False, thumbnails=False)
    cat = open_catalog(index)
    (ident,) = list(cat)
    s = Slicer.from_catalog(cat, ident)
    assert s.source == "pyramid" and len(s.levels) == 3
    for k, size in ((0, 1024), (1, 40), (2, 20)):
        level = cat[ident].read(level=k)
        plane = s.plane(max_size=size)
        assert plane.attrs["level"] == k
        np.testing.assert_allclose(plane["x"].values, level["x"].values)
        np.testing.assert_allclose(plane["y"].values, level["y"].values)
    level1 = cat[ident].read(level=1)
    assert float(level1.x[0]) == pytest.approx(0.25)  # the centre of level-0 x 0 and 0.5
    r = s.region(y=(16, 48), x=(0, 80), max_size=40)
    assert r.attrs["level"] == 1
    np.testing.assert_allclose(r["y"].values, level1["y"].values[8:24])
    np.testing.assert_allclose(r["x"].values, level1["x"].values[0:40])
    xz = s.plane(("z", "x"), at={"y": 20}, max_size=20)  # z is not downsampled
    own = cat[ident].read(level=xz.attrs["level"])
    np.testing.assert_allclose(xz["z"].values, own["z"].values)
    np.testing.assert_allclose(xz["x"].values, own["x"].values)


# -- preview pyramids -----------------------------------------------------------------


def test_preview_levels_values_and_coords(env: dict) -> None:
    vol = env["truth"]["tiff"]
    s = built(env, "tiff")
    assert s.levels == [SHAPE, (36, 45, 55), (18, 23, 28)]
    assert s.levels == plan_levels(SHAPE, "zyx", s.spacing, TARGET)
    full = s.plane(("y", "x"), at={"z": 9}, max_size=None)
    np.testing.assert_array_equal(full.values, vol[9])
    for k, f in ((1, 2), (2, 4)):
        truth = block_mean(vol, f)
        p = s.plane(("z", "x"), at={"y": 21}, max_size=[0, 55, 28][k])
        assert p.attrs["level"] == k and p.shape == s.levels[k][::2]
        yk = 21 // f
        inner = p.values[: truth.shape[0], : truth.shape[2]]
        np.testing.assert_allclose(inner, truth[:, yk, :], atol=k)  # one rounding per level
        centre = (np.arange(p.sizes["x"]) + 0.5) * f - 0.5
        np.testing.assert_allclose(p["x"].values, centre * SPACING_UM)
    r = s.region(y=(10, 74), x=(20, 84), at={"z": 40}, max_size=32)
    assert r.attrs["level"] == 1 and r.shape == (32, 32)
    np.testing.assert_allclose(r.values, block_mean(vol, 2)[20, 5:37, 10:42], atol=1)
    assert 0 < s.contrast()[0] < s.contrast()[1]


def test_preview_keeps_coords_and_contrast(env: dict, monkeypatch) -> None:
    """A Slicer over a preview needs neither the source files (browsing works with the
    drive unplugged) nor a contrast pass: both were kept when the preview was built."""
    from catalog.preview import slicer
    from catalog.preview.dataset import DatasetRef

    before = built(env, "tiff")
    plane = before.plane(("z", "x"), at={"y": 30}, max_size=55)
    stored = before.contrast()
    info = store.read_preview(before.preview)
    monkeypatch.setattr(slicer, "read_preview", lambda p, c, s=None: {**info, "contrast": []})
    assert Slicer(env["index"], env["ids"]["tiff"]).contrast() == stored  # same as computed
    monkeypatch.undo()

    def unplugged(self, level=0):
        raise AssertionError("the source was opened")

    monkeypatch.setattr(DatasetRef, "read", unplugged)
    after = Slicer(env["index"], env["ids"]["tiff"])
    again = after.plane(("z", "x"), at={"y": 30}, max_size=55)
    xr.testing.assert_identical(again, plane)
    assert after.units == {"z": "µm", "y": "µm", "x": "µm"} and after.contrast() == stored


def test_preview_written_once_as_ome_zarr_beside_the_index(env: dict) -> None:
    index, ident = env["index"], env["ids"]["slices"]
    path = ensure_preview(index, ident, min_bytes=0, target=TARGET)
    assert path == preview_path(index, open_catalog(index).entry(ident).metadata["checksum"])
    assert path.parent == index.with_name("lab.voxcat") / "previews"
    stamps = {p: p.stat().st_mtime_ns for p in (path / ".zattrs", path / "0" / ".zarray")}
    time.sleep(0.01)
    assert ensure_preview(index, ident, min_bytes=0, target=TARGET) == path
    assert find_preview(index, ident) == path
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # reused, not rebuilt
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    node = next(iter(Reader(parse_url(str(path)))()))
    assert [tuple(a.shape) for a in node.data] == [SHAPE, (36, 45, 55), (18, 23, 28)]
    assert_ome_zarr(path)  # an independent validator (ome-zarr-models) accepts it
    np.testing.assert_array_equal(np.asarray(node.data[0][5]), env["truth"]["slices"][5])
    with connect(index, read_only=True) as con:
        rows = con.execute("SELECT path, levels FROM previews WHERE dataset_id = ?", [ident])
        assert rows.fetchall()[0][0] == path.relative_to(path.parents[1]).as_posix()
        audit = con.execute(
            "SELECT count(*) FROM audit WHERE action = 'preview.built' AND dataset_id = ?", [ident]
        ).fetchone()[0]
    assert audit == 1
    assert ensure_preview(index, ident) is None  # small: browsed directly by default


def test_float_and_label_previews(env: dict) -> None:
    fvol = env["truth"]["float"]
    s = built(env, "float")
    p = s.plane(("y", "x"), at={"z": 44}, max_size=40)
    assert p.dtype == np.float32 and p.attrs["level"] == 1
    np.testing.assert_allclose(p.values[:45, :55], block_mean(fvol, 2)[22], rtol=1e-5, atol=1e-4)
    labels = env["truth"]["labels"]
    s = built(env, "labels")
    coarse = s.plane(("y", "x"), at={"z": 20}, max_size=28)
    assert coarse.attrs["level"] == 2 and coarse.dtype == np.uint8
    assert set(np.unique(coarse.values)) <= set(np.unique(labels))  # never a mean of labels
    fine = s.plane(("y", "x"), at={"z": 20}, max_size=55).values
    blocks = labels[20:22, :90, :110]
    for y, x in ((12, 20), (30, 45), (5, 5), (44, 54)):
        block = blocks[:, 2 * y : 2 * y + 2, 2 * x : 2 * x + 2].ravel()
        values, counts = np.unique(block, return_counts=True)
        assert fine[y, x] in values[counts == counts.max()]


def test_mode_ties_go_to_the_first_voxel() -> None:
    block = np.array([[1, 2], [2, 1]], np.uint8)
    assert downsample_mode(block, (2, 2)).tolist() == [[1]]
    block = np.array([[5, 2], [2, 2]], np.uint8)
    assert downsample_mode(block, (2, 2)).tolist() == [[2]]


def test_mosaic_preview_tiles(env: dict) -> None:
    img = env["truth"]["mosaic"]
    s = built(env, "mosaic")
    assert s.levels == [(300, 500), (150, 250), (75, 125), (38, 63), (19, 32)]
    meta = zarr.open_array(str(s.preview / "0"), mode="r")
    assert meta.chunks == (256, 256)
    r = s.region(y=(100, 164), x=(200, 328), max_size=64)
    assert r.attrs["level"] == 1
    np.testing.assert_allclose(
        r.values, img[100:164, 200:328].reshape(32, 2, 64, 2).mean(axis=(1, 3)), atol=0.5
    )


def test_blockwise_build_equals_whole_array_downsampling(tmp_path: Path, monkeypatch) -> None:
    """Tiny blocks: levels derived in memory, written as partial chunks, and the last
    level read back from the one before, all equal to downsampling the whole image."""
    from catalog.preview.pyramid import downsample_mean

    rng = np.random.default_rng(3)
    image = rng.integers(0, 60000, (100, 300), dtype=np.uint16)
    (tmp_path / "d").mkdir()
    tifffile.imwrite(tmp_path / "d" / "img.tif", image)
    index = tmp_path / "i.duckdb"
    scan(tmp_path / "d", index, jobs=1, progress=False)
    ident = next(iter(open_catalog(index)))
    monkeypatch.setattr(pyramid, "TILE", 8)
    calls = []
    real = pyramid.write_level
    monkeypatch.setattr(store, "write_level", lambda *a, **k: calls.append(1) or real(*a, **k))
    path = ensure_preview(index, ident, min_bytes=0, target=TARGET, block_bytes=4800)
    assert len(calls) == 2  # levels 0-3 from the files' blocks, level 4 read back
    expected = image
    for k in range(5):
        level = zarr.open_array(str(path / str(k)), mode="r")
        assert level.chunks == tuple(min(8, n) for n in expected.shape)
        np.testing.assert_array_equal(level[:], expected)
        expected = downsample_mean(expected, (2, 2))


def test_nothing_written_beside_the_originals(env: dict) -> None:
    for key in ("tiff", "slices", "float", "mosaic"):
        built(env, key)
    assert snapshot(env["drive"]) == env["before"]


# -- rebuilds, atomicity, concurrency ---------------------------------------------------


@pytest.fixture
def small(tmp_path: Path) -> dict:
    rng = np.random.default_rng(7)
    drive = tmp_path / "drive"
    drive.mkdir()
    vol = make_volume(rng)
    tifffile.imwrite(drive / "vol.tif", vol)
    index = tmp_path / "i.duckdb"
    scan(drive, index, jobs=1, progress=False)
    ident = next(iter(open_catalog(index)))
    return {"drive": drive, "index": index, "id": ident, "vol": vol, "rng": rng}


def test_rebuilt_after_the_source_changes_and_old_one_pruned(small: dict) -> None:
    index, ident = small["index"], small["id"]
    old = ensure_preview(index, ident, min_bytes=0, target=TARGET)
    changed = small["vol"][::-1].copy()
    tifffile.imwrite(small["drive"] / "vol.tif", changed)
    scan(small["drive"], index, jobs=1, progress=False)
    assert ident in open_catalog(index)  # same dataset, new checksum
    assert find_preview(index, ident) is None
    s = Slicer(index, ident)
    assert s.source == "original"  # the stale preview is not used
    np.testing.assert_array_equal(s.plane(at={"z": 3}).values, changed[3])
    new = ensure_preview(index, ident, min_bytes=0, target=TARGET)
    assert new != old and new.is_dir() and old.is_dir()
    np.testing.assert_array_equal(Slicer(index, ident).plane(at={"z": 3}).values, changed[3])
    assert prune_previews(index) == [old]
    assert not old.exists() and new.is_dir()
    with connect(index, read_only=True) as con:
        paths = [r[0] for r in con.execute("SELECT path FROM previews").fetchall()]
    assert paths == [new.relative_to(new.parents[1]).as_posix()]


def test_interrupted_build_leaves_nothing_usable(small: dict, monkeypatch) -> None:
    index, ident = small["index"], small["id"]
    calls = []

    def crash(block, factors, labels):  # the disk fills up half way through
        calls.append(block.shape)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(block, factors, labels)

    real = pyramid.downsample
    monkeypatch.setattr(pyramid, "downsample", crash)
    with pytest.raises(PreviewError, match=rf"preview of dataset {ident} .*No space left"):
        ensure_preview(index, ident, min_bytes=0, target=TARGET, block_bytes=1 << 16)
    assert len(calls) == 3
    folder = store.previews_dir(index)
    assert list(folder.iterdir()) == []  # no half pyramid, no temporary folder
    assert Slicer(index, ident).source == "original"
    # a build killed hard leaves its hidden temporary folder: never used, later pruned
    monkeypatch.setattr(pyramid, "downsample", real)
    leftover = folder / ".abc.ome.zarr.999-dead.tmp"
    (leftover / "0").mkdir(parents=True)
    path = ensure_preview(index, ident, min_bytes=0, target=TARGET)
    assert Slicer(index, ident).preview == path
    assert prune_previews(index) == []  # too recent to be abandoned
    assert prune_previews(index, tmp_age=0) == [leftover]


def test_concurrent_builds_of_one_preview(small: dict) -> None:
    from catalog.preview.dataset import load_ref

    ref = load_ref(open_catalog(small["index"]), small["id"])
    final = preview_path(small["index"], ref.checksum)
    place = preview_place(small["index"])
    results, errors = [], []

    def build() -> None:  # bypasses the in-process lock: two processes racing
        try:
            results.append(store._build(ref, place, None, None, 1 << 20, TARGET))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and results == [final] * 3
    assert sorted(p.name for p in final.parent.iterdir()) == [final.name]
    s = Slicer(small["index"], small["id"])
    np.testing.assert_array_equal(s.plane(("z", "y"), at={"x": 50}).values, small["vol"][:, :, 50])


# -- background jobs --------------------------------------------------------------------


def test_background_job_reports_progress(small: dict) -> None:
    seen = []
    job = preview_job(
        small["index"], small["id"], min_bytes=0, target=TARGET, block_bytes=64 << 10
    )
    job.add_done_callback(lambda j: seen.append(j.progress))
    path = job.result(timeout=60)
    assert job.done() and not job.cancelled() and job.progress == 1.0 and seen == [1.0]
    assert path == find_preview(small["index"], small["id"])
    assert preview_job(small["index"], small["id"]).result(timeout=60) is None  # small


def test_background_job_cancel(small: dict, monkeypatch) -> None:
    gate, progress = threading.Event(), []
    real = originals.open_level

    class Gated:
        def __init__(self, level):
            self.level, self.shape, self.dtype = level, level.shape, level.dtype

        def read(self, key):
            gate.wait(10)
            return self.level.read(key)

    monkeypatch.setattr(store, "open_level", lambda ref, k: Gated(real(ref, k)))
    job = preview_job(
        small["index"], small["id"], min_bytes=0, target=TARGET, block_bytes=64 << 10
    )
    assert not job.done() and job.progress == 0.0
    assert job.cancel()
    gate.set()
    with pytest.raises(PreviewCancelled, match=small["id"]):
        job.result(timeout=60)
    progress.append(job.progress)
    assert job.cancelled() and progress[0] < 1
    assert list(store.previews_dir(small["index"]).iterdir()) == []
    assert not job.cancel()


# -- memory and slow-path advice --------------------------------------------------------


@pytest.mark.parametrize("span", [originals.SPAN_BYTES, 512])  # 512: read row by row
def test_memory_follows_the_view(small: dict, monkeypatch, span: int) -> None:
    monkeypatch.setattr(originals, "SPAN_BYTES", span)
    vol = small["vol"]
    s = Slicer(small["index"], small["id"], preview=False)
    s.plane(("z", "y"), at={"x": 3})  # warm up imports and caches
    views = {
        ("z", "y"): ({"x": 70}, vol[:, :, 70]),
        ("y", "x"): ({"z": 5}, vol[5]),
        ("x", "z"): ({"y": 1}, vol[:, 1, :].T),
    }
    tracemalloc.start()
    try:
        for dims, (at, truth) in views.items():
            tracemalloc.reset_peak()
            p = s.plane(dims, at=at)
            peak = tracemalloc.get_traced_memory()[1]
            assert peak < vol.nbytes / 4, (dims, peak)
            np.testing.assert_array_equal(p.values, truth)
    finally:
        tracemalloc.stop()
    strided = s.region(y=(3, 90), x=(0, 110), at={"z": 60}, max_size=20)
    np.testing.assert_array_equal(strided.values, vol[60, 3:90:5, 0:110:5])


@pytest.mark.parametrize(
    ("key", "fast", "slow"),
    [
        ("slices", ("y", "x"), ("z", "x")),
        ("tiff", ("y", "x"), ("z", "y")),
        ("float", None, ("y", "x")),  # 16x32x32 chunks: a yx plane decodes 16 planes
    ],
)
def test_slow_views_advise_a_preview(env: dict, key: str, fast, slow, monkeypatch) -> None:
    monkeypatch.setattr(store, "PREVIEW_MIN_BYTES", 1)  # as if the data were big
    s = Slicer(env["index"], env["ids"][key], preview=False)
    if fast is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            s.plane(fast)
    with pytest.warns(PreviewWarning, match="preview_job") as record:
        s.plane(slow)
    assert record[0].filename == __file__  # points at the caller
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s.plane(slow)  # said once per Slicer
    big = Slicer(env["index"], env["ids"][key], preview=False)
    monkeypatch.setattr(store, "PREVIEW_MIN_BYTES", 1 << 40)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        big.plane(slow)  # small data: nothing to advise


def test_prune_keeps_current_previews(env: dict) -> None:
    s = built(env, "tiff")
    stray = store.previews_dir(env["index"]) / ("0" * 32 + ".ome.zarr")
    shutil.copytree(s.preview, stray)
    removed = prune_previews(env["index"])
    assert removed == [stray] and s.preview.is_dir()
    assert os.listdir(store.previews_dir(env["index"]))


# -- decoded layers kept for slider steps -----------------------------------------------


@pytest.fixture
def compressed(tmp_path: Path) -> tuple[np.ndarray, Path]:
    rng = np.random.default_rng(20261123)
    vol = rng.integers(0, 60000, (32, 40, 48), dtype=np.uint16)
    path = tmp_path / "vol.zarr"
    z = zarr.create_array(str(path), shape=vol.shape, chunks=(8, 16, 16), dtype=vol.dtype)
    z[:] = vol
    return vol, path


def _level(path: Path, monkeypatch, limit: int, zarr_python: bool = False):  # type: ignore[no-untyped-def]
    """The level of ``path`` with ``reads``: how many windows it decoded chunks for."""
    monkeypatch.setattr(levels, "LAYERS", levels.LayerCache(limit))
    if zarr_python:
        lv = levels.ZarrLevel(zarr.open_array(str(path), mode="r"), path)
    else:
        lv = levels.open_zarr_level(path)
        assert isinstance(lv, levels.PackedZarrLevel)
    lv.reads = 0
    fetch = lv._fetch

    def counted(key):  # type: ignore[no-untyped-def]
        lv.reads += 1
        return fetch(key)

    lv._fetch = counted
    return lv


@pytest.mark.parametrize("zarr_python", [False, True])
def test_slider_steps_through_compressed_chunks_decode_each_once(
    compressed,  # type: ignore[no-untyped-def]
    monkeypatch,
    zarr_python: bool,
) -> None:
    vol, path = compressed
    lv = _level(path, monkeypatch, 1 << 30, zarr_python)
    for z in range(32):  # a z slider across every chunk row
        np.testing.assert_array_equal(lv.read((z, slice(None), slice(None))), vol[z])
    assert lv.reads == 4  # one per chunk row (8 layers deep)
    for y in range(40):
        np.testing.assert_array_equal(lv.read((slice(None), y, slice(None))), vol[:, y])
    assert lv.reads == 4 + 3
    strided = lv.read((slice(1, 30, 3), 17, slice(2, 47, 5)))  # a strided window, cached too
    np.testing.assert_array_equal(strided, vol[1:30:3, 17, 2:47:5])
    np.testing.assert_array_equal(
        lv.read((slice(1, 30, 3), 18, slice(2, 47, 5))), vol[1:30:3, 18, 2:47:5]
    )
    assert lv.reads == 7 + 1
    out = lv.read((5, slice(None), slice(None)))
    out[:] = 0  # the caller's copy: the cached block is untouched
    np.testing.assert_array_equal(lv.read((5, slice(None), slice(None))), vol[5])
    assert lv.read((slice(2, 9), slice(0, 5), slice(None))).shape == (7, 5, 48)  # blocks: no cache


def test_layer_cache_stays_within_its_limit(compressed, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    vol, path = compressed
    layer = 40 * 48 * 2
    lv = _level(path, monkeypatch, 3 * 4 * layer)  # a third of it: 4 of the 8 layers
    assert levels.LAYERS.depth(8, layer) == 4
    for z in range(32):
        np.testing.assert_array_equal(lv.read((z, slice(None), slice(None))), vol[z])
        assert levels.LAYERS.nbytes <= levels.LAYERS.limit
    assert lv.reads == 8
    other = levels.open_zarr_level(path)  # another level never sees this one's blocks
    assert other.owner != lv.owner
    lv.close()
    assert levels.LAYERS.nbytes == 0
    tiny = _level(path, monkeypatch, layer)  # not even two layers fit: plain reads
    for z in range(3):
        np.testing.assert_array_equal(tiny.read((z, slice(None), slice(None))), vol[z])
    assert tiny.reads == 3 and levels.LAYERS.nbytes == 0


# -- tiled mosaics without a pyramid ----------------------------------------------------


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_tiled_mosaic_reads_only_the_tiles_in_view(tmp_path: Path, compression) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(20261123)
    image = rng.integers(0, 60000, (300, 500), dtype=np.uint16)  # edge tiles are partial
    (tmp_path / "drive").mkdir()
    tifffile.imwrite(tmp_path / "drive" / "m.tif", image, tile=(64, 64), compression=compression)
    index = tmp_path / "lab.duckdb"
    scan(tmp_path / "drive", index, jobs=1, progress=False)
    ident = next(iter(open_catalog(index)))
    s = Slicer(index, ident, preview=False)
    level = s._level(0)
    assert isinstance(level, originals.TiffTiledLevel)
    read: list[tuple[int, int]] = []
    real = level._tile
    level._tile = lambda fd, ty, tx: (read.append((ty, tx)), real(fd, ty, tx))[1]  # type: ignore[method-assign]
    window = s.region(y=(70, 130), x=(200, 260), max_size=None)
    np.testing.assert_array_equal(window.values, image[70:130, 200:260])
    assert sorted(read) == [(1, 3), (1, 4), (2, 3), (2, 4)]
    np.testing.assert_array_equal(s.plane(("y", "x"), max_size=None).values, image)
    strided = s.region(y=(3, 290), x=(1, 499), max_size=50)
    step = strided.attrs["stride"]
    assert step > 1
    np.testing.assert_array_equal(strided.values, image[3:290:step, 1:499:step])
    one_row = level.read((133, slice(0, 500, 7)))
    np.testing.assert_array_equal(one_row, image[133, ::7])
    s.close()


def test_a_truncated_tiled_mosaic_names_the_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(20261124)
    image = rng.integers(0, 60000, (256, 256), dtype=np.uint16)
    (tmp_path / "drive").mkdir()
    path = tmp_path / "drive" / "m.tif"
    tifffile.imwrite(path, image, tile=(64, 64))
    index = tmp_path / "lab.duckdb"
    scan(tmp_path / "drive", index, jobs=1, progress=False)
    ident = next(iter(open_catalog(index)))
    s = Slicer(index, ident, preview=False)
    assert isinstance(s._level(0), originals.TiffTiledLevel)
    with open(path, "r+b") as fh:  # the file loses its last tiles after the scan
        fh.truncate(path.stat().st_size - 3 * 64 * 64 * 2)
    with pytest.raises(ReaderError, match=r"m\.tif.*truncated"):
        s.plane(("y", "x"), max_size=None)


def _packed_variants() -> dict[str, dict]:
    import numcodecs
    from zarr.codecs import (
        BloscCodec,
        BytesCodec,
        Crc32cCodec,
        GzipCodec,
        TransposeCodec,
        ZstdCodec,
    )

    return {
        "v3-zstd": {"compressors": ZstdCodec()},
        "v3-gzip-big-endian": {"compressors": GzipCodec(), "serializer": BytesCodec(endian="big")},
        "v3-blosc-dotted-keys": {
            "compressors": BloscCodec(),
            "chunk_key_encoding": {"name": "v2", "separator": "."},
        },
        "v3-uncompressed": {"compressors": None},
        "v2-blosc": {"zarr_format": 2, "compressors": numcodecs.Blosc()},
        "v2-zlib-slashes": {
            "zarr_format": 2,
            "compressors": numcodecs.Zlib(),
            "chunk_key_encoding": {"name": "v2", "separator": "/"},
        },
        "v2-lz4": {"zarr_format": 2, "compressors": numcodecs.LZ4()},
        # not packed: zarr-python reads these
        "v3-sharded": {"compressors": ZstdCodec(), "shards": (16, 32, 48)},
        "v3-crc32c": {"compressors": [ZstdCodec(), Crc32cCodec()]},
        "v3-transposed": {
            "compressors": ZstdCodec(),
            "filters": [TransposeCodec(order=(2, 1, 0))],
        },
    }


@pytest.mark.parametrize("variant", list(_packed_variants()))
def test_compressed_zarr_layouts_read_like_zarr_python(tmp_path: Path, variant: str) -> None:
    rng = np.random.default_rng(20261125)
    vol = (rng.standard_normal((33, 40, 50)) * 100).astype("float32")  # partial edge chunks
    path = tmp_path / f"{variant}.zarr"
    z = zarr.create_array(
        str(path),
        shape=vol.shape,
        chunks=(8, 16, 16),
        dtype=vol.dtype,
        fill_value=float("nan"),
        **_packed_variants()[variant],
    )
    z[:] = vol
    z[16:24, 0:16, 0:16] = np.nan  # a chunk of fill values only: zarr may not write it
    truth = vol.copy()
    truth[16:24, 0:16, 0:16] = np.nan
    lv = levels.open_zarr_level(path)
    packed = variant.split("-")[1] not in ("sharded", "crc32c", "transposed")
    assert isinstance(lv, levels.PackedZarrLevel) == packed, type(lv)
    for key in [
        (5, slice(None), slice(None)),
        (slice(None), 17, slice(None)),
        (slice(None), slice(None), 49),
        (slice(3, 30, 4), slice(1, 39, 3), 7),
        (slice(0, 33), slice(0, 40), slice(0, 50)),
    ]:
        got = lv.read(key)
        np.testing.assert_array_equal(got, truth[key], err_msg=str(key))


def test_a_corrupt_zarr_chunk_names_its_file(compressed, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    vol, path = compressed
    chunk = path / "c" / "1" / "0" / "2"
    chunk.write_bytes(b"not zstd at all")
    lv = levels.open_zarr_level(path)
    np.testing.assert_array_equal(lv.read((2, slice(None), slice(None))), vol[2])  # elsewhere
    with pytest.raises(ReaderError, match=r"c/1/0/2.*corrupt"):
        lv.read((9, slice(None), slice(None)))
    chunk.write_bytes(__import__("numcodecs").Zstd().encode(b"\0" * 10))
    with pytest.raises(ReaderError, match="holds 5 values"):
        lv.read((slice(8, 16), 3, slice(None)))


def test_advice_goes_to_a_listener_and_ends_with_a_preview(env: dict, monkeypatch) -> None:
    monkeypatch.setattr(store, "PREVIEW_MIN_BYTES", 1)
    s = Slicer(env["index"], env["ids"]["slices"], preview=False)
    heard: list[str] = []
    s.on_advice = heard.append
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no PreviewWarning once someone listens
        s.plane(("z", "x"))
    assert len(heard) == 1 and heard[0] == s.advice and "preview_job" in s.advice
    ensure_preview(env["index"], env["ids"]["slices"], min_bytes=0, target=TARGET)
    fast = Slicer(env["index"], env["ids"]["slices"])
    fast.advice = "stale"
    fast.refresh()
    assert fast.source == "preview" and fast.advice is None


def test_downsampling_goes_through_a_block_in_strips(rng: np.random.Generator) -> None:
    """Strips of whole cells give exactly the whole block's means and modes (odd edges
    padded alike), and a 32 MB block needs little more than its output on top: the
    float sums of a whole block at once would take three times the block."""
    import tracemalloc

    from catalog.omezarr import downsample as whole
    from catalog.preview.pyramid import STRIP_BYTES

    for shape, factors in [((37, 41), (2, 2)), ((5, 33, 17), (2, 2, 2)), ((1, 65, 31), (1, 2, 2))]:
        for labels in (False, True):
            block = rng.integers(0, 4 if labels else 256, shape).astype(np.uint8)
            expected = whole(block, factors, "mode" if labels else "mean")
            for strip in (1, 40, 300, 10**9):
                got = pyramid.downsample(block, factors, labels, strip_bytes=strip)
                assert got.dtype == expected.dtype
                np.testing.assert_array_equal(got, expected)
    block = np.ones((2048, 16_000), np.uint8)
    for labels in (False, True):
        tracemalloc.start()
        try:
            out = pyramid.downsample(block, (2, 2), labels)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert out.shape == (1024, 8000) and (out == 1).all()
        assert peak < out.nbytes + 4 * STRIP_BYTES, peak
