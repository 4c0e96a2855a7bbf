"""``Slicer``: fast 2-D views of one dataset, for browsing (widgets, REST API).

Every view reads from the coarsest level whose window is still at least ``max_size``
pixels on its longer side (level 0 with a stride when nothing coarser exists), and
only the chunks, tiles, files or rows that the window intersects: memory follows what
is on screen, never the volume. Levels come from the dataset's own pyramid, else its
preview pyramid when one was built for its current checksum, else its own files read
chunk-aware (see ``originals``).

Coordinates are physical, in the unit ``cat[id].read()`` uses. Pixel ``i`` of a
preview level downsampled by ``f`` sits at the centre of the level-0 pixels it
averages, level-0 position ``(i + 0.5) * f - 0.5``; levels of the dataset's own pyramid
keep the positions ``cat[id].read(level=k)`` gives them (an OME-Zarr level's own
translation and scale, ``i * f`` for formats that give none).

>>> s = Slicer("lab.duckdb", "k2x9q4m1abcd")                      # doctest: +SKIP
>>> s.plane(("z", "x"), at={"y": 300}, max_size=512)              # doctest: +SKIP
>>> s.region(y=(1000, 3000), x=(5000, 9000), max_size=1024)       # doctest: +SKIP
>>> s.contrast()                                                  # doctest: +SKIP
(112.0, 3981.0)
"""

from __future__ import annotations

import math
import os
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import PreviewWarning, StorageError, ViewError
from . import store
from .dataset import DatasetRef, load_ref, view_coords
from .levels import DEFAULT_PERCENTILES, Level, sample_values, value_range
from .originals import open_level
from .place import preview_place
from .store import open_preview_level, read_preview, wants_preview

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

    from ..catalogue import DuckDBCatalog

MAX_SIZE = 1024
SLOW_DEPTH = 16  # a view reading this many times what it shows advises a preview


def level_factors(base: Sequence[int], shape: Sequence[int]) -> tuple[float, ...]:
    """Downsampling factor of each dimension: whole numbers when the shapes agree
    with halving (``1295 -> 648`` is 2), else the plain ratio."""
    out = []
    for n0, n in zip(base, shape):
        f = n0 / max(n, 1)
        r = round(f)
        out.append(float(r) if r >= 1 and abs(r * n - n0) < r else f)
    return tuple(out)


class Slicer:
    """Fast 2-D views of one dataset.

    ``dims``, ``shape`` (level 0), ``levels`` (shapes, level 0 first), ``spacing``
    (metres per pixel of spatial dims), ``units`` and ``source`` (``"pyramid"``,
    ``"preview"`` or ``"original"``) describe it; :meth:`plane`, :meth:`region` and
    :meth:`contrast` read it. Thread-safe.

    >>> s = Slicer("lab.duckdb", "k2x9q4m1abcd")          # doctest: +SKIP
    >>> s.dims, s.levels                                  # doctest: +SKIP
    (('z', 'y', 'x'), [(1296, 1296, 1296), (648, 648, 648), (324, 324, 324)])
    >>> s.plane(("y", "x"), at={"z": 57}).shape           # doctest: +SKIP
    (1296, 1296)
    """

    def __init__(
        self, index: str | os.PathLike[str] | None, dataset_id: str, *, preview: bool = True
    ) -> None:
        from ..catalogue import open_catalog

        self._setup(load_ref(open_catalog(index), dataset_id), preview)

    @classmethod
    def from_catalog(cls, cat: DuckDBCatalog, dataset_id: str, *, preview: bool = True) -> Slicer:
        """A Slicer for ``cat[dataset_id]`` (any selection of an index)."""
        obj = cls.__new__(cls)
        obj._setup(load_ref(cat, dataset_id), preview)
        return obj

    def _setup(self, ref: DatasetRef, preview: bool) -> None:
        self._ref = ref
        self._use_preview = preview
        self._lock = threading.RLock()
        self._open: dict[int, Level] = {}
        self._contrast: dict[tuple, tuple[float, float]] = {}
        self._warned = False
        #: the advice to build a preview, once a slow view prompted it
        self.advice: str | None = None
        #: called with the advice instead of a ``PreviewWarning`` when set
        self.on_advice: Callable[[str], None] | None = None
        self.dataset_id: str = ref.id
        self.name: str = ref.name
        self.dims: tuple[str, ...] = tuple(ref.axes)
        self.shape: tuple[int, ...] = ref.shape
        self.dtype: np.dtype = ref.dtype
        self.spacing: dict[str, float] = {d: v for d, v in ref.spacing.items() if d in "zyx"}
        self.refresh()
        # how coordinates are computed: kept in the preview, else from the reader (which
        # also raises DatasetUnavailable when the files are gone)
        coords = (self._info or {}).get("coords")
        if coords is None:
            coords = view_coords(ref.read(0))
        self._coords: dict[str, dict[str, Any]] = coords
        self.units: dict[str, str] = {
            d: coords.get(d, {}).get("units", "index") for d in self.dims
        }

    # -- levels ----------------------------------------------------------------------
    def refresh(self) -> None:
        """Look for a preview again (after :func:`preview_job` finished, say).

        A preview in object storage (:mod:`catalog.preview.place`) is found by its root
        ``.zattrs`` and read chunk by chunk, in byte ranges; when that storage cannot
        be reached the views read the dataset itself, and :attr:`advice` says why."""
        ref = self._ref
        shapes, source, path, info = ref.levels, "original", None, None
        storage = None
        trouble = None
        if len(shapes) > 1:
            source = "pyramid"
        elif self._use_preview and ref.checksum:
            place = preview_place(ref.index)
            candidate = place.location(ref.checksum)
            storage = place.storage
            try:
                info = read_preview(candidate, ref.checksum, storage)
            except StorageError as exc:  # views still work, from the dataset's own files
                trouble = f"{ref.label}: its preview cannot be read now: {exc}"
            if info and info["shapes"][0] == self.shape:
                shapes, source, path = info["shapes"], "preview", candidate
            else:
                info = None
        with self._lock:
            self.close()
            self.levels: list[tuple[int, ...]] = list(shapes)
            self.source: str = source
            #: the preview read (a folder, or a URL in object storage), else None
            self.preview: Path | str | None = path
            self._storage = storage
            if trouble is not None:
                self.advice = trouble
            self._info: dict[str, Any] | None = info
            self._factors = [level_factors(self.shape, s) for s in shapes]
            self._placed: dict[int, dict[str, dict[str, Any]]] = {}
            if source != "original":  # views are fast now: no advice stands
                self.advice = None
            self._contrast.clear()
            for known in (info or {}).get("contrast") or []:
                at = tuple(sorted((d, int(i)) for d, i in known["at"].items()))
                key = (tuple(float(p) for p in known["percentiles"]), at)
                self._contrast[key] = (float(known["range"][0]), float(known["range"][1]))

    def _level(self, k: int) -> Level:
        with self._lock:
            level = self._open.get(k)
            if level is None:
                if self.source == "preview" and self.preview is not None:
                    paths = (self._info or {}).get("paths") or [
                        str(i) for i in range(len(self.levels))
                    ]
                    level = open_preview_level(self.preview, paths[k], self._storage)
                else:
                    level = open_level(self._ref, k)
                self._open[k] = level
            return level

    def close(self) -> None:
        """Forget open levels (files are opened per read; this frees cached planes)."""
        with self._lock:
            for level in self._open.values():
                level.close()
            self._open = {}

    def level_for(self, max_size: int | None = MAX_SIZE, dims: Sequence[str] = ("y", "x")) -> int:
        """The level a ``dims`` plane of at least ``max_size`` pixels is read from."""
        dims = self._check_dims(dims)
        return self._choose({d: self.shape[self.dims.index(d)] for d in dims}, max_size)

    def _choose(self, extents: Mapping[str, int], max_size: int | None) -> int:
        if not max_size:
            return 0
        for k in reversed(range(len(self.levels))):
            f = self._factors[k]
            size = max(math.ceil(n / f[self.dims.index(d)]) for d, n in extents.items())
            if size >= max_size:
                return k
        return 0

    # -- views -----------------------------------------------------------------------
    def plane(
        self,
        dims: Sequence[str] = ("y", "x"),
        at: Mapping[str, int] | None = None,
        max_size: int | None = MAX_SIZE,
    ) -> xr.DataArray:
        """A whole 2-D plane as a numpy-backed DataArray with physical coordinates.

        ``at`` gives level-0 indices of the other dims (default: the middle z, t=0,
        c=0); entries for ``dims`` themselves are ignored. ``dims`` order sets the
        array's (rows, columns): ``("z", "x")`` is an xz view with z down.

        >>> s.plane(("z", "y"), at={"x": 640, "c": 1}, max_size=512)   # doctest: +SKIP
        """
        dims = self._check_dims(dims)
        window = {d: (0, self.shape[self.dims.index(d)]) for d in dims}
        return self._view(dims, window, at, max_size)

    def region(
        self,
        *,
        z: tuple[int | None, int | None] | None = None,
        y: tuple[int | None, int | None] | None = None,
        x: tuple[int | None, int | None] | None = None,
        at: Mapping[str, int] | None = None,
        max_size: int | None = MAX_SIZE,
    ) -> xr.DataArray:
        """A window of two of ``z``, ``y``, ``x`` (level-0 pixel ranges, end excluded,
        ``None`` for an open end; clipped to the data) for zoom and pan.

        Reads only the chunks or tiles that intersect the window, from the coarsest
        level where the window is still ``max_size`` pixels across.

        >>> s.region(y=(8000, 12000), x=(0, 6000), max_size=1024)     # doctest: +SKIP
        """
        given = {d: w for d, w in (("z", z), ("y", y), ("x", x)) if w is not None}
        if len(given) != 2:
            raise ViewError(
                f"region() of {self._ref.label} needs exactly two of z, y, x as (start, stop)"
            )
        dims = self._check_dims([d for d in self.dims if d in given])
        window = {}
        for d in dims:
            n = self.shape[self.dims.index(d)]
            try:
                lo, hi = given[d]
            except (TypeError, ValueError):
                raise ViewError(f"{d}={given[d]!r}: give a (start, stop) pair") from None
            lo = 0 if lo is None else max(0, min(n, int(lo)))
            hi = n if hi is None else max(0, min(n, int(hi)))
            if hi <= lo:
                raise ViewError(
                    f"{d}={given[d]!r} selects nothing of {self._ref.label} (0..{n} along {d})"
                )
            window[d] = (lo, hi)
        return self._view(dims, window, at, max_size)

    def _check_dims(self, dims: Sequence[str]) -> tuple[str, ...]:
        dims = tuple(dims)
        if len(dims) != 2 or len(set(dims)) != 2 or any(d not in self.dims for d in dims):
            raise ViewError(
                f"cannot show dims {dims} of {self._ref.label}: choose two different dims "
                f"of {self.dims}"
            )
        return dims

    def _resolve_at(self, dims: Sequence[str], at: Mapping[str, int] | None) -> dict[str, int]:
        at = dict(at or {})
        unknown = sorted(set(at) - set(self.dims))
        if unknown:
            raise ViewError(
                f"{self._ref.label} has no dimension {', '.join(unknown)} (dims {self.dims})"
            )
        out = {}
        for d, n in zip(self.dims, self.shape):
            if d in dims:
                continue
            value = at.get(d)
            i = (n // 2 if d == "z" else 0) if value is None else int(value)
            if not 0 <= i < n:
                raise ViewError(f"{d}={i} is outside {self._ref.label} (0..{n - 1} along {d})")
            out[d] = i
        return out

    def _view(
        self,
        dims: tuple[str, ...],
        window: dict[str, tuple[int, int]],
        at: Mapping[str, int] | None,
        max_size: int | None,
    ) -> xr.DataArray:
        import xarray as xr

        fixed = self._resolve_at(dims, at)
        k = self._choose({d: hi - lo for d, (lo, hi) in window.items()}, max_size)
        f, shape_k = self._factors[k], self.levels[k]
        spans: dict[str, tuple[int, int]] = {}
        key: list[Any] = []
        for i, d in enumerate(self.dims):
            if d in window:
                lo, hi = window[d]
                start = min(int(lo // f[i]), shape_k[i] - 1)
                stop = min(shape_k[i], max(start + 1, math.ceil(hi / f[i])))
                spans[d] = (start, stop)
                key.append(None)
            else:
                key.append(min(int(fixed[d] // f[i]), shape_k[i] - 1))
        size = max(b - a for a, b in spans.values())
        stride = max(1, size // max_size) if max_size else 1
        for i, d in enumerate(self.dims):
            if d in spans:
                key[i] = slice(spans[d][0], spans[d][1], stride)
        level = self._level(k)
        self._maybe_warn(dims, level)
        data = level.read(tuple(key))
        if [d for d in self.dims if d in window] != list(dims):
            data = data.T
        coords: dict[str, Any] = {}
        for d in dims:
            i = self.dims.index(d)
            idx = np.arange(spans[d][0], spans[d][1], stride)
            # a preview level's pixel is the mean of f level-0 pixels: it sits at their
            # centre; a dataset's own levels keep the position its reader gives them
            if self.source == "pyramid":
                origin, step = self._placement(k, d, f[i])
                pos = origin + idx * step
            else:
                pos = (idx + 0.5) * f[i] - 0.5
            coords[d] = self._coord(d, pos)
        for d, i0 in fixed.items():
            coords[d] = self._coord(d, np.asarray(i0, dtype=float), i0)
        attrs = {
            "voxcat_id": self.dataset_id,
            "level": k,
            "stride": stride,
            "source": self.source,
            "at": dict(fixed),
            "window": {d: list(w) for d, w in window.items()},
        }
        return xr.DataArray(
            np.ascontiguousarray(data), dims=dims, coords=coords, name=self.name, attrs=attrs
        )

    def _placement(self, k: int, d: str, f: float) -> tuple[float, float]:
        """Where pixel 0 of the dataset's own level ``k`` sits along ``d`` and how far
        apart its pixels are, in level-0 pixels, from the coordinates its reader gives
        (``(0, f)`` for dims without physical coordinates)."""
        level0 = self._coords.get(d, {})
        if k == 0 or "step" not in level0:
            return 0.0, f
        with self._lock:
            placed = self._placed.get(k)
        if placed is None:
            placed = view_coords(self._ref.read(k))
            with self._lock:
                self._placed[k] = placed
        own = placed.get(d, {})
        if "step" not in own or own.get("units") != level0["units"] or not level0["step"]:
            return 0.0, f
        step0 = level0["step"]
        return (own["origin"] - level0["origin"]) / step0, own["step"] / step0

    def _coord(self, d: str, pos: np.ndarray, index: int | None = None) -> Any:
        import xarray as xr

        how = self._coords.get(d, {})
        if "step" in how:
            values = how["origin"] + pos * how["step"]
            attrs = {"units": how["units"], "long_name": d}
        elif "labels" in how and index is not None:
            return xr.Variable((), how["labels"][index])
        else:
            values, attrs = (pos if index is None else index), {"units": "index"}
        return xr.Variable(d if np.ndim(values) else (), values, attrs=attrs)

    def _maybe_warn(self, dims: Sequence[str], level: Level) -> None:
        """Say once when a view of the dataset's own files reads far more than it shows
        (a plane across slices or TIFF pages, or through chunks deep along the dims
        it does not show) and a preview would make it fast."""
        if self._warned or self.source != "original":
            return
        depth = math.prod(
            c for d, c, n in zip(self.dims, level.chunks, level.shape) if d not in dims and n > 1
        )
        if depth < SLOW_DEPTH or not wants_preview(self._ref, store.PREVIEW_MIN_BYTES):
            return
        self._warned = True
        self.advice = (
            f"{self._ref.label}: a {'/'.join(dims)} view reads about {depth} times what it "
            f"shows from its {level.kind} storage; build its preview to make views fast: "
            f"catalog.preview.preview_job(index, {self.dataset_id!r})"
        )
        if self.on_advice is not None:  # a user interface shows it (from any thread)
            self.on_advice(self.advice)
            return
        warnings.warn(self.advice, PreviewWarning, stacklevel=4)

    # -- contrast --------------------------------------------------------------------
    def contrast(
        self,
        percentiles: tuple[float, float] = DEFAULT_PERCENTILES,
        *,
        at: Mapping[str, int] | None = None,
    ) -> tuple[float, float]:
        """Display range ``(lo, hi)`` from percentiles of the coarsest level (windows
        spread over it when it is big); cached. ``at`` picks t and c (default 0).

        >>> s.contrast((0.5, 99.9))             # doctest: +SKIP
        (87.0, 4012.0)
        """
        spatial = tuple(d for d in self.dims if d in "zyx")
        fixed = self._resolve_at(spatial, at)
        cache_key = (tuple(float(p) for p in percentiles), tuple(sorted(fixed.items())))
        with self._lock:
            if cache_key in self._contrast:
                return self._contrast[cache_key]
        k = len(self.levels) - 1
        level, f = self._level(k), self._factors[k]
        lead = {
            i: min(int(fixed[d] // f[i]), level.shape[i] - 1)
            for i, d in enumerate(self.dims)
            if d in fixed
        }
        lo, hi = value_range(sample_values(level, lead), percentiles)
        with self._lock:
            self._contrast[cache_key] = (lo, hi)
        return lo, hi

    def __repr__(self) -> str:
        return (
            f"<Slicer {self.dataset_id} ({self.name}) dims={self.dims} shape={self.shape} "
            f"levels={len(self.levels)} source={self.source}>"
        )
