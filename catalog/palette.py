"""Colours for label images (segmentations): one fixed colour per label value.

A label's colour depends only on its value, so the same label has the same colour in
every slice, panel and thumbnail. Label 0 is the background and stays black; label
``v`` takes colour ``(v - 1) % 255 + 1`` of colorcet's glasbey palette (255 colours
chosen to be told apart), the mapping of the notebook slice viewer's ``labels``
colormap (:func:`widgets.render.scale`), so a thumbnail and the viewer agree.

>>> label_rgb(np.array([[0, 1], [2, 1]]))[0, 1].tolist()
[214, 0, 0]
>>> label_rgb(np.array([0]))[0].tolist()
[0, 0, 0]
"""

from __future__ import annotations

import functools

import numpy as np

#: the background label's colour
BACKGROUND = (0, 0, 0)


@functools.cache
def label_table() -> np.ndarray:
    """The ``(256, 3)`` uint8 table: row 0 the background, rows 1..255 glasbey."""
    import colorcet

    colours = colorcet.palette["glasbey"][:255]
    table = [[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in colours]
    return np.array([list(BACKGROUND), *table], np.uint8)


def label_index(values: np.ndarray) -> np.ndarray:
    """Rows of :func:`label_table` for label ``values`` (0 stays 0; NaN is 0).

    >>> label_index(np.array([0, 1, 255, 256])).tolist()
    [0, 1, 255, 1]
    """
    v = np.asarray(values)
    if v.dtype.kind == "f":
        v = np.nan_to_num(v, nan=0.0)
    v = v.astype(np.int64)
    return np.where(v == 0, 0, (v - 1) % 255 + 1).astype(np.uint8)


def label_colors(values: np.ndarray) -> np.ndarray:
    """The ``(n, 3)`` uint8 RGB colours of the label ``values`` (a 1-D array).

    >>> label_colors(np.array([0, 7])).shape
    (2, 3)
    """
    return label_table()[label_index(np.asarray(values).ravel())]


def label_rgb(labels: np.ndarray) -> np.ndarray:
    """An integer (or boolean) label image as a uint8 RGB image (``..., 3``).

    >>> label_rgb(np.zeros((2, 3), np.uint16)).shape
    (2, 3, 3)
    """
    arr = np.asarray(labels)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    return label_table()[label_index(arr)]
