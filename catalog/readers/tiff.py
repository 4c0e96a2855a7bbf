"""TIFF in its many flavours, through tifffile: plain, multi-page, BigTIFF, tiled,
pyramidal (levels as tifffile finds them, e.g. SubIFDs), ImageJ hyperstacks, OME-TIFF and FEI SEM files.

Pixels open lazily: the chosen series level is exposed by tifffile as a Zarr store
(``series.aszarr(level=k)``) and wrapped in dask; the ``TiffFile`` stays open as long
as the array that reads from it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar

import numpy as np

from ..confine import Confined, check_regular
from ..errors import ReaderError
from .arrays import auto_chunks, check_size, dask_name, lazy_array, parse_datetime
from .base import (
    ImageInfo,
    Reader,
    Source,
    build_dataarray,
    canonical_order,
    jsonable,
    level_of,
    map_axes,
    read_magic,
    reader_errors,
    spacing_entry,
)

if TYPE_CHECKING:  # pragma: no cover
    import tifffile
    import xarray as xr

    from ..remote import Storage

MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
#: TIFF tags copied into ``meta["tags"]``.
TAGS = {269: "DocumentName", 270: "ImageDescription", 271: "Make", 272: "Model"}
TAGS |= {285: "PageName", 305: "Software", 306: "DateTime", 315: "Artist"}
TAGS |= {316: "HostComputer", 33432: "Copyright"}
#: ResolutionUnit values that give a physical pixel size (inch DPI is ignored).
RESOLUTION_UNITS = {3: "cm", 4: "mm", 5: "µm"}
#: tifffile log messages that mean the file is truncated or its IFD chain broken.
DAMAGE = re.compile(
    r"invalid (page offset|offset to page|next page|circular reference)|corrupted (tag list|file|IFD)"
)


def is_tiff(path: Path) -> bool:
    """Whether ``path`` starts with a classic or BigTIFF header, either byte order."""
    return read_magic(Path(path), 4) in MAGICS


@contextlib.contextmanager
def tifffile_messages() -> Iterator[list[str]]:
    """Collect (and silence) what tifffile logs in this thread while the block runs."""
    logger = logging.getLogger("tifffile")
    me = threading.get_ident()
    found: list[str] = []

    def keep(record: logging.LogRecord) -> bool:
        if record.thread != me:
            return True
        found.append(re.sub(r"^<[^>]*>\s*", "", record.getMessage()))
        return False

    logger.addFilter(keep)
    try:
        yield found
    finally:
        logger.removeFilter(keep)


def open_tiff(path: Path, stream: BinaryIO | None = None) -> tifffile.TiffFile:
    """A ``TiffFile`` (over ``stream``, an open handle of ``path``, if given); a broken
    header becomes ReaderError."""
    check_size(path)
    if not is_tiff(path):
        raise ReaderError(path, "not a TIFF file (no II*/MM* header)")
    with reader_errors(path, "corrupt or truncated TIFF"):
        return tiff_file(path, stream)


def remote_tiff(path: Path, storage: Storage) -> tifffile.TiffFile:
    """A ``TiffFile`` over an object in storage, read with range requests (the header
    and IFDs now, tiles or strips when asked); closing it closes the object. A
    multi-file OME-TIFF is read as its own pages (its companions are not looked up)."""
    import tifffile

    if storage.head(path, 4) not in MAGICS:
        raise ReaderError(path, "not a TIFF file (no II*/MM* header)")
    handle = storage.open(path)
    try:
        with reader_errors(path, "corrupt or truncated TIFF"):
            tif = tifffile.TiffFile(handle, name=path.name, _multifile=False)
    except BaseException:
        handle.close()
        raise
    tif._voxcat_handle = handle  # type: ignore[attr-defined]  # closed with the file
    return tif


def close_tiff(tif: tifffile.TiffFile) -> None:
    """Close ``tif`` and the object handle a :func:`remote_tiff` reads through."""
    tif.close()
    handle = getattr(tif, "_voxcat_handle", None)
    if handle is not None:
        handle.close()


@contextlib.contextmanager
def header_tiff(path: Path, storage: Storage | None = None) -> Iterator[tifffile.TiffFile]:
    """:func:`open_tiff` over an unbuffered handle, closed after the block: tifffile
    reads exactly the IFDs and tag values it parses, not 8 KB of pixels around each
    (an IFD of a tiled or pyramidal file lies between tiles). With ``storage``, the
    object is read with range requests (:func:`remote_tiff`)."""
    if storage is not None:
        tif = remote_tiff(path, storage)
        try:
            yield tif
        finally:
            close_tiff(tif)
        return
    check_size(path)
    if not is_tiff(path):
        raise ReaderError(path, "not a TIFF file (no II*/MM* header)")
    with reader_errors(path, "corrupt or truncated TIFF"):
        check_regular(path)
        handle = open(path, "rb", buffering=0)  # noqa: SIM115 (closed below)
    with handle as fh:
        tif = open_tiff(path, fh)
        try:
            yield tif
        finally:
            tif.close()


_FILE_NAME = re.compile(r'FileName\s*=\s*"([^"]*)"')


def tiff_file(path: Path, stream: BinaryIO | None = None) -> tifffile.TiffFile:
    """``tifffile.TiffFile(path)`` that never opens a file it should not.

    A multi-file OME-TIFF names its other files in its OME-XML, and tifffile opens them
    when the series is read: a name that is a named pipe would block forever, a link or
    an absolute path would read a file elsewhere. When any named file is not a regular
    file inside this file's folder (links followed), the file is opened as a single file
    (its own pages only). Raises what ``TiffFile`` raises, and ``OSError`` for a path that
    is not a regular file. Given ``stream`` (an open handle of ``path``, which the caller
    closes), tifffile reads through it.
    """
    import tifffile

    check_regular(path)
    tif = tifffile.TiffFile(stream if stream is not None else path)
    try:
        xml = tif.ome_metadata if tif.is_ome else None
    except Exception:
        xml = None
    if xml and not _companions_safe(Path(path), xml):
        tif.close()
        if stream is not None:
            stream.seek(0)
        tif = tifffile.TiffFile(stream if stream is not None else path, _multifile=False)
    return tif


def _companions_safe(path: Path, xml: str) -> bool:
    guard = Confined([path.parent])
    for name in set(_FILE_NAME.findall(xml)):
        if name.lower() == path.name.lower():
            continue
        other = os.path.join(path.parent, name)
        if not os.path.lexists(other):
            continue  # tifffile reports missing files itself
        try:
            check_regular(guard.check(other))
        except OSError:
            return False
    return True


def page_pixel_size(page: Any, *, unit: str | None = None) -> tuple[float, float] | None:
    """(x, y) pixel size in ``unit`` (else the ResolutionUnit's) from X/YResolution.

    Returns ``None`` when the tags are missing or in inches/no unit without ``unit``.
    """
    tags = page.tags
    if 282 not in tags or 283 not in tags:
        return None
    if unit is None and RESOLUTION_UNITS.get(int(tags.valueof(296, default=2))) is None:
        return None
    try:
        xres, yres = (float(v) for v in page.get_resolution())
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not (xres > 0 and yres > 0) or (xres, yres) == (1.0, 1.0):
        return None
    return 1.0 / xres, 1.0 / yres


def page_unit(page: Any) -> str | None:
    """The length unit of ``page``'s ResolutionUnit when it is metric."""
    return RESOLUTION_UNITS.get(int(page.tags.valueof(296, default=2)))


def page_tags(page: Any) -> dict[str, Any]:
    """The descriptive tags of a page (Software, DateTime, Make, Model, ...)."""
    out: dict[str, Any] = {}
    for code, name in TAGS.items():
        value = page.tags.valueof(code)
        if value not in (None, "", b""):
            out[name] = value if not isinstance(value, str) else value.strip("\x00 ")[:4000]
    return out


def page_datetime(page: Any) -> dt.datetime | None:
    """The DateTime tag (``YYYY:MM:DD HH:MM:SS``) as a datetime, when valid."""
    with contextlib.suppress(Exception):
        value = page.datetime
        return value if isinstance(value, dt.datetime) else None
    return None


class TiffBlocks:
    """Reads blocks of one series level through tifffile's Zarr store.

    Picklable: the open ``TiffFile`` is not pickled but reopened where it is used.
    """

    def __init__(
        self,
        path: Path,
        series: int,
        level: int,
        shape: tuple,
        dtype: Any,
        storage: Storage | None = None,
    ) -> None:
        self.path, self.series, self.level = Path(path), series, level
        self.storage = storage
        self.shape, self.dtype, self.ndim = tuple(shape), np.dtype(dtype), len(shape)
        self._tif: Any = None
        self._array: Any = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_tif", "_array", "_lock")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _tif=None, _array=None, _lock=threading.Lock())

    def zarr_array(self) -> Any:
        """The level as a read-only ``zarr.Array`` (opens the file on first use)."""
        import zarr

        with self._lock, tifffile_messages():
            if self._array is None:
                if self.storage is not None:
                    tif = remote_tiff(self.path, self.storage)
                else:
                    tif = open_tiff(self.path)
                try:
                    store = tif.series[self.series].aszarr(level=self.level)
                    array = zarr.open_array(store, mode="r")
                except Exception as exc:
                    close_tiff(tif)
                    where = f"series {self.series} level {self.level}"
                    raise ReaderError(self.path, f"cannot open TIFF {where}: {exc}") from exc
                if tuple(array.shape) != self.shape:
                    close_tiff(tif)
                    raise ReaderError(
                        self.path, f"file changed: shape {array.shape}, not {self.shape}"
                    )
                self._array, self._tif = array, tif
            return self._array

    def __getitem__(self, index: Any) -> np.ndarray:
        array = self.zarr_array()
        failed = "cannot read TIFF pixel data (truncated?)"
        with reader_errors(self.path, failed), tifffile_messages():
            return np.asarray(array[index])

    def __del__(self) -> None:
        tif = getattr(self, "_tif", None)
        if tif is not None:
            # no contextlib here: at interpreter exit module globals may be gone
            try:  # noqa: SIM105
                close_tiff(tif)
            except Exception:
                pass


class TiffReader(Reader):
    """TIFF files of every common flavour, read lazily with tifffile.

    >>> reader = TiffReader()
    >>> source = Source.single("cells.ome.tif")           # doctest: +SKIP
    >>> info = reader.describe(source)                     # doctest: +SKIP
    >>> info.axes, info.spacing["x"], info.channels        # doctest: +SKIP
    ('czyx', 2.5e-07, ['DAPI', 'GFP'])
    >>> reader.open(source, level=1)                       # doctest: +SKIP
    """

    name: ClassVar[str] = "tiff"
    description: ClassVar[str] = "TIFF, BigTIFF, pyramidal TIFF, ImageJ hyperstacks, OME-TIFF"
    url: ClassVar[str] = "https://github.com/cgohlke/tifffile"
    suffixes: ClassVar[tuple[str, ...]] = (".ome.tiff", ".ome.tif", ".tiff", ".tif", ".btf")
    remote: ClassVar[bool] = True

    def guess_can_open(self, path: Path) -> bool:
        try:
            return is_tiff(Path(path))
        except Exception:
            return False

    def describe(self, source: Source) -> ImageInfo:
        return self._inspect(source)[0]

    def open(self, source: Source, *, level: int = 0) -> xr.DataArray:
        info, axes, series, stored = self._inspect(source, level)
        order = canonical_order(axes)
        inverse = np.argsort(order)
        shape = tuple(info.levels[level][i] for i in inverse)  # back to file order
        blocks = TiffBlocks(source.path, series, level, shape, info.dtype, source.storage)
        chunks = auto_chunks(shape, blocks.dtype.itemsize, stored)
        data = lazy_array(blocks, chunks, dask_name("tiff", source.path, series, level))
        return build_dataarray(data.transpose(order), info, level=level, name=source.display_name)

    # -- inspection ----------------------------------------------------------------
    def _inspect(
        self, source: Source, level: int | None = None
    ) -> tuple[ImageInfo, str, int, tuple[int, ...] | None]:
        """The description, file axes and series index, and given a ``level``, that
        level's stored chunks (from the same parse of the headers)."""
        import zarr

        path = Path(source.path)
        index = int(source.options.get("series", 0)) if source.options else 0
        chunks: tuple[int, ...] | None = None
        with tifffile_messages() as messages, header_tiff(path, source.storage) as tif:
            with reader_errors(path, "invalid TIFF structure", with_type=True):
                info, axes, series = _describe(tif, path, index, messages)
            if level is not None:
                level_of(info, level, path)
                try:
                    with tif.series[series].aszarr(level=level) as store:
                        chunks = tuple(zarr.open_array(store, mode="r").chunks)
                except Exception as exc:
                    where = f"series {series} level {level}"
                    raise ReaderError(path, f"cannot open TIFF {where}: {exc}") from exc
        return info, axes, series, chunks


def _describe(
    tif: tifffile.TiffFile, path: Path, index: int, messages: list[str]
) -> tuple[ImageInfo, str, int]:
    all_series = tif.series
    if not all_series:
        raise ReaderError(path, "TIFF holds no image (no readable page)")
    if not 0 <= index < len(all_series):
        raise ReaderError(path, f"TIFF series {index} does not exist (0..{len(all_series) - 1})")
    series = all_series[index]
    page = series.keyframe
    damage = [m for m in messages if DAMAGE.search(m)]
    if damage:
        raise ReaderError(path, f"truncated or corrupt TIFF: {damage[0]}")
    _check_extent(series, path)
    try:
        axes = map_axes(series.axes, series.shape)
    except ValueError as exc:
        raise ReaderError(path, str(exc)) from exc
    order = canonical_order(axes)
    canon = "".join(axes[i] for i in order)
    levels = [tuple(lv.shape[i] for i in order) for lv in series.levels]
    kind = _flavour(tif)
    meta: dict[str, Any] = {
        "format": kind,
        "bigtiff": tif.is_bigtiff,
        "byteorder": "little" if tif.byteorder == "<" else "big",
        "series_axes": series.axes,
        "series": [{"name": s.name, "shape": s.shape, "axes": s.axes} for s in all_series],
        "pages": len(series),
        "compression": _enum_name(page.compression),
        "photometric": _enum_name(page.photometric),
        "tile": page.tile if page.is_tiled else None,
        "pyramidal": len(series.levels) > 1,
    }
    tags = page_tags(page)
    found: dict[str, Any] = {"spacing": {}, "units": {}, "channels": [], "acquired": None}
    found["instrument"] = " ".join(str(tags[k]) for k in ("Make", "Model") if k in tags) or None
    modality = None
    ome = _ome(tif.ome_metadata, index, axes, messages) if tif.is_ome else None
    if ome:
        found.update({k: v for k, v in ome.items() if v and k != "meta"})
        meta["ome"] = ome["meta"]
        modality = ome["modality"]
        tags.pop("ImageDescription", None)
    elif tif.is_imagej and tif.imagej_metadata is not None:
        _imagej(tif.imagej_metadata, page, axes, found, meta)
        tags.pop("ImageDescription", None)
    elif tif.is_fei and tif.fei_metadata:
        modality = "EM"
        _fei(tif.fei_metadata, found, meta)
    else:
        if tif.is_shaped and tif.shaped_metadata:
            meta["shaped"] = tif.shaped_metadata[0]
            tags.pop("ImageDescription", None)
        size, unit = page_pixel_size(page), page_unit(page)
        if size and unit:
            for ax, value in zip("xy", size):
                spacing_entry(found["spacing"], found["units"], ax, value, unit)
        elif 282 in page.tags:
            meta["resolution"] = {"xy": page.resolution, "unit": _enum_name(page.resolutionunit)}
    meta["tags"] = tags
    spacing = {a: v for a, v in found["spacing"].items() if a in canon}
    channels = (
        found["channels"]
        if len(found["channels"]) == dict(zip(axes, series.shape)).get("c")
        else []
    )
    info = ImageInfo(
        shape=levels[0],
        dtype=str(np.dtype(series.dtype)),
        axes=canon,
        spacing=spacing,
        units={a: u for a, u in found["units"].items() if a in spacing},
        levels=levels,
        modality=modality,
        acquired=found["acquired"] or page_datetime(page),
        instrument=found["instrument"],
        channels=channels,
        meta=jsonable(meta),
        warnings=[m for m in messages if m not in damage][:20],
    )
    return info, axes, index


def _flavour(tif: tifffile.TiffFile) -> str:
    for flag, label in (("is_ome", "OME-TIFF"), ("is_imagej", "ImageJ TIFF"), ("is_fei", "FEI")):
        if getattr(tif, flag, False):
            return label
    return "BigTIFF" if tif.is_bigtiff else "TIFF"


def _enum_name(value: Any) -> Any:
    return getattr(value, "name", value)


def _check_extent(series: Any, path: Path) -> None:
    """Raise when the headers place pixel data past the end of the file."""
    size = int(series.parent.filehandle.size)
    ends: list[int] = []
    if series.dataoffset is not None:
        ends.append(int(series.dataoffset) + int(series.nbytes))
    pages = [p for p in (series.pages[0], series.pages[-1]) if p is not None]
    for page in pages:
        for offset, count in zip(page.dataoffsets, page.databytecounts):
            if offset and count:
                ends.append(int(offset) + int(count))
    end = max(ends, default=0)
    if end > size:
        raise ReaderError(path, f"truncated TIFF: pixel data ends at byte {end}, file has {size}")


def _imagej(ij: dict[str, Any], page: Any, axes: str, found: dict, meta: dict) -> None:
    unit = ij.get("unit")
    if unit in ("\\u00B5m", "\\u00b5m"):
        unit = "µm"
    size = page_pixel_size(page, unit=unit) if unit else None
    if size:
        for ax, value in zip("xy", size):
            spacing_entry(found["spacing"], found["units"], ax, value, unit)
    if "z" in axes and ij.get("spacing"):
        spacing_entry(found["spacing"], found["units"], "z", ij["spacing"], unit)
    meta["imagej"] = {k: v for k, v in ij.items() if k not in ("LUTs", "ROI", "Overlays")}


def _fei(fei: dict[str, Any], found: dict, meta: dict) -> None:
    scan = fei.get("Scan") or fei.get("EScan") or {}
    for ax, key in (("x", "PixelWidth"), ("y", "PixelHeight")):
        spacing_entry(found["spacing"], found["units"], ax, scan.get(key), "m")
    system = fei.get("System") or {}
    found["instrument"] = system.get("SystemType") or system.get("Type") or found["instrument"]
    user = fei.get("User") or {}
    with contextlib.suppress(KeyError, TypeError, ValueError):
        found["acquired"] = dt.datetime.strptime(
            f"{user['Date']} {user['Time']}", "%m/%d/%Y %I:%M:%S %p"
        )
    meta["fei"] = fei


# -- OME-XML ---------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(elem: ET.Element | None, name: str) -> list[ET.Element]:
    return [] if elem is None else [c for c in elem if _local(c.tag) == name]


def _child(elem: ET.Element | None, name: str) -> ET.Element | None:
    found = _children(elem, name)
    return found[0] if found else None


def _ome(xml: str | None, index: int, axes: str, messages: list[str]) -> dict[str, Any] | None:
    """Sizes, channels, date, instrument and annotations of OME image ``index``."""
    try:
        root = ET.fromstring(xml or "")
    except ET.ParseError as exc:
        messages.append(f"OME-XML is not valid XML ({exc}); read as plain TIFF")
        return None
    images = _children(root, "Image")
    image = images[index] if index < len(images) else (images[0] if images else None)
    pixels = _child(image, "Pixels")
    px = dict(pixels.attrib) if pixels is not None else {}
    spacing: dict[str, float] = {}
    units: dict[str, str] = {}
    for ax in "xyz":
        key = f"PhysicalSize{ax.upper()}"
        spacing_entry(spacing, units, ax, px.get(key), px.get(f"{key}Unit", "µm"))
    channels = [dict(c.attrib) for c in _children(pixels, "Channel")]
    names = [str(c.get("Name") or c.get("ID") or f"channel {i}") for i, c in enumerate(channels)]
    date = _child(image, "AcquisitionDate")
    meta: dict[str, Any] = {
        "creator": root.get("Creator"),
        "images": len(images),
        "image": dict(image.attrib) if image is not None else {},
        "pixels": {k: v for k, v in px.items() if not k.startswith("Physical") or "Unit" in k},
        "channels": channels,
    }
    desc = _child(image, "Description")
    if desc is not None and desc.text:
        meta["description"] = desc.text.strip()[:4000]
    instrument = _instrument(root, image, meta)
    annotations: dict[str, str] = {}
    for ann in root.iter():
        label = ann.get("K")
        if _local(ann.tag) == "M" and label:
            annotations[label] = (ann.text or "").strip()
    if annotations:
        meta["annotations"] = annotations
    modality = next((v for k, v in annotations.items() if k.lower() == "modality" and v), "LM")
    return {
        "spacing": spacing,
        "units": units,
        "channels": names if "c" in axes else [],
        "acquired": parse_datetime(date.text) if date is not None else None,
        "instrument": instrument,
        "modality": modality,
        "meta": meta,
    }


def _instrument(root: ET.Element, image: ET.Element | None, meta: dict) -> str | None:
    ref = _child(image, "InstrumentRef")
    instruments = _children(root, "Instrument")
    chosen = next(
        (i for i in instruments if ref is not None and i.get("ID") == ref.get("ID")), None
    )
    chosen = chosen if chosen is not None else (instruments[0] if instruments else None)
    if chosen is None:
        return None
    scope = _child(chosen, "Microscope")
    objectives = [dict(o.attrib) for o in _children(chosen, "Objective")]
    settings = _child(image, "ObjectiveSettings")
    if settings is not None and settings.get("ID"):
        objectives = [o for o in objectives if o.get("ID") == settings.get("ID")] or objectives
    meta["instrument"] = {
        "id": chosen.get("ID"),
        "microscope": dict(scope.attrib) if scope is not None else {},
        "objectives": objectives,
        "detectors": [dict(d.attrib) for d in _children(chosen, "Detector")],
    }
    if scope is not None:
        name = " ".join(v for v in (scope.get("Manufacturer"), scope.get("Model")) if v)
        if name:
            return name
    return chosen.get("ID")
