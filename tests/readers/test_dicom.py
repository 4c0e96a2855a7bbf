"""DICOM reader: series, multi-frame files and DICOMDIR trees written by pydicom."""

from __future__ import annotations

import datetime as dt
import pickle
import shutil
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.fileset import FileSet
from pydicom.uid import (
    BasicTextSRStorage,
    CTImageStorage,
    ExplicitVRLittleEndian,
    MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    RLELossless,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from catalog.errors import ReaderError
from catalog.readers import Source
from catalog.readers.dicom import DicomReader
from catalog.testing import ReaderContract, Sample

VARIANTS = ["ct-series", "float-rescale", "multiframe", "single-slice", "rgb", "dicomdir"]
PHI = {
    "PatientName": "Doe^Jane",
    "PatientID": "PID-12345",
    "PatientBirthDate": "19700101",
    "OtherPatientIDs": "OTHER-777",
    "PatientAddress": "1 Privacy Lane",
    "ReferringPhysicianName": "Who^Doctor",
    "InstitutionName": "St Elsewhere Hospital",
    "InstitutionAddress": "2 Hospital Road",
    "AccessionNumber": "ACC-999",
    "StationName": "CTROOM7",
    "OperatorsName": "Tech^Tom",
}


def dataset(
    image: np.ndarray,
    *,
    series: str,
    study: str,
    number: int,
    z: float | None,
    sop_class: str = CTImageStorage,
    rescale: tuple[float, float] | None = (1, -1024),
    description: str = "abdomen 1.25mm",
    orientation: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
) -> Dataset:
    """A realistic CT slice (or multi-frame object) holding ``image``."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    for key, value in PHI.items():
        setattr(ds, key, value)
    ds.Modality, ds.Manufacturer, ds.ManufacturerModelName = "CT", "Acme", "Phantom 64"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.StudyID = study, series, "1"
    ds.FrameOfReferenceUID = generate_uid()
    ds.SeriesDescription, ds.StudyDescription = description, "CT ABDOMEN"
    ds.BodyPartExamined, ds.KVP, ds.XRayTubeCurrent, ds.ExposureTime = "ABDOMEN", 120, 200, 500
    ds.ConvolutionKernel, ds.SliceThickness = "B30f", 1.25
    ds.StudyDate, ds.StudyTime = "20230511", "080000"
    ds.SeriesDate, ds.SeriesTime = "20230512", "101500"
    ds.AcquisitionDate, ds.AcquisitionTime = "20230512", "101530.25"
    ds.SeriesNumber, ds.InstanceNumber = 3, number
    if z is not None:
        ds.ImageOrientationPatient = list(orientation)
        ds.ImagePositionPatient = [-120.0, -110.0, z]
    ds.PixelSpacing = [0.5, 0.625]  # row spacing (y), column spacing (x)
    ds.Rows, ds.Columns = image.shape[-2], image.shape[-1]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    if rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
    if image.ndim == 3:
        ds.NumberOfFrames = image.shape[0]
    ds.PixelData = image.astype("<u2").tobytes()
    return ds


def write_series(
    folder: Path,
    volume: np.ndarray,
    *,
    names: list[str] | None = None,
    order: list[int] | None = None,
    series: str | None = None,
    step: float = 1.25,
    **kw,
) -> list[Path]:
    """Write one slice per file, in ``order`` (default: shuffled), named ``names``."""
    folder.mkdir(parents=True, exist_ok=True)
    series, study = series or generate_uid(), generate_uid()
    n = len(volume)
    order = order if order is not None else list(np.random.default_rng(3).permutation(n))
    names = names or [f"IM{i:04d}" for i in range(n)]  # no extension, unrelated to position
    paths = []
    for name, k in zip(names, order):
        ds = dataset(volume[k], series=series, study=study, number=n - k, z=50.0 + step * k, **kw)
        path = folder / name
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def series_source(folder: Path) -> Source:
    sources, _ = DicomReader().group(folder, sorted(p for p in folder.iterdir() if p.is_file()))
    assert len(sources) == 1, sources
    return sources[0]


def write_dicomdir(folder: Path, volumes: list[np.ndarray]) -> None:
    """A DICOMDIR tree written by pydicom's FileSet (one series per volume)."""
    fs = FileSet()
    study = generate_uid()
    for volume in volumes:
        series = generate_uid()
        for k in np.random.default_rng(5).permutation(len(volume)):
            ds = dataset(
                volume[k], series=series, study=study, number=int(k) + 1, z=10.0 + 2.0 * k
            )
            fs.add(ds)
    fs.write(folder)


class TestDicomContract(ReaderContract):
    reader_class = DicomReader

    @pytest.fixture(params=VARIANTS)
    def sample(self, request: pytest.FixtureRequest, tmp_path: Path, volume: np.ndarray) -> Sample:
        kind = request.param
        folder = tmp_path / kind
        spacing = {"x": 6.25e-4, "y": 5e-4, "z": 1.25e-3}
        if kind == "ct-series":  # integer rescale that fits: int16 Hounsfield units
            write_series(folder, volume)
            expected = volume.astype(np.int16) - 1024
            return Sample(series_source(folder), expected, "zyx", spacing=spacing, modality="CT")
        if kind == "float-rescale":
            write_series(folder, volume, rescale=(0.5, -100.0))
            expected = (volume * 0.5 - 100.0).astype(np.float32)
            return Sample(series_source(folder), expected, "zyx", spacing=spacing, modality="CT")
        if kind == "multiframe":  # one file, frames -> z, thickness -> z spacing
            folder.mkdir()
            sop = MultiFrameGrayscaleWordSecondaryCaptureImageStorage
            ds = dataset(volume, series=generate_uid(), study=generate_uid(), number=1, z=None)
            ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop
            ds.SpacingBetweenSlices = 1.25
            del ds.RescaleSlope, ds.RescaleIntercept
            path = folder / "cine"
            ds.save_as(path, enforce_file_format=True)
            return Sample(Source.single(path), volume, "zyx", spacing=spacing, modality="CT")
        if kind == "single-slice":
            paths = write_series(folder, volume[:1], order=[0], rescale=None)
            spacing = {"x": 6.25e-4, "y": 5e-4}
            return Sample(Source.single(paths[0]), volume[0], "yx", spacing=spacing)
        if kind == "rgb":
            folder.mkdir()
            rgb = np.stack([volume[0] % 256, volume[0] // 16 % 256, volume[0] % 7], -1)
            rgb = rgb.astype(np.uint8)
            ds = dataset(volume[0], series=generate_uid(), study=generate_uid(), number=1, z=None)
            ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
            ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
            ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
            del ds.RescaleSlope, ds.RescaleIntercept
            ds.PixelData = rgb.tobytes()
            path = folder / "screenshot.dcm"
            ds.save_as(path, enforce_file_format=True)
            return Sample(Source.single(path), rgb.transpose(2, 0, 1), "cyx", {"x": 6.25e-4})
        write_dicomdir(folder, [volume])
        source = DicomReader().claim_directory(folder)
        assert source is not None
        expected = volume.astype(np.int16) - 1024
        spacing = {"x": 6.25e-4, "y": 5e-4, "z": 2e-3}
        return Sample(source, expected, "zyx", spacing=spacing, modality="CT")

    # a series is a folder: damage one of its files instead
    def test_truncated_file_fails_clearly(
        self, reader: DicomReader, sample: Sample, tmp_path: Path
    ) -> None:
        if sample.source.path.is_file():
            super().test_truncated_file_fails_clearly(reader, sample, tmp_path)
            return
        victim = sample.source.files[-1]  # not the middle slice that describe decodes
        victim.write_bytes(victim.read_bytes()[:-1000])  # header intact, pixels cut
        with pytest.raises(ReaderError, match=rf"{victim.name}: truncated pixel data"):
            reader.describe(sample.source)  # a slice with broken pixels fails the series

    def test_empty_file_fails_clearly(
        self, reader: DicomReader, sample: Sample, tmp_path: Path
    ) -> None:
        if sample.source.path.is_file():
            super().test_empty_file_fails_clearly(reader, sample, tmp_path)
            return
        victim = sample.source.files[-1]
        victim.write_bytes(b"")
        info = reader.describe(sample.source)  # the series goes on without it
        assert info.shape[0] == sample.expected.shape[0] - 1
        assert any(victim.name in w and "empty file" in w for w in info.warnings)


def test_group_one_dataset_per_series(tmp_path: Path, volume: np.ndarray) -> None:
    a = write_series(tmp_path, volume[:5], names=[f"A{i}" for i in range(5)], description="soft")
    b = write_series(tmp_path, volume[5:], names=[f"B{i}" for i in range(7)], description="bone")
    (tmp_path / "notes.txt").write_text("patient list")
    (tmp_path / "fake.dcm").write_bytes(bytes(512))  # a .dcm suffix alone is not DICOM
    files = sorted(tmp_path.iterdir())
    sources, rest = DicomReader().group(tmp_path, files)
    assert sorted(s.name for s in sources) == ["bone", "soft"]
    by_name = {s.name: s for s in sources}
    assert by_name["soft"].files == tuple(sorted(a)) and by_name["bone"].files == tuple(sorted(b))
    # several series in one folder: each is located at its first file (index paths are unique)
    assert all(s.path == s.files[0] and s.options["series_uid"] for s in sources)
    assert [p.name for p in rest] == ["fake.dcm", "notes.txt"]
    assert DicomReader().describe(by_name["bone"]).shape == (7, 40, 48)


def test_a_lone_series_is_located_at_its_folder(tmp_path: Path, volume: np.ndarray) -> None:
    write_series(tmp_path, volume[:3])
    source = series_source(tmp_path)
    assert source.path == tmp_path and source.name == "abdomen 1.25mm"
    assert DicomReader().describe(source).shape == (3, 40, 48)


def test_detection(tmp_path: Path, volume: np.ndarray) -> None:
    reader = DicomReader()
    (path,) = write_series(tmp_path / "s", volume[:1], names=["noext"])
    assert reader.guess_can_open(path)
    fake = tmp_path / "raw.dcm"
    fake.write_bytes(np.random.default_rng(0).bytes(2000))
    assert not reader.guess_can_open(fake)
    report = tmp_path / "report"
    sr = dataset(volume[0], series=generate_uid(), study=generate_uid(), number=1, z=None)
    sr.SOPClassUID = sr.file_meta.MediaStorageSOPClassUID = BasicTextSRStorage
    del sr.PixelData, sr.Rows, sr.Columns
    sr.save_as(report, enforce_file_format=True)
    assert not reader.guess_can_open(report)  # a structured report holds no image
    with pytest.raises(ReaderError, match="without an image"):
        reader.describe(Source.single(report))
    write_dicomdir(tmp_path / "cd", [volume[:2]])
    assert not reader.guess_can_open(tmp_path / "cd" / "DICOMDIR")


def test_patient_data_never_leaves_the_files(tmp_path: Path, volume: np.ndarray) -> None:
    write_series(tmp_path / "s", volume)
    write_dicomdir(tmp_path / "cd", [volume])
    reader = DicomReader()
    sources = [series_source(tmp_path / "s"), reader.claim_directory(tmp_path / "cd")]
    for source in sources:
        info = reader.describe(source)
        arr = reader.open(source)
        text = repr(info) + repr(source) + repr(arr.attrs) + str(arr.name) + repr(arr.coords)
        for value in PHI.values():
            assert value not in text, value
        assert "Doe" not in text and "19700101" not in text
        assert info.meta["tags"]["KVP"] == 120  # technical tags do come through


def test_metadata(tmp_path: Path, volume: np.ndarray) -> None:
    write_series(tmp_path, volume)
    info = DicomReader().describe(series_source(tmp_path))
    assert info.modality == "CT" and info.instrument == "Acme Phantom 64"
    assert info.acquired == dt.datetime(2023, 5, 12, 10, 15, 30, 250000)
    assert info.origin == {"x": -120.0, "y": -110.0, "z": 50.0}
    assert info.dtype == "int16"
    tags = info.meta["tags"]
    assert tags["SeriesDescription"] == "abdomen 1.25mm" and tags["ConvolutionKernel"] == "B30f"
    assert tags["PixelSpacing"] == [0.5, 0.625] and tags["SliceThickness"] == 1.25
    assert info.meta["slice_order"] == "position" and info.meta["files"] == 12
    assert info.meta["sop_class"] == "CT Image Storage"
    assert not info.warnings


def test_slices_sorted_along_an_oblique_normal(tmp_path: Path, volume: np.ndarray) -> None:
    """Positions along a tilted normal; names and InstanceNumbers are both misleading."""
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    iop = (1.0, 0.0, 0.0, 0.0, c, s)  # normal = (0, -s, c)
    folder = tmp_path / "oblique"
    folder.mkdir()
    series, study = generate_uid(), generate_uid()
    for k in np.random.default_rng(9).permutation(len(volume)):
        ds = dataset(
            volume[k], series=series, study=study, number=int(k * 7 % 12), z=None, orientation=iop
        )
        ds.ImageOrientationPatient = list(iop)
        ds.ImagePositionPatient = [0.0, -s * 2.0 * k, c * 2.0 * k]
        ds.save_as(folder / f"{(k * 5) % 12:03d}", enforce_file_format=True)
    arr = DicomReader().open(series_source(folder))
    np.testing.assert_array_equal(arr.values, volume.astype(np.int16) - 1024)
    assert arr.attrs["voxel_size_m"]["z"] == pytest.approx(2e-3)


def test_instance_number_when_positions_are_missing(tmp_path: Path, volume: np.ndarray) -> None:
    folder = tmp_path / "noposition"
    folder.mkdir()
    series, study = generate_uid(), generate_uid()
    for k in range(len(volume)):
        ds = dataset(volume[k], series=series, study=study, number=k + 1, z=None)
        ds.save_as(folder / f"x{(k * 5) % 12:02d}", enforce_file_format=True)
    reader = DicomReader()
    info = reader.describe(series_source(folder))
    assert info.meta["slice_order"] == "instance number"
    assert info.spacing["z"] == pytest.approx(1.25e-3)  # from SliceThickness
    expected = volume.astype(np.int16) - 1024
    np.testing.assert_array_equal(reader.open(series_source(folder)).values, expected)


def test_irregular_spacing_is_a_warning(tmp_path: Path, volume: np.ndarray) -> None:
    paths = write_series(tmp_path, volume[:6], order=list(range(6)))
    ds = pydicom.dcmread(paths[5])
    ds.ImagePositionPatient = [-120.0, -110.0, 80.0]
    ds.save_as(paths[5])
    info = DicomReader().describe(series_source(tmp_path))
    assert any("irregular slice spacing" in w for w in info.warnings)
    assert info.spacing["z"] == pytest.approx(1.25e-3)


def test_dicomdir_with_two_series_is_left_to_group(tmp_path: Path, volume: np.ndarray) -> None:
    write_dicomdir(tmp_path, [volume[:4], volume[4:]])
    reader = DicomReader()
    assert reader.claim_directory(tmp_path) is None
    found = []
    for folder in sorted({p.parent for p in tmp_path.rglob("IM*")}):
        sources, rest = reader.group(folder, sorted(folder.iterdir()))
        assert not rest
        found += [reader.describe(s).shape for s in sources]
    assert sorted(found) == [(4, 40, 48), (8, 40, 48)]


def test_dicomdir_next_to_its_series_files(tmp_path: Path, volume: np.ndarray) -> None:
    """A flat folder: the DICOMDIR file is skipped and the series grouped."""
    write_dicomdir(tmp_path / "cd", [volume[:3], volume[3:6]])
    flat = tmp_path / "flat"
    write_series(flat, volume)
    shutil.copy(tmp_path / "cd" / "DICOMDIR", flat / "DICOMDIR")
    reader = DicomReader()
    assert reader.claim_directory(flat) is None  # its references do not exist here
    sources, rest = reader.group(flat, sorted(flat.iterdir()))
    assert [p.name for p in rest] == ["DICOMDIR"] and len(sources[0].files) == 12
    assert reader.describe(sources[0]).shape == (12, 40, 48)


def test_dicomdir_tree_with_extra_files_is_not_claimed(tmp_path: Path, volume: np.ndarray) -> None:
    write_dicomdir(tmp_path, [volume[:4]])
    assert DicomReader().claim_directory(tmp_path) is not None
    (tmp_path / "viewer.exe").write_bytes(b"MZ")
    assert DicomReader().claim_directory(tmp_path) is None


def test_describe_decodes_one_slice_and_open_reads_headers_only(
    tmp_path: Path, volume: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = write_series(tmp_path, volume, order=list(range(12)))  # IM0006 is the middle
    calls = []
    original = pydicom.dcmread

    def spy(fp, **kw):
        calls.append((Path(fp if isinstance(fp, str | Path) else fp.name), kw))
        return original(fp, **kw)

    monkeypatch.setattr(pydicom, "dcmread", spy)
    reader = DicomReader()
    source = series_source(tmp_path)
    assert calls and all(kw.get("stop_before_pixels") for _, kw in calls)  # group
    calls.clear()
    reader.describe(source)
    full = [path for path, kw in calls if not kw.get("stop_before_pixels")]
    assert full == [paths[6]]  # the pixels of one slice, the middle one, are decoded
    assert all(kw.get("specific_tags") for _, kw in calls if kw.get("stop_before_pixels"))
    calls.clear()
    arr = reader.open(source)
    assert calls and all(
        kw.get("stop_before_pixels") and kw.get("specific_tags") for _, kw in calls
    )
    calls.clear()
    arr[3].values  # noqa: B018 (one slice: one file read)
    assert len(calls) == 1


def test_open_of_a_long_series_is_lazy(tmp_path: Path) -> None:
    write_series(tmp_path, np.zeros((40, 256, 256), np.uint16), order=list(range(40)))
    reader = DicomReader()
    source = series_source(tmp_path)
    reader.open(source)  # warm up imports
    start = time.perf_counter()
    arr = reader.open(source)
    assert time.perf_counter() - start < 1.0
    assert arr.data.npartitions == 40
    assert int(arr[20, 0, 0].values) == -1024


def test_open_result_pickles(tmp_path: Path, volume: np.ndarray) -> None:
    write_series(tmp_path, volume)
    arr = DicomReader().open(series_source(tmp_path))
    np.testing.assert_array_equal(
        pickle.loads(pickle.dumps(arr)).values, volume.astype(np.int16) - 1024
    )


# -- the same instance twice is one slice ------------------------------------------------


def recompressed(path: Path, out: Path, *, new_uid: bool = False) -> Path:
    """``path`` re-encoded as RLE Lossless (pydicom's own encoder) and saved as ``out``."""
    ds = pydicom.dcmread(path)
    ds.compress(RLELossless, encoding_plugin="pydicom", generate_instance_uid=new_uid)
    assert (ds.SOPInstanceUID != pydicom.dcmread(path).SOPInstanceUID) == new_uid
    ds.save_as(out, enforce_file_format=True)
    return out


def full_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Files whose pixels pydicom reads from now on."""
    calls: list[Path] = []
    original = pydicom.dcmread

    def spy(fp, **kw):
        if not kw.get("stop_before_pixels"):
            calls.append(Path(fp if isinstance(fp, str | Path) else fp.name))
        return original(fp, **kw)

    monkeypatch.setattr(pydicom, "dcmread", spy)
    return calls


def test_a_copied_file_is_one_slice(tmp_path: Path, volume: np.ndarray) -> None:
    paths = write_series(tmp_path, volume)
    shutil.copy(paths[4], tmp_path / "IM0004 copy")
    reader = DicomReader()
    source = series_source(tmp_path)
    assert len(source.files) == 13  # the copy belongs to the dataset: checksums see it
    info = reader.describe(source)
    assert info.shape == (12, 40, 48) and info.meta["files"] == 12
    assert info.meta["duplicates"] == {"IM0004 copy": "IM0004"}
    assert info.warnings == [
        "1 duplicate file(s) not stacked: IM0004 copy = IM0004 (same SOPInstanceUID)"
    ]
    np.testing.assert_array_equal(reader.open(source).values, volume.astype(np.int16) - 1024)


def test_one_instance_in_two_transfer_syntaxes_is_one_slice(
    tmp_path: Path, volume: np.ndarray
) -> None:
    paths = write_series(tmp_path, volume)
    recompressed(paths[7], tmp_path / "A_rle")  # first by name, but compressed
    reader = DicomReader()
    info = reader.describe(series_source(tmp_path))
    assert info.shape == (12, 40, 48)
    assert info.meta["duplicates"] == {"A_rle": "IM0007"}  # the uncompressed one is kept
    assert "A_rle = IM0007 (same SOPInstanceUID)" in info.warnings[0]
    assert info.meta["transfer_syntax"] == "Explicit VR Little Endian"
    np.testing.assert_array_equal(
        reader.open(series_source(tmp_path)).values, volume.astype(np.int16) - 1024
    )


def test_a_damaged_copy_gives_way_to_the_intact_one(tmp_path: Path, volume: np.ndarray) -> None:
    paths = write_series(tmp_path, volume)
    recompressed(paths[7], tmp_path / "IM0007.rle")
    paths[7].write_bytes(paths[7].read_bytes()[:-500])  # the uncompressed one is cut
    reader = DicomReader()
    info = reader.describe(series_source(tmp_path))
    assert info.shape == (12, 40, 48)
    assert info.meta["duplicates"] == {"IM0007": "IM0007.rle"}
    (warning,) = info.warnings
    assert "IM0007 = IM0007.rle (same SOPInstanceUID; this copy: truncated pixel data" in warning
    np.testing.assert_array_equal(
        reader.open(series_source(tmp_path)).values, volume.astype(np.int16) - 1024
    )


def test_same_position_and_pixels_is_one_slice_and_only_collisions_are_decoded(
    tmp_path: Path, volume: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A re-export with a new SOPInstanceUID: same position, same pixels once decoded."""
    paths = write_series(tmp_path, volume, order=list(range(12)))
    recompressed(paths[2], tmp_path / "IM0002.rle", new_uid=True)
    reads = full_reads(monkeypatch)
    info = DicomReader().describe(series_source(tmp_path))
    assert info.shape == (12, 40, 48)
    assert info.meta["duplicates"] == {"IM0002.rle": "IM0002"}
    assert "IM0002.rle = IM0002 (same position and pixels)" in info.warnings[0]
    # the two colliding files, then the middle slice: nothing else is decoded
    assert sorted(p.name for p in reads) == ["IM0002", "IM0002.rle", "IM0006"]


def test_same_position_with_other_pixels_or_another_echo_stays(
    tmp_path: Path, volume: np.ndarray
) -> None:
    """Two echoes (or a changed image) at one position are both stacked, as before."""
    paths = write_series(tmp_path, volume, order=list(range(12)))
    other = pydicom.dcmread(paths[2])
    other.SOPInstanceUID = other.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    other.PixelData = (volume[2] + 1).astype("<u2").tobytes()
    other.save_as(tmp_path / "IM0002b", enforce_file_format=True)
    echo = pydicom.dcmread(paths[5])
    echo.SOPInstanceUID = echo.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    echo.EchoTime = 30  # equal pixels, but another acquisition
    echo.save_as(tmp_path / "IM0005b", enforce_file_format=True)
    info = DicomReader().describe(series_source(tmp_path))
    assert info.shape == (14, 40, 48) and "duplicates" not in info.meta
    assert any("2 slices share a position" in w for w in info.warnings)


def test_equal_pixels_at_other_positions_are_not_duplicates(
    tmp_path: Path, volume: np.ndarray
) -> None:
    flat = volume.copy()
    flat[5] = flat[4] = 0
    write_series(tmp_path, flat)
    info = DicomReader().describe(series_source(tmp_path))
    assert info.shape == (12, 40, 48) and "duplicates" not in info.meta and not info.warnings


def test_pydicoms_mr_small_in_every_syntax_is_one_image(tmp_path: Path) -> None:
    """pydicom ships one MR slice (one SOPInstanceUID) in eight encodings and cut short."""
    wheel = Path(pydicom.__file__).parent / "data" / "test_files"
    names = ["MR_small.dcm", "MR_small_RLE.dcm", "MR_small_bigendian.dcm"]
    names += ["MR_small_expb.dcm", "MR_small_implicit.dcm", "MR_small_jp2klossless.dcm"]
    names += ["MR_small_jpeg_ls_lossless.dcm", "MR_small_padded.dcm", "MR_truncated.dcm"]
    for name in names:
        shutil.copy(wheel / name, tmp_path / name)
    source = series_source(tmp_path)
    assert len(source.files) == 9
    reader = DicomReader()
    info = reader.describe(source)
    assert info.shape == (64, 64) and info.axes == "yx" and info.dtype == "int16"
    assert info.meta["duplicates"] == {n: "MR_small.dcm" for n in names[1:]}
    assert (
        "MR_truncated.dcm = MR_small.dcm (same SOPInstanceUID; this copy: truncated"
        in (info.warnings[0])
    )
    expected = pydicom.dcmread(wheel / "MR_small.dcm").pixel_array
    np.testing.assert_array_equal(reader.open(source).values, expected)


def test_scan_of_a_series_with_a_copy(tmp_path: Path, volume: np.ndarray) -> None:
    from catalog import open_catalog, scan

    from ..conftest import q

    folder = tmp_path / "drive" / "ct"
    paths = write_series(folder, volume)
    shutil.copy(paths[0], folder / "IM0000 (1)")
    index = tmp_path / "lab.duckdb"
    report = scan(tmp_path / "drive", index, jobs=1, progress=False)
    assert report["added"] == 1 and report["failed"] == 0
    cat = open_catalog(index)
    (key,) = list(cat)
    meta = cat[key].metadata
    assert meta["status"] == "ok" and meta["shape"] == [12, 40, 48]
    assert any("IM0000 (1) = IM0000" in w for w in meta["warnings"])
    assert cat[key].read().shape == (12, 40, 48)
    files = q(index, "SELECT path FROM files WHERE dataset_id = ?", [key])
    assert len(files) == 13  # the copy is checksummed with the dataset
