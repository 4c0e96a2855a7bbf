"""Colour maps for previews: continuous maps for intensities and a categorical map
for label images, as 256-entry lookup tables applied with numpy (no matplotlib).

:func:`colorize` turns a 2-D plane into RGB (or RGBA) ``uint8`` pixels for the slice
endpoint (:mod:`catalog.service.images`); label colours are :mod:`catalog.palette`'s,
as in thumbnails and the notebook slice viewer.

>>> import numpy as np
>>> colorize(np.array([[0.0, 50.0, 100.0]]), "viridis", (0, 100)).shape
(1, 3, 3)
>>> colorize(np.array([[0, 1, 2]], dtype=np.uint8), "labels")[0, :, 3].tolist()
[0, 255, 255]
"""

from __future__ import annotations

import numpy as np

from ..errors import ViewError
from ..palette import label_colors

# control points (position 0..1, r, g, b) of the continuous maps: sampled from the
# published matplotlib maps (CC0), interpolated linearly between points
_POINTS: dict[str, list[tuple[float, int, int, int]]] = {
    "viridis": [
        (0.0, 68, 1, 84),
        (0.125, 71, 44, 122),
        (0.25, 59, 81, 139),
        (0.375, 44, 113, 142),
        (0.5, 33, 144, 141),
        (0.625, 39, 173, 129),
        (0.75, 92, 200, 99),
        (0.875, 170, 220, 50),
        (1.0, 253, 231, 37),
    ],
    "magma": [
        (0.0, 0, 0, 4),
        (0.125, 28, 16, 68),
        (0.25, 79, 18, 123),
        (0.375, 129, 37, 129),
        (0.5, 181, 54, 122),
        (0.625, 229, 80, 100),
        (0.75, 251, 135, 97),
        (0.875, 254, 194, 135),
        (1.0, 252, 253, 191),
    ],
    "inferno": [
        (0.0, 0, 0, 4),
        (0.125, 31, 12, 72),
        (0.25, 85, 15, 109),
        (0.375, 136, 34, 106),
        (0.5, 186, 54, 85),
        (0.625, 227, 89, 51),
        (0.75, 249, 140, 10),
        (0.875, 249, 201, 50),
        (1.0, 252, 255, 164),
    ],
    "cividis": [
        (0.0, 0, 34, 78),
        (0.25, 57, 73, 108),
        (0.5, 124, 123, 120),
        (0.75, 187, 175, 113),
        (1.0, 254, 232, 56),
    ],
    "gray": [(0.0, 0, 0, 0), (1.0, 255, 255, 255)],
}

#: the names :func:`colorize` accepts: the continuous maps, then ``"labels"``
COLORMAPS: tuple[str, ...] = (*_POINTS, "labels")


def lut(name: str) -> np.ndarray:
    """The ``(256, 3)`` ``uint8`` table of a continuous map.

    >>> lut("gray")[128].tolist()
    [128, 128, 128]
    """
    points = _POINTS.get(name)
    if points is None:
        raise ViewError(f"unknown colour map {name!r}; choose one of {', '.join(COLORMAPS)}")
    at = np.array([p[0] for p in points]) * 255.0
    steps = np.arange(256, dtype=np.float64)
    channels = [np.interp(steps, at, [p[c] for p in points]) for c in (1, 2, 3)]
    return np.round(np.stack(channels, axis=1)).astype(np.uint8)


def colorize(
    plane: np.ndarray, name: str = "gray", limits: tuple[float, float] | None = None
) -> np.ndarray:
    """RGB pixels (``(rows, cols, 3)`` ``uint8``) of a 2-D ``plane`` through the map
    ``name`` with ``limits`` (low, high; default: the plane's min and max) mapped to
    its ends; NaN shows as the low end. ``"labels"`` instead gives RGBA pixels with
    a categorical colour per whole value and label 0 (background) transparent;
    ``limits`` are ignored.

    >>> colorize(np.array([[1.0, 3.0]]), "gray", (1, 3)).tolist()
    [[[0, 0, 0], [255, 255, 255]]]
    """
    values = np.asarray(plane)
    if values.ndim != 2:
        raise ViewError(f"colorize() takes a 2-D plane, not one of shape {values.shape}")
    if name == "labels":
        whole = np.nan_to_num(values.astype(np.float64), nan=0).astype(np.int64)
        out = np.zeros((*whole.shape, 4), dtype=np.uint8)
        found, inverse = np.unique(whole, return_inverse=True)  # colour each value once
        out[..., :3] = label_colors(found)[inverse.reshape(whole.shape)]
        out[..., 3] = np.where(whole != 0, 255, 0)
        return out
    table = lut(name)
    floats = values.astype(np.float64)
    if limits is None:
        finite = floats[np.isfinite(floats)]
        limits = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    lo, hi = float(limits[0]), float(limits[1])
    span = hi - lo if hi > lo else 1.0
    index = np.clip((np.nan_to_num(floats, nan=lo) - lo) * (255.0 / span), 0, 255)
    return table[index.astype(np.uint8)]
