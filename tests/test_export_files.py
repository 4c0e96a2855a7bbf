"""The export's byte moving and conversion helpers: one-pass hashed copies (direct and
buffered writes, every size around the 4 KiB alignment), refusal of a source that
changes while it is copied, deep verification catching a damaged copy, resume under
deep verification, and the Zarr pyramid's fast integer means and read-back check."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import blake3
import numpy as np
import pytest
import xarray as xr

from catalog.errors import ExportError
from catalog.export import convert as conv
from catalog.export import files


def _hashes(data: bytes) -> tuple[str, str]:
    return hashlib.sha256(data).hexdigest(), "b3:" + blake3.blake3(data).hexdigest()


SIZES = [0, 1, 4095, 4096, 4097, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, (3 << 20) + 123]


@pytest.mark.parametrize("size", SIZES)
def test_copy_file_writes_and_hashes_the_bytes_in_one_pass(tmp_path: Path, size: int) -> None:
    data = np.random.default_rng(size).integers(0, 256, size, np.uint8).tobytes()
    src, dst = tmp_path / "src.bin", tmp_path / "dst.bin"
    src.write_bytes(data)
    os.utime(src, ns=(1_000_000_000, 1_234_567_890_123))
    seen: list[int] = []
    sha, b3, n = files.copy_file(src, dst, seen.append)
    assert dst.read_bytes() == data and n == size == sum(seen)
    assert (sha, b3) == _hashes(data) == files.hash_file(dst)
    assert os.stat(dst).st_mtime_ns == 1_234_567_890_123


def test_copy_file_without_direct_io(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file system that refuses O_DIRECT (tmpfs, some network ones) gets buffered writes."""
    real_open = os.open

    def refuse_direct(path, flags, *args):
        if flags & getattr(os, "O_DIRECT", 0):
            raise OSError(22, "Invalid argument")
        return real_open(path, flags, *args)

    monkeypatch.setattr(files.os, "open", refuse_direct)
    data = os.urandom((5 << 20) + 7)
    (tmp_path / "a").write_bytes(data)
    sha, b3, _ = files.copy_file(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "b").read_bytes() == data and (sha, b3) == _hashes(data)


def test_a_source_that_changes_while_it_is_copied_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "growing.bin"
    src.write_bytes(os.urandom(4 << 20))

    def append(n: int) -> None:  # the instrument is still writing to it
        with open(src, "ab") as fh:
            fh.write(b"more")

    with pytest.raises(ExportError, match="changed while it was copied"):
        files.copy_file(src, tmp_path / "copy.bin", append)


def _writer_setup(tmp_path: Path) -> tuple[Path, Path, files.Journal]:
    dest = tmp_path / "out"
    (dest / files.STATE_DIR).mkdir(parents=True)
    src = tmp_path / "a.bin"
    src.write_bytes(os.urandom((2 << 20) + 5))
    return dest, src, files.Journal(dest)


def test_deep_verification_catches_a_copy_the_disk_damaged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest, src, journal = _writer_setup(tmp_path)
    real = files.copy_file

    def bad_disk(s, d, progress=None):  # the device stores one other byte than it took
        out = real(s, d, progress)
        st = os.stat(d)
        with open(d, "r+b") as fh:
            fh.seek(1000)
            byte = fh.read(1)
            fh.seek(1000)
            fh.write(bytes([byte[0] ^ 0xFF]))
        os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns))
        return out

    monkeypatch.setattr(files, "copy_file", bad_disk)
    expected = _hashes(src.read_bytes())[1]
    with (
        pytest.raises(ExportError, match="damaged"),
        files.Writer(dest, journal, "copy", deep=True) as w,
    ):
        w.put(src, dest / "data/x/a.bin", expected)
    assert not (dest / "data/x/a.bin").exists() and not journal.done
    # without deep verification the same damage is not seen (documented): the copy is
    # confirmed by its size and fsync only
    with files.Writer(dest, journal, "copy") as w:
        w.put(src, dest / "data/x/a.bin", expected)
    assert journal.done["data/x/a.bin"]["verified"] == "written"


def test_a_deep_rerun_reads_back_what_an_earlier_run_only_wrote(tmp_path: Path) -> None:
    dest, src, journal = _writer_setup(tmp_path)
    expected = _hashes(src.read_bytes())[1]
    with files.Writer(dest, journal, "copy") as w:
        w.put(src, dest / "data/x/a.bin", expected)
    assert journal.done["data/x/a.bin"]["verified"] == "written"
    journal = files.Journal(dest)
    with files.Writer(dest, journal, "copy", deep=True) as w:
        w.put(src, dest / "data/x/a.bin", expected)
    assert w.skipped == 1 and journal.done["data/x/a.bin"]["verified"] == "reread"
    lines = (dest / files.STATE_DIR / "done.jsonl").read_text().splitlines()
    assert [json.loads(x)["verified"] for x in lines] == ["written", "reread"]
    # a copy damaged since then is written again
    target = dest / "data/x/a.bin"
    st = os.stat(target)
    with open(target, "r+b") as fh:
        fh.write(b"\0\0\0\0")
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    journal.done["data/x/a.bin"]["verified"] = "written"
    with files.Writer(dest, journal, "copy", deep=True) as w:
        w.put(src, target, expected)
    assert w.skipped == 0 and target.read_bytes() == src.read_bytes()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16])
@pytest.mark.parametrize("shape", [(7, 9, 11), (64, 33, 70), (130, 20, 20)])
def test_fast_integer_means_equal_coarsen_mean(dtype, shape) -> None:
    info = np.iinfo(dtype)
    values = np.random.default_rng(1).integers(info.min, info.max, shape, endpoint=True)
    data = xr.DataArray(values.astype(dtype), dims=("z", "y", "x")).chunk({"z": 64, "y": 16})
    data = data.assign_coords(x=np.arange(shape[2]) * 0.5)
    fast = conv._downsample(data, segmentation=False)
    factors = conv._factors(dict(data.sizes))
    slow = data.coarsen(factors, boundary="trim").mean().round().astype(dtype)
    assert fast.dtype == dtype and fast.shape == slow.shape
    np.testing.assert_array_equal(fast.values, slow.values)
    np.testing.assert_array_equal(fast["x"].values, slow["x"].values)


def test_level_zero_is_checked_when_read_back_for_level_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = np.random.default_rng(2).integers(0, 4000, (3, 600, 520), np.uint16)
    image = xr.DataArray(values, dims=("z", "y", "x")).chunk({"z": 1})
    shapes = conv.convert(image, tmp_path / "a.zarr")
    assert shapes.verified and [tuple(s) for s in shapes][:2] == [(3, 600, 520), (3, 300, 260)]
    back = xr.open_zarr(tmp_path / "a.zarr", group="0", consolidated=False)["image"]
    np.testing.assert_array_equal(back.values, values)
    # a block that reads back with other values leaves the conversion unverified, so
    # the exporter compares level 0 with the source value by value
    real = conv._Tap.read_back

    def one_differs(self, block, block_info=None):
        block = np.array(block)
        block.flat[0] ^= 1
        return real(self, block, block_info)

    monkeypatch.setattr(conv._Tap, "read_back", one_differs)
    assert not conv.convert(image, tmp_path / "b.zarr").verified
    small = xr.DataArray(values[:, :100, :100], dims=("z", "y", "x")).chunk({"z": 1})
    assert not conv.convert(small, tmp_path / "c.zarr").verified  # one level: not read back


# -- chunks by bytes, exact scales, text variables, MIME types --------------------------


@pytest.mark.parametrize(
    ("dims", "shape", "itemsize"),
    [
        (("z", "y", "x"), (1800, 2048, 2448), 2),  # a tomogram
        (("t", "z", "y", "x"), (100, 64, 64, 64), 2),  # many small volumes
        (("t", "c", "y", "x"), (500, 3, 4096, 4096), 1),
        (("phony_dim_0", "phony_dim_1"), (100_000, 4096), 4),
        (("z", "y", "x"), (3, 600, 520), 1),
        (("station",), (3,), 64),
    ],
)
def test_chunks_hold_a_few_megabytes_whatever_the_shape(dims, shape, itemsize) -> None:
    from catalog.export.chunking import MAX_BYTES, TARGET_BYTES, chunks_for

    chunks = chunks_for(dims, shape, itemsize)
    nbytes = int(np.prod(chunks)) * itemsize
    total = int(np.prod(shape)) * itemsize
    assert all(1 <= c <= n for c, n in zip(chunks, shape))
    if total <= MAX_BYTES:
        assert chunks == shape  # one chunk
    else:
        assert TARGET_BYTES // 2 < nbytes <= TARGET_BYTES, (chunks, nbytes)
        # cut to powers of two (pyramid levels halve whole chunks), or whole
        assert all(c & (c - 1) == 0 or c == n for c, n in zip(chunks, shape))


def test_scales_are_written_without_float_noise(tmp_path: Path) -> None:
    n = 600
    image = xr.DataArray(
        np.zeros((2, n, n), np.uint8),
        dims=("t", "y", "x"),
        coords={
            "t": ("t", [0.0, 2.5], {"units": "s"}),
            "y": ("y", 10.2 + np.arange(n) * 3.4, {"units": "µm"}),
            "x": ("x", np.arange(n) * 3.4, {"units": "µm"}),
        },
        attrs={"voxel_size_m": {"y": 3.4e-06, "x": 3.4e-06}},
    )
    conv.convert(image, tmp_path / "a.zarr")
    ms = json.loads((tmp_path / "a.zarr" / ".zattrs").read_text())["multiscales"][0]
    assert ms["axes"][0] == {"name": "t", "type": "time", "unit": "second"}
    scales = [d["coordinateTransformations"][0]["scale"] for d in ms["datasets"]]
    assert scales == [[2.5, 3.4, 3.4], [2.5, 6.8, 6.8], [2.5, 13.6, 13.6]]
    assert ms["datasets"][0]["coordinateTransformations"][1]["translation"] == [0.0, 10.2, 0.0]
    assert conv.exact(3.4 * 4) == 13.6 and repr(conv.exact(1e-6 * 3.4)) == "3.4e-06"


def test_text_variables_convert_and_a_shape_mismatch_is_an_export_error(tmp_path: Path) -> None:
    ds = xr.Dataset(
        {
            "name": ("station", np.array(["alpha", "beta", "gämma"], dtype=object)),
            "code": ("station", np.array([b"A1", b"B22", b"C333"])),
            "value": (("station", "y"), np.arange(6.0).reshape(3, 2)),
        }
    ).chunk()
    conv.convert(ds, tmp_path / "a.zarr")
    back = xr.open_zarr(tmp_path / "a.zarr", consolidated=False)
    assert [str(v) for v in back["name"].values] == ["alpha", "beta", "gämma"]
    assert list(back["code"].values) == [b"A1", b"B22", b"C333"]
    from catalog.export.run import _verify_conversion

    row = {"id": "abc", "name": "obs.nc"}
    _verify_conversion(ds, tmp_path / "a.zarr", row)  # equal: no error
    chars = ds.assign(name=(("station", "strlen"), np.zeros((3, 256), "S1")))
    with pytest.raises(
        ExportError, match=r"abc \(obs.nc\): name .* has shape \(3,\), the source \(3, 256\)"
    ):
        _verify_conversion(chars, tmp_path / "a.zarr", row)


def test_a_failed_conversion_leaves_no_temporary_store(tmp_path: Path, monkeypatch) -> None:
    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(conv, "_write_level", fail)
    image = xr.DataArray(np.zeros((4, 8, 8), np.uint8), dims=("z", "y", "x"))
    with pytest.raises(OSError, match="disk full"):
        conv.convert(image, tmp_path / "a.zarr")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "mime"),
    [
        ("data/k2/scan_0001.tif", "image/tiff"),
        ("thumbnails/k2.png", "image/png"),
        ("a/b/photo.JPG", "image/jpeg"),
        ("brain.nii.gz", "application/x-nifti"),
        ("brain.nii", "application/x-nifti"),
        ("tomo.h5", "application/x-hdf5"),
        ("recon.nxs", "application/x-hdf5"),
        ("obs.nc", "application/x-netcdf"),
        ("series/IM0001.dcm", "application/dicom"),
        ("em.mrc", "application/x-mrc"),
        ("ct.nrrd", "application/x-nrrd"),
        ("ct.mhd", "application/x-metaimage"),
        ("vol.zarr/0/image/.zarray", "application/json"),
        ("vol.zarr/0/image/0.0.0", "application/octet-stream"),
        ("catalog.yaml", "application/yaml"),
        ("datasets.parquet", "application/vnd.apache.parquet"),
        ("README.md", "text/markdown"),
    ],
)
def test_mime_types_of_imaging_files(name: str, mime: str) -> None:
    from catalog.export.bag import encoding_format

    assert encoding_format(name) == mime


def test_a_folder_has_the_type_of_its_files() -> None:
    from catalog.export.bag import folder_format

    assert folder_format(["d/rec/a.png", "d/rec/b.png"]) == "image/png"
    assert folder_format(["d/s/1.dcm", "d/s/2.dcm"]) == "application/dicom"
    assert folder_format(["d/x.zarr/.zgroup", "d/x.zarr/0/0.0"]) == "application/x-zarr"
    assert folder_format(["d/a.tif", "d/b.png"]) == "application/octet-stream"
