"""Colours for label images (segmentations): one fixed colour per label value.

A label's colour depends only on its value, so the same label has the same colour in
every slice, panel and thumbnail. Label 0 is the background and stays black; the
others take hues spaced by the golden ratio (neighbouring labels differ strongly),
with lightness alternating in a short cycle so labels whose hues come close again
still differ.

>>> label_rgb(np.array([[0, 1], [2, 1]]))[0, 1].tolist()
[242, 36, 36]
>>> label_rgb(np.array([0]))[0].tolist()
[0, 0, 0]
"""

from __future__ import annotations

import numpy as np

#: the background label's colour
BACKGROUND = (0, 0, 0)
_GOLDEN = 0.6180339887498949
#: label values below this get hues spaced by the golden ratio in order
SMALL = 1024
_SATURATION = (0.65, 0.85, 0.5)
_VALUE = (0.95, 0.75, 1.0, 0.85)


def label_colors(values: np.ndarray) -> np.ndarray:
    """The ``(n, 3)`` uint8 RGB colours of the label ``values`` (a 1-D integer array).

    >>> label_colors(np.array([0, 7])).shape
    (2, 3)
    """
    v = np.asarray(values).astype(np.int64).ravel()
    key = np.abs(v)
    # small ids keep the golden-ratio spacing; larger ones (often multiples of 100 or
    # 1000, whose golden hues would bunch) are scrambled first
    big = key >= SMALL
    if big.any():
        m = key[big].astype(np.uint64)
        with np.errstate(over="ignore"):
            m = (m ^ (m >> np.uint64(16))) * np.uint64(0x45D9F3B)
            m = (m ^ (m >> np.uint64(16))) * np.uint64(0x45D9F3B)
            m = m ^ (m >> np.uint64(16))
        key[big] = (m % np.uint64(1_000_003)).astype(np.int64) + SMALL
    h = ((key - 1) * _GOLDEN) % 1.0
    s = np.asarray(_SATURATION)[key % len(_SATURATION)]
    val = np.asarray(_VALUE)[(key // 3) % len(_VALUE)]
    i = np.floor(h * 6).astype(int) % 6
    f = h * 6 - np.floor(h * 6)
    p, q, t = val * (1 - s), val * (1 - f * s), val * (1 - (1 - f) * s)
    r = np.choose(i, [val, q, p, p, t, val])
    g = np.choose(i, [t, val, val, q, p, p])
    b = np.choose(i, [p, p, t, val, val, q])
    rgb = np.round(np.stack([r, g, b], axis=-1) * 255).astype(np.uint8)
    rgb[v == 0] = BACKGROUND
    return rgb


def label_rgb(labels: np.ndarray) -> np.ndarray:
    """An integer (or boolean) label image as a uint8 RGB image (``... , 3``).

    >>> label_rgb(np.zeros((2, 3), np.uint16)).shape
    (2, 3, 3)
    """
    arr = np.asarray(labels)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    values, inverse = np.unique(arr, return_inverse=True)
    return label_colors(values)[inverse.reshape(arr.shape)]
