"""HDF5 reader: DXchange, NeXus/NXtomo, generic and user-block files written by h5py."""

from __future__ import annotations

import datetime as dt
import pickle
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr

from catalog import open_catalog, scan
from catalog.errors import ReaderError
from catalog.readers import Source
from catalog.readers.hdf5 import HDF5Reader, auto_chunks
from catalog.scanner.thumbnail import render
from catalog.testing import ReaderContract, Sample


def write_dxchange(path: Path, volume: np.ndarray, rng: np.random.Generator) -> None:
    with h5py.File(path, "w") as f:
        f["implements"] = "exchange:measurement:process"
        ex = f.create_group("exchange")
        ex.create_dataset("data", data=volume, chunks=(1, *volume.shape[1:]))
        ex["data_white"] = rng.integers(3000, 4000, (3, *volume.shape[1:]), dtype=np.uint16)
        ex["data_dark"] = rng.integers(0, 100, (2, *volume.shape[1:]), dtype=np.uint16)
        theta = ex.create_dataset("theta", data=np.linspace(0, 180, volume.shape[0]))
        theta.attrs["units"] = "degrees"
        det = f.create_group("measurement/instrument/detector")
        for key in ("pixel_size_x", "pixel_size_y"):
            det[key] = 0.65
            det[key].attrs["units"] = "um"
        f["measurement/instrument/name"] = "TOMCAT"
        f["measurement/sample/name"] = "sandstone 3"
        f["process/acquisition/start_date"] = "2024-05-01T10:30:00"


def write_nxtomo(path: Path, volume: np.ndarray) -> None:
    keys = np.array([2, 2, 1, 1, 1] + [0] * (volume.shape[0] - 5), dtype=np.int32)
    with h5py.File(path, "w") as f:
        f.attrs["NX_class"] = "NXroot"
        f.attrs["default"] = "entry"
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry.attrs["default"] = "data"
        entry["definition"] = "NXtomo"
        entry["start_time"] = "2023-11-02T08:15:00"
        entry["title"] = "battery cell"
        inst = entry.create_group("instrument")
        inst.attrs["NX_class"] = "NXinstrument"
        inst["name"] = "ID19"
        det = inst.create_group("detector")
        det.attrs["NX_class"] = "NXdetector"
        det.create_dataset("data", data=volume, chunks=(1, *volume.shape[1:]))
        det["image_key"] = keys
        for key in ("x_pixel_size", "y_pixel_size"):
            det[key] = 1.3e-6
            det[key].attrs["units"] = "m"
        sample = entry.create_group("sample")
        sample.attrs["NX_class"] = "NXsample"
        sample["rotation_angle"] = np.linspace(0, 360, volume.shape[0])
        sample["rotation_angle"].attrs["units"] = "degree"
        data = entry.create_group("data")
        data.attrs["NX_class"] = "NXdata"
        data.attrs["signal"] = "data"
        data["data"] = det["data"]  # NeXus links: hard links to the detector's arrays
        data["image_key"] = det["image_key"]
        data["rotation_angle"] = sample["rotation_angle"]


def _scalar(group: h5py.Group, name: str, value: float, dtype: str = "float32") -> None:
    """A header value stored as EBSD vendors do: a one-element array."""
    group.create_dataset(name, data=np.array([value], dtype=dtype))


EDAX_SIDE = (
    "CI", "Fit", "IQ", "PRIAS Bottom Strip", "PRIAS Center Square", "PRIAS Top Strip",
    "Phi", "Phi1", "Phi2", "SEM Signal", "X Position", "Y Position",
)  # fmt: skip


def write_edax(path: Path, rng: np.random.Generator, rows: int = 6, cols: int = 8) -> np.ndarray:
    """An EDAX/TSL OIM ``.h5`` (the layout kikuchipy and orix read): patterns, per-pattern
    orientation and quality arrays, a header of one-element arrays and a phase with a
    6x6 elastic-constants table and a compound hkl-families table. Returns the patterns."""
    n = rows * cols
    yy, xx = np.mgrid[0:60, 0:60]
    bands = (np.sin((xx + yy) / 4.0) * 60 + 100).astype(np.uint8)
    patterns = (bands[None] + rng.integers(0, 40, (n, 60, 60))).astype(np.uint8)
    with h5py.File(path, "w") as f:
        f["Manufacturer"] = np.bytes_("EDAX")
        f["Version"] = np.bytes_("OIM Analysis 8.6.0 x64 [09-01-2022]")
        data = f.create_group("Scan 1/EBSD/Data")
        data.create_dataset("Pattern", data=patterns, chunks=(1, 60, 60), compression="gzip")
        for name in EDAX_SIDE:
            data[name] = rng.random(n, dtype=np.float32)
        data["Phase"] = np.zeros(n, dtype=np.int32)
        data["Valid"] = np.ones(n, dtype=np.uint8)
        header = f.create_group("Scan 1/EBSD/Header")
        for name, value in (
            ("Camera Azimuthal Angle", 0.0),
            ("Camera Elevation Angle", 10.0),
            ("Sample Tilt", 70.0),
            ("Step X", 1.5),
            ("Step Y", 1.5),
            ("Working Distance", 15.0),
        ):
            _scalar(header, name, value)
        for name, value in (("nColumns", cols), ("nRows", rows), ("Pattern Height", 60)):
            _scalar(header, name, value, "int32")
        _scalar(header, "Pattern Width", 60, "int32")
        header["Grid Type"] = np.bytes_("SqrGrid")
        header["Operator"] = np.bytes_("ada")
        pc = header.create_group("Pattern Center Calibration")
        for name, value in (("x-star", 0.51), ("y-star", 0.78), ("z-star", 0.62)):
            _scalar(pc, name, value)
        phase = header.create_group("Phase/1")
        phase["Formula"] = np.bytes_("Ni")
        phase["Elastic Constants"] = rng.random((6, 6)).astype(np.float32)
        families = np.zeros(4, dtype=[("H", "i4"), ("K", "i4"), ("L", "i4"), ("Use", "i1")])
        families["H"], families["K"], families["L"] = [1, 2, 2, 3], [1, 0, 2, 1], [1, 0, 0, 1]
        phase["hkl Families"] = families
    return patterns


def write_h5oina(
    path: Path, rng: np.random.Generator, *, n: int = 48, patterns: bool = True
) -> dict[str, np.ndarray]:
    """An Oxford Instruments H5OINA file: processed patterns (optional, as in the
    format), Euler angles as an ``(n, 3)`` table, a static background and a secondary
    electron image of another shape. Returns the image arrays written."""
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "w") as f:
        f["Format Version"] = np.bytes_("5.0")
        f["Manufacturer"] = np.bytes_("Oxford Instruments")
        data = f.create_group("1/EBSD/Data")
        if patterns:
            out["1/EBSD/Data/Processed Patterns"] = rng.integers(0, 255, (n, 60, 60), np.uint8)
            data["Processed Patterns"] = out["1/EBSD/Data/Processed Patterns"]
        data["Euler"] = rng.random((n, 3), dtype=np.float32) * np.float32(np.pi)
        data["Euler"].attrs["Unit"] = "rad"
        for name in ("Band Contrast", "Band Slope", "Bands", "Phase"):
            data[name] = rng.integers(0, 255, n, dtype=np.uint8)
        for name in ("Mean Angular Deviation", "X", "Y"):
            data[name] = rng.random(n, dtype=np.float32)
        header = f.create_group("1/EBSD/Header")
        _scalar(header, "X Cells", 8, "int32")
        _scalar(header, "Y Cells", n // 8, "int32")
        for name in ("X Step", "Y Step"):
            _scalar(header, name, 0.25)
            header[name].attrs["Unit"] = "um"
        _scalar(header, "Pattern Height", 60, "int32")
        _scalar(header, "Pattern Width", 60, "int32")
        _scalar(header, "Beam Voltage", 20.0)
        header["Acquisition Date"] = np.bytes_("2024-03-05T14:21:07")
        background = rng.integers(900, 1100, (60, 60), dtype=np.uint16)
        header["Processed Static Background"] = background
        out["1/EBSD/Header/Processed Static Background"] = background
        se = rng.integers(0, 255, (96, 128), dtype=np.uint8)
        f["1/Electron Image/Data/SE/Image 1"] = se
        out["1/Electron Image/Data/SE/Image 1"] = se
    return out


VARIANTS = ["dxchange", "nxtomo", "generic", "userblock"]


class TestHDF5Contract(ReaderContract):
    reader_class = HDF5Reader

    @pytest.fixture(params=VARIANTS)
    def sample(
        self,
        request: pytest.FixtureRequest,
        tmp_path: Path,
        volume: np.ndarray,
        rng: np.random.Generator,
    ) -> Sample:
        kind = request.param
        if kind == "dxchange":
            path = tmp_path / "tomo.h5"
            write_dxchange(path, volume, rng)
            return Sample(
                Source.single(path),
                volume,
                "zyx",
                {"x": 0.65e-6, "y": 0.65e-6},
                modality="CT",
                kind="container",
                data_var="exchange/data",
            )
        if kind == "nxtomo":
            path = tmp_path / "scan.nxs"
            write_nxtomo(path, volume)
            return Sample(
                Source.single(path),
                volume,
                "zyx",
                {"x": 1.3e-6, "y": 1.3e-6},
                modality="CT",
                kind="container",
                data_var="entry/data/data",
            )
        if kind == "generic":
            path = tmp_path / "volume.hdf5"
            with h5py.File(path, "w") as f:
                ds = f.create_dataset(
                    "volume", data=volume, chunks=(2, 20, 48), compression="gzip"
                )
                ds.attrs["element_size_um"] = [2.0, 0.5, 0.5]
                f["pixel_count"] = volume.size  # scalar metadata, not an array
            return Sample(
                Source.single(path), volume, "zyx", {"z": 2e-6, "y": 0.5e-6, "x": 0.5e-6}
            )
        path = tmp_path / "with_userblock.h5"
        image = rng.random((40, 48), dtype=np.float32)
        with h5py.File(path, "w", userblock_size=512) as f:
            f["image"] = image
        with open(path, "r+b") as fh:
            fh.write(b"voxcat test user block\n")
        return Sample(Source.single(path), image, "yx")


# -- detection ---------------------------------------------------------------------------


def test_detection_requires_the_signature(tmp_path: Path) -> None:
    reader = HDF5Reader()
    fake = tmp_path / "fake.h5"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(600))
    assert not reader.guess_can_open(fake)
    block = tmp_path / "block.bin"  # any suffix: the signature decides
    with h5py.File(block, "w", userblock_size=1024) as f:
        f["a"] = np.zeros((4, 4))
    assert block.read_bytes()[:8] != b"\x89HDF\r\n\x1a\n"
    assert reader.guess_can_open(block)
    with pytest.raises(ReaderError, match="not an HDF5 file"):
        reader.describe(Source.single(fake))


# -- layouts and metadata ------------------------------------------------------------------


def test_dxchange_metadata(tmp_path: Path, volume: np.ndarray, rng: np.random.Generator) -> None:
    path = tmp_path / "tomo.h5"
    write_dxchange(path, volume, rng)
    info = HDF5Reader().describe(Source.single(path))
    assert info.primary == "exchange/data" and info.kind == "container"
    assert info.modality == "CT" and info.data_level == "raw"
    assert info.instrument == "TOMCAT"
    assert info.acquired == dt.datetime(2024, 5, 1, 10, 30)
    assert info.units == {"x": "µm", "y": "µm"}
    assert set(info.arrays) == {"exchange/data", "exchange/data_white", "exchange/data_dark"}
    assert info.arrays["exchange/data"].dims == ("z", "y", "x")
    assert info.meta["layout"] == "dxchange"
    assert info.meta["theta"] == {"count": 12, "unit": "degrees", "min": 0.0, "max": 180.0}
    assert info.meta["flats"] == [3, 40, 48] and info.meta["darks"] == [2, 40, 48]
    assert info.meta["sample"] == "sandstone 3"
    ds = HDF5Reader().open(Source.single(path))
    assert ds["exchange/data_white"].dims == (
        "exchange_data_white_dim0",
        "exchange_data_white_dim1",
        "exchange_data_white_dim2",
    )
    np.testing.assert_allclose(ds["exchange/theta"].values, np.linspace(0, 180, 12))
    assert ds.attrs["modality"] == "CT" and ds.attrs["primary"] == "exchange/data"


def test_nxtomo_metadata(tmp_path: Path, volume: np.ndarray) -> None:
    path = tmp_path / "scan.nxs"
    write_nxtomo(path, volume)
    info = HDF5Reader().describe(Source.single(path))
    assert info.meta["layout"] == "nxtomo"
    assert info.primary == "entry/data/data"
    assert info.data_level == "raw" and info.modality == "CT"
    assert info.instrument == "ID19"
    assert info.acquired == dt.datetime(2023, 11, 2, 8, 15)
    assert info.meta["image_key"] == {"darks": 2, "flats": 3, "projections": 7}
    assert info.meta["rotation_angle"]["max"] == 360.0
    assert info.meta["nexus"]["definition"] == "NXtomo"
    assert info.meta["title"] == "battery cell"
    assert info.units == {"x": "m", "y": "m"}


def test_generic_nexus_uses_the_signal(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "saxs.nxs"
    with h5py.File(path, "w") as f:
        entry = f.create_group("scan_1")
        entry.attrs["NX_class"] = "NXentry"
        data = entry.create_group("result")
        data.attrs["NX_class"] = "NXdata"
        data.attrs["signal"] = "intensity"
        det = entry.create_group("a_detector")  # visited first: h5py names links by it
        det["frame"] = rng.random((30, 30), dtype=np.float32)
        data["intensity"] = det["frame"]  # the signal is a hard link
        data["mask"] = np.zeros((64, 64), dtype=np.uint8)  # larger, but not the signal
    info = HDF5Reader().describe(Source.single(path))
    assert info.primary == "scan_1/result/intensity" and info.kind == "container"
    assert set(info.arrays) == {"scan_1/result/intensity", "scan_1/result/mask"}
    ds = HDF5Reader().open(Source.single(path))
    assert ds["scan_1/result/intensity"].dims == ("y", "x")
    assert info.modality is None and info.data_level is None


def test_generic_container_names_other_dims(tmp_path: Path, volume: np.ndarray) -> None:
    path = tmp_path / "two.h5"
    with h5py.File(path, "w") as f:
        f["labels/seg"] = (volume > 1000).astype(np.uint8)[:, :20]
        f["raw"] = volume
        f["raw"].attrs["description"] = "raw volume"
        f.attrs["operator"] = "ada"
    reader = HDF5Reader()
    info = reader.describe(Source.single(path))
    assert info.kind == "container" and info.primary == "raw"
    assert info.arrays["labels/seg"].dims == (
        "labels_seg_dim0",
        "labels_seg_dim1",
        "labels_seg_dim2",
    )
    assert info.meta["attrs"] == {"operator": "ada"}
    ds = reader.open(Source.single(path))
    assert isinstance(ds, xr.Dataset)
    assert ds["raw"].dims == ("z", "y", "x")
    np.testing.assert_array_equal(ds["labels/seg"].values, (volume > 1000)[:, :20])


# -- EBSD and other files of several arrays -------------------------------------------------


def test_edax_ebsd_patterns_are_the_primary(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "Ni_map.h5"
    patterns = write_edax(path, rng)
    reader = HDF5Reader()
    info = reader.describe(Source.single(path))
    primary = "Scan 1/EBSD/Data/Pattern"
    assert info.primary == primary and info.kind == "container"
    assert info.shape == (48, 60, 60) and info.axes == "zyx" and info.dtype == "uint8"
    # the 6x6 table is listed, never chosen; the compound table is no array
    assert set(info.arrays) == {primary, "Scan 1/EBSD/Header/Phase/1/Elastic Constants"}
    assert info.arrays[primary].dims == ("z", "y", "x")
    assert (info.modality, info.data_level, info.instrument) == ("EM", "raw", "EDAX")
    ebsd = info.meta["ebsd"]
    assert ebsd["scan"] == "Scan 1" and ebsd["patterns"] == primary
    assert ebsd["manufacturer"] == "EDAX" and ebsd["version"].startswith("OIM Analysis")
    assert (ebsd["rows"], ebsd["columns"], ebsd["n_patterns"]) == (6, 8, 48)
    assert ebsd["step_x"] == pytest.approx(1.5) and ebsd["step_unit"] == "µm"
    assert ebsd["pattern_shape"] == [60, 60] and ebsd["grid"] == "SqrGrid"
    assert ebsd["sample_tilt"] == pytest.approx(70.0)
    assert {"CI", "IQ", "Phi1", "Phase", "X Position"} <= set(ebsd["per_pattern"])
    assert info.meta["layout"] == "ebsd"
    assert info.meta["values"]["Scan 1/EBSD/Header/Phase/1/Formula"] == "Ni"
    ds = reader.open(Source.single(path))
    assert isinstance(ds, xr.Dataset) and ds.attrs["primary"] == primary
    assert ds[primary].dims == ("z", "y", "x")
    np.testing.assert_array_equal(ds[primary].values, patterns)
    # per-pattern values share the patterns' dimension: one selection takes both
    assert ds["Scan 1/EBSD/Data/CI"].dims == ("z",)
    one = ds.isel(z=5)
    np.testing.assert_array_equal(one[primary].values, patterns[5])
    with h5py.File(path, "r") as f:
        assert float(one["Scan 1/EBSD/Data/CI"]) == f["Scan 1/EBSD/Data/CI"][5]
    assert "Scan 1/EBSD/Header/nRows" not in ds  # header values are metadata, not arrays
    # the thumbnail is drawn from the patterns
    np.testing.assert_array_equal(render(ds, info), render(ds[primary], info))


def test_h5oina_two_images_of_different_shape(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "map.h5oina"
    written = write_h5oina(path, rng)
    reader = HDF5Reader()
    assert reader.guess_can_open(path)  # the signature decides, not the suffix
    info = reader.describe(Source.single(path))
    primary = "1/EBSD/Data/Processed Patterns"
    assert info.primary == primary and info.shape == (48, 60, 60)
    assert set(info.arrays) == {*written, "1/EBSD/Data/Euler"}
    assert info.arrays["1/Electron Image/Data/SE/Image 1"].shape == (96, 128)
    assert info.instrument == "Oxford Instruments" and info.modality == "EM"
    assert info.acquired == dt.datetime(2024, 3, 5, 14, 21, 7)
    ebsd = info.meta["ebsd"]
    assert (ebsd["rows"], ebsd["columns"], ebsd["step_y"]) == (6, 8, pytest.approx(0.25))
    assert ebsd["step_unit"] == "um" and ebsd["beam_voltage"] == pytest.approx(20.0)
    ds = reader.open(Source.single(path))
    for name, values in written.items():  # every image array is exposed
        np.testing.assert_array_equal(ds[name].values, values)
    assert ds["1/Electron Image/Data/SE/Image 1"].ndim == 2
    assert ds["1/EBSD/Data/Euler"].shape == (48, 3)


def test_h5oina_without_patterns_shows_its_image_not_a_table(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    path = tmp_path / "no_patterns.h5oina"
    written = write_h5oina(path, rng, n=8000, patterns=False)
    with h5py.File(path, "r") as f:  # the Euler table has more values than the image
        assert f["1/EBSD/Data/Euler"].size > f["1/Electron Image/Data/SE/Image 1"].size
    info = HDF5Reader().describe(Source.single(path))
    assert info.primary == "1/Electron Image/Data/SE/Image 1"
    assert info.shape == (96, 128) and info.axes == "yx"
    assert info.data_level is None and info.meta["layout"] == "ebsd"
    assert "1/EBSD/Data/Euler" in info.arrays and set(written) <= set(info.arrays)


def test_generic_primary_is_the_largest_image_by_bytes(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    path = tmp_path / "several.h5"
    with h5py.File(path, "w") as f:
        f["results/table"] = rng.random((5000, 8))  # 40,000 values: a table, not an image
        f["stack"] = rng.integers(0, 255, (4, 64, 64), dtype=np.uint8)  # 16,384 bytes
        f["map"] = rng.random((100, 90), dtype=np.float32)  # 9,000 values, 36,000 bytes
    info = HDF5Reader().describe(Source.single(path))
    assert info.primary == "map" and info.axes == "yx"
    assert set(info.arrays) == {"map", "stack", "results/table"}
    ds = HDF5Reader().open(Source.single(path))
    assert ds["map"].dims == ("y", "x") and ds["stack"].shape == (4, 64, 64)


def test_ebsd_file_scans_as_its_patterns(tmp_path: Path, rng: np.random.Generator) -> None:
    drive = tmp_path / "drive"
    drive.mkdir()
    patterns = write_edax(drive / "Ni_map.h5", rng)
    index = tmp_path / "lab.duckdb"
    report = scan(drive, index, jobs=1, progress=False)
    assert report["added"] == 1 and report["failed"] == 0
    cat = open_catalog(index)
    (ident,) = list(cat)
    row = cat.df.loc[ident]
    assert list(row["shape"]) == [48, 60, 60] and row["modality"] == "EM"
    meta = cat[ident].metadata
    assert meta["kind"] == "container" and meta["thumbnail"]
    assert meta["arrays"]["Scan 1/EBSD/Data/Pattern"]["dims"] == ["z", "y", "x"]
    ds = cat[ident].read()
    np.testing.assert_array_equal(ds["Scan 1/EBSD/Data/Pattern"][7].values, patterns[7])


def test_rgb_image_axes(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "photo.h5"
    rgb = rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)
    with h5py.File(path, "w") as f:
        f["photo"] = rgb
    arr = HDF5Reader().open(Source.single(path))
    assert arr.dims == ("c", "y", "x")
    np.testing.assert_array_equal(arr.values, rgb.transpose(2, 0, 1))


def test_no_image_array_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "table.h5"
    with h5py.File(path, "w") as f:
        f["series"] = np.arange(100.0)
    with pytest.raises(ReaderError, match="no image-like array"):
        HDF5Reader().describe(Source.single(path))


# -- laziness and errors -------------------------------------------------------------------


def test_open_of_a_big_file_is_lazy(tmp_path: Path) -> None:
    path = tmp_path / "big.h5"
    with h5py.File(path, "w") as f:  # 64 GiB declared, nothing written: tiny file
        f.create_dataset("vol", shape=(4096, 4096, 4096), dtype=np.uint8, chunks=(1, 512, 512))
    start = time.perf_counter()
    info = HDF5Reader().describe(Source.single(path))
    arr = HDF5Reader().open(Source.single(path))
    assert time.perf_counter() - start < 2
    assert info.shape == (4096, 4096, 4096)
    assert arr.data.chunksize == (1, 4096, 4096)  # one z slice per chunk
    assert int(arr[5, 7, 9].values) == 0


def test_corrupt_chunk_fails_at_compute_with_reader_error(
    tmp_path: Path, volume: np.ndarray
) -> None:
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("vol", data=volume, chunks=(1, 40, 48), compression="gzip")
        chunk = ds.id.get_chunk_info(3)
    with open(path, "r+b") as fh:
        fh.seek(chunk.byte_offset)
        fh.write(b"\xff" * chunk.size)
    arr = HDF5Reader().open(Source.single(path))  # metadata is intact
    np.testing.assert_array_equal(arr[0].values, volume[0])
    with pytest.raises(ReaderError, match=str(path)):
        arr.values  # noqa: B018


def test_opened_data_pickles(tmp_path: Path, volume: np.ndarray, rng: np.random.Generator) -> None:
    path = tmp_path / "tomo.h5"
    write_dxchange(path, volume, rng)
    ds = HDF5Reader().open(Source.single(path))
    again = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(again["exchange/data"].values, volume)


def test_auto_chunks_align_with_storage() -> None:
    assert auto_chunks((10, 100, 100), 2) == (10, 100, 100)
    assert auto_chunks((100, 4096, 4096), 2) == (1, 4096, 4096)  # a 32 MB slice stays whole
    assert auto_chunks((4, 16384, 16384), 2) == (1, 256, 16384)  # a 512 MB slice does not
    assert auto_chunks((20000, 20000), 2) == (209, 20000)
    assert auto_chunks((100, 2048, 2048), 2, storage=(3, 64, 64)) == (3, 2048, 2048)
