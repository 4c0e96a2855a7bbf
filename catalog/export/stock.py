"""Catalogue entries that open with stock intake readers only (no voxcat needed).

Every entry is an ``intake.readers.readers.XArrayDatasetReader`` (engine ``zarr`` or
``h5netcdf``), followed by a ``GetItem`` of the image variable for single images, with
paths under intake's ``{CATALOG_DIR}``:

- TIFF files and TIFF slice folders with uncompressed pixels: a kerchunk-style
  reference file written with tifffile (``aszarr().write_fsspec``), read as Zarr
  through ``reference://``; the copy stays a plain TIFF;
- Zarr stores that xarray opens (``_ARRAY_DIMENSIONS`` / ``dimension_names``);
- HDF5 and NetCDF4 files through h5netcdf;
- anything else (DICOM, NIfTI, MRC, NRRD, MetaImage, compressed TIFF, OME-Zarr without
  dimension names, PNG ...) raises :class:`NotStock`, and the exporter converts it.

Each candidate is opened before it is accepted: same shape and dtype as the index,
and the same values in the first and last plane as voxcat reads.

>>> make, how = stock_entry(row, src, dest, "data/k2x9q4m1abcd")     # doctest: +SKIP
>>> make("{CATALOG_DIR}").read()                                     # doctest: +SKIP
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import io
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..readers.base import map_axes
from ..remote import public_options

Make = Callable[[str], Any]  # base folder ("{CATALOG_DIR}" or a real path) -> intake reader


class NotStock(Exception):
    """No stock reader opens this dataset as it is; the message says why."""


#: intake's user parameter holding the storage options a catalogue was opened with
#: (``intake.from_yaml_file(url, storage_options=...)``): the entries of an export in
#: object storage read with them, so that no option (no credential) is written
CATALOG_OPTIONS = "{STORAGE_OPTIONS}"
_REMOTE: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "voxcat_export_storage_options", default=None
)


@contextlib.contextmanager
def remote_export(options: Mapping[str, Any]) -> Iterator[None]:
    """Entries made inside read from object storage: at a URL with ``options`` (the
    exporter's checks), at ``{CATALOG_DIR}`` with the catalogue's storage options.

    >>> with remote_export({"anon": True}):
    ...     _options("{CATALOG_DIR}/data/a.zarr"), _options("s3://b/a.zarr")
    ('{STORAGE_OPTIONS}', {'anon': True})
    """
    token = _REMOTE.set(dict(options))
    try:
        yield
    finally:
        _REMOTE.reset(token)


def _options(url: str) -> Any:
    """The storage options of a reader of ``url`` (``None``: none, a local export)."""
    options = _REMOTE.get()
    if options is None:
        return None
    if url.startswith("{CATALOG_DIR}"):
        return CATALOG_OPTIONS
    return options if "://" in url else None


def _zarr_reader(url: str, group: str | None, variable: str | None) -> Any:
    from intake.readers import datatypes, readers

    options = _options(url)
    data = datatypes.Zarr(url=url, **({"storage_options": options} if options else {}))
    kwargs: dict[str, Any] = {"group": group} if group else {}
    reader = readers.XArrayDatasetReader(
        data, engine="zarr", chunks={}, consolidated=False, **kwargs
    )
    return reader[variable] if variable else reader


def zarr_entry(rel: str, group: str | None, variable: str | None) -> Make:
    """A Zarr store (``rel`` below the catalogue folder) read with xarray."""
    return lambda base: _zarr_reader(f"{base}/{rel}", group, variable)


def _reference_reader(base: str, rel_json: str, rel_root: str) -> Any:
    from intake.readers import datatypes, readers

    options: dict[str, Any] = {
        "fo": f"{base}/{rel_json}",
        "template_overrides": {"root": f"{base}/{rel_root}"},
        "remote_protocol": "file",
    }
    remote = _options(base)
    if remote is not None:  # the protocol of the (templated) URLs, with these options
        del options["remote_protocol"]
        # the referenced bytes are read by an asynchronous file system, which fsspec
        # creates from remote_options alone (intake cannot merge "asynchronous" into
        # {STORAGE_OPTIONS}): the options without credentials are written, and the
        # credentials come from the environment, as fsspec finds them
        chunks = public_options(_REMOTE.get()) if remote == CATALOG_OPTIONS else remote
        options.update(target_options=remote, remote_options={**chunks, "asynchronous": True})
    data = datatypes.Zarr(url="reference://", storage_options=options)
    reader = readers.XArrayDatasetReader(
        data, engine="zarr", chunks={}, consolidated=False, zarr_format=2
    )
    return reader["image"]


def _h5_reader(base: str, rel: str, group: str | None, variable: str | None) -> Any:
    from intake.readers import datatypes, readers

    options = _options(base)
    extra = {"storage_options": options} if options else {}
    data = datatypes.HDF5(url=f"{base}/{rel}", path=group or "", **extra)
    reader = readers.XArrayDatasetReader(data, engine="h5netcdf", chunks={}, phony_dims="sort")
    return reader[variable] if variable else reader


# -- reference files for TIFF ---------------------------------------------------------------


def _tiff_refs(path: Path, series: int, url: str) -> dict[str, Any]:
    from ..readers.tiff import tiff_file

    buf = io.StringIO()
    try:
        with tiff_file(path) as tif, tif.aszarr(series=series, level=0) as store:
            store.write_fsspec(buf, url=url)
    except Exception as exc:
        raise NotStock(f"tifffile cannot write a reference file: {exc}") from exc
    refs = json.loads(buf.getvalue())
    zarray = json.loads(refs[".zarray"])
    if zarray.get("compressor") or zarray.get("filters"):
        codec = (zarray.get("compressor") or {}).get("id") or zarray.get("filters")
        raise NotStock(f"compressed TIFF ({codec}) needs imagecodecs to decode")
    return refs


def _inline(refs: dict[str, Any], name: str, values: np.ndarray, attrs: dict[str, Any]) -> None:
    arr = np.asarray(values)
    if arr.dtype.kind in "OUS":
        arr = arr.astype(str)
    elif arr.dtype.kind == "f":
        arr = arr.astype("<f8")
    else:
        arr = arr.astype("<i8")
    zarray = {
        "chunks": [max(arr.size, 1)],
        "compressor": None,
        "dtype": arr.dtype.str,
        "fill_value": None,
        "filters": None,
        "order": "C",
        "shape": [arr.size],
        "zarr_format": 2,
    }
    refs[f"{name}/.zarray"] = json.dumps(zarray)
    refs[f"{name}/.zattrs"] = json.dumps({"_ARRAY_DIMENSIONS": [name], **attrs}, default=str)
    refs[f"{name}/0"] = "base64:" + base64.b64encode(arr.tobytes()).decode()


def _group_refs(array: dict[str, Any], src: Any) -> dict[str, Any]:
    """Array references as the variable ``image`` of a group with ``src``'s coordinates."""
    refs: dict[str, Any] = {".zgroup": json.dumps({"zarr_format": 2})}
    refs[".zattrs"] = json.dumps({"title": str(src.name or "")})
    for key, value in array.items():
        if key == ".zarray":
            meta = json.loads(value)
            meta["fill_value"] = None  # every chunk exists; no masking to float
            value = json.dumps(meta)
        elif key == ".zattrs":
            value = json.dumps({**_jsonable(src.attrs), "_ARRAY_DIMENSIONS": list(src.dims)})
        refs[f"image/{key}"] = value
    for dim in src.dims:
        if dim in src.coords:
            coord = src.coords[dim]
            _inline(refs, str(dim), coord.values, _jsonable(coord.attrs))
    return {"version": 1, "templates": {"root": "."}, "refs": refs}


def _jsonable(attrs: Any) -> dict[str, Any]:
    return json.loads(json.dumps(dict(attrs), default=str))


def tiff_reference(row: dict[str, Any], src: Any, file: Path, rel_dir: str, dest: Path) -> Make:
    """A reference file beside the TIFF copy in ``dest/rel_dir``."""
    from ..readers.tiff import tiff_file

    options = json.loads(row.get("options") or "{}")
    series = int(options.get("series", 0))
    with tiff_file(file) as tif:
        s = tif.series[series]
        axes = map_axes(s.levels[0].axes, s.levels[0].shape)
    if axes != row["axes"]:
        raise NotStock(f"the TIFF stores axes as {axes!r}, not in voxcat's order {row['axes']!r}")
    rel_file = file.relative_to(dest / rel_dir)
    parent = "/".join(("{{root}}", *rel_file.parent.parts))
    refs = _group_refs(_tiff_refs(file, series, parent), src)
    return _write_refs(refs, dest, rel_dir, row["id"])


def _layout(path: Path) -> tuple[Any, ...] | None:
    """Where the pixels of a single-page TIFF are: ``(facts, first offset, relative
    offsets, byte counts)``, or ``None`` for anything but one uncompressed page."""
    from ..readers.tiff import tiff_file

    with tiff_file(path) as tif:
        if len(tif.pages) != 1:
            return None
        page = tif.pages.first
        if page.compression != 1:
            return None
        offsets, counts = page.dataoffsets, page.databytecounts
        facts = (page.shape, str(page.dtype), tif.byteorder, page.is_tiled, counts)
        return facts, offsets[0], tuple(o - offsets[0] for o in offsets)


def slices_reference(
    row: dict[str, Any], src: Any, files: list[Path], rel_dir: str, dest: Path
) -> Make:
    """One reference file for a folder of single-plane, uncompressed TIFF slices.

    tifffile writes the references of the first slice; a slice whose pixels sit at
    the same relative offsets reuses them shifted (a tenth of the time), any other
    slice gets its own from tifffile."""
    if not files or any(f.suffix.lower() not in (".tif", ".tiff") for f in files):
        raise NotStock("slices are not TIFF files")
    first: dict[str, Any] | None = None
    template: dict[str, Any] = {}
    base: tuple[Any, ...] | None = None
    array: dict[str, Any] = {}
    for k, f in enumerate(files):
        parent = "/".join(("{{root}}", *f.relative_to(dest / rel_dir).parent.parts))
        layout = _layout(f) if base is not None else None
        if base is not None and layout is not None and layout[::2] == base[::2]:
            shift = layout[1] - base[1]
            url = f"{parent}/{f.name}"
            for key, (_, offset, size) in template.items():
                array[f"{k}.{key}"] = [url, offset + shift, size]
            continue
        refs = _tiff_refs(f, 0, parent)
        zarray = json.loads(refs[".zarray"])
        if len(zarray["shape"]) != 2:
            raise NotStock(f"slice {f.name} is not a single 2-D plane")
        if first is None:
            first, base = zarray, _layout(f)
            template = {key: v for key, v in refs.items() if not key.startswith(".")}
        elif zarray != first:
            raise NotStock(f"slice {f.name} differs in shape, type or layout from the first")
        for key, value in refs.items():
            if not key.startswith("."):
                array[f"{k}.{key}"] = value
    assert first is not None
    first.update(shape=[len(files), *first["shape"]], chunks=[1, *first["chunks"]])
    array[".zarray"] = json.dumps(first)
    array[".zattrs"] = "{}"
    return _write_refs(_group_refs(array, src), dest, rel_dir, row["id"])


def _write_refs(refs: dict[str, Any], dest: Path, rel_dir: str, ident: str) -> Make:
    rel_json = f"{rel_dir}/{ident}.refs.json"
    target = dest / rel_json
    tmp = target.with_name(target.name + ".voxcat-tmp")
    tmp.write_text(json.dumps(refs, separators=(",", ":")), encoding="utf-8")
    tmp.replace(target)
    return lambda base: _reference_reader(base, rel_json, rel_dir)


# -- dispatch and checks --------------------------------------------------------------------


def stock_entry(
    row: dict[str, Any], src: Any, files: list[Path], rel_dir: str, dest: Path, top: Path
) -> tuple[Make, str]:
    """A stock entry for the copied dataset (``top``: its exported file or folder)."""
    reader = row["reader"]
    image = row["kind"] == "image"
    if reader == "tiff":
        return tiff_reference(row, src, top, rel_dir, dest), "reference (tifffile) to the TIFF"
    if reader == "slices":
        make = slices_reference(row, src, files, rel_dir, dest)
        return make, "reference (tifffile) to the TIFF slices"
    rel_top = top.relative_to(dest).as_posix()
    if reader == "zarr":
        key = str(src.name) if image else ""
        if image and (not key or key == Path(row["path"]).name):
            raise NotStock("the store is a bare Zarr array, not a group xarray opens")
        group, _, var = key.rpartition("/")
        return zarr_entry(rel_top, group or None, var or None), "zarr (xarray)"
    if reader in ("hdf5", "netcdf"):
        key = str(src.name if image else src.attrs.get("primary") or "")
        group, _, var = key.rpartition("/")
        if image:
            return (lambda base: _h5_reader(base, rel_top, group or None, var)), "h5netcdf"
        label = f"h5netcdf (group /{group})" if group else "h5netcdf"
        return (lambda base: _h5_reader(base, rel_top, group or None, None)), label
    raise NotStock(f"no stock intake reader for {row['format']}")


def _planes(a: Any) -> list[tuple[int, ...]]:
    lead = a.shape[:-2]
    return sorted({tuple(0 for _ in lead), tuple(max(n - 1, 0) for n in lead)})


def check(out: Any, src: Any, row: dict[str, Any]) -> None:
    """Raise :class:`NotStock` unless ``out`` (read through the entry) matches ``src``."""
    import xarray as xr

    if isinstance(src, xr.Dataset):
        primary = str(src.attrs.get("primary") or next(iter(src.data_vars)))
        if not isinstance(out, xr.Dataset):
            raise NotStock("the entry does not give a Dataset")
        name = primary.rpartition("/")[2] if primary not in out else primary
        name = name if name in out else primary.replace("/", "_")
        if name not in out:
            raise NotStock(f"the entry has no variable {primary!r}")
        out, src = out[name], src[primary]
    if not isinstance(out, xr.DataArray):
        raise NotStock(f"the entry gives a {type(out).__name__}, not an array")
    if tuple(out.shape) != tuple(src.shape) or out.dtype != src.dtype:
        raise NotStock(
            f"the entry reads {tuple(out.shape)} {out.dtype}, the index has "
            f"{tuple(src.shape)} {src.dtype}"
        )
    for idx in _planes(src):
        a, b = np.asarray(out.data[idx]), np.asarray(src.data[idx])
        if not np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"):
            raise NotStock(f"the entry reads other values than voxcat in plane {idx}")
