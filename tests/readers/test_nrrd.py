"""NRRD reader: attached and detached files written by pynrrd."""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path

import nrrd
import numpy as np
import pytest

from catalog.errors import ReaderError
from catalog.readers import Source
from catalog.readers.nrrd_ import NrrdReader
from catalog.testing import ReaderContract, Sample

VARIANTS = ["raw", "gzip", "detached-raw", "detached-gzip", "vector", "plane", "big-endian"]
DIRECTIONS = {
    "space": "left-posterior-superior",
    "space directions": np.diag([0.5, 0.6, 0.7]),  # x, y, z (fastest first)
    "space origin": np.array([-10.0, 20.0, 30.0]),
    "space units": ["mm", "mm", "mm"],
}


def write(path: Path, array: np.ndarray, header: dict, *, detached: bool = False) -> Path:
    nrrd.write(str(path), array, header, detached_header=detached, index_order="C")
    return path


def source_of(path: Path) -> Source:
    if path.suffix == ".nhdr":
        sources, rest = NrrdReader().group(path.parent, sorted(path.parent.iterdir()))
        assert len(sources) == 1 and not rest, (sources, rest)
        return sources[0]
    return Source.single(path)


class TestNrrdContract(ReaderContract):
    reader_class = NrrdReader

    @pytest.fixture(params=VARIANTS)
    def sample(self, request: pytest.FixtureRequest, tmp_path: Path, volume: np.ndarray) -> Sample:
        kind = request.param
        folder = tmp_path / kind
        folder.mkdir()
        spacing = {"x": 5e-4, "y": 6e-4, "z": 7e-4}
        if kind == "raw":
            header = {"encoding": "raw", "spacings": [0.5, 0.6, 0.7], "units": ["mm"] * 3}
            path = write(folder / "v.nrrd", volume, header)
        elif kind == "gzip":
            path = write(folder / "v.nrrd", volume, {**DIRECTIONS, "encoding": "gzip"})
        elif kind.startswith("detached"):
            encoding = kind.split("-")[1]
            path = write(
                folder / "v.nhdr", volume, {**DIRECTIONS, "encoding": encoding}, detached=True
            )
        elif kind == "vector":  # channels fastest: the file's first axis is a 3-vector
            field = np.stack([volume, volume // 2, volume // 3], -1).astype(np.float32)
            header = {"encoding": "raw", "kinds": ["vector", "domain", "domain", "domain"]}
            header["space directions"] = np.vstack([[np.nan] * 3, np.diag([0.5, 0.6, 0.7])])
            header["space"] = "right-anterior-superior"
            path = write(folder / "field.nrrd", field, header)
            return Sample(source_of(path), field.transpose(3, 0, 1, 2), "czyx", spacing=spacing)
        elif kind == "plane":
            header = {"encoding": "raw", "spacings": [2.0, 3.0], "units": ["um", "um"]}
            path = write(folder / "p.nrrd", volume[0].astype(np.int16), header)
            return Sample(
                source_of(path), volume[0].astype(np.int16), "yx", {"x": 2e-6, "y": 3e-6}
            )
        else:
            path = write(
                folder / "be.nrrd", volume.astype(">u2"), {**DIRECTIONS, "encoding": "raw"}
            )
        return Sample(source_of(path), volume, "zyx", spacing=spacing)


def test_header_metadata(tmp_path: Path, volume: np.ndarray) -> None:
    path = write(tmp_path / "m.nrrd", volume, {**DIRECTIONS, "encoding": "raw", "content": "mask"})
    info = NrrdReader().describe(Source.single(path))
    assert info.origin == {"x": -10.0, "y": 20.0, "z": 30.0}
    assert info.units == {"x": "mm", "y": "mm", "z": "mm"}
    assert info.meta["header"]["content"] == "mask"
    assert info.meta["header"]["space"] == "left-posterior-superior"
    assert info.meta["detached"] is False


def test_default_unit_is_mm_and_time_axis(tmp_path: Path, volume: np.ndarray) -> None:
    series = np.stack([volume[:4], volume[4:8]])  # t z y x
    header = {"encoding": "raw", "spacings": [1.5, 1.5, 2.0, np.nan]}
    header["kinds"] = ["domain", "domain", "domain", "time"]
    info = NrrdReader().describe(Source.single(write(tmp_path / "t.nrrd", series, header)))
    assert info.axes == "tzyx" and info.shape == (2, 4, 40, 48)
    assert info.units["x"] == "mm" and info.spacing["z"] == pytest.approx(2e-3)


def test_group_pairs_detached_header(tmp_path: Path, volume: np.ndarray) -> None:
    write(tmp_path / "a.nhdr", volume, {"encoding": "raw"}, detached=True)
    write(tmp_path / "b.nhdr", volume, {"encoding": "gzip"}, detached=True)
    write(tmp_path / "c.nrrd", volume, {"encoding": "raw"})
    (tmp_path / "notes.txt").write_text("hello")
    sources, rest = NrrdReader().group(tmp_path, sorted(tmp_path.iterdir()))
    assert {s.name: [f.name for f in s.files] for s in sources} == {
        "a": ["a.nhdr", "a.raw"],
        "b": ["b.nhdr", "b.raw.gz"],
    }
    assert [p.name for p in rest] == ["c.nrrd", "notes.txt"]


def test_detection_requires_magic(tmp_path: Path) -> None:
    fake = tmp_path / "fake.nrrd"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    assert not NrrdReader().guess_can_open(fake)
    with pytest.raises(ReaderError, match="no NRRD000x magic"):
        NrrdReader().describe(Source.single(fake))


def test_truncated_raw_data_is_reported_at_describe(tmp_path: Path, volume: np.ndarray) -> None:
    path = write(tmp_path / "cut.nhdr", volume, {"encoding": "raw"}, detached=True)
    raw = tmp_path / "cut.raw"
    raw.write_bytes(raw.read_bytes()[:1000])
    with pytest.raises(ReaderError, match=r"cut\.raw: truncated"):
        NrrdReader().describe(Source.single(path))


def test_corrupt_gzip_fails_at_compute_naming_the_file(tmp_path: Path, volume: np.ndarray) -> None:
    path = write(tmp_path / "z.nrrd", volume, {"encoding": "gzip"})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 2000])  # header intact, gzip stream cut
    arr = NrrdReader().open(Source.single(path))
    assert arr.shape == volume.shape
    with pytest.raises(ReaderError, match=r"z\.nrrd"):
        arr.values  # noqa: B018


def test_byte_skip_minus_one(tmp_path: Path, volume: np.ndarray) -> None:
    """``byte skip: -1``: the raw data is the end of the data file, after any preamble."""
    path = write(tmp_path / "s.nhdr", volume, {"encoding": "raw"}, detached=True)
    raw = tmp_path / "s.raw"
    raw.write_bytes(b"VENDOR PREAMBLE" * 7 + raw.read_bytes())
    path.write_text(path.read_text().replace("data file:", "byte skip: -1\ndata file:"))
    np.testing.assert_array_equal(NrrdReader().open(Source.single(path)).values, volume)


def test_open_of_a_big_file_is_lazy(tmp_path: Path) -> None:
    path = write(tmp_path / "big.nrrd", np.zeros((64, 512, 512), np.uint16), {"encoding": "raw"})
    reader = NrrdReader()
    reader.open(Source.single(path))  # warm up imports
    start = time.perf_counter()
    arr = reader.open(Source.single(path))
    assert time.perf_counter() - start < 0.5
    assert arr.data.npartitions > 1
    assert int(arr[40, 3, 3].values) == 0


@pytest.mark.parametrize("encoding", ["raw", "gzip"])
def test_open_result_pickles(tmp_path: Path, volume: np.ndarray, encoding: str) -> None:
    path = write(tmp_path / "p.nrrd", volume, {"encoding": encoding})
    arr = NrrdReader().open(Source.single(path))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(arr)).values, volume)


def test_a_detached_data_file_elsewhere_is_read_only_when_it_is_one_of_the_files(
    tmp_path: Path, volume: np.ndarray
) -> None:
    (tmp_path / "elsewhere").mkdir()
    write(tmp_path / "elsewhere" / "v.nhdr", volume, {"encoding": "raw"}, detached=True)
    data = tmp_path / "elsewhere" / "v.raw"
    folder = tmp_path / "headers"
    folder.mkdir()
    text = (tmp_path / "elsewhere" / "v.nhdr").read_text()
    for name, spec in [("rel.nhdr", "../elsewhere/v.raw"), ("abs.nhdr", str(data))]:
        header = folder / name
        header.write_text(text.replace("data file: v.raw", f"data file: {spec}"))
        with pytest.raises(ReaderError, match=rf"{name}: data file .*v\.raw lies outside"):
            NrrdReader().describe(Source.single(header))
    sources, rest = NrrdReader().group(folder, sorted(folder.iterdir()))
    assert not rest and {s.files for s in sources} == {
        (folder / "abs.nhdr", data),
        (folder / "rel.nhdr", data),
    }
    for source in sources:
        np.testing.assert_array_equal(NrrdReader().open(source).values, volume)
    os.mkfifo(folder / "pipe.raw")
    (folder / "p.nhdr").write_text(text.replace("data file: v.raw", "data file: pipe.raw"))
    with pytest.raises(ReaderError, match=r"pipe\.raw is a named pipe \(FIFO\)"):
        NrrdReader().describe(Source.single(folder / "p.nhdr"))
