"""Format readers: one plugin per format, discovered lazily.

Built-in readers live in a ``{name: (module, class)}`` table and are imported only when
first used; third-party readers register through the ``voxcat.readers`` entry-point
group (``name = "package.module:ReaderClass"``). A plugin that fails to import warns
and is skipped; it never breaks discovery.

>>> from catalog.readers import get_reader, list_readers
>>> "tiff" in list_readers()
True
>>> get_reader("mrc").default_modality
'EM'
"""

from __future__ import annotations

import importlib
import warnings
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path

from ..errors import ReaderNotFound, ReaderPluginWarning
from .base import ArrayInfo, ImageInfo, Reader, Source, read_magic, reader_errors

ENTRY_POINT_GROUP = "voxcat.readers"

#: Built-in readers, in the order the scanner tries them: specific formats before
#: generic ones (OME-Zarr before Zarr, MINC before NetCDF and HDF5, NetCDF before HDF5,
#: DICOM before raster).
BUILTIN_READERS: dict[str, tuple[str, str]] = {
    "zarr": ("catalog.readers.zarr_", "ZarrReader"),
    "dicom": ("catalog.readers.dicom", "DicomReader"),
    "metaimage": ("catalog.readers.metaimage", "MetaImageReader"),
    "nrrd": ("catalog.readers.nrrd_", "NrrdReader"),
    "nifti": ("catalog.readers.nifti", "NiftiReader"),
    "minc": ("catalog.readers.minc", "MincReader"),  # before netcdf (MINC1) and hdf5 (MINC2)
    "mgh": ("catalog.readers.neuro", "MghReader"),
    "parrec": ("catalog.readers.neuro", "ParRecReader"),
    "afni": ("catalog.readers.neuro", "AfniReader"),
    "ecat": ("catalog.readers.neuro", "EcatReader"),
    "fits": ("catalog.readers.fits", "FitsReader"),
    "slices": ("catalog.readers.slices", "SliceStackReader"),
    "tiff": ("catalog.readers.tiff", "TiffReader"),
    "netcdf": ("catalog.readers.netcdf", "NetCDFReader"),
    "hdf5": ("catalog.readers.hdf5", "HDF5Reader"),
    "mrc": ("catalog.readers.mrc", "MrcReader"),
    "raster": ("catalog.readers.raster", "RasterReader"),
}


def _load(name: str, target: tuple[str, str] | str) -> Reader:
    if isinstance(target, str):
        module_name, _, attr = target.partition(":")
    else:
        module_name, attr = target
    cls = getattr(importlib.import_module(module_name), attr)
    reader = cls()
    if not isinstance(reader, Reader):
        raise TypeError(f"{module_name}.{attr} is not a catalog.readers.Reader")
    return reader


@cache
def _plugins() -> dict[str, str]:
    found: dict[str, str] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in BUILTIN_READERS:
            warnings.warn(
                f"reader plugin {ep.value!r} uses the built-in name {ep.name!r}; ignored",
                ReaderPluginWarning,
                stacklevel=2,
            )
            continue
        found[ep.name] = ep.value
    return found


def list_readers() -> list[str]:
    """Names of every available reader, in the order the scanner tries them."""
    return [*BUILTIN_READERS, *_plugins()]


@cache
def get_reader(name: str) -> Reader:
    """The reader called ``name`` (built in or from an entry point).

    Raises :class:`~catalog.errors.ReaderNotFound` with the valid names.
    """
    target: tuple[str, str] | str | None = BUILTIN_READERS.get(name) or _plugins().get(name)
    if target is None:
        raise ReaderNotFound(f"no reader called {name!r}; available: {', '.join(list_readers())}")
    return _load(name, target)


def load_readers() -> list[Reader]:
    """Every reader that imports cleanly, in scan order; broken plugins warn."""
    readers: list[Reader] = []
    for name in list_readers():
        try:
            readers.append(get_reader(name))
        except Exception as exc:  # a broken plugin must not break discovery
            warnings.warn(
                f"voxcat reader {name!r} failed to load: {exc}", ReaderPluginWarning, stacklevel=2
            )
    return readers


def guess_reader(path: str | Path, readers: list[Reader] | None = None) -> Reader | None:
    """The first reader whose ``guess_can_open`` accepts the single file ``path``."""
    p = Path(path)
    for reader in readers if readers is not None else load_readers():
        try:
            if reader.guess_can_open(p):
                return reader
        except Exception:  # detection never raises
            continue
    return None


__all__ = [
    "BUILTIN_READERS",
    "ENTRY_POINT_GROUP",
    "ArrayInfo",
    "ImageInfo",
    "Reader",
    "Source",
    "get_reader",
    "guess_reader",
    "list_readers",
    "load_readers",
    "read_magic",
    "reader_errors",
]
