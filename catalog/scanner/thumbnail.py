"""Thumbnails that never load a volume, and say what the data is.

A 3D dataset gets its middle slice beside a maximum-intensity projection (two panels
of the same size side by side, one PNG); both come from the smallest pyramid level
that is still at least ``size`` pixels across, and the projection is taken over at
most ``MIP_SLICES`` evenly spaced slices, read with a stride in y and x, so a 4 GB
volume costs a few tens of MB of reads. 2D images are read strided from the smallest
fitting level.

How values become colours:

- **labels** (a segmentation) are drawn with a categorical colormap
  (:func:`catalog.palette.label_rgb`: background 0 black, each label value its own
  colour, the same in every slice and panel) and resized without blending. A dataset
  is drawn as labels when it is known to be one (:func:`labels_hint`: its
  ``data_level`` is ``"segmentation"``, from its reader, the index, or the words of
  its name and folder, and its dtype is integer or boolean), or when its values say so
  (:func:`looks_like_labels`: an integer dtype and at most ``MAX_LABELS`` distinct
  values in what was read);
- **RGB(A)** (a ``c`` dimension of 3 or 4) is drawn as RGB (alpha dropped);
- everything else (float CT, 16-bit, 8-bit grey) is stretched between the 0.5 and
  99.5 percentiles of the finite values read (NaN and inf are ignored), the same
  range for both panels.

:data:`VERSION` is in every thumbnail's file name: a new version makes every
existing thumbnail outdated (:func:`is_current`), and a rescan or
``voxcat thumbnails --missing`` redraws exactly the outdated ones.

>>> png = make_thumbnail(reader, source, info, out_path)      # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..palette import label_rgb
from ..readers import ImageInfo, Reader, Source

SIZE = 256  # thumbnail height in pixels (each panel)
MIP_SLICES = 16
#: what thumbnails are drawn like; raise it when the drawing changes so existing
#: indexes redraw their thumbnails (only those) on the next rescan
VERSION = 2
#: at most this many distinct values in an integer image read make it labels
MAX_LABELS = 32
#: the percentiles (of finite values) an intensity image is stretched between
PERCENTILES = (0.5, 99.5)


def labels_hint(data_level: str | None, dtype: str | np.dtype[Any] | None) -> bool:
    """Whether a dataset is known to be labels before its values are read: its data
    level is ``"segmentation"`` and its dtype integer (or boolean).

    >>> labels_hint("segmentation", "uint16"), labels_hint("segmentation", "float32")
    (True, False)
    """
    if data_level != "segmentation" or dtype is None:
        return False
    try:
        return np.dtype(dtype).kind in "biu"
    except TypeError:
        return False


def looks_like_labels(values: np.ndarray) -> bool:
    """Whether an image's values say it is labels: an integer (or boolean) dtype and
    at most :data:`MAX_LABELS` distinct values, more than one.

    >>> looks_like_labels(np.array([0, 0, 3, 7], np.uint8))
    True
    >>> looks_like_labels(np.arange(1000, dtype=np.uint16))
    False
    """
    values = np.asarray(values)
    if values.dtype.kind not in "biu" or values.size == 0:
        return False
    flat = values.ravel()
    # intensities show many values in a few thousand samples: no full unique needed
    if len(np.unique(flat[:: max(1, flat.size // 4096)])) > MAX_LABELS:
        return False
    return 1 < len(np.unique(flat)) <= MAX_LABELS


def pick_level(info: ImageInfo, size: int = SIZE) -> int:
    """Index of the smallest pyramid level whose y and x are both >= ``size``."""
    axes = info.axes
    best = 0
    for k, shape in enumerate(info.levels):
        dims = dict(zip(axes, shape))
        if min(dims.get("y", size), dims.get("x", size)) >= size:
            best = k
    return best


def _primary(obj: Any, info: ImageInfo) -> Any:
    import xarray as xr

    if isinstance(obj, xr.Dataset):
        if info.primary and info.primary in obj:
            return obj[info.primary]
        arrays = [v for v in obj.data_vars.values() if v.ndim >= 2]
        if not arrays:
            raise ValueError("no image-like array to draw")
        return max(arrays, key=lambda v: v.size)
    return obj


def _stride(n: int, target: int) -> int:
    return max(1, n // (2 * target))


def _to_uint8(img: np.ndarray, sample: np.ndarray | None = None) -> np.ndarray:
    """Stretch ``img`` between the :data:`PERCENTILES` of the finite values of
    ``sample`` (default: ``img``)."""
    img = np.asarray(img)
    ref = img if sample is None else np.asarray(sample)
    finite = ref[np.isfinite(ref)] if ref.dtype.kind in "fc" else ref.ravel()
    if finite.size == 0:
        return np.zeros(img.shape, np.uint8)
    lo, hi = (float(v) for v in np.percentile(finite, PERCENTILES))
    if hi <= lo:  # (nearly) constant: its one value mid-grey, not black
        lo, hi = lo - 1, lo + 1
    with np.errstate(invalid="ignore", over="ignore"):
        out = (np.nan_to_num(img.astype(np.float32), nan=lo) - lo) * (255.0 / (hi - lo))
    return np.clip(out, 0, 255).astype(np.uint8)


def _reduce_extra(arr: Any) -> tuple[Any, bool]:
    """Reduce t and c (and any unknown dims) so ``z, y, x`` (+ RGB) remain."""
    rgb = False
    for dim in list(arr.dims):
        if dim in ("z", "y", "x"):
            continue
        n = arr.sizes[dim]
        if dim == "c" and n in (3, 4) and arr.dtype != bool:
            arr = arr.isel(c=slice(0, 3))  # RGB(A): drawn as RGB, alpha dropped
            rgb = True
            continue
        arr = arr.isel({dim: n // 2 if dim != "c" else 0})
    if "y" not in arr.dims or "x" not in arr.dims:
        raise ValueError(f"cannot draw an array with dims {arr.dims}")
    order = [d for d in ("z", "y", "x", "c") if d in arr.dims]
    return arr.transpose(*order), rgb


@dataclasses.dataclass(frozen=True)
class Drawing:
    """A drawn thumbnail: ``image`` (uint8, ``y, x`` or ``y, x, 3``) and whether it
    shows labels (then it is resized without blending colours)."""

    image: np.ndarray
    labels: bool = False


def _panels(arr: Any, size: int) -> list[np.ndarray]:
    ny, nx = arr.sizes["y"], arr.sizes["x"]
    sy, sx = _stride(ny, size), _stride(nx, size)
    if "z" in arr.dims and arr.sizes["z"] > 1:
        nz = arr.sizes["z"]
        middle = arr.isel(z=nz // 2, y=slice(None, None, sy), x=slice(None, None, sx)).values
        zs = np.unique(np.linspace(0, nz - 1, min(nz, MIP_SLICES)).round().astype(int))
        mip = arr.isel(z=zs, y=slice(None, None, sy), x=slice(None, None, sx)).max("z").values
        return [np.asarray(middle), np.asarray(mip)]
    if "z" in arr.dims:
        arr = arr.isel(z=0)
    return [np.asarray(arr.isel(y=slice(None, None, sy), x=slice(None, None, sx)).values)]


def paint(obj: Any, info: ImageInfo, size: int = SIZE, *, labels: bool = False) -> Drawing:
    """The thumbnail of an opened dataset: panels read (middle slice | projection for
    a volume) and coloured as the module says; ``labels`` says it is known to be
    labels (:func:`labels_hint`), else its values decide."""
    arr, rgb = _reduce_extra(_primary(obj, info))
    panels = _panels(arr, size)
    first = panels[0]
    stacked = np.concatenate([np.asarray(p, dtype=first.dtype) for p in panels], axis=1)
    if rgb:
        if stacked.dtype == np.uint8:
            return Drawing(stacked)
        return Drawing(_to_uint8(stacked, first))  # one range for the three channels
    if stacked.dtype == bool:
        stacked = stacked.astype(np.uint8)
        labels = True
    if stacked.dtype.kind in "biu" and (labels or looks_like_labels(stacked)):
        return Drawing(label_rgb(stacked), labels=True)
    # one range for both panels, from the middle slice, so they compare
    return Drawing(_to_uint8(stacked, first))


def render(obj: Any, info: ImageInfo, size: int = SIZE, *, labels: bool = False) -> np.ndarray:
    """The thumbnail as a uint8 array (``y, x`` or ``y, x, 3``): :func:`paint`'s image."""
    return paint(obj, info, size, labels=labels).image


def png_bytes(img: np.ndarray, size: int = SIZE, *, smooth: bool = True) -> bytes:
    """The PNG of ``img`` resized so the height is ``size`` (keeping aspect, at most
    4:1): what :func:`save_png` writes. ``smooth=False`` (labels) resizes by nearest
    neighbour, so no blended colour appears."""
    import io

    from PIL import Image

    im = Image.fromarray(img)
    h, w = img.shape[:2]
    scale = size / max(h, 1)
    new_w = max(1, min(math.ceil(w * scale), 4 * size))
    smaller = smooth and scale < 1
    im = im.resize(
        (new_w, size), Image.Resampling.BILINEAR if smaller else Image.Resampling.NEAREST
    )
    out = io.BytesIO()
    im.save(out, format="PNG", optimize=False, compress_level=1)
    return out.getvalue()


def write_png(data: bytes, path: Path) -> Path:
    """Write PNG bytes to ``path`` whole (a temporary file renamed; a full disk
    leaves no partial file behind)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.png")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path


def save_png(img: np.ndarray, path: Path, size: int = SIZE, *, smooth: bool = True) -> Path:
    """Resize so the height is ``size`` (keeping aspect, at most 4:1) and write a PNG."""
    return write_png(png_bytes(img, size, smooth=smooth), path)


def draw(
    reader: Reader, source: Source, info: ImageInfo, *, size: int = SIZE, labels: bool = False
) -> Drawing:
    """The thumbnail of one dataset (see :func:`paint`), read at the level that fits."""
    import dask

    level = pick_level(info, size)
    obj = reader.open(source, level=level)
    # a thumbnail reads a few strided slices: the threaded scheduler only adds overhead
    # (and scan workers already use every core)
    with dask.config.set(scheduler="synchronous"):
        return paint(obj, info, size, labels=labels)


def drawing_png(drawing: Drawing, size: int = SIZE) -> bytes:
    """The PNG bytes of a :class:`Drawing` (labels resized without blending)."""
    return png_bytes(drawing.image, size, smooth=not drawing.labels)


def make_thumbnail(
    reader: Reader, source: Source, info: ImageInfo, out: Path, *, size: int = SIZE
) -> Path:
    """Draw the thumbnail of one dataset into ``out`` (a PNG path)."""
    hint = labels_hint(info.data_level, info.dtype)
    return write_png(drawing_png(draw(reader, source, info, size=size, labels=hint), size), out)


#: how a dataset's warnings say its thumbnail could not be drawn (the data): a rescan
#: of the unchanged dataset does not try again, ``voxcat thumbnails --missing`` does
UNDRAWABLE = "thumbnail failed: "
#: ... or could not be written (a full disk, an unwritable cache): a rescan tries again
UNWRITTEN = "thumbnail not written: "


def thumbnail_rel(checksum: str, labels: bool = False) -> str:
    """Where the thumbnail of content ``checksum`` lives, relative to the cache folder
    (datasets of the same content share it). The name holds :data:`VERSION` and
    whether it was drawn knowing the content is labels (``labels``, from
    :func:`labels_hint`).

    >>> thumbnail_rel("b3:0123456789abcdef0123456789abcdef0123", labels=True)
    'thumbnails/v2/01/0123456789abcdef0123456789abcdef-labels.png'
    """
    name = checksum.split(":")[-1]
    return f"thumbnails/v{VERSION}/{name[:2]}/{name[:32]}{'-labels' if labels else ''}.png"


#: how a scan names thumbnails, this version and earlier ones (``thumbnails/ab/ab...png``)
_SCANNED_NAME = re.compile(r"thumbnails/(v\d+/)?[0-9a-z]{2}/[0-9a-z]+(-labels)?\.png")


def is_current(rel: str | None, checksum: str, labels: bool = False) -> bool:
    """Whether the thumbnail file ``rel`` an index names for content ``checksum`` is
    drawn the current way (this :data:`VERSION`, and as labels when ``labels``): a
    comparison of names, no file is read. Thumbnails a scan did not name (an exported
    catalogue's ``thumbnails/<id>.png``) count as current.

    >>> is_current("thumbnails/ab/abcd.png", "b3:abcd")
    False
    >>> is_current("thumbnails/k2x9q4m1abcd.png", "b3:abcd")
    True
    """
    if rel is None or rel == thumbnail_rel(checksum, labels):
        return rel is not None
    return _SCANNED_NAME.fullmatch(rel) is None


def draw_thumbnail(
    reader: Reader,
    source: Source,
    info: ImageInfo,
    cache: Path,
    checksum: str,
    *,
    cause: Callable[[BaseException], str],
    force: bool = False,
    labels: bool = False,
) -> tuple[str | None, str | None]:
    """Draw and save the thumbnail of one dataset unless it exists (or ``force``);
    ``labels``: it is known to be labels (:func:`labels_hint`).

    Returns ``(path relative to cache, None)``, or ``(None, warning)`` where the
    warning starts with :data:`UNDRAWABLE` or :data:`UNWRITTEN` and ends with
    ``cause(exc)``. Never raises an ``Exception``.
    """
    rel = thumbnail_rel(checksum, labels)
    out = cache / rel
    try:
        if not force and out.exists():
            return rel, None
    except OSError as exc:
        return None, UNWRITTEN + cause(exc)
    try:
        drawing = draw(reader, source, info, labels=labels)
    except Exception as exc:
        return None, UNDRAWABLE + cause(exc)
    try:
        write_png(drawing_png(drawing), out)
    except OSError as exc:
        return None, UNWRITTEN + cause(exc)
    except Exception as exc:  # an image PIL cannot write
        return None, UNDRAWABLE + cause(exc)
    return rel, None


def thumbnail_png(
    reader: Reader,
    source: Source,
    info: ImageInfo,
    *,
    cause: Callable[[BaseException], str],
    labels: bool = False,
) -> tuple[bytes | None, str | None]:
    """Draw one dataset's thumbnail as PNG bytes, written nowhere (a worker on a
    cluster returns them; the scanning process stores them with
    :func:`store_thumbnail`). Returns ``(png, None)`` or ``(None, warning)`` (the
    warning starts with :data:`UNDRAWABLE`); never raises an ``Exception``."""
    try:
        return drawing_png(draw(reader, source, info, labels=labels)), None
    except Exception as exc:
        return None, UNDRAWABLE + cause(exc)


def store_thumbnail(
    png: bytes,
    cache: Path,
    checksum: str,
    *,
    cause: Callable[[BaseException], str],
    labels: bool = False,
) -> tuple[str | None, str | None]:
    """Write thumbnail ``png`` of content ``checksum`` into ``cache`` unless it is
    there; returns ``(path relative to cache, None)`` or ``(None, warning)`` (starting
    with :data:`UNWRITTEN`), as :func:`draw_thumbnail` does."""
    rel = thumbnail_rel(checksum, labels)
    out = cache / rel
    try:
        if not out.exists():
            write_png(png, out)
    except OSError as exc:
        return None, UNWRITTEN + cause(exc)
    return rel, None
