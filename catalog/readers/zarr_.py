"""Zarr stores (v2 and v3): OME-Zarr 0.4/0.5 images, plain arrays and groups.

A store is a folder, claimed whole by :meth:`ZarrReader.claim_directory`. OME-Zarr
multiscales metadata is read directly (0.4 stores carry no ``_ARRAY_DIMENSIONS``, so
``xr.open_zarr`` cannot open them); groups whose arrays all name their dimensions
open through xarray, other groups are assembled from the arrays themselves.

Every file of a store is read through :func:`confined_store`: regular files only, inside
the store (links followed) or among the dataset's recorded files, so a named pipe, a
link to ``/dev/zero`` or a chunk linked to a file elsewhere is an error naming it, never
a hang or someone else's bytes.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..confine import Confined
from ..errors import NotRegularFileError, ReaderError
from ..units import to_metres
from .arrays import (
    AXIS_ALIASES,
    auto_chunks,
    dask_name,
    file_axes,
    lazy_array,
    positional_axes,
    side_dims,
)
from .base import (
    SPATIAL_AXES,
    ArrayInfo,
    ImageInfo,
    Reader,
    Source,
    build_dataarray,
    canonical_order,
    info_attrs,
    jsonable,
    level_of,
    reader_errors,
    spacing_entry,
)
from .netcdf import XrPlan, dataset_info, lazy_dataset

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr
    import zarr

    from ..remote import Storage

#: Files that mark the top of a Zarr v2 or v3 store.
MARKERS = (".zarray", ".zgroup", ".zattrs", "zarr.json", ".zmetadata")
_OME_TYPES = {"time": "t", "channel": "c"}


def is_zarr_store(path: Path) -> bool:
    """A folder with Zarr v2 or v3 metadata at its top."""
    return path.is_dir() and any((path / m).is_file() for m in MARKERS)


@cache
def _store_class() -> type:
    """A zarr ``LocalStore`` that reads through :class:`~catalog.confine.Confined`
    (defined on first use: zarr is imported lazily)."""
    import asyncio

    from zarr.abc.store import OffsetByteRequest, RangeByteRequest, SuffixByteRequest
    from zarr.core.buffer.core import default_buffer_prototype
    from zarr.storage import LocalStore

    def read(guard: Confined, path: Path, prototype: Any, byte_range: Any) -> Any:
        try:
            fd = guard.open(path)
        except (FileNotFoundError, NotADirectoryError):
            return None  # a missing key, as zarr's own LocalStore answers
        except NotRegularFileError as exc:
            if exc.kind == "a folder":
                return None  # so is a folder
            raise
        with os.fdopen(fd, "rb") as fh:
            if byte_range is None:
                return prototype.buffer.from_bytes(fh.read())
            size = fh.seek(0, io.SEEK_END)
            if isinstance(byte_range, RangeByteRequest):
                fh.seek(byte_range.start)
                return prototype.buffer.from_bytes(fh.read(byte_range.end - fh.tell()))
            if isinstance(byte_range, OffsetByteRequest):
                fh.seek(byte_range.offset)
            elif isinstance(byte_range, SuffixByteRequest):
                fh.seek(max(0, size - byte_range.suffix))
            else:  # pragma: no cover - zarr's own types only
                raise TypeError(f"Unexpected byte_range, got {byte_range}.")
            return prototype.buffer.from_bytes(fh.read())

    class ConfinedStore(LocalStore):
        """Read-only ``LocalStore`` that opens regular files inside the store only."""

        def __init__(
            self, root: Path | str, *, read_only: bool = True, files: Iterable[Any] = ()
        ) -> None:
            super().__init__(root, read_only=True)
            self.files = tuple(files)
            self.guard = Confined([self.root], self.files)

        def with_read_only(self, read_only: bool = True) -> ConfinedStore:
            return type(self)(self.root, read_only=True, files=self.files)

        def __getstate__(self) -> dict[str, Any]:
            state = dict(self.__dict__)
            state.pop("guard", None)
            return state

        def __setstate__(self, state: dict[str, Any]) -> None:
            self.__dict__.update(state)
            self.guard = Confined([self.root], self.files)

        def get_sync(self, key: str, *, prototype: Any = None, byte_range: Any = None) -> Any:
            self._ensure_open_sync()
            return read(
                self.guard, self.root / key, prototype or default_buffer_prototype(), byte_range
            )

        async def get(self, key: str, prototype: Any = None, byte_range: Any = None) -> Any:
            if not self._is_open:
                await self._open()
            proto = prototype or default_buffer_prototype()
            return await asyncio.to_thread(read, self.guard, self.root / key, proto, byte_range)

        async def get_partial_values(self, prototype: Any, key_ranges: Iterable[Any]) -> list[Any]:
            return [
                await asyncio.to_thread(read, self.guard, self.root / key, prototype, byte_range)
                for key, byte_range in key_ranges
            ]

    ConfinedStore.__module__ = __name__  # pickles by name, through __getattr__ below
    ConfinedStore.__qualname__ = "ConfinedStore"
    return ConfinedStore


def __getattr__(name: str) -> Any:
    if name == "ConfinedStore":
        return _store_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def confined_store(path: Path, files: Iterable[Any] = ()) -> Any:
    """A read-only zarr store of the folder ``path`` that opens only regular files inside
    it (links followed) or among ``files`` (the dataset's recorded files)."""
    return _store_class()(path, files=files)


class ZarrBlocks:
    """Reads blocks of one Zarr array; failures become ReaderError naming the store."""

    def __init__(self, array: zarr.Array, path: Path, key: str) -> None:
        self.array, self.path, self.key = array, str(path), key
        self.shape, self.dtype, self.ndim = tuple(array.shape), np.dtype(array.dtype), array.ndim

    def __getitem__(self, index: Any) -> np.ndarray:
        failed = f"cannot read Zarr array {self.key or '/'!r} (corrupt chunk?)"
        with reader_errors(self.path, failed):
            return np.asarray(self.array[index])


@dataclasses.dataclass
class _Plan:
    info: ImageInfo
    mode: str  # "array" (one array), "ome", "group" (arrays by hand) or "xarray"
    keys: list[str]  # array per level ("array", "ome") or every array ("group")
    axes: str = ""  # the primary array's axes in stored order
    xr: XrPlan | None = None
    #: per level: spacing (metres) and origin (file unit) of spatial axes (OME-Zarr)
    transforms: list[tuple[dict[str, float], dict[str, float]]] = dataclasses.field(
        default_factory=list
    )


class ZarrReader(Reader):
    """Zarr v2/v3 stores, including OME-Zarr 0.4 and 0.5 multiscale images.

    >>> reader = ZarrReader()
    >>> source = reader.claim_directory(Path("cells.ome.zarr"))  # doctest: +SKIP
    >>> reader.describe(source).levels                           # doctest: +SKIP
    [(2, 8, 256, 256), (2, 8, 128, 128)]
    >>> reader.open(source, level=1)                             # doctest: +SKIP
    """

    name: ClassVar[str] = "zarr"
    description: ClassVar[str] = "Zarr v2/v3 stores and OME-Zarr (NGFF 0.4, 0.5) images"
    url: ClassVar[str] = "https://zarr.dev/"
    suffixes: ClassVar[tuple[str, ...]] = (".ome.zarr", ".zarr")
    remote: ClassVar[bool] = True

    def guess_can_open(self, path: Path) -> bool:
        try:
            return is_zarr_store(Path(path))
        except OSError:
            return False

    def claim_directory(self, path: Path) -> Source | None:
        try:
            if not is_zarr_store(path):
                return None
            files = sorted(Path(d) / f for d, _, names in os.walk(path) for f in names)
        except OSError:
            return None
        return Source(path=path, files=tuple(files))

    def describe(self, source: Source) -> ImageInfo:
        return self._plan(source.path, source.files, source.storage).info

    def open(self, source: Source, *, level: int = 0) -> xr.DataArray | xr.Dataset:
        import xarray as xr

        path, storage = source.path, source.storage
        plan = self._plan(path, source.files, storage)
        level_of(plan.info, level, path)
        if plan.mode == "xarray" and plan.xr is not None:
            ds = _open_xarray(path, source.files, storage)
            return lazy_dataset(ds, path, plan.xr, prefix="zarr")
        root = _open_root(path, source.files, storage)
        order = canonical_order(plan.axes)
        if plan.mode in ("array", "ome"):
            key = plan.keys[level]
            data = _lazy(_array_at(root, key, path), path, key).transpose(order)
            spacing, origin = plan.transforms[level] if plan.transforms else (None, None)
            return build_dataarray(
                data,
                plan.info,
                level=level,
                name=key or path.name,
                spacing=spacing,
                origin=origin,
            )
        primary = plan.info.primary or ""
        variables: dict[str, Any] = {}
        first = _array_at(root, primary, path).shape[0] if primary in plan.keys else -1
        for key in plan.keys:
            data = _lazy(_array_at(root, key, path), path, key)
            if key == primary:
                variables[key] = build_dataarray(data.transpose(order), plan.info, name=key)
            else:
                dims = side_dims(key, data.shape, plan.axes[0], first)
                variables[key] = xr.DataArray(data, dims=dims, name=key)
        attrs = info_attrs(plan.info)
        attrs["primary"] = primary
        return xr.Dataset(variables, attrs=attrs)

    # -- inspection ----------------------------------------------------------------
    def _plan(
        self, path: Path, files: Iterable[Any] = (), storage: Storage | None = None
    ) -> _Plan:
        if storage is not None:  # the scan found its Zarr metadata among the objects
            root = _open_root(path, files, storage)
            with reader_errors(path, "invalid Zarr metadata", with_type=True):
                return _inspect(root, path, files, storage)
        if not path.is_dir():
            raise ReaderError(path, "not a Zarr store: a Zarr store is a folder")
        if not is_zarr_store(path):
            raise ReaderError(path, f"not a Zarr store (none of {', '.join(MARKERS)} found)")
        root = _open_root(path, files)
        with reader_errors(path, "invalid Zarr metadata", with_type=True):
            return _inspect(root, path, files)


def _open_root(
    path: Path, files: Iterable[Any] = (), storage: Storage | None = None
) -> zarr.Array | zarr.Group:
    import zarr

    with reader_errors(path, "cannot open Zarr store", with_type=True):
        store = storage.zarr_store(path) if storage is not None else confined_store(path, files)
        return zarr.open(store=store, mode="r")


def _open_xarray(
    path: Path, files: Iterable[Any] = (), storage: Storage | None = None
) -> xr.Dataset:
    import xarray as xr

    if storage is not None:
        with reader_errors(path, "cannot open Zarr group with xarray"):
            return xr.open_dataset(
                storage.zarr_store(path), engine="zarr", chunks=None, cache=False
            )
    store = confined_store(path, files)
    consolidated = (path / ".zmetadata").is_file()
    if (path / "zarr.json").is_file():
        with reader_errors(path, "cannot read zarr.json", catch=(OSError, ValueError)):
            text = store.guard.read_bytes(path / "zarr.json")
            consolidated = bool(json.loads(text).get("consolidated_metadata"))
    with reader_errors(path, "cannot open Zarr group with xarray"):
        return xr.open_dataset(
            store, engine="zarr", chunks=None, cache=False, consolidated=consolidated
        )


def _array_at(root: zarr.Array | zarr.Group, key: str, path: Path) -> zarr.Array:
    """The array at ``key`` below ``root`` (``root`` itself for ``""``)."""
    import zarr

    node = root[key] if key and isinstance(root, zarr.Group) else root
    if not isinstance(node, zarr.Array):
        raise ReaderError(path, f"Zarr node {key or '/'!r} is not an array")
    return node


def _lazy(array: zarr.Array, path: Path, key: str) -> Any:
    storage = getattr(array, "shards", None) or array.chunks
    chunks = auto_chunks(array.shape, np.dtype(array.dtype).itemsize, storage)
    return lazy_array(ZarrBlocks(array, path, key), chunks, dask_name("zarr", path, key))


def _dim_names(array: zarr.Array) -> list[str] | None:
    names: object
    if array.metadata.zarr_format == 3:
        names = getattr(array.metadata, "dimension_names", None)
    else:
        names = array.attrs.get("_ARRAY_DIMENSIONS")
    if not isinstance(names, Sequence) or not names:
        return None
    if len(names) != array.ndim or any(n is None for n in names):
        return None
    return [str(n) for n in names]


def _axes(array: zarr.Array, path: Path, names: list[str] | None = None) -> str:
    try:
        return file_axes(names or _dim_names(array), array.shape, array.dtype)
    except ValueError as exc:
        raise ReaderError(path, str(exc)) from exc


def _canonical(shape: tuple[int, ...], axes: str) -> tuple[tuple[int, ...], str]:
    order = canonical_order(axes)
    return tuple(shape[i] for i in order), "".join(axes[i] for i in order)


def _inspect(
    root: zarr.Array | zarr.Group,
    path: Path,
    files: Iterable[Any] = (),
    storage: Storage | None = None,
) -> _Plan:
    import zarr

    attrs = dict(root.attrs)
    base = {"format": f"Zarr v{root.metadata.zarr_format}", "attrs": attrs}
    if isinstance(root, zarr.Array):
        return _array_plan(root, "", path, base)
    group, prefix = root, ""
    ome = _dict_or_empty(attrs.get("ome"))
    if ("bioformats2raw.layout" in attrs or "bioformats2raw.layout" in ome) and "0" in root:
        image = root["0"]
        if not isinstance(image, zarr.Group):
            raise ReaderError(path, "bioformats2raw layout: '0' is not a group")
        group, prefix = image, "0/"
    multiscales = _multiscales(dict(group.attrs))
    if multiscales:
        return _ome_plan(group, prefix, path, multiscales, base)
    arrays = {p: a for p, a in root.members(max_depth=None) if isinstance(a, zarr.Array)}
    numeric = {p: a for p, a in arrays.items() if np.dtype(a.dtype).kind in "biufc"}
    if not numeric:
        raise ReaderError(path, "Zarr group holds no numeric arrays")
    if len(numeric) == 1:
        key, array = next(iter(numeric.items()))
        return _array_plan(array, key, path, base)
    if all("/" not in p and _dim_names(a) for p, a in arrays.items()):
        ds = _open_xarray(path, files, storage)
        try:
            xplan = dataset_info(ds, path, meta=base)
        finally:
            ds.close()
        return _Plan(info=xplan.info, mode="xarray", keys=[], xr=xplan)
    return _group_plan(numeric, path, base)


def _array_plan(array: zarr.Array, key: str, path: Path, base: dict[str, Any]) -> _Plan:
    names = _dim_names(array)
    axes = _axes(array, path, names)
    shape, canon = _canonical(tuple(array.shape), axes)
    meta = {
        **base,
        "array": key or "/",
        "array_attrs": dict(array.attrs),
        "chunks": array.chunks,
        "shards": getattr(array, "shards", None),
        "dimension_names": names,
    }
    info = ImageInfo(
        shape=shape, dtype=str(np.dtype(array.dtype)), axes=canon, meta=jsonable(meta)
    )
    return _Plan(info=info, mode="array", keys=[key], axes=axes)


def _group_plan(arrays: dict[str, zarr.Array], path: Path, base: dict[str, Any]) -> _Plan:
    images = {p: a for p, a in arrays.items() if 2 <= a.ndim <= 5} or {
        p: a for p, a in arrays.items() if 1 <= a.ndim <= 5
    }
    if not images:
        raise ReaderError(path, "Zarr group holds no array of 1 to 5 dimensions")
    primary = max(images, key=lambda p: (images[p].size, p))
    axes = _axes(images[primary], path)
    shape, canon = _canonical(tuple(images[primary].shape), axes)
    infos = {
        p: ArrayInfo(
            shape=tuple(a.shape),
            dtype=str(np.dtype(a.dtype)),
            dims=tuple(canon)
            if p == primary
            else tuple(f"{p.replace('/', '_')}_dim{i}" for i in range(a.ndim)),
        )
        for p, a in arrays.items()
        if a.ndim >= 2
    }
    info = ImageInfo(
        shape=shape,
        dtype=str(np.dtype(images[primary].dtype)),
        axes=canon,
        kind="container",
        arrays=infos,
        primary=primary,
        meta=jsonable(base),
    )
    keys = sorted(p for p, a in arrays.items() if a.ndim >= 1)
    return _Plan(info=info, mode="group", keys=keys, axes=axes)


# -- OME-Zarr --------------------------------------------------------------------------


def _dict_or_empty(value: object) -> dict[str, Any]:
    """``value`` if it is a JSON object, else ``{}``."""
    return value if isinstance(value, dict) else {}


def _multiscales(attrs: dict[str, Any]) -> list[dict[str, Any]] | None:
    ome = _dict_or_empty(attrs.get("ome"))
    found = ome.get("multiscales") or attrs.get("multiscales")
    return found if isinstance(found, list) and found else None


def _ome_letters(axes: list[dict[str, Any]], shape: tuple[int, ...], dtype: Any) -> str:
    types = [str(a.get("type") or "") for a in axes]
    space = [i for i, t in enumerate(types) if t == "space"]
    letters: list[str | None] = []
    for i, ax in enumerate(axes):
        name = str(ax.get("name", "")).lower()
        letter = AXIS_ALIASES.get(name) or _OME_TYPES.get(types[i])
        if letter is None and i in space and len(space) <= 3:
            letter = "zyx"[3 - len(space) + space.index(i)]
        letters.append(letter)
    if None in letters or len(set(letters)) != len(letters) or len(letters) != len(shape):
        return positional_axes(shape, dtype)
    return "".join(letters)  # type: ignore[arg-type]


def _transforms(items: Any, ndim: int) -> tuple[list[float] | None, list[float] | None]:
    scale = translation = None
    for t in items or []:
        if not isinstance(t, dict):
            continue
        if t.get("type") == "scale" and len(t.get("scale") or []) == ndim:
            scale = [float(v) for v in t["scale"]]
        elif t.get("type") == "translation" and len(t.get("translation") or []) == ndim:
            translation = [float(v) for v in t["translation"]]
    return scale, translation


def _level_transforms(
    ms: dict[str, Any], ndim: int, ratios: list[list[float]]
) -> list[tuple[list[float], list[float]] | None]:
    """Each level's ``(scale, translation)`` in physical units: its own transforms
    followed by the multiscale's (NGFF: the global ones apply last). A level without a
    scale gets level 0's scaled by the shape ratio, at level 0's translation."""
    g_scale, g_trans = _transforms(ms.get("coordinateTransformations"), ndim)
    out: list[tuple[list[float], list[float]] | None] = []
    for k, d in enumerate(ms["datasets"]):
        scale, translation = _transforms(d.get("coordinateTransformations"), ndim)
        if scale is None:
            first = out[0] if out else None
            if first is None:
                out.append(None)
                continue
            out.append(([s * r for s, r in zip(first[0], ratios[k])], list(first[1])))
            continue
        translation = translation or [0.0] * ndim
        if g_scale:
            scale = [a * b for a, b in zip(scale, g_scale)]
            translation = [a * b for a, b in zip(translation, g_scale)]
        if g_trans:
            translation = [a + b for a, b in zip(translation, g_trans)]
        out.append((scale, translation))
    return out


def _ome_plan(
    group: zarr.Group,
    prefix: str,
    path: Path,
    multiscales: list[dict[str, Any]],
    base: dict[str, Any],
) -> _Plan:
    import zarr

    attrs = dict(group.attrs)
    ome = _dict_or_empty(attrs.get("ome"))
    ms = multiscales[0]
    keys = [str(d["path"]) for d in ms.get("datasets") or []]
    if not keys:
        raise ReaderError(path, "OME-Zarr multiscales lists no datasets")
    levels: list[zarr.Array] = []
    for key in keys:
        if key not in group:
            raise ReaderError(path, f"OME-Zarr level {prefix + key!r} is listed but missing")
        node = group[key]
        if not isinstance(node, zarr.Array):
            raise ReaderError(path, f"OME-Zarr level {prefix + key!r} is not an array")
        levels.append(node)
    first = levels[0]
    raw_axes = ms.get("axes") or list("tczyx"[-first.ndim :])
    axes_meta = [a if isinstance(a, dict) else {"name": str(a)} for a in raw_axes]
    axes = _ome_letters(axes_meta, tuple(first.shape), first.dtype)
    ratios = [[n0 / max(n, 1) for n0, n in zip(first.shape, a.shape)] for a in levels]
    physical = _level_transforms(ms, len(axes), ratios)
    scale, translation = physical[0] or (None, None)
    spacing: dict[str, float] = {}
    units: dict[str, str] = {}
    origin: dict[str, float] = {}
    meta: dict[str, Any] = {
        **base,
        "format": "OME-Zarr",
        "zarr_format": first.metadata.zarr_format,
    }
    meta["ngff_version"] = ome.get("version") or ms.get("version")
    for i, (letter, ax) in enumerate(zip(axes, axes_meta)):
        unit = ax.get("unit")
        if scale and letter in SPATIAL_AXES:
            spacing_entry(spacing, units, letter, scale[i], unit)
            if letter in spacing and translation and translation[i]:
                origin[letter] = translation[i]
        elif scale and letter == "t":
            meta["time_step"] = {"value": scale[i], "unit": unit}
    omero = _dict_or_empty(ome.get("omero") or attrs.get("omero"))
    channels = [
        str(ch.get("label") or f"channel {i}") for i, ch in enumerate(omero.get("channels") or [])
    ]
    extra = _dict_or_empty(ms.get("metadata"))
    modality = attrs.get("modality") or ome.get("modality") or extra.get("modality") or "LM"
    meta.update(
        name=ms.get("name"),
        axes=axes_meta,
        omero=omero,
        image=prefix.rstrip("/"),
        scales=[d.get("coordinateTransformations") for d in ms["datasets"]],
    )
    meta["attrs"] = {
        k: v for k, v in base["attrs"].items() if k not in ("multiscales", "omero", "ome")
    }
    if "labels" in group:
        meta["labels"] = dict(group["labels"].attrs).get("labels")
    shapes = [_canonical(tuple(a.shape), axes)[0] for a in levels]
    shape, canon = _canonical(tuple(first.shape), axes)
    transforms: list[tuple[dict[str, float], dict[str, float]]] = []
    for level in physical:
        if level is None or not spacing:
            transforms = []  # a level without transforms: coordinates from level 0's
            break
        own: dict[str, float] = {}
        starts: dict[str, float] = {}
        for i, (letter, ax) in enumerate(zip(axes, axes_meta)):
            metres = to_metres(level[0][i], ax.get("unit")) if letter in spacing else None
            if metres is not None:
                own[letter], starts[letter] = metres, level[1][i]
        transforms.append((own, starts))
    info = ImageInfo(
        shape=shape,
        dtype=str(np.dtype(first.dtype)),
        axes=canon,
        spacing=spacing,
        units=units,
        origin=origin,
        levels=shapes,
        modality=str(modality),
        channels=channels,
        meta=jsonable(meta),
    )
    return _Plan(
        info=info,
        mode="ome",
        keys=[prefix + k for k in keys],
        axes=axes,
        transforms=transforms,
    )
