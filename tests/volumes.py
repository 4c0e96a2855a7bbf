"""Small TIFF volumes for the tests that scan a drive and serve it: ImageJ files of
seeded noise, each with a bright ball, with 0.5 um voxels.

>>> write_volumes(tmp / "rocks", ["rock_0.tif", "rock_1.tif"], seed=5)   # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile


def write_volumes(
    folder: Path,
    names: list[str],
    seed: int,
    shape: tuple[int, int, int] = (6, 40, 48),
    *,
    ball: float | None = 30,
    centre: tuple[int, int] | None = None,
    noise: int = 200,
) -> None:
    """``uint16`` volumes of ``shape`` (z, y, x), one per name, drawn in turn from one
    RNG seeded with ``seed``: noise below ``noise`` plus 3000 inside an ellipsoid
    ``dz² + dy²/4 + dx²/4 < ball`` around the middle plane and ``centre`` (y, x; the
    middle by default); ``ball=None``: noise only."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    z, y, x = np.mgrid[0 : shape[0], 0 : shape[1], 0 : shape[2]]
    cy, cx = centre if centre is not None else (shape[1] // 2, shape[2] // 2)
    inside = None
    if ball is not None:
        inside = ((z - shape[0] // 2) ** 2 + (y - cy) ** 2 / 4 + (x - cx) ** 2 / 4) < ball
    for name in names:
        vol = rng.integers(0, noise, size=shape, dtype=np.uint16)
        if inside is not None:
            vol[inside] += 3000
        tifffile.imwrite(
            folder / name,
            vol,
            imagej=True,
            resolution=(2.0, 2.0),
            metadata={"spacing": 0.5, "unit": "um", "axes": "ZYX"},
        )
