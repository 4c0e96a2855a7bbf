"""MetaImage reader: .mha and .mhd + data files written by SimpleITK."""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from catalog.errors import ReaderError
from catalog.readers import Source
from catalog.readers.metaimage import MetaImageReader
from catalog.testing import ReaderContract, Sample

VARIANTS = ["mha", "mha-compressed", "mhd", "mhd-compressed", "mha-vector", "mhd-2d"]
SPACING = (0.3, 0.4, 0.6)  # x, y, z in mm


def write(path: Path, array: np.ndarray, *, compress: bool = False, vector: bool = False) -> Path:
    image = sitk.GetImageFromArray(array, isVector=vector)
    image.SetSpacing(SPACING[: image.GetDimension()])
    image.SetOrigin((10.0, 20.0, 30.0)[: image.GetDimension()])
    sitk.WriteImage(image, str(path), useCompression=compress)
    return path


def source_of(path: Path) -> Source:
    if path.suffix == ".mhd":
        sources, rest = MetaImageReader().group(path.parent, sorted(path.parent.iterdir()))
        assert len(sources) == 1 and not rest, (sources, rest)
        return sources[0]
    return Source.single(path)


class TestMetaImageContract(ReaderContract):
    reader_class = MetaImageReader

    @pytest.fixture(params=VARIANTS)
    def sample(self, request: pytest.FixtureRequest, tmp_path: Path, volume: np.ndarray) -> Sample:
        kind = request.param
        folder = tmp_path / kind
        folder.mkdir()
        spacing = {"x": 3e-4, "y": 4e-4, "z": 6e-4}
        if kind == "mha-vector":
            rgb = np.stack([volume % 256, volume // 256, volume % 7], -1).astype(np.uint8)
            path = write(folder / "rgb.mha", rgb, vector=True)
            return Sample(source_of(path), rgb.transpose(3, 0, 1, 2), "czyx", spacing=spacing)
        if kind == "mhd-2d":
            path = write(folder / "plane.mhd", volume[3].astype(np.float32))
            expected = volume[3].astype(np.float32)
            return Sample(source_of(path), expected, "yx", spacing={"x": 3e-4, "y": 4e-4})
        suffix = ".mha" if kind.startswith("mha") else ".mhd"
        path = write(folder / f"ct{suffix}", volume, compress=kind.endswith("compressed"))
        return Sample(source_of(path), volume, "zyx", spacing=spacing)


def test_group_pairs_header_and_data(tmp_path: Path, volume: np.ndarray) -> None:
    write(tmp_path / "a.mhd", volume)
    write(tmp_path / "b.mhd", volume, compress=True)
    write(tmp_path / "c.mha", volume)
    (tmp_path / "notes.txt").write_text("hello")
    files = sorted(tmp_path.iterdir())
    sources, rest = MetaImageReader().group(tmp_path, files)
    assert {s.name: [f.name for f in s.files] for s in sources} == {
        "a": ["a.mhd", "a.raw"],
        "b": ["b.mhd", "b.zraw"],
    }
    assert [p.name for p in rest] == ["c.mha", "notes.txt"]


def test_metadata_from_the_header(tmp_path: Path, volume: np.ndarray) -> None:
    info = MetaImageReader().describe(Source.single(write(tmp_path / "m.mha", volume)))
    assert info.units == {"x": "mm", "y": "mm", "z": "mm"}
    assert info.origin == {"x": 10.0, "y": 20.0, "z": 30.0}
    assert info.meta["header"]["AnatomicalOrientation"] == "RAI"
    assert info.meta["header"]["ElementType"] == "MET_USHORT"
    assert info.meta["compressed"] is False
    arr = MetaImageReader().open(Source.single(tmp_path / "m.mha"))
    assert float(arr.coords["z"][0]) == 30.0 and arr.coords["z"].attrs["units"] == "mm"


def test_detection_needs_suffix_and_header(tmp_path: Path, volume: np.ndarray) -> None:
    reader = MetaImageReader()
    path = write(tmp_path / "m.mhd", volume)
    assert reader.guess_can_open(path)
    assert not reader.guess_can_open(tmp_path / "m.raw")
    fake = tmp_path / "fake.mha"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    assert not reader.guess_can_open(fake)
    with pytest.raises(ReaderError, match=r"fake\.mha"):
        reader.describe(Source.single(fake))


def test_missing_data_file_is_named(tmp_path: Path, volume: np.ndarray) -> None:
    path = write(tmp_path / "lost.mhd", volume)
    (tmp_path / "lost.raw").unlink()
    with pytest.raises(ReaderError, match=r"lost\.raw.*does not exist"):
        MetaImageReader().describe(Source.single(path))


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_data_is_reported_at_describe(
    tmp_path: Path, volume: np.ndarray, compress: bool
) -> None:
    path = write(tmp_path / "cut.mhd", volume, compress=compress)
    data = tmp_path / ("cut.zraw" if compress else "cut.raw")
    data.write_bytes(data.read_bytes()[:500])
    with pytest.raises(ReaderError, match="truncated"):
        MetaImageReader().describe(Source.single(path))


def test_big_endian_data(tmp_path: Path, volume: np.ndarray) -> None:
    path = write(tmp_path / "be.mhd", volume)
    raw = tmp_path / "be.raw"
    raw.write_bytes(np.fromfile(raw, dtype="<u2").astype(">u2").tobytes())
    text = path.read_text().replace(
        "BinaryDataByteOrderMSB = False", "BinaryDataByteOrderMSB = True"
    )
    path.write_text(text)
    arr = MetaImageReader().open(Source.single(path))
    assert arr.dtype == np.uint16
    np.testing.assert_array_equal(arr.values, volume)


def test_list_of_slice_files(tmp_path: Path, volume: np.ndarray) -> None:
    """ElementDataFile = LIST: one raw file per slice; SimpleITK reads the same header."""
    names = []
    for k, plane in enumerate(volume):
        names.append(f"slice{k:03d}.raw")
        plane.astype("<u2").tofile(tmp_path / names[-1])
    header = tmp_path / "stack.mhd"
    header.write_text(
        "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
        "ElementSpacing = 1 1 2\nDimSize = 48 40 12\nElementType = MET_USHORT\n"
        "ElementDataFile = LIST 2D\n" + "\n".join(names) + "\n"
    )
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(header))), volume)
    sources, rest = MetaImageReader().group(tmp_path, sorted(tmp_path.iterdir()))
    assert not rest and len(sources[0].files) == 13
    arr = MetaImageReader().open(sources[0])
    np.testing.assert_array_equal(arr.values, volume)
    assert arr.attrs["voxel_size_m"]["z"] == pytest.approx(2e-3)


def test_open_of_a_big_file_is_lazy(tmp_path: Path) -> None:
    path = write(tmp_path / "big.mha", np.zeros((64, 512, 512), np.uint16))
    reader = MetaImageReader()
    reader.open(Source.single(path))  # warm up imports
    start = time.perf_counter()
    arr = reader.open(Source.single(path))
    assert time.perf_counter() - start < 0.5
    assert arr.data.npartitions > 1
    assert int(arr[40, 3, 3].values) == 0


@pytest.mark.parametrize("compress", [False, True])
def test_open_result_pickles(tmp_path: Path, volume: np.ndarray, compress: bool) -> None:
    path = write(tmp_path / "p.mha", volume, compress=compress)
    arr = MetaImageReader().open(Source.single(path))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(arr)).values, volume)


def test_corrupt_compressed_data_fails_at_compute(tmp_path: Path, volume: np.ndarray) -> None:
    path = write(tmp_path / "z.mhd", volume, compress=True)
    zraw = tmp_path / "z.zraw"
    zraw.write_bytes(b"\x00" * zraw.stat().st_size)  # right size, not zlib
    arr = MetaImageReader().open(Source.single(path))
    with pytest.raises(ReaderError, match=r"z\.zraw: cannot decompress"):
        arr.values  # noqa: B018


def test_a_data_file_elsewhere_is_read_only_when_it_is_one_of_the_files(
    tmp_path: Path, volume: np.ndarray
) -> None:
    """``ElementDataFile = ../x.raw`` or an absolute path: never read for a header alone;
    ``group`` puts the file in the dataset (the scan then checks it lies inside its root)."""
    (tmp_path / "elsewhere").mkdir()
    write(tmp_path / "elsewhere" / "ct.mhd", volume)
    data = tmp_path / "elsewhere" / "ct.raw"
    folder = tmp_path / "headers"
    folder.mkdir()
    text = (tmp_path / "elsewhere" / "ct.mhd").read_text()
    for name, spec in [("rel.mhd", "../elsewhere/ct.raw"), ("abs.mhd", str(data))]:
        header = folder / name
        header.write_text(text.replace("ElementDataFile = ct.raw", f"ElementDataFile = {spec}"))
        with pytest.raises(ReaderError, match=rf"{name}: data file .*ct\.raw lies outside"):
            MetaImageReader().describe(Source.single(header))
    sources, rest = MetaImageReader().group(folder, sorted(folder.iterdir()))
    assert not rest and {s.files for s in sources} == {
        (folder / "abs.mhd", data),
        (folder / "rel.mhd", data),
    }
    for source in sources:
        np.testing.assert_array_equal(MetaImageReader().open(source).values, volume)


def test_a_data_file_that_is_a_pipe_or_a_link_is_never_opened(
    tmp_path: Path, volume: np.ndarray
) -> None:
    header = write(tmp_path / "ct.mhd", volume)
    raw = tmp_path / "ct.raw"
    raw.rename(tmp_path / "kept.raw")
    os.symlink(tmp_path / "kept.raw", raw)  # a link: not read for a header alone
    with pytest.raises(ReaderError, match=r"ct\.raw is a symbolic link"):
        MetaImageReader().describe(Source.single(header))
    raw.unlink()
    os.mkfifo(raw)
    with pytest.raises(ReaderError, match=r"ct\.raw is a named pipe \(FIFO\), not a regular"):
        MetaImageReader().describe(Source.single(header))
