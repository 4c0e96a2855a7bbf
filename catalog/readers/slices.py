"""Numbered 2-D slices in one folder (``rec_0000.tif`` ... ``rec_0099.tif``) as one volume.

Reconstruction software often writes a volume as one image per slice: TIFF from most
CT and FIB-SEM tools, PNG, or BMP/JPEG from Bruker SkyScan's NRecon (with a ``*.log``
that gives the voxel size). :meth:`SliceStackReader.group` finds them cheaply (file
names, then three headers), :meth:`~SliceStackReader.open` reads one slice per dask
chunk.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..confine import folder_files
from ..errors import ReaderError
from .arrays import check_size, dask_name, lazy_array
from .base import (
    ImageInfo,
    Reader,
    Source,
    build_dataarray,
    jsonable,
    level_of,
    reader_errors,
    spacing_entry,
)
from .raster import decode, inspect_image, raster_format
from .tiff import TiffReader, is_tiff, tifffile_messages

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

SLICE_SUFFIXES = (".tif", ".tiff", ".png", ".bmp", ".jpg", ".jpeg")
MIN_SLICES = 3
#: ``<prefix><number><suffix>``: the last run of digits is the slice number.
NUMBERED = re.compile(r"^(?P<prefix>.*?)(?P<number>\d+)(?P<suffix>\D*)$")
LOG_BYTES = 1 << 20
_LOG_DATES = (
    "%d %b %Y %Hh:%Mm:%Ss",
    "%b %d, %Y %H:%M:%S",
    "%d %b %Y %H:%M:%S",
    "%d.%m.%Y %H:%M:%S",
)


def slice_pattern(prefix: str, suffix: str) -> str:
    """The regular expression stored in ``Source.options["pattern"]``."""
    return f"^{re.escape(prefix)}(\\d+){re.escape(suffix)}$"


def find_slices(directory: Path, pattern: str) -> list[Path]:
    """Regular files of ``directory`` matching ``pattern``, in numeric order (named pipes
    and links out of the folder left out)."""
    regex = re.compile(pattern)
    try:
        names = [os.path.basename(p) for p in folder_files(directory)]
    except OSError as exc:
        raise ReaderError(directory, f"cannot list slice folder: {exc.strerror}") from exc
    found = [(int(m.group(1)), n) for n in names if (m := regex.match(n))]
    return [directory / n for _, n in sorted(found)]


def slice_header(path: Path) -> tuple[ImageInfo, str]:
    """The header of one slice and how to decode it (``"tiff"``, ``"pillow"``, ``"libpng"``)."""
    check_size(path)
    if is_tiff(path):
        return TiffReader().describe(Source.single(path)), "tiff"
    if raster_format(path) is not None:
        info, decoder, _ = inspect_image(path)
        return info, decoder
    raise ReaderError(path, "slice is neither TIFF nor PNG, JPEG or BMP (magic bytes)")


def _signature(path: Path) -> tuple[Any, ...] | None:
    """(shape, dtype, axes, decoder) of a single-page 2-D slice, ``None`` when it is not one."""
    try:
        info, decoder = slice_header(path)
    except ReaderError:
        return None
    if info.axes not in ("yx", "cyx") or len(info.levels) > 1 or info.meta.get("pages", 1) > 1:
        return None
    return info.shape, info.dtype, info.axes, decoder


#: folder names that say little on their own ("rec" of which scan?)
GENERIC_FOLDERS = frozenset(
    [
        "rec",
        "recon",
        "reco",
        "reconstruction",
        "reconstructed",
        "slices",
        "slice",
        "tif",
        "tiff",
        "tifs",
        "images",
        "img",
        "stack",
        "stacks",
        "data",
        "raw",
        "proj",
        "projections",
        "output",
        "out",
        "export",
        "png",
    ]
)


def folder_label(directory: Path) -> str:
    """A stack's name: its folder, prefixed by the parent when the folder name is
    generic (``sandstone_01/rec`` -> ``sandstone_01_rec``).

    >>> folder_label(Path("/data/sandstone_01/rec"))
    'sandstone_01_rec'
    """
    name = directory.name
    if name.lower() in GENERIC_FOLDERS and directory.parent.name:
        return f"{directory.parent.name}_{name}"
    return name


class SliceBlocks:
    """Reads slices of the stack, one file per z index, in file order ``z y x [c]``."""

    def __init__(
        self, files: tuple[Path, ...], decoder: str, shape: tuple[int, ...], dtype: Any
    ) -> None:
        self.files, self.decoder = tuple(Path(f) for f in files), decoder
        self.shape, self.dtype, self.ndim = tuple(shape), np.dtype(dtype), len(shape)

    def read(self, k: int) -> np.ndarray:
        path = self.files[k]
        if self.decoder == "tiff":
            import tifffile

            with reader_errors(path, f"cannot read slice {k}"), tifffile_messages():
                data = tifffile.imread(path, key=0)
        else:
            data = decode(path, self.decoder)
        if data.ndim == 3 and data.shape[1:] + data.shape[:1] == self.shape[1:]:
            data = np.moveaxis(data, 0, -1)  # planar (separate) RGB TIFF
        if data.shape != self.shape[1:]:
            raise ReaderError(
                path, f"slice {k} has shape {data.shape}, the stack {self.shape[1:]}"
            )
        return data.astype(self.dtype, copy=False)

    def __getitem__(self, index: Any) -> np.ndarray:
        index = index if isinstance(index, tuple) else (index,)
        first, rest = (index[0] if index else slice(None)), index[1:]
        if isinstance(first, int | np.integer):
            return self.read(int(first))[rest]
        zs = np.arange(self.shape[0])[first]
        out = np.empty((len(zs), *self.shape[1:]), dtype=self.dtype)
        for i, k in enumerate(zs):
            out[i] = self.read(int(k))
        return out[(slice(None), *rest)]


class SliceStackReader(Reader):
    """Folders of numbered 2-D slices (TIFF, PNG, BMP, JPEG) read as one ``zyx`` volume.

    >>> reader = SliceStackReader()
    >>> files = sorted(Path("scan").iterdir())                  # doctest: +SKIP
    >>> stacks, rest = reader.group(Path("scan"), files)         # doctest: +SKIP
    >>> stacks[0].options                                        # doctest: +SKIP
    {'pattern': '^rec_(\\\\d+)\\\\.tif$'}
    >>> reader.open(stacks[0]).dims                              # doctest: +SKIP
    ('z', 'y', 'x')
    """

    name: ClassVar[str] = "slices"
    description: ClassVar[str] = "Folders of numbered 2-D slices (TIFF, PNG, BMP, JPEG) as volumes"
    url: ClassVar[str] = "https://tifffile.readthedocs.io/ and https://pillow.readthedocs.io/"
    suffixes: ClassVar[tuple[str, ...]] = ()  # a single file is never a stack

    def guess_can_open(self, path: Path) -> bool:
        return False

    def group(self, directory: Path, files: list[Path]) -> tuple[list[Source], list[Path]]:
        groups: dict[tuple[str, str], list[tuple[int, Path]]] = defaultdict(list)
        for path in files:
            if not path.name.lower().endswith(SLICE_SUFFIXES):
                continue
            m = NUMBERED.match(path.name)
            if m:
                groups[(m["prefix"], m["suffix"])].append((int(m["number"]), path))
        stacks: list[tuple[str, str, list[Path]]] = []
        for (prefix, suffix), members in sorted(groups.items()):
            numbers = [n for n, _ in members]
            if len(members) < MIN_SLICES or len(set(numbers)) != len(numbers):
                continue
            ordered = [p for _, p in sorted(members)]
            probes = {ordered[0], ordered[len(ordered) // 2], ordered[-1]}
            signatures = {_signature(p) for p in probes}
            if len(signatures) == 1 and None not in signatures:
                stacks.append((prefix, suffix, ordered))
        labels = [_label(p, s) for p, s, _ in stacks]
        sources = []
        base = folder_label(directory)
        for (prefix, suffix, ordered), label in zip(stacks, labels):
            unique = labels.count(label) == 1 and label
            single = len(stacks) == 1
            name = base if single else f"{base}_{unique or prefix + '*' + suffix}"
            options = {"pattern": slice_pattern(prefix, suffix)}
            # one stack is its folder; several stacks in one folder are each keyed by
            # their first slice, so every dataset keeps a unique, real path
            path = directory if single else ordered[0]
            sources.append(Source(path=path, files=tuple(ordered), options=options, name=name))
        taken = {p for s in sources for p in s.files}
        return sources, [p for p in files if p not in taken]

    def describe(self, source: Source) -> ImageInfo:
        return self._inspect(source)[0]

    def open(self, source: Source, *, level: int = 0) -> xr.DataArray:
        info, decoder, files = self._inspect(source)
        level_of(info, level, source.path)
        rgb = info.axes == "czyx"
        shape = (info.shape[1], info.shape[2], info.shape[3], info.shape[0]) if rgb else info.shape
        blocks = SliceBlocks(files, decoder, shape, info.dtype)
        chunks = (1, *shape[1:])
        data = lazy_array(blocks, chunks, dask_name("slices", files[0], *files))
        if rgb:
            data = data.transpose(3, 0, 1, 2)
        return build_dataarray(data, info, name=source.display_name)

    # -- inspection ----------------------------------------------------------------
    def _inspect(self, source: Source) -> tuple[ImageInfo, str, tuple[Path, ...]]:
        directory = Path(source.path)
        if not directory.is_dir():
            directory = directory.parent
        pattern = str(source.options.get("pattern") or "") if source.options else ""
        files = tuple(source.files) or tuple(find_slices(directory, pattern) if pattern else ())
        if not files:
            raise ReaderError(directory, f"no slices found (pattern {pattern or 'missing'})")
        first, decoder = slice_header(files[0])
        if first.axes not in ("yx", "cyx"):
            raise ReaderError(files[0], f"slice is not a 2-D image (axes {first.axes})")
        n = len(files)
        axes = "czyx" if first.axes == "cyx" else "zyx"
        shape = (first.shape[0], n, *first.shape[1:]) if first.axes == "cyx" else (n, *first.shape)
        spacing = {a: v for a, v in first.spacing.items() if a in "xy"}
        units = {a: u for a, u in first.units.items() if a in spacing}
        ij = first.meta.get("imagej") or {}
        if ij.get("spacing"):
            spacing_entry(spacing, units, "z", ij["spacing"], ij.get("unit"))
        slice_meta = {k: v for k, v in first.meta.items() if k not in ("series",)}
        meta: dict[str, Any] = {
            "format": "slice stack",
            "slice_format": first.meta.get("format"),
            "pattern": pattern or None,
            "slices": n,
            "first_file": files[0].name,
            "last_file": files[-1].name,
            "first_slice": slice_meta,
        }
        warnings = []
        numbers = [int(m["number"]) for f in files if (m := NUMBERED.match(f.name))]
        if len(numbers) == n:
            meta["numbers"] = [numbers[0], numbers[-1]]
            missing = numbers[-1] - numbers[0] + 1 - n
            if missing > 0:
                warnings.append(
                    f"slice numbering has {missing} gaps between {numbers[0]} and {numbers[-1]}"
                )
        m = NUMBERED.match(files[0].name)
        common = (m["prefix"] + m["suffix"] if m else files[0].name).lower()
        modality, acquired, instrument = None, first.acquired, first.instrument
        log = _skyscan_log(directory, common)
        if log:
            meta["log"] = log
            size = log.get("pixel_size_um")
            if size:
                for ax in "zyx":
                    spacing_entry(spacing, units, ax, size, "µm")
            modality = "CT"
            acquired = log.get("acquired") or acquired
            instrument = log.get("scanner") or instrument
        info = ImageInfo(
            shape=shape,
            dtype=first.dtype,
            axes=axes,
            spacing=spacing,
            units=units,
            modality=modality,
            acquired=acquired,
            instrument=instrument,
            channels=list(first.channels),
            data_level="reconstructed" if "rec" in common else None,
            meta=jsonable(meta),
            warnings=warnings + list(first.warnings),
        )
        return info, decoder, files


def _label(prefix: str, suffix: str) -> str:
    return prefix.strip(" _-.") or suffix.lstrip(".").lower()


def _skyscan_log(directory: Path, common: str) -> dict[str, Any] | None:
    """Voxel size, scanner and dates from a SkyScan/NRecon ``*.log`` next to the slices."""
    try:
        logs = [p for p in map(Path, folder_files(directory)) if p.suffix.lower() == ".log"]
    except OSError:
        return None
    stem = Path(common).stem.rstrip(" _-.") if "." in common else common.rstrip(" _-.")
    logs.sort(key=lambda p: p.stem.lower() != stem)  # the log named like the slices first
    for path in logs:
        sections = _parse_log(path)
        flat = {k: v for sec in sections.values() for k, v in sec.items()}
        size = flat.get("Pixel Size (um)") or flat.get("Image Pixel Size (um)")
        if size is None:
            continue
        out: dict[str, Any] = {"file": path.name, "sections": sections}
        with contextlib.suppress(ValueError):
            out["pixel_size_um"] = float(size)
        out["scanner"] = flat.get("Scanner") or flat.get("Dataset Origin")
        date = flat.get("Study Date and Time") or flat.get("Time and Date")
        out["acquired"] = _log_date(date) if date else None
        return out
    return None


def _parse_log(path: Path) -> dict[str, dict[str, str]]:
    try:
        with open(path, "rb") as fh:
            text = fh.read(LOG_BYTES).decode("latin-1")
    except OSError:
        return {}
    sections: dict[str, dict[str, str]] = {}
    current = sections.setdefault("", {})
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
        elif "=" in line:
            key, _, value = line.partition("=")
            current[key.strip()] = value.strip()
    return {k: v for k, v in sections.items() if v}


def _log_date(text: str) -> dt.datetime | None:
    clean = " ".join(text.split())
    for fmt in _LOG_DATES:
        with contextlib.suppress(ValueError):
            return dt.datetime.strptime(clean, fmt)
    return None
