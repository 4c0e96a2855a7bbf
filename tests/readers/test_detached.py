"""Detached headers, one implementation for MetaImage and NRRD (catalog/readers/detached.py):
file patterns (including a negative step), lists, and headers read without the pixels
after them. Headers and raw files are written here with numpy, byte by byte."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from catalog import scan
from catalog.errors import ReaderError
from catalog.readers import Reader, Source
from catalog.readers.detached import data_files, is_list, pattern_names
from catalog.readers.metaimage import MetaImageReader
from catalog.readers.nrrd_ import NrrdReader
from catalog.testing import ReadSpy, spy_available

from ..conftest import q


def metaimage_header(spec: str, shape: tuple[int, ...]) -> str:
    z, y, x = shape
    return (
        "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
        f"ElementSpacing = 0.5 0.5 2\nDimSize = {x} {y} {z}\nElementType = MET_USHORT\n"
        f"ElementDataFile = {spec}\n"
    )


def nrrd_header(spec: str, shape: tuple[int, ...]) -> str:
    z, y, x = shape
    return (
        "NRRD0004\ntype: uint16\ndimension: 3\n"
        f"sizes: {x} {y} {z}\nspacings: 0.5 0.5 2\nendian: little\nencoding: raw\n"
        f"data file: {spec}\n"
    )


FORMATS = {
    "metaimage": (MetaImageReader, "stack.mhd", metaimage_header),
    "nrrd": (NrrdReader, "stack.nhdr", nrrd_header),
}


def write_stack(folder: Path, fmt: str, volume: np.ndarray, spec: str, numbers: list[int]) -> Path:
    """One raw file per slice: slice ``k`` of ``volume`` goes to ``numbers[k]``."""
    _, name, header = FORMATS[fmt]
    for k, n in enumerate(numbers):
        volume[k].astype("<u2").tofile(folder / f"slice{n:03d}.raw")
    path = folder / name
    path.write_text(header(spec, volume.shape))
    return path


def grouped(reader: Reader, folder: Path) -> Source:
    sources, rest = reader.group(folder, sorted(folder.iterdir()))
    assert len(sources) == 1 and not rest, (sources, rest)
    return sources[0]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("spec", "numbers"),
    [
        ("slice%03d.raw 1 12 1", list(range(1, 13))),
        ("slice%03d.raw 12 1 -1", list(range(12, 0, -1))),  # counts down
        ("slice%03d.raw 22 0 -2", list(range(22, -1, -2))),  # down in steps of 2
        ("slice%03d.raw 0 33 3", list(range(0, 34, 3))),
    ],
)
def test_file_patterns(
    tmp_path: Path, volume: np.ndarray, fmt: str, spec: str, numbers: list[int]
) -> None:
    """Both formats read a pattern alike: first to last included, a negative step counts
    down (NRRD's definition; MetaImage had dropped the last file of a negative step)."""
    reader = FORMATS[fmt][0]()
    header = write_stack(tmp_path, fmt, volume, spec, numbers)
    source = grouped(reader, tmp_path)
    assert [f.name for f in source.files] == [header.name] + [f"slice{n:03d}.raw" for n in numbers]
    info = reader.describe(source)
    assert info.shape == volume.shape and info.axes == "zyx"
    assert info.spacing["z"] == pytest.approx(2e-3)
    np.testing.assert_array_equal(reader.open(source).values, volume)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_negative_step_scans_as_one_dataset(
    tmp_path: Path, volume: np.ndarray, fmt: str
) -> None:
    drive = tmp_path / "drive"
    drive.mkdir()
    write_stack(drive, fmt, volume, "slice%03d.raw 11 0 -1", list(range(11, -1, -1)))
    index = tmp_path / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False, thumbnails=False)
    assert q(index, "SELECT reader, shape FROM datasets") == [(fmt, [12, 40, 48])]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_step_that_never_reaches_the_end_is_named(
    tmp_path: Path, volume: np.ndarray, fmt: str
) -> None:
    reader = FORMATS[fmt][0]()
    header = write_stack(tmp_path, fmt, volume, "slice%03d.raw 1 12 -1", list(range(1, 13)))
    with pytest.raises(ReaderError, match=r"step of -1 never reaches 12") as caught:
        reader.describe(Source(path=header, files=tuple(sorted(tmp_path.iterdir()))))
    assert str(header) in str(caught.value)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_list_of_files(tmp_path: Path, volume: np.ndarray, fmt: str) -> None:
    numbers = list(range(12))
    write_stack(tmp_path, fmt, volume, "LIST", numbers)
    path = next(tmp_path.glob("stack.*"))
    with path.open("a") as fh:
        fh.write("".join(f"slice{n:03d}.raw\n" for n in numbers))
    reader = FORMATS[fmt][0]()
    np.testing.assert_array_equal(reader.open(grouped(reader, tmp_path)).values, volume)


@pytest.mark.skipif(not spy_available(), reason="counts reads on Linux only")
@pytest.mark.parametrize("name", ["big.mha", "big.nrrd"])
def test_an_attached_header_is_read_without_the_pixels_after_it(tmp_path: Path, name: str) -> None:
    """The header is read in growing blocks until it ends (it was read as one 64 KB
    (MetaImage) or 1 MB (NRRD) block, pixels and all)."""
    data = np.zeros((8, 256, 256), np.uint16)
    path = tmp_path / name
    header = (metaimage_header if name.endswith(".mha") else nrrd_header)("LOCAL", data.shape)
    if name.endswith(".nrrd"):
        header = header.replace("data file: LOCAL\n", "\n")
    path.write_bytes(header.encode() + data.tobytes())
    reader = MetaImageReader() if name.endswith(".mha") else NrrdReader()
    reader.describe(Source.single(path))  # imports
    with ReadSpy() as spy:
        info = reader.describe(Source.single(path))
    assert info.shape == data.shape
    assert spy.bytes_read <= 16384 < data.nbytes, spy.bytes_read


def test_pattern_names() -> None:
    assert pattern_names("a%d.raw 3 1 -1") == ["a3.raw", "a2.raw", "a1.raw"]
    assert pattern_names("a%d.raw 1 5 2") == ["a1.raw", "a3.raw", "a5.raw"]
    assert pattern_names("a%d.raw 2 2 -1") == ["a2.raw"]
    assert pattern_names("a%d.raw 1 3 0") == ["a1.raw", "a2.raw", "a3.raw"]  # 0: step 1
    assert pattern_names("a%d.raw 1 4 1 2") == ["a1.raw", "a2.raw", "a3.raw", "a4.raw"]
    assert pattern_names("plain.raw") is None
    with pytest.raises(ValueError, match="never reaches"):
        pattern_names("a%d.raw 5 1 1")
    assert is_list("LIST") and is_list("list 2D") and not is_list("listing.raw")
    assert [p.name for p in data_files(Path("/d/h.mhd"), "../x.raw", [])] == ["x.raw"]
