"""Slice-stack reader: folders of numbered 2-D slices written by tifffile (TIFF) and
Pillow (PNG, BMP)."""

from __future__ import annotations

import datetime as dt
import pickle
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from catalog.errors import ReaderError
from catalog.readers import Source
from catalog.readers.slices import SliceStackReader, find_slices
from catalog.testing import ReaderContract, Sample

VARIANTS = ["tiff", "tiff-imagej", "png16", "png-rgb", "skyscan-bmp"]

SKYSCAN_LOG = """[System]
Scanner=Skyscan1272
Software Version=1.1.19
[Acquisition]
Image Pixel Size (um)=9.999
Study Date and Time=28 Jun 2019  11h:05m:25s
Source Voltage (kV)=  60
[Reconstruction]
Reconstruction Program=NRecon
Result File Type=BMP
Pixel Size (um)=   10.00002
Time and Date=Jun 28, 2019  13:08:23
"""


def write_tiffs(folder: Path, volume: np.ndarray, name: str = "rec_{:04d}.tif", **kw) -> list:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / name.format(k) for k in range(len(volume))]
    for path, image in zip(paths, volume):
        tifffile.imwrite(path, image, **kw)
    return paths


def write_pngs(folder: Path, volume: np.ndarray, name: str = "slice{}.png") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / name.format(k + 1) for k in range(len(volume))]
    for path, image in zip(paths, volume):
        Image.fromarray(image).save(path)
    return paths


def stack(folder: Path) -> Source:
    files = sorted(folder.iterdir())
    sources, _ = SliceStackReader().group(folder, files)
    assert len(sources) == 1, sources
    return sources[0]


class TestSlicesContract(ReaderContract):
    reader_class = SliceStackReader

    @pytest.fixture(params=VARIANTS)
    def sample(self, request: pytest.FixtureRequest, tmp_path: Path, volume: np.ndarray) -> Sample:
        kind = request.param
        folder = tmp_path / kind
        if kind == "tiff":
            write_tiffs(folder, volume, resolution=(1e4, 1e4), resolutionunit="CENTIMETER")
            return Sample(stack(folder), volume, "zyx", spacing={"x": 1e-6, "y": 1e-6})
        if kind == "tiff-imagej":  # ImageJ slices carry the slice spacing too
            meta = {"spacing": 2.0, "unit": "um"}
            write_tiffs(folder, volume, imagej=True, resolution=(2, 2), metadata=meta)
            spacing = {"x": 5e-7, "y": 5e-7, "z": 2e-6}
            return Sample(stack(folder), volume, "zyx", spacing=spacing)
        if kind == "png16":
            write_pngs(folder, volume)
            return Sample(stack(folder), volume, "zyx")
        if kind == "png-rgb":
            rgb = np.stack([volume % 256, volume // 16 % 256, volume % 7], -1).astype(np.uint8)
            write_pngs(folder, rgb)
            return Sample(stack(folder), rgb.transpose(3, 0, 1, 2), "czyx")
        grey = (volume // 16).astype(np.uint8)
        folder.mkdir()
        for k, image in enumerate(grey):
            Image.fromarray(image).save(folder / f"sample_rec{k:08d}.bmp")
        Image.fromarray(grey[0]).save(folder / "sample_rec_spr.bmp")  # not a slice
        (folder / "sample_rec.log").write_text(SKYSCAN_LOG)
        spacing = dict.fromkeys("zyx", 1.000002e-5)
        return Sample(stack(folder), grey, "zyx", spacing=spacing, modality="CT")

    # a stack is a folder: these check the same damage slice by slice
    def test_truncated_file_fails_clearly(
        self, reader: SliceStackReader, sample: Sample, tmp_path: Path
    ) -> None:
        victim = sample.source.files[5]
        victim.write_bytes(victim.read_bytes()[:100])
        reader.describe(sample.source)  # one header: the first slice is intact
        arr = reader.open(sample.source)
        arr[..., 4, :, :].values  # noqa: B018 (other slices still read)
        with pytest.raises(ReaderError, match=victim.name):
            arr.values  # noqa: B018

    def test_empty_file_fails_clearly(
        self, reader: SliceStackReader, sample: Sample, tmp_path: Path
    ) -> None:
        first = sample.source.files[0]
        first.write_bytes(b"")
        with pytest.raises(ReaderError, match=f"{first.name}: empty file"):
            reader.describe(sample.source)


def test_natural_order_and_leftovers(tmp_path: Path, volume: np.ndarray) -> None:
    paths = write_pngs(tmp_path, volume[:11])  # slice1 ... slice11: 10 sorts before 2
    (tmp_path / "notes.txt").write_text("scan notes")
    (tmp_path / "overview.png").write_bytes(paths[0].read_bytes())
    files = sorted(tmp_path.iterdir())
    sources, rest = SliceStackReader().group(tmp_path, files)
    assert [p.name for p in rest] == ["notes.txt", "overview.png"]
    (source,) = sources
    assert [p.name for p in source.files][:3] == ["slice1.png", "slice2.png", "slice3.png"]
    assert source.files == tuple(paths)
    assert source.path == tmp_path and source.name == tmp_path.name
    np.testing.assert_array_equal(SliceStackReader().open(source).values, volume[:11])


def test_pattern_finds_the_slices_again(tmp_path: Path, volume: np.ndarray) -> None:
    paths = write_pngs(tmp_path, volume[:11])
    source = stack(tmp_path)
    assert find_slices(tmp_path, source.options["pattern"]) == paths
    again = Source(path=tmp_path, files=(), options=source.options)  # e.g. from the index
    np.testing.assert_array_equal(SliceStackReader().open(again).values, volume[:11])


def test_two_stacks_in_one_folder(tmp_path: Path, volume: np.ndarray) -> None:
    write_tiffs(tmp_path, volume, name="rec_{:04d}.tif")
    write_tiffs(tmp_path, volume[:5] // 2, name="seg_{:04d}.tif")
    files = sorted(tmp_path.iterdir())
    sources, rest = SliceStackReader().group(tmp_path, files)
    assert rest == []
    by_name = {s.name: s for s in sources}
    assert set(by_name) == {f"{tmp_path.name}_rec", f"{tmp_path.name}_seg"}
    assert len(by_name[f"{tmp_path.name}_seg"].files) == 5
    info = SliceStackReader().describe(by_name[f"{tmp_path.name}_rec"])
    assert info.shape == (12, 40, 48) and info.data_level == "reconstructed"
    assert SliceStackReader().describe(by_name[f"{tmp_path.name}_seg"]).data_level is None


def test_mixed_sizes_do_not_group(tmp_path: Path, volume: np.ndarray) -> None:
    write_tiffs(tmp_path, volume[:4])
    tifffile.imwrite(tmp_path / "rec_0004.tif", volume[4, :20])  # the last one differs
    files = sorted(tmp_path.iterdir())
    sources, rest = SliceStackReader().group(tmp_path, files)
    assert sources == [] and rest == files


def test_mixed_dtypes_and_multipage_do_not_group(tmp_path: Path, volume: np.ndarray) -> None:
    write_tiffs(tmp_path / "a", volume[:4])
    tifffile.imwrite(tmp_path / "a" / "rec_0003.tif", volume[3].astype(np.float32))
    write_tiffs(tmp_path / "b", volume[:4].reshape(2, 2, 40, 48))  # each file has 2 pages
    for folder in (tmp_path / "a", tmp_path / "b"):
        files = sorted(folder.iterdir())
        assert SliceStackReader().group(folder, files) == ([], files)


def test_planar_rgb_tiff_slices(tmp_path: Path, volume: np.ndarray) -> None:
    rgb = np.stack([volume % 256, volume // 16 % 256, volume % 5]).astype(np.uint8)
    write_tiffs(tmp_path, rgb.transpose(1, 0, 2, 3), photometric="rgb", planarconfig="separate")
    arr = SliceStackReader().open(stack(tmp_path))
    assert arr.dims == ("c", "z", "y", "x")
    np.testing.assert_array_equal(arr.values, rgb)


def test_fewer_than_three_do_not_group(tmp_path: Path, volume: np.ndarray) -> None:
    files = write_tiffs(tmp_path, volume[:2])
    assert SliceStackReader().group(tmp_path, files) == ([], files)


def test_a_png_named_tif_does_not_group(tmp_path: Path, volume: np.ndarray) -> None:
    write_tiffs(tmp_path, volume[:4])
    Image.fromarray(volume[3]).save(tmp_path / "rec_0003.tif", format="PNG")
    files = sorted(tmp_path.iterdir())
    assert SliceStackReader().group(tmp_path, files) == ([], files)


def test_skyscan_log_metadata(tmp_path: Path, volume: np.ndarray) -> None:
    for k, image in enumerate((volume // 16).astype(np.uint8)):
        Image.fromarray(image).save(tmp_path / f"sample_rec{k:08d}.bmp")
    (tmp_path / "sample_rec.log").write_text(SKYSCAN_LOG)
    info = SliceStackReader().describe(stack(tmp_path))
    assert info.modality == "CT" and info.instrument == "Skyscan1272"
    assert info.acquired == dt.datetime(2019, 6, 28, 11, 5, 25)
    assert info.data_level == "reconstructed"
    assert info.units == dict.fromkeys("zyx", "µm")
    log = info.meta["log"]
    assert log["file"] == "sample_rec.log"
    assert log["sections"]["Acquisition"]["Source Voltage (kV)"] == "60"


def test_gaps_in_numbering_are_reported(tmp_path: Path, volume: np.ndarray) -> None:
    paths = write_tiffs(tmp_path, volume[:6])
    paths[2].unlink()
    info = SliceStackReader().describe(stack(tmp_path))
    assert info.shape[0] == 5
    assert any("1 gaps" in w for w in info.warnings)


def test_one_chunk_per_slice_and_lazy(tmp_path: Path, volume: np.ndarray) -> None:
    write_tiffs(tmp_path, volume)
    source = stack(tmp_path)
    for path in source.files[1:]:  # only the first header is read before compute
        path.write_bytes(b"II*\x00" + bytes(8))
    start = time.perf_counter()
    arr = SliceStackReader().open(source)
    assert time.perf_counter() - start < 1.0
    assert arr.data.chunks[0] == (1,) * 12
    np.testing.assert_array_equal(arr[0].values, volume[0])


def test_open_result_pickles(tmp_path: Path, volume: np.ndarray) -> None:
    write_pngs(tmp_path, volume)
    arr = SliceStackReader().open(stack(tmp_path))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(arr)).values, volume)


def test_single_files_are_never_stacks(tmp_path: Path, volume: np.ndarray) -> None:
    (path,) = write_tiffs(tmp_path, volume[:1])
    assert not SliceStackReader().guess_can_open(path)
