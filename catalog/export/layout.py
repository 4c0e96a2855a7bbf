"""A container as xarray reads the file itself, for a conversion that keeps its names.

voxcat presents a NetCDF or HDF5 container in its own terms (dimensions renamed to
``t, c, z, y, x``, HDF5 arrays named by their full path), while the stock reader of a
copied file (xarray with h5netcdf) gives the file's own groups, variable and dimension
names. A conversion to Zarr written from :func:`file_groups` reads, through the stock
catalogue, with the same names as the copied file, and voxcat reads it as it read
the original.

>>> groups = file_groups(row, src)              # doctest: +SKIP
>>> sorted(groups), list(groups["exchange"])    # doctest: +SKIP
(['exchange'], ['data', 'data_dark', 'data_white', 'theta'])
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from ..paths import from_db

NETCDF3 = {b"CDF\x01": "scipy", b"CDF\x02": "scipy", b"CDF\x05": "netcdf4"}


def _open(path: Path, group: str | None) -> Any:
    import xarray as xr

    with open(path, "rb") as fh:
        engine = NETCDF3.get(fh.read(4), "h5netcdf")
    options: dict[str, Any] = {"phony_dims": "sort"} if engine == "h5netcdf" else {}
    return xr.open_dataset(path, engine=engine, group=group, chunks={}, **options)


def file_groups(row: dict[str, Any], src: Any) -> dict[str, Any] | None:
    """``{group path: Dataset}`` of the file as xarray reads it (lazy, dask-backed), or
    ``None`` when that does not hold every array voxcat reads (then convert ``src``)."""
    import xarray as xr

    if row.get("reader") not in ("hdf5", "netcdf") or not isinstance(src, xr.Dataset):
        return None
    path = Path(from_db(row["path"]))
    wanted = {str(k): v for k, v in src.data_vars.items()}
    names = {str(k).rpartition("/") for k in wanted} if row["reader"] == "hdf5" else set()
    groups = sorted({g for g, _, _ in names}) if names else [""]
    out: dict[str, Any] = {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for group in groups:
                out[group] = _open(path, group or None)
    except Exception:  # not something xarray reads as it is: convert voxcat's reading
        for ds in out.values():
            ds.close()
        return None
    for key, var in wanted.items():
        group, _, name = key.rpartition("/") if row["reader"] == "hdf5" else ("", "", key)
        found = out[group].variables.get(name)
        if found is None or found.size != var.size:
            for ds in out.values():
                ds.close()
            return None
    primary = str(src.attrs.get("primary") or next(iter(wanted)))
    group, _, name = primary.rpartition("/") if row["reader"] == "hdf5" else ("", "", primary)
    out[group].encoding["primary"] = name  # not an attribute: not written
    return out


def primary_of(groups: dict[str, Any]) -> tuple[str, str]:
    """``(group, variable)`` of the primary array of :func:`file_groups`' result."""
    for group, ds in groups.items():
        if ds.encoding.get("primary"):
            return group, str(ds.encoding["primary"])
    group, ds = next(iter(groups.items()))
    return group, str(next(iter(ds.data_vars)))
