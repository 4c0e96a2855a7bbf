"""A lab for the web app tests: a CT volume (with structure), a stitched SEM mosaic
(8,000 x 6,000 tiled TIFF) with its preview pyramid, and 30 small images in two
projects, all written by tifffile from a seeded RNG and scanned by the real scanner;
a segmentation is linked to the volume it came from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from catalog import open_catalog, scan
from catalog.preview import ensure_preview

MOSAIC = (6000, 8000)  # rows, columns
SMALL = 30


def mosaic_pixels(rng: np.random.Generator) -> np.ndarray:
    """Smooth bands and blobs plus noise: zoomed views look different from the whole."""
    rows, cols = MOSAIC
    y = np.linspace(0, 12 * np.pi, rows, dtype=np.float32)[:, None]
    x = np.linspace(0, 16 * np.pi, cols, dtype=np.float32)[None, :]
    img = 110 + 60 * np.sin(y) * np.cos(x) + 40 * np.sin(x / 7 + y / 5)
    img += rng.normal(0, 8, MOSAIC).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def volume_pixels(rng: np.random.Generator) -> np.ndarray:
    z, y, x = np.mgrid[0:40, 0:64, 0:80]
    vol = rng.integers(0, 300, z.shape).astype(np.uint16)
    vol[((z - 20) ** 2 + (y - 32) ** 2 + (x - 40) ** 2) < 15**2] += 3000
    vol[(z - 10) ** 2 + (y - 20) ** 2 < 36] += 1500  # a rod along x
    return vol


def write_lab(base: Path) -> dict:
    """Write, scan and annotate the lab under ``base``: ``{"index", "ids": {name: id}}``."""
    rng = np.random.default_rng(20261205)
    drive = base / "drive"
    for folder in ("ct", "sem", "small/rocks", "small/brains"):
        (drive / folder).mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(
        drive / "ct" / "core_scan.tif",
        volume_pixels(rng),
        imagej=True,
        resolution=(1 / 2.0, 1 / 2.0),
        metadata={"axes": "ZYX", "spacing": 2.0, "unit": "um"},
    )
    seg = (volume_pixels(rng) > 2000).astype(np.uint8)
    tifffile.imwrite(
        drive / "ct" / "core_segmented.tif", seg, imagej=True, metadata={"axes": "ZYX"}
    )
    tifffile.imwrite(drive / "sem" / "wafer_mosaic.tif", mosaic_pixels(rng), tile=(256, 256))
    for i in range(SMALL):
        project = "rocks" if i % 3 else "brains"
        y, x = 24 + i % 5 * 4, 32
        yy, xx = np.mgrid[0:y, 0:x]
        img = (
            rng.integers(0, 50, (y, x))
            + 200 * (((yy - y / 2) ** 2 + (xx - x / 2) ** 2) < (4 + i % 7) ** 2)
        ).astype(np.uint8)
        tifffile.imwrite(drive / "small" / project / f"tile_{i:02d}.tif", img)
    index = base / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False)
    cat = open_catalog(index)
    ids = {Path(name).stem: i for i, name in cat.df["name"].items()}
    small = [ids[f"tile_{i:02d}"] for i in range(SMALL)]
    cat.set([i for n, i in enumerate(small) if n % 3], modality="LM", project="rocks")
    cat.set([i for n, i in enumerate(small) if not n % 3], modality="EM", project="brains")
    cat.set([ids["core_scan"], ids["core_segmented"]], modality="CT", project="rocks")
    cat.set([ids["wafer_mosaic"]], modality="SEM", project="wafers")
    cat.link(ids["core_segmented"], [ids["core_scan"]], step="threshold", params={"at": 2000})
    ensure_preview(index, ids["wafer_mosaic"], min_bytes=0)
    return {"index": index, "ids": ids}
