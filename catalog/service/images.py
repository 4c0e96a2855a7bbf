"""2-D planes of datasets as PNGs: grey-scale or through a colour map, with percentile
or explicit contrast; label images in a categorical map with a transparent background.

Planes come from :class:`catalog.preview.Slicer`, which reads the coarsest pyramid or
preview level that still fills the requested size and only what the plane touches.
Slicers are kept briefly per dataset and checksum, so browsing through z re-opens
nothing; a rescanned dataset (new checksum) gets a new one.
"""

from __future__ import annotations

import dataclasses
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ..errors import BadRequest
from ..lru import LRUCache
from ..preview import Slicer
from ..preview.colormaps import COLORMAPS, colorize
from .api import catalogue

if TYPE_CHECKING:  # pragma: no cover
    from ..users import User

MAX_SIDE = 4096  # longest side of a PNG this endpoint makes
DEFAULT_SIZE = 512
CACHED_SLICERS = 16


@dataclasses.dataclass(frozen=True)
class SliceRequest:
    """A plane: two ``dims``, level-0 indices ``at`` of the others, the longest side
    ``size`` in pixels, or a pyramid ``level`` read whole, and contrast percentiles."""

    dims: tuple[str, str] = ("y", "x")
    at: Mapping[str, int] = dataclasses.field(default_factory=dict)
    size: int = DEFAULT_SIZE
    level: int | None = None
    percentiles: tuple[float, float] = (1.0, 99.5)
    #: a colour map of :mod:`catalog.preview.colormaps` ("labels": categorical, RGBA)
    cmap: str = "gray"
    #: explicit contrast (low, high) instead of the percentiles
    limits: tuple[float, float] | None = None


@dataclasses.dataclass(frozen=True)
class SlicePNG:
    png: bytes
    level: int
    contrast: tuple[float, float]
    source: str


_slicers: LRUCache[tuple, Slicer] = LRUCache(
    CACHED_SLICERS, on_evict=lambda _key, dropped: dropped.close()
)


def slicer(index: Path, user: User | None, dataset_id: str) -> Slicer:
    """A (cached) Slicer of the dataset as the index describes it now, if ``user``
    may see it (checked on every call, before the cache)."""
    cat = catalogue(index, user, files=True)
    meta = cat.entry(dataset_id).metadata  # DatasetNotFound (or hidden) -> 404
    key = (str(index), dataset_id, meta.get("checksum"), meta.get("path"), meta.get("status"))
    found = _slicers.get(key)
    if found is not None:
        return found
    made = Slicer.from_catalog(cat, dataset_id)
    _slicers.put(key, made)
    return made


def forget(dataset_id: str) -> None:
    """Drop cached Slicers of a dataset (its preview pyramid was just built)."""
    for dropped in _slicers.pop_where(lambda key: key[1] == dataset_id):
        dropped.close()


def _max_size(s: Slicer, req: SliceRequest) -> int:
    if req.level is None:
        return req.size
    if not 0 <= req.level < len(s.levels):
        raise BadRequest(
            f"level={req.level}: dataset {s.dataset_id} has levels 0..{len(s.levels) - 1}"
        )
    for d in req.dims:
        if d not in s.dims:
            raise BadRequest(f"dataset {s.dataset_id} has no dimension {d!r} (dims {s.dims})")
    shape = s.levels[req.level]
    side = max(shape[s.dims.index(d)] for d in req.dims)
    if side > MAX_SIDE:
        raise BadRequest(
            f"level {req.level} is {side} pixels across, more than {MAX_SIDE}; ask for a "
            "coarser level or give size= instead"
        )
    return side  # the coarsest level at least this big is ``level`` itself


def to_png(plane: np.ndarray, limits: tuple[float, float], size: int | None) -> bytes:
    """A grey-scale PNG of ``plane`` scaled from ``limits`` to 0..255, shrunk to at
    most ``size`` pixels on its longer side when ``size`` is given."""
    lo, hi = float(limits[0]), float(limits[1])
    span = hi - lo if hi > lo else 1.0
    values = np.nan_to_num(np.asarray(plane, dtype=np.float64), nan=lo)
    grey = np.clip((values - lo) * (255.0 / span), 0, 255).astype(np.uint8)
    image = Image.fromarray(grey, mode="L")
    if size and max(image.size) > size:
        image.thumbnail((size, size), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def to_color_png(
    plane: np.ndarray, cmap: str, limits: tuple[float, float], size: int | None
) -> bytes:
    """A PNG of ``plane`` through the colour map ``cmap`` (RGB; RGBA with label 0
    transparent for ``"labels"``, whose values are shrunk by nearest neighbour, so
    no label is ever blended into another), at most ``size`` pixels across."""
    values = np.asarray(plane)
    if size and max(values.shape) > size:
        rows, cols = values.shape
        scale = size / max(rows, cols)
        r = np.minimum((np.arange(max(1, round(rows * scale))) / scale).astype(int), rows - 1)
        c = np.minimum((np.arange(max(1, round(cols * scale))) / scale).astype(int), cols - 1)
        if cmap == "labels":
            values = values[np.ix_(r, c)]
            size = None
    pixels = colorize(values, cmap, limits)
    image = Image.fromarray(pixels, mode="RGBA" if pixels.shape[-1] == 4 else "RGB")
    if size and max(image.size) > size:
        image.thumbnail((size, size), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def slice_png(index: Path, user: User | None, dataset_id: str, req: SliceRequest) -> SlicePNG:
    """Read the plane ``req`` asks for and encode it."""
    s = slicer(index, user, dataset_id)
    max_size = _max_size(s, req)
    plane = s.plane(req.dims, at=dict(req.at), max_size=max_size)
    size = None if req.level is not None else req.size
    if req.cmap == "labels":
        limits = (0.0, float(np.nanmax(plane.values)) if plane.size else 0.0)
    elif req.limits is not None:
        limits = req.limits
    else:
        limits = s.contrast(req.percentiles, at=dict(req.at))
    if req.cmap == "gray":
        png = to_png(plane.values, limits, size)
    else:
        png = to_color_png(plane.values, req.cmap, limits, size)
    return SlicePNG(png, int(plane.attrs.get("level", 0)), limits, s.source)


def slice_request(args: Mapping[str, Sequence[str]]) -> SliceRequest:
    """Parse ``dims=y,x&z=57&size=512&level=&percentiles=1,99.5`` (other dims by name),
    ``cmap=viridis`` (a colour map, "labels" for label images) and ``range=0,4000``
    (explicit contrast instead of the percentiles)."""
    from catalog.inputs import parse_float

    from .params import int_arg, list_arg

    dims = tuple(list_arg(args, "dims")) or ("y", "x")
    if len(dims) != 2:
        raise BadRequest(f"dims must name two dimensions, e.g. dims=y,x, not {','.join(dims)}")
    size = int_arg(args, "size", DEFAULT_SIZE, 16, MAX_SIDE)
    level = int_arg(args, "level", None, 0, 64)
    pct = list_arg(args, "percentiles") or ["1", "99.5"]
    try:
        lo, hi = (parse_float(p, "percentiles") for p in pct)
    except ValueError:  # not two numbers in ASCII digits
        lo = hi = -1.0
    if not 0 <= lo < hi <= 100:
        raise BadRequest("percentiles must be two increasing numbers in 0..100, e.g. 1,99.5")
    cmap = (list_arg(args, "cmap") or ["gray"])[0]
    if cmap not in COLORMAPS:
        raise BadRequest(f"cmap must be one of {', '.join(COLORMAPS)}, not {cmap[:40]!r}")
    limits = None
    given = list_arg(args, "range")
    if given:
        try:
            low, high = (parse_float(p, "range") for p in given)
        except ValueError:  # not two numbers
            raise BadRequest("range must be two numbers low,high, e.g. range=0,4000") from None
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise BadRequest("range must be two finite numbers, low below high, e.g. 0,4000")
        limits = (low, high)
    at = {}
    # ``token``: Jupyter's own, for clients that authenticate in the URL (as <img> does)
    known = {"dims", "size", "level", "percentiles", "token", "cmap", "range"}
    for key in args:
        if key in known or key.startswith("_") or not any(args[key]):
            continue  # "_..." and valueless keys: cache busters (JupyterLab adds "?<time>")
        if key not in ("t", "c", "z", "y", "x"):
            raise BadRequest(f"unknown parameter {key!r}; give dims, size, level, t, c, z, y, x")
        at[key] = int_arg(args, key, 0, 0, 2**40)
    return SliceRequest(
        dims,
        at,  # type: ignore[arg-type]
        size or DEFAULT_SIZE,
        level,
        (lo, hi),
        cmap,
        limits,
    )
