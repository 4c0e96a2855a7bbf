"""DICOM pixel data: pydicom's own test files, compressed series, damaged pixels.

The reference is always pydicom itself (``dcmread(path).pixel_array``) with the decoders
voxcat installs: voxcat must read exactly what pydicom decodes, and fail, naming the
file and the cause, where pydicom cannot. Only files on disk are used (the test files
in pydicom's wheel, and series written here); nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import imagecodecs
import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate
from pydicom.pixels import get_decoder
from pydicom.uid import (
    UID,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)

from catalog import open_catalog, scan
from catalog.errors import ReaderError
from catalog.readers import Source
from catalog.readers.dicom import DicomReader, is_dicom
from catalog.readers.dicom_codecs import DECODER_DEPENDENCIES, LABEL, register

from .test_dicom import series_source, write_series

WHEEL = Path(pydicom.__file__).parent / "data" / "test_files"
WHEEL_FILES = sorted(p for p in WHEEL.glob("*.dcm") if is_dicom(p))
LOSSY_DCT = (JPEGBaseline8Bit, JPEGExtended12Bit)


def pydicom_pixels(path: Path) -> tuple[np.ndarray | None, pydicom.Dataset | None]:
    """pydicom's pixel_array of ``path`` (None when pydicom cannot decode it)."""
    register()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(path)
            return ds.pixel_array, ds
        except Exception:
            return None, None


def voxcat_pixels(info_axes: str, values: np.ndarray) -> np.ndarray:
    """voxcat's array in pydicom's layout (voxcat puts colour channels first)."""
    return np.moveaxis(values, 0, -1) if "c" in info_axes else values


def test_the_wheel_holds_the_compressed_syntaxes() -> None:
    """The parametrised test below covers every codec family (guards a thinner wheel)."""
    syntaxes = set()
    for path in WHEEL_FILES:
        meta = pydicom.filereader.read_file_meta_info(path)
        if meta.get("TransferSyntaxUID"):
            syntaxes.add(UID(meta.TransferSyntaxUID).name)
    for family in ("JPEG-LS Lossless", "JPEG 2000", "RLE", "JPEG Extended", "Big Endian"):
        assert any(family in name for name in syntaxes), family
    assert len(WHEEL_FILES) > 50


@pytest.mark.parametrize("path", WHEEL_FILES, ids=lambda p: p.name)
def test_pydicom_test_file_reads_as_pydicom_decodes_it(path: Path) -> None:
    reference, ds = pydicom_pixels(path)
    reader = DicomReader()
    source = Source.single(path)
    if reference is None:  # no image, or pixels pydicom cannot decode
        with pytest.raises(ReaderError, match=re.escape(str(path))):
            reader.describe(source)
        return
    info = reader.describe(source)
    arr = reader.open(source)
    assert arr.chunks is not None  # dask-backed
    values = voxcat_pixels(info.axes, arr.values)
    assert values.shape == reference.shape
    assert voxcat_pixels(info.axes, np.empty(info.shape, np.uint8)).shape == reference.shape
    slope, intercept = float(ds.get("RescaleSlope") or 1), float(ds.get("RescaleIntercept") or 0)
    if (slope, intercept) == (1.0, 0.0):
        assert np.dtype(info.dtype) == reference.dtype.newbyteorder("=")  # native order
        np.testing.assert_array_equal(values, reference)
    else:  # voxcat applies the rescale (to int16 when it fits, else float32)
        assert info.dtype in ("int16", "float32")
        np.testing.assert_array_equal(values, reference * slope + intercept)
    pixel = ds.get("PixelSpacing")
    if pixel:
        assert info.spacing["y"] == pytest.approx(float(pixel[0]) * 1e-3)
        assert info.spacing["x"] == pytest.approx(float(pixel[1]) * 1e-3)
    else:
        assert "x" not in info.spacing and "y" not in info.spacing
    thickness = ds.get("SpacingBetweenSlices") or ds.get("SliceThickness")
    if "z" in info.axes and thickness:
        assert info.spacing["z"] == pytest.approx(float(thickness) * 1e-3)
    elif "z" in info.axes:
        assert "z" not in info.spacing


@pytest.mark.parametrize(
    "name", ["MR_truncated.dcm", "JPEG2000-embedded-sequence-delimiter.dcm", "badVR.dcm"]
)
def test_files_pydicom_cannot_decode_fail_with_the_cause(name: str) -> None:
    path = WHEEL / name
    assert pydicom_pixels(path)[0] is None
    causes = {
        "MR_truncated.dcm": "truncated pixel data: 8130 of 8192 bytes present",
        "JPEG2000-embedded-sequence-delimiter.dcm": "cannot decode pixel data (JPEG 2000",
        "badVR.dcm": "NumberOfFrames is '1A', not a number",
    }
    with pytest.raises(ReaderError) as caught:
        DicomReader().describe(Source.single(path))
    assert caught.value.path == str(path) and causes[name] in caught.value.cause
    assert "\n" not in str(caught.value)  # pydicom's list of plugin failures, on one line


def imagecodecs_files() -> list[Path]:
    """The wheel's images in a syntax the imagecodecs plugin decodes, that pylibjpeg reads."""
    found = []
    for path in WHEEL_FILES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        syntax = ds.file_meta.get("TransferSyntaxUID")
        if syntax in DECODER_DEPENDENCIES and ds.get("Rows") and path.name not in BAD_FOR_LIBJPEG:
            found.append(path)
    return found


#: Files pylibjpeg cannot decode (tested below and in the failure tests above).
BAD_FOR_LIBJPEG = {"JPEG-lossy.dcm", "JPEG2000-embedded-sequence-delimiter.dcm"}


@pytest.mark.parametrize("path", imagecodecs_files(), ids=lambda p: p.name)
def test_imagecodecs_plugin_decodes_as_pylibjpeg_does(path: Path) -> None:
    """The same samples as pylibjpeg: exact, except one level of IDCT rounding in lossy JPEG."""
    register()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path)
        decoder = get_decoder(ds.file_meta.TransferSyntaxUID)
        assert LABEL in decoder.available_plugins
        expected, _ = decoder.as_array(ds, raw=True, decoding_plugin="pylibjpeg")
        got, _ = decoder.as_array(ds, raw=True, decoding_plugin=LABEL)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    tolerance = 1 if ds.file_meta.TransferSyntaxUID in LOSSY_DCT else 0
    assert np.abs(got.astype(np.int64) - expected).max() <= tolerance


def test_imagecodecs_reads_the_12_bit_jpeg_libjpeg_rejects() -> None:
    """JPEG-lossy.dcm has a non-conformant scan header; JPGExtended.dcm is its fixed copy."""
    bad, fixed = WHEEL / "JPEG-lossy.dcm", WHEEL / "JPGExtended.dcm"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(bad)
        with pytest.raises(RuntimeError, match="pylibjpeg"):
            get_decoder(JPEGExtended12Bit).as_array(ds, decoding_plugin="pylibjpeg")
        ds = pydicom.dcmread(fixed)
        ds.pixel_array_options(decoding_plugin="pylibjpeg")
        reference = ds.pixel_array
    arr = DicomReader().open(Source.single(bad)).values
    assert arr.dtype == np.uint16 and arr.shape == reference.shape == (1024, 256)
    assert np.abs(arr.astype(int) - reference).max() <= 1  # 12-bit IDCT rounding


# -- series written here, one transfer syntax each ------------------------------------


def _encapsulated(encode: Callable[[np.ndarray], bytes], syntax: str, lossy: bool = False):
    def recode(ds: pydicom.Dataset) -> None:
        frame = ds.pixel_array
        ds.PixelData = encapsulate([encode(frame)])
        ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = syntax
        if lossy:
            ds.LossyImageCompression = "01"

    return recode


RECODE = {
    "rle": lambda ds: ds.compress(RLELossless, encoding_plugin="pydicom"),
    "jpeg2000-lossless": lambda ds: ds.compress(JPEG2000Lossless),
    "jpeg-ls-lossless": _encapsulated(imagecodecs.jpegls_encode, JPEGLSLossless),
    "jpeg-lossless-sv1": _encapsulated(
        lambda a: imagecodecs.jpeg8_encode(a, lossless=True, predictor=1, bitspersample=12),
        JPEGLosslessSV1,
    ),
    "jpeg-12-bit-lossy": _encapsulated(
        lambda a: imagecodecs.jpeg8_encode(a, level=95, bitspersample=12),
        JPEGExtended12Bit,
        lossy=True,
    ),
}


def recode_files(paths: list[Path], recode: Callable[[pydicom.Dataset], None]) -> None:
    for path in paths:
        ds = pydicom.dcmread(path)
        recode(ds)
        ds.save_as(path, enforce_file_format=True)


@pytest.mark.parametrize("kind", list(RECODE))
def test_compressed_series_read_lazily_as_pydicom_decodes(
    kind: str, tmp_path: Path, volume: np.ndarray
) -> None:
    paths = write_series(tmp_path, volume[:6], rescale=None)
    recode_files(paths, RECODE[kind])
    syntax = pydicom.filereader.read_file_meta_info(paths[0]).TransferSyntaxUID
    assert syntax.is_encapsulated
    reader = DicomReader()
    source = series_source(tmp_path)
    info = reader.describe(source)
    assert info.meta["transfer_syntax"] == syntax.name and not info.warnings
    assert info.shape == (6, 40, 48) and info.dtype == "uint16"
    assert info.spacing == pytest.approx({"z": 1.25e-3, "y": 5e-4, "x": 6.25e-4})
    arr = reader.open(source)
    assert arr.data.npartitions == 6  # one file per dask task, decoded there
    by_z = sorted(paths, key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2]))
    reference = np.stack([pydicom_pixels(p)[0] for p in by_z])
    np.testing.assert_array_equal(arr.values, reference)
    if "lossy" not in kind:
        np.testing.assert_array_equal(reference, volume[:6])
    else:
        assert 0 < np.abs(reference.astype(int) - volume[:6]).max() < 64


# -- damaged pixels fail the dataset at scan time --------------------------------------


def break_codestream(path: Path) -> None:
    """Overwrite the start of the first fragment's codestream (its SOC/SOI marker)."""
    data = bytearray(path.read_bytes())
    fragment = data.index(b"\xfe\xff\x00\xe0", data.index(b"\xfe\xff\x00\xe0") + 8) + 8
    data[fragment : fragment + 16] = bytes(16)
    path.write_bytes(bytes(data))


def test_damaged_pixels_fail_the_scan_with_file_and_cause(
    tmp_path: Path, volume: np.ndarray
) -> None:
    root = tmp_path / "drive"
    write_series(root / "good", volume[:6], description="good")
    cut = write_series(root / "cut", volume[:6], order=list(range(6)), description="cut")
    cut[5].write_bytes(cut[5].read_bytes()[:-100])  # the last slice, not the one decoded
    corrupt = write_series(root / "corrupt", volume[:6], order=list(range(6)), description="c")
    recode_files(corrupt, RECODE["jpeg2000-lossless"])
    break_codestream(corrupt[3])  # the middle slice: describe decodes it
    cut_fragment = write_series(root / "cutfrag", volume[:4], order=list(range(4)))
    recode_files(cut_fragment, RECODE["rle"])
    cut_fragment[0].write_bytes(cut_fragment[0].read_bytes()[:-60])
    for name in ("MR_truncated.dcm", "JPEG2000-embedded-sequence-delimiter.dcm"):
        (root / name[:-4]).mkdir()
        shutil.copy(WHEEL / name, root / name[:-4] / name)
    index = tmp_path / "lab.duckdb"
    report = scan(root, index, jobs=1, progress=False)
    assert report["added"] == 1 and report["failed"] == 5
    cat = open_catalog(index)
    found = {Path(cat[i].metadata["path"]).name: cat[i].metadata for i in cat}
    assert found["good"]["status"] == "ok" and not found["good"]["warnings"]
    causes = {
        "cut": (cut[5], "truncated pixel data: 3740 of 3840 bytes present"),
        "corrupt": (corrupt[3], "cannot decode pixel data (JPEG 2000 Image Compression (Lossless"),
        "cutfrag": (cut_fragment[0], "truncated pixel data: fragment 1 has"),
        "MR_truncated": (root / "MR_truncated" / "MR_truncated.dcm", "truncated pixel data"),
        "JPEG2000-embedded-sequence-delimiter": (
            root
            / "JPEG2000-embedded-sequence-delimiter"
            / "JPEG2000-embedded-sequence-delimiter.dcm",
            "Unable to decode",
        ),
    }
    for name, (victim, cause) in causes.items():
        meta = found[name]
        assert meta["status"] == "failed", name
        assert meta["error"].startswith(f"{victim}: "), meta["error"]
        assert cause in meta["error"], meta["error"]
    assert "thumbnail failed" not in " ".join(
        w for m in found.values() for w in m["warnings"] or []
    )


def test_pixel_data_cut_or_short_is_named_without_decoding(
    tmp_path: Path, volume: np.ndarray
) -> None:
    reader = DicomReader()
    (path,) = write_series(tmp_path / "a", volume[:1], names=["one"], rescale=None)
    data = path.read_bytes()
    headless = tmp_path / "headless"
    headless.write_bytes(data[: data.rindex(b"\xe0\x7f\x10\x00")])  # cut at Pixel Data
    with pytest.raises(ReaderError, match=r"no pixel data \(the file ends before the Pixel Data"):
        reader.describe(Source.single(headless))
    ds = pydicom.dcmread(path)
    ds.PixelData = ds.PixelData[:-100]  # a whole file whose element is too short
    short = tmp_path / "short"
    ds.save_as(short, enforce_file_format=True)
    with pytest.raises(
        ReaderError, match="pixel data too short: 3740 bytes, the image needs 3840"
    ):
        reader.describe(Source.single(short))
    ds = pydicom.dcmread(path)  # a multi-frame file missing a frame's fragment
    ds.NumberOfFrames, ds.PixelData = 3, volume[:3].astype("<u2").tobytes()
    ds.compress(RLELossless, encoding_plugin="pydicom")
    ds.NumberOfFrames = 4
    missing = tmp_path / "missing"
    ds.save_as(missing, enforce_file_format=True)
    with pytest.raises(ReaderError, match=r"3 fragment\(s\) for 4 frame\(s\)"):
        reader.describe(Source.single(missing))


def test_multi_frame_describe_decodes_only_the_middle_frame(
    tmp_path: Path, volume: np.ndarray
) -> None:
    """The other frames are not decoded at scan time: a broken one shows when read."""
    (path,) = write_series(tmp_path, volume[:1], names=["cine"], rescale=None)
    ds = pydicom.dcmread(path)
    ds.NumberOfFrames, ds.PixelData = 5, volume[:5].astype("<u2").tobytes()
    ds.compress(JPEG2000Lossless)
    frames = [bytes(f) for f in pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=5)]
    frames[0] = bytes(16) + frames[0][16:]  # frame 0 broken, frame 2 (the middle) whole
    ds.PixelData = encapsulate(frames)
    ds.save_as(path, enforce_file_format=True)
    reader = DicomReader()
    info = reader.describe(Source.single(path))
    assert info.shape == (5, 40, 48)
    with pytest.raises(ReaderError, match="cine: cannot read pixel data"):
        reader.open(Source.single(path)).values  # noqa: B018


@contextlib.contextmanager
def without_libjpeg(syntaxes: tuple[UID, ...]) -> Iterator[None]:
    """pydicom as a user's install has it: pylibjpeg-libjpeg (GPL, a test-only reference
    here) is not there, so the JPEG and JPEG-LS syntaxes decode through imagecodecs."""
    register()
    removed = []
    for syntax in syntaxes:
        decoder = get_decoder(syntax)
        if "pylibjpeg" in decoder.available_plugins:
            decoder.remove_plugin("pylibjpeg")
            removed.append(decoder)
    try:
        yield
    finally:
        for decoder in removed:
            decoder.add_plugin("pylibjpeg", ("pydicom.pixels.decoders.pylibjpeg", "_decode_frame"))


def test_jpeg_family_reads_without_libjpeg() -> None:
    """Every JPEG and JPEG-LS file of pydicom's wheel reads through voxcat with only the
    runtime decoders (imagecodecs) as pylibjpeg-libjpeg decodes it."""
    from pydicom.uid import JPEGLossless, JPEGLSNearLossless

    syntaxes = (
        JPEGBaseline8Bit,
        JPEGExtended12Bit,
        JPEGLossless,
        JPEGLosslessSV1,
        JPEGLSLossless,
        JPEGLSNearLossless,
    )
    references = {}
    for path in WHEEL_FILES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path)
        syntax = ds.file_meta.get("TransferSyntaxUID")
        if syntax in syntaxes and path.name not in BAD_FOR_LIBJPEG and "PixelData" in ds:
            ds.pixel_array_options(decoding_plugin="pylibjpeg")
            references[path] = (ds.pixel_array, syntax)
    assert len(references) >= 10
    with without_libjpeg(syntaxes):
        for path, (expected, syntax) in references.items():
            assert "pylibjpeg" not in get_decoder(syntax).available_plugins
            info = DicomReader().describe(Source.single(path))
            got = voxcat_pixels(info.axes, DicomReader().open(Source.single(path)).values)
            assert got.shape == expected.shape, path.name
            diff = np.abs(got.astype(np.int64) - expected)
            if syntax in LOSSY_DCT:  # decoders differ in IDCT, chroma upsampling and
                # colour conversion rounding: a few levels at a few pixels
                assert diff.max() <= 3 and diff.mean() < 0.2, path.name
            else:
                assert diff.max() == 0, path.name
