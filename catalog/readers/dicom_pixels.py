"""Pixel data of DICOM files: a cheap check of its extent, decoding, and duplicates.

- :func:`pixel_problem` looks at the Pixel Data element right after a header read
  (a few bytes, one more per fragment of compressed data) and says when it is cut short
  or malformed, without reading or decoding pixels.
- :func:`decode` decodes one frame (or a whole file) through pydicom, with the
  imagecodecs plugin registered next to pydicom's own.
- :func:`drop_duplicates` keeps one file per instance: files with the same
  SOPInstanceUID (a copy, or the image in another transfer syntax), and files at the
  same position whose decoded pixels are equal. Pixels are only decoded for files whose
  position and acquisition tags collide, so a normal series costs nothing.

>>> with open(path, "rb") as fp:                               # doctest: +SKIP
...     ds = dcmread(fp, stop_before_pixels=True)
...     pixel_problem(fp, ds, path.stat().st_size)
'truncated pixel data: 8130 of 8192 bytes present'
"""

from __future__ import annotations

import hashlib
import struct
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from ..errors import ReaderError

if TYPE_CHECKING:  # pragma: no cover
    from pydicom.dataset import Dataset

PIXEL_TAGS = {(0x7FE0, 0x0010), (0x7FE0, 0x0008), (0x7FE0, 0x0009)}
LONG_VRS = {b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"UN"}
UNDEFINED = 0xFFFFFFFF
#: Tags that tell apart images taken at one position (echoes, phases, repeats): files
#: that differ in one of them are never duplicates, even when their pixels are equal.
ACQUISITION_TAGS = ["AcquisitionNumber", "AcquisitionTime", "EchoNumbers", "EchoTime"]
ACQUISITION_TAGS += ["TemporalPositionIdentifier", "TriggerTime", "DiffusionBValue", "ImageType"]


def syntax_of(ds: Dataset) -> Any:
    """The file's TransferSyntaxUID, or None."""
    meta = getattr(ds, "file_meta", None)
    return meta.get("TransferSyntaxUID") if meta is not None else None


def pixel_problem(fp: BinaryIO, ds: Dataset, size: int) -> str | None:
    """Why the Pixel Data at ``fp``'s position is unusable, or None when it looks whole.

    ``fp`` is where ``dcmread(fp, stop_before_pixels=True)`` left it: at the start of the
    Pixel Data element. Deflated files (positions are in the inflated stream) and files
    without a transfer syntax are not checked here; decoding checks them.
    """
    syntax = syntax_of(ds)
    if syntax is None or syntax.is_deflated:
        return None
    start = fp.tell()
    head = fp.read(12)
    if not head:
        return "no pixel data (the file ends before the Pixel Data element)"
    if len(head) < 8:
        return "truncated pixel data (the file ends inside the Pixel Data element)"
    order = "<" if syntax.is_little_endian else ">"
    if struct.unpack(order + "HH", head[:4]) not in PIXEL_TAGS:
        return None  # pydicom stopped on something else: leave it to the decoder
    if head[4:6] in LONG_VRS and head[6:8] == b"\0\0" and len(head) == 12:
        (length,), body = struct.unpack(order + "L", head[8:12]), start + 12
    else:  # implicit VR (or an explicit file written with implicit element headers)
        (length,), body = struct.unpack(order + "L", head[4:8]), start + 8
    if length == UNDEFINED:
        return _fragments_problem(fp, body, size, order, ds)
    if size - body < length:
        return f"truncated pixel data: {size - body} of {length} bytes present"
    if not syntax.is_encapsulated:
        expected = _expected_bytes(ds)
        if expected and length < expected:
            return (
                f"pixel data too short: {length} bytes, the image needs {expected} "
                f"({ds.Rows} x {ds.Columns}, {ds.get('BitsAllocated')} bits)"
            )
    return None


def _expected_bytes(ds: Dataset) -> int | None:
    from pydicom.pixels.utils import get_expected_length

    try:
        return int(get_expected_length(ds, unit="bytes"))
    except Exception:
        return None  # a tag is missing: decoding will say which


def _fragments_problem(fp: BinaryIO, pos: int, size: int, order: str, ds: Dataset) -> str | None:
    """Walk the items of encapsulated pixel data (8 bytes read per item)."""
    items = 0
    while True:
        fp.seek(pos)
        head = fp.read(8)
        if not head and items > 1:
            break  # no sequence delimiter, but every fragment whole: readers accept it
        if len(head) < 8:
            return f"truncated pixel data: the file ends after {max(items - 1, 0)} fragment(s)"
        group, element, length = struct.unpack(order + "HHL", head)
        if (group, element) == (0xFFFE, 0xE0DD):
            break
        if (group, element) != (0xFFFE, 0xE000) or length == UNDEFINED:
            return (
                f"corrupt compressed pixel data: item {items} at byte {pos} has tag "
                f"({group:04X},{element:04X}), not a fragment"
            )
        if pos + 8 + length > size:
            present = size - pos - 8
            return (
                f"truncated pixel data: fragment {items} has {present} of {length} bytes "
                "(the file is cut short)"
            )
        pos += 8 + length
        items += 1
    frames = int(ds.get("NumberOfFrames") or 1)
    if items - 1 < frames:  # the first item is the basic offset table
        return f"truncated pixel data: {max(items - 1, 0)} fragment(s) for {frames} frame(s)"
    return None


def decode(path: Path, index: int | None = None) -> tuple[Dataset | None, np.ndarray]:
    """Frame ``index`` of ``path`` (only that frame is read), or the whole file's pixels.

    Returns the dataset too when the whole file was read (for rescale tags), else None.
    """
    from pydicom import dcmread
    from pydicom.pixels import pixel_array

    from .dicom_codecs import register

    register()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if index is not None:
            try:
                return None, pixel_array(path, index=index)
            except Exception:
                pass  # pydicom's frame-by-frame file parser is stricter: try the dataset
        ds = dcmread(path)
        if index is not None:
            ds.pixel_array_options(index=index)
        return ds, ds.pixel_array


def decode_error(path: Path, exc: BaseException, what: str) -> ReaderError:
    """A one-line ReaderError for a failed decode (pydicom lists every plugin's failure)."""
    syntax = None
    try:
        from pydicom.filereader import read_file_meta_info

        syntax = read_file_meta_info(path).get("TransferSyntaxUID")
    except Exception:
        pass
    first, *plugins = [line.strip() for line in str(exc).splitlines() if line.strip()] or [""]
    text = " ".join([first, "; ".join(plugins)]).strip()  # one failure per plugin
    name = f" ({syntax.name})" if syntax is not None else ""
    return ReaderError(path, f"cannot decode {what}{name}: {text or type(exc).__name__}")


def _rank(ds: Dataset) -> int:
    """0 for native little endian, 1 for big endian or deflated, 2 for compressed."""
    syntax = syntax_of(ds)
    if syntax is None:
        return 1
    if syntax.is_encapsulated:
        return 2
    return 0 if syntax.is_little_endian and not syntax.is_deflated else 1


def drop_duplicates(
    entries: list[tuple[Path, Any]], problems: dict[Path, str]
) -> tuple[list[tuple[Path, Any]], list[tuple[Path, Path, str]]]:
    """One entry per instance, and ``(duplicate, kept, why)`` for each file left out.

    The kept file of each group is the first of: pixels intact (no entry in
    ``problems``), uncompressed, first by path.
    """
    dropped: list[tuple[Path, Path, str]] = []

    def prefer(item: tuple[Path, Any]) -> tuple[bool, int, Path]:
        return item[0] in problems, _rank(item[1]), item[0]

    def keep_one(groups: dict[Any, list[tuple[Path, Any]]], why: str) -> None:
        for members in groups.values():
            if len(members) < 2:
                continue
            kept, *rest = sorted(members, key=prefer)
            for path, _ in rest:
                damage = f"; this copy: {problems[path]}" if path in problems else ""
                dropped.append((path, kept[0], why + damage))

    by_uid: dict[Any, list[tuple[Path, Any]]] = {}
    for entry in entries:
        uid = str(entry[1].get("SOPInstanceUID") or "") or object()  # no UID: its own group
        by_uid.setdefault(uid, []).append(entry)
    keep_one(by_uid, "same SOPInstanceUID")
    gone = {d for d, _, _ in dropped}
    entries = [e for e in entries if e[0] not in gone]

    by_place: dict[Any, list[tuple[Path, Any]]] = {}
    for entry in entries:
        key = _place(entry[1])
        if key is not None and entry[0] not in problems:
            by_place.setdefault(key, []).append(entry)
    by_pixels: dict[Any, list[tuple[Path, Any]]] = {}
    for key, members in by_place.items():
        if len(members) > 1:  # a collision: only now are pixels decoded
            for path, ds in members:
                by_pixels.setdefault((key, _digest(path)), []).append((path, ds))
    keep_one(by_pixels, "same position and pixels")
    gone = {d for d, _, _ in dropped}
    dropped.sort(key=lambda d: (d[0] not in problems, d[0]))  # damaged copies first
    return [e for e in entries if e[0] not in gone], dropped


def _place(ds: Dataset) -> tuple | None:
    """Position, orientation and acquisition tags of a single-frame slice, or None."""
    ipp, iop = ds.get("ImagePositionPatient"), ds.get("ImageOrientationPatient")
    if int(ds.get("NumberOfFrames") or 1) > 1 or not ipp or not iop:
        return None
    if len(ipp) != 3 or len(iop) != 6:
        return None
    try:
        where = tuple(np.round(np.asarray(ipp, float), 4)) + tuple(
            np.round(np.asarray(iop, float), 5)
        )
    except (TypeError, ValueError):
        return None
    tags = tuple(str(ds.get(k, "")) for k in ACQUISITION_TAGS)
    rescale = (str(ds.get("RescaleSlope", "")), str(ds.get("RescaleIntercept", "")))
    return (*where, *tags, *rescale)


def _digest(path: Path) -> str:
    """A hash of the decoded pixels (byte order made native, so syntaxes compare equal)."""
    try:
        _, arr = decode(path)
    except Exception as exc:
        raise decode_error(path, exc, "pixel data") from exc
    arr = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("="))
    digest = hashlib.blake2b(arr.tobytes(), digest_size=16)
    digest.update(f"{arr.shape}{arr.dtype.str}".encode())
    return digest.hexdigest()
