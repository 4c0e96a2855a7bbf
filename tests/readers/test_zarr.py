"""Zarr reader: v2/v3 arrays and groups written by zarr, OME-Zarr 0.4/0.5 by ome-zarr."""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr
from ome_zarr.format import FormatV04, FormatV05
from ome_zarr.writer import write_image

from catalog.errors import ReaderError
from catalog.readers import Source
from catalog.readers.zarr_ import MARKERS, ZarrReader
from catalog.testing import ReaderContract, Sample

from .contract import files_in

CHANNELS = [
    {
        "label": "DAPI",
        "color": "0000FF",
        "window": {"start": 0, "end": 4000, "min": 0, "max": 65535},
    },
    {
        "label": "GFP",
        "color": "00FF00",
        "window": {"start": 0, "end": 4000, "min": 0, "max": 65535},
    },
]


def write_ome(path: Path, image: np.ndarray, version: str) -> None:
    """An OME-Zarr czyx image with three levels, written by ome-zarr itself."""
    fmt = FormatV04() if version == "0.4" else FormatV05()
    group = zarr.open_group(path, mode="w", zarr_format=2 if version == "0.4" else 3)
    write_image(
        image,
        group,
        scale_factors=[2, 4],
        fmt=fmt,
        axes="czyx",
        scale={"c": 1.0, "z": 2.0, "y": 0.5, "x": 0.5},
        axes_units={"z": "micrometer", "y": "micrometer", "x": "micrometer"},
        omero={"channels": CHANNELS},
    )


def channels(volume: np.ndarray) -> np.ndarray:
    return np.stack([volume, volume // 2])


def chunk_files(store: Path) -> list[Path]:
    return [p for p in files_in(store) if p.name not in MARKERS and p.stat().st_size]


VARIANTS = ["v2-named-array", "v3-array", "v2-group", "v3-named-group", "ome-0.4", "ome-0.5"]


class TestZarrContract(ReaderContract):
    reader_class = ZarrReader

    @pytest.fixture(params=VARIANTS)
    def sample(self, request: pytest.FixtureRequest, tmp_path: Path, volume: np.ndarray) -> Sample:
        kind = request.param
        path = tmp_path / f"{kind}.zarr"
        if kind == "v2-named-array":  # stored (row, col, plane): the names give the axes
            zarr.create_array(
                path,
                data=volume.transpose(1, 2, 0),
                chunks=(20, 24, 4),
                zarr_format=2,
                attributes={"_ARRAY_DIMENSIONS": ["row", "col", "plane"]},
            )
            sample = Sample(Source.single(path), volume, "zyx")
        elif kind == "v3-array":  # no names: axes by position
            data = channels(volume)
            zarr.create_array(path, data=data, chunks=(1, 4, 40, 48))
            sample = Sample(Source.single(path), data, "czyx")
        elif kind == "v2-group":  # no dimension metadata: assembled by hand
            group = zarr.open_group(path, mode="w", zarr_format=2)
            group.create_array("raw", data=volume, chunks=(2, 40, 48))
            group.create_group("seg").create_array("mask", data=volume[0] > 1000)
            sample = Sample(Source.single(path), volume, "zyx", kind="container", data_var="raw")
        elif kind == "v3-named-group":  # dimension_names everywhere: opened by xarray
            group = zarr.open_group(path, mode="w", zarr_format=3, attributes={"title": "t1"})
            group.create_array(
                "vol", data=volume, chunks=(4, 40, 48), dimension_names=["depth", "row", "col"]
            )
            depth = group.create_array(
                "depth", data=np.arange(12) * 2.5, dimension_names=["depth"]
            )
            depth.attrs["units"] = "um"
            group.create_array("mask", data=volume[0] > 1000, dimension_names=["row", "col"])
            sample = Sample(
                Source.single(path), volume, "zyx", {"z": 2.5e-6}, kind="container", data_var="vol"
            )
        else:
            path = tmp_path / f"{kind}.ome.zarr"
            write_ome(path, channels(volume), kind.split("-")[1])
            sample = Sample(
                Source.single(path),
                channels(volume),
                "czyx",
                {"z": 2e-6, "y": 0.5e-6, "x": 0.5e-6},
                levels=3,
                modality="LM",
            )
        sample.source = ZarrReader().claim_directory(path)
        return sample

    # A store is a folder: damage its chunks and metadata instead of truncating a file.
    def test_truncated_file_fails_clearly(
        self, reader: ZarrReader, sample: Sample, tmp_path: Path
    ) -> None:
        chunk = max(chunk_files(sample.source.path), key=lambda p: p.stat().st_size)
        chunk.write_bytes(chunk.read_bytes()[: chunk.stat().st_size // 3])
        reader.describe(sample.source)  # metadata is intact
        obj = reader.open(sample.source)
        arr = obj[sample.data_var] if isinstance(obj, xr.Dataset) else obj
        with pytest.raises(ReaderError, match=str(sample.source.path)):
            arr.values  # noqa: B018

    def test_empty_file_fails_clearly(
        self, reader: ZarrReader, sample: Sample, tmp_path: Path
    ) -> None:
        top = next(sample.source.path / m for m in MARKERS if (sample.source.path / m).is_file())
        top.write_bytes(b"")
        with pytest.raises(ReaderError, match=str(sample.source.path)):
            reader.describe(sample.source)


# -- claiming folders ----------------------------------------------------------------------


def test_claims_stores_and_only_stores(tmp_path: Path, volume: np.ndarray) -> None:
    reader = ZarrReader()
    store = tmp_path / "cells.ome.zarr"
    write_ome(store, channels(volume), "0.5")
    source = reader.claim_directory(store)
    assert source is not None and source.path == store
    assert list(source.files) == files_in(store)
    assert store / "zarr.json" in source.files and store / "s2" / "zarr.json" in source.files
    plain = tmp_path / "notes"
    plain.mkdir()
    (plain / "a.txt").write_text("hello")
    assert reader.claim_directory(plain) is None
    assert reader.claim_directory(tmp_path / "missing.zarr") is None
    assert reader.claim_directory(plain / "a.txt") is None
    v2 = tmp_path / "unnamed"  # no .zarr suffix needed: the metadata decides
    zarr.create_array(v2, data=volume, zarr_format=2)
    assert reader.claim_directory(v2) is not None
    assert not reader.guess_can_open(plain / "a.txt")


# -- OME-Zarr ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_ome_metadata_and_levels(tmp_path: Path, volume: np.ndarray, version: str) -> None:
    store = tmp_path / "cells.ome.zarr"
    image = channels(volume)
    write_ome(store, image, version)
    reader = ZarrReader()
    source = reader.claim_directory(store)
    info = reader.describe(source)
    assert info.meta["ngff_version"] == version
    assert info.meta["zarr_format"] == (2 if version == "0.4" else 3)
    assert info.channels == ["DAPI", "GFP"]
    assert info.units == {"z": "µm", "y": "µm", "x": "µm"}
    assert info.levels == [(2, 12, 40, 48), (2, 12, 20, 24), (2, 12, 10, 12)]
    assert [a["name"] for a in info.meta["axes"]] == ["c", "z", "y", "x"]
    level1 = reader.open(source, level=1)
    assert level1.attrs["level"] == 1
    assert list(level1.coords["c"].values) == ["DAPI", "GFP"]
    assert float(level1.x[1] - level1.x[0]) == pytest.approx(1.0)  # µm, twice level 0
    assert float(level1.z[1] - level1.z[0]) == pytest.approx(2.0)  # z is not downsampled
    stored = zarr.open_group(store, mode="r")["s1"][:]
    np.testing.assert_array_equal(level1.values, stored)


def ngff_levels(store: Path) -> list[tuple[list[float], list[float]]]:
    """Each level's (scale, translation) as the store's NGFF metadata says."""
    attrs = dict(zarr.open_group(store, mode="r").attrs)
    ms = (attrs.get("ome") or attrs)["multiscales"][0]
    out = []
    for d in ms["datasets"]:
        by_type = {t["type"]: t[t["type"]] for t in d["coordinateTransformations"]}
        out.append((by_type["scale"], by_type.get("translation", [0.0] * len(by_type["scale"]))))
    return out


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_ome_levels_use_their_own_translation(
    tmp_path: Path, volume: np.ndarray, version: str
) -> None:
    store = tmp_path / "cells.ome.zarr"
    write_ome(store, channels(volume), version)
    reader = ZarrReader()
    source = reader.claim_directory(store)
    transforms = ngff_levels(store)
    assert transforms[1][1][-1] != 0  # ome-zarr centres its downsampled levels
    for k, (scale, translation) in enumerate(transforms):
        level = reader.open(source, level=k)
        for i, dim in enumerate("czyx"):
            if dim == "c":
                continue
            n = level.sizes[dim]
            expected = translation[i] + np.arange(n) * scale[i]
            np.testing.assert_allclose(level[dim].values, expected, err_msg=f"{dim} of {k}")
            assert level[dim].attrs["units"] == "µm"
    # a 2x mean pyramid: a level-1 pixel sits at the centre of the two it averages
    x0, x1 = reader.open(source).x.values, reader.open(source, level=1).x.values
    assert x1[0] == pytest.approx((x0[0] + x0[1]) / 2)
    assert x1[3] == pytest.approx((x0[6] + x0[7]) / 2)


def test_ome_global_and_per_level_transforms(tmp_path: Path, volume: np.ndarray) -> None:
    """Hand-written 0.4 metadata: per-level scale and translation, then the
    multiscale's own scale and translation (which NGFF applies last)."""
    store = tmp_path / "shifted.ome.zarr"
    group = zarr.open_group(store, mode="w", zarr_format=2)
    group.create_array("0", data=volume)
    group.create_array("1", data=volume[:, ::2, ::2])
    group.attrs["multiscales"] = [
        {
            "version": "0.4",
            "axes": [{"name": n, "type": "space", "unit": "micrometer"} for n in ("z", "y", "x")],
            "datasets": [
                {
                    "path": "0",
                    "coordinateTransformations": [
                        {"type": "scale", "scale": [1.0, 0.5, 0.5]},
                        {"type": "translation", "translation": [3.0, 10.0, 20.0]},
                    ],
                },
                {
                    "path": "1",
                    "coordinateTransformations": [
                        {"type": "scale", "scale": [1.0, 1.0, 1.0]},
                        {"type": "translation", "translation": [3.0, 10.25, 20.25]},
                    ],
                },
            ],
            "coordinateTransformations": [
                {"type": "scale", "scale": [2.0, 1.0, 1.0]},
                {"type": "translation", "translation": [-1.0, 0.0, 100.0]},
            ],
        }
    ]
    reader = ZarrReader()
    source = reader.claim_directory(store)
    info = reader.describe(source)
    assert info.spacing == {"z": pytest.approx(2e-6), "y": pytest.approx(5e-7), "x": 5e-7}
    assert info.origin == {"z": 5.0, "y": 10.0, "x": 120.0}
    level0, level1 = reader.open(source), reader.open(source, level=1)
    np.testing.assert_allclose(level0.z.values, 2 * (3 + np.arange(12)) - 1)
    np.testing.assert_allclose(level0.x.values, 120 + np.arange(48) * 0.5)
    np.testing.assert_allclose(level1.y.values, 10.25 + np.arange(20) * 1.0)
    np.testing.assert_allclose(level1.x.values, 120.25 + np.arange(24) * 1.0)
    np.testing.assert_array_equal(level1.values, volume[:, ::2, ::2])


def test_ome_modality_from_metadata(tmp_path: Path, volume: np.ndarray) -> None:
    store = tmp_path / "em.ome.zarr"
    write_ome(store, channels(volume), "0.4")
    zarr.open_group(store, mode="r+").attrs["modality"] = "EM"
    assert ZarrReader().describe(ZarrReader().claim_directory(store)).modality == "EM"


def test_bioformats2raw_layout(tmp_path: Path, volume: np.ndarray) -> None:
    store = tmp_path / "converted.ome.zarr"
    root = zarr.open_group(store, mode="w", zarr_format=2)
    root.attrs["bioformats2raw.layout"] = 3
    write_image(volume, root.create_group("0"), scale_factors=[2], fmt=FormatV04(), axes="zyx")
    reader = ZarrReader()
    source = reader.claim_directory(store)
    info = reader.describe(source)
    assert info.axes == "zyx" and len(info.levels) == 2 and info.meta["image"] == "0"
    np.testing.assert_array_equal(reader.open(source).values, volume)


# -- groups --------------------------------------------------------------------------------


def test_group_containers(tmp_path: Path, volume: np.ndarray) -> None:
    store = tmp_path / "g.zarr"
    group = zarr.open_group(store, mode="w", zarr_format=2)
    group.create_array("raw", data=volume)
    group.create_group("seg").create_array("mask", data=volume[0] > 1000)
    reader = ZarrReader()
    info = reader.describe(reader.claim_directory(store))
    assert info.primary == "raw" and info.kind == "container"
    assert info.arrays["seg/mask"].dims == ("seg_mask_dim0", "seg_mask_dim1")
    ds = reader.open(reader.claim_directory(store))
    np.testing.assert_array_equal(ds["seg/mask"].values, volume[0] > 1000)


def test_named_group_opens_through_xarray(tmp_path: Path, volume: np.ndarray) -> None:
    store = tmp_path / "xr.zarr"
    ds = xr.Dataset(
        {"density": (("z", "y", "x"), volume), "mean": (("y", "x"), volume.mean(axis=0))},
        coords={"z": ("z", np.arange(12) * 5.0, {"units": "nm"})},
        attrs={"history": "written by xarray"},
    )
    ds.to_zarr(store, zarr_format=2, consolidated=True)
    reader = ZarrReader()
    info = reader.describe(reader.claim_directory(store))
    assert info.primary == "density" and info.spacing == {"z": pytest.approx(5e-9)}
    assert info.meta["attrs"]["history"] == "written by xarray"
    out = reader.open(reader.claim_directory(store))
    assert out.attrs["primary"] == "density"
    xr.testing.assert_allclose(out["mean"].compute(), ds["mean"])


def test_group_without_arrays_is_an_error(tmp_path: Path) -> None:
    store = tmp_path / "empty.zarr"
    zarr.open_group(store, mode="w")
    with pytest.raises(ReaderError, match="no numeric arrays"):
        ZarrReader().describe(ZarrReader().claim_directory(store))


# -- laziness ------------------------------------------------------------------------------


def test_describe_reads_metadata_only(tmp_path: Path, volume: np.ndarray) -> None:
    store = tmp_path / "cells.ome.zarr"
    write_ome(store, channels(volume), "0.4")
    for chunk in chunk_files(store):
        chunk.unlink()  # without any chunk, only metadata is left
    reader = ZarrReader()
    info = reader.describe(reader.claim_directory(store))
    assert len(info.levels) == 3 and info.channels == ["DAPI", "GFP"]


def test_open_of_a_big_array_is_lazy(tmp_path: Path) -> None:
    store = tmp_path / "big.zarr"  # 64 GiB declared, no chunk written
    zarr.create_array(
        store,
        shape=(4096, 4096, 4096),
        dtype="uint8",
        chunks=(1, 512, 512),
        dimension_names=["z", "y", "x"],
    )
    reader = ZarrReader()
    start = time.perf_counter()
    arr = reader.open(reader.claim_directory(store))
    assert time.perf_counter() - start < 2
    assert arr.data.chunksize == (1, 4096, 4096)
    assert int(arr[1, 2, 3].values) == 0


def test_opened_data_pickles(tmp_path: Path, volume: np.ndarray) -> None:
    store = tmp_path / "cells.ome.zarr"
    write_ome(store, channels(volume), "0.5")
    arr = ZarrReader().open(ZarrReader().claim_directory(store), level=2)
    again = pickle.loads(pickle.dumps(arr))
    np.testing.assert_array_equal(again.values, arr.values)
