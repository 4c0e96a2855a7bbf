"""NRRD through pynrrd: attached ``.nrrd`` files and detached ``.nhdr`` headers with
their data file(s).

The header is parsed by ``nrrd.read_header``; raw data opens through ``np.memmap`` in
dask chunks (the data starts after the header's blank line, plus ``line skip`` and
``byte skip``), compressed or text data is one dask chunk read by ``nrrd.read``. Axis
sizes are listed fastest first, so the C-order array is ``(z, y, x)``; ``kinds`` and
``space directions`` say which axes are spatial, which are time or channels.

Detached headers (lists and file patterns of data files, the memmap block reader, the
confinement of data files) share :mod:`~catalog.readers.detached` with MetaImage: a
data file is read only when it is one of the dataset's files, so ``data file:
/etc/passwd`` or ``../x.raw`` outside the scanned folder is refused, never read.
"""

from __future__ import annotations

import contextlib
import warnings
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
    jsonable,
    level_of,
    read_magic,
    reader_errors,
    spacing_entry,
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

MAGIC = b"NRRD000"
HEADER_BYTES = 1 << 20
TYPES = {
    "i1": "signed char, int8, int8_t",
    "u1": "uchar, unsigned char, uint8, uint8_t",
    "i2": "short, short int, signed short, signed short int, int16, int16_t",
    "u2": "ushort, unsigned short, unsigned short int, uint16, uint16_t",
    "i4": "int, signed int, int32, int32_t",
    "u4": "uint, unsigned int, uint32, uint32_t",
    "i8": "longlong, long long, long long int, signed long long, signed long long int, "
    "int64, int64_t",
    "u8": "ulonglong, unsigned long long, unsigned long long int, uint64, uint64_t",
    "f4": "float",
    "f8": "double",
}
DTYPES = {name.strip(): code for code, names in TYPES.items() for name in names.split(",")}
SPATIAL_KINDS = frozenset({"domain", "space", "none", "???"})


def is_nrrd(path: Path) -> bool:
    return read_magic(Path(path), len(MAGIC)) == MAGIC


def read_nrrd_header(path: Path) -> tuple[dict[str, Any], int, list[str]]:
    """(header fields, byte offset of attached data, files listed after ``data file: LIST``)."""
    import nrrd

    head = read_header(path, HEADER_BYTES, _header_complete)
    lines = head.splitlines(keepends=True)
    kept: list[bytes] = []
    listed: list[str] = []
    offset = None
    pos = 0
    for i, line in enumerate(lines):
        pos += len(line)
        text = line.decode("latin-1").strip()
        if i and not text:
            offset = pos
            break
        kept.append(line)
        if _names_list(text):
            listed = listed_names(lines[i + 1 :], comments=True)
            break
    if offset is None and len(head) == HEADER_BYTES and not listed:
        raise ValueError("header is not terminated by a blank line within 1 MB")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        header = dict(nrrd.read_header([ln.decode("latin-1") for ln in kept]))
    return header, offset if offset is not None else pos, listed


def _names_list(line: str) -> bool:
    """Whether a header line is ``data file: LIST`` (the names follow the header)."""
    key, sep, value = line.partition(":")
    return bool(sep) and key.strip().lower() in ("data file", "datafile") and is_list(value)


def _header_complete(head: bytes) -> bool:
    """Whether ``head`` holds the whole header: up to its ended blank line, and no
    ``data file: LIST`` (the names of a list run to the end of the file)."""
    for i, line in enumerate(head.splitlines(keepends=True)):
        text = line.decode("latin-1").strip()
        if i and not text:
            return line.endswith(b"\n")
        if _names_list(text):
            return False
    return False


def _dims(header: dict[str, Any], ndim: int) -> tuple[str, list[int]]:
    """File-order (slowest first) axis letters and the spatial axes' indices (fastest first)."""
    kinds = [str(k).strip() for k in header.get("kinds") or []]
    directions = header.get("space directions")
    spatial: list[bool] = []
    for i in range(ndim):
        if directions is not None and len(directions) == ndim:
            row = directions[i]
            spatial.append(row is not None and not np.all(np.isnan(np.asarray(row, dtype=float))))
        elif len(kinds) == ndim:
            spatial.append(kinds[i].lower() in SPATIAL_KINDS)
        else:
            spatial.append(True)
    letters: list[str] = []
    used_space: list[int] = []
    for i in range(ndim):
        kind = kinds[i].lower() if len(kinds) == ndim else ""
        if kind == "time":
            letters.append("t")
        elif spatial[i] and len(used_space) < 3:
            letters.append("xyz"[len(used_space)])
            used_space.append(i)
        elif spatial[i]:
            letters.append("t")
        else:
            letters.append("c")
    fastest_first = "".join(letters)
    if len(set(fastest_first)) != ndim:
        raise ValueError(f"cannot map axes (kinds {kinds or 'unset'}) to tczyx: {fastest_first}")
    return fastest_first[::-1], used_space


def _read_all(path: str, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    import nrrd

    failed = "cannot read NRRD data (truncated or corrupt?)"
    with reader_errors(path, failed), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data, _ = nrrd.read(path, index_order="C")
    if data.size != int(np.prod(shape)):
        raise ReaderError(path, f"pixel data has {data.size} values, the header says {shape}")
    return data.reshape(shape).astype(dtype, copy=False)


class NrrdReader(Reader):
    """NRRD volumes, attached (``.nrrd``) or detached (``.nhdr`` + data file).

    >>> reader = NrrdReader()
    >>> info = reader.describe(Source.single("mask.nrrd"))  # doctest: +SKIP
    >>> info.axes, info.spacing                              # doctest: +SKIP
    ('zyx', {'x': 0.0005, 'y': 0.0005, 'z': 0.0005})
    """

    name: ClassVar[str] = "nrrd"
    description: ClassVar[str] = "NRRD (.nrrd, .nhdr + data file) via pynrrd"
    url: ClassVar[str] = "https://teem.sourceforge.net/nrrd/format.html"
    suffixes: ClassVar[tuple[str, ...]] = (".nrrd", ".nhdr")

    def guess_can_open(self, path: Path) -> bool:
        try:
            return is_nrrd(Path(path))
        except Exception:
            return False

    def group(self, directory: Path, files: list[Path]) -> tuple[list[Source], list[Path]]:
        """Pair every detached header with the data file(s) it names."""
        return group_headers(files, self._detached, lambda path: path.name.rsplit(".", 1)[0])

    def _detached(self, path: Path) -> list[Path] | None:
        if not is_nrrd(path):
            return None
        try:
            header, _, listed = read_nrrd_header(path)
            data = self._data_files(path, header, listed)
        except Exception:
            return None
        if data == [Path(normal(path))]:
            return None  # attached: a single-file dataset
        return data

    def describe(self, source: Source) -> ImageInfo:
        return self._inspect(Path(source.path), source.files)[0]

    def open(self, source: Source, *, level: int = 0) -> xr.DataArray:
        import dask
        import dask.array as da

        path = Path(source.path)
        info, plan = self._inspect(path, source.files)
        level_of(info, level, path)
        shape, dtype = plan["shape"], plan["dtype"]
        if plan["raw"]:
            data = raw_array(plan["parts"], shape, dtype, "nrrd")
        else:
            native = str(dtype.newbyteorder("="))
            name = dask_name("nrrd-z", path, shape)
            task = dask.delayed(_read_all, pure=True, name=name)(str(path), shape, native)
            data = da.from_delayed(task, shape=shape, dtype=native)
        data = data.transpose(canonical_order(plan["axes"]))
        return build_dataarray(data, info, level=level, name=source.display_name)

    # -- inspection ----------------------------------------------------------------
    def _data_files(self, path: Path, header: dict[str, Any], listed: list[str]) -> list[Path]:
        """The data files the header names, absolute and normalised (``..`` resolved as
        text); ``path`` itself for attached data."""
        spec = str(header.get("data file") or header.get("datafile") or "").strip()
        if not spec:
            return [Path(normal(path))]
        return data_files(path, spec, listed)

    def _inspect(self, path: Path, files: Iterable[Any] = ()) -> tuple[ImageInfo, dict[str, Any]]:
        check_size(path)
        if not is_nrrd(path):
            raise ReaderError(path, "not a NRRD file (no NRRD000x magic)")
        with reader_errors(path, "invalid NRRD header", with_type=True):
            header, offset, listed = read_nrrd_header(path)
            return self._build(path, header, offset, listed, tuple(files))

    def _build(
        self,
        path: Path,
        header: dict[str, Any],
        offset: int,
        listed: list[str],
        source_files: tuple[Any, ...] = (),
    ) -> tuple[ImageInfo, dict[str, Any]]:
        sizes = [int(n) for n in header["sizes"]]
        ndim = len(sizes)
        if not 1 <= ndim <= 5 or min(sizes) < 1:
            raise ReaderError(path, f"unsupported NRRD sizes {sizes}")
        code = DTYPES.get(str(header.get("type", "")).strip())
        if code is None:
            raise ReaderError(path, f"unsupported NRRD type {header.get('type')!r}")
        big = str(header.get("endian", "little")).strip() == "big"
        dtype = np.dtype(code).newbyteorder(">" if big else "<")
        shape = tuple(reversed(sizes))
        axes, spatial = _dims(header, ndim)
        encoding = str(header.get("encoding", "raw")).strip().lower()
        files = self._data_files(path, header, listed)
        check_data_files(path, files, source_files, "data file:")
        files = [path if f == Path(normal(path)) else f for f in files]
        raw = encoding == "raw"
        parts: list[tuple[Path, int]] = []
        if raw:
            if shape[0] % len(files):
                raise ReaderError(path, f"{len(files)} data files do not split axis of {shape[0]}")
            per_file = int(np.prod(shape)) * dtype.itemsize // len(files)
            for f in files:
                parts.append((f, _data_offset(f, path, offset, header, per_file)))
            check_extent(parts, per_file, path)
        elif len(files) > 1:
            raise ReaderError(
                path, f"{encoding} NRRD data split over several files is not supported"
            )

        spacing: dict[str, float] = {}
        units: dict[str, str] = {}
        space_units = [str(u) for u in header.get("space units") or []]
        axis_units = [str(u) for u in header.get("units") or []]
        directions = header.get("space directions")
        spacings = header.get("spacings")
        letters = axes[::-1]  # fastest first
        for n, i in enumerate(spatial):
            value = None
            unit = space_units[n] if n < len(space_units) else None
            if directions is not None and len(directions) == ndim:
                value = float(np.linalg.norm(np.asarray(directions[i], dtype=float)))
            elif spacings is not None and len(spacings) == ndim:
                value = float(spacings[i])
                unit = axis_units[i] if i < len(axis_units) else None
            if unit in (None, "", "???", "none"):
                unit = "mm"
            spacing_entry(spacing, units, letters[i], value, unit)
        origin: dict[str, float] = {}
        space_origin = header.get("space origin")
        if space_origin is not None and directions is not None:
            matrix = np.asarray([directions[i] for i in spatial], dtype=float)
            if len(space_origin) == len(spatial) and axis_aligned(matrix):
                origin = {letters[i]: float(v) for i, v in zip(spatial, space_origin)}
        meta: dict[str, Any] = {"format": "NRRD", "detached": files != [path]}
        meta["header"] = {k: v for k, v in header.items() if k != "data file"}
        meta["data_files"] = [f.name for f in files[:64]]
        order = canonical_order(axes)
        info = ImageInfo(
            shape=tuple(shape[i] for i in order),
            dtype=str(dtype.newbyteorder("=")),
            axes="".join(axes[i] for i in order),
            spacing=spacing,
            units=units,
            origin={a: v for a, v in origin.items() if a in spacing and v},
            meta=jsonable(meta),
        )
        plan = {"shape": shape, "dtype": dtype, "axes": axes, "raw": raw, "parts": parts}
        return info, plan


def axis_aligned(matrix: np.ndarray) -> bool:
    """Whether a square direction matrix is diagonal with positive steps."""
    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or not np.all(np.isfinite(m)):
        return False
    return bool(np.allclose(m, np.diag(np.diag(m))) and np.all(np.diag(m) > 0))


def _data_offset(
    data: Path, header_path: Path, header_end: int, header: dict[str, Any], nbytes: int
) -> int:
    """Where raw data starts in ``data``: after the header (attached), ``line skip`` lines
    and ``byte skip`` bytes (``-1``: the data is the end of the file)."""
    start = header_end if data == header_path else 0
    line_skip = int(header.get("line skip") or header.get("lineskip") or 0)
    byte_skip = int(header.get("byte skip") or header.get("byteskip") or 0)
    if byte_skip == -1:
        with contextlib.suppress(OSError):
            return data.stat().st_size - nbytes
        return -1
    if line_skip > 0:
        with open_binary(data) as fh:
            fh.seek(start)
            for _ in range(line_skip):
                fh.readline()
            start = fh.tell()
    return start + byte_skip
