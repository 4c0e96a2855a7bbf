"""Thumbnails that never load a volume.

A 3D dataset gets its middle slice beside a maximum-intensity projection; both come
from the smallest pyramid level that is still at least ``size`` pixels across, and the
projection is taken over at most ``MIP_SLICES`` evenly spaced slices, read with a
stride in y and x, so a 4 GB volume costs a few tens of MB of reads. 2D images are
read strided from the smallest fitting level. Contrast is set from the 0.5 and 99.5
percentiles of what was read.

>>> png = make_thumbnail(reader, source, info, out_path)      # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..readers import ImageInfo, Reader, Source

SIZE = 256  # thumbnail height in pixels (each panel)
MIP_SLICES = 16


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


def _to_uint8(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img
    finite = img[np.isfinite(img)] if img.dtype.kind == "f" else img.ravel()
    if finite.size == 0:
        return np.zeros(img.shape, np.uint8)
    lo, hi = np.percentile(finite, [0.5, 99.5])
    if hi <= lo:
        hi = lo + 1
    out = (np.nan_to_num(img.astype(np.float32), nan=lo) - lo) * (255.0 / (hi - lo))
    return np.clip(out, 0, 255).astype(np.uint8)


def _reduce_extra(arr: Any) -> tuple[Any, bool]:
    """Reduce t and c (and any unknown dims) so ``z, y, x`` (+ RGB) remain."""
    rgb = False
    for dim in list(arr.dims):
        if dim in ("z", "y", "x"):
            continue
        n = arr.sizes[dim]
        if dim == "c" and n in (3, 4) and arr.dtype == np.uint8:
            arr = arr.isel(c=slice(0, 3))
            rgb = True
            continue
        arr = arr.isel({dim: n // 2 if dim != "c" else 0})
    if "y" not in arr.dims or "x" not in arr.dims:
        raise ValueError(f"cannot draw an array with dims {arr.dims}")
    order = [d for d in ("z", "y", "x", "c") if d in arr.dims]
    return arr.transpose(*order), rgb


def render(obj: Any, info: ImageInfo, size: int = SIZE) -> np.ndarray:
    """The thumbnail as a uint8 array (``y, x`` or ``y, x, 3``)."""
    arr, rgb = _reduce_extra(_primary(obj, info))
    ny, nx = arr.sizes["y"], arr.sizes["x"]
    sy, sx = _stride(ny, size), _stride(nx, size)
    if "z" in arr.dims and arr.sizes["z"] > 1:
        nz = arr.sizes["z"]
        middle = arr.isel(z=nz // 2, y=slice(None, None, sy), x=slice(None, None, sx)).values
        zs = np.unique(np.linspace(0, nz - 1, min(nz, MIP_SLICES)).round().astype(int))
        mip = arr.isel(z=zs, y=slice(None, None, sy), x=slice(None, None, sx)).max("z").values
        panels = [middle, mip]
    else:
        if "z" in arr.dims:
            arr = arr.isel(z=0)
        panels = [arr.isel(y=slice(None, None, sy), x=slice(None, None, sx)).values]
    if rgb:
        return np.concatenate([np.asarray(p, np.uint8) for p in panels], axis=1)
    # one contrast for both panels, from the middle slice, so they compare
    first = np.asarray(panels[0])
    stacked = np.concatenate([np.asarray(p, dtype=first.dtype) for p in panels], axis=1)
    if stacked.dtype == bool:
        stacked = stacked.astype(np.uint8) * 255
    return _to_uint8(stacked)


def png_bytes(img: np.ndarray, size: int = SIZE) -> bytes:
    """The PNG of ``img`` resized so the height is ``size`` (keeping aspect, at most
    4:1): what :func:`save_png` writes."""
    import io

    from PIL import Image

    im = Image.fromarray(img)
    h, w = img.shape[:2]
    scale = size / max(h, 1)
    new_w = max(1, min(math.ceil(w * scale), 4 * size))
    im = im.resize(
        (new_w, size), Image.Resampling.BILINEAR if scale < 1 else Image.Resampling.NEAREST
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


def save_png(img: np.ndarray, path: Path, size: int = SIZE) -> Path:
    """Resize so the height is ``size`` (keeping aspect, at most 4:1) and write a PNG."""
    return write_png(png_bytes(img, size), path)


def draw(reader: Reader, source: Source, info: ImageInfo, *, size: int = SIZE) -> np.ndarray:
    """The thumbnail image of one dataset (see :func:`render`), read at the level
    that fits."""
    import dask

    level = pick_level(info, size)
    obj = reader.open(source, level=level)
    # a thumbnail reads a few strided slices: the threaded scheduler only adds overhead
    # (and scan workers already use every core)
    with dask.config.set(scheduler="synchronous"):
        return render(obj, info, size)


def make_thumbnail(
    reader: Reader, source: Source, info: ImageInfo, out: Path, *, size: int = SIZE
) -> Path:
    """Draw the thumbnail of one dataset into ``out`` (a PNG path)."""
    return save_png(draw(reader, source, info, size=size), out, size)


#: how a dataset's warnings say its thumbnail could not be drawn (the data): a rescan
#: of the unchanged dataset does not try again, ``voxcat thumbnails --missing`` does
UNDRAWABLE = "thumbnail failed: "
#: ... or could not be written (a full disk, an unwritable cache): a rescan tries again
UNWRITTEN = "thumbnail not written: "


def thumbnail_rel(checksum: str) -> str:
    """Where the thumbnail of content ``checksum`` lives, relative to the cache folder
    (datasets of the same content share it)."""
    name = checksum.split(":")[-1]
    return f"thumbnails/{name[:2]}/{name[:32]}.png"


def draw_thumbnail(
    reader: Reader,
    source: Source,
    info: ImageInfo,
    cache: Path,
    checksum: str,
    *,
    cause: Callable[[BaseException], str],
    force: bool = False,
) -> tuple[str | None, str | None]:
    """Draw and save the thumbnail of one dataset unless it exists (or ``force``).

    Returns ``(path relative to cache, None)``, or ``(None, warning)`` where the
    warning starts with :data:`UNDRAWABLE` or :data:`UNWRITTEN` and ends with
    ``cause(exc)``. Never raises an ``Exception``.
    """
    rel = thumbnail_rel(checksum)
    out = cache / rel
    try:
        if not force and out.exists():
            return rel, None
    except OSError as exc:
        return None, UNWRITTEN + cause(exc)
    try:
        img = draw(reader, source, info)
    except Exception as exc:
        return None, UNDRAWABLE + cause(exc)
    try:
        save_png(img, out)
    except OSError as exc:
        return None, UNWRITTEN + cause(exc)
    except Exception as exc:  # an image PIL cannot write
        return None, UNDRAWABLE + cause(exc)
    return rel, None


def thumbnail_png(
    reader: Reader, source: Source, info: ImageInfo, *, cause: Callable[[BaseException], str]
) -> tuple[bytes | None, str | None]:
    """Draw one dataset's thumbnail as PNG bytes, written nowhere (a worker on a
    cluster returns them; the scanning process stores them with
    :func:`store_thumbnail`). Returns ``(png, None)`` or ``(None, warning)`` (the
    warning starts with :data:`UNDRAWABLE`); never raises an ``Exception``."""
    try:
        return png_bytes(draw(reader, source, info)), None
    except Exception as exc:
        return None, UNDRAWABLE + cause(exc)


def store_thumbnail(
    png: bytes, cache: Path, checksum: str, *, cause: Callable[[BaseException], str]
) -> tuple[str | None, str | None]:
    """Write thumbnail ``png`` of content ``checksum`` into ``cache`` unless it is
    there; returns ``(path relative to cache, None)`` or ``(None, warning)`` (starting
    with :data:`UNWRITTEN`), as :func:`draw_thumbnail` does."""
    rel = thumbnail_rel(checksum)
    out = cache / rel
    try:
        if not out.exists():
            write_png(png, out)
    except OSError as exc:
        return None, UNWRITTEN + cause(exc)
    return rel, None
