"""Planes to PNG: contrast limits, a colormap, a crosshair and physical axes.

The plot area keeps the data's physical aspect (pixels are resampled, nearest when
enlarged so voxels stay sharp); ticks are drawn in the plane's coordinate units.

>>> import numpy as np, xarray as xr
>>> plane = xr.DataArray(np.arange(12.0).reshape(3, 4), dims=("y", "x"))
>>> png, frame = render_png(plane, (0, 11), "gray", size=(60, 80))
>>> png[:4] == b"\\x89PNG", frame.plot_height
(True, 60)
"""

from __future__ import annotations

import dataclasses
import functools
import io
import math
from typing import Any

import numpy as np
import xarray as xr
from PIL import Image, ImageDraw, ImageFont

from catalog.palette import label_index, label_table

from .format import axis_unit

COLORMAPS = ("gray", "fire", "bgyw", "kbc", "bmy", "coolwarm", "rainbow4", "labels")
MARGIN_LEFT, MARGIN_BOTTOM, MARGIN_TOP, MARGIN_RIGHT = 46, 30, 6, 10
CROSSHAIR = (0, 230, 255)
#: axes, ticks and labels: a grey that reads on JupyterLab's light and dark themes (the
#: margins around the plot are transparent, so the theme's background shows)
INK = (128, 128, 128, 255)
FRAME = (150, 150, 150, 255)


@functools.lru_cache(maxsize=16)
def lut(name: str) -> np.ndarray:
    """A ``(256, 3)`` uint8 lookup table for a colormap name of :data:`COLORMAPS`."""
    import colorcet

    if name not in COLORMAPS:
        raise ValueError(f"unknown colormap {name!r}; choose one of {', '.join(COLORMAPS)}")
    if name == "labels":  # the thumbnails' and the JupyterLab viewer's label colours
        return label_table()
    colours = colorcet.palette[name]
    return np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in colours], np.uint8)


@functools.lru_cache(maxsize=4)
def _font(size: int = 11) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


@dataclasses.dataclass(frozen=True)
class Frame:
    """Where the plot area sits in the PNG, to map clicks back to data."""

    left: int
    top: int
    plot_width: int
    plot_height: int
    width: int  # of the whole PNG
    height: int

    def fit(self, image: Any) -> None:
        """Show ``image`` (an ``ipywidgets.Image``) at the PNG's pixel size, or narrower
        (aspect kept) where its container is narrower."""
        layout = image.layout
        layout.width, layout.height = f"{self.width}px", "auto"
        layout.max_width = "calc(100% - 2 * var(--jp-widgets-margin, 2px))"  # its margins

    def fraction(self, x: float, y: float) -> tuple[float, float] | None:
        """``(row, column)`` fractions of the plot area for a PNG pixel, or ``None``."""
        fx = (x - self.left) / self.plot_width
        fy = (y - self.top) / self.plot_height
        if not (0 <= fx <= 1 and 0 <= fy <= 1):
            return None
        return min(fy, 0.999999), min(fx, 0.999999)


def scale(values: np.ndarray, limits: tuple[float, float], cmap: str) -> np.ndarray:
    """Data to colormap indices 0..255 (contrast limits; labels map value mod 255)."""
    if cmap == "labels":
        return label_index(values)
    lo, hi = float(limits[0]), float(limits[1])
    span = hi - lo if hi > lo else 1.0
    out = (np.nan_to_num(values.astype(np.float64), nan=lo) - lo) * (255.0 / span)
    return np.clip(out, 0, 255).astype(np.uint8)


def nice_ticks(a: float, b: float, n: int = 4) -> list[float]:
    """Round tick values between ``a`` and ``b`` (about ``n`` of them)."""
    lo, hi = min(a, b), max(a, b)
    if not math.isfinite(lo) or not math.isfinite(hi) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    count = math.floor((hi - first) / step + 1e-9) + 1
    return [first + i * step for i in range(count)]


def _ascii(text: str) -> str:
    """The bundled PIL font has no µ or Å glyphs."""
    return text.replace("µ", "u").replace("μ", "u").replace("Å", "A")


def _tick_text(v: float) -> str:
    return f"{v:.4g}" if v != 0 else "0"


def _coord_extent(plane: xr.DataArray, dim: str) -> tuple[float, float, str]:
    """The coordinate span of ``dim`` over the plane's pixel edges, and its unit."""
    n = plane.sizes[dim]
    if dim in plane.coords and plane[dim].dtype.kind in "iuf" and n > 0:
        c = plane[dim].values.astype(np.float64)
        step = (c[-1] - c[0]) / (n - 1) if n > 1 else 1.0
        unit = axis_unit(plane[dim].attrs.get("units"))
        return c[0] - step / 2, c[-1] + step / 2, unit
    return -0.5, n - 0.5, "px"


def render_png(
    plane: xr.DataArray,
    limits: tuple[float, float],
    cmap: str,
    *,
    size: tuple[int, int],
    crosshair: tuple[float | None, float | None] = (None, None),
    axes: bool = True,
) -> tuple[bytes, Frame]:
    """Encode a 2-D plane as PNG with a plot area of ``size`` = (height, width) pixels.

    ``crosshair`` is ``(row, column)`` as fractions of the plane (``None``: no line).
    """
    rows, cols = plane.dims
    h, w = max(1, int(size[0])), max(1, int(size[1]))
    index = Image.fromarray(scale(np.asarray(plane.values), limits, cmap), mode="L")
    sharp = cmap == "labels" or (h >= plane.shape[0] and w >= plane.shape[1])
    index = index.resize((w, h), Image.Resampling.NEAREST if sharp else Image.Resampling.BOX)
    rgb = Image.fromarray(lut(cmap)[np.asarray(index)], mode="RGB").convert("RGBA")
    left, top = (MARGIN_LEFT, MARGIN_TOP) if axes else (0, 0)
    width = w + (MARGIN_LEFT + MARGIN_RIGHT if axes else 0)
    height = h + (MARGIN_TOP + MARGIN_BOTTOM if axes else 0)
    canvas = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    canvas.paste(rgb, (left, top))
    draw = ImageDraw.Draw(canvas)
    fy, fx = crosshair
    if fy is not None:
        y = top + int(fy * h)
        draw.line([(left, y), (left + w - 1, y)], fill=CROSSHAIR)
    if fx is not None:
        x = left + int(fx * w)
        draw.line([(x, top), (x, top + h - 1)], fill=CROSSHAIR)
    if axes:
        _draw_axes(draw, plane, rows, cols, left, top, w, h)
    buf = io.BytesIO()
    canvas.save(buf, format="PNG", compress_level=1)
    return buf.getvalue(), Frame(left, top, w, h, width, height)


def _draw_axes(
    draw: ImageDraw.ImageDraw,
    plane: xr.DataArray,
    rows: object,
    cols: object,
    left: int,
    top: int,
    w: int,
    h: int,
) -> None:
    font, ink = _font(), INK
    x0, x1, xunit = _coord_extent(plane, str(cols))
    y0, y1, yunit = _coord_extent(plane, str(rows))
    draw.rectangle([left - 1, top - 1, left + w, top + h], outline=FRAME)
    for v in nice_ticks(x0, x1):
        x = left + (v - x0) / (x1 - x0) * w
        draw.line([(x, top + h), (x, top + h + 3)], fill=ink)
        text = _tick_text(v)
        draw.text(
            (x - draw.textlength(text, font=font) / 2, top + h + 4), text, fill=ink, font=font
        )
    label = _ascii(f"{cols} ({xunit})")
    draw.text(
        (left + w - draw.textlength(label, font=font), top + h + 16), label, fill=ink, font=font
    )
    for v in nice_ticks(y0, y1):
        y = top + (v - y0) / (y1 - y0) * h
        draw.line([(left - 4, y), (left - 1, y)], fill=ink)
        text = _tick_text(v)
        draw.text((left - 6 - draw.textlength(text, font=font), y - 6), text, fill=ink, font=font)
    draw.text((2, top + h + 16), _ascii(f"{rows} ({yunit})"), fill=ink, font=font)
