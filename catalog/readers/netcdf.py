"""NetCDF files: NetCDF3 (scipy) and NetCDF4/HDF5 (h5netcdf) through xarray.

The file opens as a lazy ``xarray.Dataset``; the largest data variable of two or more
dimensions is the primary array, and dimensions named like ``z``/``depth``/``row``
are renamed to the ``tczyx`` letters. The Dataset helpers here (``dataset_info``,
``lazy_dataset``) are shared with the Zarr reader for xarray-written stores.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import ReaderError
from .arrays import (
    MAX_LISTED,
    as_text,
    auto_chunks,
    check_size,
    dask_name,
    file_axes,
    lazy_array,
    parse_datetime,
)
from .base import (
    SPATIAL_AXES,
    ArrayInfo,
    ImageInfo,
    Reader,
    Source,
    canonical_order,
    has_suffix,
    info_attrs,
    jsonable,
    level_of,
    read_magic,
    reader_errors,
    spacing_entry,
)
from .hdf5 import HDF5_MAGIC, SMALL_BYTES, hdf5_signature_offset

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

    from ..remote import Storage

#: NetCDF3 signatures: classic, 64-bit offset, 64-bit data (CDF5).
NETCDF3_MAGIC = {
    b"CDF\x01": "NetCDF3 classic",
    b"CDF\x02": "NetCDF3 64-bit offset",
    b"CDF\x05": "NetCDF3 64-bit data (CDF5)",
}
_DATE_ATTRS = (
    "acquired",
    "acquisition_date",
    "date_acquired",
    "start_time",
    "time_coverage_start",
    "date_created",
)


@dataclasses.dataclass
class XrPlan:
    """An ImageInfo plus how to present the Dataset (primary, dimension renames)."""

    info: ImageInfo
    primary: str
    rename: dict[str, str]


class VariableBlocks:
    """Reads blocks of one lazily indexed xarray variable; failures become ReaderError."""

    def __init__(self, variable: xr.Variable, path: Path, name: str) -> None:
        self.variable, self.path, self.name = variable, str(path), name
        self.shape, self.dtype, self.ndim = variable.shape, variable.dtype, variable.ndim

    def __getitem__(self, key: Any) -> np.ndarray:
        with reader_errors(
            self.path, f"cannot read variable {self.name!r} (truncated or corrupt?)"
        ):
            return np.asarray(self.variable[key].values)


def dataset_info(ds: xr.Dataset, path: Path, *, meta: dict[str, Any] | None = None) -> XrPlan:
    """Describe an (unloaded) Dataset: primary variable, axes, spacing, global attrs."""
    numeric = {
        str(n): v for n, v in ds.data_vars.items() if v.dtype.kind in "biufc" and 1 <= v.ndim <= 5
    }
    images = {n: v for n, v in numeric.items() if v.ndim >= 2} or numeric
    if not images:
        raise ReaderError(path, "no numeric data variable with 1 to 5 dimensions")
    primary = max(images, key=lambda n: (images[n].size, n))
    var = images[primary]
    dims = [str(d) for d in var.dims]
    try:
        axes = file_axes(dims, var.shape, var.dtype)
    except ValueError as exc:
        raise ReaderError(path, str(exc)) from exc
    rename = {d: a for d, a in zip(dims, axes) if d != a}
    order = canonical_order(axes)
    spacing: dict[str, float] = {}
    units: dict[str, str] = {}
    origin: dict[str, float] = {}
    for dim, axis in zip(dims, axes):
        step = _uniform_step(ds, dim) if axis in SPATIAL_AXES else None
        if step is not None:
            spacing_entry(spacing, units, axis, abs(step[1]), ds[dim].attrs.get("units"))
            if axis in spacing and step[0]:
                origin[axis] = step[0]
    attrs = dict(ds.attrs)
    variables = {
        str(n): {
            "dims": [str(d) for d in v.dims],
            "shape": list(v.shape),
            "dtype": str(v.dtype),
            "attrs": v.attrs,
        }
        for n, v in list(ds.variables.items())[:MAX_LISTED]
    }
    info = ImageInfo(
        shape=tuple(var.shape[i] for i in order),
        dtype=str(var.dtype),
        axes="".join(axes[i] for i in order),
        kind="container",
        spacing=spacing,
        units=units,
        origin=origin,
        modality=as_text(attrs.get("modality")),
        instrument=as_text(attrs.get("instrument")) or as_text(attrs.get("instrument_name")),
        acquired=next((d for k in _DATE_ATTRS if (d := parse_datetime(attrs.get(k)))), None),
        arrays={
            n: ArrayInfo(
                shape=v.shape,
                dtype=str(v.dtype),
                dims=tuple(rename.get(str(d), str(d)) for d in v.dims),
            )
            for n, v in numeric.items()
            if v.ndim >= 2
        },
        primary=primary,
        meta=jsonable(
            {**(meta or {}), "attrs": attrs, "dims": dict(zip(dims, axes)), "variables": variables}
        ),
    )
    return XrPlan(info=info, primary=primary, rename=rename)


def _uniform_step(ds: xr.Dataset, dim: str) -> tuple[float, float] | None:
    """(start, step) of a small, evenly spaced 1-D coordinate variable named ``dim``."""
    if dim not in ds.coords or ds[dim].dims != (dim,) or ds[dim].size < 2:
        return None
    coord = ds[dim].variable
    if coord.dtype.kind not in "iuf" or coord.size * coord.dtype.itemsize > SMALL_BYTES:
        return None
    values = np.asarray(coord.values, dtype=float)
    steps = np.diff(values)
    if not np.all(np.isfinite(steps)) or not np.allclose(steps, steps[0], rtol=1e-6, atol=0):
        return None
    return float(values[0]), float(steps[0])


def safe_rename(ds: xr.Dataset, mapping: dict[str, str]) -> xr.Dataset:
    """Rename dims/variables even when targets swap or already exist (moved to ``*_orig``)."""
    mapping = {old: new for old, new in mapping.items() if old != new}
    if not mapping:
        return ds
    existing = set(map(str, ds.variables)) | set(map(str, ds.dims))
    away = {n: f"{n}_orig" for n in existing if n in mapping.values() and n not in mapping}
    temp = {old: f"__voxcat_{i}" for i, old in enumerate(mapping)}
    ds = ds.rename({**away, **temp})
    return ds.rename({temp[old]: new for old, new in mapping.items()})


def lazy_dataset(ds: xr.Dataset, path: Path, plan: XrPlan, *, prefix: str) -> xr.Dataset:
    """Rename dims to axis letters and wrap every variable in guarded dask chunks."""
    import xarray as xr

    ds = safe_rename(ds, plan.rename)
    wrapped: dict[str, xr.Variable] = {}
    for name, var in ds.variables.items():
        if name in ds.indexes:
            wrapped[str(name)] = var
            continue
        enc = var.encoding
        storage = enc.get("chunksizes") or enc.get("chunks")
        if not storage and enc.get("preferred_chunks"):
            storage = tuple(enc["preferred_chunks"].get(d, n) for d, n in var.sizes.items())
        chunks = auto_chunks(var.shape, var.dtype.itemsize, storage)
        blocks = VariableBlocks(var, path, str(name))
        data = lazy_array(blocks, chunks, dask_name(prefix, path, str(name)))
        wrapped[str(name)] = var.copy(deep=False, data=data)
    primary = wrapped[plan.primary]
    wrapped[plan.primary] = primary.transpose(
        *sorted(map(str, primary.dims), key=plan.info.axes.index)
    )
    attrs = {**ds.attrs, **{k: v for k, v in info_attrs(plan.info).items() if k != "meta"}}
    attrs["primary"] = plan.primary
    coords = {n: v for n, v in wrapped.items() if n in ds.coords}
    data_vars = {n: v for n, v in wrapped.items() if n not in ds.coords}
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def _has_ncproperties(path: Path) -> bool:
    try:
        import h5py

        with h5py.File(path, "r") as f:
            return "_NCProperties" in f.attrs
    except Exception:
        return False


class NetCDFReader(Reader):
    """NetCDF3 (classic, 64-bit offset) and NetCDF4 files as lazy xarray Datasets.

    >>> reader = NetCDFReader()
    >>> info = reader.describe(Source.single("recon.nc"))  # doctest: +SKIP
    >>> info.primary, info.axes                             # doctest: +SKIP
    ('density', 'zyx')
    >>> reader.open(Source.single("recon.nc"))["density"]   # doctest: +SKIP
    """

    name: ClassVar[str] = "netcdf"
    description: ClassVar[str] = "NetCDF3 and NetCDF4 files (xarray with scipy / h5netcdf)"
    url: ClassVar[str] = "https://docs.unidata.ucar.edu/netcdf-c/current/"
    suffixes: ClassVar[tuple[str, ...]] = (".netcdf", ".nc4", ".cdf", ".nc")
    remote: ClassVar[bool] = True

    def guess_can_open(self, path: Path) -> bool:
        path = Path(path)
        if read_magic(path, 4) in NETCDF3_MAGIC:
            return True
        if hdf5_signature_offset(path) is None:
            return False
        return has_suffix(path, self.suffixes) or _has_ncproperties(path)

    def describe(self, source: Source) -> ImageInfo:
        ds, fmt = self._open(source.path, source.storage)
        try:
            return dataset_info(ds, source.path, meta={"format": fmt}).info
        finally:
            ds.close()
            handle = ds.encoding.get("voxcat_handle")
            if handle is not None:
                handle.close()

    def open(self, source: Source, *, level: int = 0) -> xr.Dataset:
        ds, fmt = self._open(source.path, source.storage)
        plan = dataset_info(ds, source.path, meta={"format": fmt})
        level_of(plan.info, level, source.path)
        return lazy_dataset(ds, source.path, plan, prefix="netcdf")

    def _open(self, path: Path, storage: Storage | None = None) -> tuple[xr.Dataset, str]:
        import xarray as xr

        if storage is not None:
            return _open_remote(path, storage)
        check_size(path)
        head = read_magic(path, 4)
        options: dict[str, Any] = {}
        if head in (b"CDF\x01", b"CDF\x02"):
            engine = "scipy"
        elif head == b"CDF\x05":
            engine = "netcdf4"  # scipy cannot read CDF5
        elif hdf5_signature_offset(path) is not None:
            engine, options = "h5netcdf", {"phony_dims": "access"}
        else:
            raise ReaderError(path, "not a NetCDF file (no CDF or HDF5 signature)")
        fmt = NETCDF3_MAGIC.get(head, "NetCDF4")
        with reader_errors(path, f"truncated or corrupt {fmt} file"):
            try:
                ds = xr.open_dataset(path, engine=engine, chunks=None, cache=False, **options)
            except ImportError as exc:
                raise ReaderError(path, f"{fmt} needs the {engine!r} package: {exc}") from exc
        return ds, fmt


def _open_remote(path: Path, storage: Storage) -> tuple[xr.Dataset, str]:
    """A NetCDF object in storage, opened over an fsspec file (range requests):
    NetCDF4 through h5netcdf, NetCDF3 through scipy."""
    import xarray as xr

    head = storage.head(path, 520)
    options: dict[str, Any] = {}
    if head[:4] in (b"CDF\x01", b"CDF\x02"):
        engine = "scipy"
    elif head[:8] == HDF5_MAGIC or head[512:520] == HDF5_MAGIC:
        engine, options = "h5netcdf", {"phony_dims": "access"}
    elif head[:4] == b"CDF\x05":
        raise ReaderError(
            path, "NetCDF CDF5 cannot be read from object storage (netCDF4 reads local files only)"
        )
    else:
        raise ReaderError(path, "not a NetCDF file (no CDF or HDF5 signature)")
    fmt = NETCDF3_MAGIC.get(head[:4], "NetCDF4")
    handle = storage.open(path)
    try:
        with reader_errors(path, f"truncated or corrupt {fmt} file"):
            ds = xr.open_dataset(handle, engine=engine, chunks=None, cache=False, **options)
    except BaseException:
        handle.close()
        raise
    ds.encoding["voxcat_handle"] = handle
    return ds, fmt
