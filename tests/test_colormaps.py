"""catalog/preview/colormaps.py: the colour maps of slices (and thumbnails)."""

from __future__ import annotations

import numpy as np
import pytest

from catalog.errors import ViewError
from catalog.palette import label_colors
from catalog.preview.colormaps import COLORMAPS, colorize, lut


@pytest.mark.parametrize("name", [n for n in COLORMAPS if n != "labels"])
def test_continuous_maps_go_from_dark_to_bright(name: str) -> None:
    table = lut(name).astype(float)
    assert table.shape == (256, 3)
    luminance = table @ [0.2126, 0.7152, 0.0722]
    # perceptual maps: brightness rises end to end (small wiggles allowed)
    assert luminance[-1] - luminance[0] > 150
    assert np.all(np.diff(luminance) > -2)


def test_limits_map_to_the_ends_and_nan_to_the_low_end() -> None:
    plane = np.array([[0.0, 5.0, 10.0, np.nan, 20.0]])
    out = colorize(plane, "viridis", (0, 10))
    table = lut("viridis")
    assert out[0, 0].tolist() == table[0].tolist() == out[0, 3].tolist()
    assert out[0, 2].tolist() == table[255].tolist() == out[0, 4].tolist()  # clipped
    # without limits: the plane's own finite min and max
    assert colorize(plane, "gray")[0, 4].tolist() == [255, 255, 255]
    assert colorize(np.full((2, 2), np.nan), "gray").shape == (2, 2, 3)


def test_labels_are_distinct_stable_and_background_transparent() -> None:
    colours = label_colors(np.arange(1, 41)).astype(int)
    # neighbouring labels (as a segmentation numbers its objects) differ clearly
    gaps = np.abs(np.diff(colours, axis=0)).sum(axis=1)
    assert gaps.min() > 60, gaps.min()
    assert len({tuple(c) for c in colours}) == 40
    plane = np.array([[0, 1, 2], [700, 1, 0]], dtype=np.uint16)
    out = colorize(plane, "labels")
    assert out.shape == (2, 3, 4)
    assert out[0, 0, 3] == 0 and out[1, 2, 3] == 0 and out[0, 1, 3] == 255
    assert out[0, 1].tolist() == out[1, 1].tolist()  # same label, same colour
    assert out[0, 1, :3].tolist() == label_colors(np.array([1]))[0].tolist()


def test_bad_input_is_named() -> None:
    with pytest.raises(ViewError, match="unknown colour map 'rainbow'"):
        colorize(np.zeros((2, 2)), "rainbow")
    with pytest.raises(ViewError, match="2-D plane"):
        colorize(np.zeros((2, 2, 2)), "gray")
