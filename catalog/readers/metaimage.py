"""MetaImage (ITK MetaIO): ``.mha`` (header and data in one file) and ``.mhd`` (a text
header next to a ``.raw``/``.zraw`` data file, or a list of slice files).

The text header (``Key = Value`` lines ending with ``ElementDataFile``) is parsed here,
so describing a file never touches its pixels. Uncompressed data opens through
``np.memmap`` in dask chunks; zlib-compressed data is one dask chunk, inflated with
``zlib`` (SimpleITK only prints a zlib error to stderr and returns garbage, so it reads
only compressed data split over several files).
:mod:`~catalog.readers.detached` holds what MetaImage shares with NRRD: data files
named by a list or a file pattern, the memmap block reader, and the check that a data
file is read only when it is one of the dataset's files (the scan adds those that lie
inside the scanned folder and fails the dataset, naming header and data file, for one
outside it), so ``ElementDataFile = /etc/passwd`` or ``../../x.raw`` never turns
someone else's bytes into pixels (see :func:`~catalog.confine.sidecar_problem`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..confine import normal, open_binary
from ..errors import ReaderError
from .arrays import check_size, dask_name
from .base import (
    ImageInfo,
    Reader,
    Source,
    build_dataarray,
    canonical_order,
    has_suffix,
    jsonable,
    level_of,
    read_magic,
    reader_errors,
    spacing_entry,
    strip_suffix,
)
from .detached import (
    check_data_files,
    check_extent,
    data_files,
    group_headers,
    is_list,
    listed_names,
    raw_array,
    read_header,
)

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

HEADER_BYTES = 1 << 16  # a MetaIO header longer than this is not one
ELEMENT_TYPES = {
    "MET_CHAR": "i1",
    "MET_UCHAR": "u1",
    "MET_SHORT": "i2",
    "MET_USHORT": "u2",
    "MET_INT": "i4",
    "MET_UINT": "u4",
    "MET_LONG": "i4",
    "MET_ULONG": "u4",
    "MET_LONG_LONG": "i8",
    "MET_ULONG_LONG": "u8",
    "MET_FLOAT": "f4",
    "MET_DOUBLE": "f8",
}
#: Keys a MetaIO header starts with (the first line must be one of the known keys).
KNOWN_KEYS = frozenset(
    {
        *("Comment", "ObjectType", "ObjectSubType", "TransformType", "NDims", "Name", "ID"),
        *("ParentID", "CompressedData", "CompressedDataSize", "BinaryData", "Color"),
        *("BinaryDataByteOrderMSB", "ElementByteOrderMSB", "Position", "Offset", "Origin"),
        *("Orientation", "Rotation", "TransformMatrix", "CenterOfRotation", "Modality"),
        *("AnatomicalOrientation", "ElementSpacing", "DimSize", "HeaderSize", "SequenceID"),
        *("HeaderSizePerSlice", "ElementMin", "ElementMax", "ElementNumberOfChannels"),
        *("ElementSize", "ElementType", "ElementDataFile"),
    }
)


def parse_header(path: Path) -> tuple[dict[str, str], int, list[str]]:
    """The ``Key = Value`` fields, the byte offset after the header and any listed files."""
    head = read_header(path, HEADER_BYTES, _header_complete)
    fields: dict[str, str] = {}
    listed: list[str] = []
    pos = 0
    lines = head.split(b"\n")
    for i, raw in enumerate(lines):
        line = raw.decode("latin-1").strip()
        end = pos + len(raw) + 1
        if line:
            key, sep, value = line.partition("=")
            key = key.strip()
            if not sep or not key:
                raise ValueError(f"line {i + 1} is not 'Key = Value': {line[:60]!r}")
            fields[key] = value.strip()
            if key == "ElementDataFile":
                if is_list(fields[key]):
                    listed = listed_names(lines[i + 1 :])
                if end > len(head) and not listed:
                    end = len(head)  # header without a final newline
                return fields, end, listed
        pos = end
    raise ValueError("no ElementDataFile line (not a MetaImage header, or cut short)")


_DATA_FILE_LINE = re.compile(rb"(?m)^[ \t]*ElementDataFile[ \t]*=([^\n]*)\n")


def _header_complete(head: bytes) -> bool:
    """Whether ``head`` holds the whole header: its ``ElementDataFile`` line, ended, and
    naming no ``LIST`` (the names of a list run to the end of the file)."""
    m = _DATA_FILE_LINE.search(head)
    return m is not None and not is_list(m[1].decode("latin-1"))


def _bool(value: str | None) -> bool:
    return str(value or "").strip().lower() in ("true", "1", "yes")


def _numbers(value: str | None) -> list[float]:
    try:
        return [float(v) for v in str(value or "").split()]
    except ValueError:
        return []


class MetaImageReader(Reader):
    """ITK MetaImage ``.mha`` and ``.mhd`` + data file, headers parsed without SimpleITK.

    >>> reader = MetaImageReader()
    >>> sources, rest = reader.group(Path("ct"), [Path("ct/liver.mhd"), Path("ct/liver.raw")])  # doctest: +SKIP
    >>> info = reader.describe(sources[0])                  # doctest: +SKIP
    >>> info.axes, info.spacing["z"]                        # doctest: +SKIP
    ('zyx', 0.0006)
    """

    name: ClassVar[str] = "metaimage"
    description: ClassVar[str] = "ITK MetaImage (.mha, .mhd + .raw/.zraw)"
    url: ClassVar[str] = "https://itk.org/Wiki/ITK/MetaIO/Documentation"
    suffixes: ClassVar[tuple[str, ...]] = (".mha", ".mhd")

    def guess_can_open(self, path: Path) -> bool:
        """MetaImage has no magic bytes: the suffix and a MetaIO first line decide."""
        try:
            path = Path(path)
            if not has_suffix(path, self.suffixes):
                return False
            head = read_magic(path, 256).lstrip()
            first = head.split(b"\n", 1)[0].decode("latin-1")
            key, sep, _ = first.partition("=")
            return bool(sep) and key.strip() in KNOWN_KEYS
        except Exception:
            return False

    def group(self, directory: Path, files: list[Path]) -> tuple[list[Source], list[Path]]:
        """Pair every ``.mhd`` header (and ``.mha`` header whose data is in another
        file) with the data file(s) it names."""
        return group_headers(files, self._detached, self._name)

    def _detached(self, path: Path) -> list[Path] | None:
        if not has_suffix(path, self.suffixes) or not self.guess_can_open(path):
            return None
        try:
            fields, _, listed = parse_header(path)
            data = self._data_files(path, fields, listed)
        except (ValueError, OSError):
            return None
        if has_suffix(path, (".mha",)) and data == [Path(normal(path))]:
            return None  # data in the header: a single-file dataset
        return data

    def _name(self, path: Path) -> str:
        return strip_suffix(path.name, self.suffixes)

    def describe(self, source: Source) -> ImageInfo:
        return self._inspect(Path(source.path), source.files)[0]

    def open(self, source: Source, *, level: int = 0) -> xr.DataArray:
        path = Path(source.path)
        info, plan = self._inspect(path, source.files)
        level_of(info, level, path)
        shape, dtype, axes = plan["shape"], plan["dtype"], plan["axes"]
        if plan["compressed"]:
            data = compressed_array(path, plan["parts"], shape, dtype)
        else:
            data = raw_array(plan["parts"], shape, dtype, "metaimage")
        data = data.transpose(canonical_order(axes))
        return build_dataarray(data, info, level=level, name=source.display_name)

    # -- inspection ----------------------------------------------------------------
    def _data_files(self, path: Path, fields: dict[str, str], listed: list[str]) -> list[Path]:
        """The data files the header names, absolute and normalised (``..`` resolved as
        text); ``path`` itself for ``LOCAL``."""
        spec = fields.get("ElementDataFile", "").strip()
        if spec.upper() == "LOCAL":
            return [Path(normal(path))]
        return data_files(path, spec, listed)

    def _inspect(self, path: Path, files: Iterable[Any] = ()) -> tuple[ImageInfo, dict[str, Any]]:
        check_size(path)
        with reader_errors(path, "invalid MetaImage header", catch=ValueError):
            fields, header_end, listed = parse_header(path)
        with reader_errors(path, "invalid MetaImage header", with_type=True):
            return self._build(path, fields, header_end, listed, tuple(files))

    def _build(
        self,
        path: Path,
        fields: dict[str, str],
        header_end: int,
        listed: list[str],
        files: tuple[Any, ...] = (),
    ) -> tuple[ImageInfo, dict[str, Any]]:
        ndims = int(fields.get("NDims", "0"))
        dims = [int(float(v)) for v in fields.get("DimSize", "").split()]
        if not 1 <= ndims <= 4 or len(dims) != ndims or min(dims) < 1:
            raise ReaderError(path, f"invalid NDims/DimSize: {ndims} / {dims}")
        etype = fields.get("ElementType", "").upper().replace("_ARRAY", "")
        if etype not in ELEMENT_TYPES:
            raise ReaderError(path, f"unsupported ElementType {fields.get('ElementType')!r}")
        msb = _bool(fields.get("ElementByteOrderMSB") or fields.get("BinaryDataByteOrderMSB"))
        dtype = np.dtype(ELEMENT_TYPES[etype]).newbyteorder(">" if msb else "<")
        channels = int(fields.get("ElementNumberOfChannels", "1") or 1)
        shape = tuple(reversed(dims)) + ((channels,) if channels > 1 else ())
        axes = "tzyx"[-ndims:] + ("c" if channels > 1 else "")
        compressed = _bool(fields.get("CompressedData"))
        if not _bool(fields.get("BinaryData", "True")):
            raise ReaderError(path, "ASCII MetaImage data (BinaryData = False) is not supported")
        named = self._data_files(path, fields, listed)
        if not named:
            raise ReaderError(path, "ElementDataFile = LIST names no data file")
        check_data_files(path, named, files, "ElementDataFile")
        header = Path(normal(path))
        named = [path if f == header else f for f in named]
        nbytes = int(np.prod(shape)) * dtype.itemsize
        parts: list[tuple[Path, int]] = []
        skip = int(float(fields.get("HeaderSize", "0") or 0))
        if compressed:
            starts = [header_end if f == path else max(skip, 0) for f in named]
            parts = list(zip(named, starts))
            packed = int(float(fields.get("CompressedDataSize", "0") or 0))
            if packed > 0 and len(parts) == 1:
                check_extent(parts, packed, path)
        else:
            if shape[0] % len(named):
                raise ReaderError(
                    path, f"{len(named)} data files do not split {shape[0]} slices evenly"
                )
            per_file = nbytes // len(named)
            for f in named:
                if f == path:
                    offset = header_end + max(skip, 0)
                elif skip == -1:
                    offset = f.stat().st_size - per_file
                else:
                    offset = skip
                parts.append((f, offset))
            check_extent(parts, per_file, path)
        order = canonical_order(axes)
        info = self._info(
            fields,
            tuple(shape[i] for i in order),
            dtype,
            "".join(axes[i] for i in order),
            named,
            compressed,
        )
        plan = {"shape": shape, "dtype": dtype, "axes": axes, "compressed": compressed}
        plan["parts"] = parts
        return info, plan

    def _info(
        self,
        fields: dict[str, str],
        shape: tuple[int, ...],
        dtype: np.dtype,
        axes: str,
        data_files: list[Path],
        compressed: bool,
    ) -> ImageInfo:
        spacing: dict[str, float] = {}
        units: dict[str, str] = {}
        sizes = _numbers(fields.get("ElementSpacing") or fields.get("ElementSize"))
        ndims = int(fields["NDims"])
        spatial = "xyz"[: min(ndims, 3)]
        for axis, value in zip(spatial, sizes):
            spacing_entry(spacing, units, axis, value, "mm")
        meta: dict[str, Any] = {"format": "MetaImage", "header": dict(fields)}
        if ndims == 4 and len(sizes) == 4:
            meta["time_step"] = sizes[3]
        meta["data_files"] = [f.name for f in data_files[:64]]
        meta["compressed"] = compressed
        offset = _numbers(fields.get("Offset") or fields.get("Position") or fields.get("Origin"))
        matrix = _numbers(
            fields.get("TransformMatrix") or fields.get("Rotation") or fields.get("Orientation")
        )
        origin: dict[str, float] = {}
        k = len(spatial)
        if len(offset) >= k and (not matrix or np.allclose(matrix, np.eye(k).ravel())):
            origin = {a: float(v) for a, v in zip(spatial, offset) if a in spacing and v}
        modality = fields.get("Modality", "").replace("MET_MOD_", "") or None
        if modality in ("UNKNOWN", None):
            modality = None
        return ImageInfo(
            shape=shape,
            dtype=str(dtype.newbyteorder("=")),
            axes=axes,
            spacing=spacing,
            units=units,
            origin=origin,
            modality=modality,
            meta=jsonable(meta),
        )


def _inflate(path: str, offset: int, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Decompress zlib-compressed MetaImage data (SimpleITK only prints zlib errors)."""
    import zlib

    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    failed = "cannot decompress MetaImage data (corrupt?)"
    with reader_errors(path, failed, catch=(OSError, zlib.error)), open_binary(path) as fh:
        fh.seek(offset)
        inflater = zlib.decompressobj()
        raw = inflater.decompress(fh.read(), nbytes)
    if len(raw) != nbytes:
        raise ReaderError(
            path, f"truncated compressed data: {len(raw)} of {nbytes} bytes after inflating"
        )
    return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(np.dtype(dtype).newbyteorder("="))


def _sitk_read(path: str, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    import SimpleITK as sitk

    with reader_errors(path, "cannot read MetaImage data (truncated?)"):
        image = sitk.ReadImage(path)
        data = sitk.GetArrayFromImage(image)
    if data.size != int(np.prod(shape)):
        raise ReaderError(path, f"pixel data has shape {data.shape}, the header says {shape}")
    return data.reshape(shape).astype(dtype, copy=False)


def compressed_array(
    header: Path, parts: list[tuple[Path, int]], shape: tuple[int, ...], dtype: np.dtype
) -> Any:
    """One dask chunk: zlib for a single data file, SimpleITK for a list of files."""
    import dask
    import dask.array as da

    native = str(dtype.newbyteorder("="))
    name = dask_name("metaimage-z", header, shape)
    if len(parts) == 1:
        path, offset = parts[0]
        task = dask.delayed(_inflate, pure=True, name=name)(str(path), offset, shape, dtype.str)
    else:
        task = dask.delayed(_sitk_read, pure=True, name=name)(str(header), shape, native)
    return da.from_delayed(task, shape=shape, dtype=native)
