"""``cat.save``: write a derived xarray result into the managed store and index it.

A ``DataArray`` becomes an OME-Zarr 0.4 multiscale image (physical scale and units
from its coordinates, pyramid levels for browsing), a ``Dataset`` a Zarr group; both go
to ``<index stem>.store/`` next to the index, never beside the originals. The result
is scanned like any dataset (metadata, checksum, thumbnail), then linked to its
parents with the step, parameters and provenance: user, time, the notebook or script
and the code that called ``save``, and the versions of the packages involved.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import inspect
import linecache
import os
import re
import sys
import uuid
from pathlib import Path
from typing import Any

from ..errors import LineageError
from ..index import resolve_index

#: units as OME-NGFF spells them
NGFF_UNITS = {
    "m": "meter",
    "mm": "millimeter",
    "µm": "micrometer",
    "um": "micrometer",
    "micron": "micrometer",
    "nm": "nanometer",
    "Å": "angstrom",
    "pm": "picometer",
}
#: packages whose versions are worth recording when loaded
INTERESTING = (
    "numpy",
    "scipy",
    "xarray",
    "dask",
    "zarr",
    "tifffile",
    "scikit-image",
    "scikit-learn",
    "SimpleITK",
    "porespy",
    "torch",
    "tensorflow",
    "opencv-python",
    "pandas",
    "napari",
    "cellpose",
    "stardist",
)
_MODULE_OF = {"scikit-image": "skimage", "scikit-learn": "sklearn", "opencv-python": "cv2"}


def store_dir(index: str | os.PathLike[str]) -> Path:
    """Where saved results live: ``lab.store/`` next to ``lab.duckdb``."""
    path = resolve_index(index)
    return path.with_name(path.stem + ".store")


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "result"


def package_versions() -> dict[str, str]:
    """Versions of voxcat, Python and the interesting packages already imported."""
    out = {"python": sys.version.split()[0]}
    for dist in ("voxcat", *INTERESTING):
        module = _MODULE_OF.get(dist, dist.lower())
        if dist != "voxcat" and module not in sys.modules:
            continue
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def caller_context(skip: int = 2, limit: int = 20_000) -> dict[str, Any]:
    """Where ``save`` was called from: notebook or script path, line, and its code.

    In a Jupyter kernel the notebook path comes from ``JPY_SESSION_NAME`` (set by
    jupyter_server) and the code is the cell's source; in a script, the script file.
    """
    frame = inspect.currentframe()
    for _ in range(skip):
        frame = frame.f_back if frame is not None else None
    here = Path(__file__).resolve().parent.parent
    while frame is not None and Path(frame.f_code.co_filename).resolve().is_relative_to(here):
        frame = frame.f_back
    ctx: dict[str, Any] = {"cwd": os.getcwd(), "argv": list(sys.argv)}
    if os.environ.get("JPY_SESSION_NAME"):
        ctx["notebook"] = os.environ["JPY_SESSION_NAME"]
    elif sys.argv and sys.argv[0] and Path(sys.argv[0]).is_file():
        ctx["script"] = str(Path(sys.argv[0]).resolve())
    if frame is not None:
        filename = frame.f_code.co_filename
        ctx["file"], ctx["line"] = filename, frame.f_lineno
        lines = linecache.getlines(filename, frame.f_globals)
        if lines:
            ctx["code"] = "".join(lines)[:limit]
    return ctx


def _scale_and_units(da: Any) -> tuple[dict[str, float], dict[str, str]]:
    scale, units = {}, {}
    for dim in da.dims:
        if dim in ("x", "y", "z") and dim in da.coords and da.sizes[dim] > 1:
            coord = da.coords[dim].values
            step = float(coord[1] - coord[0])
            if step > 0:
                scale[dim] = step
                unit = da.coords[dim].attrs.get("units")
                if unit in NGFF_UNITS:
                    units[dim] = NGFF_UNITS[unit]
    return scale, units


def write_result(obj: Any, path: Path) -> Path:
    """Write ``obj`` (DataArray or Dataset) as OME-Zarr / Zarr at ``path`` (atomically)."""
    import dask.array as dsa
    import xarray as xr

    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    if isinstance(obj, xr.DataArray):
        dims = list(obj.dims)
        if not set(dims) <= set("tczyx") or len(dims) < 2 or dims[-2:] != ["y", "x"]:
            raise LineageError(
                f"save writes images with dims drawn from t, c, z, y, x ending in y, x; got "
                f"{tuple(dims)} (transpose or rename first, or save an xarray.Dataset)"
            )
        order = [d for d in "tczyx" if d in dims]
        da = obj.transpose(*order)
        import zarr
        from ome_zarr.format import FormatV04
        from ome_zarr.writer import write_image

        scale, units = _scale_and_units(da)
        group = zarr.open_group(str(tmp), mode="w", zarr_format=2)
        spatial = [d for d in ("z", "y", "x") if d in order]
        big = max(da.sizes[d] for d in ("y", "x"))
        factors = []
        f = 2
        while big // f >= 256 and len(factors) < 5:
            factors.append({d: f for d in spatial if d != "z" or da.sizes["z"] // f >= 16})
            f *= 2
        write_image(
            dsa.asarray(da.data),
            group=group,
            axes="".join(order),
            fmt=FormatV04(),
            scale_factors=factors,
            scale={d: v for d, v in scale.items()} or None,
            axes_units=units or None,
            name=str(da.name or path.stem),
        )
    elif isinstance(obj, xr.Dataset):
        obj.to_zarr(str(tmp), mode="w", zarr_format=2, consolidated=True)
    else:
        raise LineageError(f"save takes an xarray DataArray or Dataset, not {type(obj).__name__}")
    tmp.rename(path)
    return path


def save(
    cat: Any,
    obj: Any,
    *,
    name: str,
    parents: list[str] | tuple[str, ...] = (),
    step: str | None = None,
    params: dict[str, Any] | None = None,
    level: str | None = None,
    description: str | None = None,
    tags: tuple[str, ...] | list[str] = (),
) -> str:
    """See :meth:`DuckDBCatalog.save`."""
    from ..readers.base import DATA_LEVELS
    from ..scanner import scan
    from . import annotate
    from .lineage import link

    index = cat.index
    parents = list(parents)
    if parents and not step:
        raise LineageError("save with parents needs step='...' naming what was done")
    if level is not None and level not in DATA_LEVELS:
        raise LineageError(f"level {level!r} is not one of {', '.join(DATA_LEVELS)}")
    missing = [p for p in parents if p not in open_all(cat)]
    if missing:
        raise LineageError(f"unknown parent id(s): {', '.join(missing)}")
    context = caller_context()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = store_dir(index) / f"{stamp}-{uuid.uuid4().hex[:6]}"  # one folder per save
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{_slug(name)}.zarr"
    write_result(obj, path)
    report = scan(path, index, jobs=1, progress=False)
    if report["failed"]:
        raise LineageError(f"the saved result {path} could not be indexed: {report.failed}")
    found = list(open_all(cat).search(path=str(path)))
    if not found:
        raise LineageError(f"the saved result {path} is not in the index after scanning it")
    ident = found[0]
    provenance = {
        "step": step,
        "params": params or {},
        "parents": parents,
        "versions": package_versions(),
        **context,
    }
    fields: dict[str, Any] = inherited_fields(index, parents)
    if level:
        fields["data_level"] = level
    if description:
        fields["description"] = description
    if fields:
        annotate.set_fields(index, [ident], fields)
    if tags:
        annotate.tag(index, [ident], tags)
    if parents:
        link(index, ident, parents, step=step or "save", params=params, provenance=provenance)
    from ..index import transaction
    from ..index.search_text import refresh_search_text
    from ..index.store import META_SCHEMA, append_audit, current_user, flatten, insert_rows

    # all of it in the row's meta; the short part (no code) searchable too
    keys = ("step", "params", "parents", "notebook", "script")
    short = {k: provenance[k] for k in keys if k in provenance}
    with transaction(index) as con:
        con.execute(
            "UPDATE datasets SET meta = json_merge_patch(coalesce(meta, '{}'), ?::JSON) "
            "WHERE id = ?",
            [_json({"provenance": provenance}), ident],
        )
        rows = [
            {"dataset_id": ident, "key": k, "value": v, "num": n}
            for k, v, n in flatten({"provenance": short})
        ]
        insert_rows(con, "metadata", rows, META_SCHEMA)
        refresh_search_text(con, [ident])
        append_audit(
            con,
            [("save", ident, {"path": str(path), "step": step, "parents": parents})],
            current_user(),
        )
    return ident


#: fields a saved result takes from its parents when they all agree
INHERITED = ("modality", "sample", "project")


def inherited_fields(index: str | os.PathLike[str], parents: list[str]) -> dict[str, Any]:
    """What a result derived from ``parents`` inherits: each of :data:`INHERITED` on
    which the parents that have it agree. Where they disagree the field is left empty,
    never taken from the saved file's format (OME-Zarr would say light microscopy).

    >>> inherited_fields("lab.duckdb", [ct_id])            # doctest: +SKIP
    {'modality': 'CT', 'sample': 'S01', 'project': 'rocks'}
    """
    if not parents:
        return {}
    from ..index import connect

    cols = ", ".join(INHERITED)
    with connect(index, read_only=True) as con:
        rows = con.execute(
            f"SELECT {cols} FROM datasets WHERE id IN (SELECT unnest(?))", [parents]
        ).fetchall()
    out: dict[str, Any] = {}
    for pos, field in enumerate(INHERITED):
        values = {row[pos] for row in rows if row[pos] is not None}
        out[field] = values.pop() if len(values) == 1 else None
    return out


def _json(value: Any) -> str:
    import json

    return json.dumps(value, default=str)


def open_all(cat: Any) -> Any:
    from .core import DuckDBCatalog

    return DuckDBCatalog(cat.index, files=True)
