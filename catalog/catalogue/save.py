"""``cat.save``: write a derived xarray result into the managed store and index it.

A ``DataArray`` becomes an OME-Zarr 0.4 multiscale image (physical scale and units
from its coordinates, pyramid levels for browsing), a ``Dataset`` a Zarr group; both go
to ``<index stem>.store/`` next to the index, never beside the originals. The result
is read like any dataset (metadata, checksum, thumbnail), then indexed and linked to
its parents with the step, parameters and provenance (user, time, the notebook or
script and the code that called ``save``, the versions of the packages involved) in
one transaction. Leftovers of saves killed half way are removed by the next save
(:func:`clean_store`); a result derived from restricted data is restricted.
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
import warnings
from pathlib import Path
from typing import Any

from .. import omezarr
from ..errors import CleanupWarning, LineageError
from ..index import Connection, cache_dir, resolve_index
from ..paths import display, from_db, to_db
from ..scanner.single import read_path
from ..tempfiles import is_stale, remove, remove_stale, temp_path
from ..testhooks import pause
from ..units import ngff_unit
from .access import RESTRICTED, restricted_sources

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
SAVING = "saving"  # markers of saves in progress, in the index's cache folder


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
    """Spatial voxel sizes from the coordinates and their units (any spelling)."""
    scale, units = {}, {}
    for dim in da.dims:
        if dim in ("x", "y", "z") and dim in da.coords and da.sizes[dim] > 1:
            coord = da.coords[dim].values
            step = float(coord[1] - coord[0])
            if step > 0:
                scale[dim] = step
                unit = da.coords[dim].attrs.get("units")
                if ngff_unit(unit):
                    units[dim] = unit
    return scale, units


def write_result(obj: Any, path: Path) -> Path:
    """Write ``obj`` (DataArray or Dataset) as OME-Zarr / Zarr at ``path`` (atomically:
    under a temporary name that records this process, renamed when complete)."""
    import xarray as xr

    tmp = temp_path(path)
    try:
        _write_to(obj, path, tmp, xr)
        pause("save.writing")
    except BaseException:
        remove(tmp)
        raise
    tmp.rename(path)
    return path


def _write_to(obj: Any, path: Path, tmp: Path, xr: Any) -> None:
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

        scale, units = _scale_and_units(da)
        group = zarr.open_group(str(tmp), mode="w", zarr_format=2)
        omezarr.write_image(
            da.data,
            group,
            "".join(order),
            name=str(da.name or path.stem),
            scale=scale,
            units=units,
            scale_factors=omezarr.save_scale_factors(dict(da.sizes)),
        )
    elif isinstance(obj, xr.Dataset):
        obj.to_zarr(str(tmp), mode="w", zarr_format=2, consolidated=True)
    else:
        raise LineageError(f"save takes an xarray DataArray or Dataset, not {type(obj).__name__}")


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
    """See :meth:`DuckDBCatalog.save`.

    Crash-safe: the data is written under a temporary name and renamed, then read
    (metadata, checksum, thumbnail), then the dataset, its fields, tags, lineage,
    provenance and audit rows are written in one transaction. A save killed before
    that commit leaves no trace in the index, and its files are removed by the next
    save (:func:`clean_store`). Saving the same result again (same name, parents, step
    and parameters, identical content) returns the id of the dataset saved before
    instead of making a second one.
    """
    from ..readers.base import DATA_LEVELS

    index = Path(os.path.abspath(resolve_index(cat.index)))  # the index holds absolute paths
    parents = list(parents)
    if parents and not step:
        raise LineageError("save with parents needs step='...' naming what was done")
    if level is not None and level not in DATA_LEVELS:
        raise LineageError(f"level {level!r} is not one of {', '.join(DATA_LEVELS)}")
    missing = [p for p in parents if p not in open_all(cat)]
    if missing:
        raise LineageError(f"unknown parent id(s): {', '.join(missing)}")
    context = caller_context()
    removed = clean_store(index)
    if removed:
        warnings.warn(
            f"removed {len(removed)} leftover(s) of interrupted saves: "
            + ", ".join(display(p) for p in removed[:10]),
            CleanupWarning,
            stacklevel=3,
        )
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = store_dir(index) / f"{stamp}-{uuid.uuid4().hex[:6]}"  # one folder per save
    claim = _claim(index, folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{_slug(name)}.zarr"
        write_result(obj, path)
        pause("save.written")
        res = read_path(path, index)
        if not res.ok:
            raise LineageError(
                f"the saved result {display(path)} could not be indexed: {res.error}"
            )
        provenance = {
            "step": step,
            "params": params or {},
            "parents": parents,
            "versions": package_versions(),
            **context,
        }
    except BaseException:
        remove(folder)  # nothing was committed: leave nothing behind
        remove(claim)
        raise
    try:
        ident, keep = _index_result(
            index, res, path, parents, provenance,
            level=level, description=description, tags=tags,
        )  # fmt: skip
    except BaseException:
        remove(folder)  # the transaction was rolled back
        remove(claim)
        raise
    pause("save.committed")
    if not keep:
        remove(folder)  # the same result was saved before: its id is returned
    remove(claim)
    return ident


def _index_result(
    index: Path,
    res: Any,
    path: Path,
    parents: list[str],
    provenance: dict[str, Any],
    *,
    level: str | None,
    description: str | None,
    tags: tuple[str, ...] | list[str],
) -> tuple[str, bool]:
    """Everything ``save`` records, in one transaction: ``(id, whether the new data is
    kept)``; an earlier identical save gives its id and the new copy is not kept."""
    from ..index import transaction
    from ..index.search_text import refresh_search_text
    from ..index.store import META_SCHEMA, append_audit, current_user, flatten, insert_rows
    from ..scanner.single import record_path
    from . import annotate
    from .lineage import link

    step, params = provenance["step"], provenance["params"]
    with transaction(index) as con:
        same, unfinished = _earlier(con, index, res.checksum, path.name, parents, step, params)
        if same is not None:  # saved before (the last run died before it returned)
            if tags:
                annotate.tag(index, [same], tags, con=con)
            return same, False
        ident = unfinished or record_path(con, index, res)
        fields: dict[str, Any] = inherited_fields(index, parents, con=con)
        if level:
            fields["data_level"] = level
        if description:
            fields["description"] = description
        if fields:
            annotate.set_fields(index, [ident], fields, con=con)
        if tags:
            annotate.tag(index, [ident], tags, con=con)
        if parents:
            link(
                index, ident, parents, step=step or "save", params=params,
                provenance=provenance, con=con,
            )  # fmt: skip
        # all of it in the row's meta; the short part (no code) searchable too
        keys = ("step", "params", "parents", "notebook", "script")
        short = {k: provenance[k] for k in keys if k in provenance}
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
        saved = {"path": str(path), "step": step, "parents": parents}
        if unfinished:
            saved["completed"] = "an earlier save of this result that stopped half way"
        append_audit(con, [("save", ident, saved)], current_user())
        pause("save.commit")
    return ident, unfinished is None


def _earlier(
    con: Connection,
    index: Path,
    checksum: str | None,
    name: str,
    parents: list[str],
    step: str | None,
    params: dict[str, Any],
) -> tuple[str | None, str | None]:
    """``(id of the same save made before, id of an unfinished one)``: a dataset of the
    store with this name and content whose provenance has the same parents, step and
    parameters; or one with no provenance at all (indexed by a save of an older voxcat
    that stopped before recording its lineage), which this save completes."""
    import json

    if not checksum:
        return None, None
    prefix = to_db(store_dir(index)).rstrip("/") + "/"
    rows = con.execute(
        "SELECT id, path, json_extract(meta, '$.provenance') FROM datasets "
        "WHERE checksum = ? AND name = ? AND status = 'ok' AND starts_with(path, ?) "
        "ORDER BY first_seen",
        [checksum, name, prefix],
    ).fetchall()
    wanted = json.loads(_json({"step": step, "params": params, "parents": sorted(parents)}))
    unfinished = None
    for ident, where, prov in rows:
        if not os.path.isdir(from_db(where)):
            continue
        if prov is None:
            unfinished = unfinished or ident
            continue
        prov = json.loads(prov) if isinstance(prov, str) else prov
        had = {
            "step": prov.get("step"),
            "params": prov.get("params") or {},
            "parents": sorted(prov.get("parents") or []),
        }
        if had == wanted:
            return ident, None
    return None, unfinished


def _claim(index: Path, folder: Path) -> Path:
    """A marker in the cache folder saying this process is writing ``folder``: while
    it lives the folder is work in progress; left by a dead process, the folder is
    removed by :func:`clean_store` unless its result made it into the index."""
    base = cache_dir(index) / SAVING
    base.mkdir(parents=True, exist_ok=True)
    marker = temp_path(base / folder.name)
    marker.write_text(str(folder), encoding="utf-8")
    return marker


def clean_store(index: str | os.PathLike[str]) -> list[Path]:
    """Remove what interrupted saves left: the folders of saves whose process died
    before their index transaction committed, and temporary Zarr writes of dead
    processes in the store. Saves in progress (their process alive) are left alone.
    Returns what was removed; each removal is recorded in the audit log
    (``store.cleaned``). ``cat.save`` runs it first.

    >>> clean_store("lab.duckdb")                                  # doctest: +SKIP
    [PosixPath('lab.store/20250301-101500-a1b2c3')]
    """
    from ..index import connect, transaction
    from ..index.store import append_audit, current_user

    index = Path(os.path.abspath(resolve_index(index)))
    removed: list[Path] = []
    base = cache_dir(index) / SAVING
    stale = [m for m in sorted(base.glob(".*.tmp")) if is_stale(m)] if base.is_dir() else []
    if stale and index.exists():
        for marker in stale:
            try:
                folder = Path(marker.read_text(encoding="utf-8").strip())
            except (OSError, UnicodeDecodeError):
                folder = None
            if folder is not None and folder.parent == store_dir(index) and folder.is_dir():
                prefix = to_db(folder).rstrip("/") + "/"
                with connect(index, read_only=True) as con:
                    indexed = con.execute(
                        "SELECT 1 FROM datasets WHERE starts_with(path, ?) LIMIT 1", [prefix]
                    ).fetchone()
                if indexed is None:  # never committed: its data is an orphan
                    remove(folder)
                    removed.append(folder)
            remove(marker)
    store = store_dir(index)
    if store.is_dir():
        for folder in sorted(p for p in store.iterdir() if p.is_dir() and not p.is_symlink()):
            removed += remove_stale(folder)
    if removed:
        detail = {"removed": [str(p) for p in removed]}
        with transaction(index) as con:
            append_audit(con, [("store.cleaned", None, detail)], current_user())
    return removed


#: fields a saved result takes from its parents when they all agree
INHERITED = ("modality", "sample", "project")


def inherited_fields(
    index: str | os.PathLike[str], parents: list[str], *, con: Connection | None = None
) -> dict[str, Any]:
    """What a result derived from ``parents`` inherits: each of :data:`INHERITED` on
    which the parents that have it agree (where they disagree the field is left empty,
    never taken from the saved file's format: OME-Zarr would say light microscopy),
    and ``access="restricted"`` when any parent or ancestor of one is restricted.
    ``con``: read with the caller's connection.

    >>> inherited_fields("lab.duckdb", [ct_id])            # doctest: +SKIP
    {'modality': 'CT', 'sample': 'S01', 'project': 'rocks'}
    """
    if not parents:
        return {}
    if con is None:
        from ..index import connect

        with connect(index, read_only=True) as own:
            return inherited_fields(index, parents, con=own)
    cols = ", ".join(INHERITED)
    rows = con.execute(
        f"SELECT {cols} FROM datasets WHERE id IN (SELECT unnest(?))", [parents]
    ).fetchall()
    out: dict[str, Any] = {}
    for pos, field in enumerate(INHERITED):
        values = {row[pos] for row in rows if row[pos] is not None}
        out[field] = values.pop() if len(values) == 1 else None
    if restricted_sources(con, parents):
        out["access"] = RESTRICTED
    return out


def _json(value: Any) -> str:
    import json

    return json.dumps(value, default=str)


def open_all(cat: Any) -> Any:
    from .core import DuckDBCatalog

    return DuckDBCatalog(cat.index, files=True)
