"""DICOM series through pydicom: one dataset per SeriesInstanceUID of a folder, or a
whole DICOMDIR tree when it holds a single series.

A series' ``Source.path`` is its folder; when a folder holds several series it is each
series' first file instead, because the index needs one distinct path per dataset.

Files are recognised by the ``DICM`` magic at byte 128, never by name. Grouping reads
headers only (``stop_before_pixels``, just the tags needed). Description reads the
headers, checks that each file's Pixel Data is whole (its length against the file's,
see :func:`~.dicom_pixels.pixel_problem`) and decodes one frame, the middle slice's, so
pixels that are cut short or cannot be decoded fail the dataset at scan time with the
file and the cause. A corrupt codestream in another slice shows only when it is read.

The same instance twice is one slice: files with the same SOPInstanceUID (a copy, or
the image in another transfer syntax), or at the same position with equal decoded
pixels. The duplicates stay in the dataset's files (checksums and verify see them) but
are not stacked; ``meta["duplicates"]`` and a warning name them. Slices at one position
with different pixels (echoes, phases) are all stacked, with a warning.

Slices are sorted along the slice normal; ``open`` reads one file per dask chunk,
rescale applied. Compressed pixel data is decoded by pydicom's plugins (pylibjpeg with
its openjpeg and rle plugins, libjpeg where a user installed it) and, after them,
imagecodecs (:mod:`.dicom_codecs`), which covers every JPEG and JPEG-LS syntax. Privacy: only the technical tags of :data:`META_TAGS` are ever
copied into metadata.

DICOMDIR: :meth:`DicomReader.claim_directory` claims the DICOMDIR's folder only when it
references exactly one image series and the tree holds no other file; otherwise the
walk descends and :meth:`DicomReader.group` makes one dataset per series in each folder
(skipping the DICOMDIR file itself), so a series split over several folders of a
multi-series DICOMDIR becomes one dataset per folder.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import warnings
from collections import Counter
from numbers import Number
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..confine import Confined, folder_files
from ..errors import ReaderError
from .arrays import MAX_LISTED, check_size, dask_name, lazy_array
from .base import (
    ImageInfo,
    Reader,
    Source,
    build_dataarray,
    jsonable,
    level_of,
    read_magic,
    reader_errors,
)
from .base import spacing_entry as _spacing
from .dicom_pixels import ACQUISITION_TAGS, decode, decode_error, drop_duplicates, pixel_problem

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr
    from pydicom.dataset import Dataset

GROUP_TAGS = ["SeriesInstanceUID", "SeriesDescription", "SeriesNumber", "SOPClassUID"]
GROUP_TAGS += ["Rows", "Columns"]
GEOMETRY_TAGS = [*GROUP_TAGS, "ImagePositionPatient", "ImageOrientationPatient"]
GEOMETRY_TAGS += ["InstanceNumber", "NumberOfFrames", "RescaleSlope", "RescaleIntercept"]
GEOMETRY_TAGS += ["SamplesPerPixel", "BitsAllocated", "BitsStored", "PixelRepresentation"]
GEOMETRY_TAGS += ["SOPInstanceUID", "PhotometricInterpretation", *ACQUISITION_TAGS]


#: The only tags copied into ``meta["tags"]``: technical, never identifying (free-text
#: tags such as ProtocolName or ImageComments are left out: they may name the patient).
def _deidentified(ds: Any) -> bool:
    """Whether a DICOM header says its patient identity was removed
    (``PatientIdentityRemoved`` = ``YES``); every other series is patient data, which
    the index records as ``access=restricted`` until someone with the right says
    otherwise (``cat.set(id, access=...)`` keeps over rescans)."""
    return str(ds.get("PatientIdentityRemoved") or "").strip().upper() == "YES"


META_TAGS = (
    *("Modality", "SeriesDescription", "StudyDescription", "BodyPartExamined", "ImageType"),
    *("SeriesNumber", "AcquisitionNumber", "Manufacturer", "ManufacturerModelName"),
    *("PhotometricInterpretation", "SamplesPerPixel", "BitsAllocated", "BitsStored"),
    *("PixelRepresentation", "RescaleSlope", "RescaleIntercept", "RescaleType"),
    *("WindowCenter", "WindowWidth", "PixelSpacing", "ImagerPixelSpacing", "SliceThickness"),
    *("SpacingBetweenSlices", "ImageOrientationPatient", "PatientPosition", "NumberOfFrames"),
    *("KVP", "ExposureTime", "XRayTubeCurrent", "Exposure", "FilterType", "FocalSpots"),
    *("ConvolutionKernel", "ReconstructionDiameter", "DataCollectionDiameter", "CTDIvol"),
    *("GantryDetectorTilt", "SpiralPitchFactor", "RevolutionTime", "SingleCollimationWidth"),
    *("TotalCollimationWidth", "MagneticFieldStrength", "RepetitionTime", "EchoTime"),
    *("InversionTime", "FlipAngle", "EchoTrainLength", "EchoNumbers", "ScanningSequence"),
    *("SequenceVariant", "ScanOptions", "MRAcquisitionType", "SequenceName", "ImagedNucleus"),
    *("ImagingFrequency", "NumberOfAverages", "PixelBandwidth", "ReceiveCoilName"),
    *("Units", "DecayCorrection", "CorrectedImage", "ActualFrameDuration"),
    *("FrameTime", "AcquisitionType"),
)
DATE_TAGS = ["AcquisitionDateTime", "AcquisitionDate", "AcquisitionTime", "SeriesDate"]
DATE_TAGS += ["SeriesTime", "StudyDate", "StudyTime", "ContentDate", "ContentTime"]
ENHANCED_TAGS = ["SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"]
#: Words in SOP class names of objects without an image (reports, plans, directories).
NON_IMAGE: tuple[str, ...] = ("Directory", "SR Storage", "Presentation State", "Encapsulated")
NON_IMAGE += ("Raw Data",)
NON_IMAGE += ("Structure Set", "Plan Storage", "Waveform", "Key Object", "Spectroscopy")
NON_IMAGE += ("Treatment Record", "Registration Storage")
STORED = {(8, 0): "u1", (8, 1): "i1", (16, 0): "u2", (16, 1): "i2", (32, 0): "u4", (32, 1): "i4"}


def is_dicom(path: Path) -> bool:
    """Whether ``path`` has the ``DICM`` magic after the 128-byte preamble."""
    return read_magic(Path(path), 132)[128:132] == b"DICM"


def _inside(file: Path, folder: Path) -> bool:
    """Whether ``file`` stays inside ``folder`` once links are followed."""
    try:
        Confined([folder]).check(file)
    except OSError:
        return False
    return True


def is_image_class(uid: Any) -> bool:
    """False for SOP classes that never hold pixels (DICOMDIR, SR, RT plans, ...)."""
    from pydicom.uid import UID

    name = UID(str(uid)).name if uid else ""
    return not any(word in name for word in NON_IMAGE)


def read_header(path: Path, tags: list[str] | None) -> Dataset:
    """A header without pixel data; ``tags=None`` reads every element (slower)."""
    from pydicom import dcmread

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dcmread(path, stop_before_pixels=True, specific_tags=tags)


def read_geometry(path: Path, size: int) -> tuple[Dataset, str | None]:
    """The geometry header, and what is wrong with the file's Pixel Data (or None).

    One open of the file: after the header, a few bytes of the Pixel Data element say
    whether it is whole (no pixels are read).
    """
    from pydicom import dcmread

    with open(path, "rb") as fp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = dcmread(fp, stop_before_pixels=True, specific_tags=GEOMETRY_TAGS)
        problem = pixel_problem(fp, ds, size) if _is_image(ds) else None
    return ds, problem


def _sop_class(ds: Dataset) -> Any:
    meta = getattr(ds, "file_meta", None)
    return ds.get("SOPClassUID") or (meta.get("MediaStorageSOPClassUID") if meta else None)


def _is_image(ds: Dataset) -> bool:
    return bool(ds.get("Rows")) and bool(ds.get("Columns")) and is_image_class(_sop_class(ds))


def plain(value: Any) -> Any:
    """A DICOM value as JSON types; person names, bytes and sequences give None."""
    from pydicom.multival import MultiValue

    if isinstance(value, list | tuple | MultiValue):
        items = [plain(v) for v in value]
        return None if any(v is None for v in items) else items
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, Number):
        return float(value)  # type: ignore[arg-type]
    if type(value).__name__ in ("DA", "TM", "DT") or isinstance(value, str):
        return str(value)
    return None


class DicomBlocks:
    """Reads frames of the sorted series, one file per dask chunk (picklable)."""

    def __init__(
        self, files: tuple[Path, ...], frames: tuple[int, ...], shape: tuple[int, ...], dtype: Any
    ) -> None:
        self.files, self.frames = tuple(Path(f) for f in files), tuple(frames)
        self.shape, self.ndim, self.dtype = tuple(shape), len(shape), np.dtype(dtype)
        self.starts = np.cumsum((0, *frames))

    def read(self, k: int) -> np.ndarray:
        path = self.files[k]
        with reader_errors(path, f"cannot read pixel data of slice {k}"):
            ds, data = decode(path)
            if ds is None:  # decode returns the dataset when it reads the whole file
                raise ReaderError(path, "no DICOM dataset decoded")
            data = np.asarray(data).reshape((self.frames[k], *self.shape[1:]))
            slope, inter = rescale_of(ds)
        if (slope, inter) == (1.0, 0.0):
            return data.astype(self.dtype, copy=False)
        if self.dtype.kind in "iu":
            return (data.astype(np.int64) * int(slope) + int(inter)).astype(self.dtype)
        return (data.astype(np.float64) * slope + inter).astype(self.dtype)

    def __getitem__(self, index: Any) -> np.ndarray:
        index = index if isinstance(index, tuple) else (index,)
        zs = np.arange(self.shape[0])[index[0] if index else slice(None)]
        scalar = np.ndim(zs) == 0
        zs = np.atleast_1d(zs)
        out = np.empty((len(zs), *self.shape[1:]), dtype=self.dtype)
        for k in sorted(set(np.searchsorted(self.starts, zs, side="right") - 1)):
            sel = (zs >= self.starts[k]) & (zs < self.starts[k + 1])
            out[sel] = self.read(int(k))[zs[sel] - self.starts[k]]
        out = out[(slice(None), *index[1:])]
        return out[0] if scalar else out


def rescale_of(ds: Dataset) -> tuple[float, float]:
    """(RescaleSlope, RescaleIntercept), also from Enhanced shared functional groups."""
    slope, inter = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
    if slope is None and "SharedFunctionalGroupsSequence" in ds:
        for group in ds.SharedFunctionalGroupsSequence:
            for item in group.get("PixelValueTransformationSequence") or []:
                slope, inter = item.get("RescaleSlope"), item.get("RescaleIntercept")
    return float(1.0 if slope in (None, "") else slope), float(inter or 0.0)


class DicomReader(Reader):
    """DICOM series (one dataset per SeriesInstanceUID of a folder) and DICOMDIR trees.

    >>> reader = DicomReader()
    >>> series, rest = reader.group(Path("CT"), sorted(Path("CT").iterdir()))  # doctest: +SKIP
    >>> series[0].options                                      # doctest: +SKIP
    {'series_uid': '1.2.826.0.1.3680043.8.498.1'}
    >>> reader.describe(series[0]).spacing                     # doctest: +SKIP
    {'y': 0.0005, 'x': 0.0005, 'z': 0.00125}
    """

    name: ClassVar[str] = "dicom"
    description: ClassVar[str] = "DICOM series and DICOMDIR trees (CT, MR, PET, ...) via pydicom"
    url: ClassVar[str] = "https://pydicom.github.io/pydicom/"
    suffixes: ClassVar[tuple[str, ...]] = (".dcm", ".dicom")

    def guess_can_open(self, path: Path) -> bool:
        """The ``DICM`` magic, and a file meta group naming an image SOP class."""
        from pydicom.filereader import read_file_meta_info

        try:
            if not is_dicom(Path(path)):
                return False
            try:
                meta = read_file_meta_info(path)
            except Exception:
                return True  # damaged: let describe explain
            return is_image_class(meta.get("MediaStorageSOPClassUID"))
        except Exception:
            return False

    def claim_directory(self, path: Path) -> Source | None:
        dicomdir = next((path / n for n in ("DICOMDIR", "dicomdir") if (path / n).is_file()), None)
        if dicomdir is None or not _inside(dicomdir, path) or not is_dicom(dicomdir):
            return None  # none, or a link to one elsewhere: the walk records the link
        from pydicom import dcmread
        from pydicom.fileset import FileSet

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fs = FileSet(dcmread(dicomdir))
                images = [
                    i
                    for i in fs
                    if is_image_class(getattr(i, "ReferencedSOPClassUIDInFile", None))
                    and i.DirectoryRecordType != "PRESENTATION"
                ]
                uids = {str(i.SeriesInstanceUID) for i in images}
                files = sorted(Path(i.path) for i in images)
                description = getattr(images[0], "SeriesDescription", None) if images else None
        except Exception:
            return None  # an unreadable DICOMDIR: the walk goes on folder by folder
        if len(uids) != 1 or not all(f.is_file() for f in files):
            return None
        known = {dicomdir, *files}
        for folder, _, names in os.walk(path):
            if any(Path(folder, n) not in known for n in names if not n.startswith(".")):
                return None  # other files (a viewer, notes): let the walk see them
        if not description:
            with contextlib.suppress(Exception):
                description = read_header(files[0], ["SeriesDescription"]).get("SeriesDescription")
        options = {"series_uid": uids.pop(), "dicomdir": dicomdir.name}
        name = str(description or path.name)
        return Source(path=path, files=(dicomdir, *files), options=options, name=name)

    def group(self, directory: Path, files: list[Path]) -> tuple[list[Source], list[Path]]:
        series: dict[str, list[tuple[Path, Any]]] = {}
        rest: list[Path] = []
        for path in files:
            ds = None
            if is_dicom(path):
                try:
                    ds = read_header(path, GROUP_TAGS)
                except Exception:
                    ds = None
            if ds is None or not _is_image(ds) or not ds.get("SeriesInstanceUID"):
                rest.append(path)
                continue
            series.setdefault(str(ds.SeriesInstanceUID), []).append((path, ds))
        sources: list[Source] = []
        for uid, members in series.items():
            first = members[0][1]
            label = str(first.get("SeriesDescription") or "").strip()
            if len(series) > 1 and not label:
                label = f"{directory.name} series {first.get('SeriesNumber') or len(sources) + 1}"
            files_ = tuple(sorted(p for p, _ in members))
            where = directory if len(series) == 1 else files_[0]  # index paths are unique
            options = {"series_uid": uid}
            sources.append(Source(where, files_, options, name=label or directory.name))
        return sources, rest

    def describe(self, source: Source) -> ImageInfo:
        return self._inspect(source, check_pixels=True)[0]

    def open(self, source: Source, *, level: int = 0) -> xr.DataArray:
        info, blocks = self._inspect(source)
        level_of(info, level, Path(source.path))
        chunks: tuple[int | tuple[int, ...], ...] = (blocks.frames, *blocks.shape[1:])
        data = lazy_array(blocks, chunks, dask_name("dicom", blocks.files[0], *blocks.files))
        if "z" not in info.axes:
            data = data[0]
        if "c" in info.axes:
            data = data.transpose(data.ndim - 1, *range(data.ndim - 1))
        return build_dataarray(data, info, level=level, name=source.display_name)

    # -- inspection ----------------------------------------------------------------
    def _inspect(
        self, source: Source, *, check_pixels: bool = False
    ) -> tuple[ImageInfo, DicomBlocks]:
        path = Path(source.path)
        uid = (source.options or {}).get("series_uid")
        single = tuple(source.files) in ((), (path,)) and path.is_file()
        if single:
            candidates = [path]
        else:
            folder = path if path.is_dir() else path.parent
            listed = source.files or tuple(map(Path, folder_files(folder)))
            candidates = [f for f in listed if f.name.upper() != "DICOMDIR"]
        entries, notes, problems = _headers(candidates, uid, single)
        if not entries:
            raise ReaderError(path, f"no DICOM image of series {uid or '(any)'} found")
        sizes = Counter(_size(ds) for _, ds in entries)
        main = sizes.most_common(1)[0][0]
        if len(sizes) > 1:
            others = sum(n for key, n in sizes.items() if key != main)
            notes.append(f"{others} file(s) with another image size (a localizer?) left out")
            entries = [(f, ds) for f, ds in entries if _size(ds) == main]
        entries, dropped = drop_duplicates(entries, problems)
        for f, _ in entries:
            if f in problems:  # a slice of the series with broken pixels: no volume
                raise ReaderError(f, problems[f])
        entries, positions, how, notes_ = _sort(entries)
        notes += notes_ + _duplicate_notes(dropped)
        frames = tuple(int(ds.get("NumberOfFrames") or 1) for _, ds in entries)
        if check_pixels:
            _decode_one(entries, frames, main)
        tags = [
            *META_TAGS,
            *DATE_TAGS,
            "ImagePositionPatient",
            "SOPClassUID",
            "PatientIdentityRemoved",
        ]
        if frames[0] > 1:
            tags += ENHANCED_TAGS
        with reader_errors(entries[0][0], "unreadable DICOM header"):
            first = read_header(entries[0][0], tags)
        if frames[0] > 1 and len(entries) == 1:
            positions, more = _frame_positions(first)
            notes += more
        elif max(frames) > 1:
            positions = None
            notes.append("several multi-frame files: their frames are stacked along z")
        rows, cols, samples = main
        rescales = [rescale_of(first if len(entries) == 1 else ds) for _, ds in entries]
        dtype = _dtype(first, rescales, samples)
        shape = (sum(frames), rows, cols, samples)[: 4 if samples > 1 else 3]
        blocks = DicomBlocks(tuple(f for f, _ in entries), frames, shape, dtype)
        info = _info(first, positions, how, shape, dtype, len(entries), notes)
        if dropped:
            folder = path if path.is_dir() else path.parent
            info.meta["duplicates"] = {
                _relative(d, folder): _relative(k, folder) for d, k, _ in dropped[:MAX_LISTED]
            }
        return info, blocks


def _size(ds: Dataset) -> tuple[int, int, int]:
    return int(ds.Rows), int(ds.Columns), int(ds.get("SamplesPerPixel") or 1)


def _headers(
    candidates: list[Path], uid: str | None, single: bool
) -> tuple[list[tuple[Path, Any]], list[str], dict[Path, str]]:
    """Geometry headers of the series' image files (a lone file must be one), and the
    pixel data problems of those files."""
    entries: list[tuple[Path, Any]] = []
    notes: list[str] = []
    problems: dict[Path, str] = {}
    for f in candidates:
        try:
            size = check_size(f)
            if not is_dicom(f):
                raise ReaderError(f, "not a DICOM file (no DICM magic at byte 128)")
            with reader_errors(f, "corrupt or truncated DICOM header"):
                ds, problem = read_geometry(f, size)
            if not _is_image(ds):
                from pydicom.uid import UID

                name = UID(str(_sop_class(ds) or "")).name or "unknown SOP class"
                raise ReaderError(f, f"DICOM object without an image ({name})")
            _check_numbers(f, ds)
        except ReaderError as exc:
            if single:
                raise
            notes.append(f"skipped {f.name}: {exc.cause}")
            continue
        if uid and str(ds.get("SeriesInstanceUID") or "") != uid:
            continue
        entries.append((f, ds))
        if problem:
            problems[f] = problem
    return entries, notes, problems


def _check_numbers(path: Path, ds: Dataset) -> None:
    """Integer tags the geometry needs must be numbers (a damaged header may hold text)."""
    for key in ("NumberOfFrames", "SamplesPerPixel", "BitsAllocated", "InstanceNumber"):
        value = ds.get(key)
        try:
            int(value or 0)
        except (TypeError, ValueError) as exc:
            cause = f"corrupt DICOM header: {key} is {value!r}, not a number"
            raise ReaderError(path, cause) from exc


def _decode_one(entries: list[tuple[Path, Any]], frames: tuple[int, ...], size: tuple) -> None:
    """Decode the middle slice (one frame of it), so undecodable pixels fail describe."""
    k = len(entries) // 2
    path = entries[k][0]
    index = frames[k] // 2 if frames[k] > 1 else None
    what = "pixel data" if index is None else f"frame {index} of the pixel data"
    try:
        _, arr = decode(path, index)
    except Exception as exc:
        raise decode_error(path, exc, what) from exc
    rows, cols, samples = size
    expected = (rows, cols, samples) if samples > 1 else (rows, cols)
    if tuple(arr.shape[-len(expected) :]) != expected:
        raise ReaderError(
            path, f"decoded {what} has shape {arr.shape}, the header says {expected}"
        )


def _duplicate_notes(dropped: list[tuple[Path, Path, str]]) -> list[str]:
    if not dropped:
        return []
    shown = "; ".join(f"{d.name} = {k.name} ({why})" for d, k, why in dropped[:5])
    more = f"; and {len(dropped) - 5} more" if len(dropped) > 5 else ""
    return [f"{len(dropped)} duplicate file(s) not stacked: {shown}{more}"]


def _relative(path: Path, folder: Path) -> str:
    try:
        return path.relative_to(folder).as_posix()
    except ValueError:
        return str(path)


def _sort(
    entries: list[tuple[Path, Any]],
) -> tuple[list[tuple[Path, Any]], list[float] | None, str, list[str]]:
    """Slices by position along the slice normal, else InstanceNumber, else file name."""
    n = len(entries)
    ipps = [ds.get("ImagePositionPatient") for _, ds in entries]
    iops = [ds.get("ImageOrientationPatient") for _, ds in entries]
    numbers = [ds.get("InstanceNumber") for _, ds in entries]
    notes: list[str] = []
    if all(p is not None and len(p) == 3 for p in ipps) and all(o and len(o) == 6 for o in iops):
        orient = np.asarray(iops, dtype=float)
        if np.allclose(orient, orient[0], atol=1e-4):
            normal = np.cross(orient[0, :3], orient[0, 3:])
            d = [float(np.dot(np.asarray(p, dtype=float), normal)) for p in ipps]
            order = sorted(
                range(n), key=lambda i: (d[i], int(numbers[i] or 0), entries[i][0].name)
            )
            return [entries[i] for i in order], [d[i] for i in order], "position", notes
        notes.append("slices have different orientations; sorted by InstanceNumber")
    if all(v is not None for v in numbers):
        order = sorted(range(n), key=lambda i: (int(numbers[i]), entries[i][0].name))
        return [entries[i] for i in order], None, "instance number", notes
    return sorted(entries, key=lambda e: e[0].name), None, "file name", notes


def _frame_positions(ds: Dataset) -> tuple[list[float] | None, list[str]]:
    """Positions of the frames of an Enhanced multi-frame object along the slice normal."""
    try:
        shared = ds.SharedFunctionalGroupsSequence[0]
        frames = ds.PerFrameFunctionalGroupsSequence
        orient = shared.PlaneOrientationSequence[0].ImageOrientationPatient
        normal = np.cross(np.asarray(orient[:3], float), np.asarray(orient[3:], float))
        ipps = [f.PlanePositionSequence[0].ImagePositionPatient for f in frames]
        d = [float(np.dot(np.asarray(p, float), normal)) for p in ipps]
    except Exception:
        return None, []
    steps = np.diff(d)
    if len(steps) and not (np.all(steps >= 0) or np.all(steps <= 0)):
        return None, ["frames are not stored in spatial order; no z spacing from positions"]
    return d, []


def _dtype(first: Dataset, rescales: list[tuple[float, float]], samples: int) -> np.dtype:
    """The stored type, or int16/float32 once RescaleSlope/Intercept are applied."""
    bits = int(first.get("BitsAllocated") or 16)
    signed = int(first.get("PixelRepresentation") or 0)
    stored = np.dtype(STORED.get((bits, signed), "u1" if bits == 1 else "u2"))
    if samples > 1 or all(r == (1.0, 0.0) for r in rescales):
        return stored
    depth = int(first.get("BitsStored") or bits)
    lo, hi = (-(1 << (depth - 1)), (1 << (depth - 1)) - 1) if signed else (0, (1 << depth) - 1)
    ends = [v for s, i in rescales for v in (lo * s + i, hi * s + i)]
    whole = all(float(s).is_integer() and float(i).is_integer() for s, i in rescales)
    return np.dtype("int16" if whole and min(ends) >= -32768 and max(ends) <= 32767 else "float32")


def _step(positions: list[float]) -> tuple[float | None, list[str]]:
    diffs = np.abs(np.diff(positions))
    moving = diffs[diffs > 1e-6]
    notes = []
    if len(moving) < len(diffs):
        notes.append(
            f"{len(diffs) - len(moving)} slices share a position (several echoes or phases?)"
        )
    if not len(moving):
        return None, notes
    step = float(np.median(moving))
    if float(np.ptp(moving)) > 0.01 * step + 1e-4:
        notes.append(
            f"irregular slice spacing ({moving.min():.4g} to {moving.max():.4g} mm); "
            f"z spacing is the median, {step:.4g} mm"
        )
    return step, notes


def _when(ds: Dataset) -> dt.datetime | None:
    """Acquisition, else series, else study, else content date and time."""
    from pydicom.valuerep import DA, DT, TM

    with contextlib.suppress(Exception):
        if ds.get("AcquisitionDateTime"):
            return DT(str(ds.AcquisitionDateTime)).replace(tzinfo=None)
    for prefix in ("Acquisition", "Series", "Study", "Content"):
        day, clock = ds.get(f"{prefix}Date"), ds.get(f"{prefix}Time")
        with contextlib.suppress(Exception):
            if day:
                time = TM(str(clock).strip()) if clock else dt.time()
                return dt.datetime.combine(DA(str(day).strip()), time)
    return None


def _measure(ds: Dataset, key: str) -> Any:
    """``key`` at the top level, else in the Enhanced shared PixelMeasuresSequence."""
    if ds.get(key):
        return ds.get(key)
    for group in ds.get("SharedFunctionalGroupsSequence") or []:
        for item in group.get("PixelMeasuresSequence") or []:
            if item.get(key):
                return item.get(key)
    return None


def _info(
    first: Dataset,
    positions: list[float] | None,
    how: str,
    shape: tuple[int, ...],
    dtype: np.dtype,
    n_files: int,
    notes: list[str],
) -> ImageInfo:
    from pydicom.uid import UID

    depth = shape[0]
    spacing: dict[str, float] = {}
    units: dict[str, str] = {}
    pixel, pixel_source = _measure(first, "PixelSpacing"), "PixelSpacing"
    if not pixel and first.get("ImagerPixelSpacing"):
        pixel, pixel_source = first.ImagerPixelSpacing, "ImagerPixelSpacing (at the detector)"
    if pixel and len(pixel) == 2:
        _spacing(spacing, units, "y", float(pixel[0]), "mm")
        _spacing(spacing, units, "x", float(pixel[1]), "mm")
    if depth > 1:
        step = None
        if positions is not None and len(positions) > 1:
            step, more = _step(positions)
            notes = notes + more
        thickness = _measure(first, "SpacingBetweenSlices") or _measure(first, "SliceThickness")
        _spacing(spacing, units, "z", step or thickness, "mm")
    origin: dict[str, float] = {}
    iop, ipp = first.get("ImageOrientationPatient"), first.get("ImagePositionPatient")
    if iop and ipp and np.allclose(np.asarray(iop, float), [1, 0, 0, 0, 1, 0]):
        origin = {a: float(v) for a, v in zip("xyz", ipp) if a in spacing and float(v)}
    syntax = first.file_meta.get("TransferSyntaxUID") if hasattr(first, "file_meta") else None
    tags = {k: v for k in META_TAGS if (v := plain(first.get(k))) not in (None, "", [])}
    meta: dict[str, Any] = {
        "format": "DICOM",
        "sop_class": UID(str(_sop_class(first) or "")).name or None,
        "transfer_syntax": syntax.name if syntax else None,
        "files": n_files,
        "frames": depth,
        "slice_order": how,
        "pixel_spacing_source": pixel_source if pixel else None,
        "tags": tags,
    }
    if positions:
        meta["slice_positions_mm"] = [positions[0], positions[-1]]
    maker = [str(first.get(k) or "").strip() for k in ("Manufacturer", "ManufacturerModelName")]
    axes = "zyx" if depth > 1 else "yx"
    dims = shape if depth > 1 else shape[1:]
    if len(shape) == 4:  # samples last in the files, channels first here
        axes, dims = "c" + axes, (shape[3], *dims[:-1])
    return ImageInfo(
        shape=dims,
        dtype=str(dtype),
        axes=axes,
        spacing=spacing,
        units=units,
        origin=origin,
        modality=str(first.get("Modality") or "").strip() or None,
        acquired=_when(first),
        instrument=" ".join(m for m in maker if m) or None,
        access=None if _deidentified(first) else "restricted",
        meta=jsonable(meta),
        warnings=notes,
    )
