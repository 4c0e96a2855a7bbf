"""MRC reader: volumes, image stacks and images written by mrcfile."""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from catalog.errors import ReaderError
from catalog.readers import Source
from catalog.readers.mrc import MrcReader
from catalog.testing import ReaderContract, Sample

VARIANTS = ["volume", "stack", "image", "int8-map", "uint16-rec", "big-endian"]


def write(
    path: Path, data: np.ndarray, *, voxel: float | tuple | None = 3.4, stack: bool = False
) -> Path:
    with mrcfile.new(str(path), overwrite=True) as mrc:
        mrc.set_data(data)
        if stack:
            mrc.set_image_stack()
        if voxel is not None:
            mrc.voxel_size = voxel
        mrc.header.origin = (10.0, 0.0, -5.0)
        mrc.add_label("Created by a voxcat test")
    return path


class TestMrcContract(ReaderContract):
    reader_class = MrcReader

    @pytest.fixture(params=VARIANTS)
    def sample(self, request: pytest.FixtureRequest, tmp_path: Path, volume: np.ndarray) -> Sample:
        kind = request.param
        rng = np.random.default_rng(7)
        em = rng.normal(0, 1, volume.shape).astype(np.float32)
        iso = dict.fromkeys("zyx", 3.4e-10)
        if kind == "volume":
            path = write(tmp_path / "tomo.mrc", em)
            return Sample(Source.single(path), em, "zyx", spacing=iso, modality="EM")
        if kind == "stack":  # particles: z is the image index, no z spacing
            path = write(tmp_path / "particles.mrcs", em, voxel=1.1, stack=True)
            spacing = {"x": 1.1e-10, "y": 1.1e-10}
            return Sample(Source.single(path), em, "zyx", spacing=spacing, modality="EM")
        if kind == "image":
            path = write(tmp_path / "micrograph.mrc", em[0], voxel=(0.8, 0.9, 1.0))
            return Sample(Source.single(path), em[0], "yx", spacing={"x": 8e-11, "y": 9e-11})
        if kind == "int8-map":
            data = (volume % 200 - 100).astype(np.int8)
            path = write(tmp_path / "density.map", data, voxel=(1.0, 2.0, 3.0))
            return Sample(Source.single(path), data, "zyx", {"x": 1e-10, "y": 2e-10, "z": 3e-10})
        if kind == "uint16-rec":
            path = write(tmp_path / "tomo.rec", volume)
            return Sample(Source.single(path), volume, "zyx", spacing=iso)
        path = write(tmp_path / "be.mrc", em.astype(">f4"))
        return Sample(Source.single(path), em, "zyx", spacing=iso)


def test_header_metadata(tmp_path: Path) -> None:
    data = np.zeros((4, 5, 6), np.float32)
    info = MrcReader().describe(Source.single(write(tmp_path / "m.mrc", data)))
    assert info.units == {"x": "Å", "y": "Å", "z": "Å"}
    assert info.origin == {"x": 10.0, "z": -5.0}
    assert "Created by a voxcat test" in info.meta["labels"]
    assert info.meta["mode"] == 2 and info.meta["stack"] is False
    assert info.meta["sampling"] == [6, 5, 4]


def test_stack_is_flagged_and_has_no_z_spacing(tmp_path: Path) -> None:
    path = write(tmp_path / "p.mrcs", np.zeros((7, 8, 8), np.float32), voxel=1.5, stack=True)
    info = MrcReader().describe(Source.single(path))
    assert info.meta["stack"] is True and info.meta["ispg"] == 0
    assert "z" not in info.spacing and info.spacing["x"] == pytest.approx(1.5e-10)


def test_zero_voxel_size_gives_no_spacing(tmp_path: Path) -> None:
    path = write(tmp_path / "n.mrc", np.zeros((3, 4, 5), np.float32), voxel=None)
    info = MrcReader().describe(Source.single(path))
    assert info.spacing == {} and info.axes == "zyx"


def test_permuted_axis_order(tmp_path: Path) -> None:
    """MAPC/MAPR/MAPS = 3, 1, 2: columns run along z, rows along x, sections along y."""
    data = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)  # (sections, rows, cols)
    path = write(tmp_path / "perm.map", data, voxel=(1.0, 2.0, 3.0))
    with mrcfile.open(str(path), mode="r+") as mrc:
        mrc.header.mapc, mrc.header.mapr, mrc.header.maps = 3, 1, 2
    reader = MrcReader()
    info = reader.describe(Source.single(path))
    assert info.axes == "zyx" and info.shape == (4, 2, 3)
    arr = reader.open(Source.single(path))
    np.testing.assert_array_equal(arr.values, data.transpose(2, 0, 1))
    assert info.spacing["z"] == pytest.approx(3e-10)


def test_detection_needs_suffix_and_sane_header(tmp_path: Path) -> None:
    reader = MrcReader()
    path = write(tmp_path / "ok.mrc", np.zeros((2, 3, 4), np.float32))
    assert reader.guess_can_open(path)
    renamed = tmp_path / "ok.bin"
    renamed.write_bytes(path.read_bytes())
    assert not reader.guess_can_open(renamed)  # MRC has no magic: the suffix is required
    text = tmp_path / "notes.mrc"
    text.write_text("not a map\n" * 200)
    assert not reader.guess_can_open(text)
    with pytest.raises(ReaderError, match="not an MRC file"):
        reader.describe(Source.single(text))


def test_truncated_data_is_reported_at_describe(tmp_path: Path, volume: np.ndarray) -> None:
    path = write(tmp_path / "cut.mrc", volume.astype(np.float32))
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(ReaderError, match=r"cut\.mrc: truncated MRC file"):
        MrcReader().describe(Source.single(path))


def test_damage_after_describe_fails_at_compute(tmp_path: Path, volume: np.ndarray) -> None:
    path = write(tmp_path / "late.mrc", volume.astype(np.float32))
    arr = MrcReader().open(Source.single(path))
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(ReaderError, match=r"late\.mrc"):
        arr.values  # noqa: B018


def test_open_of_a_big_file_is_lazy(tmp_path: Path) -> None:
    path = write(tmp_path / "big.mrc", np.zeros((64, 512, 512), np.float32))
    reader = MrcReader()
    reader.open(Source.single(path))  # warm up imports
    start = time.perf_counter()
    arr = reader.open(Source.single(path))
    assert time.perf_counter() - start < 0.5
    assert arr.data.npartitions > 1
    assert float(arr[40, 3, 3].values) == 0.0


def test_open_result_pickles(tmp_path: Path, volume: np.ndarray) -> None:
    path = write(tmp_path / "p.mrc", volume)
    arr = MrcReader().open(Source.single(path))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(arr)).values, volume)
