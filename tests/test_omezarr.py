"""catalog.omezarr: the one module the three pyramid writers (previews, Zarr export,
cat.save) share. Its helpers are pinned here, and what each writer produces is checked
by two tools that know nothing of voxcat: ome-zarr-models and ome-zarr-py's reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import xarray as xr
import zarr

from catalog import omezarr, open_catalog, scan
from catalog.export import export_catalog
from catalog.preview import ensure_preview

from .validators import assert_ome_zarr, ome_zarr_stores

# -- helpers --------------------------------------------------------------------------


def test_chunk_policy_per_purpose() -> None:
    assert omezarr.preview_chunks((100, 1000, 1000), "zyx", True) == (64, 64, 64)
    assert omezarr.preview_chunks((3, 900, 80), "zyx", False) == (1, 256, 80)
    assert omezarr.preview_chunks((2, 5, 300, 300), "tcyx", False) == (1, 1, 256, 256)
    assert omezarr.preview_chunks((70, 9, 9), "zyx", True, cube=8, tile=4) == (8, 8, 8)
    # export: whole up to 16 MB, else 4-8 MB chunks cut in powers of two
    assert omezarr.export_chunks(("z", "y", "x"), (100, 200, 300), 2) == (100, 200, 300)
    assert omezarr.export_chunks(("z", "y", "x"), (1800, 2048, 2448), 2) == (128, 128, 256)
    assert omezarr.export_chunks(("t", "z", "y", "x"), (100, 64, 64, 64), 2) == (16, 64, 64, 64)
    chunks = omezarr.export_chunks(("z", "y", "x"), (1000, 1000, 1000), 4)
    assert 4 << 20 <= np.prod(chunks) * 4 <= 8 << 20
    assert set(omezarr.CHUNK_POLICIES) == {"preview", "export", "save"}


def test_downsample_methods() -> None:
    block = np.array([[1, 3, 9], [5, 7, 11]], np.uint8)
    # mean: 2-blocks, rounded half to even; the edge is repeated (pad) or dropped (trim)
    assert omezarr.downsample_mean(block, (2, 2)).tolist() == [[4, 10]]
    assert omezarr.downsample_mean(block, (2, 2), edge="trim").tolist() == [[4]]
    assert omezarr.downsample_mean(np.array([1, 2], np.uint8), (2,)).tolist() == [2]  # 1.5
    assert omezarr.downsample_mean(np.array([2, 3], np.uint8), (2,)).tolist() == [2]  # 2.5
    floats = np.array([[0.5, 1.0], [1.5, 2.0]], np.float32)
    assert omezarr.downsample_mean(floats, (2, 2)).dtype == np.float32
    assert omezarr.downsample_mean(floats, (2, 2)).tolist() == [[1.25]]
    assert omezarr.downsample_mean(block, (1, 1)).tolist() == block.tolist()
    # mode: the most common label, ties to the first voxel of the cell
    assert omezarr.downsample_mode(np.array([[1, 2], [2, 3]], np.uint8), (2, 2)).tolist() == [[2]]
    assert omezarr.downsample_mode(np.array([[4, 2], [1, 3]], np.uint8), (2, 2)).tolist() == [[4]]
    # stride: every second voxel
    assert omezarr.downsample_stride(block, (1, 2)).tolist() == [[1, 9], [5, 11]]
    assert omezarr.downsample(block, (2, 2), "mode").tolist() == [[1, 9]]
    with pytest.raises(ValueError, match="unknown downsampling method"):
        omezarr.downsample(block, (2, 2), "bicubic")
    with pytest.raises(ValueError, match="edge"):
        omezarr.downsample_mean(block, (2, 2), edge="wrap")


@pytest.mark.parametrize("dtype", [np.uint16, np.int32, np.float32])
def test_downsample_dataarray_is_a_trimmed_mean(dtype) -> None:
    values = np.random.default_rng(2).integers(0, 1000, (9, 21, 34)).astype(dtype)
    da = xr.DataArray(values, dims=("z", "y", "x")).chunk({"z": 5, "y": 7})
    da = da.assign_coords(x=np.arange(34) * 0.5)
    small = omezarr.downsample_dataarray(da, {"y": 2, "x": 2})
    expected = da.coarsen({"y": 2, "x": 2}, boundary="trim").mean()
    if np.issubdtype(dtype, np.integer):
        expected = expected.round()
    assert small.dtype == dtype and small.shape == (9, 10, 17)
    np.testing.assert_allclose(small.values, expected.astype(dtype).values, rtol=1e-6)
    np.testing.assert_array_equal(small["x"].values, expected["x"].values)
    every = omezarr.downsample_dataarray(da, {"y": 2}, "stride")
    np.testing.assert_array_equal(every.values, values[:, ::2])


def test_multiscales_metadata_and_its_validation() -> None:
    axes = [omezarr.space_axis("c"), omezarr.space_axis("y", "um"), omezarr.space_axis("x", "Å")]
    assert axes[0] == {"name": "c", "type": "channel"}
    assert axes[2]["unit"] == "angstrom"
    assert omezarr.space_axis("x", "furlong") == {"name": "x", "type": "space"}
    factors = omezarr.level_factors([(2, 300, 301), (2, 150, 151)])
    assert factors[1][:2] == [1.0, 2.0] and factors[1][2] == pytest.approx(301 / 151)
    datasets = [
        omezarr.level_dataset("0", [1.0, 0.5, 0.5]),
        omezarr.level_dataset("1", [1.0, 1.0, 1.0], [0.0, 0.25, 0.25]),
    ]
    ms = omezarr.multiscales("img", axes, datasets, type="mean", metadata={"by": "test"})
    assert list(ms[0]) == ["version", "name", "axes", "datasets", "type", "metadata"]
    assert ms[0]["version"] == "0.4" and ms[0]["datasets"][1]["coordinateTransformations"] == [
        {"type": "scale", "scale": [1.0, 1.0, 1.0]},
        {"type": "translation", "translation": [0.0, 0.25, 0.25]},
    ]
    assert "type" not in omezarr.multiscales("img", axes, datasets)[0]
    with pytest.raises(ValueError, match="channel"):  # ome-zarr-py: channel before space
        omezarr.multiscales("img", axes[1:] + axes[:1], datasets)
    with pytest.raises(ValueError, match="scale"):
        omezarr.multiscales("img", axes, [omezarr.level_dataset("0", [1.0, 1.0])])


def test_save_scale_factors() -> None:
    assert omezarr.save_scale_factors({"y": 255, "x": 100}) == []
    assert omezarr.save_scale_factors({"y": 600, "x": 100}) == [{"y": 2, "x": 2}]
    assert omezarr.save_scale_factors({"z": 40, "y": 1024, "x": 1024}) == [
        {"z": 2, "y": 2, "x": 2},
        {"y": 4, "x": 4},
    ]
    assert len(omezarr.save_scale_factors({"y": 1 << 20, "x": 8})) == 5


# -- the three writers, checked by independent readers ---------------------------------


def _ome_zarr_py(path: Path) -> tuple[list[tuple[int, ...]], list[dict], list]:
    """Level shapes, axes and per-level transformations as ome-zarr-py reads them."""
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    node = next(iter(Reader(parse_url(str(path)))()))
    return (
        [tuple(a.shape) for a in node.data],
        node.metadata["axes"],
        node.metadata["coordinateTransformations"],
    )


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("omezarr")
    folder = root / "data"
    folder.mkdir()
    rng = np.random.default_rng(5)
    volume = rng.integers(0, 4000, (66, 70, 90), dtype=np.uint16)
    tifffile.imwrite(
        folder / "vol.tif",
        volume,
        imagej=True,
        resolution=(1 / 0.5, 1 / 0.5),
        metadata={"spacing": 2.0, "unit": "um", "axes": "ZYX"},
    )
    labels = rng.integers(0, 3, (600, 520), dtype=np.uint8)
    tifffile.imwrite(folder / "labels.tif", labels)
    index = root / "lab.duckdb"
    scan(folder, index, jobs=1, progress=False)
    cat = open_catalog(index)
    ids = {cat.entry(i).metadata["name"]: i for i in cat}
    cat.set(ids["labels.tif"], data_level="segmentation")
    return {"root": root, "index": index, "ids": ids, "volume": volume, "labels": labels}


def test_previews_pass_both_validators(lab: dict) -> None:
    path = ensure_preview(lab["index"], lab["ids"]["vol.tif"], min_bytes=0, target=32)
    assert path is not None
    assert_ome_zarr(path)
    shapes, axes, transforms = _ome_zarr_py(path)
    # anisotropic: y and x are halved first, until their voxels are as big as z's
    assert shapes == [(66, 70, 90), (66, 35, 45), (66, 18, 23), (33, 9, 12), (17, 5, 6)]
    assert [(a["name"], a.get("unit")) for a in axes] == [
        ("z", "micrometer"),
        ("y", "micrometer"),
        ("x", "micrometer"),
    ]
    assert transforms[0] == [{"type": "scale", "scale": [2.0, 0.5, 0.5]}]
    assert transforms[1][0]["scale"] == [2.0, 1.0, 1.0]
    assert transforms[1][1]["translation"] == [0.0, 0.25, 0.25]  # centred on level 0
    assert transforms[3][0]["scale"] == [4.0, 70 / 9 * 0.5, 7.5 * 0.5]
    assert zarr.open_array(str(path / "0"), mode="r").chunks == (64, 64, 64)
    attrs = dict(zarr.open_group(str(path), mode="r").attrs)
    assert attrs["multiscales"][0]["type"] == "mean"
    labels = ensure_preview(lab["index"], lab["ids"]["labels.tif"], min_bytes=0, target=128)
    assert labels is not None
    assert_ome_zarr(labels)
    assert dict(zarr.open_group(str(labels), mode="r").attrs)["multiscales"][0]["type"] == "mode"
    level1 = np.asarray(zarr.open_array(str(labels / "1"), mode="r"))
    np.testing.assert_array_equal(level1, omezarr.downsample_mode(lab["labels"], (2, 2)))


def test_zarr_exports_pass_both_validators(lab: dict) -> None:
    dest = lab["root"] / "export"
    export_catalog(open_catalog(lab["index"]), dest, mode="zarr", progress=False)
    stores = {p.name: p for p in ome_zarr_stores(dest / "data")}
    assert set(stores) == {"vol.zarr", "labels.zarr"}
    for store in stores.values():
        assert_ome_zarr(store)
    shapes, axes, transforms = _ome_zarr_py(stores["vol.zarr"])
    assert shapes == [(66, 70, 90)]  # fits a 256² tile: one level
    assert axes[2] == {"name": "x", "type": "space", "unit": "micrometer"}
    assert transforms[0][0] == {"type": "scale", "scale": [2.0, 0.5, 0.5]}
    shapes, _, _ = _ome_zarr_py(stores["labels.zarr"])
    assert shapes == [(600, 520), (300, 260), (150, 130)]  # until a plane fits 256²
    ms = dict(zarr.open_group(str(stores["labels.zarr"]), mode="r").attrs)["multiscales"][0]
    assert ms["type"] == "nearest"  # segmentations keep every second voxel
    level1 = np.asarray(zarr.open_array(str(stores["labels.zarr"] / "1" / "image"), mode="r"))
    np.testing.assert_array_equal(level1, lab["labels"][::2, ::2])


def test_saved_results_pass_both_validators(lab: dict) -> None:
    cat = open_catalog(lab["index"])
    image = xr.DataArray(
        lab["volume"][:20, :, :].repeat(7, axis=2),
        dims=("z", "y", "x"),
        coords={
            "z": ("z", np.arange(20) * 2.0, {"units": "micrometer"}),
            "x": ("x", np.arange(630) * 0.125, {"units": "µm"}),
        },
        name="wide",
    )
    ident = cat.save(image, name="wide")
    path = Path(open_catalog(lab["index"]).entry(ident).metadata["path"])
    assert_ome_zarr(path)
    shapes, axes, transforms = _ome_zarr_py(path)
    assert shapes == [(20, 70, 630), (20, 35, 315)]  # z (20 planes) is kept whole
    assert [a.get("unit") for a in axes] == ["micrometer", None, "micrometer"]
    assert transforms[0][0]["scale"] == [2.0, 1.0, 0.125]
