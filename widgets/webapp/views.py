"""What the dataset page's image views read, without Panel: planes of a volume and
windows of a large 2-D image, each from the coarsest pyramid level that fills the
screen (``catalog.preview.Slicer``), never the whole dataset.

>>> vol = PlaneViews(slicer, max_size=512)                         # doctest: +SKIP
>>> vol.plane("xz", {"y": 100}).shape                              # doctest: +SKIP
>>> mosaic = RegionReader(slicer, max_size=1024)                   # doctest: +SKIP
>>> image, bounds = mosaic.read((0, 4000), (0, 3000)); mosaic.reads[-1]   # doctest: +SKIP
Read(window=((0, 3000), (0, 4000)), level=2, shape=(750, 1000))
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from catalog.preview.slicer import level_factors

from ..errors import NotDisplayable
from ..slicing import SPATIAL, SlicerLike, oriented, size_of

#: the three views of a volume and their (rows, columns) dims
ORTHO = {"xy": ("y", "x"), "xz": ("z", "x"), "yz": ("y", "z")}
#: the axis each view's slider moves
FIXES = {"xy": "z", "xz": "y", "yz": "x"}
PERCENTILES = (1.0, 99.5)


def display_array(values: np.ndarray) -> np.ndarray:
    """Pixels as the browser gets them: bool and 64-bit values as float32 (half the
    bytes on the wire), other numbers as they are."""
    values = np.asarray(values)
    if values.dtype.kind == "b" or values.dtype.itemsize > 4 or values.dtype.kind == "c":
        return np.real(values).astype(np.float32)
    return values


class PlaneViews:
    """A dataset seen through planes: ``spatial`` (its z, y, x present), ``others``
    (t, c...), ``views`` (``xy``, ``xz``, ``yz`` for volumes; ``xy`` for 2-D images).

    >>> PlaneViews(slicer).views                     # doctest: +SKIP
    {'xy': ('y', 'x'), 'xz': ('z', 'x'), 'yz': ('y', 'z')}
    """

    def __init__(self, slicer: SlicerLike, *, max_size: int = 512) -> None:
        self.slicer = slicer
        self.max_size = int(max_size)
        self.spatial = [d for d in slicer.dims if d in SPATIAL]
        self.others = [d for d in slicer.dims if d not in SPATIAL]
        if len(self.spatial) == 3:
            self.views = dict(ORTHO)
        elif set(self.spatial) >= {"y", "x"}:
            self.views = {"xy": ("y", "x")}
        else:
            raise NotDisplayable(
                f"cannot show dims {tuple(slicer.dims)} as images: it needs y and x"
            )
        self.volume = len(self.views) == 3
        #: (view, dims, at, shape) of every plane read, in order
        self.reads: list[tuple[str, tuple[str, str], dict[str, int], tuple[int, ...]]] = []

    def size(self, dim: str) -> int:
        return size_of(self.slicer, dim)

    def middle(self) -> dict[str, int]:
        """The starting position: the middle of each spatial axis, 0 elsewhere."""
        return {d: (self.size(d) // 2 if d in SPATIAL else 0) for d in self.slicer.dims}

    def plane(self, view: str, at: Mapping[str, int]) -> Any:
        """View ``view``'s plane through ``at`` (level-0 indices), rows and columns in
        the view's order, at most ``max_size`` pixels across (an ``xarray.DataArray``)."""
        dims = self.views[view]
        plane = self.slicer.plane(dims=dims, at=dict(at), max_size=self.max_size)
        plane = oriented(plane, dims)
        self.reads.append((view, dims, dict(at), tuple(plane.shape)))
        return plane

    def limits(self, at: Mapping[str, int] | None = None) -> tuple[float, float]:
        """Starting contrast: percentiles of the coarsest level."""
        others = {d: int(v) for d, v in (at or {}).items() if d in self.others}
        lo, hi = self.slicer.contrast(PERCENTILES, at=others)
        return (float(lo), float(hi) if hi > lo else float(lo) + 1.0)

    def value_range(self, limits: tuple[float, float]) -> tuple[float, float]:
        """The range the contrast slider spans: the dtype's for small integers, else
        the starting limits widened."""
        dtype = np.dtype(self.slicer.dtype) if hasattr(self.slicer, "dtype") else None
        if dtype is not None and dtype.kind in "ui" and dtype.itemsize <= 2:
            info = np.iinfo(dtype)
            return float(info.min), float(info.max)
        lo, hi = limits
        span = max(hi - lo, 1e-12)
        return lo - span, hi + span


@dataclasses.dataclass(frozen=True)
class Read:
    """One window read for a zoom view: ``window`` in level-0 pixels
    ``((row0, row1), (col0, col1))``, the pyramid ``level`` it came from and the
    ``shape`` of the pixels read."""

    window: tuple[tuple[int, int], tuple[int, int]]
    level: int
    shape: tuple[int, int]

    @property
    def area(self) -> int:
        """Level-0 pixels the window covers."""
        (r0, r1), (c0, c1) = self.window
        return (r1 - r0) * (c1 - c0)


class RegionReader:
    """Zoom and pan over a 2-D image in level-0 pixel coordinates (x: column, y:
    row): each :meth:`read` asks the slicer for the window in view only, at the
    pyramid level where it is still ``max_size`` pixels across; ``reads`` logs them.

    >>> r = RegionReader(slicer, max_size=800)                 # doctest: +SKIP
    >>> img, (left, top, right, bottom) = r.read((100, 900), (50, 650))  # doctest: +SKIP
    """

    def __init__(self, slicer: SlicerLike, *, max_size: int = 1024) -> None:
        self.slicer = slicer
        self.max_size = int(max_size)
        self.rows, self.cols = size_of(slicer, "y"), size_of(slicer, "x")
        self.reads: list[Read] = []
        self._lock = threading.Lock()

    @property
    def full(self) -> tuple[tuple[int, int], tuple[int, int]]:
        return (0, self.rows), (0, self.cols)

    def window(
        self, x_range: tuple[float, float] | None, y_range: tuple[float, float] | None
    ) -> tuple[tuple[int, int], tuple[int, int]]:
        """The level-0 pixel window ``((r0, r1), (c0, c1))`` covering the ranges
        (``None``: the whole axis), clipped to the image, at least one pixel."""

        def span(rng: tuple[float, float] | None, n: int) -> tuple[int, int]:
            if rng is None or rng[0] is None or rng[1] is None:
                return 0, n
            a, b = sorted((float(rng[0]), float(rng[1])))
            if not (math.isfinite(a) and math.isfinite(b)):
                return 0, n
            lo = min(max(math.floor(a), 0), n - 1)
            hi = max(min(math.ceil(b), n), lo + 1)
            return lo, hi

        return span(y_range, self.rows), span(x_range, self.cols)

    def read(
        self,
        x_range: tuple[float, float] | None,
        y_range: tuple[float, float] | None,
        at: Mapping[str, int] | None = None,
    ) -> tuple[np.ndarray, tuple[float, float, float, float]]:
        """The pixels in view and their bounds ``(left, top, right, bottom)`` in
        level-0 pixel edges (what was read covers the window, rounded out to whole
        pixels of its level)."""
        (r0, r1), (c0, c1) = self.window(x_range, y_range)
        region = self.slicer.region(
            y=(r0, r1), x=(c0, c1), at=dict(at or {}), max_size=self.max_size
        )
        region = oriented(region, ("y", "x"))
        level = int(region.attrs.get("level", 0))
        stride = int(region.attrs.get("stride", 1))
        base = self.slicer.shape
        factors = level_factors(base, self.slicer.levels[level])
        dims = list(self.slicer.dims)
        fy, fx = factors[dims.index("y")], factors[dims.index("x")]
        ny, nx = region.shape
        # the same rounding as Slicer._view: whole pixels of the level, then a stride
        top = int(r0 // fy) * fy
        left = int(c0 // fx) * fx
        bottom = min(self.rows, top + ny * stride * fy)
        right = min(self.cols, left + nx * stride * fx)
        with self._lock:
            self.reads.append(Read(((r0, r1), (c0, c1)), level, (ny, nx)))
        return display_array(region.values), (left, top, right, bottom)
