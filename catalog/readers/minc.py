"""MINC1 (NetCDF classic) and MINC2 (HDF5) volumes via nibabel.

MINC1 files start with the NetCDF signature ``CDF\\x01``; xarray cannot open them
(each dimension also has a scalar variable of the same name), so this reader comes
before the NetCDF one and claims a NetCDF file when its header, parsed here without any
library, holds an ``image`` variable over ``*space`` dimensions. It opens MINC1 through
nibabel's own MINC code on a memory-mapped NetCDF file, so describing a file and reading
a chunk touch only the bytes they need (``nibabel.load`` reads every variable). MINC2
files are HDF5 named ``.mnc`` with a ``minc-2.0`` group; they come before the HDF5
reader. The axes are named by the MINC dimensions (``zspace`` -> ``z``, ``time`` ->
``t``), which are stored in C order; values are scaled by ``image-min``/``image-max``
as nibabel scales them (float64 for integer data). The ``patient`` variable or group is
never indexed.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import ReaderError
from .arrays import as_text
from .base import has_suffix, read_magic
from .hdf5 import hdf5_signature_offset
from .neuro import Facts, NibabelReader

MINC1_MAGICS = (b"CDF\x01", b"CDF\x02")
#: bytes per element of each NetCDF classic type
NC_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 4, 6: 8}
MINC_AXES = {"xspace": "x", "yspace": "y", "zspace": "z", "time": "t", "vector_dimension": "c"}
#: MINC ``study:modality`` values -> DICOM modality codes
MINC_MODALITIES = {
    "MRI": "MR",
    "MRS": "MR",
    "MRA": "MR",
    "PET": "PT",
    "SPECT": "NM",
    "GAMMA": "NM",
    "CT": "CT",
}
MAX_NAMES = 1 << 16  # more dimensions or variables than this: not a real header


def netcdf_names(path: Path) -> tuple[list[str], list[str]] | None:
    """Dimension and variable names of a NetCDF classic (CDF1/CDF2) file, parsed from its
    header without reading data; ``None`` if the header is not one or is cut short."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
            if magic not in MINC1_MAGICS:
                return None

            def u32() -> int:
                raw = fh.read(4)
                if len(raw) < 4:
                    raise EOFError
                return struct.unpack(">I", raw)[0]

            def name() -> str:
                n = u32()
                if n > 4096:
                    raise ValueError("name too long")
                raw = fh.read(n)
                fh.seek((-n) % 4, 1)
                return raw.decode("latin-1")

            def skip_attributes() -> None:
                _tag, count = u32(), u32()
                for _ in range(min(count, MAX_NAMES)):
                    name()
                    size = NC_SIZES[u32()] * u32()
                    fh.seek(size + (-size) % 4, 1)

            u32()  # numrecs
            _tag, ndims = u32(), u32()
            if ndims > MAX_NAMES:
                return None
            dims = []
            for _ in range(ndims):
                dims.append(name())
                u32()
            skip_attributes()
            _tag, nvars = u32(), u32()
            if nvars > MAX_NAMES:
                return None
            variables = []
            for _ in range(nvars):
                variables.append(name())
                fh.seek(4 * u32(), 1)  # dimension ids
                skip_attributes()
                u32()  # type
                u32()  # vsize
                fh.seek(4 if magic == b"CDF\x01" else 8, 1)  # begin
            return dims, variables
    except (OSError, EOFError, KeyError, ValueError, struct.error):
        return None


def minc_version(path: Path) -> int | None:
    """1 or 2 for a MINC file, else None (MINC2 is only looked for in ``.mnc`` files)."""
    if read_magic(path, 4) in MINC1_MAGICS:
        names = netcdf_names(path)
        if names and "image" in names[1] and any(d.endswith("space") for d in names[0]):
            return 1
        return None
    if has_suffix(path, (".mnc",)) and hdf5_signature_offset(path) is not None:
        import h5py

        try:
            with h5py.File(path, "r") as f:
                return 2 if isinstance(f.get("minc-2.0"), h5py.Group) else None
        except Exception:  # a damaged .mnc: claim it, so that its error names MINC
            return 2
    return None


def with_minc(path: Path, fn: Callable[[Any, Any], Any]) -> Any:
    """``fn(minc_file, handle)`` on nibabel's MINC1/MINC2 wrapper of ``path``, closing
    the file after; ``fn`` must return copies, never views of the mapped file."""
    if read_magic(path, 4) in MINC1_MAGICS:
        from nibabel.externals.netcdf import netcdf_file
        from nibabel.minc1 import Minc1File

        nc = netcdf_file(str(path), mode="r", mmap=True)
        try:
            return fn(Minc1File(nc), nc)
        finally:
            with warnings.catch_warnings():  # views still alive after an error: GC unmaps
                warnings.simplefilter("ignore", RuntimeWarning)
                nc.close()
    import h5py
    from nibabel.minc2 import Minc2File

    with h5py.File(path, "r") as f, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Invalid spacing declaration"
        return fn(Minc2File(f), f)


def _text(value: Any) -> Any:
    """MINC text attributes are bytes (``history`` has newlines): decode them."""
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode("utf-8", "replace").rstrip("\x00")
    return value


def _nc_attrs(var: Any) -> dict[str, Any]:
    return {k: _text(v) for k, v in getattr(var, "_attributes", {}).items()}


def _h5_attrs(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in obj.attrs:
        try:
            out[key] = _text(obj.attrs[key])
        except Exception:  # an attribute type h5py cannot read
            out[key] = "<unreadable>"
    return out


class MincReader(NibabelReader):
    """MINC1 and MINC2 volumes (``.mnc``) via nibabel, lazily.

    >>> info = MincReader().describe(Source.single("brain.mnc"))  # doctest: +SKIP
    >>> info.axes, info.meta["format"]                          # doctest: +SKIP
    ('zyx', 'MINC1')
    """

    name: ClassVar[str] = "minc"
    description: ClassVar[str] = "MINC1 (NetCDF) and MINC2 (HDF5) volumes via nibabel"
    url: ClassVar[str] = (
        "https://en.wikibooks.org/wiki/MINC/Reference/MINC2.0_File_Format_Reference"
    )
    format_name: ClassVar[str] = "MINC"
    signature: ClassVar[str] = (
        "neither a NetCDF header with an 'image' variable over *space dimensions "
        "nor an HDF5 .mnc file with a minc-2.0 group"
    )
    suffixes: ClassVar[tuple[str, ...]] = (".mnc",)
    fortran_order: ClassVar[bool] = False

    def detect(self, path: Path) -> bool:
        return minc_version(path) is not None

    def facts(self, path: Path, files: tuple[Path, ...]) -> Facts:
        return with_minc(path, lambda mf, handle: self._facts(path, mf, handle))

    def read_block(self, path: Path, files: tuple[Path, ...], index: tuple) -> np.ndarray:
        return with_minc(path, lambda mf, _: np.array(mf.get_scaled_data(index)))

    def _facts(self, path: Path, mf: Any, handle: Any) -> Facts:
        shape = tuple(int(n) for n in mf.get_data_shape())
        if read_magic(path, 4) in MINC1_MAGICS:
            version = 1
            dims = [str(d) for d in handle.variables["image"].dimensions]
            dim_attrs = {d: _nc_attrs(handle.variables.get(d)) for d in dims}
            info = {
                n: _nc_attrs(v)
                for n, v in handle.variables.items()
                if n not in dims and n not in ("patient", "image-min", "image-max")
            }
            extra = {"attributes": {k: _text(v) for k, v in handle._attributes.items()}}
        else:
            version = 2
            image = handle["minc-2.0/image/0/image"]
            order = as_text(image.attrs.get("dimorder", b"")) or ""
            dims = order.split(",")[: len(shape)] if order else []
            group = handle["minc-2.0/dimensions"]
            dim_attrs = {d: _h5_attrs(group[d]) for d in dims if d in group}
            info_group = handle.get("minc-2.0/info")
            info = {n: _h5_attrs(g) for n, g in (info_group or {}).items() if n != "patient"}
            info["image"] = _h5_attrs(image)
            extra = {"attributes": {**_h5_attrs(handle), **_h5_attrs(handle["minc-2.0"])}}
        if len(dims) != len(shape):
            raise ReaderError(path, f"MINC image dimensions {dims} do not match shape {shape}")
        unknown = [d for d in dims if d not in MINC_AXES]
        if unknown:
            raise ReaderError(path, f"unsupported MINC dimension(s) {unknown}")
        affine = mf.get_affine()
        # the dtype nibabel scales to, without reading pixels: scale a zero corner voxel
        # (image-min/max and the valid range are small header variables or attributes)
        corner = tuple(slice(0, 1) for _ in shape)
        zero = np.zeros((1,) * len(shape), dtype=mf.get_data_dtype())
        dtype = np.asarray(mf._normalize(zero, corner)).dtype
        if affine.shape != (4, 4):
            raise ReaderError(path, "MINC image does not have 3 spatial dimensions")
        axes = "".join(MINC_AXES[d] for d in dims)
        units = {
            MINC_AXES[d]: as_text(dim_attrs.get(d, {}).get("units")) or "mm"
            for d in dims
            if MINC_AXES[d] in "xyz"
        }
        time_unit = as_text(dim_attrs.get("time", {}).get("units")) or "s"
        study = info.get("study", {})
        code = (as_text(study.get("modality")) or "").strip("_ ").upper()
        make = " ".join(t for k in ("manufacturer", "model") if (t := as_text(study.get(k)) or ""))
        meta = {
            "format": f"MINC{version}",
            "dimensions": dim_attrs,
            "info": info,
            **extra,
        }
        return Facts(
            shape=shape,
            axes=axes,
            zooms=[float(z) for z in mf.get_zooms()],
            affine=affine,
            meta=meta,
            unit=units,
            time_unit=time_unit,
            modality=MINC_MODALITIES.get(code),
            instrument=make or None,
            dtype=dtype,
        )
