"""NIfTI reader: NIfTI-1/-2 images, compressed files and .hdr/.img pairs written by nibabel."""

from __future__ import annotations

import gzip
import pickle
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from catalog.errors import ReaderError
from catalog.readers import Source
from catalog.readers.nifti import NiftiReader
from catalog.testing import ReaderContract, Sample

VARIANTS = ["nii", "nii.gz", "nifti2", "pair", "timeseries", "scaled", "microns"]
ZOOMS = (0.8, 0.9, 1.2)  # x, y, z


def image(data_zyx: np.ndarray, cls: type = nib.Nifti1Image, unit: str = "mm") -> nib.Nifti1Image:
    """A NIfTI image of a ``(.., z, y, x)`` array (stored as x, y, z, ...)."""
    data = np.ascontiguousarray(data_zyx.transpose(tuple(range(data_zyx.ndim))[::-1]))
    affine = np.diag([*ZOOMS, 1.0])
    affine[:3, 3] = (-20.0, 15.0, 7.5)
    img = cls(data, affine)
    img.header.set_xyzt_units(unit, "sec")
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=2)
    return img


def save(img: nib.Nifti1Image, path: Path) -> Path:
    nib.save(img, str(path))
    return path


def source_of(path: Path) -> Source:
    sources, rest = NiftiReader().group(path.parent, sorted(path.parent.iterdir()))
    if sources:
        assert len(sources) == 1 and not rest, (sources, rest)
        return sources[0]
    return Source.single(path)


class TestNiftiContract(ReaderContract):
    reader_class = NiftiReader

    @pytest.fixture(params=VARIANTS)
    def sample(self, request: pytest.FixtureRequest, tmp_path: Path, volume: np.ndarray) -> Sample:
        kind = request.param
        folder = tmp_path / kind.replace(".", "_")
        folder.mkdir()
        mm = {"x": 8e-4, "y": 9e-4, "z": 1.2e-3}
        data = volume.astype(np.int16)
        if kind == "nii":
            path = save(image(data), folder / "brain.nii")
        elif kind == "nii.gz":
            path = save(image(data), folder / "brain.nii.gz")
        elif kind == "nifti2":
            path = save(image(data, nib.Nifti2Image), folder / "brain.nii")
        elif kind == "pair":
            pair = nib.Nifti1Pair(image(data).dataobj, image(data).affine, image(data).header)
            path = save(pair, folder / "brain.img").with_suffix(".hdr")
        elif kind == "timeseries":
            series = np.stack([data, data // 2, data // 3])  # t z y x
            path = save(image(series), folder / "bold.nii.gz")
            return Sample(source_of(path), series, "tzyx", spacing=mm)
        elif kind == "scaled":  # scl_slope/scl_inter are applied as nibabel applies them
            img = image(data)
            img.header.set_slope_inter(0.25, -10.0)
            path = save(img, folder / "scaled.nii")
            expected = np.asarray(nib.load(str(path)).dataobj).transpose(2, 1, 0)
            assert expected.dtype.kind == "f"
            return Sample(source_of(path), expected, "zyx", spacing=mm)
        else:
            path = save(image(data, unit="micron"), folder / "cells.nii")
            mm = {"x": 8e-7, "y": 9e-7, "z": 1.2e-6}
        return Sample(source_of(path), data, "zyx", spacing=mm)


def test_header_metadata(tmp_path: Path, volume: np.ndarray) -> None:
    img = image(volume[:4].astype(np.uint8))
    img.header["descrip"] = b"T1 MPRAGE phantom"
    img.header.set_intent("t test", (12.0,), name="stat")
    info = NiftiReader().describe(Source.single(save(img, tmp_path / "t.nii")))
    meta = info.meta
    assert meta["format"] == "NIfTI-1" and meta["descrip"] == "T1 MPRAGE phantom"
    assert meta["intent"] == "t test" and meta["intent_params"] == [12.0]
    assert meta["intent_name"] == "stat"
    assert (meta["qform_code"], meta["sform_code"]) == ("scanner", "aligned")
    assert meta["affine"][0] == [0.8, 0.0, 0.0, -20.0]
    assert meta["xyzt_units"] == ["mm", "sec"]
    assert info.origin == {"x": -20.0, "y": 15.0, "z": 7.5}


def test_unknown_unit_is_assumed_mm(tmp_path: Path, volume: np.ndarray) -> None:
    img = nib.Nifti1Image(volume[:3].transpose(2, 1, 0).copy(), np.diag([2.0, 2.0, 3.0, 1.0]))
    info = NiftiReader().describe(Source.single(save(img, tmp_path / "u.nii")))
    assert info.units == {"x": "mm", "y": "mm", "z": "mm"}
    assert info.meta["spatial_unit_assumed"] is True
    assert info.spacing["z"] == pytest.approx(3e-3)


def test_vector_field_has_a_channel_axis(tmp_path: Path, volume: np.ndarray) -> None:
    field = np.stack([volume, volume // 2, volume // 4]).astype(np.float32)  # c z y x
    data = field.transpose(3, 2, 1, 0)[:, :, :, None, :]  # x y z t=1 u=3
    img = nib.Nifti1Image(np.ascontiguousarray(data), np.eye(4))
    img.header.set_intent("vector")
    arr = NiftiReader().open(Source.single(save(img, tmp_path / "warp.nii")))
    assert "".join(arr.dims) == "tczyx" and arr.shape == (1, 3, 12, 40, 48)
    np.testing.assert_array_equal(arr.values[0], field)


def test_detection_by_magic(tmp_path: Path, volume: np.ndarray) -> None:
    reader = NiftiReader()
    path = save(image(volume), tmp_path / "b.nii")
    renamed = tmp_path / "b.bin"
    renamed.write_bytes(path.read_bytes())
    assert reader.guess_can_open(renamed)  # the magic decides, not the name
    fake = tmp_path / "fake.nii.gz"
    fake.write_bytes(gzip.compress(np.random.default_rng(1).bytes(2000)))
    assert not reader.guess_can_open(fake)
    assert reader.guess_can_open(save(image(volume, nib.Nifti2Image), tmp_path / "c.nii.gz"))
    with pytest.raises(ReaderError, match="not a NIfTI file"):
        reader.describe(Source.single(fake))


def test_group_pairs_hdr_and_img(tmp_path: Path, volume: np.ndarray) -> None:
    img = image(volume)
    save(nib.Nifti1Pair(img.dataobj, img.affine, img.header), tmp_path / "a.img")
    save(img, tmp_path / "b.nii")
    analyze = tmp_path / "old.hdr"  # an Analyze 7.5 header has no NIfTI magic
    analyze.write_bytes((348).to_bytes(4, "little") + bytes(344))
    files = sorted(tmp_path.iterdir())
    assert [p.name for p in files] == ["a.hdr", "a.img", "b.nii", "old.hdr"]
    sources, rest = NiftiReader().group(tmp_path, files)
    assert [(s.name, [f.name for f in s.files]) for s in sources] == [("a", ["a.hdr", "a.img"])]
    assert [p.name for p in rest] == ["b.nii", "old.hdr"]
    assert not NiftiReader().guess_can_open(tmp_path / "a.img")


def test_missing_img_of_a_pair(tmp_path: Path, volume: np.ndarray) -> None:
    img = image(volume)
    hdr = save(nib.Nifti1Pair(img.dataobj, img.affine, img.header), tmp_path / "a.img")
    hdr.unlink()
    with pytest.raises(ReaderError, match=r"a\.hdr"):
        NiftiReader().describe(Source.single(tmp_path / "a.hdr"))


def test_truncated_data_is_reported_at_describe(tmp_path: Path, volume: np.ndarray) -> None:
    path = save(image(volume), tmp_path / "cut.nii")
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(ReaderError, match=r"cut\.nii: truncated"):
        NiftiReader().describe(Source.single(path))


def test_open_of_a_big_file_is_lazy(tmp_path: Path) -> None:
    path = save(image(np.zeros((64, 512, 512), np.int16)), tmp_path / "big.nii")
    reader = NiftiReader()
    reader.open(Source.single(path))  # warm up imports
    start = time.perf_counter()
    arr = reader.open(Source.single(path))
    assert time.perf_counter() - start < 0.5
    assert arr.data.npartitions > 1
    assert int(arr[40, 3, 3].values) == 0
    gz = save(image(np.zeros((4, 8, 8), np.int16)), tmp_path / "small.nii.gz")
    assert reader.open(Source.single(gz)).data.npartitions == 1


@pytest.mark.parametrize("name", ["p.nii", "p.nii.gz"])
def test_open_result_pickles(tmp_path: Path, volume: np.ndarray, name: str) -> None:
    path = save(image(volume), tmp_path / name)
    arr = NiftiReader().open(Source.single(path))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(arr)).values, volume)
